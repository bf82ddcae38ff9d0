//! The HTTP endpoint on loopback: `hostwatt::server::run` over an App sampled on a golden case.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::support::{self, Case, Response};

async fn get(addr: String, path: &'static str) -> Response {
    tokio::task::spawn_blocking(move || support::http_get(&addr, path))
        .await
        .expect("client thread")
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test]
async fn serves_the_golden_and_health_then_stops() {
    let case = Case::load("rapl-wrap");
    let (app, _root) = case.run().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (_registry_tx, registry_rx) = watch::channel(app.served());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(hostwatt::server::run(listener, registry_rx, async move {
        let _ = stop_rx.await;
    }));

    let metrics = get(addr.clone(), "/metrics").await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        metrics.body,
        hostwatt::metrics::exposition(&app.registry),
        "scraping renders the same snapshots, with no new round"
    );
    let want = std::fs::read_to_string(case.dir.join("expected.prom")).expect("expected.prom");
    let got = support::strip_wall_clock(&metrics.body);
    assert!(
        got == want,
        "/metrics over HTTP differs from the golden:\n{}",
        support::diff(&want, &got)
    );

    let health = get(addr.clone(), "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let missing = get(addr.clone(), "/nope").await;
    assert_eq!(missing.status, 404);

    stop_tx.send(()).expect("server still listening");
    // a bound, not a timing assertion: a server that ignores shutdown fails here instead of hanging
    let ended = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server task ends after shutdown");
    ended.expect("server task").expect("server run");
    assert!(
        support::http_get(&addr, "/healthz").is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn serves_current_alerts_as_json_to_the_alerts_client() {
    // edac-ecc: corrected errors rise 3 -> 5 between the rounds, so EdacCorrectedErrorsIncreasing fires
    let case = Case::load("edac-ecc");
    let (app, _root) = case.run().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (_tx, rx) = watch::channel(app.served());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(hostwatt::server::run(listener, rx, async move {
        let _ = stop_rx.await;
    }));

    let res = get(addr.clone(), "/api/alerts").await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&res.body).expect("JSON body");
    assert_eq!(body["enabled"], true);
    let alerts = body["alerts"].as_array().expect("alerts array");
    assert_eq!(alerts.len(), 1, "{body}");
    assert_eq!(alerts[0]["name"], "EdacCorrectedErrorsIncreasing");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[0]["severity"], "warning");
    assert_eq!(alerts[0]["labels"]["controller"], "mc0");
    assert_eq!(alerts[0]["value"], 2.0);
    assert_eq!(
        alerts[0]["summary"],
        "memory controller mc0 corrected 2 errors recently"
    );
    // the status page's API reads the same evaluation through its own sources
    let page = get(addr.clone(), "/api/v1/alerts").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(res.body, page.body, "/api/alerts and /api/v1/alerts");

    // the client `hostwatt alerts` uses, against the real server
    let url = format!("http://{addr}");
    let fetched = hostwatt::alerts::client::fetch(&url, Duration::from_secs(30))
        .await
        .expect("fetch /api/alerts");
    let evaluated = fetched.evaluated_at.expect("evaluated");
    let table = hostwatt::alerts::client::table(&fetched, evaluated);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("STATE "), "{table}");
    assert!(
        lines[1].starts_with("firing  warning   EdacCorrectedErrorsIncreasing  controller=mc0  0s ago  memory controller mc0 corrected 2 errors recently"),
        "{table}"
    );

    stop_tx.send(()).expect("server still listening");
    let ended = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server task ends after shutdown");
    ended.expect("server task").expect("server run");
}
