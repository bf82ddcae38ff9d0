//! One shared collection thread runs every due round of a tick, one after the other, so a round
//! costs no thread wake-up of its own: the runtime thread hands the batch over and goes back to
//! sleep, and the worker wakes once per batch. A read that blocks (a FIFO in place of a sysfs
//! attribute, a sensor on a hung I2C bus, an fsync that takes seconds) holds up this worker only:
//! never the runtime thread that serves HTTP and signals. At its next tick the runtime sees the
//! round past its deadline, reports it, retires the worker (it ends once that read returns,
//! taking no more work) and hands the other rounds to a fresh worker.
//!
//! Each collector sits behind its own lock, held only during its round, so a collector whose
//! round is stuck on a retired worker is skipped (the lock is taken) until its read returns: a
//! stuck reader is never joined by a second one for the same file.
//!
//! A round's future runs through `Handle::block_on`: its blocking reads block this thread, while
//! its async parts (child processes, timeouts, HTTP) are driven by the runtime as before.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Sampler;
use crate::collectors::Context;
use crate::host::root::ReadWatch;
use crate::metrics::selfmon::SelfMetrics;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One collector as the scheduler holds it: its sampler behind the lock a round holds, and what
/// is reported about it.
pub struct Slot {
    /// Collector name.
    pub name: &'static str,
    /// Its interval, which is also a round's deadline.
    pub every: Duration,
    /// `None` once handed back at stop.
    sampler: Mutex<Option<Box<dyn Sampler>>>,
    report: Mutex<Report>,
    /// The same collector's slot in the app before a reload, while a round there was stuck:
    /// this one's rounds are skipped until that one's lock is free.
    before: Mutex<Option<Arc<Slot>>>,
}

impl Slot {
    /// A slot for `sampler`, gated by `before` (see the field).
    pub fn new(sampler: Box<dyn Sampler>, before: Option<Arc<Slot>>) -> Self {
        let name = sampler.name();
        Self {
            name,
            every: sampler.interval(),
            report: Mutex::new(Report::new(name, sampler.self_metrics())),
            sampler: Mutex::new(Some(sampler)),
            before: Mutex::new(before),
        }
    }

    /// The collector's report (self-metrics and logs).
    pub fn report(&self) -> MutexGuard<'_, Report> {
        lock(&self.report)
    }

    /// Whether a round (or a save) holds the sampler now.
    fn busy(&self) -> bool {
        matches!(self.sampler.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// Takes the sampler out if no round holds it; `Err(())` while one does.
    pub(super) fn try_take(&self) -> Result<Option<Box<dyn Sampler>>, ()> {
        match self.sampler.try_lock() {
            Ok(mut s) => Ok(s.take()),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner().take()),
            Err(TryLockError::WouldBlock) => Err(()),
        }
    }

    /// One round at `at` on the calling thread, unless the previous one is still stuck.
    fn run(
        &self,
        cx: &Context,
        at: Instant,
        handle: &tokio::runtime::Handle,
        shutdown: &watch::Receiver<bool>,
    ) {
        {
            let mut before = lock(&self.before);
            if before.as_ref().is_some_and(|b| b.busy()) {
                self.report().skipped();
                return;
            }
            *before = None;
        }
        let mut guard = match self.sampler.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.report().skipped();
                return;
            }
        };
        let Some(sampler) = guard.as_mut() else {
            return;
        };
        let result = guarded(|| {
            let mut shutdown = shutdown.clone();
            handle.block_on(async {
                tokio::select! {
                    _ = sampler.round(cx, at) => {}
                    // a round in progress at stop is dropped at its next await
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            });
        });
        self.report().returned(result);
    }
}

/// A round to run: the slot, its start time, and its due time as an offset from the scheduler's
/// base (deadlines are checked on these).
pub struct Job {
    /// Whose round.
    pub slot: Arc<Slot>,
    /// The round's `at`.
    pub at: Instant,
    /// When it was due, since the base.
    pub due: Duration,
}

