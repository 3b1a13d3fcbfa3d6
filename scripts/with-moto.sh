#!/usr/bin/env bash
# Runs a command against a throwaway moto server standing in for AWS Secrets Manager and S3.
#
#   scripts/with-moto.sh cargo test ...
#
# Needs `moto_server` on PATH (the Makefile installs moto[server] into .cache/venv). Starts
# it on a free loopback port, exports AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_S3
# (the SDK's standard per-service endpoint variables; with the S3 one set, the function uses
# path-style addressing) plus dummy credentials, runs the command, stops moto and exits with
# the command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi
command -v moto_server >/dev/null || { echo "with-moto: moto_server not found (run 'make tools')" >&2; exit 1; }

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX.log")"
moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

# generous: Python starting on a busy 2-core CI machine can take many seconds
deadline=$((SECONDS + 120))
until curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/"; do
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "with-moto: moto_server exited:" >&2
        cat "$log" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "with-moto: moto_server did not answer on port $port; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.2
done

export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
set +e
"$@"
status=$?
set -e
exit "$status"
