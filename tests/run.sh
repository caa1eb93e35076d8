#!/usr/bin/env bash
# The whole test suite: starts the services the integration tests use, then `cargo test`.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh postgres   # arguments go to cargo test
#
# S3 and Glue: moto's server (PyPI `moto[server]`, installed into a virtualenv under
# ~/.cache/etlx-moto the first time), started on a free port on 127.0.0.1 for this run and
# stopped at the end; ETLX_TEST_AWS_ENDPOINT points at it.
#
# PostgreSQL: the machine's own server (the Debian package; installed with apt when
# missing), started on 127.0.0.1, with a login role for the tests; ETLX_TEST_PG_URL points
# at it and each test creates and drops its own database. Plain `cargo test` runs the same
# tests but skips the server ones with a message (under CI=true they fail instead).
#
# Chromium: Debian's package (installed with apt when missing) opens the site `etlx docs
# generate` writes, headless, from disk; no server is started for it.
set -euo pipefail
cd "$(dirname "$0")/.."

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi
}
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

start_postgres() {
  if ! command -v pg_lsclusters > /dev/null; then
    echo "== installing PostgreSQL (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql > /dev/null
  fi
  if [ -z "$(pg_lsclusters --no-header)" ]; then
    as_root pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main > /dev/null
  fi
  read -r version cluster port status _ < <(pg_lsclusters --no-header | head -1)
  if [ "$status" != online ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
  fi
  for _ in $(seq 50); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.2
  done
  pg_isready -h 127.0.0.1 -p "$port"
  # A fresh password each run: it only has to live as long as this script.
  local password
  password=$(openssl rand -hex 16)
  as_postgres "psql -q -p $port" <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = 'etlx_test') then
    create role etlx_test login createdb;
  end if;
end \$\$;
alter role etlx_test password '$password';
SQL
  export ETLX_TEST_PG_URL="postgres://etlx_test:$password@127.0.0.1:$port/postgres"
  echo "== PostgreSQL $version on 127.0.0.1:$port (ETLX_TEST_PG_URL set)"
}

start_moto() {
  local venv="$HOME/.cache/etlx-moto"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "== installing moto[server] into $venv"
    python3 -m venv "$venv" || {
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv > /dev/null
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q 'moto[server]'
  fi
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "${TMPDIR:-/tmp}/etlx-moto-$port.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2> /dev/null || true' EXIT
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" \
      2> /dev/null && break
    sleep 0.2
  done
  export ETLX_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  echo "== moto (S3 + Glue) on 127.0.0.1:$port (ETLX_TEST_AWS_ENDPOINT set)"
}

install_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "== installing Chromium (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium > /dev/null
  fi
  echo "== $(/usr/bin/chromium --version 2> /dev/null || echo 'Chromium: not runnable')"
}

start_postgres
start_moto
install_chromium
cargo test "$@"
