//! `GET /api/v1/advice`: the advisor collector's latest report as JSON (the `Report` shape of
//! `hostwatt audit --json`). 404 when the collector is off, 503 before its first round.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Report;
use crate::metrics::Latest;

/// The advisor collector's latest report (it renders it as metrics, `collectors::advisor`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// What `/api/v1/advice` serves.
    pub report: Report,
}

/// The route the daemon serves the report at.
pub const ROUTE: &str = "/api/v1/advice";

/// The answer for the advisor's latest report; `None`: the advisor is off in this daemon.
pub fn advice(latest: Option<&Latest<Snapshot>>) -> Response {
    let Some(rx) = latest else {
        return (
            StatusCode::NOT_FOUND,
            "the advisor is off in this daemon's config ([collectors.advisor] enabled = false)\n",
        )
            .into_response();
    };
    let latest = rx.borrow().clone();
    match latest {
        Some(s) => Json(s.report.clone()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the advisor has not finished its first round yet\n",
        )
            .into_response(),
    }
}
