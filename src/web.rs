//! The web config file: TLS and basic auth for the HTTP endpoint, in the format of the Prometheus
//! exporter toolkit (`--web.config.file`), so the file a user already has for node_exporter works
//! here unchanged.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # or `cert:` inline PEM; relative paths: from the file's directory
//!   key_file: server.key           # or `key:`
//!   client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: ca.crt         # or `client_ca:`
//!   min_version: TLS12             # TLS12 (default) or TLS13; max_version likewise
//!   cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 suites, Go's names
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true
//! http_server_config:
//!   headers: {Strict-Transport-Security: max-age=31536000}
//! basic_auth_users:
//!   prometheus: $2y$10$...          # bcrypt, e.g. `htpasswd -nBC 10 "" | tr -d ':\n'`
//! ```
//!
//! Differences from the toolkit, each an error at load rather than a silent downgrade:
//! `RequestClientCert` and `RequireAnyClientCert` (accepting unverified client certificates),
//! `client_allowed_sans`, TLS 1.0/1.1, curve P-521 and `rate_limit` are not supported.
//! `http2` is accepted and HTTP/1.1 is served. The file is read at start and on SIGHUP (the toolkit
//! reads it per request): reload after renewing a certificate. Like the toolkit, authentication
//! covers every path, `/healthz` included: `server::guard` applies it.

pub mod auth;

pub use auth::BasicAuth;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::rustls::{self, ServerConfig};

/// A web config that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WebConfigError {
    /// The web config path.
    pub path: String,
    /// What is wrong, starting with the key.
    pub message: String,
}

/// The loaded web config: what the server applies.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS, when `tls_server_config` is present.
    pub tls: Option<Arc<ServerConfig>>,
    /// Basic auth, when `basic_auth_users` is not empty.
    pub auth: Option<Arc<BasicAuth>>,
    /// `http_server_config.headers`, added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HttpFile {
    http2: Option<bool>,
    headers: BTreeMap<String, String>,
}

/// The response headers the toolkit allows in `http_server_config.headers`.
const ALLOWED_HEADERS: &[&str] = &[
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// Reads and validates the web config at `path`. Relative file names inside it are taken from the
/// file's directory, as the toolkit does.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let err = |message: String| WebConfigError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir).map_err(err)
}

/// Parses a web config; `dir` anchors relative file names.
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
    // an empty file is a valid config that turns nothing on
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
    };
    let tls = file
        .tls_server_config
        .map(|t| tls_config(t, dir).map(Arc::new))
        .transpose()?;
    let auth = if file.basic_auth_users.is_empty() {
        None
    } else {
        Some(Arc::new(BasicAuth::new(file.basic_auth_users)?))
    };
    let mut headers = Vec::new();
    let http = file.http_server_config.unwrap_or_default();
    let _ = http.http2; // accepted for compatibility; HTTP/1.1 is served
    for (name, value) in http.headers {
        let Some(known) = ALLOWED_HEADERS
            .iter()
            .find(|h| h.eq_ignore_ascii_case(&name))
        else {
            return Err(format!(
                "http_server_config.headers: {name} is not one of {}",
                ALLOWED_HEADERS.join(", ")
            ));
        };
        if value.is_empty() {
            continue;
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("http_server_config.headers.{known}: invalid value"))?;
        headers.push((HeaderName::from_static(lower(known)), value));
    }
    Ok(WebConfig { tls, auth, headers })
}

fn lower(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

/// PEM text given inline (`key`) or as a file (`key_file`), never both.
fn pem_source(
    inline: Option<String>,
    file: Option<PathBuf>,
    key: &str,
    dir: &Path,
) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: {key} and {key}_file are both set"
        )),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(p)) => {
            let p = dir.join(p);
            std::fs::read(&p)
                .map(Some)
                .map_err(|e| format!("tls_server_config.{key}_file: {}: {e}", p.display()))
        }
        (None, None) => Ok(None),
    }
}

fn version(v: &str, key: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match v {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key}: {v} is not supported (TLS12 or TLS13)"
        )),
        _ => Err(format!(
            "tls_server_config.{key}: unknown TLS version {v:?} (TLS12 or TLS13)"
        )),
    }
}

