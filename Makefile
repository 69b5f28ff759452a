# The commands a developer and CI use. `make test` is what README and .ci/run run.
.PHONY: run test lint fmt conformance infra up down logs bench bench-rebuild kubernetes

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

# deploy/kubernetes validated offline (docs/kubernetes.md, "Validation");
# needs `pip install kubernetes-validate`.
kubernetes:
	python3 scripts/validate-kubernetes.py

# The load benchmark: every scim-bench scenario against the distributed
# services and the embedded process (figures: docs/benchmarks.md).
# MODE=distributed|embedded, USERS=…, DURATION=…, CONCURRENCY=…, RATE=…,
# GATEWAYS=2 (gateway replicas, distributed): `make bench MODE=distributed GATEWAYS=2`
bench:
	scripts/bench.sh

# How fast `scimctl rebuild` applies a journal (figures: docs/benchmarks.md).
bench-rebuild:
	scripts/bench-rebuild.sh

# The distributed stack (docker compose). The admin key is generated once
# into .env (compose reads it from there).
up: .env
	docker compose up -d --build
	@echo "SCIM: http://localhost:8080/scim/v2  traces: http://localhost:16686  RabbitMQ: http://localhost:15672"
	@echo "admin key: see .env; create an organization with: scimctl --admin-key ... org create --name NAME --seats N"

down:
	docker compose down

logs:
	docker compose logs -f

.env:
	@umask 077; printf 'SCIM_ADMIN_KEY=%s\nSCIM_KEY_ENCRYPTION_KEY=%s\n' "$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$$(head -c 32 /dev/urandom | base64)" > .env
	@echo "wrote .env with a new SCIM_ADMIN_KEY and SCIM_KEY_ENCRYPTION_KEY (back the latter up: without it no sealed personal value opens)"
