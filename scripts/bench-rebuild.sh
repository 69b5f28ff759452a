#!/usr/bin/env bash
# Rebuild benchmark: how fast `scimctl rebuild` applies the journal to a fresh
# database of each service.
#
# A release gateway (no broker: only its journal and admin API are used) gets
# a journal of USERS synthetic users, each provisioned and then updated (two
# events a user: 2 × USERS events), written straight into its journal table.
# Then `scimctl rebuild SERVICE --into <fresh database>` runs for identity,
# team and licensing on PostgreSQL, and for identity on SQLite. The figures
# are scimctl's own summary (events applied per second, wall clock including
# reading the journal over HTTP). pgbench's single-row INSERT rate is printed
# first as the machine's yardstick.
#
#   scripts/bench-rebuild.sh            # USERS=50000
#   USERS=100000 scripts/bench-rebuild.sh
#   ONLY=identity scripts/bench-rebuild.sh   # one service on PostgreSQL (and SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-50000}
ONLY=${ONLY:-}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18090}
TARGET=${CARGO_TARGET_DIR:-target}
KEY=bench-rebuild-key
RUN=$(date +%s)
GATEWAY_DB=scim_bench_gw_$RUN
WORK=$(mktemp -d)
trap 'kill "${GATEWAY_PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

psql_() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

cargo build --release -q -p scim-gateway -p scimctl

echo "== yardstick: pgbench, one-row INSERT, 16 clients, 10 s"
psql_ -d postgres -c "DROP DATABASE IF EXISTS scim_bench_pgbench" -c "CREATE DATABASE scim_bench_pgbench"
psql_ -d scim_bench_pgbench -c "CREATE TABLE t (id bigserial primary key, v text)"
echo "INSERT INTO t (v) VALUES ('x');" > "$WORK/insert.sql"
pgbench -h 127.0.0.1 -U postgres -n -f "$WORK/insert.sql" -c 16 -j 2 -T 10 scim_bench_pgbench 2>/dev/null | grep -E "^tps" || true
psql_ -d postgres -c "DROP DATABASE scim_bench_pgbench"

echo "== gateway with a journal of $((USERS * 2)) events"
psql_ -d postgres -c "CREATE DATABASE $GATEWAY_DB"
SCIM_CONFIG=/nonexistent SCIM_DATABASE__URL="$PG/$GATEWAY_DB" SCIM_HTTP__PORT=$PORT \
  SCIM_ADMIN_KEY=$KEY SCIM_BOOTSTRAP__DEMO_ORGANIZATION=false SCIM_LOG__FILTER=warn \
  SCIM_KEYS__KEY_FILE="$WORK/key-encryption.key" \
  "$TARGET/release/scim-gateway" > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$WORK/gateway.log"; exit 1; }

psql_ -d "$GATEWAY_DB" <<SQL
WITH users AS (
  SELECT i,
         md5('user-' || i)::uuid AS scim_id,
         md5('account-' || i)::uuid AS account_id
  FROM generate_series(1, $USERS) AS i
), events AS (
  SELECT i, scim_id, 1 AS version, 'user.provisioned' AS type,
         json_build_object('account_id', account_id, 'default_role', 'member',
           'profile', json_build_object('user_name', 'user' || i || '@example.com',
             'email', 'user' || i || '@example.com', 'given_name', 'User', 'family_name', 'N' || i)) AS payload
  FROM users
  UNION ALL
  SELECT i, scim_id, 2, 'user.updated',
         json_build_object('profile', json_build_object('user_name', 'user' || i || '@example.com',
           'email', 'user' || i || '@example.com', 'given_name', 'User', 'family_name', 'Renamed' || i))
  FROM users
)
INSERT INTO journal (event_id, org_id, event_type, aggregate_kind, aggregate_id,
                     aggregate_version, occurred_at, event, published_at)
SELECT id, '00000000-0000-4000-8000-00000000b0b0', type, 'user', scim_id::text, version, 0,
       json_build_object('id', id, 'seq', 0, 'schema_version', 1,
         'org_id', '00000000-0000-4000-8000-00000000b0b0',
         'workspace_id', '00000000-0000-4000-8000-00000000b0b1',
         'aggregate', json_build_object('kind', 'user', 'id', scim_id, 'version', version),
         'occurred_at', '2026-11-29T00:00:00Z', 'type', type, 'payload', payload)::text,
       0
FROM (SELECT gen_random_uuid() AS id, * FROM events ORDER BY version, i) AS e;
SQL
echo "journal: $(psql_ -d "$GATEWAY_DB" -c 'SELECT count(*) FROM journal') entries"

rebuild() {
  local service=$1 into=$2 extra=${3:-}
  "$TARGET/release/scimctl" --gateway "http://127.0.0.1:$PORT" --admin-key $KEY \
    rebuild "$service" --into "$into" $extra > "$WORK/out.json"
  python3 - "$service" "$into" "$WORK/out.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[3]))
c = s["counts"]
print(f"{sys.argv[1]:<10} {sys.argv[2].split(':')[0]:<9} parallel {s['parallel']:<3} "
      f"{s['events']} events in {s['seconds']:.2f} s = {s['events_per_second']:,.0f}/s "
      f"(applied {c['applied']}, failed {c['failed']})")
PY
}

echo "== reading the journal over HTTP (scimctl events list, JSON lines)"
start=$(date +%s.%N)
lines=$("$TARGET/release/scimctl" --gateway "http://127.0.0.1:$PORT" --admin-key $KEY events list --format jsonl | wc -l)
end=$(date +%s.%N)
python3 -c "print(f'{$lines} events in {$end - $start:.2f} s = {$lines / ($end - $start):,.0f}/s')"

echo "== rebuild"
for service in ${ONLY:-identity team licensing}; do
  db=scim_bench_${service}_$RUN
  psql_ -d postgres -c "CREATE DATABASE $db"
  rebuild "$service" "$PG/$db"
  psql_ -d postgres -c "DROP DATABASE $db"
done
rebuild identity "sqlite://$WORK/identity.db"

[ -n "${KEEP:-}" ] && { echo "kept: gateway on $PORT, database $GATEWAY_DB"; trap - EXIT; exit 0; }
kill $GATEWAY_PID
wait $GATEWAY_PID 2>/dev/null || true
psql_ -d postgres -c "DROP DATABASE $GATEWAY_DB"
