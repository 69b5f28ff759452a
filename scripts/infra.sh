#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL and RabbitMQ are running; starts them if
# not. Exits non-zero, loudly, when one cannot be brought up.
set -euo pipefail

# install PACKAGE...: from Debian, on a machine that lacks it (a fresh CI
# runner has only what this repository installs).
install() {
  command -v apt-get >/dev/null 2>&1 || { echo "infra: no apt-get to install $*" >&2; return 1; }
  echo "infra: installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null 2>&1; }
}

# PostgreSQL as the tests reach it: user postgres on 127.0.0.1 without a
# password. Only a server installed here is configured so; an existing one
# is left as it is.
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  install postgresql || { echo "infra: FATAL: PostgreSQL is not installed and could not be" >&2; exit 1; }
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  done
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  install rabbitmq-server || { echo "infra: FATAL: RabbitMQ is not installed and could not be" >&2; exit 1; }
fi
# The conformance suite runs scim2-tester in a virtualenv.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  install python3 python3-venv || { echo "infra: FATAL: python3 with venv is not installed and could not be" >&2; exit 1; }
fi

# The console's browser walk (services/embedded/tests/it/console_browser.rs)
# drives Debian's chromium through chromium-driver.
if ! command -v chromedriver >/dev/null 2>&1; then
  install chromium chromium-driver || { echo "infra: FATAL: chromium and chromium-driver are not installed and could not be" >&2; exit 1; }
fi

# The walk's accessibility check (tests/console-walk) injects axe-core into
# every page. It comes from the npm registry here, at infra time, pinned and
# its integrity checked against the sha512 of the pin file (the registry's
# `dist.integrity` for that version), which the test reads too; the test
# never fetches anything.
AXE_PIN="$(dirname "$0")/../tests/console-walk/axe-core.pin"
AXE_VERSION=$(sed -n 's/^version=//p' "$AXE_PIN")
AXE_INTEGRITY=$(sed -n 's/^integrity=//p' "$AXE_PIN")
[ -n "$AXE_VERSION" ] && [ -n "$AXE_INTEGRITY" ] ||
  { echo "infra: FATAL: no axe-core version and integrity in $AXE_PIN" >&2; exit 1; }
AXE_DIR=/var/cache/scim-npm/axe-core-$AXE_VERSION
if [ ! -f "$AXE_DIR/axe.min.js" ]; then
  command -v npm >/dev/null 2>&1 || install npm || { echo "infra: FATAL: npm is not installed and could not be" >&2; exit 1; }
  echo "infra: fetching axe-core $AXE_VERSION from the npm registry"
  axe_tmp=$(mktemp -d)
  (cd "$axe_tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null) ||
    { echo "infra: FATAL: npm pack axe-core@$AXE_VERSION failed" >&2; exit 1; }
  axe_tgz="$axe_tmp/axe-core-$AXE_VERSION.tgz"
  got=$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$axe_tgz")
  [ "$got" = "$AXE_INTEGRITY" ] ||
    { echo "infra: FATAL: axe-core $AXE_VERSION's integrity is $got, expected $AXE_INTEGRITY" >&2; exit 1; }
  tar -xzf "$axe_tgz" -C "$axe_tmp"
  mkdir -p "$AXE_DIR"
  cp "$axe_tmp/package/LICENSE" "$axe_tmp/package/package.json" "$AXE_DIR/"
  # Last, so that a half-done copy is never taken for a whole one.
  cp "$axe_tmp/package/axe.min.js" "$AXE_DIR/axe.min.js.part" && mv "$AXE_DIR/axe.min.js.part" "$AXE_DIR/axe.min.js"
  rm -rf "$axe_tmp"
fi
echo "infra: axe-core $AXE_VERSION in $AXE_DIR"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
rabbit_up() { rabbitmqctl -q await_startup --timeout 2 >/dev/null 2>&1 || (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  echo "infra: PostgreSQL is down, starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "infra: FATAL: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "infra: PostgreSQL up"

if ! rabbit_up; then
  echo "infra: RabbitMQ is down, starting it"
  command -v rabbitmq-server >/dev/null 2>&1 && rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
  rabbit_up || { echo "infra: FATAL: RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
fi
echo "infra: RabbitMQ up"

# Databases left behind by earlier test runs (one per test, named by a UUID).
psql -h 127.0.0.1 -U postgres -d postgres -Atc \
  "SELECT datname FROM pg_database WHERE datname LIKE 'scim_test_%'" 2>/dev/null |
  while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
