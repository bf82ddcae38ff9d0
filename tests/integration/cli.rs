//! The real binary's commands: `once` on this machine, `check-config` on the example and on the
//! config corpus in `tests/configs/{valid,invalid}/`.

use std::path::Path;

use crate::support;

#[test]
fn once_keeps_no_state_even_when_an_alert_fires() {
    // node-exporter's tree has an uncorrected EDAC error: EdacUncorrectedErrors fires at once
    let case = support::Case::load("node-exporter");
    let root = case.build_root();
    let state = tempfile::tempdir().expect("tempdir");
    let out = support::hostwatt()
        .arg("once")
        .arg("--root")
        .arg(root.path())
        .arg("--config")
        .arg(case.config_file(root.path()))
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .expect("run hostwatt once");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert!(
        stdout.contains("hostwatt_alerts_firing{alertname=\"EdacUncorrectedErrors\""),
        "{stdout}"
    );
    let written: Vec<_> = std::fs::read_dir(state.path())
        .expect("state dir")
        .collect();
    assert!(written.is_empty(), "`once` wrote state: {written:?}");
}

#[test]
fn once_on_this_machine_is_clean_exposition() {
    let out = support::hostwatt()
        .arg("once")
        .output()
        .expect("run hostwatt once");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    support::lint(&stdout, None);
    // RAPL is there exactly when the host has powercap (not on this VM, nor on most CI runners)
    let has_powercap = Path::new("/sys/class/powercap").is_dir();
    assert_eq!(
        support::value(&stdout, "hostwatt_collector_available{collector=\"rapl\"}"),
        Some(if has_powercap { 1.0 } else { 0.0 }),
        "{stdout}"
    );
    assert_eq!(
        support::value(&stdout, "hostwatt_collector_success{collector=\"rapl\"}"),
        Some(1.0),
        "an absent source is not a failure"
    );
    if let Some(promtool) = support::require_tool("promtool", "checking `hostwatt once`") {
        let (ok, printed) = support::promtool_check(&promtool, &stdout);
        assert!(ok && printed.is_empty(), "promtool: {printed}\n{stdout}");
    }
}

