//! The status page (`GET /`) and the JSON API under `/api/v1/` that it polls.

use axum::Router;
use tokio::sync::watch;

use crate::alerts::task::Snapshot as Alerts;
use crate::app::{Latest, Registration};
use crate::config::Config;
use crate::history::History;
use crate::history::record::{self, Recorder};
use crate::server::Served;

/// What the page and the API read: the latest snapshots, the alerts, the history store.
#[derive(Clone, Default)]
pub struct Sources {
    /// Wall, SMART, ZFS and cpuidle snapshots.
    pub latest: record::Sources,
    /// The alert engine's evaluations, when alerts are enabled.
    pub alerts: Option<Latest<Alerts>>,
    /// The history store, when history is on.
    pub history: Option<History>,
}

impl Sources {
    /// Subscribes to the collectors already in `reg` and, when history is on (and the config
    /// keeps state), opens the store and adds its recorder. Keep it after the collectors.
    pub fn register(
        cfg: &Config,
        reg: &mut Registration,
        alerts: Option<Latest<Alerts>>,
    ) -> prometheus::Result<Self> {
        let latest = record::Sources {
            wall: reg.subscribe(),
            smart: reg.subscribe(),
            zfs: reg.subscribe(),
            cpuidle: reg.subscribe(),
        };
        let history = (cfg.history.enabled && cfg.persist).then(|| {
            History::open(
                &cfg.state_dir,
                cfg.history.max_size_mb.saturating_mul(1_000_000),
            )
        });
        if let Some(h) = &history {
            reg.add(Recorder::new(&cfg.history, h.clone(), latest.clone()))?;
        }
        Ok(Self {
            latest,
            alerts,
            history,
        })
    }
}

/// The page's and the API's routes.
pub fn routes() -> Router<watch::Receiver<Served>> {
    Router::new()
}
