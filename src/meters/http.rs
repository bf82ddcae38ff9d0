//! A minimal HTTP/1.1 GET client for LAN plugs: one connection per request (no pool, so nothing
//! lingers between rounds), a body cap, Basic auth (Shelly Gen1) and RFC 7616 SHA-256 Digest auth
//! (Shelly Gen2+, which accepts nothing else once a password is set).
//!
//! Plain `http://` only: plugs serve HTTP on the LAN, and TLS would add a stack of crates for no
//! gain there. The caller bounds the whole exchange with a timeout (`meters::read`); dropping the
//! future closes the socket. URLs with credentials are never formatted into errors.

use std::fmt;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;

use super::{MeterError, Secret};

/// Largest body we accept; a Shelly `/status` is about 2 KiB.
const MAX_BODY: usize = 256 * 1024;

/// A device's base URL: `http://host[:port][/prefix]`, parsed and checked once at config load.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
    /// Path prefix without a trailing slash (`""` for most devices).
    prefix: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]`; a bare `host[:port]` means `http://`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = match text.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!(
                    "{text:?}: https is not supported (plugs serve plain http on the LAN)"
                ));
            }
            Some((scheme, _)) => return Err(format!("{text:?}: unsupported scheme {scheme:?}")),
            None => text,
        };
        if rest.contains(['?', '#']) {
            return Err(format!(
                "{text:?}: no query or fragment expected in a base URL"
            ));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            // the URL is printed by check-config and in logs; credentials belong in `password`
            return Err("credentials in the URL are not accepted; use username/password".into());
        }
        let uri: hyper::Uri = format!("http://{authority}/")
            .parse()
            .map_err(|e| format!("{text:?}: {e}"))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?}: no host"))?;
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(80),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// An endpoint at `host:port` with no prefix (tests).
    pub fn local(host: &str, port: u16) -> Self {
        Self {
            host: host.to_owned(),
            port,
            prefix: String::new(),
        }
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.prefix)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How to authenticate a request.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No credentials.
    None,
    /// `Authorization: Basic` (Shelly Gen1).
    Basic {
        /// User name.
        user: &'a str,
        /// Password.
        password: &'a Secret,
    },
    /// RFC 7616 Digest with SHA-256, answered after the server's 401 challenge (Shelly Gen2+).
    Digest {
        /// User name (`admin` on Shelly Gen2+).
        user: &'a str,
        /// Password.
        password: &'a Secret,
    },
}

/// `GET <endpoint prefix><path_and_query>`; returns the body of a 2xx answer.
/// 401/403 are `Auth`, other non-2xx statuses `Http`.
pub async fn get(ep: &Endpoint, path_and_query: &str, auth: Auth<'_>) -> Result<Bytes, MeterError> {
    let uri = format!("{}{path_and_query}", ep.prefix);
    let authorization = match auth {
        Auth::Basic { user, password } => Some(format!(
            "Basic {}",
            base64(format!("{user}:{}", password.expose()).as_bytes())
        )),
        _ => None,
    };
    let (status, headers, body) = request(ep, &uri, authorization).await?;
    let (status, body) = match (status, auth) {
        (StatusCode::UNAUTHORIZED, Auth::Digest { user, password }) => {
            let challenge = headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    MeterError::Auth("401 without a WWW-Authenticate challenge".into())
                })?;
            let challenge = Challenge::parse(challenge).map_err(MeterError::Auth)?;
            let answer = challenge.answer(user, password, "GET", &uri, &cnonce());
            let (status, _, body) = request(ep, &uri, Some(answer)).await?;
            (status, body)
        }
        (status, _) => (status, body),
    };
    match status {
        s if s.is_success() => Ok(body),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(MeterError::Auth(match auth {
            Auth::None => format!("HTTP {}; the device wants a password", status.as_u16()),
            _ => format!("HTTP {}; wrong username or password", status.as_u16()),
        })),
        s => Err(MeterError::Http { status: s.as_u16() }),
    }
}

