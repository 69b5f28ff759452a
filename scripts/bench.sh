#!/usr/bin/env bash
# The load benchmark of issue 10 (figures: docs/benchmarks.md).
#
# Builds the release binaries, measures the machine's yardstick (pgbench, a
# one-row INSERT, 16 clients), then runs every scim-bench scenario against
#   - the distributed services: scim-gateway, identity, team and licensing as
#     four processes on PostgreSQL (fresh databases) and RabbitMQ, wired as
#     docker-compose.yml wires them; and
#   - the embedded process (SQLite files, in-process bus) in a fresh folder.
# The load tool runs on the same machine and samples the gateway's (or the
# embedded process's) resident memory.
#
#   scripts/bench.sh                    # both deployments, 100,000 seeded users
#   MODE=distributed scripts/bench.sh   # or MODE=embedded
#   GATEWAYS=2 MODE=distributed ...     # issue 24: two gateway replicas on one
#                                       # database, requests spread over them in
#                                       # turn (scim-bench --base-url a,b)
#   LOOKUP_USERS=1000000 MODE=distributed SCENARIOS=filter scripts/bench.sh
#                                       # the 1,000,000-user lookup figure: the
#                                       # organization is filled up to that many
#                                       # users in SQL (below), then filtered
#   DURATION=20 CONCURRENCY=16 scripts/bench.sh
#   KEEP=1 ...                          # keep databases and data folder
#   STATS=none ...                      # see "Statistics" below
#   SCENARIOS="create quota" ...        # only these scenarios (names as below)
#   SCENARIOS=bulk ...                  # issue 23: initial sync through Bulk vs single creates
#   SCENARIOS=memory MODE=embedded ...  # large list pages: memory taken and given back
#   MODE=embedded SCENARIOS=fairness ... # issue 22: B's latency beside A's flood
#                                       # (the other scenarios' organizations
#                                       # have their request limits lifted)
#   BIN=/path/to/release ...            # binaries built elsewhere (A/B runs)
#   EMBEDDED_PORT=18310 ...             # another port for the embedded process
#                                       # (two benches on one machine)
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-all}
GATEWAYS=${GATEWAYS:-1}
USERS=${USERS:-100000}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-16}
RATE=${RATE:-500}
SCENARIOS=${SCENARIOS:-all}
LOOKUP_USERS=${LOOKUP_USERS:-0}
EMBEDDED_PORT=${EMBEDDED_PORT:-18210}
STATS=${STATS:-analyze}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
AMQP=${AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
TARGET=${CARGO_TARGET_DIR:-target}
KEY=bench-admin-key-0123456789abcdef
# The gateway's key-encryption key (32 bytes, base64): a fixed one, the bench keeps nothing.
KEK=YmVuY2gta2V5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=
RUN=$(date +%s)
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then
    for db in gateway identity team licensing; do
      psql_ -d postgres -c "DROP DATABASE IF EXISTS scim_bench_${db}_$RUN" 2>/dev/null || true
    done
    rm -rf "$WORK"
  else
    echo "kept: databases scim_bench_*_$RUN, folder $WORK"
  fi
  clean_broker
}
trap cleanup EXIT

psql_() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# The bench's own names on the shared broker, removed before and after.
clean_broker() {
  command -v rabbitmqctl >/dev/null || return 0
  for service in identity team licensing scim-gateway; do
    for suffix in "" .dead .retry.1 .retry.2 .retry.3; do
      rabbitmqctl -q delete_queue "$service-bench$suffix" >/dev/null 2>&1 || true
    done
  done
  rabbitmqctl -q delete_queue seats-bench >/dev/null 2>&1 || true
}

