//! `hostwatt alerts`: fetches `/api/alerts` from a running daemon and prints a table. Talks to
//! the daemon as configured by docs/install.md: plain HTTP, or HTTPS (the platform's trust store,
//! a CA file, or no verification at all when asked), with basic auth. The password comes from a
//! file or the environment, never from a flag, where `ps` would show it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use super::AlertsBody;
use super::State;

/// The environment variable `hostwatt alerts --user` and `hostwatt audit --user` take the
/// password from.
pub const PASSWORD_ENV: &str = "HOSTWATT_ALERTS_PASSWORD";

/// How to reach a daemon behind TLS and basic auth (`web.config.file`).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// PEM file of the CA (or the self-signed certificate) to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the certificate at all.
    pub insecure: bool,
    /// Basic auth: user name and password.
    pub basic_auth: Option<(String, String)>,
}

/// Why the alerts could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `http(s)://host:port[/prefix]`, or the TLS setup failed.
    #[error("{0}")]
    Setup(String),
    /// Connecting, the TLS handshake, sending or reading failed; `hint` says what to try.
    #[error("{url}: {message}{hint}")]
    Io {
        /// The URL.
        url: String,
        /// The error and its causes.
        message: String,
        /// What to try, with its leading separator, or empty.
        hint: &'static str,
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

/// Accepts any certificate (`--insecure`), but still checks the handshake's signatures with
/// the provider's algorithms, so the connection is at least to whoever holds the key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client(access: &Access, limit: Duration) -> Result<reqwest::Client, FetchError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let setup = |e: String| FetchError::Setup(e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(format!("TLS setup: {e}")))?;
    let tls = if access.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else if let Some(ca) = &access.ca_file {
        let mut roots = rustls::RootCertStore::empty();
        let bad = |e: String| setup(format!("--ca-file {}: {e}", ca.display()));
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .with_platform_verifier()
            .map_err(|e| setup(format!("TLS setup: {e}")))?
            .with_no_client_auth()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(limit)
        .user_agent(concat!("hostwatt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| setup(format!("HTTP client: {e}")))
}

/// An error with its causes (`error sending request: ...: invalid peer certificate: ...`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// GETs `<url>/api/alerts` within `limit`: plain HTTP, no credentials.
pub async fn fetch(url: &str, limit: Duration) -> Result<AlertsBody, FetchError> {
    fetch_with(url, limit, &Access::default()).await
}

/// GETs `<url>/api/alerts` (`http://` or `https://`, with an optional path prefix) within
/// `limit`, with `access`'s TLS trust and credentials. Errors say what to try: `--ca-file` or
/// `--insecure` for a certificate, `--user` for a 401.
pub async fn fetch_with(
    url: &str,
    limit: Duration,
    access: &Access,
) -> Result<AlertsBody, FetchError> {
    get_json(url, "/api/alerts", limit, access).await
}

/// The daemon's JSON answers are small; a cap keeps a wrong port from filling memory.
const BODY_LIMIT: usize = 16 << 20;

/// GETs `path` below the daemon at `url` and parses the JSON body (`/api/alerts`, and
/// `hostwatt audit`'s `/api/v1/advice`), within `limit` and at most 16 MiB.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
    path: &str,
    limit: Duration,
    access: &Access,
) -> Result<T, FetchError> {
    let base = url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(FetchError::Setup(format!(
            "unsupported URL {url:?}: expected http://HOST:PORT or https://HOST:PORT"
        )));
    }
    let mut request = client(access, limit)?
        .get(format!("{base}{path}"))
        .header("Accept", "application/json");
    if let Some((user, password)) = &access.basic_auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.map_err(|e| {
        let message = chain(&e);
        let hint = if message.contains("certificate") || message.contains("UnknownIssuer") {
            "; trust the daemon's certificate with --ca-file PATH (or skip the check: --insecure)"
        } else if message.contains("onnection refused") {
            // nothing listens there: TLS or not, no URL scheme fixes that
            "; is hostwatt running there? (systemctl status hostwatt; --url for another address)"
        } else if base.starts_with("http://") && e.is_request() {
            "; if the daemon serves TLS (web.config.file), use an https:// URL"
        } else {
            ""
        };
        FetchError::Io {
            url: url.to_owned(),
            message,
            hint,
        }
    })?;
    let fail = |message: String| FetchError::Response {
        url: url.to_owned(),
        message,
    };
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(fail(format!(
            "HTTP {status}: the daemon wants basic auth: --user NAME, with the password in ${PASSWORD_ENV} or --password-file PATH"
        )));
    }
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("reading the body: {}", chain(&e))))?
    {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(fail(format!("answer larger than {BODY_LIMIT} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("not the {path} JSON: {e}")))
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
                format!("{} ago", super::book::span_text(now - since)),
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
