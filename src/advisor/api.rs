//! `GET /api/v1/advice`: the advisor collector's latest report as JSON (the `Report` shape of
//! `hostwatt audit --json`). 404 when the collector is off, 503 before its first round.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::server::Served;

/// The handler.
pub async fn advice(State(served): State<watch::Receiver<Served>>) -> Response {
    let Some(rx) = served.borrow().advice.clone() else {
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
