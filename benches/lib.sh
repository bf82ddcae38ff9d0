# Shared helpers of the benchmark scripts (sourced; not run by the tests).

# Repo root, release binary (HOSTWATT overrides it, and then nothing is built), a scratch dir
# removed on exit.
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_HOSTWATT="$([ -n "${HOSTWATT:-}" ] && echo no || echo yes)"
HOSTWATT="${HOSTWATT:-$ROOT_DIR/target/release/hostwatt}"
# On tmpfs when there is one: sysfs lives in memory, and reading thousands of small files from a
# disk filesystem makes the reading thread sleep in ways no sysfs read does.
SCRATCH="$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )/hostwatt-bench.XXXXXX")"
CLK_TCK="$(getconf CLK_TCK)"
PIDS=()
cleanup() {
    # a daemon killed by SIGTERM exits non-zero; that must not stop the cleanup under set -e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Builds the release binary and writes the synthetic tree to $SCRATCH/tree (TREE=DIR copies an
# already written tree instead of building the bench to write one).
build_and_tree() {
    [ "$BUILD_HOSTWATT" = no ] || (cd "$ROOT_DIR" && cargo build --release --quiet)
    if [ -n "${TREE:-}" ]; then
        cp -a "$TREE" "$SCRATCH/tree"
        return
    fi
    (cd "$ROOT_DIR" && cargo bench --quiet --bench scrape -- --write-tree "$SCRATCH/tree" >/dev/null)
}

# Waits until URL answers 200 (at most 10 s).
wait_http() {
    for _ in $(seq 100); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# utime + stime of PID in milliseconds (all threads, including exited ones).
cpu_ms() {
    awk -v tck="$CLK_TCK" '{ print ($14 + $15) * 1000 / tck }' "/proc/$1/stat"
}

# Time on CPU of PID's live threads in milliseconds, from /proc/PID/task/*/schedstat (ns): finer
# than cpu_ms's clock ticks, but a thread that exited no longer counts.
runtime_ms() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.3f\n", ns / 1e6 }'
}

# VmRSS of PID in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# RssAnon and RssFile of PID in KiB ("ANON FILE"): heap and touched stacks apart from mapped files.
rss_parts_kib() {
    awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print a, f }' "/proc/$1/status"
}

# "tid voluntary nonvoluntary" for every live thread of PID.
ctxt_by_thread() {
    for s in /proc/"$1"/task/*/status; do
        awk -v tid="$(basename "$(dirname "$s")")" '
            /^voluntary_ctxt_switches/ { v = $2 }
            /^nonvoluntary_ctxt_switches/ { n = $2 }
            END { print tid, v, n }' "$s" 2>/dev/null
    done
}

# Scrapes URL N times over one kept-alive connection; prints one latency (seconds) per scrape.
scrape_n() {
    local url="$1" n="$2" cfg="$SCRATCH/curl.cfg"
    : >"$cfg"
    for _ in $(seq "$n"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"; done
    curl -s -K "$cfg" -w '%{time_total}\n'
}

# p50 and p99 (ms) of latencies in seconds on stdin.
percentiles() {
    sort -g | awk '{ v[NR] = $1 } END {
        i50 = int((NR - 1) * 0.50 + 0.5) + 1; i99 = int((NR - 1) * 0.99 + 0.5) + 1
        printf "%.3f %.3f\n", v[i50] * 1000, v[i99] * 1000 }'
}
