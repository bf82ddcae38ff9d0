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
//! covers every path, `/healthz` included.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::sync::watch;
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

/// `basic_auth_users`: user → bcrypt hash, with caches of checked credentials.
///
/// bcrypt costs tens of milliseconds on purpose, and Prometheus sends the same credentials every
/// scrape, so results are cached (the toolkit does the same), by SHA-256 of user and password (no
/// password is kept). Credentials that passed are kept apart from those that failed: a flood of
/// wrong passwords (150 clients made a scrape take 15 s) evicts only older failures, one at a
/// time, and never a credential that passed. bcrypt runs on the blocking pool, one check at a
/// time, with at most [`BCRYPT_WAITING`] checks queued; past that an unknown credential is
/// refused at once instead of queueing behind the flood.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    passed: Mutex<HashSet<[u8; 32]>>,
    failed: Mutex<(VecDeque<Digest>, HashSet<Digest>)>,
    bcrypt: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    /// bcrypt checks run so far (for tests and the log).
    verified: AtomicUsize,
}

/// Compared against when the user is unknown, so that answering takes as long as for a known user.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// Failed credentials remembered; the oldest is forgotten first.
const FAILED_LIMIT: usize = 1024;
/// Credentials that passed remembered (a handful of users, each with one password).
const PASSED_LIMIT: usize = 64;
/// bcrypt checks that may wait for the one running.
pub const BCRYPT_WAITING: usize = 8;

/// SHA-256 of user, NUL, password: a cache key that is not the password.
type Digest = [u8; 32];

fn digest(user: &str, pass: &str) -> Digest {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(user.as_bytes());
    h.update([0]);
    h.update(pass.as_bytes());
    h.finalize().into()
}

impl BasicAuth {
    /// Validates every hash.
    pub fn new(users: BTreeMap<String, String>) -> Result<Self, String> {
        for (user, hash) in &users {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| format!("basic_auth_users.{user}: not a bcrypt hash: {e}"))?;
        }
        Ok(Self {
            users,
            passed: Mutex::new(HashSet::new()),
            failed: Mutex::new((VecDeque::new(), HashSet::new())),
            bcrypt: tokio::sync::Semaphore::new(1),
            waiting: AtomicUsize::new(0),
            verified: AtomicUsize::new(0),
        })
    }

    /// Whether `Authorization` header value `header` carries valid credentials.
    pub async fn check(&self, header: Option<&str>) -> bool {
        let Some((user, pass)) = header.and_then(decode_basic) else {
            return false;
        };
        let key = digest(&user, &pass);
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= BCRYPT_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let permit = self.bcrypt.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(_permit) = permit else {
            return false;
        };
        // a check queued behind the same credentials may find them answered now
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let known = self.users.get(&user);
        let hash = known.cloned().unwrap_or_else(|| DUMMY_HASH.to_owned());
        self.verified.fetch_add(1, Ordering::SeqCst);
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        let ok = known.is_some() && matches;
        self.remember(key, ok);
        ok
    }

    fn remember(&self, key: [u8; 32], ok: bool) {
        if ok {
            if let Ok(mut passed) = self.passed.lock() {
                if passed.len() >= PASSED_LIMIT
                    && let Some(&any) = passed.iter().next()
                {
                    passed.remove(&any);
                }
                passed.insert(key);
            }
        } else if let Ok(mut failed) = self.failed.lock() {
            let (order, set) = &mut *failed;
            if set.insert(key) {
                order.push_back(key);
            }
            while order.len() > FAILED_LIMIT {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        if self.passed.lock().ok()?.contains(key) {
            return Some(true);
        }
        self.failed.lock().ok()?.1.contains(key).then_some(false)
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

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
    fn decodes_basic_credentials() {
        // "prometheus:pa:ss" — a colon in the password belongs to the password
        assert_eq!(
            decode_basic("Basic cHJvbWV0aGV1czpwYTpzcw=="),
            Some(("prometheus".into(), "pa:ss".into()))
        );
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
        assert_eq!(decode_basic("Basic"), None);
    }

    #[tokio::test]
    async fn checks_htpasswd_style_hashes_and_caches() {
        // `htpasswd -nbBC 4 "" secret`-style $2y$ hash, cost 4 to keep the test quick
        let hash = bcrypt::hash("secret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let auth = BasicAuth::new(BTreeMap::from([("prometheus".into(), hash)])).unwrap();
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(auth.check(Some(&basic("prometheus", "secret"))).await);
        assert!(
            auth.check(Some(&basic("prometheus", "secret"))).await,
            "cached"
        );
        assert!(!auth.check(Some(&basic("prometheus", "wrong"))).await);
        assert!(!auth.check(Some(&basic("nobody", "secret"))).await);
        assert!(!auth.check(None).await);
        assert_eq!(auth.passed.lock().unwrap().len(), 1);
        assert_eq!(auth.failed.lock().unwrap().1.len(), 2);
        assert_eq!(
            auth.verified.load(Ordering::SeqCst),
            3,
            "the second check was cached"
        );
        // the dummy hash is a valid hash, or unknown users would be answered faster
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
    }

    #[tokio::test]
    async fn a_flood_of_wrong_passwords_neither_evicts_nor_delays_a_good_one() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = Arc::new(BasicAuth::new(BTreeMap::from([("prometheus".into(), hash)])).unwrap());
        let basic = |p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{p}"))
            )
        };
        assert!(auth.check(Some(&basic("secret"))).await);
        // more failures than the failure cache holds, one after another: all checked, the
        // oldest forgotten, the good one kept
        for i in 0..FAILED_LIMIT + 10 {
            let key = digest("prometheus", &format!("wrong{i}"));
            auth.remember(key, false);
        }
        assert_eq!(auth.failed.lock().unwrap().0.len(), FAILED_LIMIT);
        assert_eq!(auth.cached(&digest("prometheus", "wrong0")), None);
        assert_eq!(auth.cached(&digest("prometheus", "wrong1033")), Some(false));
        // 150 clients at once while a check holds bcrypt: BCRYPT_WAITING queue, the rest are
        // refused without bcrypt, and the good credentials are answered from the cache meanwhile
        let before = auth.verified.load(Ordering::SeqCst);
        let running = auth.bcrypt.acquire().await.unwrap();
        let mut flood = tokio::task::JoinSet::new();
        for i in 0..150 {
            let (auth, header) = (auth.clone(), basic(&format!("flood{i}")));
            flood.spawn(async move { auth.check(Some(&header)).await });
        }
        for _ in 0..150 - BCRYPT_WAITING {
            assert_eq!(flood.join_next().await.map(Result::unwrap), Some(false));
        }
        assert_eq!(auth.waiting.load(Ordering::SeqCst), BCRYPT_WAITING);
        assert!(auth.check(Some(&basic("secret"))).await);
        drop(running);
        let queued = flood.join_all().await;
        assert_eq!(queued, vec![false; BCRYPT_WAITING]);
        let ran = auth.verified.load(Ordering::SeqCst) - before;
        assert_eq!(ran, BCRYPT_WAITING);
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
