//! Notification delivery: the receivers of `[notify.<name>]` and the dispatcher that feeds them.
//!
//! The alert engine hands `alerts::Notification`s to a `Notifier`, which never waits: a full
//! queue drops the notification and counts it (`hostwatt_notify_queue_dropped_total`). The
//! dispatcher task copies each notification to one queue per receiver whose `min_severity` it
//! meets; each receiver has its own task, so a slow or dead receiver delays only itself.
//! A failed try is retried after `backoff`, doubling, up to `attempts` tries; an error that
//! would repeat (HTTP 4xx other than 408/429, a permanent SMTP reply) is not retried.
//!
//! Receivers and what they send (`sink` builds every body):
//! - `webhook`: `POST <url>`, `Content-Type: application/json`, configured `headers`, body
//!   `{"version": "1", "receiver": "<name>", "hostname": "<host>", "reason": "firing" |
//!   "repeat" | "resolved", "alert": {"name", "severity": "info" | "warning" | "critical",
//!   "labels": {..}, "summary", "description", "state": "pending" | "firing" | "resolved",
//!   "value", "active_since" (Unix seconds), "resolved_at" (Unix seconds or null)}}`.
//! - `ntfy` (<https://docs.ntfy.sh/publish/>): `POST <server>/<topic>`, body = the summary,
//!   headers `Title: [FIRING] <alert> on <host>`, `Priority` (info 3, warning 4, critical 5,
//!   resolved 2), `Tags` (an emoji by severity, the alert name, configured tags) and
//!   `Authorization: Bearer <token>` when a token is set.
//! - `gotify`: `POST <server>/message?token=<token>` with `{"title", "message", "priority"}`
//!   (info 4, warning 6, critical 8, resolved 2).
//! - `email`: SMTP (lettre), STARTTLS required unless `starttls = false`; a plain-text mail.
//! - `alertmanager`: `POST <url>/api/v2/alerts` with `[{labels: {alertname, severity,
//!   instance = <host>, ..alert labels}, annotations: {summary, description}, startsAt, endsAt,
//!   generatorURL}]`, as Prometheus does, so Alertmanager's routing, grouping, inhibition and
//!   silences apply. While an alert fires, every firing alert is re-sent each
//!   `resend_interval` (default 1m) with `endsAt` 4 intervals ahead: if hostwatt stops,
//!   Alertmanager resolves them by itself. A resolution is sent with `endsAt` = when it
//!   resolved. With nothing firing, no timer runs.
//!
//! Metrics (owned instruments; their cardinality is the configured receivers):
//! `hostwatt_notify_sent_total`, `hostwatt_notify_failed_total` (failed tries),
//! `hostwatt_notify_receiver_up` (last try succeeded; no series before the first try) and
//! `hostwatt_notify_queue_dropped_total`.

pub mod config;
pub mod sink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use self::config::{Delivery, Receiver, Secret};
use self::sink::Sink;
use crate::alerts::Notification;
use crate::metrics::Family;

/// Notifications waiting for the dispatcher; the engine sends a handful per state change.
const INBOX: usize = 256;
/// Notifications waiting for one receiver (a receiver in its retry wait holds up only these).
const QUEUE: usize = 64;

const SENT: Family = Family::counter(
    "hostwatt_notify_sent_total",
    "Notifications a receiver accepted",
    &["receiver", "kind"],
);
const FAILED: Family = Family::counter(
    "hostwatt_notify_failed_total",
    "Failed delivery tries (each retry counts), by receiver",
    &["receiver", "kind"],
);
const UP: Family = Family::gauge(
    "hostwatt_notify_receiver_up",
    "1 if the receiver's last delivery try succeeded, 0 if it failed",
    &["receiver", "kind"],
);
const DROPPED: Family = Family::counter(
    "hostwatt_notify_queue_dropped_total",
    "Notifications dropped because a delivery queue was full",
    &[],
);

/// Families of the notification metrics, for `--list-metrics`.
pub const FAMILIES: &[&Family] = &[&SENT, &FAILED, &UP, &DROPPED];

/// The owned delivery instruments.
#[derive(Clone)]
struct Metrics {
    sent: IntCounterVec,
    failed: IntCounterVec,
    up: IntGaugeVec,
    dropped: IntCounter,
}

