//! Runs collectors: one background task per collector on its own interval, publishing whole
//! snapshots, with self-metrics and logs of transitions (never of repetitions). The rounds
//! themselves run on each collector's own thread (`worker`): the task only ticks, hands the
//! round over and waits for it, at most the collector's deadline.
//!
//! Every collector's ticks are aligned on one base instant, so collectors due together wake
//! together; `MissedTickBehavior::Skip` means a slow round never causes a burst of catch-up
//! rounds. Nothing wakes when nothing is due.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::collectors::{CollectError, Collector, Context, Fault};
use crate::host::ticker::{self, Ticker};
use crate::metrics::selfmon::SelfMetrics;

pub mod worker;

use worker::{Done, Report, Worker};

/// How long the daemon waits, on stop, for a round in progress to end and then for the
/// collector to save its state. A collector stuck in a read past this loses its last save
/// (the previous periodic save stays on disk), and the daemon exits anyway.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

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
    /// The self-metrics this sampler reports to.
    fn self_metrics(&self) -> SelfMetrics;
    /// What a reload carries over to the next `App`: always the snapshot channel (so derived
    /// collectors' subscriptions stay valid), and the collector itself, with its counters and
    /// schedule, when `keep`. A `Carried<C>`.
    fn carry(self: Box<Self>, keep: bool) -> Box<dyn Any + Send>;
}

/// One collector's part of the running app that a reload hands to the next one.
pub struct Carried<C: Collector> {
    /// The config key the collector was built from (see `app::keys`).
    pub key: String,
    /// The collector, when kept.
    pub collector: Option<C>,
    /// Its snapshot channel, with the last snapshot in it.
    pub tx: watch::Sender<Option<Arc<C::Snapshot>>>,
}

/// A collector's loop; it yields the sampler back when it stopped cleanly.
pub type Task = JoinHandle<Option<Box<dyn Sampler>>>;

/// Names of the collectors a reload keeps: on the next stop they do not `finish` (save state).
pub type Keep = Arc<Mutex<HashSet<String>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Unavailable,
    Failed(&'static str),
}

/// Drives one `Collector`.
pub struct Driver<C: Collector> {
    key: String,
    collector: C,
    tx: watch::Sender<Option<Arc<C::Snapshot>>>,
    selfm: SelfMetrics,
    last: Option<Outcome>,
    faults: BTreeMap<String, &'static str>,
    item_log: ItemLog,
}

