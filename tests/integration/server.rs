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
    let (_registry_tx, registry_rx) = watch::channel(app.registry.clone());
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
