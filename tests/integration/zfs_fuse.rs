//! A real ZFS pool, read through the ZFS collector with the real `Runner::system()`: a raidz on
//! sparse files, filled past 80 %, one device offlined, scrubbed. Under Debian's zfs-fuse (CI)
//! zpool is old (no `zpool version`, no `-p`), so this runs the legacy human-units path; a
//! zfs-fuse daemon already running is used as it is, not stopped. On a host with OpenZFS
//! (zfsutils-linux, which conflicts with zfs-fuse, and the kernel module: /dev/zfs) the same
//! test runs on the host's OpenZFS. Skips with a SKIPPED reason when neither is usable, unless
//! `HOSTWATT_REQUIRE_TOOLS=1`. The pool is destroyed, and a daemon we started stopped, even on
//! failure.
#![allow(clippy::disallowed_methods)] // the test drives zfs-fuse itself, outside the collector
#![allow(clippy::unwrap_used)] // helpers of a test module

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hostwatt::collectors::zfs::{Config, Format, ScanFunction, ScanState, Snapshot, Zfs};
use hostwatt::collectors::{Collector, Context};
use hostwatt::host::command::{Runner, process_alive};
use hostwatt::host::root::Root;

const ZFS_FUSE: &str = "/usr/sbin/zfs-fuse";
const ZPOOL: &str = "/usr/sbin/zpool";

fn skip(reason: &str, fix: &str) {
    crate::support::skipped("the real-pool ZFS test", reason, fix);
}

fn zpool(args: &[&str]) -> std::process::Output {
    Command::new(ZPOOL).args(args).output().expect("zpool runs")
}

/// The ZFS the pool lives on, and the pool: destroyed (and a zfs-fuse daemon we started,
/// stopped) on drop, whatever happened. `pid` 0: nothing of ours to stop (OpenZFS in the kernel,
/// or a zfs-fuse daemon that was already running).
struct ZfsFuse {
    pid: u32,
    active: bool,
    pool: String,
    dir: PathBuf,
}

impl ZfsFuse {
    /// The pool on a ZFS that is already there: the host's OpenZFS, or a running zfs-fuse.
    fn existing(dir: &Path, pool: &str) -> Self {
        Self {
            pid: 0,
            active: true,
            pool: pool.to_owned(),
            dir: dir.to_owned(),
        }
    }

    fn start(dir: &Path, pool: &str) -> Self {
        let pidfile = dir.join("zfs-fuse.pid");
        // without --no-daemon it forks, writes the pidfile and the parent exits
        let out = Command::new(ZFS_FUSE)
            .args(["--pidfile", pidfile.to_str().unwrap(), "--no-kstat-mount"])
            .output()
            .expect("zfs-fuse runs");
        assert!(out.status.success(), "zfs-fuse failed: {out:?}");
        let mut pid = None;
        for _ in 0..100 {
            pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if pid.is_some() && zpool(&["list"]).status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            pid: pid.expect("zfs-fuse wrote its pidfile"),
            active: true,
            pool: pool.to_owned(),
            dir: dir.to_owned(),
        }
    }