impl Metrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let opts = |f: &Family| Opts::new(f.name, f.help);
        let m = Self {
            sent: IntCounterVec::new(opts(&SENT), SENT.labels)?,
            failed: IntCounterVec::new(opts(&FAILED), FAILED.labels)?,
            up: IntGaugeVec::new(opts(&UP), UP.labels)?,
            dropped: IntCounter::with_opts(opts(&DROPPED))?,
        };
        registry.register(Box::new(m.sent.clone()))?;
        registry.register(Box::new(m.failed.clone()))?;
        registry.register(Box::new(m.up.clone()))?;
        registry.register(Box::new(m.dropped.clone()))?;
        Ok(m)
    }
}

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The metrics clash with ones already in the registry (a bug).
    #[error("registering notification metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTTP client (TLS setup) could not be built.
    #[error("{0}")]
    Http(String),
    /// An email receiver's SMTP transport could not be built.
    #[error("receiver {receiver}: {source}")]
    Smtp {
        /// The receiver's name.
        receiver: String,
        /// What failed.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// The sending side, for the alert engine: cheap to clone, never waits.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Notification>,
    dropped: IntCounter,
}

impl Notifier {
    /// Queues `n` for delivery without waiting. `false` when the queue is full or the
    /// dispatcher has stopped; the drop is counted and logged.
    pub fn notify(&self, n: Notification) -> bool {
        match self.tx.try_send(n) {
            Ok(()) => true,
            Err(e) => {
                self.dropped.inc();
                let n = match &e {
                    mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n,
                };
                tracing::warn!(alert = %n.alert.fingerprint(), "notification queue full; notification dropped");
                false
            }
        }
    }

    /// The raw channel, for a caller that does its own `try_send` (and its own drop count).
    pub fn sender(&self) -> mpsc::Sender<Notification> {
        self.tx.clone()
    }
}

/// Starts the dispatcher and one task per receiver. It runs until `shutdown` turns true (a
/// retry wait or a hanging request is abandoned) or until every `Notifier` is dropped (then
/// the queued notifications are delivered first, retries included). The handle ends after
/// every receiver task has ended.
pub fn spawn(
    receivers: &BTreeMap<String, Receiver>,
    hostname: &str,
    registry: &Registry,
    shutdown: watch::Receiver<bool>,
) -> Result<(Notifier, JoinHandle<()>), SpawnError> {
    let (tx, inbox) = inbox();
    let (handle, dropped) = start(receivers, hostname, registry, shutdown, inbox)?;
    Ok((Notifier { tx, dropped }, handle))
}

/// The queue between the alert engine and the dispatcher: the engine gets the sender before it
/// exists (it is built with the app whose registry the dispatcher's metrics join).
pub fn inbox() -> (mpsc::Sender<Notification>, mpsc::Receiver<Notification>) {
    mpsc::channel(INBOX)
}

/// As `spawn`, reading notifications from `inbox` (see `inbox`); the sender side counts its own
/// drops.
pub fn spawn_with_inbox(
    receivers: &BTreeMap<String, Receiver>,
    hostname: &str,
    registry: &Registry,
    shutdown: watch::Receiver<bool>,
    inbox: mpsc::Receiver<Notification>,
) -> Result<JoinHandle<()>, SpawnError> {
    start(receivers, hostname, registry, shutdown, inbox).map(|(h, _)| h)
}

