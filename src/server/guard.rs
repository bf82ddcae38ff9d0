//! The web config applied to every request: basic auth and the configured response headers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::web::WebConfig;

/// Middleware for every path: 401 with `WWW-Authenticate: Basic` unless the request carries
/// valid credentials (when basic auth is on), and the configured headers on every response. It
/// reads the latest web config, so a reload applies to the next request.
pub async fn guard(
    State(web): State<watch::Receiver<Arc<WebConfig>>>,
    request: Request,
    next: Next,
) -> Response {
    let web = web.borrow().clone();
    let mut response = match &web.auth {
        Some(auth) => {
            let header = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if auth.check(header).await {
                next.run(request).await
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    [(WWW_AUTHENTICATE, "Basic realm=\"hostwatt\"")],
                    "Unauthorized\n",
                )
                    .into_response()
            }
        }
        None => next.run(request).await,
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
