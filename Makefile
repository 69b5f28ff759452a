# The commands a developer and CI use. `make test` is what README and .ci/run run.
.PHONY: run test lint fmt conformance infra

run:
	cargo run --release

test:
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# scim2-tester against a gateway on SQLite, and on PostgreSQL when
# SCIM_TEST_DATABASE_URL is set.
conformance:
	tests/conformance/run.sh sqlite
	@if [ -n "$$SCIM_TEST_DATABASE_URL" ]; then tests/conformance/run.sh postgres; fi

infra:
	scripts/infra.sh
