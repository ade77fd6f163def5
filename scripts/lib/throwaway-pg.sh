# shellcheck shell=bash
# Starts and stops a disposable PostgreSQL 15 cluster for the demo and the
# benchmarks. Sourced, not run. It never touches Debian's "main" cluster.
#
# After tpg_start these are set:
#   TPG_DIR         temp dir holding everything; also the unix socket dir
#   TPG_DATA        data directory
#   TPG_PORT        TCP port on 127.0.0.1
#   TPG_LOG         server log
# tpg_stop is idempotent, so it can sit in an EXIT trap.

# shellcheck source=scripts/lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
TPG_DIR=
TPG_DATA=
TPG_PORT=
TPG_LOG=

# PostgreSQL refuses to run as root, so when we are root its tools (and
# anything else that refuses root, like pgbouncer) run as `postgres`.
# They run from TPG_DIR because they fail when the caller's working directory
# is unreadable to them, as /root is to postgres.
tpg_as_postgres() {
  if ((EUID == 0)); then
    (cd "${TPG_DIR:-/}" && runuser -u postgres -- "$@")
  else
    (cd "${TPG_DIR:-/}" && "$@")
  fi
}

# tpg_start [MAX_CONNECTIONS]
# Uses $PG_PORT as the TCP port when set, otherwise a free one.
tpg_start() {
  local max_connections=${1:-100}
  if [[ ! -x "$PG_BINDIR/initdb" ]]; then
    echo "tpg_start: no PostgreSQL binaries in $PG_BINDIR (run scripts/install-deps)" >&2
    return 1
  fi
  TPG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgvalve-pg.XXXXXX")
  TPG_DATA=$TPG_DIR/data
  TPG_LOG=$TPG_DIR/postgresql.log
  TPG_PORT=${PG_PORT:-$(free_port)}
  if ((EUID == 0)); then
    chown postgres: "$TPG_DIR"
  fi

  if ! tpg_as_postgres "$PG_BINDIR/initdb" -D "$TPG_DATA" -U postgres -A trust \
      -E UTF8 --locale=C --no-sync >"$TPG_DIR/initdb.log" 2>&1; then
    echo "tpg_start: initdb failed:" >&2
    cat "$TPG_DIR/initdb.log" >&2
    return 1
  fi

  # Later settings win, so appending overrides initdb's defaults.
  # Durability is off: this cluster holds nothing worth keeping.
  cat >>"$TPG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $TPG_PORT
unix_socket_directories = '$TPG_DIR'
max_connections = $max_connections
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
CONF
  # "all" does not cover physical replication (pg_basebackup, a standby),
  # which needs lines of its own.
  cat >"$TPG_DATA/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
local replication postgres trust
host  replication postgres 127.0.0.1/32 trust
HBA

  if ! tpg_as_postgres "$PG_BINDIR/pg_ctl" -D "$TPG_DATA" -l "$TPG_LOG" -w -t 60 start \
      >"$TPG_DIR/pg_ctl.log" 2>&1; then
    echo "tpg_start: PostgreSQL did not start:" >&2
    cat "$TPG_DIR/pg_ctl.log" "$TPG_LOG" >&2 2>/dev/null || true
    return 1
  fi
}

# tpg_psql ARGS... : psql as the superuser over the unix socket.
tpg_psql() {
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$TPG_DIR" -p "$TPG_PORT" -U postgres "$@"
}

tpg_stop() {
  if [[ -n "$TPG_DATA" && -f "$TPG_DATA/postmaster.pid" ]]; then
    if ! tpg_as_postgres "$PG_BINDIR/pg_ctl" -D "$TPG_DATA" -m fast -w -t 60 stop \
        >/dev/null 2>&1; then
      echo "tpg_stop: pg_ctl stop failed; server log tail:" >&2
      tail -n 20 "$TPG_LOG" >&2 || true
    fi
  fi
  if [[ -n "$TPG_DIR" && -d "$TPG_DIR" ]]; then
    rm -rf -- "$TPG_DIR"
  fi
  TPG_DIR='' TPG_DATA='' TPG_PORT='' TPG_LOG=''
}
