//! `hostwatt audit` on the two fixture boxes (trees in tests/cases/advisor-*/root, audit configs
//! and golden `--json` reports in tests/advisor/*; UPDATE_GOLDEN=1 rewrites them), the terminal
//! form's totals, and the daemon's `/api/v1/advice`.

use std::path::PathBuf;

use crate::support;

fn box_dir(name: &str) -> PathBuf {
    support::manifest_dir().join("tests/advisor").join(name)
}

fn box_root(name: &str) -> PathBuf {
    support::cases_dir()
        .join(format!("advisor-{name}"))
        .join("root")
}

fn audit(name: &str, json: bool) -> (String, String) {
    let dir = box_dir(name);
    let mut cmd = support::hostwatt();
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--root")
        .arg(box_root(name))
        .arg("--log-level")
        .arg("warn")
        .arg("audit");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run hostwatt");
    let (stdout, stderr) = support::texts(&out);
    assert!(
        out.status.success(),
        "hostwatt audit {name}: {:?}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn golden(name: &str) {
    let (got, _) = audit(name, true);
    let path = box_dir(name).join("expected.json");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &got).expect("write expected.json");
        eprintln!("rewrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\ncreate it: UPDATE_GOLDEN=1 cargo test --test integration advisor",
            path.display()
        )
    });
    assert!(
        got == want,
        "{name}: audit --json differs from expected.json (- expected, + got):\n{}",
        support::diff(&want, &got)
    );
}

#[test]
fn golden_audit_untuned() {
    golden("untuned");
}

#[test]
fn golden_audit_tuned() {
    golden("tuned");
}

#[test]
fn audit_text_has_totals_commands_and_sources() {
    let (text, _) = audit("untuned", false);
    let first = text.lines().next().unwrap();
    // 25 W DC through a 500 W Gold curve: 37.6 W at the wall, estimated (no meter on this box)
    assert_eq!(
        first,
        "estimated idle 37.6 W (one sample, not known to be idle), findings worth 16.7-34.2 W at the wall"
    );
    // ASPM, disabled C-states and the I226-V are one saving; the chiplet CPU is a whole box
    assert_eq!(
        text.lines().nth(1).unwrap(),
        "  counted once, the largest of them (one saving reached several ways): cpu-deep-cstates-disabled, pcie-aspm-off, cstate-blocker-8086-125c"
    );
    assert!(
        text.contains("[warning] pcie-aspm-off (1.8-4.0 W, high confidence)"),
        "{text}"
    );
    // booted with pcie_aspm=off: the kernel refuses runtime ASPM writes
    assert!(text.contains(
        "fix now: none at runtime: booted with pcie_aspm=off, the kernel refuses ASPM changes"
    ));
    assert!(text.contains("fix now: echo med_power_with_dipm > /sys/class/scsi_host/host0/link_power_management_policy"));
    assert!(text.contains("source:  https://github.com/Dasharo/dasharo-issues/issues/828"));
    assert!(text.contains("pkg_cstates: not measurable on this CPU"));
    let (text, _) = audit("tuned", false);
    assert!(
        text.starts_with("estimated idle 22.0 W (one sample, not known to be idle), no findings"),
        "{text}"
    );
    assert!(text.contains("no findings"));
}

