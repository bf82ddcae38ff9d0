//! Runs collectors on their intervals, publishing whole snapshots, with self-metrics and logs
//! of transitions (never of repetitions).
//!
//! One shared collection thread (`worker`) keeps the schedule: every collector's due times are
//! multiples of its interval from one base, so collectors due together run together, as one
//! batch, in a fixed order, and the thread wakes once per due time whatever their number. The
//! runtime thread that serves HTTP and signals does not wake for rounds: it waits on a kernel
//! timer (the watchdog) that the worker arms at each batch's deadline and disarms when the batch
//! is done, so it wakes only for a batch that missed its deadline. A slow round never causes a
//! burst of catch-up rounds, and nothing wakes when nothing is due.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::collectors::{CollectError, Collector, Context, ErrorKind, Fault, Schedule};
use crate::host::ticker;
use crate::metrics::selfmon::SelfMetrics;

pub mod worker;

pub use worker::Slot;
use worker::Worker;

/// How long the daemon waits, on stop, for a collector's round in progress to end (the whole
/// stop, saves included, takes at most twice this). A collector stuck in a read past this loses
/// its last save (the previous periodic save stays on disk), and the daemon exits anyway.
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

/// The scheduler's task; it ends with what `stop` hands back.
pub type Task = JoinHandle<Stopped>;

/// Names of the collectors a reload keeps: on the next stop they do not `finish` (save state).
pub type Keep = Arc<Mutex<HashSet<String>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Unavailable,
    Failed(ErrorKind),
}

/// Drives one `Collector`.
pub struct Driver<C: Collector> {
    key: String,
    schedule: Schedule,
    collector: C,
    tx: watch::Sender<Option<Arc<C::Snapshot>>>,
    selfm: SelfMetrics,
    last: Option<Outcome>,
    faults: BTreeMap<String, ErrorKind>,
    item_log: ItemLog,
}

impl<C: Collector> Driver<C> {
    /// A driver running `collector` on `schedule`, publishing to `tx`; `key` identifies the
    /// config it was built from.
    pub fn new(
        key: String,
        schedule: Schedule,
        collector: C,
        tx: watch::Sender<Option<Arc<C::Snapshot>>>,
        selfm: SelfMetrics,
    ) -> Self {
        Self {
            key,
            schedule,
            collector,
            tx,
            selfm,
            last: None,
            faults: BTreeMap::new(),
            item_log: ItemLog::default(),
        }
    }

    fn log_transition(&self, now: Outcome, error: Option<&CollectError>) {
        let name = self.schedule.name;
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
        let name = self.schedule.name;
        let mut now = BTreeMap::new();
        for f in faults {
            let kind = f.error.kind();
            self.selfm
                .errors
                .with_label_values(&[name, kind.as_str()])
                .inc();
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
                    .remove_label_values(&[name, item, kind.as_str()]);
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
                .with_label_values(&[name, item, kind.as_str()])
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
        self.schedule.name
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
        self.schedule.every
    }

    fn round<'a>(
        &'a mut self,
        cx: &'a Context,
        at: Instant,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let name = self.schedule.name;
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
                    self.selfm
                        .errors
                        .with_label_values(&[name, e.kind().as_str()])
                        .inc();
                    let outcome = Outcome::Failed(e.kind());
                    self.log_transition(outcome, Some(&e));
                    outcome
                }
            };
            self.last = Some(outcome);
        })
    }
}

/// How the scheduler ends: the samplers handed back (kept ones as they were, the others after
/// saving their state), and the slots of collectors still stuck in a round, which the next
/// `spawn` gates the same collectors on so a reload never starts a second reader of a stuck file.
#[derive(Default)]
pub struct Stopped {
    /// Handed back, in scheduling order.
    pub samplers: Vec<Box<dyn Sampler>>,
    /// Still stuck at stop.
    pub stuck: Vec<Arc<Slot>>,
}

/// Where a collector's rounds go in a batch: file-reading collectors first, then the ones that
/// run commands or ask the network, then the ones derived from others (in this order).
fn rank(name: &str) -> usize {
    const COMMANDS: &[&str] = &["meters", "zfs", "smart"];
    const DERIVED: &[&str] = &["storage", "wall", "alerts", "advisor", "history"];
    if COMMANDS.contains(&name) {
        1
    } else {
        DERIVED.iter().position(|d| *d == name).map_or(0, |i| 2 + i)
    }
}

/// Spawns the scheduler: one shared collection thread (`worker`) keeps the schedule and runs
/// the due rounds, and one task on the runtime waits for its watchdog, which fires only when a
/// batch of rounds misses its deadline (the shortest interval among them): the round in
/// progress is then reported as a timeout and the schedule moves to a fresh thread. The task
/// ends when `shutdown` changes, handing the samplers back after they saved their state
/// (bounded by `STOP_GRACE`; not for the names in `keep` at that time, which a reload keeps
/// running). A collector with a slot in `before` (a previous `Stopped::stuck`) is skipped
/// until that slot's stuck round returns.
pub fn spawn(
    samplers: Vec<Box<dyn Sampler>>,
    cx: Context,
    shutdown: watch::Receiver<bool>,
    keep: Keep,
    before: Vec<Arc<Slot>>,
) -> Task {
    let mut samplers = samplers;
    samplers.sort_by_key(|s| rank(s.name()));
    let slots: Vec<Arc<Slot>> = samplers
        .into_iter()
        .map(|s| {
            let gate = before.iter().find(|b| b.name == s.name()).cloned();
            Arc::new(Slot::new(s, gate))
        })
        .collect();
    tokio::spawn(drive(slots, cx, shutdown, keep))
}