impl Job {
    fn late_at(&self, now: Duration) -> bool {
        self.due + self.slot.every <= now
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    current: Option<Job>,
    retired: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    watch: ReadWatch,
}

/// Numbers the workers, for their thread names.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// The runtime side of the shared collection thread.
pub struct Worker {
    shared: Arc<Shared>,
}

/// Why the runtime retires a worker: the round it is stuck in.
pub struct Overdue {
    /// The collector whose round is in progress, if one is.
    pub slot: Option<Arc<Slot>>,
    /// The file that round is blocked on, if it is inside a read.
    pub stuck_on: Option<String>,
}

impl Worker {
    /// Starts a worker thread reading through `cx`; a round in progress when `shutdown` turns
    /// true is dropped at its next await (killing any child process it waits on).
    pub fn start(cx: Context, shutdown: watch::Receiver<bool>) -> std::io::Result<Self> {
        let handle = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            watch: ReadWatch::default(),
        });
        let thread = shared.clone();
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        std::thread::Builder::new()
            .name(format!("hostwatt-collect-{n}"))
            .spawn(move || {
                thread.watch.install();
                loop {
                    let (slot, at) = {
                        let mut s = lock(&thread.state);
                        loop {
                            if s.retired {
                                return;
                            }
                            if let Some(job) = s.jobs.pop_front() {
                                let next = (job.slot.clone(), job.at);
                                s.current = Some(job);
                                break next;
                            }
                            s = thread.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
                        }
                    };
                    if !*shutdown.borrow() {
                        slot.run(&cx, at, &handle, &shutdown);
                    }
                    lock(&thread.state).current = None;
                }
            })?;
        Ok(Self { shared })
    }

    /// Queues `jobs` after the ones waiting, one wake-up of the thread for all of them. A
    /// collector already waiting keeps its place and this round of it is dropped as skipped.
    pub fn push(&self, jobs: Vec<Job>) {
        let mut s = lock(&self.shared.state);
        for job in jobs {
            if s.jobs.iter().any(|j| Arc::ptr_eq(&j.slot, &job.slot)) {
                job.slot.report().skipped();
            } else {
                s.jobs.push_back(job);
            }
        }
        drop(s);
        self.shared.ready.notify_one();
    }

    /// Whether, at `now` (since the base), the round in progress or one waiting behind it is
    /// past its deadline.
    pub fn overdue(&self, now: Duration) -> Option<Overdue> {
        let s = lock(&self.shared.state);
        let late = s.current.iter().chain(&s.jobs).any(|j| j.late_at(now));
        late.then(|| Overdue {
            slot: s.current.as_ref().map(|j| j.slot.clone()),
            stuck_on: self.shared.watch.current(),
        })
    }

    /// Retires the worker: it ends after the round in progress, taking no more work. Returns
    /// the rounds still waiting.
    pub fn retire(self) -> Vec<Job> {
        let mut s = lock(&self.shared.state);
        s.retired = true;
        let left = std::mem::take(&mut s.jobs).into();
        drop(s);
        self.shared.ready.notify_one();
        left
    }
}

/// Runs `f`, turning a panic into its message.
pub(super) fn guarded(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned())
    })
}

/// Item label of a round that missed its deadline outside any file read (a slow computation,
/// a future that never wakes).
pub const ROUND_ITEM: &str = "round";

/// Self-metrics and logs of what the worker side sees: deadlines, panics, stuck threads.
pub struct Report {
    name: &'static str,
    selfm: SelfMetrics,
    /// Item label set while a round is past its deadline.
    timed_out: Option<String>,
}

impl Report {
    /// Reports for collector `name`.
    pub fn new(name: &'static str, selfm: SelfMetrics) -> Self {
        Self {
            name,
            selfm,
            timed_out: None,
        }
    }

    fn fail(&self, kind: &str) {
        self.selfm.success.with_label_values(&[self.name]).set(0);
        self.selfm
            .errors
            .with_label_values(&[self.name, kind])
            .inc();
    }

    /// The round in progress missed its deadline, blocked on `stuck_on` if known.
    pub fn timeout(&mut self, deadline: Duration, stuck_on: Option<String>) {
        self.fail("timeout");
        let item = stuck_on.unwrap_or_else(|| ROUND_ITEM.to_owned());
        tracing::warn!(
            collector = self.name,
            item = %item,
            deadline = ?deadline,
            "collector round timed out; its next rounds are skipped until it returns"
        );
        self.selfm
            .item_failing
            .with_label_values(&[self.name, &item, "timeout"])
            .set(1);
        self.timed_out = Some(item);
    }

    /// A tick came while the timed-out round is still stuck: that round is skipped.
    pub fn skipped(&self) {
        self.fail("timeout");
        tracing::debug!(
            collector = self.name,
            "round skipped: the previous one is still stuck"
        );
    }

    /// A round returned (`Ok`) or panicked (`Err`).
    pub fn returned(&mut self, result: Result<(), String>) {
        if let Some(item) = self.timed_out.take() {
            let _ = self
                .selfm
                .item_failing
                .remove_label_values(&[self.name, &item, "timeout"]);
            tracing::info!(collector = self.name, item = %item, "timed-out round returned");
        }
        if let Err(panic) = result {
            self.fail("panic");
            tracing::error!(
                collector = self.name,
                panic = %panic,
                "collector panicked; it goes on at its next round"
            );
        }
    }
}
