//! `hostwatt alerts`: fetches `/api/alerts` from a running daemon over plain HTTP/1.1 and
//! prints a table. A dozen lines of HTTP over a `TcpStream` instead of an HTTP client crate:
//! one GET with `Connection: close`, a bounded read, `Content-Length` or chunked bodies.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::State;
use crate::server::AlertsBody;

/// Why the alerts could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `http://host:port[/prefix]`.
    #[error("unsupported URL {0:?}: expected http://HOST:PORT")]
    Url(String),
    /// Connecting, sending or reading failed.
    #[error("{url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The daemon answered something else than the alerts JSON.
    #[error("{url}: {message}")]
    Response {
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// Splits `http://host:port/prefix` into (`host:port`, `/prefix`).
fn split_url(url: &str) -> Result<(String, String), FetchError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| FetchError::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(FetchError::Url(url.to_owned()));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// The body of an HTTP/1.1 response, de-chunked; `Err` for a non-200 status.
pub fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(format!("HTTP status {status:?}"));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")
        })
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// GET `<url>/api/alerts`, within `limit`.
pub async fn fetch(url: &str, limit: Duration) -> Result<AlertsBody, FetchError> {
    get_json(url, "/api/alerts", limit).await
}

/// GETs `path` below the daemon at `url` and parses the JSON body (also `hostwatt audit`'s
/// `/api/v1/advice`).
pub async fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
    path: &str,
    limit: Duration,
) -> Result<T, FetchError> {
    let (authority, prefix) = split_url(url)?;
    let io = |source| FetchError::Io {
        url: url.to_owned(),
        source,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(&authority).await?;
        let request = format!(
            "GET {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        // the daemon's answer is small; a cap keeps a wrong port from filling memory
        stream.take(16 << 20).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ))
        })?
        .map_err(io)?;
    let response = |message: String| FetchError::Response {
        url: url.to_owned(),
        message,
    };
    let body = parse_response(&raw).map_err(response)?;
    serde_json::from_slice(&body).map_err(|e| response(format!("not the {path} JSON: {e}")))
}

/// A table of the alerts, `now` in Unix seconds for the "since" column.
pub fn table(body: &AlertsBody, now: f64) -> String {
    if !body.enabled {
        return "alerts are disabled in this daemon's config ([alerts] enabled = false)\n".into();
    }
    if body.alerts.is_empty() {
        return "no alerts\n".into();
    }
    let rows: Vec<[String; 6]> = body
        .alerts
        .iter()
        .map(|a| {
            let (state, since) = match (a.state, a.resolved_at) {
                (State::Resolved, Some(r)) => ("resolved", r),
                (State::Firing, _) => ("firing", a.active_since),
                (State::Pending, _) => ("pending", a.active_since),
                (State::Resolved, None) => ("resolved", a.active_since),
            };
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            [
                state.to_owned(),
                a.severity.as_str().to_owned(),
                a.name.clone(),
                labels.join(","),
                format!("{} ago", super::engine::span_text(now - since)),
                a.summary.clone(),
            ]
        })
        .collect();
    let header = ["STATE", "SEVERITY", "ALERT", "LABELS", "SINCE", "SUMMARY"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 5 { c.clone() } else { format!("{c:w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Alert, Severity};

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:9891").unwrap(),
            ("127.0.0.1:9891".into(), "".into())
        );
        assert_eq!(
            split_url("http://nas/hostwatt/").unwrap(),
            ("nas:80".into(), "/hostwatt".into())
        );
        assert!(split_url("https://nas:1").is_err());
        assert!(split_url("http://").is_err());
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2\r\n\":\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{\"a\":");
        assert!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n")
                .unwrap_err()
                .contains("404")
        );
        assert!(parse_response(b"garbage").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn prints_a_table() {
        let body = AlertsBody {
            enabled: true,
            evaluated_at: Some(1000.0),
            alerts: vec![Alert {
                name: "ZfsPoolCapacityHigh".into(),
                severity: Severity::Warning,
                labels: [("pool".to_owned(), "tank".to_owned())].into(),
                summary: "pool tank is 86 % full".into(),
                description: String::new(),
                state: State::Firing,
                value: 0.86,
                active_since: 1000.0 - 3720.0,
                resolved_at: None,
            }],
        };
        assert_eq!(
            table(&body, 1000.0),
            "STATE   SEVERITY  ALERT                LABELS     SINCE      SUMMARY\n\
             firing  warning   ZfsPoolCapacityHigh  pool=tank  1h 2m ago  pool tank is 86 % full\n"
        );
        let off = AlertsBody {
            enabled: false,
            evaluated_at: None,
            alerts: vec![],
        };
        assert!(table(&off, 0.0).starts_with("alerts are disabled"));
    }
}
