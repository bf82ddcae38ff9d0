//! Alerts: the shared model of an alert and its notifications.
//!
//! The engine (rules evaluated over the gathered metric families, states pending → firing →
//! resolved) and the receivers (`crate::notify`) both speak these types, so neither depends on
//! the other's internals.
//!
//! - `rules`: the built-in rules as data, and the `[alerts]` config that overrides them.
//! - `eval`: pure evaluation of a rule over gathered metric families.
//! - `book`: the pure state machine `advance` over the book of tracked alerts (pending →
//!   firing → resolved, repeats).
//! - `engine`: the `Engine` as a background collector: notifications,
//!   persistence, metrics.
//! - `promql`: the same rules as a Prometheus alerting-rules file (`hostwatt rules`).
//! - `client`: `hostwatt alerts`, reading `/api/alerts` of a running daemon.

pub mod book;
pub mod builtin;
pub mod client;
pub mod engine;
pub mod eval;
pub mod promql;
pub mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The body of `GET /api/alerts`, which `hostwatt alerts` reads back.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertsBody {
    /// Whether the daemon evaluates alert rules at all.
    pub enabled: bool,
    /// Unix time of the last evaluation (absent before the first).
    pub evaluated_at: Option<f64>,
    /// Firing, pending and recently resolved alerts, firing first.
    pub alerts: Vec<Alert>,
}

impl AlertsBody {
    /// The body for the engine's latest evaluation; `None`: alerts are off in this daemon.
    pub fn of(latest: Option<&crate::metrics::Latest<engine::Snapshot>>) -> Self {
        let snapshot = latest.and_then(|rx| rx.borrow().clone());
        Self {
            enabled: latest.is_some(),
            evaluated_at: snapshot.as_ref().map(|s| s.evaluated_at),
            alerts: snapshot.map(|s| s.alerts.clone()).unwrap_or_default(),
        }
    }
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The condition holds, but not yet for the rule's `for` duration.
    Pending,
    /// The condition has held for `for`.
    Firing,
    /// It fired and the condition has cleared (past the hysteresis).
    Resolved,
}

/// One alert instance: a rule plus the labels of the series that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Rule name, `alertname` in Prometheus terms (`PoolCapacityHigh`).
    pub name: String,
    /// Severity of the rule.
    pub severity: Severity,
    /// Identifying labels (`pool`, `disk`, `sensor`, ...), without `alertname`/`severity`.
    pub labels: BTreeMap<String, String>,
    /// One-line human summary, values filled in ("pool tank is 86 % full").
    pub summary: String,
    /// Longer explanation and what to do.
    pub description: String,
    /// Current state.
    pub state: State,
    /// The value that made it fire (or its last value).
    pub value: f64,
    /// Unix seconds when the condition started to hold.
    pub active_since: f64,
    /// Unix seconds when it resolved.
    pub resolved_at: Option<f64>,
}

impl Alert {
    /// A stable key: name plus labels, for deduplication and persistence.
    pub fn fingerprint(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// What a receiver is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The alert, as of this notification.
    pub alert: Alert,
    /// Why it is sent now.
    pub reason: Reason,
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// It started firing.
    Firing,
    /// Still firing after the repeat interval.
    Repeat,
    /// It resolved.
    Resolved,
}
