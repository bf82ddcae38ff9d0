#!/usr/bin/env python3
"""Attack soak on loopback: scrape latency, RSS, fds and stuck children while hostwatt (or
node_exporter) is under one fault at a time. Bounded in time; leaves nothing running.

    benches/http-soak.py [--binary target/debug/hostwatt] [--seconds 15] [SCENARIO...]
    benches/http-soak.py --node-exporter /usr/bin/prometheus-node-exporter slowloris halfsent

Scenarios: baseline, slowloris (2,000 trickling half-sent headers at a 1,024-file limit),
halfsent (1,000 half-sent 400 KB headers), flood (smartctl and zpool are `exec yes`),
wrapper (smartctl and zpool are shims that ignore SIGTERM and run a grandchild),
stderr (the daemon's stderr closed, then SIGHUP and SIGTERM). Prints one Markdown table row
per scenario (docs/RELIABILITY.md has the figures and the command).
"""
import argparse, os, resource, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.request

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def status(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0

def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0

def scrape(addr, timeout=10.0):
    t = time.monotonic()
    try:
        req = urllib.request.Request(f"http://{addr}/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            ok = r.status == 200
    except Exception:
        ok = False
    return (time.monotonic() - t) * 1000, ok

def wait_up(addr):
    for _ in range(200):
        if scrape(addr, 1)[1]:
            return True
        time.sleep(0.05)
    return False

def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else float("nan")

class Daemon:
    def __init__(self, args, scratch, config="", nofile=None, stderr=subprocess.DEVNULL):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        if args.node_exporter:
            cmd = [args.node_exporter, f"--web.listen-address={self.addr}"]
        else:
            conf = os.path.join(scratch, "hostwatt.toml")
            open(conf, "w").write(config)
            cmd = [args.binary, "run", "--config", conf, "--listen", self.addr,
                   "--state-dir", os.path.join(scratch, "state")]
        if nofile:
            cmd = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        self.up = wait_up(self.addr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

def measure(d, seconds, attack=None):
    """Scrapes every 100 ms for `seconds` while `attack(stop)` runs in a thread."""
    stop = threading.Event()
    t = threading.Thread(target=attack, args=(stop,), daemon=True) if attack else None
    if t:
        t.start()
        time.sleep(min(3.0, seconds / 3))  # let the attack build up
    lat, failed, peak_fds = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ms, ok = scrape(d.addr)
        lat.append(ms)
        failed += not ok
        peak_fds = max(peak_fds, fds(d.proc.pid))
        time.sleep(0.1)
    rss = status(d.proc.pid, "VmHWM")
    stop.set()
    if t:
        t.join(30)
    median = sorted(lat)[len(lat) // 2] if lat else float("nan")
    return {"p99_ms": p99(lat), "p50_ms": median,
            "scrapes": len(lat), "failed": failed, "peak_rss_mib": rss / 1024, "peak_fds": peak_fds}

def slowloris(addr, n, header_bytes=0):
    host, port = addr.rsplit(":", 1)
    target = (host, int(port))

    def attack(stop):
        socks = []
        for _ in range(n):
            if stop.is_set():
                break
            try:
                s = socket.create_connection(target, timeout=2)
                s.setblocking(False)
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(s)
            except OSError:
                pass
        pad = b"a" * 4096
        while not stop.is_set():
            alive = []
            for s in socks:
                try:
                    if header_bytes:
                        s.send(pad)
                    else:
                        s.send(b"a")
                    alive.append(s)
                except (BlockingIOError, InterruptedError):
                    alive.append(s)
                except OSError:
                    s.close()
                    # reopen: an attacker keeps the pressure up
                    try:
                        s = socket.create_connection(target, timeout=2)
                        s.setblocking(False)
                        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                        alive.append(s)
                    except OSError:
                        pass
            socks = alive
            stop.wait(1.0 if not header_bytes else 0.05)
        for s in socks:
            s.close()
    return attack

def script(scratch, name, body):
    p = os.path.join(scratch, name)
    open(p, "w").write("#!/bin/sh\n" + body + "\n")
    os.chmod(p, 0o755)
    return p

def count_marker(marker):
    n = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace"):
                    n.append(int(pid))
            except OSError:
                pass
    return n

CHILD_CONFIG = """
[collectors.smart]
smartctl = "{smartctl}"
timeout = "2s"
[collectors.zfs]
zpool = "{zpool}"
timeout = "2s"
interval = "5s"
"""

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/debug/hostwatt")
    ap.add_argument("--node-exporter")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("scenarios", nargs="*", default=["baseline", "slowloris", "halfsent", "flood", "wrapper", "stderr"])
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    who = "node_exporter" if args.node_exporter else "hostwatt"
    print("| server | scenario | scrapes | failed | p50 ms | p99 ms | peak RSS MiB | peak fds | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sc in args.scenarios:
        with tempfile.TemporaryDirectory() as scratch:
            notes = ""
            if sc == "stderr":
                if args.node_exporter:
                    continue
                d = Daemon(args, scratch, stderr=subprocess.PIPE)
                d.proc.stderr.close()
                m = measure(d, 2)
                d.proc.send_signal(signal.SIGHUP)
                m2 = measure(d, 2)
                code = d.stop()
                m["failed"] += m2["failed"]
                notes = f"exit {code} after SIGHUP + SIGTERM with stderr closed"
            else:
                nofile = 1024 if sc in ("slowloris", "halfsent") else None
                config = ""
                marker = f"sleep 7{os.getpid() % 1000:03d}"
                if sc in ("flood", "wrapper") and not args.node_exporter:
                    if sc == "flood":
                        tool = script(scratch, "flood", "exec yes")
                    else:
                        tool = script(scratch, "shim", f"trap '' TERM; {marker} & wait")
                    config = CHILD_CONFIG.format(smartctl=tool, zpool=tool)
                elif sc in ("flood", "wrapper"):
                    continue
                d = Daemon(args, scratch, config=config, nofile=nofile)
                if not d.up:
                    print(f"| {who} | {sc} | daemon did not come up | | | | | | |")
                    d.stop()
                    continue
                attack = None
                if sc == "slowloris":
                    attack = slowloris(d.addr, 2000)
                elif sc == "halfsent":
                    attack = slowloris(d.addr, 1000, header_bytes=400 << 10)
                m = measure(d, args.seconds, attack)
                if sc in ("flood", "wrapper"):
                    with urllib.request.urlopen(f"http://{d.addr}/metrics", timeout=10) as r:
                        runs = [l for l in r.read().decode().splitlines()
                                if l.startswith("hostwatt_command_runs_total")]
                    notes = "; ".join(l.split("{", 1)[1].replace('"', "") for l in runs) + "; "
                d.stop()
                if sc == "wrapper":
                    time.sleep(1)
                    left = count_marker(marker)
                    notes += f"{len(left)} stuck grandchildren after stop"
                    for pid in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                if nofile:
                    notes = f"soft=hard {nofile} files"
            print(f"| {who} | {sc} | {m['scrapes']} | {m['failed']} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | "
                  f"{m['peak_rss_mib']:.1f} | {m['peak_fds']} | {notes} |", flush=True)

if __name__ == "__main__":
    main()
