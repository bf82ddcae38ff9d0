//! What `/metrics` answers: the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when the
//! client's `Accept` prefers it (Prometheus sends
//! `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`),
//! gzip-compressed when `Accept-Encoding` allows it (Prometheus always does; a large host's
//! 331 KB shrinks to about 23 KB). node_exporter negotiates the same way.

use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::CONTENT_TYPE_0_0_4;

/// Content type of OpenMetrics text 1.0.0.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub use crate::metrics::Format;

/// The media ranges of an `Accept` or `Accept-Encoding` value: (name, parameters, q), in order.
fn ranges(value: &str) -> impl Iterator<Item = (String, Vec<(String, String)>, f32)> + '_ {
    value.split(',').filter_map(|part| {
        let mut fields = part.split(';').map(str::trim);
        let name = fields
            .next()
            .filter(|n| !n.is_empty())?
            .to_ascii_lowercase();
        let mut q = 1.0;
        let mut params = Vec::new();
        for field in fields {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
            if k == "q" {
                q = v.parse().unwrap_or(0.0);
            } else {
                params.push((k, v.to_owned()));
            }
        }
        Some((name, params, q))
    })
}

/// The format for an `Accept` value: the supported range with the highest q, the first listed on
/// a tie; text when nothing supported is listed.
pub fn format(accept: Option<&str>) -> Format {
    let mut best: Option<(Format, f32)> = None;
    for (name, params, q) in ranges(accept.unwrap_or("")) {
        let version = params
            .iter()
            .find(|(k, _)| k == "version")
            .map(|(_, v)| v.as_str());
        let offered = match (name.as_str(), version) {
            ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => Format::OpenMetrics,
            ("text/plain", None | Some("0.0.4")) | ("*/*" | "text/*", _) => Format::Text,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((offered, q));
        }
    }
    best.map_or(Format::Text, |(f, _)| f)
}

/// Whether an `Accept-Encoding` value allows gzip (`gzip` or `*` with a non-zero q).
pub fn gzip(accept_encoding: Option<&str>) -> bool {
    let mut star = false;
    for (name, _, q) in ranges(accept_encoding.unwrap_or("")) {
        match name.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = q > 0.0,
            _ => {}
        }
    }
    star
}

/// The `/metrics` response for a request with `headers`. Gzip is at the fastest level and
/// done once per snapshot (`metrics::exposition`): the text is so repetitive that level 1
/// already gets most of the gain.
pub fn respond(registry: &prometheus::Registry, headers: &HeaderMap) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = format(header(ACCEPT));
    let content_type = match format {
        Format::Text => CONTENT_TYPE_0_0_4,
        Format::OpenMetrics => CONTENT_TYPE_OPENMETRICS,
    };
    let gzip = gzip(header(ACCEPT_ENCODING));
    let body = crate::metrics::encode(registry, format, gzip);
    let vary = (VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    let content_type = (CONTENT_TYPE, HeaderValue::from_static(content_type));
    if gzip {
        let encoding = (CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return ([content_type, encoding, vary], body).into_response();
    }
    ([content_type, vary], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiates_like_node_exporter() {
        assert_eq!(format(Some(PROMETHEUS_ACCEPT)), Format::OpenMetrics);
        assert_eq!(format(None), Format::Text);
        assert_eq!(format(Some("*/*")), Format::Text);
        assert_eq!(
            format(Some(
                "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Format::Text
        );
        // an OpenMetrics version this server does not speak is not chosen
        assert_eq!(
            format(Some("application/openmetrics-text;version=2.0.0")),
            Format::Text
        );
        assert_eq!(
            format(Some("application/openmetrics-text; q=0")),
            Format::Text
        );
    }

    #[test]
    fn gzip_when_allowed() {
        assert!(gzip(Some("gzip")));
        assert!(gzip(Some("deflate, gzip;q=1.0, *;q=0.5")));
        assert!(gzip(Some("*")));
        assert!(!gzip(Some("gzip;q=0")));
        assert!(!gzip(Some("identity")));
        assert!(!gzip(None));
    }
}
