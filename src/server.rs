//! The HTTP endpoint: `GET /metrics` renders the latest snapshots (no collection work happens
//! here, so any number of scrapers cost nothing extra), `GET /healthz`, and `GET /api/alerts`
//! (the alert engine's latest evaluation as JSON).
//!
//! `run(listener, served, shutdown)` takes a bound listener so tests bind `127.0.0.1:0`;
//! `serve` adds the web config (TLS, basic auth, headers: `crate::web`), `serve_with` the
//! connection limits (`conn`). `/metrics` answers in the format and encoding the client asks for
//! (`encoding`); `/` and `/api/v1/` are the status page's (`crate::page`).

pub mod conn;
pub mod encoding;
pub mod guard;
pub mod openmetrics;

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::alerts::AlertsBody;
use crate::alerts::engine::Snapshot as Alerts;
use crate::metrics::Latest;

/// What the server serves; swapped as a whole on a config reload.
#[derive(Clone)]
pub struct Served {
    /// What `/metrics` renders.
    pub registry: Registry,
    /// The alert engine's evaluations, when alerts are enabled.
    pub alerts: Option<Latest<Alerts>>,
    /// The advisor's reports, when `[collectors.advisor]` is on.
    pub advice: Option<Latest<crate::collectors::advisor::Snapshot>>,
    /// What the status page and `/api/v1/` read.
    pub page: crate::page::Sources,
}

/// The status page reads the page sources of what is served now.
impl axum::extract::FromRef<watch::Receiver<Served>> for crate::page::Sources {
    fn from_ref(served: &watch::Receiver<Served>) -> Self {
        served.borrow().page.clone()
    }
}

impl From<Registry> for Served {
    fn from(registry: Registry) -> Self {
        Self {
            registry,
            alerts: None,
            advice: None,
            page: Default::default(),
        }
    }
}

use crate::web::WebConfig;

/// Content type of the Prometheus text format 0.0.4.
pub const CONTENT_TYPE_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(
    State(served): State<watch::Receiver<Served>>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let registry = served.borrow().registry.clone();
    encoding::respond(&registry, &headers)
}

async fn alerts(State(served): State<watch::Receiver<Served>>) -> Json<AlertsBody> {
    let rx = served.borrow().alerts.clone();
    Json(AlertsBody::of(rx.as_ref()))
}

async fn advice(State(served): State<watch::Receiver<Served>>) -> axum::response::Response {
    let rx = served.borrow().advice.clone();
    crate::advisor::api::advice(rx.as_ref())
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// The router; what it serves can be swapped (config reload) while serving.
pub fn router(served: watch::Receiver<Served>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/alerts", get(alerts))
        .route(crate::advisor::api::ROUTE, get(advice))
        .merge(crate::page::routes())
        .with_state(served)
}

/// Serves plain HTTP with no authentication until `shutdown` resolves, then finishes in-flight
/// requests.
pub async fn run(
    listener: TcpListener,
    served: watch::Receiver<Served>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (_keep, web) = watch::channel(Arc::new(WebConfig::default()));
    serve(listener, served, web, shutdown).await
}

/// Serves with the web config and the default connection limits.
pub async fn serve(
    listener: TcpListener,
    served: watch::Receiver<Served>,
    web: watch::Receiver<Arc<WebConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, served, web, conn::Limits::default(), shutdown).await
}

/// Serves with the web config: TLS when the config at start has it, basic auth and headers from
/// the latest config (`web` changes on reload); connections bounded by `limits`.
pub async fn serve_with(
    listener: TcpListener,
    served: watch::Receiver<Served>,
    web: watch::Receiver<Arc<WebConfig>>,
    limits: conn::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(served).layer(axum::middleware::from_fn_with_state(
        web.clone(),
        guard::guard,
    ));
    conn::serve(listener, app, web, limits, shutdown).await
}
