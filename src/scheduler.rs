//! Runs collectors: one background task per collector on its own interval, publishing whole
//! snapshots, with self-metrics and logs of transitions (never of repetitions).
//!
//! Every collector's ticks are aligned on one base instant, so collectors due together wake
//! together; `MissedTickBehavior::Skip` means a slow round never causes a burst of catch-up
//! rounds. Nothing wakes when nothing is due.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::collectors::{CollectError, Collector, Context, Fault};
use crate::host::ticker::{self, Ticker};
use crate::metrics::selfmon::SelfMetrics;

/// A type-erased collector plus its publishing end.
pub trait Sampler: Send {
    /// Collector name.
    fn name(&self) -> &'static str;
    /// Sampling interval.
    fn interval(&self) -> Duration;
    /// One round: sample, publish, update self-metrics, log transitions.
    fn round<'a>(
        &'a mut self,
        cx: &'a Context,
        at: Instant,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    /// The daemon is stopping: save what must survive a restart.
    fn finish(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Unavailable,
    Failed(&'static str),
}

/// Drives one `Collector`.
pub struct Driver<C: Collector> {
    collector: C,
    tx: watch::Sender<Option<Arc<C::Snapshot>>>,
    selfm: SelfMetrics,
    last: Option<Outcome>,
    faults: BTreeMap<String, &'static str>,
}

impl<C: Collector> Driver<C> {
    /// A driver publishing to `tx`.
    pub fn new(
        collector: C,
        tx: watch::Sender<Option<Arc<C::Snapshot>>>,
        selfm: SelfMetrics,
    ) -> Self {
        Self {
            collector,
            tx,
            selfm,
            last: None,
            faults: BTreeMap::new(),
        }
    }

    fn log_transition(&self, now: Outcome, error: Option<&CollectError>) {
        let name = C::NAME;
        match (self.last, now, error) {
            (prev, Outcome::Failed(_), Some(e))
                if prev.is_none()
                    || prev == Some(Outcome::Ok)
                    || prev == Some(Outcome::Unavailable) =>
            {
                tracing::warn!(collector = name, error = %e, "collector failed")
            }
            (Some(Outcome::Failed(a)), Outcome::Failed(b), Some(e)) if a != b => {
                tracing::warn!(collector = name, error = %e, "collector error changed")
            }
            (Some(Outcome::Failed(_)), Outcome::Ok, _) => {
                tracing::info!(collector = name, "collector recovered")
            }
            (prev, Outcome::Unavailable, Some(e)) if prev != Some(Outcome::Unavailable) => {
                tracing::info!(collector = name, error = %e, "data source not present on this host")
            }
            (_, _, Some(e)) => {
                tracing::debug!(collector = name, error = %e, "collector failed again")
            }
            _ => tracing::debug!(collector = name, "round done"),
        }
    }

    fn update_faults(&mut self, faults: Vec<Fault>) {
        let name = C::NAME;
        let mut now = BTreeMap::new();
        for f in faults {
            let kind = f.error.kind();
            self.selfm.errors.with_label_values(&[name, kind]).inc();
            match self.faults.get(&f.item) {
                Some(k) if *k == kind => {
                    tracing::debug!(collector = name, item = %f.item, error = %f.error, "item failed again")
                }
                _ => {
                    tracing::warn!(collector = name, item = %f.item, error = %f.error, "item failed")
                }
            }
            now.insert(f.item, kind);
        }
        for (item, kind) in &self.faults {
            if now.get(item) != Some(kind) {
                let _ = self
                    .selfm
                    .item_failing
                    .remove_label_values(&[name, item, kind]);
            }
            if !now.contains_key(item) {
                tracing::info!(collector = name, item = %item, "item recovered");
            }
        }
        for (item, kind) in &now {
            self.selfm
                .item_failing
                .with_label_values(&[name, item, kind])
                .set(1);
        }
        self.faults = now;
    }
}

impl<C: Collector> Sampler for Driver<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn finish(&mut self) {
        self.collector.finish();
    }

    fn interval(&self) -> Duration {
        self.collector.interval()
    }

    fn round<'a>(
        &'a mut self,
        cx: &'a Context,
        at: Instant,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let name = C::NAME;
            let started = Instant::now();
            let result = self.collector.sample(cx, at).await;
            self.selfm
                .duration
                .with_label_values(&[name])
                .set(started.elapsed().as_secs_f64());
            let outcome = match result {
                Ok(sample) => {
                    self.selfm.success.with_label_values(&[name]).set(1);
                    self.selfm.available.with_label_values(&[name]).set(1);
                    let unix = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    self.selfm
                        .last_success
                        .with_label_values(&[name])
                        .set(unix.as_secs_f64());
                    self.tx.send_replace(Some(Arc::new(sample.snapshot)));
                    self.update_faults(sample.faults);
                    self.log_transition(Outcome::Ok, None);
                    Outcome::Ok
                }
                Err(e @ CollectError::Unavailable(_)) => {
                    // Normal on this host (no RAPL on a VM): a successful round with nothing to show.
                    self.selfm.success.with_label_values(&[name]).set(1);
                    self.selfm.available.with_label_values(&[name]).set(0);
                    self.tx.send_replace(None);
                    self.update_faults(Vec::new());
                    self.log_transition(Outcome::Unavailable, Some(&e));
                    Outcome::Unavailable
                }
                Err(e) => {
                    // keep the last good snapshot: its data is still the best we have
                    self.selfm.success.with_label_values(&[name]).set(0);
                    self.selfm.available.with_label_values(&[name]).set(1);
                    self.selfm.errors.with_label_values(&[name, e.kind()]).inc();
                    let outcome = Outcome::Failed(e.kind());
                    self.log_transition(outcome, Some(&e));
                    outcome
                }
            };
            self.last = Some(outcome);
        })
    }
}