/// The runtime's side: wait for the watchdog (or the stop), retire a late worker.
async fn drive(
    slots: Vec<Arc<Slot>>,
    cx: Context,
    mut shutdown: watch::Receiver<bool>,
    keep: Keep,
) -> Stopped {
    let started = Instant::now();
    let watchdog = match ticker::Base::now().and_then(ticker::Alarm::new) {
        Ok(a) => worker::Watchdog::Alarm(a),
        Err(e) => {
            // not expected on Linux; the runtime then wakes every shortest interval
            tracing::warn!(error = %e, "no timerfd, checking the collection thread by polling");
            worker::Watchdog::Polling
        }
    };
    let shortest = slots
        .iter()
        .map(|s| s.every)
        .min()
        .unwrap_or(Duration::from_secs(60));
    let plan = Arc::new(worker::Plan::new(started, slots, watchdog));
    let mut worker = start_worker(&plan, Vec::new(), &cx, &shutdown);
    loop {
        let fired = async {
            match plan.watchdog() {
                worker::Watchdog::Alarm(a) => {
                    if let Err(e) = a.fired().await {
                        // a failed wait would spin
                        tracing::warn!(error = %e, "collection watchdog failed; polling instead");
                        tokio::time::sleep(shortest).await;
                    }
                }
                worker::Watchdog::Polling => tokio::time::sleep(shortest).await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = fired => {}
        }
        let now = plan.now();
        worker = match worker {
            Some(w) => match w.overdue(&plan, now) {
                Some(late) => {
                    if let Some(slot) = &late.slot {
                        slot.report().timeout(slot.every, late.stuck_on);
                    }
                    start_worker(&plan, w.retire(), &cx, &shutdown)
                }
                None => Some(w),
            },
            None => start_worker(&plan, Vec::new(), &cx, &shutdown),
        };
    }
    if let Some(w) = worker {
        w.retire();
    }
    let keep = keep
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    stop(plan.slots().to_vec(), &keep).await
}

fn start_worker(
    plan: &Arc<worker::Plan>,
    left: Vec<worker::Job>,
    cx: &Context,
    shutdown: &watch::Receiver<bool>,
) -> Option<Worker> {
    match Worker::start(plan.clone(), left, cx.clone(), shutdown.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the collection thread; trying again later");
            // the watchdog is what retries
            if let worker::Watchdog::Alarm(a) = plan.watchdog() {
                let _ = a.set(Some(plan.now() + Duration::from_secs(1)));
            }
            None
        }
    }
}

/// On shutdown: let each round in progress end (it is cancelled at its next await), then save
/// state, or hand the sampler back when kept, so that a stuck read or save never holds the
/// daemon's exit: each collector gets `STOP_GRACE` for its round to let go, and the whole stop
/// at most twice that. Each collector is released on a short-lived thread of its own, so one
/// stuck save does not hold the others'.
async fn stop(slots: Vec<Arc<Slot>>, keep: &HashSet<String>) -> Stopped {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let until = Instant::now() + STOP_GRACE;
    for (i, slot) in slots.iter().enumerate() {
        let name = slot.name;
        let slot = slot.clone();
        let kept = keep.contains(name);
        let tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("hostwatt-stop-{name}"))
            .spawn(move || {
                let sampler = loop {
                    match slot.try_take() {
                        Ok(s) => break s,
                        Err(()) if Instant::now() >= until => {
                            let _ = tx.send((i, None));
                            return;
                        }
                        // only at stop: the round in progress is cancelled at its next await
                        Err(()) => std::thread::sleep(Duration::from_millis(10)),
                    }
                };
                let sampler = sampler.map(|mut s| {
                    if !kept {
                        let result = worker::guarded(|| s.finish());
                        slot.report().returned(result);
                    }
                    s
                });
                let _ = tx.send((i, sampler));
            });
        if let Err(e) = spawned {
            tracing::warn!(collector = name, error = %e, "cannot start a thread to stop the collector; its state is not saved");
        }
    }
    drop(tx);
    let mut back: Vec<Option<Box<dyn Sampler>>> = (0..slots.len()).map(|_| None).collect();
    let _ = tokio::time::timeout(2 * STOP_GRACE, async {
        while let Some((i, s)) = rx.recv().await {
            back[i] = s;
        }
    })
    .await;
    let mut stopped = Stopped::default();
    for (slot, s) in slots.into_iter().zip(back) {
        match s {
            Some(s) => stopped.samplers.push(s),
            None => {
                tracing::warn!(
                    collector = slot.name,
                    "collector still stuck at stop; its state is not saved"
                );
                stopped.stuck.push(slot);
            }
        }
    }
    stopped
}

#[cfg(test)]
mod tests;