    fn stop(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        // a failed destroy would leave the pool in zfs-fuse's cache, re-imported (FAULTED) by the
        // next daemon: retry, and say so
        for attempt in 0..5 {
            let out = zpool(&["destroy", "-f", &self.pool]);
            if out.status.success() {
                break;
            }
            eprintln!(
                "zpool destroy {} (attempt {attempt}): {}",
                self.pool,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_dir(self.dir.join("mnt"));
        if self.pid == 0 {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for i in 0..200 {
            if !process_alive(self.pid) {
                break;
            }
            if i == 150 {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let gone = !process_alive(self.pid);
        self.pid = 0;
        assert!(gone, "zfs-fuse did not exit");
    }
}

impl Drop for ZfsFuse {
    fn drop(&mut self) {
        if self.active && !std::thread::panicking() {
            self.stop();
        } else if self.active {
            // already failing: clean up without a second panic
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop()));
        }
    }
}

async fn sample(zfs: &mut Zfs, cx: &Context) -> Snapshot {
    let s = zfs.sample(cx, Instant::now()).await.expect("zfs round");
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    s.snapshot
}

fn pool<'a>(s: &'a Snapshot, name: &str) -> &'a hostwatt::collectors::zfs::PoolData {
    s.pools
        .iter()
        .find(|p| p.list.as_ref().is_some_and(|l| l.name == name))
        .unwrap_or_else(|| panic!("no pool {name} in {s:#?}"))
}

fn vdev_state(s: &Snapshot, pool_name: &str, vdev: &str) -> String {
    let st = pool(s, pool_name).status.as_ref().expect("status");
    st.vdevs
        .iter()
        .find(|v| v.name == vdev)
        .unwrap_or_else(|| panic!("no vdev {vdev}: {st:#?}"))
        .state
        .clone()
}

#[tokio::test]
async fn real_pool_under_zfs_fuse() {
    let fuse = Path::new(ZFS_FUSE).exists();
    let openzfs = !fuse && Path::new("/dev/zfs").exists() && Path::new(ZPOOL).exists();
    if !fuse && !openzfs {
        if Path::new(ZPOOL).exists() {
            skip(
                "OpenZFS's zpool is installed but /dev/zfs is missing (zfs kernel module not loaded)",
                "modprobe zfs",
            );
        } else {
            skip(
                "neither zfs-fuse nor OpenZFS is installed",
                "scripts/install-test-deps installs zfs-fuse (contrib) when OpenZFS is absent",
            );
        }
        return;
    }
    if fuse && !Path::new("/dev/fuse").exists() {
        skip(
            "/dev/fuse is missing",
            "modprobe fuse (in a container: --device /dev/fuse)",
        );
        return;
    }
    if !crate::support::is_root() {
        skip(
            "creating a pool needs root",
            "run scripts/test as root (or with sudo)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let name = format!("hwtest{}", std::process::id());
    // a zfs-fuse daemon already running (the zfs-fuse service) serves our pool as well as its own
    let mut daemon = if openzfs || zpool(&["list"]).status.success() {
        ZfsFuse::existing(dir, &name)
    } else {
        ZfsFuse::start(dir, &name)
    };

    let files: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    for f in &files {
        std::fs::File::create(f)
            .unwrap()
            .set_len(128 << 20)
            .unwrap();
    }
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut args = vec!["create", "-m", mnt.to_str().unwrap(), &name, "raidz"];
    args.extend(files.iter().map(String::as_str));
    let out = zpool(&args);
    assert!(out.status.success(), "zpool create: {out:?}");

    let cx = Context {
        root: Root::new(dir),
        runner: Runner::system(),
    };
    let mut zfs = Zfs::new(Config {
        zpool: ZPOOL.into(),
        ..Config::default()
    });

    // fresh: size of a raidz1 of three 128 MiB files, ONLINE; zfs-fuse: legacy format detected
    let s = sample(&mut zfs, &cx).await;
    let list = pool(&s, &name).list.clone().unwrap();
    if fuse {
        assert_eq!(s.zpool.as_ref().map(|z| z.1), Some(Format::Legacy));
        assert_eq!(
            (list.size, list.health.as_str()),
            (Some(370 << 20), "ONLINE")
        );
    } else {
        // OpenZFS: exact bytes (-p/JSON), raw size of the three files less labels and reserve
        assert_ne!(s.zpool.as_ref().map(|z| z.1), Some(Format::Legacy));
        let size = list.size.unwrap();
        assert!((350 << 20..=384 << 20).contains(&size), "{list:?}");
        assert_eq!(list.health, "ONLINE");
    }
    assert!(list.capacity.unwrap() < 0.05, "{list:?}");
    assert_eq!(vdev_state(&s, &name, &files[1]), "ONLINE");
    let leaves: Vec<_> = pool(&s, &name)
        .status
        .as_ref()
        .unwrap()
        .vdevs
        .iter()
        .filter(|v| v.leaf)
        .map(|v| v.kind.as_str())
        .collect();
    assert_eq!(leaves, ["file", "file", "file"]);

    // fill through the FUSE mount until ENOSPC; incompressible bytes
    let mut f = std::fs::File::create(mnt.join("fill")).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..400 {
        for b in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    drop(f);
    let s = sample(&mut zfs, &cx).await;
    let list = pool(&s, &name).list.clone().unwrap();
    assert!(list.capacity.unwrap() > 0.8, "not over 80 % full: {list:?}");
    assert!(list.allocated.unwrap() > 290 << 20, "{list:?}");

    capacity_alert_through_the_real_daemon(dir, &name);

    // offline one member: pool and raidz DEGRADED, the member OFFLINE
    let out = zpool(&["offline", &name, &files[1]]);
    assert!(out.status.success(), "zpool offline: {out:?}");
    let s = sample(&mut zfs, &cx).await;
    assert_eq!(pool(&s, &name).list.as_ref().unwrap().health, "DEGRADED");
    assert_eq!(vdev_state(&s, &name, &files[1]), "OFFLINE");
    assert_eq!(vdev_state(&s, &name, "raidz1-0"), "DEGRADED");
    assert_eq!(vdev_state(&s, &name, &files[0]), "ONLINE");

    // scrub: wait until the collector sees it finished
    let out = zpool(&["scrub", &name]);
    assert!(out.status.success(), "zpool scrub: {out:?}");
    let mut finished = None;
    for _ in 0..300 {
        let s = sample(&mut zfs, &cx).await;
        let scans = pool(&s, &name).status.as_ref().unwrap().scans.clone();
        if let Some(scan) = scans.into_iter().find(|sc| sc.state == ScanState::Finished) {
            finished = Some(scan);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scan = finished.expect("scrub never finished");
    assert_eq!((scan.function, scan.errors), (ScanFunction::Scrub, Some(0)));
    let end = scan.end.expect("end time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // zpool prints local time; hostwatt runs it with TZ=UTC0, so on any host zone the end is
    // the real moment the scrub finished, seconds before now
    assert!(
        (0..600).contains(&(now - end)),
        "end {end} vs now {now} (local time read as UTC)"
    );

    daemon.stop();
}

/// A loopback HTTP server that answers 200 and keeps every request (head and body), standing in
/// for an ntfy server.
fn recorder() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // read the head, then as much body as Content-Length says
            while let Ok(n) = conn.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            keep.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_string());
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (addr, seen)
}

/// The real `hostwatt run` on the full pool: the pool-capacity alert fires (its `for` set to 0s
/// so the test need not wait 15 minutes), shows on /metrics and /api/alerts, and reaches an
/// ntfy receiver: what a user with no Prometheus gets on their phone.
fn capacity_alert_through_the_real_daemon(dir: &Path, pool: &str) {
    let (ntfy, requests) = recorder();
    let conf = dir.join("hostwatt.toml");
    let mut text = String::new();
    for off in [
        "rapl", "hwmon", "cpuidle", "cpufreq", "edac", "thermal", "system", "smart", "meters",
        "storage", "wall",
    ] {
        text.push_str(&format!("[collectors.{off}]\nenabled = false\n\n"));
    }
    text.push_str(&format!(
        "[collectors.zfs]\ninterval = \"1s\"\nzpool = \"{ZPOOL}\"\n\n[alerts]\nevaluation_interval = \"1s\"\n\n[alerts.rules.ZfsPoolCapacityHigh]\nfor = \"0s\"\n\n[notify.phone]\nkind = \"ntfy\"\nserver = \"http://{ntfy}\"\ntopic = \"nas-alerts\"\n"
    ));
    std::fs::write(&conf, text).unwrap();
    let state = dir.join("state");
    let (mut hostwatt, addr, lines) = crate::support::Daemon::start(dir, &conf, &state);
    let firing = format!(
        "hostwatt_alerts_firing{{alertname=\"ZfsPoolCapacityHigh\",severity=\"warning\",pool=\"{pool}\"}}"
    );
    let metrics = crate::support::poll_until("ZfsPoolCapacityHigh firing", 600, || {
        let body = crate::support::http_get(&addr, "/metrics").ok()?.body;
        (crate::support::value(&body, &firing) == Some(1.0)).then_some(body)
    });
    assert!(metrics.contains(&format!(
        "hostwatt_zfs_pool_capacity_ratio{{pool=\"{pool}\"}}"
    )));
    let alerts = crate::support::http_get(&addr, "/api/alerts").unwrap();
    assert_eq!(alerts.status, 200);
    assert!(
        alerts.body.contains("ZfsPoolCapacityHigh") && alerts.body.contains(pool),
        "{}",
        alerts.body
    );
    let message = crate::support::poll_until("the ntfy message", 600, || {
        requests
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.contains("ZfsPoolCapacityHigh") || r.contains(pool))
            .cloned()
    });
    assert!(message.starts_with("POST /nas-alerts "), "{message}");
    assert!(
        message.contains(pool) && message.contains("full"),
        "the message names the pool: {message}"
    );
    let status = hostwatt.stop();
    let log: Vec<String> = lines.iter().collect();
    assert_eq!(status.code(), Some(0), "hostwatt log:\n{}", log.join("\n"));
}
