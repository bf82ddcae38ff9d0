#!/usr/bin/env bash
# Scrape latency of the real daemon while a sysfs file is slow or stuck (issue 9, section 1).
#
#   benches/slow-files.sh stuck [SCRAPES]   # FIFO in place of thermal_zone0/temp, never written
#   benches/slow-files.sh slow  [SCRAPES]   # the same FIFO answers each read after 1.5 s
#   benches/slow-files.sh none  [SCRAPES]   # baseline: a plain file
#
# A small tree (two thermal zones, one hwmon chip, one RAPL zone) in a scratch dir, collectors at
# 1 s, SCRAPES sequential GETs of /metrics with curl (each bounded at 5 s); prints p50/p99/max in
# ms and how many scrapes failed, then SIGTERM and the exit status. HOSTWATT picks the binary
# (default: the release build). Loopback only; a bench script, not part of the tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: slow-files.sh stuck|slow|none [SCRAPES]}"
scrapes="${2:-1000}"
HOSTWATT="${HOSTWATT_BIN:-$HOSTWATT}"
[ -x "$HOSTWATT" ] || (cd "$ROOT_DIR" && cargo build --release --quiet)

t="$SCRATCH/root/sys"
mkdir -p "$t/class/thermal/thermal_zone0" "$t/class/thermal/thermal_zone1" \
    "$t/class/hwmon/hwmon0" "$t/class/powercap/intel-rapl:0"
echo x86_pkg_temp >"$t/class/thermal/thermal_zone1/type"
echo 41000 >"$t/class/thermal/thermal_zone1/temp"
echo acpitz >"$t/class/thermal/thermal_zone0/type"
echo coretemp >"$t/class/hwmon/hwmon0/name"
echo 45000 >"$t/class/hwmon/hwmon0/temp1_input"
echo package-0 >"$t/class/powercap/intel-rapl:0/name"
echo 1000000 >"$t/class/powercap/intel-rapl:0/energy_uj"
echo 262143328850 >"$t/class/powercap/intel-rapl:0/max_energy_range_uj"
temp="$t/class/thermal/thermal_zone0/temp"
case "$mode" in
none) echo 40000 >"$temp" ;;
stuck) mkfifo "$temp" ;;
slow)
    mkfifo "$temp"
    # each open for reading waits for this writer, which answers 1.5 s later; `timeout` bounds
    # each open for writing, so the loop notices when it is to stop
    touch "$SCRATCH/feed"
    (while [ -e "$SCRATCH/feed" ]; do sleep 1.5; timeout 5 sh -c "echo 40000 >'$temp'" || true; done) & ;;
*) echo "mode is stuck, slow or none" >&2; exit 2 ;;
esac
cat >"$SCRATCH/hostwatt.toml" <<'TOML'
[collectors.thermal]
interval = "1s"
[collectors.hwmon]
interval = "1s"
[collectors.rapl]
interval = "1s"
[collectors.system]
enabled = false
[collectors.smart]
enabled = false
[collectors.zfs]
enabled = false
TOML

port="$(free_port)"
"$HOSTWATT" run --root "$SCRATCH/root" --config "$SCRATCH/hostwatt.toml" \
    --state-dir "$SCRATCH/state" --listen "127.0.0.1:$port" --log-level warn 2>"$SCRATCH/hostwatt.log" &
pid=$!
PIDS+=("$pid")
# a daemon whose runtime thread is stuck accepts connections but never answers: bounded tries,
# and SIGKILL, since it would not act on SIGTERM either
ready=no
for _ in $(seq 20); do
    curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && { ready=yes; break; }
    sleep 0.5
done
if [ "$ready" = no ]; then
    echo "mode=$mode: /healthz never answered (20 tries of 1 s); SIGKILL"
    kill -KILL "$pid"
    exit 1
fi
sleep 3
failed=0
for _ in $(seq "$scrapes"); do
    curl -s -o /dev/null --max-time 5 -w '%{time_total}\n' "http://127.0.0.1:$port/metrics" \
        >>"$SCRATCH/times" || failed=$((failed + 1))
done
thermal="$(curl -s --max-time 5 "http://127.0.0.1:$port/metrics" | grep -E '^hostwatt_collector_(success|errors_total)\{collector="thermal"' | tr '\n' ' ')"
rm -f "$SCRATCH/feed"
kill -TERM "$pid"
status=none
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { status=0; wait "$pid" || status=$?; break; }
    sleep 0.1
done
[ "$status" = none ] && { status="still running 10 s after SIGTERM; SIGKILL"; kill -KILL "$pid"; }
sort -n "$SCRATCH/times" | awk -v mode="$mode" -v failed="$failed" -v status="$status" '
    { t[NR] = $1 * 1000 }
    END {
        printf "mode=%s scrapes=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f exit_status=%s\n",
            mode, NR, failed, t[int(NR * 0.5)], t[int(NR * 0.99)], t[NR], status
    }'
echo "  $thermal"
