//! The `[notify.<name>]` tables: one receiver each, `kind` picks the transport.
//!
//! Every struct denies unknown keys. Credentials are `Secret`s: their `Debug` and `Serialize`
//! print `<redacted>`, so neither logs nor `hostwatt check-config` show them (the derived
//! `Debug` of every receiver relies on it). The delivery
//! settings (`min_severity`, `attempts`, `backoff`, `timeout`) are the same in every kind.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alerts::Severity;
use crate::parse::Interval;
use crate::parse::interval::ABOVE_ZERO;

pub use crate::secret::Secret;

/// One receiver: `[notify.<name>]` with `kind = "webhook" | "ntfy" | "gotify" | "email" |
/// "alertmanager"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Receiver {
    /// Generic webhook: POST of a JSON document.
    Webhook(Webhook),
    /// ntfy: POST to `<server>/<topic>`.
    Ntfy(Ntfy),
    /// Gotify: POST to `<server>/message`.
    Gotify(Gotify),
    /// Email over SMTP.
    Email(Email),
    /// Prometheus Alertmanager, v2 API.
    Alertmanager(Alertmanager),
}

impl Receiver {
    /// The `kind` label value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::Ntfy(_) => "ntfy",
            Self::Gotify(_) => "gotify",
            Self::Email(_) => "email",
            Self::Alertmanager(_) => "alertmanager",
        }
    }

    /// The delivery settings shared by every kind.
    pub fn delivery(&self) -> Delivery {
        match self {
            Self::Webhook(r) => r.delivery(),
            Self::Ntfy(r) => r.delivery(),
            Self::Gotify(r) => r.delivery(),
            Self::Email(r) => r.delivery(),
            Self::Alertmanager(r) => r.delivery(),
        }
    }

    /// Checks what serde cannot: URLs parse, addresses parse, credentials are not sent in
    /// clear. Returns the offending key (relative to the receiver's table) and a message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = |key: &'static str, text: &str| {
            let u = reqwest::Url::parse(text).map_err(|e| (key, format!("invalid URL: {e}")))?;
            match u.scheme() {
                "http" | "https" => Ok(()),
                other => Err((key, format!("expected an http or https URL, got {other}:"))),
            }
        };
        let d = self.delivery();
        if d.attempts == 0 {
            return Err(("attempts", "must be at least 1".into()));
        }
        match self {
            Self::Webhook(r) => {
                url("url", r.url.expose())?;
                for name in r.headers.keys() {
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| ("headers", format!("invalid header name {name:?}")))?;
                }
                Ok(())
            }
            Self::Ntfy(r) => {
                url("server", &r.server)?;
                if r.topic.expose().is_empty() || r.topic.expose().contains('/') {
                    return Err(("topic", "must be a non-empty name without '/'".into()));
                }
                Ok(())
            }
            Self::Gotify(r) => url("server", &r.server),
            Self::Alertmanager(r) => {
                url("url", &r.url)?;
                if let Some(g) = &r.generator_url {
                    url("generator_url", g)?;
                }
                Ok(())
            }
            Self::Email(r) => {
                let mailbox = |key: &'static str, text: &str| {
                    text.parse::<lettre::message::Mailbox>()
                        .map(drop)
                        .map_err(|e| (key, format!("invalid address {text:?}: {e}")))
                };
                mailbox("from", &r.from)?;
                if r.to.is_empty() {
                    return Err(("to", "needs at least one address".into()));
                }
                r.to.iter().try_for_each(|t| mailbox("to", t))?;
                if r.password.is_some() != r.username.is_some() {
                    return Err(("password", "username and password go together".into()));
                }
                if r.password.is_some() && !r.starttls {
                    return Err((
                        "starttls",
                        "a password would travel in clear text: keep starttls = true".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Delivery settings of one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Notifications of a lower severity are not sent (resolutions follow their alert).
    pub min_severity: Severity,
    /// Tries per notification, the first included.
    pub attempts: u32,
    /// Wait before the second try; it doubles after each failure.
    pub backoff: Duration,
    /// Time limit of one try (connect, send, response).
    pub timeout: Duration,
}

fn default_min_severity() -> Severity {
    Severity::Info
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> Interval<ABOVE_ZERO> {
    // 40s, 80s, 160s, 320s: the fifth and last try is about 10 minutes after the first.
    Interval::<ABOVE_ZERO>(Duration::from_secs(40))
}
fn default_timeout() -> Interval<ABOVE_ZERO> {
    Interval::<ABOVE_ZERO>(Duration::from_secs(10))
}
fn default_ntfy_server() -> String {
    "https://ntfy.sh".into()
}
fn default_smtp_port() -> u16 {
    587
}
fn default_true() -> bool {
    true
}
fn default_resend_interval() -> Interval<ABOVE_ZERO> {
    Interval::<ABOVE_ZERO>(Duration::from_secs(60))
}

/// Declares a receiver struct with the shared delivery fields appended, so every kind accepts
/// them under `deny_unknown_fields` (serde's `flatten` cannot be combined with it).
macro_rules! receiver {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($body)*
            /// Lowest severity delivered.
            #[serde(default = "default_min_severity")]
            pub min_severity: Severity,
            /// Tries per notification.
            #[serde(default = "default_attempts")]
            pub attempts: u32,
            /// First retry delay, doubled after each failure.
            #[serde(default = "default_backoff")]
            pub backoff: Interval<ABOVE_ZERO>,
            /// Time limit of one try.
            #[serde(default = "default_timeout")]
            pub timeout: Interval<ABOVE_ZERO>,
        }

        impl $name {
            /// The shared delivery settings.
            pub fn delivery(&self) -> Delivery {
                Delivery {
                    min_severity: self.min_severity,
                    attempts: self.attempts,
                    backoff: self.backoff.0,
                    timeout: self.timeout.0,
                }
            }
        }
    };
}

receiver!(
    /// `kind = "webhook"`.
    Webhook {
        /// Where the JSON is POSTed. A secret: chat webhooks carry their token in the URL.
        pub url: Secret,
        /// Extra request headers (`Authorization = "Bearer ..."`); values are secrets.
        #[serde(default)]
        pub headers: BTreeMap<String, Secret>,
    }
);

receiver!(
    /// `kind = "ntfy"`.
    Ntfy {
        /// The ntfy server.
        #[serde(default = "default_ntfy_server")]
        pub server: String,
        /// The topic; on a public server its name is the only protection, so it is a secret.
        pub topic: Secret,
        /// Access token, sent as `Authorization: Bearer`.
        #[serde(default)]
        pub token: Option<Secret>,
        /// Tags added to every message (emoji short codes such as `house` show as emoji).
        #[serde(default)]
        pub tags: Vec<String>,
    }
);

receiver!(
    /// `kind = "gotify"`.
    Gotify {
        /// The Gotify server.
        pub server: String,
        /// Application token.
        pub token: Secret,
    }
);

receiver!(
    /// `kind = "email"`.
    Email {
        /// SMTP server.
        pub host: String,
        /// SMTP port (587: submission with STARTTLS).
        #[serde(default = "default_smtp_port")]
        pub port: u16,
        /// Upgrade the connection with STARTTLS, and refuse to send when the server cannot.
        #[serde(default = "default_true")]
        pub starttls: bool,
        /// Login, if the server wants one.
        #[serde(default)]
        pub username: Option<String>,
        /// Password of `username`.
        #[serde(default)]
        pub password: Option<Secret>,
        /// Sender address (`hostwatt <hostwatt@example.org>`).
        pub from: String,
        /// Recipients.
        pub to: Vec<String>,
    }
);

receiver!(
    /// `kind = "alertmanager"`.
    Alertmanager {
        /// Base URL of Alertmanager (`http://127.0.0.1:9093`); alerts go to `/api/v2/alerts`.
        pub url: String,
        /// Firing alerts are sent again this often, as Prometheus does, so Alertmanager does
        /// not resolve them on its own once their `endsAt` passes.
        #[serde(default = "default_resend_interval")]
        pub resend_interval: Interval<ABOVE_ZERO>,
        /// `generatorURL` of every alert (a link back to this host's dashboard).
        #[serde(default)]
        pub generator_url: Option<String>,
    }
);
