//! Energy counters survive a restart of the real binary, and a truncated state file is
//! reported and set aside while the daemon still starts.

use crate::support::{self, Case, Daemon};

/// A config whose wall estimate is non-zero from the first round: a baseline through a Gold
/// PSU, integrated every second.
const CONFIG: &str = r#"
[collectors.rapl]
interval = "1s"
[collectors.system]
enabled = false
[collectors.smart]
enabled = false
[collectors.zfs]
enabled = false
[collectors.wall]
interval = "1s"
baseline_watts = 20.0
[collectors.wall.psu]
rated_watts = 500
profile = "gold"
"#;

const ESTIMATE: &str = "hostwatt_wall_energy_joules_total{source=\"estimate\"}";

fn energy(addr: &str, above: f64) -> f64 {
    support::poll_until("the estimate's energy to grow", 600, || {
        let body = support::http_get(addr, "/metrics").ok()?.body;
        support::value(&body, ESTIMATE).filter(|&j| j > above)
    })
}

#[test]
fn energy_counters_continue_across_a_restart_and_a_truncated_state_file_is_set_aside() {
    let root = Case::load("rapl-wrap").build_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("hostwatt.toml");
    std::fs::write(&conf, CONFIG).expect("config");
    let state = dir.path().join("state");

    let (mut first, addr, lines) = Daemon::start(root.path(), &conf, &state);
    let before = energy(&addr, 0.0);
    let status = first.stop();
    // the process has exited, so its stderr is closed and the reader's channel ends
    let log: Vec<String> = lines.iter().collect();
    assert_eq!(status.code(), Some(0), "log:\n{}", log.join("\n"));
    let saved =
        std::fs::read_to_string(state.join("energy.json")).expect("energy.json saved on SIGTERM");
    assert!(saved.contains("\"format\": \"hostwatt-energy\""), "{saved}");

    // each daemon's log reader lives as long as the daemon: a dropped reader closes the daemon's
    // stderr pipe, and the test must not depend on how logging copes with that (logging.rs does)
    let (mut second, addr, _second_log) = Daemon::start(root.path(), &conf, &state);
    let body = support::http_get(&addr, "/metrics").expect("scrape").body;
    let resumed = support::poll_until("the first wall round", 600, || {
        support::value(&support::http_get(&addr, "/metrics").ok()?.body, ESTIMATE)
    });
    assert!(
        resumed >= before,
        "counter went back after a restart: {before} J before, {resumed} J after\n{body}"
    );
    let grown = energy(&addr, resumed);
    assert!(grown > before);
    assert_eq!(second.stop().code(), Some(0));

    // truncate the state file: the daemon starts anyway, reports it once, and starts from zero
    let text = std::fs::read(state.join("energy.json")).expect("energy.json");
    std::fs::write(state.join("energy.json"), &text[..text.len() / 2]).expect("truncate");
    let (mut third, addr, _third_log) = Daemon::start(root.path(), &conf, &state);
    let failing =
        "hostwatt_collector_item_failing{collector=\"wall\",item=\"state:energy\",kind=\"parse\"}";
    let body = support::poll_until("the state fault on /metrics", 600, || {
        let body = support::http_get(&addr, "/metrics").ok()?.body;
        (support::value(&body, failing).is_some() && support::value(&body, ESTIMATE).is_some())
            .then_some(body)
    });
    assert_eq!(support::value(&body, failing), Some(1.0), "{body}");
    let fresh = support::value(&body, ESTIMATE).expect("estimate energy");
    assert!(
        fresh < before,
        "a corrupt state restarts the counters: {fresh} J vs {before} J"
    );
    let aside: Vec<_> = std::fs::read_dir(&state)
        .expect("state dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("energy.json.bad-"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt file is kept aside: {aside:?}");
    assert_eq!(third.stop().code(), Some(0));
}
