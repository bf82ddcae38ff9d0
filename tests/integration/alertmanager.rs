//! A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1 receives hostwatt's
//! alerts through the `alertmanager` receiver: a firing alert is listed by its v2 API with
//! hostwatt's labels, and the resolution (endsAt in the past) takes it off the active list.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use hostwatt::alerts::{Alert, Notification, Reason, Severity, State};
use hostwatt::config::{self, Overrides};
use serde_json::Value;
use tokio::sync::watch;

use crate::support;

/// Kills Alertmanager when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn start(binary: &Path, dir: &Path) -> (Running, String) {
    let cfg = dir.join("am.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .expect("write am.yml");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(binary)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-alertmanager");
    let running = Running(child);
    support::poll_until("alertmanager to be ready", 200, || {
        support::http_get(&addr, "/-/ready")
            .ok()
            .filter(|r| r.status == 200)
    });
    (running, addr)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Sends `n` through a dispatcher with one `alertmanager` receiver and waits until it is done.
async fn push(addr: &str, n: Notification) -> prometheus::Registry {
    let text = format!(
        "[notify.am]\nkind = \"alertmanager\"\nurl = \"http://{addr}\"\ngenerator_url = \"http://testhost:9891/metrics\"\nattempts = 1\n"
    );
    let cfg = config::resolve("test.toml", &text, &Overrides::default()).expect("config");
    let registry = prometheus::Registry::new();
    let (_stop, shutdown) = watch::channel(false);
    let (notifier, handle) =
        hostwatt::notify::spawn(&cfg.notify, "testhost", &registry, shutdown).expect("spawn");
    assert!(notifier.notify(n));
    drop(notifier);
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("delivery finishes")
        .expect("dispatcher task");
    registry
}

fn active_alerts(addr: &str) -> Vec<Value> {
    let resp = support::http_get(addr, "/api/v2/alerts").expect("GET /api/v2/alerts");
    assert_eq!(resp.status, 200, "{}", resp.body);
    serde_json::from_str::<Vec<Value>>(&resp.body).expect("alerts JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_receives_and_resolves_an_alert() {
    let Some(binary) = support::require_tool(
        "prometheus-alertmanager",
        "pushing alerts to a real Alertmanager",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start(&binary, dir.path());

    let started = now() - 120.0;
    let mut alert = Alert {
        name: "PoolCapacityHigh".into(),
        severity: Severity::Warning,
        labels: BTreeMap::from([("pool".to_owned(), "tank".to_owned())]),
        summary: "pool tank is 86 % full".into(),
        description: "ZFS slows down past 80 %.".into(),
        state: State::Firing,
        value: 0.86,
        active_since: started,
        resolved_at: None,
    };
    let registry = push(
        &addr,
        Notification {
            alert: alert.clone(),
            reason: Reason::Firing,
        },
    )
    .await;
    assert!(
        hostwatt::metrics::exposition(&registry)
            .contains("hostwatt_notify_sent_total{kind=\"alertmanager\",receiver=\"am\"} 1"),
        "{}",
        hostwatt::metrics::exposition(&registry)
    );
    let alerts = active_alerts(&addr);
    let [got] = &alerts[..] else {
        panic!("expected one alert: {alerts:?}")
    };
    assert_eq!(
        got["labels"],
        serde_json::json!({"alertname": "PoolCapacityHigh", "severity": "warning",
                           "instance": "testhost", "pool": "tank"})
    );
    assert_eq!(got["annotations"]["summary"], "pool tank is 86 % full");
    assert_eq!(got["generatorURL"], "http://testhost:9891/metrics");
    assert_eq!(got["status"]["state"], "active");
    let ends_at = got["endsAt"].as_str().expect("endsAt").to_owned();

    alert.state = State::Resolved;
    alert.resolved_at = Some(now());
    push(
        &addr,
        Notification {
            alert,
            reason: Reason::Resolved,
        },
    )
    .await;
    // Alertmanager lists only alerts whose endsAt is still ahead: the resolution moved it
    // from about 4 minutes ahead (the firing push: {ends_at}) to now.
    let alerts = active_alerts(&addr);
    assert!(
        alerts.is_empty(),
        "resolved alert (was endsAt {ends_at}) still active: {alerts:?}"
    );
}
