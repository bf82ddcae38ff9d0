//! The real daemon: `hostwatt run` on a fixture tree, scraped over HTTP, reloaded with SIGHUP
//! (an invalid new config keeps the old one running) and stopped with SIGTERM (exit 0).

use nix::sys::signal::Signal;

use crate::support::{self, Case, Daemon, wait_for_log};

#[test]
fn runs_reloads_and_stops_cleanly() {
    let case = Case::load("node-exporter");
    let root = case.build_root();
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("hostwatt.toml");
    std::fs::write(&conf, case.config_text()).expect("write config");
    let state = tempfile::tempdir().expect("state dir");
    let (mut daemon, addr, lines) = Daemon::start(root.path(), &conf, state.path());
    let mut seen = Vec::new();

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

    let status = daemon.stop();
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    wait_for_log(&lines, "shutting down", &mut seen);
}
