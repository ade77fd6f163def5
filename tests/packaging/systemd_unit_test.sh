#!/usr/bin/env bash
# Checks packaging/pgvalve.service against systemd and against pgvalve:
# systemd-analyze accepts it without a warning (an unknown or misspelled
# directive is only a warning to systemd, so any output fails here), and
# its reload runs pgvalve's --check-config first, which passes a valid file
# and refuses a broken one, so a broken file never reaches SIGHUP.
#   systemd_unit_test.sh PGVALVE_BINARY UNIT_FILE
set -euo pipefail
binary=$1
unit=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "systemd_unit_test: $*" >&2
  exit 1
}

# The unit names the installed paths; systemd-analyze wants its commands to
# exist, so this build's binary and a file of our own stand in.
config=$work/pgvalve.toml
sed "s|/usr/bin/pgvalve|$binary|g; s|/etc/pgvalve/pgvalve.toml|$config|g" "$unit" >"$work/pgvalve.service"
cat >"$config" <<'TOML'
[upstreams.main]
host = "127.0.0.1"
port = 5432
[databases."*"]
upstream = "main"
[http]
listen = ["127.0.0.1:9187"]
TOML

warnings=$(systemd-analyze verify "$work/pgvalve.service" 2>&1) || fail "systemd-analyze refused it: $warnings"
[[ -z "$warnings" ]] || fail "systemd-analyze warned: $warnings"

mapfile -t reload < <(sed -n 's/^ExecReload=//p' "$work/pgvalve.service")
((${#reload[@]} == 2)) || fail "expected two ExecReload lines, got ${#reload[@]}"
[[ "${reload[0]}" == *"--check-config $config" ]] || fail "the reload does not check the file first: ${reload[0]}"
[[ "${reload[1]}" == *"kill -HUP \$MAINPID" ]] || fail "the reload does not end with SIGHUP: ${reload[1]}"
[[ "$(sed -n 's/^ExecStart=//p' "$work/pgvalve.service")" == "$binary --config $config" ]] ||
  fail "ExecStart and ExecReload name different files"

read -ra check <<<"${reload[0]}"
"${check[@]}" >/dev/null || fail "the reload's check refused a valid file"
printf 'listen = \n' >>"$config"
if "${check[@]}" >/dev/null 2>&1; then
  fail "the reload's check accepted a broken file"
fi
echo "systemd_unit_test: ok"
