//! The status page (`GET /`) and the JSON API under `/api/v1/` that it polls, on the same
//! listener (TLS, basic auth) as `/metrics`.
//!
//! Every asset is compiled into the binary (`include_bytes!`): the page works with no internet.
//! uPlot (MIT, `assets/vendor/uplot/`) draws the charts; `assets/page.js` is plain JavaScript,
//! so there is no front-end build step.

pub mod api;
pub mod html;

use crate::alerts::AlertsBody;
use crate::alerts::engine::Snapshot as Alerts;
use crate::collectors::advisor::Snapshot as Advice;
use crate::history::History;
use crate::history::record;
use crate::metrics::Latest;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

/// What the page and the API read: the latest snapshots, the alerts, the history store.
#[derive(Clone, Default)]
pub struct Sources {
    /// Wall, SMART, ZFS and cpuidle snapshots.
    pub latest: record::Sources,
    /// The alert engine's evaluations, when alerts are enabled.
    pub alerts: Option<Latest<Alerts>>,
    /// The advisor's latest report, when the advisor is enabled.
    pub advice: Option<Latest<Advice>>,
    /// The history store, when history is on.
    pub history: Option<History>,
}

/// The files under `/assets/`: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "page.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/page.js"),
    ),
    (
        "page.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/page.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
];

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => (
            [(CONTENT_TYPE, *ty), (CACHE_CONTROL, "max-age=3600")],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn index(State(src): State<Sources>) -> Html<String> {
    let now = crate::history::record::unix_now();
    let alerts = src.alerts.as_ref().map(|rx| {
        rx.borrow()
            .as_ref()
            .map(|s| s.alerts.clone())
            .unwrap_or_default()
    });
    let advice = src.advice.as_ref().map(|rx| rx.borrow().clone());
    Html(html::page(
        &api::summary(&src, now),
        &api::disks(&src),
        &api::pools(&src, now),
        alerts.as_deref(),
        advice.as_ref().map(|a| a.as_deref().map(|s| &s.report)),
    ))
}

/// `GET /api/v1/alerts`: the alert engine's latest evaluation.
async fn alerts(State(src): State<Sources>) -> Json<AlertsBody> {
    Json(AlertsBody::of(src.alerts.as_ref()))
}

/// The page's and the API's routes, for a router whose state `S` yields the current `Sources`
/// (the server's, swapped whole on a reload).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Sources: FromRef<S>,
{
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/v1/summary", get(api::get_summary))
        .route("/api/v1/series", get(api::get_series))
        .route("/api/v1/history", get(api::get_history))
        .route("/api/v1/disks", get(api::get_disks))
        .route("/api/v1/pools", get(api::get_pools))
        .route("/api/v1/alerts", get(alerts))
}

#[cfg(test)]
mod tests;
