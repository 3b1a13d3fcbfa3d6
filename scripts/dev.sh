#!/usr/bin/env bash
# `make dev`: DynamoDB Local (data kept in .cache/dynamodb-data, so threads survive restarts)
# and `cargo lambda watch` serving the functions through their Lambda event path (`turns` with
# response streaming, `threads` buffered, and the all-in-one `chatkit`), each at
# /lambda-url/<name>/, rebuilt on every change; the demo page routes through the kit.
# The functions get this script's environment: `CHATKIT_EXAMPLE_ORDERS=1 make dev` turns the
# orders example on (with a model: ask the demo page "show me order #42").
# Ctrl-C stops them all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]]; then
    export DYNAMODB_DATA_DIR="${DYNAMODB_DATA_DIR:-$root/.cache/dynamodb-data}"
    exec bash scripts/with-dynamodb.sh bash "$0" "$@"
fi

port="${CHATKIT_DEV_PORT:-9000}"
base="http://127.0.0.1:$port/lambda-url"
turns_url="$base/turns/"
threads_url="$base/threads/"
url="$base/chatkit/"
export CHATKIT_TABLE_NAME="${CHATKIT_TABLE_NAME:-chatkit-dev}"
export CHATKIT_CREATE_TABLE=1
export CHATKIT_DEV_AUTH=1
export CHATKIT_JWT_SECRET="${CHATKIT_JWT_SECRET:-chatkit-local-development-secret}"
export CHATKIT_ALLOWED_ORIGINS="${CHATKIT_ALLOWED_ORIGINS:-*}"
export RUST_LOG="${RUST_LOG:-info}"

# The demo page (web/demo): the package's dist/ and, the first time, the npm workspace.
demo_port="${CHATKIT_DEMO_PORT:-9001}"
if [[ ! -f node_modules/.package-lock.json ]]; then
    echo "dev: installing the page side's npm packages (once)..." >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
npm run --silent -w web build >&2

# every binary of the workspace is served on demand at /lambda-url/<name>/; two instances per
# function, so a `turns.cancel` is served while the turn it stops still streams
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --concurrency 2 &
watch_pid=$!
CHATKIT_TURNS_URL="$turns_url" CHATKIT_THREADS_URL="$threads_url" CHATKIT_DEMO_PORT="$demo_port" \
    node web/demo/server.mjs >/dev/null &
demo_pid=$!
trap 'kill "$watch_pid" "$demo_pid" 2>/dev/null || true; wait "$watch_pid" "$demo_pid" 2>/dev/null || true' EXIT INT TERM

# the first request to a function builds and starts it: one at a time (never two cargo builds)
echo "dev: building and starting the functions (the first build takes a few minutes)..." >&2
for fn_url in "$threads_url" "$turns_url" "$url"; do
    for _ in $(seq 1 900); do
        status="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$fn_url" -H 'x-user-id: dev' \
            -d '{"type":"turns.cancel","params":{"turn_id":"warm-up"}}' || true)"
        [[ "$status" =~ ^[24] ]] && break
        kill -0 "$watch_pid" 2>/dev/null || { echo "dev: cargo lambda watch exited" >&2; exit 1; }
        sleep 1
    done
done

if [[ -n "${OPENAI_API_KEY:-}" || -n "${OPENAI_BASE_URL:-}" ]]; then
    model="the agent (${CHATKIT_MODEL:-gpt-4.1-mini} at ${OPENAI_BASE_URL:-https://api.openai.com/v1})"
    if [[ "${CHATKIT_EXAMPLE_ORDERS:-0}" == 1 ]]; then
        model="$model
          with the orders example (examples/orders): ask \"show me order #42\" (or #7)"
    fi
else
    model="the offline responder (set OPENAI_API_KEY, or OPENAI_BASE_URL for Ollama & co, then rerun make dev)"
fi
cat <<TXT

ChatKit is running through cargo lambda watch (the Lambda event path of each function).
  Demo:   http://127.0.0.1:$demo_port/  (the ChatKit UI from OpenAI's CDN, talking to the
          functions through web/ with a dev token; ?user=<id>&name=<name> picks the user)
  URLs:   turns    $turns_url  (streamed turns, turns.cancel, actions, dictation)
          threads  $threads_url  (reads and writes of threads, items, attachments)
          chatkit  $url  (all-in-one: every operation)
  Auth:   local dev auth is on: send 'X-User-ID: <any id>', or a real token:
          'Authorization: Bearer \$(cat events/TOKEN)' (HS256, secret \$CHATKIT_JWT_SECRET)
  Model:  $model
  Data:   DynamoDB Local, table $CHATKIT_TABLE_NAME, kept in ${DYNAMODB_DATA_DIR:-memory}
  Try:
    curl -N $turns_url -H 'X-User-ID: dev' -H 'Content-Type: application/json' \\
      -d '{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"Hello!"}],"attachments":[],"inference_options":{}}}}'
    curl $threads_url -H 'X-User-ID: dev' -H 'Content-Type: application/json' -d '{"type":"threads.list","params":{}}'
    make invoke OP=threads.list      (replays events/threads.list.json on its function)
  Next.js example against this function: see examples/nextjs/README.md.
  Ctrl-C stops the functions, the demo page and DynamoDB Local.

TXT
wait "$watch_pid"
