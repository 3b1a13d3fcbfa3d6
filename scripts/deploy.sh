#!/usr/bin/env bash
# Deploying with SAM (docs/deploy.md). The Makefile's deploy targets call it:
#
#   tools    what `sam build` needs, checked, and installed into .cache/ where it can be: the
#            SAM CLI (.cache/venv-sam), cargo-lambda and the zig it links with (.cache/venv; the
#            cargo-lambda wheel depends on PyPI's ziglang), Rust's aarch64-unknown-linux-gnu
#            target (rustup). Says what to do about what it cannot install.
#   sizes    each built function's bootstrap and its zip size (after sam build)
#   check    before anything is built or deployed: PARAMS name template parameters, an AWS region
#            is set, the AWS credentials work, the stack can be deployed to
#   deploy   check, then sam deploy of .aws-sam/build with samconfig.toml: non-interactive, or
#            sam's questions (--guided) with GUIDED=1
#   outputs  the stack's outputs (sam list stack-outputs)
#   delete   sam delete (it asks first), after naming the retained table and bucket
#
# Environment: STACK (default samconfig.toml's stack_name, chatkit), PARAMS (template parameters,
# "Key=Value Key=Value"), GUIDED=1; the AWS region and credentials as for the AWS CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.cache/venv
sam_venv=$root/.cache/venv-sam
sam=$sam_venv/bin/sam
target=aarch64-unknown-linux-gnu
built=.aws-sam/build/template.yaml

export SAM_CLI_TELEMETRY=0
# cargo lambda and the Python with ziglang (cargo lambda runs zig as `python3 -m ziglang`)
export PATH="$venv/bin:$PATH"
# boto3, and so sam, reads only AWS_DEFAULT_REGION; AWS_REGION wins, as in the AWS CLI
if [[ -n "${AWS_REGION:-}" ]]; then
    export AWS_DEFAULT_REGION="$AWS_REGION"
fi

say() { printf 'deploy: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}
helper() { "$sam_venv/bin/python" scripts/deploy_helper.py "$@"; }
# the venvs come from `make tools` (pinned in the Makefile); made here when run on its own
need_venvs() {
    if [[ ! -x "$sam" || ! -x "$venv/bin/cargo-lambda" ]]; then
        command -v python3 >/dev/null ||
            die "python3 not found: install Python 3 with its venv module (Debian/Ubuntu: apt-get install python3-venv)"
        make --no-print-directory tools
    fi
}

tools() {
    need_venvs
    if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
        die "cargo and rustc not found: install Rust with rustup (https://rustup.rs);" \
            "sam build compiles the functions with cargo lambda"
    fi
    if command -v rustup >/dev/null; then
        local installed
        installed="$(rustup target list --installed)" ||
            die "rustup target list failed: is a toolchain installed? (rustup default stable)"
        if ! grep -qx "$target" <<<"$installed"; then
            say "adding Rust's $target target, which the arm64 functions are built for (once)"
            rustup target add "$target" || die "rustup target add $target failed"
        fi
    elif [[ ! -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]]; then
        die "rustup not found, and this Rust ($(rustc --version), in $(rustc --print sysroot)) has no" \
            "standard library for $target, which the arm64 functions are built for. A Rust from a" \
            "distribution's packages cannot add targets: install Rust with rustup (https://rustup.rs)," \
            "or this target's standard library for the Rust you have"
    fi
    local cargo_lambda zig
    cargo_lambda="$(cargo lambda --version 2>/dev/null)" ||
        die "cargo lambda does not run from $venv/bin: rm -rf .cache/venv, then make tools"
    zig="$(cargo lambda system --output-format json 2>/dev/null | python3 -c '
import json, sys
zig = json.load(sys.stdin).get("zig") or {}
print(zig.get("version", "?") if zig.get("command") else "")' 2>/dev/null)" || zig=""
    [[ -n "$zig" ]] ||
        die "cargo lambda finds no zig, which it links the arm64 binaries with: the ziglang package in" \
            ".cache/venv provides it (rm -rf .cache/venv, then make tools), or put a zig on PATH"
    local sam_version
    sam_version="$("$sam" --version 2>/dev/null)" ||
        die "the SAM CLI does not run from $sam_venv: rm -rf .cache/venv-sam, then make tools"
    say "tools: sam ${sam_version#SAM CLI, version }, ${cargo_lambda%% (*}, zig $zig," \
        "$(rustc --version | cut -d' ' -f1-2) with $target"
}

deploy() {
    [[ -f "$built" ]] || die "$built not found: build first (make package)"
    helper preflight
    # no --template-file: sam deploy takes .aws-sam/build/template.yaml by itself, and reads
    # samconfig.toml from the directory of the template it is given
    local args=(deploy)
    if [[ -n "${STACK:-}" ]]; then
        args+=(--stack-name "$STACK" --s3-prefix "$STACK")
    fi
    if [[ -n "${PARAMS:-}" ]]; then
        args+=(--parameter-overrides "$PARAMS")
    fi
    if [[ "${GUIDED:-}" == 1 ]]; then
        args+=(--guided)
    else
        args+=(--no-confirm-changeset --no-fail-on-empty-changeset)
    fi
    "$sam" "${args[@]}"
}

case "${1:-}" in
    tools) tools ;;
    sizes) helper sizes .aws-sam/build ;;
    check)
        need_venvs
        helper preflight
        ;;
    deploy)
        need_venvs
        deploy
        ;;
    outputs)
        need_venvs
        "$sam" list stack-outputs --stack-name "$(helper stack-name)"
        ;;
    delete)
        need_venvs
        helper retained
        "$sam" delete --stack-name "$(helper stack-name)"
        ;;
    *) die "usage: scripts/deploy.sh tools|sizes|check|deploy|outputs|delete" ;;
esac