fn check_config(path: &str) -> (Option<i32>, String, String) {
    let out = support::hostwatt()
        .args(["check-config", "--config", path])
        .output()
        .expect("run hostwatt check-config");
    let (stdout, stderr) = support::texts(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn the_example_config_checks() {
    let path = "config/hostwatt.example.toml";
    let (code, stdout, stderr) = check_config(path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("# config OK: {path}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("listen = \"0.0.0.0:9891\""), "{stdout}");
}

#[test]
fn a_missing_explicit_config_is_an_error() {
    let path = "tests/configs/does-not-exist.toml";
    let (code, _, stderr) = check_config(path);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(&format!("{path}: No such file")),
        "{stderr}"
    );
}

/// `tests/configs/<kind>/*.toml`, as paths relative to the crate, sorted.
fn corpus(kind: &str) -> Vec<String> {
    let dir = support::manifest_dir().join("tests/configs").join(kind);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("tests/configs/{kind}/{n}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no configs in {}", dir.display());
    files
}

#[test]
fn every_valid_config_checks() {
    for path in corpus("valid") {
        let (code, stdout, stderr) = check_config(&path);
        assert_eq!(code, Some(0), "{path}: {stderr}");
        assert!(
            stdout.starts_with(&format!("# config OK: {path}\n")),
            "{path}: {stdout}"
        );
    }
}

#[test]
fn every_invalid_config_fails_naming_file_line_and_key() {
    for path in corpus("invalid") {
        let text = std::fs::read_to_string(support::manifest_dir().join(&path)).expect("read");
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{path}: first line must be `# error: :LINE: KEY: message`"));
        let line_and_key = want
            .strip_prefix(':')
            .and_then(|w| w.split_once(": "))
            .is_some_and(|(line, key)| line.parse::<usize>().is_ok() && !key.is_empty());
        assert!(
            line_and_key,
            "{path}: expected `# error: :LINE: KEY: ...`, got {want:?}"
        );
        let (code, stdout, stderr) = check_config(&path);
        assert_eq!(code, Some(2), "{path} was accepted:\n{stdout}");
        assert!(
            stderr.contains(&format!("{path}{want}")),
            "{path}: stderr lacks {:?}:\n{stderr}",
            format!("{path}{want}")
        );
    }
}

/// What `check-config` prints after its `# config OK` line is itself a valid config that
/// resolves to the same thing. Credentials print as `<redacted>` (a redacted webhook URL is no
/// URL), so configs with notify credentials are left out.
#[test]
fn every_resolved_config_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = corpus("valid");
    paths.push("config/hostwatt.example.toml".into());
    let mut checked = 0;
    for path in paths {
        let (code, printed, stderr) = check_config(&path);
        assert_eq!(code, Some(0), "{path}: {stderr}");
        if printed.contains("\"<redacted>\"") {
            continue;
        }
        checked += 1;
        let body = printed.split_once('\n').map_or("", |(_, b)| b);
        let again = dir.path().join("resolved.toml");
        std::fs::write(&again, body).expect("write");
        let (code, reprinted, stderr) = check_config(again.to_str().expect("utf-8"));
        assert_eq!(
            code,
            Some(0),
            "{path}'s resolved config is refused: {stderr}\n{body}"
        );
        let rebody = reprinted.split_once('\n').map_or("", |(_, b)| b);
        assert!(
            rebody == body,
            "{path}: resolving the resolved config changes it (- first, + second):\n{}",
            support::diff(body, rebody)
        );
    }
    assert!(checked >= 6, "only {checked} configs round-tripped");
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = support::hostwatt()
        .args(args)
        .output()
        .expect("run hostwatt");
    let (stdout, stderr) = support::texts(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn a_bad_flag_value_is_blamed_on_the_flag() {
    let (code, _, stderr) = run(&["check-config", "--root", "/nonexistent/hw-root"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "hostwatt: --root: /nonexistent/hw-root is not a directory\n"
    );
    let (code, _, stderr) = run(&["check-config", "--web.config.file", "/nonexistent/web.yml"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("hostwatt: --web.config.file: ")
            && stderr.contains("/nonexistent/web.yml")
            && !stderr.contains("embedded"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["check-config", "--listen", "localhost"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "hostwatt: --listen: expected HOST:PORT (such as \"localhost:9891\" or \":9891\"), got \"localhost\"\n"
    );
}

#[test]
fn listen_takes_host_names_and_an_empty_host() {
    for (flag, resolved) in [
        ("localhost:9891", "127.0.0.1:9891"),
        (":9891", "0.0.0.0:9891"),
        ("[::1]:9891", "[::1]:9891"),
    ] {
        let (code, stdout, stderr) = run(&["check-config", "--listen", flag]);
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert!(
            stdout.contains(&format!("listen = \"{resolved}\"\n")),
            "{flag}: {stdout}"
        );
    }
}

#[test]
fn each_subcommand_lists_its_own_options_before_the_global_ones() {
    let (code, stdout, _) = run(&["alerts", "--help"]);
    assert_eq!(code, Some(0));
    let at = |s: &str| {
        stdout
            .find(s)
            .unwrap_or_else(|| panic!("no {s} in {stdout}"))
    };
    assert!(at("--url") < at("Global options:"), "{stdout}");
    assert!(at("Global options:") < at("--config <PATH>"), "{stdout}");
}

#[test]
fn a_port_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, support::config_enabling_only(&[])).expect("write");
    let (code, _, stderr) = run(&[
        "run",
        "--config",
        conf.to_str().expect("utf-8"),
        "--listen",
        &addr,
        "--state-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(&format!("cannot listen on {addr}: "))
            && stderr.contains("in use")
            && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_state_dir_is_said_at_start_and_the_daemon_runs_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    // a directory below a regular file cannot be made, not even by root
    std::fs::write(dir.path().join("file"), "").expect("write");
    let state = dir.path().join("file/state");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, support::config_enabling_only(&[])).expect("write");
    let (mut daemon, addr, lines) = support::Daemon::start(dir.path(), &conf, &state);
    let mut seen = Vec::new();
    let line = support::wait_for_log(&lines, "is not writable", &mut seen);
    assert!(
        line.contains(&format!(
            "state directory {} is not writable",
            state.display()
        )) && line.contains("pass --state-dir DIR, or run as the service user (hostwatt)"),
        "{line}"
    );
    let health = support::http_get(&addr, "/healthz").expect("healthz");
    assert_eq!(health.status, 200);
    daemon.stop();
}
