# shellcheck shell=bash
# The opt-in hook that bench/drain_bench and bench/cutover_bench share for
# bench/metrics_timeline. With METRICS_TIMELINE=DIR set, pgvalve also serves
# /metrics (metrics_auth = false) on a free port of 127.0.0.1;
# bench/lib/metrics_sampler.py scrapes it every METRICS_INTERVAL seconds
# (default 0.1) into DIR/samples.tsv while pgvalve runs; and the bench marks
# its events in DIR/events.tsv, one "seconds<TAB>label" a line on the
# sampler's clock (seconds since timeline_start). Without METRICS_TIMELINE
# every function here does nothing, or only what the bench did before.
# Sourced after scripts/lib/throwaway-pg.sh (free_port, wait_for_port,
# stop_pid, PG_BINDIR), not run.

timeline_dir=${METRICS_TIMELINE:-}
timeline_interval=${METRICS_INTERVAL:-0.1}
# How long the transaction of timeline_pace lasts; 0: none.
timeline_transaction_s=${METRICS_TIMELINE_TRANSACTION:-3}
timeline_lib=$(dirname "${BASH_SOURCE[0]}")
timeline_port=
timeline_t0=
timeline_sampler_pid=
timeline_transaction_pid=

timeline_on() {
  [[ -n "$timeline_dir" ]]
}

# timeline_pick_port [PORT...]: picks the HTTP port, one that is free and
# not among PORTs (servers given a port but not listening yet).
timeline_pick_port() {
  timeline_on || return 0
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    timeline_port=$(free_port)
    [[ " $* " == *" $timeline_port "* ]] || return 0
  done
  echo "metrics timeline: no free port" >&2
  return 1
}

# Prints the [http] section for pgvalve's config; nothing when off.
timeline_http_config() {
  timeline_on || return 0
  printf '\n[http]\nlisten = ["127.0.0.1:%s"]\nmetrics_auth = false\n' "$timeline_port"
}

# timeline_start PGVALVE_PID: once pgvalve answers HTTP, starts the sampler
# and empties the events; a later call (the next round) starts afresh.
timeline_start() {
  timeline_on || return 0
  timeline_stop
  wait_for_port "$timeline_port" "$1" 10 || return 1
  mkdir -p "$timeline_dir"
  : >"$timeline_dir/events.tsv"
  timeline_t0=$EPOCHREALTIME
  "$timeline_lib/metrics_sampler.py" --url "http://127.0.0.1:$timeline_port/metrics" \
    --family pgvalve_sessions --family pgvalve_held_requests \
    --family pgvalve_drain_sessions_remaining --family pgvalve_cutover_step \
    --interval "$timeline_interval" --t0 "$timeline_t0" --verbose \
    --output "$timeline_dir/samples.tsv" 2>"$timeline_dir/sampler.log" &
  timeline_sampler_pid=$!
}

# timeline_event UNIX_TIME LABEL: one line of events.tsv.
timeline_event() {
  timeline_on || return 0
  awk -v t="$1" -v t0="$timeline_t0" -v label="$2" 'BEGIN { printf "%.3f\t%s\n", t - t0, label }' \
    >>"$timeline_dir/events.tsv"
}

# Stops the sampler and the transaction of timeline_pace; idempotent.
timeline_stop() {
  if [[ -n "$timeline_transaction_pid" ]]; then
    stop_pid "$timeline_transaction_pid" 5
    timeline_transaction_pid=
  fi
  if [[ -n "$timeline_sampler_pid" ]]; then
    stop_pid "$timeline_sampler_pid" 5
    timeline_sampler_pid=
  fi
}

# timeline_drain_events PGVALVE_LOG DRIVER_STDERR: marks each DRAIN the
# drain_bench driver ran, and copies the driver's lines (which went to
# DRIVER_STDERR) to stderr. The admin console's audit line (level info) is
# logged when the command returned; the driver's line "sessions=N round=R
# S s" gives its wall time S, so it was sent S earlier. The Nth audit line
# goes with the Nth round.
timeline_drain_events() {
  timeline_on || return 0
  local log=$1 driver_stderr=$2
  cat "$driver_stderr" >&2
  local returned walls i returned_at sessions wall
  mapfile -t returned < <(sed -n 's/^\([0-9-]* [0-9:.]*\) \[info\] admin audit: .* command="DRAIN .*/\1/p' "$log")
  mapfile -t walls < <(sed -n 's/^ *sessions=\([0-9]*\) *round=[0-9]* *\([0-9.]*\) s.*/\1 \2/p' "$driver_stderr")
  for ((i = 0; i < ${#returned[@]} && i < ${#walls[@]}; i++)); do
    returned_at=$(date -d "${returned[i]}" +%s.%N) # pgvalve logs local time
    read -r sessions wall <<<"${walls[i]}"
    timeline_event "$(awk -v t="$returned_at" -v s="$wall" 'BEGIN { printf "%.3f", t - s }')" \
      "DRAIN sent ($sessions sessions)"
    timeline_event "$returned_at" "DRAIN returned (${wall} s)"
  done
}

# timeline_pace SECONDS PORT DATABASE: sleeps SECONDS, the pacing before a
# CUTOVER. With METRICS_TIMELINE, one session through pgvalve (PORT) begins
# a transaction that lasts METRICS_TIMELINE_TRANSACTION seconds 1 s before
# the end, so that the CUTOVER's hold waits for it and lasts long enough to
# be seen at the sampler's interval (the clients' transactions are short).
timeline_pace() {
  local seconds=$1 port=$2 database=$3
  if ! timeline_on || ((timeline_transaction_s <= 0 || seconds < 1)); then
    sleep "$seconds"
    return 0
  fi
  sleep $((seconds - 1))
  timeline_event "$EPOCHREALTIME" "a ${timeline_transaction_s} s transaction begins"
  printf 'BEGIN;\nSELECT pg_sleep(%s);\nCOMMIT;\n' "$timeline_transaction_s" |
    "$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d "$database" \
      >"$timeline_dir/transaction.log" 2>&1 &
  timeline_transaction_pid=$!
  sleep 1
}

# timeline_cutover_events RECORD_LINE: marks the CUTOVER the cutover_bench
# driver just ran, from its key=value line: returned now, sent
# cutover_wall_s earlier, the hold from the start of step hold to the start
# of step resume (the report's step durations, in their order).
timeline_cutover_events() {
  timeline_on || return 0
  local returned_at=$EPOCHREALTIME
  tr '\t' '\n' <<<"$1" | awk -F= -v now="$returned_at" '
    $1 == "cutover_wall_s" { wall = $2 }
    $1 ~ /^step_.*_s$/ { step = substr($1, 6, length($1) - 7); steps[++n] = step; took[step] = $2 }
    END {
      sent = now - wall
      printf "%.6f\tCUTOVER sent\n", sent
      at = sent
      for (i = 1; i <= n; i++) {
        if (steps[i] == "hold") printf "%.6f\thold began\n", at
        if (steps[i] == "resume") printf "%.6f\tresume\n", at
        at += took[steps[i]]
      }
      printf "%.6f\tCUTOVER returned (%s s)\n", now, wall
    }' | while IFS=$'\t' read -r at label; do
    timeline_event "$at" "$label"
  done
}
