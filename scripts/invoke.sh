#!/usr/bin/env bash
# `make invoke OP=<fixture> [FN=<function>]`: replays events/<fixture>.json against `make dev`
# through `cargo lambda invoke`, on the function that serves that request type (the map in
# web/src/routes.ts, generated from shared/protocol/src/functions.rs); fixtures that are no
# request type (malformed, unauthenticated, preflight) go to the all-in-one `chatkit`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

op="${OP:-}"
if [[ -z "$op" || ! -f "events/$op.json" ]]; then
    echo "usage: make invoke OP=<fixture> [FN=turns|threads|chatkit]; fixtures:" >&2
    ls events/*.json | sed 's|events/\(.*\)\.json|  \1|' >&2
    exit 2
fi
fn="${FN:-$(sed -n "s/^  \"${op//./\\.}\": \"\\(.*\\)\",\$/\\1/p" web/src/routes.ts)}"
fn="${fn:-chatkit}"
# the address cargo lambda watch listens on (it would try [::1] otherwise)
exec cargo lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "${CHATKIT_DEV_PORT:-9000}" \
    --data-file "events/$op.json"
