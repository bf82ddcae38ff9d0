//! Logging and output can never crash the binary: a closed stderr (a closed terminal, a
//! restarted log shipper) or stdout (`hostwatt once | head -2`) ends nothing but the lines, and
//! `--log-level` takes the usual names and refuses unknown ones.

use std::process::Stdio;

use nix::sys::signal::Signal;

use crate::support::{self, Case, Daemon};

fn once(case: &Case, root: &std::path::Path, state: &std::path::Path) -> std::process::Command {
    let mut cmd = support::hostwatt();
    cmd.arg("once")
        .arg("--root")
        .arg(root)
        .arg("--config")
        // the case's config beside the fixture tree, not in the state dir
        .arg(case.config_file(root))
        .arg("--state-dir")
        .arg(state);
    cmd
}

#[test]
fn once_into_a_closed_stdout_or_stderr_exits_quietly() {
    let case = Case::load("node-exporter");
    let root = case.build_root();
    let state = tempfile::tempdir().expect("tempdir");

    // stdout closed before `once` prints (it samples for a second first): `| head -0`
    let mut child = once(&case, root.path(), state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hostwatt once");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let (_, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // stderr closed while debug lines are written
    let mut child = once(&case, root.path(), state.path())
        .args(["--log-level", "debug"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hostwatt once");
    drop(child.stderr.take());
    let out = child.wait_with_output().expect("wait");
    let (stdout, _) = support::texts(&out);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        support::value(&stdout, "hostwatt_collector_success{collector=\"edac\"}"),
        Some(1.0),
        "{stdout}"
    );
}

#[test]
fn a_daemon_whose_stderr_closed_still_reloads_and_saves_its_state_on_sigterm() {
    let root = Case::load("rapl-wrap").build_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, support::config_enabling_only(&["rapl", "wall"])).expect("config");
    let state = dir.path().join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = support::hostwatt()
        .arg("run")
        .arg("--root")
        .arg(root.path())
        .args(["--listen", &addr, "--log-level", "debug"])
        .arg("--config")
        .arg(&conf)
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hostwatt run");
    let mut daemon = Daemon(child);
    drop(daemon.0.stderr.take());
    let healthy = |daemon: &mut Daemon| {
        support::poll_until("/healthz", 600, || {
            daemon.assert_running();
            support::http_get(&addr, "/healthz")
                .ok()
                .filter(|r| r.status == 200)
        })
    };
    healthy(&mut daemon);
    // a reload logs at info level: the first write into the closed pipe
    daemon.signal(Signal::SIGHUP);
    healthy(&mut daemon);
    // the wall collector has had a round, so there is state for the stop to save
    support::poll_until("a wall round", 600, || {
        support::http_get(&addr, "/metrics")
            .ok()
            .filter(|r| r.body.contains("hostwatt_wall_dc_watts"))
    });
    assert_eq!(daemon.stop().code(), Some(0));
    assert!(
        state.join("energy.json").is_file(),
        "the shutdown state save ran"
    );
}

#[test]
fn log_level_takes_usual_names_and_refuses_unknown_ones() {
    let out = support::hostwatt()
        .args(["--log-level", "warning", "check-config"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{:?}", support::texts(&out));
    let out = support::hostwatt()
        .args(["--log-level", "loud", "check-config"])
        .output()
        .expect("run");
    let (stdout, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with("hostwatt: --log-level: unknown level \"loud\""),
        "{stderr}"
    );
}
