//! Stuck sysfs files with the real binary: a FIFO (no writer, so `open` blocks for good, like an
//! attribute whose driver hangs) in place of `thermal_zone0/temp` and of hwmon's `temp1_input`.
//! The daemon keeps serving, reports those two collectors as timed out on the file they are
//! stuck on, keeps the others going, and still stops cleanly on SIGTERM.

use std::path::Path;

use crate::support::{self, Case, Daemon, wait_for_log};

const CONFIG: &str = r#"
[collectors.rapl]
interval = "1s"
[collectors.thermal]
interval = "1s"
[collectors.hwmon]
interval = "1s"
"#;

/// Replaces the file at `rel` under `root` (through the tree's symlinks) by a FIFO.
fn fifo_in_place_of(root: &Path, rel: &str) {
    let path = root.join(rel).canonicalize().expect("fixture file exists");
    std::fs::remove_file(&path).expect("remove the fixture file");
    nix::unistd::mkfifo(
        &path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .expect("mkfifo");
}

fn failing(collector: &str, item: &str) -> String {
    format!(
        "hostwatt_collector_item_failing{{collector=\"{collector}\",item=\"{item}\",kind=\"timeout\"}}"
    )
}

#[test]
fn a_fifo_in_place_of_sysfs_files_times_out_those_collectors_and_nothing_else() {
    let root = Case::load("node-exporter").build_root();
    let thermal = "sys/class/thermal/thermal_zone0/temp";
    let hwmon = "sys/class/hwmon/hwmon0/temp1_input";
    fifo_in_place_of(root.path(), thermal);
    fifo_in_place_of(root.path(), hwmon);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, format!("{CONFIG}{}", support::FIXTURE_ONLY)).expect("config");
    // /healthz answering at all is the first check: today the first thermal round blocks the
    // runtime thread before it does
    let (mut daemon, addr, lines) = Daemon::start(root.path(), &conf, &dir.path().join("state"));
    let mut seen = Vec::new();

    let body = support::poll_until("thermal and hwmon to time out", 600, || {
        let body = support::http_get(&addr, "/metrics").ok()?.body;
        (support::value(&body, &failing("thermal", thermal)) == Some(1.0)
            && support::value(&body, &failing("hwmon", hwmon)) == Some(1.0))
        .then_some(body)
    });
    for collector in ["thermal", "hwmon"] {
        let success = format!("hostwatt_collector_success{{collector=\"{collector}\"}}");
        assert_eq!(support::value(&body, &success), Some(0.0), "{body}");
        let timeouts = format!(
            "hostwatt_collector_errors_total{{collector=\"{collector}\",kind=\"timeout\"}}"
        );
        assert!(
            support::value(&body, &timeouts).is_some_and(|n| n >= 1.0),
            "{timeouts} counts the round\n{body}"
        );
    }
    // the other collectors go on: RAPL keeps succeeding round after round
    let rapl = "hostwatt_collector_success{collector=\"rapl\"}";
    assert_eq!(support::value(&body, rapl), Some(1.0), "{body}");
    let line = wait_for_log(&lines, "collector round timed out", &mut seen);
    assert!(line.contains("thermal") || line.contains("hwmon"), "{line}");

    let health = support::http_get(&addr, "/healthz").expect("/healthz while reads are stuck");
    assert_eq!(health.status, 200);
    let status = daemon.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "clean exit on SIGTERM with two stuck threads"
    );
}