# Another process on a bench port would answer in the started one's place
# (its readiness, its figures) while the started one fails to bind.
port_free() { # port
  if (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is taken by another process (a previous run's?): stop it first" >&2
    exit 1
  fi
}

wait_ready() { # name url logfile
  for _ in $(seq 1 150); do
    curl -fs "$2/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$1 did not become ready:" >&2
  tail -20 "$3" >&2
  exit 1
}

# BIN=folder runs binaries built elsewhere (an A/B against another commit's
# release build: the same script and load tool measure both).
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p scim-gateway -p identity -p team -p licensing -p scim-embedded -p scim-bench
  BIN=$(realpath "$TARGET/release")
fi
BENCH=${BENCH:-$BIN/scim-bench}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== yardstick: pgbench, one-row INSERT, 16 clients, 10 s"
psql_ -d postgres -c "DROP DATABASE IF EXISTS scim_bench_pgbench" -c "CREATE DATABASE scim_bench_pgbench"
psql_ -d scim_bench_pgbench -c "CREATE TABLE t (id bigserial primary key, v text)"
echo "INSERT INTO t (v) VALUES ('x');" > "$WORK/insert.sql"
pgbench -h 127.0.0.1 -U postgres -n -f "$WORK/insert.sql" -c 16 -j 2 -T 10 scim_bench_pgbench 2>/dev/null | grep -E "^tps" || true
psql_ -d postgres -c "DROP DATABASE scim_bench_pgbench"

# A scenario that fails (errors, a quota not exact) is reported and the run
# goes on; the script's exit status says whether any did.
FAILED=0
bench() {
  local before
  before=$(cpu_snapshot)
  "$BENCH" "$@" || { FAILED=1; echo "(the scenario above failed)"; }
  cpu_report "$before" "$(cpu_snapshot)"
}

# Distributed: the CPU time (user + system) each part of the deployment
# used over a scenario — the gateways, the three consumers, PostgreSQL and
# RabbitMQ (every process of those two servers: on a machine the bench does
# not share, only the bench's work) — so that a request's cost on the
# gateway can be set against its cost on PostgreSQL (docs/benchmarks.md,
# issue 24). Divide by the scenario's request count.
GATEWAY_PIDS=()
CONSUMER_PIDS=()
ticks() { # pids...: their CPU ticks so far (a process gone counts 0)
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && total=$((total + ${t:-0}))
  done
  echo "$total"
}
cpu_snapshot() {
  [ ${#GATEWAY_PIDS[@]} -gt 0 ] || return 0
  # shellcheck disable=SC2046 # one pid a word
  echo "$(ticks "${GATEWAY_PIDS[@]}") $(ticks "${CONSUMER_PIDS[@]}")" \
    "$(ticks $(pgrep -x postgres)) $(ticks $(pgrep -x beam.smp))"
}
cpu_report() { # before after
  [ -n "$1" ] || return 0
  awk -v hz="$(getconf CLK_TCK)" -v before="$1" -v after="$2" 'BEGIN {
    split(before, b, " "); split(after, a, " ")
    printf "cpu over the scenario: gateways %.2f s, identity+team+licensing %.2f s, postgres %.2f s, rabbitmq %.2f s\n",
      (a[1] - b[1]) / hz, (a[2] - b[2]) / hz, (a[3] - b[3]) / hz, (a[4] - b[4]) / hz }'
}
wanted() { [ "$SCENARIOS" = all ] || [[ " $SCENARIOS " == *" $1 "* ]]; }

# fill_users DB ORG_NAME FROM TO: seeded users FROM..TO-1 of the organization
# written straight into the gateway's SCIM view (PostgreSQL), as the gateway
# writes a created user's rows: creating a million users through the API
# would take most of an hour, and only the gateway's lookups are measured on
# them (identity, team and licensing never hear of these users).
fill_users() {
  local db=$1 org_name=$2 from=$3 to=$4
  echo "-- filling the organization up to $to users in SQL"
  psql_ -d "$db" -v org_name="$org_name" -v from="$from" -v to="$((to - 1))" <<'SQL'
SELECT id AS org FROM organizations WHERE name = :'org_name' \gset
WITH seeded AS (
  SELECT gen_random_uuid() AS id, i,
         'bench-user-' || i || '@example.com' AS user_name,
         (extract(epoch FROM now()) * 1000000)::bigint AS at
  FROM generate_series(:from, :to) AS i
), users AS (
  INSERT INTO scim_users (org_id, id, user_name, user_name_key, external_id, given_name_key,
                          family_name_key, active, document, version, event_version,
                          created_at, last_modified)
  SELECT :'org', id, user_name, user_name, 'bench-ext-' || i, 'bench', 'user ' || i, true,
         json_build_object(
           'schemas', json_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
           'userName', user_name, 'externalId', 'bench-ext-' || i,
           'name', json_build_object('givenName', 'Bench', 'familyName', 'User ' || i),
           'emails', json_build_array(json_build_object('value', user_name, 'type', 'work',
                                                        'primary', true)),
           'active', true)::text,
         1, 1, at, at
  FROM seeded
  RETURNING id, user_name
)
INSERT INTO scim_user_emails (org_id, user_id, position, type_key, value_key, is_primary)
SELECT :'org', id, 0, 'work', user_name, true FROM users;
SQL
}

# scenarios URLS TOKEN PID [ADMIN URLS...]: every scenario against one
# deployment (URLS: its gateways, comma-separated; PID: the first one's).
scenarios() {
  local urls=$1 token=$2 pid=$3
  shift 3
  local base=${urls//,//scim/v2,}/scim/v2
  local b=(bench --base-url "$base" --admin-key "$KEY" --watch-pid "$pid" "$@")
  local load=(--concurrency "$CONCURRENCY" --duration "$DURATION")
  if wanted create; then
    "${b[@]}" create --orgs 16 "${load[@]}"
    "${b[@]}" create --orgs 1 "${load[@]}"
  fi
  if wanted quota; then "${b[@]}" quota --seats 5000 --extra 500 --concurrency "$CONCURRENCY"; fi
  if wanted initial-sync; then "${b[@]}" initial-sync --orgs 1 "${load[@]}"; fi
  # Issue 23: 10,000 users through single creates and through Bulk (1,000 a
  # request), alternating, twice. BULK_USERS / BULK_ROUNDS / BULK_IN_FLIGHT
  # (bulk requests at once, default 1) to change.
  if wanted bulk; then
    "${b[@]}" bulk --users "${BULK_USERS:-10000}" --per-request 1000 \
      --concurrency "$CONCURRENCY" --rounds "${BULK_ROUNDS:-2}" --bulk-concurrency "${BULK_IN_FLIGHT:-1}"
  fi
  if wanted propagation; then "${b[@]}" propagation --rate "$RATE" --duration 20; fi
  # Two organizations under the default limits (issue 22): B at 20/s alone,
  # then beside A creating on 16 connections.
  # FAIRNESS_ARGS=--ignore-retry-after: A does not back off after a 429.
  # shellcheck disable=SC2086 # FAIRNESS_ARGS is a list of flags
  if wanted fairness; then "${b[@]}" fairness --duration "$DURATION" ${FAIRNESS_ARGS:-}; fi
  # The lookups and the group need the seeded organization.
  if wanted seed || wanted filter || wanted get || wanted patch || wanted group-add; then
    echo "-- seeding $USERS users"
    "${b[@]}" --token "$token" seed --users "$USERS" --concurrency "$CONCURRENCY"
  fi
  if wanted filter; then
    "${b[@]}" --token "$token" filter --users "$USERS" "${load[@]}"
    "${b[@]}" --token "$token" filter --users "$USERS" --concurrency 1 --requests 5000
  fi
  if wanted filter && [ "$LOOKUP_USERS" -gt "$USERS" ] && [ -n "${GATEWAY_DB:-}" ]; then
    fill_users "$GATEWAY_DB" "bench-$RUN" "$USERS" "$LOOKUP_USERS"
    "${b[@]}" --token "$token" filter --users "$LOOKUP_USERS" "${load[@]}"
    "${b[@]}" --token "$token" filter --users "$LOOKUP_USERS" --concurrency 1 --requests 5000
  fi
  if wanted get; then "${b[@]}" --token "$token" get --users "$USERS" "${load[@]}"; fi
  if wanted patch; then "${b[@]}" --token "$token" patch --users "$USERS" "${load[@]}"; fi
  if wanted group-add && [ "$USERS" -ge 50500 ]; then
    "${b[@]}" --token "$token" group-add --members 50000 --requests 500
  fi
  # Large users read in the largest pages, 8 at once: the memory they take
  # and give back (issue 22).
  if wanted memory; then "${b[@]}" memory --users 60 --concurrency 8 --rounds 3; fi
  echo "peak resident memory over the whole run: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
}

if [ "$MODE" = all ] || [ "$MODE" = distributed ]; then
  echo "== distributed: gateway, identity, team, licensing on PostgreSQL + RabbitMQ"
  clean_broker
  # Statistics. A PostgreSQL without autovacuum (this machine's, CI's) never
  # refreshes table statistics; the services then plan every statement per
  # execution (service_kit::db). STATS=analyze (the default) stands in for
  # the autovacuum a production server runs — every 5 s, ANALYZE of each
  # table of the bench databases that autovacuum's default rule would pick
  # (more than 50 + 10 % of its rows changed since its last analyze) — and
  # the services are told so through their URLs, keeping PostgreSQL's plan
  # cache. STATS=none measures them as they run here.
  # Connections are plaintext, as in docker-compose.yml (the postgres image
  # serves no TLS; Debian's does, and loopback TLS cost ~25 % of GETs).
  url_options="sslmode=disable"
  if [ "$STATS" = analyze ] && [ "$(psql_ -d postgres -c 'SHOW autovacuum')" = off ]; then
    url_options="$url_options&options=-c%20plan_cache_mode%3Dauto"
    (while sleep 5; do
      for db in gateway identity team licensing; do
        psql_ -d "scim_bench_${db}_$RUN" 2>/dev/null <<'SQL' || true
SELECT format('ANALYZE %I.%I', schemaname, relname) FROM pg_stat_user_tables
WHERE n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0) \gexec
SQL
      done
    done) &
    PIDS+=($!)
    echo "-- autovacuum is off: the bench analyzes as autovacuum would (STATS=none: it does not)"
  fi
  common=(SCIM_CONFIG=/nonexistent SCIM_AMQP__URL="$AMQP" SCIM_AMQP__EXCHANGE=provisioning.bench
          SCIM_SEATS__QUEUE=seats-bench SCIM_LICENSING__QUEUE=seats-bench
          SCIM_ADMIN_KEY=$KEY SCIM_LOG__FILTER=warn SCIM_HTTP__HOST=127.0.0.1
          SCIM_KEYS__KEY_ENCRYPTION_KEY=$KEK)
  port=18200
  # GATEWAYS replicas of the gateway on one database (one relay holds the
  # journal's lease); scim-bench sends the requests to them in turn.
  gateway_urls=()
  for service in identity team licensing $(for _ in $(seq 1 "$GATEWAYS"); do echo scim-gateway; done); do
    db=${service#scim-}
    port=$((port + 1))
    port_free "$port"
    log="$WORK/$service-$port.log"
    if [ "$service" != scim-gateway ] || [ ${#gateway_urls[@]} -eq 0 ]; then
      psql_ -d postgres -c "CREATE DATABASE scim_bench_${db}_$RUN"
    fi
    env "${common[@]}" SCIM_DATABASE__URL="$PG/scim_bench_${db}_$RUN?$url_options" SCIM_HTTP__PORT=$port \
      SCIM_AMQP__QUEUE="$service-bench" SCIM_BOOTSTRAP__DEMO_ORGANIZATION=false \
      "$BIN/$service" > "$log" 2>&1 &
    PIDS+=($!)
    if [ "$service" = scim-gateway ]; then
      if [ ${#gateway_urls[@]} -eq 0 ]; then gateway_pid=$!; fi
      gateway_urls+=("http://127.0.0.1:$port")
      GATEWAY_PIDS+=($!)
    else
      CONSUMER_PIDS+=($!)
      eval "url_${db}=http://127.0.0.1:$port"
    fi
    wait_ready "$service" "http://127.0.0.1:$port" "$log"
  done
  GATEWAY_DB=scim_bench_gateway_$RUN
  gateways=$(IFS=,; echo "${gateway_urls[*]}")
  # shellcheck disable=SC2154 # set by eval above
  token=$("$BENCH" --base-url "${gateway_urls[0]}/scim/v2" --admin-key "$KEY" --licensing-url "$url_licensing" \
    organization --seats 100000000 --name "bench-$RUN")
  scenarios "$gateways" "$token" "$gateway_pid" --licensing-url "$url_licensing" --identity-url "$url_identity"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
  GATEWAY_PIDS=()
  CONSUMER_PIDS=()
fi

if [ "$MODE" = all ] || [ "$MODE" = embedded ]; then
  echo "== embedded: one process, SQLite files, in-process bus"
  GATEWAY_DB=  # LOOKUP_USERS fills PostgreSQL only
  mkdir -p "$WORK/embedded"
  port_free "$EMBEDDED_PORT"
  (cd "$WORK/embedded" && SCIM_HTTP__PORT=$EMBEDDED_PORT SCIM_ADMIN_KEY=$KEY SCIM_LOG__FILTER=warn \
    exec "$BIN/scim-embedded" > embedded.log 2>&1) &
  PIDS+=($!)
  wait_ready embedded http://127.0.0.1:$EMBEDDED_PORT "$WORK/embedded/embedded.log"
  token=$("$BENCH" --base-url http://127.0.0.1:$EMBEDDED_PORT/scim/v2 --admin-key "$KEY" \
    organization --seats 100000000 --name "bench-$RUN")
  scenarios http://127.0.0.1:$EMBEDDED_PORT "$token" "${PIDS[0]}"
fi

exit $FAILED
