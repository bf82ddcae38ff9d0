//! A restart of the real daemon sends nothing: a firing alert kept in `alerts.json` stays
//! firing while the collector it reads has no data yet, and no resolved-then-firing pair reaches
//! the receiver (a webhook on loopback).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;

use crate::support::{self, Daemon};

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

async fn hook(State(got): State<Received>, body: String) -> &'static str {
    let v = serde_json::from_str(&body).expect("webhook body is JSON");
    got.lock().expect("lock").push(v);
    "ok"
}

/// A smartctl that answers like a real one but takes 2 s per run, so the first SMART round
/// ends seconds after the daemon's first alert evaluation.
fn slow_smartctl(dir: &Path) -> std::path::PathBuf {
    let failing = support::shared_dir().join("smartctl/scrutiny/smart-fail2.json");
    let path = dir.join("smartctl");
    let scan = r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[{"name":"/dev/sdb","info_name":"/dev/sdb","type":"sat","protocol":"ATA"}]}"#;
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nsleep 2\ncase \"$*\" in\n*--scan-open*) echo '{scan}' ;;\n*) cat '{}'; exit 216 ;;\nesac\n",
            failing.display()
        ),
    )
    .expect("write smartctl");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

const FIRING: &str = r#"hostwatt_alerts_firing{alertname="SmartHealthFailed",severity="critical",disk="wwn-0x5000cca37fca81a8"}"#;

fn metrics(addr: &str) -> String {
    support::http_get(addr, "/metrics").expect("scrape").body
}

/// `reason alert` of every notification received, sorted.
fn reasons(got: &Received) -> Vec<String> {
    let mut out: Vec<String> = got
        .lock()
        .expect("lock")
        .iter()
        .map(|v| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
            format!("{} {}", s(&v["reason"]), s(&v["alert"]["name"]))
        })
        .collect();
    out.sort();
    out
}

/// What the first run sends, and all that is ever sent.
const SENT: [&str; 2] = ["firing DiskBeyondRatedDuty", "firing SmartHealthFailed"];

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_sends_nothing_while_the_disk_is_still_failing() {
    let got = Received::default();
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let smartctl = slow_smartctl(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let conf = dir.path().join("hostwatt.toml");
    let mut text = String::new();
    for off in [
        "system", "rapl", "zfs", "hwmon", "cpuidle", "cpufreq", "edac", "thermal", "wall",
        "storage",
    ] {
        text.push_str(&format!("[collectors.{off}]\nenabled = false\n"));
    }
    text.push_str(&format!(
        "[collectors.smart]\nenabled = true\ninterval = \"1s\"\nquery_interval = \"1h\"\nsmartctl = \"{}\"\n\
         [alerts]\nevaluation_interval = \"1s\"\n\
         [notify.hook]\nkind = \"webhook\"\nurl = \"http://{hook_addr}/hook\"\n",
        smartctl.display()
    ));
    std::fs::write(&conf, text).expect("config");
    let state = dir.path().join("state");

    let (mut first, addr, first_log) = Daemon::start(&root, &conf, &state);
    support::poll_until("SmartHealthFailed to fire", 600, || {
        support::value(&metrics(&addr), FIRING)
    });
    support::poll_until("the firing notification", 600, || {
        (got.lock().expect("lock").len() >= 2).then_some(())
    });
    let status = first.stop();
    let log: Vec<String> = first_log.iter().collect();
    assert_eq!(status.code(), Some(0), "{}", log.join("\n"));
    // the failing disk also has far more power-on hours than its class is rated for
    assert_eq!(reasons(&got), SENT);

    let (mut second, addr, second_log) = Daemon::start(&root, &conf, &state);
    // before the first SMART round (4 s of smartctl): no SMART data, the alert is held
    let early = support::poll_until("the first evaluation after the restart", 600, || {
        let body = metrics(&addr);
        support::value(&body, "hostwatt_alerts_evaluations_total")
            .filter(|&n| n >= 1.0)
            .map(|_| body)
    });
    assert_eq!(
        support::value(
            &early,
            r#"hostwatt_smart_health_passed{disk="wwn-0x5000cca37fca81a8"}"#
        ),
        None,
        "SMART already had data: the test would prove nothing\n{early}"
    );
    assert_eq!(support::value(&early, FIRING), Some(1.0), "{early}");
    // SMART reports, then two more evaluations over its data
    let evaluations = support::poll_until("SMART data on /metrics", 600, || {
        let body = metrics(&addr);
        support::value(
            &body,
            r#"hostwatt_smart_health_passed{disk="wwn-0x5000cca37fca81a8"}"#,
        )
        .and(support::value(&body, "hostwatt_alerts_evaluations_total"))
    });
    let body = support::poll_until("two evaluations over SMART data", 600, || {
        let body = metrics(&addr);
        support::value(&body, "hostwatt_alerts_evaluations_total")
            .filter(|&n| n >= evaluations + 2.0)
            .map(|_| body)
    });
    assert_eq!(support::value(&body, FIRING), Some(1.0), "{body}");
    let status = second.stop();
    let log: Vec<String> = second_log.iter().collect();
    assert_eq!(status.code(), Some(0), "{}", log.join("\n"));
    assert_eq!(reasons(&got), SENT, "the restart sent notifications");
    server.abort();
}