async fn serve_untuned(advisor: bool) -> (String, tokio::sync::oneshot::Sender<()>) {
    let dir = box_dir("untuned");
    let overrides = hostwatt::config::Overrides {
        root: Some(box_root("untuned")),
        ..Default::default()
    };
    let mut cfg =
        hostwatt::config::load(Some(&dir.join("config.toml")), &overrides).expect("config");
    // the daemon test runs no smartctl
    cfg.collectors.smart.enabled = false;
    cfg.collectors.advisor.enabled = advisor;
    cfg.persist = false;
    let runner = hostwatt::host::command::Runner::system();
    let mut app = hostwatt::app::App::new(&cfg, hostwatt::cli::context(&cfg, runner)).expect("app");
    app.sample_all(std::time::Instant::now()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (_tx, rx) = tokio::sync::watch::channel(app.served());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _keep = (_tx, app);
        hostwatt::server::run(listener, rx, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    (addr, stop_tx)
}

async fn get(addr: &str, path: &'static str) -> support::Response {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || support::http_get(&addr, path))
        .await
        .expect("client thread")
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test]
async fn daemon_serves_advice_json_and_bounded_metrics() {
    let (addr, stop) = serve_untuned(true).await;
    let r = get(&addr, "/api/v1/advice").await;
    assert_eq!(r.status, 200, "{r:?}");
    let report: hostwatt::advisor::Report = serde_json::from_str(&r.body).expect("advice JSON");
    // the untuned box's 15 findings less the SMART one (smartctl is off here)
    assert_eq!(
        report.findings.len(),
        14,
        "{:?}",
        report.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
    );
    assert_eq!(report.idle_wall_watts, Some(37.6));
    assert!(
        report.idle_basis.ends_with("not yet known to be idle"),
        "{}",
        report.idle_basis
    );
    let m = get(&addr, "/metrics").await;
    assert_eq!(
        support::value(
            &m.body,
            "hostwatt_advisor_finding_potential_watts{id=\"pcie-aspm-off\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        support::value(
            &m.body,
            "hostwatt_advisor_finding_active{id=\"nmi-watchdog-on\",severity=\"warning\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        m.body.matches("hostwatt_advisor_finding_active{").count(),
        14
    );
    assert!(
        !m.body.contains("0000:01:00.0"),
        "device names stay out of labels"
    );
    let _ = stop.send(());

    // with the advisor off the route says so, and `hostwatt audit` samples once instead
    let (addr, stop) = serve_untuned(false).await;
    let r = get(&addr, "/api/v1/advice").await;
    assert_eq!(r.status, 404, "{r:?}");
    let cfg = audit_config();
    let runner = hostwatt::host::command::Runner::system();
    let own = report_at(&cfg, runner, &format!("http://{addr}"))
        .await
        .expect("one-shot report");
    assert_eq!(own.idle_basis, "one sample, not known to be idle");
    // and says why it did not use the daemon that answered (it used to fall back silently)
    let why: Vec<&str> = own
        .notes
        .iter()
        .filter(|n| n.check == "daemon")
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(why.len(), 1, "{:?}", own.notes);
    assert!(
        why[0].starts_with(&format!(
            "a daemon answered but its report could not be used (http://{addr}: HTTP 404"
        )) && why[0].ends_with("without the daemon's history"),
        "{}",
        why[0]
    );
    let _ = stop.send(());
    // no daemon at all (connection refused): nothing to say
    let own = report_at(
        &cfg,
        hostwatt::host::command::Runner::system(),
        "http://127.0.0.1:1",
    )
    .await
    .expect("one-shot report");
    assert!(
        own.notes.iter().all(|n| n.check != "daemon"),
        "{:?}",
        own.notes
    );
}

/// `hostwatt audit`'s report with the daemon of the local config at `url` (no --url given).
async fn report_at(
    cfg: &hostwatt::config::Config,
    runner: hostwatt::host::command::Runner,
    url: &str,
) -> anyhow::Result<hostwatt::advisor::Report> {
    let ask = hostwatt::app::audit::Ask::Local(url.to_owned());
    hostwatt::app::audit::report(cfg, runner, Some(&ask), &Default::default()).await
}

fn audit_config() -> hostwatt::config::Config {
    let overrides = hostwatt::config::Overrides {
        root: Some(box_root("untuned")),
        ..Default::default()
    };
    hostwatt::config::load(Some(&box_dir("untuned").join("config.toml")), &overrides)
        .expect("config")
}

#[tokio::test]
async fn audit_takes_the_daemons_report_when_one_answers() {
    let (addr, stop) = serve_untuned(true).await;
    let runner = hostwatt::host::command::Runner::system();
    let got = report_at(&audit_config(), runner, &format!("http://{addr}"))
        .await
        .expect("report");
    // the daemon's (wall estimate of its latest round), not a sample of its own
    assert!(
        got.idle_basis.starts_with("latest estimate"),
        "{}",
        got.idle_basis
    );
    assert_eq!(got.findings.len(), 14);
    let _ = stop.send(());
}
