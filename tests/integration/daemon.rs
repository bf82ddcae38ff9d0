//! The real daemon: `hostwatt run` on a fixture tree, scraped over HTTP, reloaded with SIGHUP
//! (an invalid new config keeps the old one running) and stopped with SIGTERM (exit 0).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{self, Case};

/// Kills the daemon if the test fails midway, so no stray process outlives the test.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Daemon {
    fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.0.id()).expect("pid fits i32");
        kill(Pid::from_raw(pid), sig).expect("signal the daemon");
    }

    fn assert_running(&mut self) {
        let status = self.0.try_wait().expect("try_wait");
        assert!(status.is_none(), "daemon exited early: {status:?}");
    }
}

/// Waits (bounded) for a stderr line containing `needle`, returning it.
fn wait_for_log(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(e) => panic!(
                "no log line with {needle:?} ({e}); stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn runs_reloads_and_stops_cleanly() {
    let case = Case::load("node-exporter");
    let root = case.build_root();
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("hostwatt.toml");
    std::fs::copy(case.dir.join("config.toml"), &conf).expect("copy config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");

    let child = support::hostwatt()
        .arg("run")
        .arg("--root")
        .arg(root.path())
        .args(["--listen", &addr])
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hostwatt run");
    let mut daemon = Daemon(child);
    let stderr = daemon.0.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();

    support::poll_until("/healthz", 600, || {
        daemon.assert_running();
        support::http_get(&addr, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    let package = "{zone=\"package-0\",id=\"intel-rapl:0\"}";
    // the first round runs at once, but may not have finished when /healthz answers
    let metrics = support::poll_until("the first RAPL round", 600, || {
        let r = support::http_get(&addr, "/metrics").ok()?;
        r.body
            .contains(&format!("hostwatt_rapl_zone_readable{package} 1"))
            .then_some(r)
    });
    assert_eq!(metrics.status, 200);
    support::lint(&metrics.body, Some(root.path()));
    let core = "{zone=\"core\",id=\"intel-rapl:0:0\"}";
    for series in [
        format!("hostwatt_rapl_energy_joules_total{package}"),
        format!("hostwatt_rapl_energy_joules_total{core}"),
    ] {
        assert_eq!(
            support::value(&metrics.body, &series),
            Some(0.0),
            "first round: the counter starts at 0 J\n{}",
            metrics.body
        );
    }
    assert_eq!(
        support::value(&metrics.body, &format!("hostwatt_rapl_zone_readable{core}")),
        Some(1.0)
    );
    assert_eq!(
        support::value(
            &metrics.body,
            "hostwatt_collector_success{collector=\"rapl\"}"
        ),
        Some(1.0)
    );
    assert!(
        !metrics.body.contains("collector=\"system\""),
        "the case config disables system"
    );

    // SIGHUP with a broken config: logged, and the old config keeps serving
    std::fs::write(&conf, "[collectors.rapl]\nenabeld = true\n").expect("swap in a bad config");
    daemon.signal(Signal::SIGHUP);
    let failed = wait_for_log(&lines, "config reload failed", &mut seen);
    assert!(
        failed.contains(&format!("{}:2: collectors.rapl.enabeld", conf.display())),
        "reload error names file, line and key: {failed}"
    );
    daemon.assert_running();
    let after = support::http_get(&addr, "/metrics").expect("scrape after SIGHUP");
    assert_eq!(after.status, 200);
    assert!(
        after
            .body
            .contains(&format!("hostwatt_rapl_zone_readable{package} 1")),
        "old config still serving:\n{}",
        after.body
    );

    daemon.signal(Signal::SIGTERM);
    let status = support::poll_until("exit after SIGTERM", 600, || {
        daemon.0.try_wait().expect("try_wait")
    });
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    wait_for_log(&lines, "shutting down", &mut seen);
}
