//! SIGHUP keeps what did not change: a reload that edits one section leaves RAPL's energy
//! counter running on from where it was (it restarted at 0 J before), and the RAPL series
//! never vanish between the reload and the next round.

use std::path::Path;

use crate::support::{self, Case, Daemon, wait_for_log};

const CONFIG: &str = r#"
[collectors.rapl]
interval = "1s"
[collectors.thermal]
interval = "15s"
"#;

const PACKAGE: &str = "hostwatt_rapl_energy_joules_total{zone=\"package-0\",id=\"intel-rapl:0\"}";

/// Adds `joules` to the package zone's `energy_uj`, as the hardware counter would.
fn spend(root: &Path, joules: u64) {
    let path = root
        .join("sys/class/powercap/intel-rapl:0/energy_uj")
        .canonicalize()
        .expect("energy_uj");
    let text = std::fs::read_to_string(&path).expect("read energy_uj");
    let uj: u64 = text.trim().parse().expect("energy_uj is an integer");
    std::fs::write(&path, format!("{}\n", uj + joules * 1_000_000)).expect("write energy_uj");
}

fn energy_reaches(addr: &str, joules: f64) -> f64 {
    support::poll_until(&format!("{PACKAGE} at {joules} J"), 600, || {
        let body = support::http_get(addr, "/metrics").ok()?.body;
        support::value(&body, PACKAGE).filter(|&j| (j - joules).abs() < 1e-6)
    })
}

#[test]
fn a_reload_keeps_unchanged_collectors_and_their_counters() {
    let root = Case::load("node-exporter").build_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, format!("{CONFIG}{}", support::FIXTURE_ONLY)).expect("config");
    let (mut daemon, addr, lines) = Daemon::start(root.path(), &conf, &dir.path().join("state"));
    let mut seen = Vec::new();
    energy_reaches(&addr, 0.0);
    spend(root.path(), 100);
    energy_reaches(&addr, 100.0);

    // another section changes: thermal is rebuilt, RAPL is kept with its counter
    let edited = CONFIG.replace("\"15s\"", "\"20s\"");
    std::fs::write(&conf, format!("{edited}{}", support::FIXTURE_ONLY)).expect("edit config");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for_log(&lines, "config reloaded", &mut seen);
    let body = support::http_get(&addr, "/metrics")
        .expect("scrape after SIGHUP")
        .body;
    assert_eq!(
        support::value(&body, PACKAGE),
        Some(100.0),
        "right after the reload, before any new round\n{body}"
    );
    spend(root.path(), 10);
    // before, the rebuilt collector started again at 0 J and reached 10 J here
    energy_reaches(&addr, 110.0);

    // an emptied file (an editor's write in progress) is refused, not taken as all defaults,
    // which would turn on the collectors it disabled
    std::fs::write(&conf, "").expect("empty the config");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let refused = wait_for_log(&lines, "config file is empty", &mut seen);
    assert!(refused.contains("keeping the running config"), "{refused}");
    let body = support::http_get(&addr, "/metrics").expect("scrape").body;
    assert!(
        !body.contains("collector=\"smart\""),
        "smart stays off as the running config says\n{body}"
    );
    // a file with only a comment is deliberate: all defaults, reloaded
    std::fs::write(&conf, "# all defaults\n").expect("comment-only config");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for_log(&lines, "config reloaded", &mut seen);

    let status = daemon.stop();
    assert_eq!(status.code(), Some(0));
}
