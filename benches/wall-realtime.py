#!/usr/bin/env python3
"""Real-time variant of the wall-power harness (tests/integration/wall_meter.rs): the real daemon,
a RAPL tree advanced by a CPU power profile, and a loopback Shelly Gen2 plug reporting the true
wall power (CPU + 11 W of board the config's 8 W baseline misses, through the measured 500 W
Gold SFX-L curve) with its Wh counter, an optional hidden DC step and a meter outage.

    cargo build --release
    benches/wall-realtime.py --minutes 12 --rapl 5 --meters 5 --wall 5 --step-at 6
    benches/wall-realtime.py --minutes 25 --step-at 12 --outage 20 22     # default intervals

Prints the calibrated estimate's error against the true wall power (averaged over the same RAPL
window), when it settled after the step, and best energy against the plug's counter. A bench
script: not part of the tests (it runs in real time).
"""
import argparse, bisect, shutil, http.server, json, os, re, socket, subprocess, sys, tempfile, threading, time
import urllib.request

SFX = [(10.0, 0.62), (20.0, 0.74), (40.0, 0.83), (60.0, 0.86), (100.0, 0.89)]
BOARD = 11.0


def loss(p):
    """The SFX-L's loss, linear between its points, the end slopes outside (a test stand-in)."""
    pts = [(w, w / e - w) for w, e in SFX]
    i = min(max(bisect.bisect(pts, (p,)) - 1, 0), len(pts) - 2)
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    return max(y0 + (y1 - y0) * (p - x0) / (x1 - x0), 0.5)


