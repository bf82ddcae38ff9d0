//! The transports: what each receiver kind sends for a notification, and the sending.
//!
//! The bodies and headers are built by pure functions (`webhook_body`, `ntfy_headers`,
//! `gotify_body`, `email_text`, `alertmanager_alerts`) so their exact shape is tested apart
//! from the network. Errors never carry a URL: a webhook URL or a Gotify query can hold a token.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use super::config::{Alertmanager, Email, Gotify, Ntfy, Receiver, Webhook};
use crate::alerts::{Alert, Notification, Reason, Severity};

/// Why one delivery try failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No answer within the receiver's timeout.
    #[error("timed out")]
    Timeout,
    /// Connecting or sending failed (the URL is stripped: it may hold a token).
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The server answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The SMTP exchange failed.
    #[error("smtp: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The message could not be built (an address the config check let through).
    #[error("building the message: {0}")]
    Message(String),
}

impl DeliveryError {
    /// Whether another try may succeed. A 4xx other than 408/429 is the request's fault and
    /// would fail the same way again; so would a permanent (5xx) SMTP reply.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Request(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::Smtp(e) => !e.is_permanent(),
            Self::Message(_) => false,
        }
    }

    /// A short label for logs: timeout, request, status, smtp, message.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Request(_) => "request",
            Self::Status { .. } => "status",
            Self::Smtp(_) => "smtp",
            Self::Message(_) => "message",
        }
    }
}

fn request_error(e: reqwest::Error) -> DeliveryError {
    if e.is_timeout() {
        DeliveryError::Timeout
    } else {
        DeliveryError::Request(e.without_url())
    }
}

/// The one-line title: `[FIRING] PoolCapacityHigh on nas`.
pub fn title(n: &Notification, hostname: &str) -> String {
    let status = match n.reason {
        Reason::Firing | Reason::Repeat => "FIRING",
        Reason::Resolved => "RESOLVED",
    };
    format!("[{status}] {} on {hostname}", n.alert.name)
}

/// The webhook document (see the module docs of `notify` for the schema).
pub fn webhook_body(n: &Notification, receiver: &str, hostname: &str) -> Value {
    json!({
        "version": "1",
        "receiver": receiver,
        "hostname": hostname,
        "reason": n.reason,
        "alert": n.alert,
    })
}

/// ntfy priority (1 min .. 5 max): by severity while firing; a resolution is low (no buzz).
pub fn ntfy_priority(n: &Notification) -> u8 {
    match (n.reason, n.alert.severity) {
        (Reason::Resolved, _) => 2,
        (_, Severity::Info) => 3,
        (_, Severity::Warning) => 4,
        (_, Severity::Critical) => 5,
    }
}

/// Gotify priority (0..10; 1-3 silent, 4-7 sound, 8+ high): resolutions are silent.
pub fn gotify_priority(n: &Notification) -> u8 {
    match (n.reason, n.alert.severity) {
        (Reason::Resolved, _) => 2,
        (_, Severity::Info) => 4,
        (_, Severity::Warning) => 6,
        (_, Severity::Critical) => 8,
    }
}

/// The emoji tag ntfy shows in front of the title.
fn ntfy_emoji(n: &Notification) -> &'static str {
    match (n.reason, n.alert.severity) {
        (Reason::Resolved, _) => "white_check_mark",
        (_, Severity::Info) => "information_source",
        (_, Severity::Warning) => "warning",
        (_, Severity::Critical) => "rotating_light",
    }
}

/// The headers of an ntfy publish, `Authorization` aside. Values outside printable ASCII are
/// RFC 2047 encoded, which ntfy decodes (HTTP header values cannot carry raw UTF-8).
pub fn ntfy_headers(
    n: &Notification,
    hostname: &str,
    extra_tags: &[String],
) -> Vec<(&'static str, String)> {
    let mut tags = vec![ntfy_emoji(n).to_owned(), n.alert.name.clone()];
    tags.extend(extra_tags.iter().cloned());
    vec![
        ("Title", encode_header(&title(n, hostname))),
        ("Priority", ntfy_priority(n).to_string()),
        ("Tags", encode_header(&tags.join(","))),
    ]
}