impl<C: Collector> Driver<C> {
    /// A driver publishing to `tx`; `key` identifies the config it was built from.
    pub fn new(
        key: String,
        collector: C,
        tx: watch::Sender<Option<Arc<C::Snapshot>>>,
        selfm: SelfMetrics,
    ) -> Self {
        Self {
            key,
            collector,
            tx,
            selfm,
            last: None,
            faults: BTreeMap::new(),
            item_log: ItemLog::default(),
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

    fn update_faults(&mut self, faults: Vec<Fault>, at: Instant) {
        let name = C::NAME;
        let mut now = BTreeMap::new();
        for f in faults {
            let kind = f.error.kind();
            self.selfm.errors.with_label_values(&[name, kind]).inc();
            match self.faults.get(&f.item) {
                Some(k) if *k == kind => {
                    tracing::debug!(collector = name, item = %f.item, error = %f.error, "item failed again")
                }
                _ => match self.item_log.note(&f.item, at) {
                    Some(0) => {
                        tracing::warn!(collector = name, item = %f.item, error = %f.error, "item failed")
                    }
                    Some(n) => {
                        tracing::warn!(collector = name, item = %f.item, error = %f.error, unlogged_changes = n, "item failed")
                    }
                    None => {
                        tracing::debug!(collector = name, item = %f.item, error = %f.error, "item failed (flapping, not logged above debug)")
                    }
                },
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
                match self.item_log.note(item, at) {
                    Some(_) => tracing::info!(collector = name, item = %item, "item recovered"),
                    None => {
                        tracing::debug!(collector = name, item = %item, "item recovered (flapping)")
                    }
                }
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

/// How long after a logged change of an item its further changes go to debug only: a sensor
/// flapping between failing and fine every round logged 190 lines in 40 s.
pub const ITEM_LOG_QUIET: Duration = Duration::from_secs(600);

/// Per-item rate limit of change logs (failed, recovered): the first change is logged, then at
/// most one per `ITEM_LOG_QUIET`, with the count of the changes not logged in between. The
/// metrics (`item_failing`, `errors_total`) still show every change.
#[derive(Debug, Default)]
pub struct ItemLog(BTreeMap<String, (Instant, u32)>);

impl ItemLog {
    /// A change of `item` at `at`: `Some(changes not logged since the last logged one)` when
    /// this one is to be logged, `None` when it is to stay quiet.
    pub fn note(&mut self, item: &str, at: Instant) -> Option<u32> {
        match self.0.get_mut(item) {
            Some((last, quiet)) if at.saturating_duration_since(*last) < ITEM_LOG_QUIET => {
                *quiet += 1;
                None
            }
            Some((last, quiet)) => {
                *last = at;
                Some(std::mem::take(quiet))
            }
            None => {
                self.0.insert(item.to_owned(), (at, 0));
                Some(0)
            }
        }
    }
}

impl<C: Collector> Sampler for Driver<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn finish(&mut self) {
        self.collector.finish();
    }

    fn self_metrics(&self) -> SelfMetrics {
        self.selfm.clone()
    }

    fn carry(self: Box<Self>, keep: bool) -> Box<dyn Any + Send> {
        Box::new(Carried {
            key: self.key,
            collector: keep.then_some(self.collector),
            tx: self.tx,
        })
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
                    self.update_faults(sample.faults, at);
                    self.log_transition(Outcome::Ok, None);
                    Outcome::Ok
                }
                Err(e @ CollectError::Unavailable(_)) => {
                    // Normal on this host (no RAPL on a VM): a successful round with nothing to show.
                    self.selfm.success.with_label_values(&[name]).set(1);
                    self.selfm.available.with_label_values(&[name]).set(0);
                    self.tx.send_replace(None);
                    self.update_faults(Vec::new(), at);
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

/// Spawns one task per sampler, each with the sampler on a thread of its own; each task ends
/// when `shutdown` changes, handing the sampler back after it saved its state (bounded by
/// `STOP_GRACE`; not for the names in `keep` at that time, which a reload keeps running). A round may take at most the
/// collector's interval: past that it is reported as a timeout.
pub fn spawn(
    samplers: Vec<Box<dyn Sampler>>,
    cx: Context,
    shutdown: watch::Receiver<bool>,
    keep: Keep,
) -> Vec<Task> {
    let base = ticker::Base::now();
    let tokio_base = tokio::time::Instant::now();
    samplers
        .into_iter()
        .filter_map(|s| {
            let name = s.name();
            let every = s.interval();
            let report = Report::new(name, s.self_metrics());
            let worker = match Worker::start(s, cx.clone(), shutdown.clone()) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(collector = name, error = %e, "cannot start the collector's thread");
                    return None;
                }
            };
            let timerfd = base.as_ref().map_err(|e| e.kind().into()).and_then(|b| Ticker::new(*b, every));
            let clock = match timerfd {
                Ok(t) => Clock::Timerfd(t, every),
                Err(e) => {
                    // not expected on Linux; the tokio timer works, at three wake-ups a tick
                    tracing::warn!(collector = name, error = %e, "no timerfd, using tokio's timer");
                    let mut i = tokio::time::interval_at(tokio_base, every);
                    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    Clock::Tokio(i)
                }
            };
            let keep = keep.clone();
            Some(tokio::spawn(drive(worker, report, clock, every, shutdown.clone(), keep)))
        })
        .collect()
}

/// One collector's loop: tick, hand a round to the worker, wait for it up to `deadline`.
async fn drive(
    mut worker: Worker,
    mut report: Report,
    mut clock: Clock,
    deadline: Duration,
    mut shutdown: watch::Receiver<bool>,
    keep: Keep,
) -> Option<Box<dyn Sampler>> {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            // a timed-out round came back late: the next tick starts a fresh one
            done = worker.answer(), if worker.busy => {
                if !settle(&mut report, done) {
                    return None;
                }
            }
            _ = clock.tick() => {
                if worker.busy {
                    report.skipped();
                    continue;
                }
                worker.round(Instant::now());
                tokio::select! {
                    _ = shutdown.changed() => break,
                    done = worker.answer() => {
                        if !settle(&mut report, done) {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep(deadline) => report.timeout(deadline, worker.stuck_on()),
                }
            }
        }
    }
    let kept = keep
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(worker.name());
    stop(worker, report, kept).await
}

/// Records a worker's answer; false if the worker is gone.
fn settle(report: &mut Report, done: Option<Done>) -> bool {
    match done {
        Some(Done::Round(result) | Done::Released(_, result)) => {
            report.returned(result);
            true
        }
        None => {
            report.gone();
            false
        }
    }
}

/// On shutdown: let the round in progress end (it is cancelled at its next await), then save
/// state, or hand the sampler back when `kept`, each bounded by `STOP_GRACE`, so a stuck read
/// never holds the daemon's exit.
async fn stop(mut worker: Worker, mut report: Report, kept: bool) -> Option<Box<dyn Sampler>> {
    let name = worker.name();
    if worker.busy {
        match worker.answer_within(STOP_GRACE).await {
            Some(done) => {
                settle(&mut report, Some(done));
            }
            None => {
                tracing::warn!(collector = name, stuck_on = ?worker.stuck_on(), "collector still stuck at stop; its state is not saved");
                return None;
            }
        }
    }
    worker.release(!kept);
    match worker.answer_within(STOP_GRACE).await {
        Some(Done::Released(sampler, result)) => {
            report.returned(result);
            tracing::debug!(collector = name, kept, "collector stopped");
            Some(sampler)
        }
        _ => {
            tracing::warn!(collector = name, stuck_on = ?worker.stuck_on(), "collector's state save did not finish in time");
            None
        }
    }
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

#[cfg(test)]
mod tests;