/// Spawns one task per sampler; each ends when `shutdown` changes. A round in progress is
/// dropped on shutdown, which kills any child process it is waiting on.
pub fn spawn(
    samplers: Vec<Box<dyn Sampler>>,
    cx: Context,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let base = ticker::Base::now();
    let tokio_base = tokio::time::Instant::now();
    samplers
        .into_iter()
        .map(|mut s| {
            let cx = cx.clone();
            let mut shutdown = shutdown.clone();
            let every = s.interval();
            let timerfd = base.as_ref().map_err(|e| e.kind().into()).and_then(|b| Ticker::new(*b, every));
            let mut clock = match timerfd {
                Ok(t) => Clock::Timerfd(t, every),
                Err(e) => {
                    // not expected on Linux; the tokio timer works, at three wake-ups a tick
                    tracing::warn!(collector = s.name(), error = %e, "no timerfd, using tokio's timer");
                    let mut i = tokio::time::interval_at(tokio_base, every);
                    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    Clock::Tokio(i)
                }
            };
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = clock.tick() => {}
                        _ = shutdown.changed() => break,
                    }
                    tokio::select! {
                        _ = s.round(&cx, Instant::now()) => {}
                        _ = shutdown.changed() => break,
                    }
                }
                s.finish();
                tracing::debug!(collector = s.name(), "collector stopped");
            })
        })
        .collect()
}

/// What a collector's loop waits on.
enum Clock {
    Timerfd(Ticker, Duration),
    Tokio(tokio::time::Interval),
}

impl Clock {
    async fn tick(&mut self) {
        match self {
            // a failed read would spin; fall back to tokio's timer for good
            Self::Timerfd(t, every) => {
                if let Err(e) = t.tick().await {
                    tracing::warn!(error = %e, "timerfd read failed, using tokio's timer");
                    let mut i = tokio::time::interval(*every);
                    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    *self = Self::Tokio(i);
                }
            }
            Self::Tokio(i) => {
                i.tick().await;
            }
        }
    }
}