def cpu(t):
    """The harness's CPU profile, watts at second t."""
    t = int(t)
    if t < 120: return 3.0
    if t < 300: return 25.0
    if t < 305: return 60.0
    if t < 420: return 3.0
    if t < 600: return 60.0
    if t < 900: return 10.0 if (t // 90) % 2 == 0 else 40.0
    return 60.0 if t % 300 < 20 else 15.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hostwatt", default=os.path.join(os.path.dirname(__file__), "../target/release/hostwatt"))
    ap.add_argument("--minutes", type=float, default=12)
    ap.add_argument("--rapl", type=int, default=15)
    ap.add_argument("--meters", type=int, default=15)
    ap.add_argument("--wall", type=int, default=30)
    ap.add_argument("--step-at", type=float, default=None, help="minute of a hidden +6 W DC step")
    ap.add_argument("--outage", type=float, nargs=2, default=None, help="meter down from..to minute")
    ap.add_argument("--warmup", type=float, default=600, help="seconds before errors are counted")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="hostwatt-wall-")
    zone = os.path.join(tmp, "tree/sys/class/powercap/intel-rapl:0")
    os.makedirs(zone)
    for f, v in [("name", "package-0"), ("enabled", "1"), ("max_energy_range_uj", "262143328850"), ("energy_uj", "0")]:
        open(os.path.join(zone, f), "w").write(v + "\n")
    t0 = time.monotonic()
    state = {"uj": 0.0, "wall_j": 0.0, "t": 0.0}
    lock = threading.Lock()

    def wall(t):
        step = 6.0 if a.step_at is not None and t >= a.step_at * 60 else 0.0
        dc = cpu(t) + BOARD + step
        return dc + loss(dc)

    def down(t):
        return a.outage is not None and a.outage[0] * 60 <= t < a.outage[1] * 60

    def simulate():
        while True:
            time.sleep(0.05)
            now = time.monotonic() - t0
            with lock:
                while state["t"] + 0.05 <= now:
                    state["uj"] += cpu(state["t"]) * 0.05e6
                    state["wall_j"] += wall(state["t"]) * 0.05
                    state["t"] += 0.05
                uj = state["uj"]
            tmpf = os.path.join(zone, ".energy_uj")
            open(tmpf, "w").write("%d\n" % uj)
            os.replace(tmpf, os.path.join(zone, "energy_uj"))

    class Plug(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            t = time.monotonic() - t0
            if down(t):
                self.send_response(503); self.end_headers(); return
            with lock:
                wh = round(state["wall_j"] / 3600.0, 3)
            body = json.dumps({"id": 0, "output": True, "apower": round(wall(t), 1),
                               "aenergy": {"total": wh, "by_minute": [0, 0, 0], "minute_ts": 0}}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)

        def log_message(self, *args):
            pass

    threading.Thread(target=simulate, daemon=True).start()
    plug = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Plug)
    threading.Thread(target=plug.serve_forever, daemon=True).start()
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    off = "".join("[collectors.%s]\nenabled = false\n" % c for c in
                  ["system", "smart", "zfs", "hwmon", "cpuidle", "cpufreq", "edac", "thermal", "storage"])
    cfg = os.path.join(tmp, "hostwatt.toml")
    open(cfg, "w").write(off + f"""[collectors.rapl]
interval = "{a.rapl}s"
[collectors.meters]
interval = "{a.meters}s"
[collectors.wall]
interval = "{a.wall}s"
baseline_watts = 8.0
[collectors.wall.psu]
rated_watts = 500
profile = "gold"
[[meters]]
name = "plug"
kind = "shelly"
url = "http://127.0.0.1:{plug.server_address[1]}"
generation = "gen2"
""")
    daemon = subprocess.Popen([a.hostwatt, "run", "--config", cfg, "--root", os.path.join(tmp, "tree"),
                               "--state-dir", os.path.join(tmp, "state"), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, first = [], None
    try:
        while time.monotonic() - t0 < a.minutes * 60:
            time.sleep(a.wall)
            t = time.monotonic() - t0
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            m = dict((k, float(v)) for k, v in re.findall(r"^(\S+) (\S+)$", text, re.M))
            truth = sum(wall(t - a.rapl + i * 0.1) for i in range(a.rapl * 10)) / (a.rapl * 10)
            cal = m.get('hostwatt_wall_power_watts{source="calibrated",basis="calibrated"}')
            # the counter as the wall collector last saw it (its plug series is the counter's
            # deltas), so both energies end at the same reading
            counter = m.get('hostwatt_wall_energy_joules_total{source="plug"}')
            best_j = m.get('hostwatt_wall_energy_joules_total{source="best"}')
            if first is None and counter is not None and best_j is not None:
                first = (counter, best_j)
            rows.append((t, truth, cal, counter, best_j, m.get("hostwatt_wall_calibration_gain")))
    finally:
        daemon.terminate(); daemon.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    def err(r): return None if r[2] is None else abs(r[2] - r[1]) / r[1]
    ok = lambda r: r[2] is not None and abs(r[2] - r[1]) <= max(0.02 * r[1], 1.0)
    print(f"intervals rapl {a.rapl}s meters {a.meters}s wall {a.wall}s, {a.minutes} min, {len(rows)} wall rounds")
    warm = next((r[0] for i, r in enumerate(rows) if all(ok(x) for x in rows[i:] if a.step_at is None or x[0] < a.step_at * 60)), None)
    print("calibrated inside +-2 %/1 W for good (before any step) from:", "%.0f s" % warm if warm else "never")
    for lo, hi, name in [(0, 20, "< 20 W DC"), (20, 50, "20-50 W"), (50, 1e9, "> 50 W")]:
        e = [err(r) for r in rows if r[0] > a.warmup and (a.step_at is None or not a.step_at * 60 <= r[0] < a.step_at * 60 + 300) and lo <= cpu(r[0] - 1) + BOARD < hi and err(r) is not None]
        print(f"  after {a.warmup:.0f} s (not 5 min after a step), {name}: mean abs error {100 * sum(e) / len(e):.2f} % over {len(e)} rounds" if e else f"  {name}: no rounds")
    if a.step_at is not None:
        after = [r for r in rows if r[0] >= a.step_at * 60]
        miss = [r[0] for r in after if not ok(r)]
        print("hidden 6 W step followed after: %.0f s" % ((miss[-1] + a.wall - a.step_at * 60) if miss else 0))
    gains = [r[5] for r in rows if r[5] is not None]
    if gains: print(f"gain range {min(gains):.3f}..{max(gains):.3f}")
    if first and rows[-1][3] is not None:
        counted, best = rows[-1][3] - first[0], rows[-1][4] - first[1]
        print(f"best energy {best:.0f} J vs plug counter {counted:.0f} J: {100 * (best - counted) / counted:+.2f} %")


if __name__ == "__main__":
    sys.exit(main())
