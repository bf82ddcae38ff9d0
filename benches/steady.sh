#!/usr/bin/env bash
# Steady-state cost of hostwatt beside node_exporter: both run on the same synthetic 64-CPU tree
# at the same time and are scraped every INTERVAL seconds for SECONDS, as Prometheus would.
#
#   apt-get install prometheus-node-exporter        # once; bench only, never a test dependency
#   benches/steady.sh INTERVAL SECONDS              # e.g. 15 150
#   BEFORE=/path/to/old/hostwatt benches/steady.sh 15 150   # adds a third daemon, same tree
#
# hostwatt runs with benches/hostwatt-bench.toml; node_exporter with --path.sysfs/--path.procfs
# and only the collectors that read what hostwatt reads. Each scrape is a new curl with
# Prometheus' Accept and Accept-Encoding: gzip headers. CPU is the daemon's utime + stime from
# /proc/PID/stat (all threads) from the first scrape to SECONDS later, so it holds hostwatt's
# background rounds as well as the scrapes; RSS is VmRSS at the end. The machine may be loaded:
# CPU time of the measured process stays meaningful, wall time does not.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

interval="${1:?usage: steady.sh INTERVAL SECONDS}"
seconds="${2:?usage: steady.sh INTERVAL SECONDS}"
exporter="$(command -v prometheus-node-exporter || command -v node_exporter || true)"
[ -n "$exporter" ] || { echo "install prometheus-node-exporter first (apt-get install prometheus-node-exporter)" >&2; exit 2; }
build_and_tree
tree="$SCRATCH/tree"
accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

names=() pids=() urls=()
# start NAME COMMAND...: runs a daemon on a free port ($PORT in its arguments)
start() {
    local name="$1"; shift
    local port; port="$(free_port)"
    "${@//\$PORT/$port}" 2>"$SCRATCH/$name.log" &
    PIDS+=("$!")
    names+=("$name") pids+=("$!") urls+=("http://127.0.0.1:$port/metrics")
}
hostwatt_args=(run --config "$ROOT_DIR/benches/hostwatt-bench.toml" --root "$tree" --listen '127.0.0.1:$PORT' --log-level warn)
start hostwatt "$HOSTWATT" "${hostwatt_args[@]}" --state-dir "$SCRATCH/state"
if [ -n "${BEFORE:-}" ]; then
    start hostwatt-before "$BEFORE" "${hostwatt_args[@]}" --state-dir "$SCRATCH/state-before"
fi
start node_exporter "$exporter" --path.sysfs="$tree/sys" --path.procfs="$tree/proc" --path.rootfs="$tree" \
    --collector.disable-defaults --collector.cpu --collector.cpufreq --collector.hwmon \
    --collector.rapl --collector.thermal_zone --collector.edac \
    --web.listen-address='127.0.0.1:$PORT' --log.level=warn
for url in "${urls[@]}"; do wait_http "$url"; done
sleep 2 # the first round of every hostwatt collector runs at start

scrape() {
    curl -fs -o /dev/null -H "Accept: $accept" -H 'Accept-Encoding: gzip' "$1"
}
declare -a cpu0 run0 series bytes
for i in "${!names[@]}"; do
    series[i]="$(curl -fs "${urls[i]}" | grep -vc '^#')"
    bytes[i]="$(curl -fs -H "Accept: $accept" -H 'Accept-Encoding: gzip' "${urls[i]}" | wc -c)"
    cpu0[i]="$(cpu_ms "${pids[i]}")"
    run0[i]="$(runtime_ms "${pids[i]}")"
done
# sleep_until T: sleeps until Unix time T (seconds, fractional)
sleep_until() {
    sleep "$(awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { d = t - now; printf "%.3f", (d > 0 ? d : 0) }')"
}
# scrapes at t0, t0 + INTERVAL, ... while inside the measured SECONDS
scrapes="$(awk -v s="$seconds" -v i="$interval" 'BEGIN { n = int(s / i); if (n * i < s) n++; print n }')"
t0="$(date +%s.%N)"
for n in $(seq 0 $((scrapes - 1))); do
    sleep_until "$(awk -v t0="$t0" -v n="$n" -v i="$interval" 'BEGIN { printf "%.3f", t0 + n * i }')"
    for url in "${urls[@]}"; do scrape "$url"; done
done
sleep_until "$(awk -v t0="$t0" -v s="$seconds" 'BEGIN { printf "%.3f", t0 + s }')"

last=$((${#names[@]} - 1)) # node_exporter
ne_cpu="$(awk -v a="${cpu0[last]}" -v b="$(cpu_ms "${pids[last]}")" 'BEGIN { print b - a }')"
ne_run="$(awk -v a="${run0[last]}" -v b="$(runtime_ms "${pids[last]}")" 'BEGIN { print b - a }')"
echo "interval=${interval}s seconds=$seconds scrapes=$scrapes (Accept: OpenMetrics first, Accept-Encoding: gzip)"
echo "| daemon | series | bytes (gzip) | utime+stime | on CPU (schedstat) | per scrape interval | VmRSS | ratio to node_exporter (utime+stime, schedstat) |"
echo "|---|---|---|---|---|---|---|---|"
for i in "${!names[@]}"; do
    awk -v name="${names[i]}" -v s="${series[i]}" -v b="${bytes[i]}" -v c0="${cpu0[i]}" \
        -v c1="$(cpu_ms "${pids[i]}")" -v rss="$(rss_kib "${pids[i]}")" -v ne="$ne_cpu" \
        -v r0="${run0[i]}" -v r1="$(runtime_ms "${pids[i]}")" -v nr="$ne_run" \
        -v n="$scrapes" 'BEGIN {
        c = c1 - c0; r = r1 - r0
        printf "| %s | %d | %d | %.0f ms | %.1f ms | %.2f ms | %.1f MiB | %s, %s |\n", name, s, b,
            c, r, r / n, rss / 1024, (ne > 0 ? sprintf("%.3f", c / ne) : "n/a"),
            (nr > 0 ? sprintf("%.3f", r / nr) : "n/a") }'
done
