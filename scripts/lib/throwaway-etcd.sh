# shellcheck shell=bash
# Starts and stops a disposable single-member etcd for the fleet demo and
# the fleet benchmark.
# Sourced, not run. It never touches the etcd service that Debian's
# etcd-server package may run on port 2379.
#
# After te_start these are set:
#   TE_DIR       temp dir holding the data directory and the log
#   TE_PORT      client port on 127.0.0.1
#   TE_ENDPOINT  http://127.0.0.1:$TE_PORT, for [fleet] etcd_endpoints
#   TE_LOG       etcd's log
#   TE_PID       etcd's own pid (not a wrapper's)
# te_stop is idempotent, so it can sit in an EXIT trap; it also cleans up
# after a te_start that failed.

# shellcheck source=scripts/lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
TE_DIR=
TE_PORT=
TE_ENDPOINT=
TE_LOG=
TE_PID=

# te_start: waits up to 30 s for etcd to report itself healthy.
te_start() {
  if [[ ! -x "$ETCD_BIN" ]]; then
    echo "te_start: no etcd at $ETCD_BIN (run scripts/install-deps)" >&2
    return 1
  fi
  TE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgvalve-etcd.XXXXXX")
  TE_LOG=$TE_DIR/etcd.log
  TE_PORT=$(free_port)
  # free_port only knows what listens already, so it may name the client
  # port twice.
  local peer_port _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    peer_port=$(free_port)
    [[ "$peer_port" != "$TE_PORT" ]] && break
  done
  if [[ "$peer_port" == "$TE_PORT" ]]; then
    echo "te_start: no second free port found" >&2
    return 1
  fi
  TE_ENDPOINT=http://127.0.0.1:$TE_PORT
  local peer_url=http://127.0.0.1:$peer_port

  # etcd runs as any user, but as `postgres` when we are root, like the
  # throwaway PostgreSQL. setpriv changes user and then execs etcd in
  # place, where runuser would stay behind as etcd's parent: so $! is etcd
  # itself and te_stop's SIGTERM reaches it directly. setsid (which also
  # execs in place here, in a background job that leads no process group)
  # keeps a Ctrl-C on the terminal from stopping etcd before the caller's
  # trap has stopped what uses it, as pg_ctl does for PostgreSQL. It runs
  # from TE_DIR because the caller's working directory (/root) is
  # unreadable to postgres.
  local run_as=()
  if ((EUID == 0)); then
    chown postgres: "$TE_DIR"
    run_as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
  (cd "$TE_DIR" && exec setsid "${run_as[@]}" "$ETCD_BIN" --name pgvalve-demo --data-dir "$TE_DIR/data" \
    --listen-client-urls "$TE_ENDPOINT" --advertise-client-urls "$TE_ENDPOINT" \
    --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
    --initial-cluster "pgvalve-demo=$peer_url" --logger zap --log-outputs stderr) >"$TE_LOG" 2>&1 &
  TE_PID=$!

  local deadline=$((SECONDS + 30))
  until [[ "$(curl -fsS --max-time 1 "$TE_ENDPOINT/health" 2>/dev/null || true)" == *'"health":"true"'* ]]; do
    if ! kill -0 "$TE_PID" 2>/dev/null; then
      echo "te_start: etcd exited on startup; its log ends with:" >&2
      tail -n 20 "$TE_LOG" >&2 || true
      TE_PID=
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "te_start: etcd not healthy at $TE_ENDPOINT after 30 s; its log ends with:" >&2
      tail -n 20 "$TE_LOG" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

te_stop() {
  if [[ -n "$TE_PID" ]]; then
    stop_pid "$TE_PID" 10
  fi
  if [[ -n "$TE_DIR" && -d "$TE_DIR" ]]; then
    rm -rf -- "$TE_DIR"
  fi
  TE_DIR='' TE_PORT='' TE_ENDPOINT='' TE_LOG='' TE_PID=''
}
