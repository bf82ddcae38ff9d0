#!/usr/bin/env bash
# Idle wake-ups per second of the real hostwatt daemon: no scrapes, only its own timers.
#
#   benches/idle-wakeups.sh tree [SECONDS]   # synthetic 64-CPU tree, benches/hostwatt-bench.toml
#   benches/idle-wakeups.sh live [SECONDS]   # this host, embedded default config
#
# Context switches (voluntary + nonvoluntary) of every thread of the daemon are read from
# /proc/PID/task/*/status once a second (reading /proc does not wake the target). A thread's
# switches count from its first to its last sighting, so threads that exit (tokio's blocking
# pool lets idle threads go after 10 s) still count. Threads that lived less than a second
# between two looks are missed; the number of threads started is printed to show if that
# matters. A bench script: not part of the tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: idle-wakeups.sh tree|live [SECONDS]}"
seconds="${2:-60}"
(cd "$ROOT_DIR" && cargo build --release --quiet)
port="$(free_port)"
case "$mode" in
tree)
    (cd "$ROOT_DIR" && cargo bench --quiet --bench scrape -- --write-tree "$SCRATCH/tree" >/dev/null)
    args=(--config "$ROOT_DIR/benches/hostwatt-bench.toml" --root "$SCRATCH/tree") ;;
live) args=() ;;
*) echo "mode is tree or live" >&2; exit 2 ;;
esac
# a config file at the default path would override the embedded config
[ "$mode" = live ] && [ -e /etc/hostwatt/hostwatt.toml ] && { echo "/etc/hostwatt/hostwatt.toml exists" >&2; exit 2; }

"$HOSTWATT" run "${args[@]}" --state-dir "$SCRATCH/state" --listen "127.0.0.1:$port" \
    --log-level warn 2>"$SCRATCH/hostwatt.log" &
pid=$!
PIDS+=("$pid")
wait_http "http://127.0.0.1:$port/healthz"
sleep 5 # the first round of every collector runs at start

# voluntary switches are the daemon's own sleeps and wake-ups; nonvoluntary ones are preemptions,
# which count too but grow with the machine's load rather than with what the daemon does
declare -A first last first_v last_v
look() {
    while read -r tid v n; do
        [ -n "${first[$tid]:-}" ] || { first[$tid]=$((v + n)); first_v[$tid]=$v; }
        last[$tid]=$((v + n))
        last_v[$tid]=$v
    done < <(ctxt_by_thread "$pid")
}
look
threads_at_start=${#first[@]}
cpu0="$(cpu_ms "$pid")"
for _ in $(seq "$seconds"); do
    sleep 1
    look
done
cpu1="$(cpu_ms "$pid")"
total=0 voluntary=0
for tid in "${!first[@]}"; do
    total=$((total + last[$tid] - first[$tid]))
    voluntary=$((voluntary + last_v[$tid] - first_v[$tid]))
done
echo "mode=$mode seconds=$seconds threads_at_start=$threads_at_start threads_seen=${#first[@]} \
threads_now=$(ls /proc/"$pid"/task | wc -l) context_switches=$total voluntary=$voluntary \
wakeups_per_s=$(awk -v t="$total" -v s="$seconds" 'BEGIN { printf "%.3f", t / s }') \
cpu_ms=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }') rss_kib=$(rss_kib "$pid")"
for tid in $(printf '%s\n' "${!first[@]}" | sort -n); do
    name="$(cat /proc/"$pid"/task/"$tid"/comm 2>/dev/null || echo exited)"
    echo "  thread $tid ($name): $((last[$tid] - first[$tid])) ($((last_v[$tid] - first_v[$tid])) voluntary)"
done