/// `text` as-is when it is printable ASCII, else as an RFC 2047 Q-encoded word.
pub fn encode_header(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_owned();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// The Gotify message document.
pub fn gotify_body(n: &Notification, hostname: &str) -> Value {
    json!({
        "title": title(n, hostname),
        "message": n.alert.summary,
        "priority": gotify_priority(n),
    })
}

fn rfc3339(unix_seconds: f64) -> String {
    let nanos = (unix_seconds.fract() * 1e9).round() as u32;
    chrono::DateTime::from_timestamp(unix_seconds.trunc() as i64, nanos.min(999_999_999))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The plain-text email: subject and body.
pub fn email_text(n: &Notification, hostname: &str) -> (String, String) {
    let a = &n.alert;
    let mut body = format!("{}\n\n{}\n", title(n, hostname), a.summary);
    if !a.description.is_empty() {
        body.push_str(&format!("\n{}\n", a.description));
    }
    body.push_str(&format!(
        "\nalert: {}\nseverity: {}\n",
        a.name,
        a.severity.as_str()
    ));
    for (k, v) in &a.labels {
        body.push_str(&format!("{k}: {v}\n"));
    }
    body.push_str(&format!(
        "value: {}\nsince: {}\n",
        a.value,
        rfc3339(a.active_since)
    ));
    if let Some(at) = a.resolved_at.filter(|_| n.reason == Reason::Resolved) {
        body.push_str(&format!("resolved: {}\n", rfc3339(at)));
    }
    (format!("[hostwatt] {}", title(n, hostname)), body)
}

/// The Alertmanager v2 `postableAlerts` array, as Prometheus sends it. A firing alert's
/// `endsAt` lies `valid_for` ahead (Prometheus: 4 resend intervals), so Alertmanager resolves
/// it by itself if hostwatt stops refreshing it; a resolved one ends when it resolved.
pub fn alertmanager_alerts(
    alerts: &[&Alert],
    hostname: &str,
    generator_url: Option<&str>,
    now: f64,
    valid_for: Duration,
) -> Value {
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let mut labels = BTreeMap::new();
            labels.insert("instance".to_owned(), hostname.to_owned());
            labels.extend(a.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            labels.insert("alertname".to_owned(), a.name.clone());
            labels.insert("severity".to_owned(), a.severity.as_str().to_owned());
            let ends = match a.resolved_at {
                Some(at) => at,
                None => now + valid_for.as_secs_f64(),
            };
            let mut v = json!({
                "labels": labels,
                "annotations": {"summary": a.summary, "description": a.description},
                "startsAt": rfc3339(a.active_since),
                "endsAt": rfc3339(ends),
            });
            if let Some(g) = generator_url {
                v["generatorURL"] = json!(g);
            }
            v
        })
        .collect();
    Value::Array(items)
}

/// A receiver ready to send: its config plus a transport.
pub enum Sink {
    /// Webhook.
    Webhook(Webhook, reqwest::Client),
    /// ntfy.
    Ntfy(Ntfy, reqwest::Client),
    /// Gotify.
    Gotify(Gotify, reqwest::Client),
    /// Email, with the SMTP transport built once.
    Email(Email, AsyncSmtpTransport<Tokio1Executor>),
    /// Alertmanager, with the alerts it currently holds as firing (re-sent periodically).
    Alertmanager(Alertmanager, reqwest::Client, BTreeMap<String, Alert>),
}

impl Sink {
    /// Builds the transport of `receiver`.
    pub fn new(
        receiver: &Receiver,
        http: &reqwest::Client,
        hostname: &str,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        Ok(match receiver {
            Receiver::Webhook(r) => Self::Webhook(r.clone(), http.clone()),
            Receiver::Ntfy(r) => Self::Ntfy(r.clone(), http.clone()),
            Receiver::Gotify(r) => Self::Gotify(r.clone(), http.clone()),
            Receiver::Alertmanager(r) => {
                Self::Alertmanager(r.clone(), http.clone(), BTreeMap::new())
            }
            Receiver::Email(r) => {
                let builder = if r.starttls {
                    // Tls::Required: no fallback to clear text when STARTTLS is missing.
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&r.host)?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&r.host)
                };
                let mut builder = builder
                    .port(r.port)
                    .timeout(Some(r.timeout.0))
                    .hello_name(ClientId::Domain(hostname.to_owned()));
                if let (Some(user), Some(pass)) = (&r.username, &r.password) {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
                }
                Self::Email(r.clone(), builder.build())
            }
        })
    }

    /// When Alertmanager's firing alerts are next due for a resend; `None` when nothing is
    /// firing (then no timer runs at all).
    pub fn resend_interval(&self) -> Option<Duration> {
        match self {
            Self::Alertmanager(r, _, firing) if !firing.is_empty() => Some(r.resend_interval.0),
            _ => None,
        }
    }

    /// Records what Alertmanager holds as firing, before the notification is sent.
    pub fn track(&mut self, n: &Notification) {
        if let Self::Alertmanager(_, _, firing) = self {
            match n.reason {
                Reason::Firing | Reason::Repeat => {
                    firing.insert(n.alert.fingerprint(), n.alert.clone());
                }
                Reason::Resolved => {
                    firing.remove(&n.alert.fingerprint());
                }
            }
        }
    }

    /// Sends every firing alert again (Alertmanager only).
    pub async fn resend(&self, hostname: &str, timeout: Duration) -> Result<(), DeliveryError> {
        match self {
            Self::Alertmanager(r, http, firing) => {
                let alerts: Vec<&Alert> = firing.values().collect();
                post_alertmanager(r, http, &alerts, hostname, timeout).await
            }
            _ => Ok(()),
        }
    }

    /// One try at delivering `n`.
    pub async fn deliver(
        &self,
        n: &Notification,
        receiver: &str,
        hostname: &str,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        match self {
            Self::Webhook(r, http) => {
                let mut req = http
                    .post(r.url.expose())
                    .timeout(timeout)
                    .json(&webhook_body(n, receiver, hostname));
                for (k, v) in &r.headers {
                    req = req.header(k.as_str(), v.expose());
                }
                check(req.send().await).await
            }
            Self::Ntfy(r, http) => {
                let url = format!("{}/{}", r.server.trim_end_matches('/'), r.topic.expose());
                let mut req = http
                    .post(url)
                    .timeout(timeout)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .body(n.alert.summary.clone());
                for (k, v) in ntfy_headers(n, hostname, &r.tags) {
                    req = req.header(k, v);
                }
                if let Some(token) = &r.token {
                    req = req.bearer_auth(token.expose());
                }
                check(req.send().await).await
            }
            Self::Gotify(r, http) => {
                let mut url =
                    reqwest::Url::parse(&format!("{}/message", r.server.trim_end_matches('/')))
                        .map_err(|e| DeliveryError::Message(e.to_string()))?;
                url.query_pairs_mut().append_pair("token", r.token.expose());
                let req = http
                    .post(url)
                    .timeout(timeout)
                    .json(&gotify_body(n, hostname));
                check(req.send().await).await
            }
            Self::Alertmanager(r, http, _) => {
                post_alertmanager(r, http, &[&n.alert], hostname, timeout).await
            }
            Self::Email(r, smtp) => {
                let (subject, body) = email_text(n, hostname);
                let bad = |e: &dyn std::fmt::Display| DeliveryError::Message(e.to_string());
                let mut b = Message::builder()
                    .from(r.from.parse::<Mailbox>().map_err(|e| bad(&e))?)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN);
                for to in &r.to {
                    b = b.to(to.parse::<Mailbox>().map_err(|e| bad(&e))?);
                }
                let msg = b.body(body).map_err(|e| bad(&e))?;
                smtp.send(msg).await.map(drop).map_err(DeliveryError::Smtp)
            }
        }
    }
}

async fn post_alertmanager(
    r: &Alertmanager,
    http: &reqwest::Client,
    alerts: &[&Alert],
    hostname: &str,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let url = format!("{}/api/v2/alerts", r.url.trim_end_matches('/'));
    let body = alertmanager_alerts(
        alerts,
        hostname,
        r.generator_url.as_deref(),
        unix_now(),
        r.resend_interval.0 * 4,
    );
    check(http.post(url).timeout(timeout).json(&body).send().await).await
}

async fn check(sent: Result<reqwest::Response, reqwest::Error>) -> Result<(), DeliveryError> {
    let resp = sent.map_err(request_error)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let mut body = resp.text().await.unwrap_or_default();
    if let Some((cut, _)) = body.char_indices().nth(200) {
        body.truncate(cut);
    }
    Err(DeliveryError::Status {
        status: status.as_u16(),
        body: body.trim().to_owned(),
    })
}

/// The HTTP client shared by the HTTP receivers: rustls with the ring provider and the
/// platform's trust store. Timeouts are set per request, from each receiver's config.
pub fn http_client() -> Result<reqwest::Client, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("hostwatt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}
