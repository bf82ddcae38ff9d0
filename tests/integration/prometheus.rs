//! A real Prometheus scrapes the real daemon and evaluates the generated rules: the rules load
//! and evaluate healthy, and an alert hostwatt raises itself (EdacUncorrectedErrors on the
//! node-exporter tree, `for: 0s`) fires in Prometheus too. `hostwatt alerts` lists it from the
//! daemon. Both processes are killed by guards, pass or fail.

use std::process::{Child, Stdio};

use crate::support::{self, Case};

/// Kills the child when the test ends, so nothing outlives it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    fn assert_running(&mut self, what: &str) {
        let status = self.0.try_wait().expect("try_wait");
        assert!(status.is_none(), "{what} exited early: {status:?}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn prometheus_scrapes_the_daemon_and_evaluates_the_rules() {
    let Some(prometheus) = support::require_tool("prometheus", "evaluating the generated rules")
    else {
        return;
    };
    let case = Case::load("node-exporter");
    let root = case.build_root();
    let work = tempfile::tempdir().expect("tempdir");
    let conf = work.path().join("hostwatt.toml");
    let mut text = case.config_text();
    text.push_str("\n[alerts]\nevaluation_interval = \"1s\"\n");
    std::fs::write(&conf, text).expect("write config");

    let rules = support::hostwatt()
        .args(["rules", "--config"])
        .arg(&conf)
        .arg("--root")
        .arg(root.path())
        .output()
        .expect("hostwatt rules");
    assert!(rules.status.success(), "{:?}", support::texts(&rules));
    std::fs::write(work.path().join("hostwatt.rules.yml"), &rules.stdout).expect("write rules");

    let addr = format!("127.0.0.1:{}", free_port());
    let mut daemon = Guard(
        support::hostwatt()
            .arg("run")
            .arg("--config")
            .arg(&conf)
            .arg("--root")
            .arg(root.path())
            .arg("--state-dir")
            .arg(work.path().join("state"))
            .args(["--listen", &addr, "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hostwatt run"),
    );

    let prom_addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        work.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - hostwatt.rules.yml\n\
             scrape_configs:\n  - job_name: hostwatt\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let mut prom = Guard(
        std::process::Command::new(prometheus)
            .current_dir(work.path())
            .arg("--config.file=prometheus.yml")
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    // the daemon raises the alert itself
    let own = support::poll_until("the daemon's EdacUncorrectedErrors", 1200, || {
        daemon.assert_running("hostwatt");
        let r = support::http_get(&addr, "/api/alerts").ok()?;
        r.body
            .contains("\"EdacUncorrectedErrors\"")
            .then_some(r.body)
    });
    assert!(own.contains("\"state\":\"firing\""), "{own}");
    let listed = support::hostwatt()
        .args(["alerts", "--url", &format!("http://{addr}")])
        .output()
        .expect("hostwatt alerts");
    let (table, stderr) = support::texts(&listed);
    assert!(listed.status.success(), "{stderr}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("firing  critical  EdacUncorrectedErrors  controller=mc0")),
        "{table}"
    );

    // every generated rule loads and evaluates without error in Prometheus
    let count = hostwatt::alerts::rules::builtin().len();
    let groups = support::poll_until("Prometheus to evaluate every rule", 1200, || {
        prom.assert_running("prometheus");
        let r = support::http_get(&prom_addr, "/api/v1/rules").ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let rules = v["data"]["groups"][0]["rules"].as_array()?.clone();
        let evaluated = rules.len() == count
            && rules.iter().all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            });
        evaluated.then_some(rules)
    });
    for r in &groups {
        assert_eq!(r["health"], "ok", "{r}");
    }

    // and the alert hostwatt raises fires in Prometheus from the scraped series
    let alert = support::poll_until("Prometheus to fire EdacUncorrectedErrors", 1200, || {
        let r = support::http_get(&prom_addr, "/api/v1/alerts").ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "EdacUncorrectedErrors" && a["state"] == "firing")
            .cloned()
    });
    assert_eq!(alert["labels"]["controller"], "mc0", "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    assert_eq!(alert["labels"]["job"], "hostwatt", "{alert}");
}
