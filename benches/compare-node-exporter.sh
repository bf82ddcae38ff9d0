#!/usr/bin/env bash
# hostwatt and node_exporter side by side on the same synthetic 64-CPU tree: CPU per scrape,
# scrape latency and RSS of each real daemon, measured the same way.
#
#   apt-get install prometheus-node-exporter    # once; bench only, never a test dependency
#   benches/compare-node-exporter.sh [SCRAPES]  # default 1000
#
# Each daemon is started on the tree (hostwatt with benches/hostwatt-bench.toml; node_exporter
# with --path.sysfs/--path.procfs and only the collectors that read what hostwatt reads), scraped
# 20 times to warm up, then SCRAPES times over one kept-alive curl connection. CPU is the
# daemon's utime + stime from /proc/PID/stat (clock ticks) over the scrapes; RSS is VmRSS after
# them. node_exporter collects on every scrape; hostwatt renders the snapshots its collectors
# took in the background, so its CPU per collection round is measured by `cargo bench` instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

scrapes="${1:-1000}"
exporter="$(command -v prometheus-node-exporter || command -v node_exporter || true)"
[ -n "$exporter" ] || { echo "install prometheus-node-exporter first (apt-get install prometheus-node-exporter)" >&2; exit 2; }
build_and_tree
tree="$SCRATCH/tree"

# measure NAME PID URL: one table row
measure() {
    local name="$1" pid="$2" url="$3"
    wait_http "$url"
    scrape_n "$url" 20 >/dev/null
    local series bytes
    series="$(curl -fs "$url" | grep -vc '^#')"
    bytes="$(curl -fs "$url" | wc -c)"
    local cpu0 cpu1 lat
    cpu0="$(cpu_ms "$pid")"
    lat="$(scrape_n "$url" "$scrapes" | percentiles)"
    cpu1="$(cpu_ms "$pid")"
    awk -v name="$name" -v s="$series" -v b="$bytes" -v c0="$cpu0" -v c1="$cpu1" -v n="$scrapes" \
        -v lat="$lat" -v rss="$(rss_kib "$pid")" -v parts="$(rss_parts_kib "$pid")" -v ver="$4" 'BEGIN {
        split(lat, l, " "); split(parts, p, " ")
        printf "| %s | %s | %d | %d | %.3f ms | %.3f ms | %.3f ms | %.1f MiB | %.1f MiB | %.1f MiB |\n",
            name, ver, s, b, (c1 - c0) / n, l[1], l[2], rss / 1024, p[1] / 1024, p[2] / 1024 }'
}

echo "| daemon | version | series | bytes | CPU/scrape | p50 | p99 | VmRSS after | RssAnon | RssFile |"
echo "|---|---|---|---|---|---|---|---|---|---|"

port="$(free_port)"
"$HOSTWATT" run --config "$ROOT_DIR/benches/hostwatt-bench.toml" --root "$tree" \
    --state-dir "$SCRATCH/state" --listen "127.0.0.1:$port" --log-level warn 2>"$SCRATCH/hostwatt.log" &
PIDS+=("$!")
sleep 2 # first round of every collector
measure hostwatt "$!" "http://127.0.0.1:$port/metrics" "$("$HOSTWATT" --version | awk '{ print $2 }')"

port="$(free_port)"
"$exporter" --path.sysfs="$tree/sys" --path.procfs="$tree/proc" --path.rootfs="$tree" \
    --collector.disable-defaults --collector.cpu --collector.cpufreq --collector.hwmon \
    --collector.rapl --collector.thermal_zone --collector.edac \
    --web.listen-address="127.0.0.1:$port" --log.level=warn 2>"$SCRATCH/node_exporter.log" &
PIDS+=("$!")
measure node_exporter "$!" "http://127.0.0.1:$port/metrics" "$("$exporter" --version 2>&1 | awk 'NR == 1 { print $3 }')"
