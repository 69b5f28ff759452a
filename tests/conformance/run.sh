#!/usr/bin/env bash
# Starts a gateway on the given backend and runs scim2-tester against it.
#   tests/conformance/run.sh sqlite
#   tests/conformance/run.sh postgres   (needs SCIM_TEST_DATABASE_URL)
set -euo pipefail
backend=${1:-sqlite}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=${SCIM_VENV:-/var/cache/scim-venv}
port=${SCIM_CONFORMANCE_PORT:-18080}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import scim2_tester, httpx2" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/tests/conformance/requirements.txt"
fi

work=$(mktemp -d)
case "$backend" in
  sqlite) db_url="sqlite://$work/gateway.db" ;;
  postgres)
    admin=${SCIM_TEST_DATABASE_URL:?SCIM_TEST_DATABASE_URL is required for the postgres run}
    name="scim_test_conformance_$$"
    psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    db_url="${admin%/*}/$name" ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac

cargo build -q -p scim-gateway --bin scim-gateway
token="scim_conformance_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SCIM_HTTP__PORT=$port SCIM_DATABASE__URL=$db_url SCIM_BOOTSTRAP__TOKEN=$token \
SCIM_BOOTSTRAP__DATA_DIR=$work SCIM_LOG__FILTER=warn SCIM_LIMITS__RATE_PER_SECOND=0 \
  "$target/debug/scim-gateway" >"$work/gateway.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
  sleep 0.2
done
echo "conformance ($backend): scim2-tester against http://127.0.0.1:$port/scim/v2"
"$venv/bin/python" "$root/tests/conformance/run_scim2_tester.py" "http://127.0.0.1:$port/scim/v2" "$token"