fn start(
    receivers: &BTreeMap<String, Receiver>,
    hostname: &str,
    registry: &Registry,
    shutdown: watch::Receiver<bool>,
    rx: mpsc::Receiver<Notification>,
) -> Result<(JoinHandle<()>, IntCounter), SpawnError> {
    let metrics = Metrics::register(registry)?;
    // built on first use: loading the system trust store costs memory a daemon with no
    // receivers should not pay
    let mut http: Option<reqwest::Client> = None;
    let mut routes = Vec::new();
    let mut workers = Vec::new();
    for (name, receiver) in receivers {
        let client = match &http {
            Some(c) => c.clone(),
            None => http
                .insert(sink::http_client().map_err(SpawnError::Http)?)
                .clone(),
        };
        let sink = Sink::new(receiver, &client, hostname).map_err(|source| SpawnError::Smtp {
            receiver: name.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let worker = Worker {
            name: name.clone(),
            kind: receiver.kind(),
            hostname: hostname.to_owned(),
            delivery: receiver.delivery(),
            sink,
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            ok: None,
        };
        // Known receivers show 0 sent / 0 failed from the start; `up` stays unknown.
        worker.touch(&metrics.sent);
        worker.touch(&metrics.failed);
        routes.push((name.clone(), receiver.delivery().min_severity, tx));
        workers.push(tokio::spawn(worker.run(rx)));
    }
    let dropped = metrics.dropped.clone();
    let handle = tokio::spawn(async move {
        dispatch(rx, routes, dropped, shutdown).await;
        for w in workers {
            let _ = w.await;
        }
    });
    Ok((handle, metrics.dropped))
}

/// The host's name for titles and the `instance` label: `proc/sys/kernel/hostname` under
/// `root`, else `localhost`.
pub fn hostname(root: &crate::host::root::Root) -> String {
    root.read_trimmed("proc/sys/kernel/hostname")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

type Route = (String, crate::alerts::Severity, mpsc::Sender<Notification>);

async fn dispatch(
    mut rx: mpsc::Receiver<Notification>,
    routes: Vec<Route>,
    dropped: IntCounter,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let n = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            n = rx.recv() => match n {
                Some(n) => n,
                None => return, // every Notifier dropped: the routes drop, receivers drain
            },
        };
        for (name, min, tx) in &routes {
            if n.alert.severity < *min {
                continue;
            }
            if tx.try_send(n.clone()).is_err() {
                dropped.inc();
                tracing::warn!(receiver = %name, alert = %n.alert.fingerprint(), "receiver queue full; notification dropped");
            }
        }
    }
}

/// One receiver's task: its queue, its retries, its metrics.
struct Worker {
    name: String,
    kind: &'static str,
    hostname: String,
    delivery: Delivery,
    sink: Sink,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    /// Outcome of the last try, for logging transitions only.
    ok: Option<bool>,
}

impl Worker {
    /// Creates this receiver's series of `vec` at 0.
    fn touch(&self, vec: &IntCounterVec) {
        vec.with_label_values(&[self.name.as_str(), self.kind]);
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Notification>) {
        let mut shutdown = self.shutdown.clone();
        let mut next_resend: Option<Instant> = None;
        loop {
            // Due one interval after the first firing alert, then every interval; gone (no
            // timer at all) while nothing fires.
            next_resend = match (self.sink.resend_interval(), next_resend) {
                (None, _) => None,
                (Some(every), None) => Some(Instant::now() + every),
                (Some(_), due) => due,
            };
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                n = rx.recv() => match n {
                    Some(n) => {
                        self.sink.track(&n);
                        if !self.deliver(&n).await {
                            return;
                        }
                    }
                    None => return,
                },
                // Only Alertmanager has a resend, and only while something fires. A resend
                // is not retried: the next one comes an interval later anyway.
                _ = tokio::time::sleep_until(next_resend.unwrap_or_else(Instant::now)), if next_resend.is_some() => {
                    next_resend = self.sink.resend_interval().map(|every| Instant::now() + every);
                    let outcome = self.sink.resend(&self.hostname, self.delivery.timeout).await;
                    self.record(outcome.map_err(|e| (e, false)));
                }
            }
        }
    }

    /// Tries `n` until it is accepted, fails for good, or runs out of attempts. `false` when
    /// shutdown came during a wait.
    async fn deliver(&mut self, n: &Notification) -> bool {
        let mut wait = self.delivery.backoff;
        let mut shutdown = self.shutdown.clone();
        for attempt in 1..=self.delivery.attempts {
            let outcome = tokio::select! {
                _ = stopped(&mut shutdown) => return false,
                r = self.sink.deliver(n, &self.name, &self.hostname, self.delivery.timeout) => r,
            };
            let retry = match outcome {
                Ok(()) => {
                    self.record(Ok(()));
                    return true;
                }
                Err(e) => {
                    let retry = e.retryable() && attempt < self.delivery.attempts;
                    if !retry {
                        tracing::warn!(receiver = %self.name, kind = self.kind, alert = %n.alert.fingerprint(),
                            attempt, error = %e, "notification not delivered; giving up");
                    }
                    self.record(Err((e, retry)));
                    retry
                }
            };
            if !retry {
                return true;
            }
            tokio::select! {
                _ = stopped(&mut shutdown) => return false,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = wait.saturating_mul(2);
        }
        true
    }

    /// Counts one try and logs the ok ↔ failing transitions (repeats only at debug).
    fn record(&mut self, outcome: Result<(), (sink::DeliveryError, bool)>) {
        let labels = [self.name.as_str(), self.kind];
        let ok = outcome.is_ok();
        match &outcome {
            Ok(()) => self.metrics.sent.with_label_values(&labels).inc(),
            Err(_) => self.metrics.failed.with_label_values(&labels).inc(),
        }
        self.metrics
            .up
            .with_label_values(&labels)
            .set(i64::from(ok));
        match (&outcome, self.ok) {
            (Ok(()), Some(false)) => {
                tracing::info!(receiver = %self.name, kind = self.kind, "receiver recovered")
            }
            (Err((e, retry)), Some(true) | None) => {
                tracing::warn!(receiver = %self.name, kind = self.kind, error = %e, error_kind = e.kind(), will_retry = retry, "receiver failed")
            }
            (Err((e, retry)), Some(false)) => {
                tracing::debug!(receiver = %self.name, kind = self.kind, error = %e, will_retry = retry, "receiver still failing")
            }
            (Ok(()), _) => {}
        }
        self.ok = Some(ok);
    }
}