/// One request on a fresh connection.
async fn request(
    ep: &Endpoint,
    uri: &str,
    authorization: Option<String>,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), MeterError> {
    let addr = ep.authority();
    let stream = TcpStream::connect((ep.host.as_str(), ep.port))
        .await
        .map_err(|source| MeterError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let protocol = |e: hyper::Error| MeterError::Protocol(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(protocol)?;
    let mut req = Request::get(uri)
        .header(header::HOST, &addr)
        .header(
            header::USER_AGENT,
            concat!("hostwatt/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| MeterError::Protocol(format!("cannot build request: {e}")))?;
    if let Some(a) = authorization {
        let value = HeaderValue::from_str(&a).map_err(|_| {
            MeterError::Auth("credentials contain characters not allowed in a header".into())
        })?;
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let exchange = async {
        let resp = sender.send_request(req).await.map_err(protocol)?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| MeterError::Protocol(format!("reading the body: {e}")))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    };
    // The connection future drives the socket; it is polled in this task (not spawned) so a
    // timeout that drops us closes the socket instead of leaving a task behind.
    let mut conn = std::pin::pin!(conn);
    let mut exchange = std::pin::pin!(exchange);
    let mut conn_done = false;
    loop {
        tokio::select! {
            result = &mut exchange => return result,
            done = &mut conn, if !conn_done => {
                conn_done = true;
                done.map_err(protocol)?;
            }
        }
    }
}

/// A parsed `WWW-Authenticate: Digest ...` challenge.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
}

impl Challenge {
    /// Parses a Digest challenge; only `algorithm=SHA-256` with `qop=auth` is supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let params = text
            .trim()
            .strip_prefix("Digest ")
            .ok_or_else(|| format!("unsupported authentication scheme in {text:?}"))?;
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = "MD5".to_owned();
        let mut qop_auth = false;
        for (k, v) in auth_params(params) {
            match k.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(v),
                "nonce" => nonce = Some(v),
                "opaque" => opaque = Some(v),
                "algorithm" => algorithm = v,
                "qop" => qop_auth = v.split(',').any(|q| q.trim() == "auth"),
                _ => {}
            }
        }
        if !algorithm.eq_ignore_ascii_case("SHA-256") {
            return Err(format!(
                "digest algorithm {algorithm} is not supported (only SHA-256)"
            ));
        }
        if !qop_auth {
            return Err("digest challenge without qop=auth is not supported".into());
        }
        Ok(Self {
            realm: realm.ok_or("digest challenge without realm")?,
            nonce: nonce.ok_or("digest challenge without nonce")?,
            opaque,
        })
    }

    /// The `Authorization` header value answering this challenge (RFC 7616 §3.4, qop=auth, nc=1).
    pub fn answer(
        &self,
        user: &str,
        password: &Secret,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let ha1 = sha256_hex(&format!("{user}:{}:{}", self.realm, password.expose()));
        let ha2 = sha256_hex(&format!("{method}:{uri}"));
        let response = sha256_hex(&format!(
            "{ha1}:{}:00000001:{cnonce}:auth:{ha2}",
            self.nonce
        ));
        let mut out = format!(
            "Digest username=\"{user}\", realm=\"{}\", uri=\"{uri}\", algorithm=SHA-256, \
             nonce=\"{}\", nc=00000001, cnonce=\"{cnonce}\", qop=auth, response=\"{response}\"",
            self.realm, self.nonce
        );
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{opaque}\""));
        }
        out
    }
}

/// `key=value` pairs of an auth header, values quoted or bare, commas inside quotes kept.
pub(crate) fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        out.push((key, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A client nonce: unique per request is what matters, not secrecy.
fn cnonce() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    sha256_hex(&format!("{}:{}", now.as_nanos(), std::process::id()))[..16].to_owned()
}

/// Standard base64 with padding (RFC 4648 §4), for Basic auth.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let ep = Endpoint::parse("http://192.168.1.50").unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.prefix.as_str()),
            ("192.168.1.50", 80, "")
        );
        let ep = Endpoint::parse("plug.lan:8080/shelly/").unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.prefix.as_str()),
            ("plug.lan", 8080, "/shelly")
        );
        assert_eq!(ep.to_string(), "http://plug.lan:8080/shelly");
        let ep = Endpoint::parse("http://[fe80::1]:81").unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("fe80::1", 81));
        assert!(
            Endpoint::parse("https://plug")
                .unwrap_err()
                .contains("https is not supported")
        );
        assert!(
            Endpoint::parse("http://admin:pw@plug")
                .unwrap_err()
                .contains("credentials in the URL")
        );
        assert!(Endpoint::parse("http://plug/?a=1").is_err());
        assert!(Endpoint::parse("http://").is_err());
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"admin:hunter2"), "YWRtaW46aHVudGVyMg==");
    }

    #[test]
    fn answers_the_rfc7616_sha256_example() {
        // RFC 7616 §3.9.1, SHA-256 variant
        let challenge = Challenge::parse(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        let answer = challenge.answer(
            "Mufasa",
            &Secret::new("Circle of Life"),
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            answer.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{answer}"
        );
        assert!(answer.ends_with(", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
    }

    #[test]
    fn rejects_unsupported_challenges() {
        assert!(
            Challenge::parse("Basic realm=\"x\"")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(
            Challenge::parse("Digest realm=\"x\", nonce=\"1\", qop=\"auth\"")
                .unwrap_err()
                .contains("MD5")
        );
        assert!(
            Challenge::parse("Digest qop=\"auth\", algorithm=SHA-256, nonce=\"1\"")
                .unwrap_err()
                .contains("realm")
        );
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query_value("Status 10"), "Status%2010");
        assert_eq!(encode_query_value("p&ss=word"), "p%26ss%3Dword");
    }
}
