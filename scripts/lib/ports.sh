# shellcheck shell=bash
# TCP port helpers for scripts that start local servers. Sourced, not run.
# Only 127.0.0.1 is ever probed.

# Succeeds when something on this machine listens on TCP port $1. Reads
# /proc so that it works on a bare image without ss or netstat.
port_is_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  # Field 2 is local_address as ADDR:PORT in hex, field 4 the state; 0A is LISTEN.
  awk -v port="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == port && $4 == "0A") found = 1 }
       END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Prints a TCP port nobody listens on. Picks below Linux's default ephemeral
# range (32768+) so that outgoing connections cannot grab it before our
# server binds it.
free_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! port_is_listening "$port"; then
      echo "$port"
      return 0
    fi
  done
  echo "free_port: no free port found" >&2
  return 1
}

# Waits until 127.0.0.1:$1 accepts a TCP connection. Gives up after $3
# seconds (default 10), or as soon as process $2 (optional) has exited, so a
# server that died on startup is reported at once instead of after a timeout.
wait_for_port() {
  local port=$1 pid=${2:-} timeout=${3:-10}
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "wait_for_port: process $pid exited before listening on port $port" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "wait_for_port: nothing listening on 127.0.0.1:$port after ${timeout}s" >&2
  return 1
}

# Sends SIGTERM to process $1 (one we started), waits up to $2 seconds
# (default 5), then SIGKILL. Quiet if it is already gone.
stop_pid() {
  local pid=$1 timeout=${2:-5}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop_pid: $pid ignored SIGTERM for ${timeout}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Reaps it when it is our child; harmless otherwise.
  wait "$pid" 2>/dev/null || true
}