fn tls_config(t: TlsFile, dir: &Path) -> Result<ServerConfig, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let cert_pem = pem_source(t.cert, t.cert_file, "cert", dir)?
        .ok_or("tls_server_config: cert_file (or cert) is required")?;
    let key_pem = pem_source(t.key, t.key_file, "key", dir)?
        .ok_or("tls_server_config: key_file (or key) is required")?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_server_config.cert: {e}"))?;
    if certs.is_empty() {
        return Err("tls_server_config.cert: no certificate in the PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls_server_config.key: {e}"))?;

    let min = version(t.min_version.as_deref().unwrap_or("TLS12"), "min_version")?;
    let max = version(t.max_version.as_deref().unwrap_or("TLS13"), "max_version")?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(&rustls::version::TLS12, 12), (&rustls::version::TLS13, 13)]
            .into_iter()
            .filter(|(_, n)| {
                let rank = |v: &rustls::SupportedProtocolVersion| {
                    if v.version == rustls::ProtocolVersion::TLSv1_2 {
                        12
                    } else {
                        13
                    }
                };
                (rank(min)..=rank(max)).contains(n)
            })
            .map(|(v, _)| v)
            .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }

    if let Some(names) = t.cipher_suites.filter(|n| !n.is_empty()) {
        // Go's names are the IANA names, which rustls' suites print as; like Go, the list governs
        // TLS 1.2 only
        for n in &names {
            if !provider
                .cipher_suites
                .iter()
                .any(|s| format!("{:?}", s.suite()) == *n)
            {
                return Err(format!(
                    "tls_server_config.cipher_suites: {n} is not supported"
                ));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13 || names.contains(&format!("{:?}", s.suite()))
        });
    }
    if let Some(curves) = t.curve_preferences.filter(|c| !c.is_empty()) {
        let all = provider.kx_groups.clone();
        let mut groups = Vec::new();
        for c in &curves {
            let want = match c.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                _ => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: {c} is not supported (X25519, CurveP256, CurveP384)"
                    ));
                }
            };
            groups.extend(all.iter().filter(|g| g.name() == want).copied());
        }
        provider.kx_groups = groups;
    }

    let roots = pem_source(t.client_ca, t.client_ca_file, "client_ca", dir)?
        .map(|pem| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("tls_server_config.client_ca: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_server_config.client_ca: {e}"))?;
            }
            Ok::<_, String>(Arc::new(roots))
        })
        .transpose()?;
    if t.client_allowed_sans.is_some_and(|s| !s.is_empty()) {
        return Err("tls_server_config.client_allowed_sans is not supported".into());
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let client_auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match client_auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let roots = roots.ok_or_else(|| {
                format!("tls_server_config: client_auth_type {client_auth} needs client_ca_file")
            })?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if client_auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls_server_config.client_ca: {e}"))?,
            )
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "tls_server_config.client_auth_type: {client_auth} accepts unverified certificates \
                 and is not supported; use RequireAndVerifyClientCert"
            ));
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: unknown {other:?}"
            ));
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key: {e}"))?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_turns_nothing_on() {
        let cfg = parse("", Path::new("/")).unwrap();
        assert!(cfg.tls.is_none() && cfg.auth.is_none() && cfg.headers.is_empty());
    }

    #[test]
    fn rejects_unknown_keys_and_unsupported_settings() {
        let e = parse("basic_auth_user:\n  a: b\n", Path::new("/")).unwrap_err();
        assert!(e.contains("unknown field `basic_auth_user`"), "{e}");
        let e = parse("basic_auth_users:\n  alice: secret\n", Path::new("/")).unwrap_err();
        assert!(
            e.starts_with("basic_auth_users.alice: not a bcrypt hash"),
            "{e}"
        );
        let e = parse(
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: k\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(
            e.starts_with("tls_server_config.cert_file: /nonexistent/c.pem: "),
            "{e}"
        );
        let e = parse("tls_server_config:\n  key_file: k\n", Path::new("/")).unwrap_err();
        assert_eq!(e, "tls_server_config: cert_file (or cert) is required");
        let e = parse(
            "http_server_config:\n  headers:\n    X-Powered-By: me\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(
            e.starts_with("http_server_config.headers: X-Powered-By is not one of"),
            "{e}"
        );
    }

    #[test]
    fn keeps_allowed_headers_and_skips_blank_ones() {
        let cfg = parse(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"\"\n",
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(cfg.headers.len(), 1);
        assert_eq!(cfg.headers[0].0, "x-frame-options");
        assert_eq!(cfg.headers[0].1, "deny");
    }

    #[test]
    fn rejects_old_tls_versions_and_unverified_client_certs() {
        assert!(
            version("TLS10", "min_version")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            version("TLS14", "min_version")
                .unwrap_err()
                .contains("unknown")
        );
    }
}
