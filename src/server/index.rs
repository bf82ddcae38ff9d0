//! `GET /`: a minimal page linking the endpoints, so a browser pointed at the exporter finds
//! them instead of an empty 404. Its own module so a fuller status page can replace it.

use axum::response::Html;

/// The page body (static HTML, no scripts, nothing from the request echoed).
pub const PAGE: &str = "<!DOCTYPE html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>hostwatt</title></head>
<body>
<h1>hostwatt</h1>
<p>On-host power and health monitoring.</p>
<ul>
<li><a href=\"metrics\">/metrics</a>: Prometheus metrics</li>
<li><a href=\"healthz\">/healthz</a>: liveness</li>
<li><a href=\"api/alerts\">/api/alerts</a>: current alerts (JSON)</li>
</ul>
</body>
</html>
";

/// The handler for `/`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}
