//! The HTTP endpoint: `GET /metrics` renders the latest snapshots (no collection work happens
//! here, so any number of scrapers cost nothing extra) and `GET /healthz`.
//!
//! `run(listener, registry, shutdown)` takes a bound listener so tests bind `127.0.0.1:0`;
//! `serve` adds the web config (TLS, basic auth, headers: `crate::web`).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::web::{TlsListener, WebConfig};

/// Content type of the Prometheus text format 0.0.4.
pub const CONTENT_TYPE_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(registry): State<watch::Receiver<Registry>>) -> impl IntoResponse {
    let registry = registry.borrow().clone();
    (
        [(CONTENT_TYPE, CONTENT_TYPE_0_0_4)],
        crate::metrics::exposition(&registry),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// The router; `registry` can be swapped (config reload) while serving.
pub fn router(registry: watch::Receiver<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(registry)
}

/// Serves plain HTTP with no authentication until `shutdown` resolves, then finishes in-flight
/// requests.
pub async fn run(
    listener: TcpListener,
    registry: watch::Receiver<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (_keep, web) = watch::channel(Arc::new(WebConfig::default()));
    serve(listener, registry, web, shutdown).await
}

/// Serves with the web config: TLS when the config at start has it, basic auth and headers from
/// the latest config (`web` changes on reload).
pub async fn serve(
    listener: TcpListener,
    registry: watch::Receiver<Registry>,
    web: watch::Receiver<Arc<WebConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = web.borrow().tls.clone();
    let app = router(registry).layer(axum::middleware::from_fn_with_state(
        web.clone(),
        crate::web::guard,
    ));
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(TlsListener::new(listener, tls, web), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
