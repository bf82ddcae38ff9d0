//! One shared collection thread keeps the schedule and runs every due round, one after the
//! other: it sleeps until the next due time and wakes once per due time, and the runtime thread
//! that serves HTTP and signals does not wake for rounds at all. A read that blocks (a FIFO in
//! place of a sysfs attribute, a sensor on a hung I2C bus, an fsync that takes seconds) holds up
//! this worker only. While a batch runs, a kernel timer (the watchdog) is armed at its deadline
//! and disarmed when it is done; if it fires, the runtime reports the round in progress, retires
//! the worker (it ends once that read returns, taking no more work) and hands the schedule and
//! the waiting rounds to a fresh worker.
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
    /// The reads of the thread running its latest round (which file a stuck round is in).
    reads: Mutex<ReadWatch>,
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
            reads: Mutex::default(),
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
        reads: &ReadWatch,
    ) {
        {
            let mut before = lock(&self.before);
            if let Some(b) = before.as_ref().filter(|b| b.busy()) {
                b.still_busy(&mut self.report());
                return;
            }
            *before = None;
        }
        let mut guard = match self.sampler.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.still_busy(&mut self.report());
                return;
            }
        };
        *lock(&self.reads) = reads.clone();
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

    /// Its next round came while the one before still holds the lock: that one is past its
    /// deadline now (reported once, on the file it is in), and this one is skipped.
    fn still_busy(&self, report: &mut Report) {
        if report.timed_out() {
            report.skipped();
        } else {
            report.timeout(self.every, lock(&self.reads).current());
        }
    }
}

/// A round to run.
pub struct Job {
    /// Whose round.
    pub slot: Arc<Slot>,
    /// The round's `at`.
    pub at: Instant,
}

/// The schedule every worker follows in turn: the collectors in batch order, when each is due
/// next (since the base), and the watchdog that wakes the runtime for a late batch.
pub struct Plan {
    base: Instant,
    slots: Vec<Arc<Slot>>,
    next: Mutex<Vec<Duration>>,
    watchdog: Watchdog,
}

/// What wakes the runtime when a batch is late.
pub enum Watchdog {
    /// A timerfd the worker arms at each batch's deadline and disarms when the batch is done.
    Alarm(crate::host::ticker::Alarm),
    /// No timerfd (not expected on Linux): the runtime looks every shortest interval.
    Polling,
}

impl Plan {
    /// The schedule of `slots`, all due at once first, on `base` (the watchdog's base too).
    pub fn new(base: Instant, slots: Vec<Arc<Slot>>, watchdog: Watchdog) -> Self {
        Self {
            base,
            next: Mutex::new(vec![Duration::ZERO; slots.len()]),
            slots,
            watchdog,
        }
    }

    /// Time since the base.
    pub fn now(&self) -> Duration {
        self.base.elapsed()
    }

    /// The collectors, in batch order.
    pub fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    /// The watchdog.
    pub fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    /// The rounds due at `now`, each collector's next due time moved past `now` (a round missed
    /// while a batch ran late is not caught up); or, when none is due, how long until one is.
    fn take_due(&self, now: Duration) -> Result<Vec<Job>, Duration> {
        let mut next = lock(&self.next);
        let at = Instant::now();
        let mut jobs = Vec::new();
        for (slot, next) in self.slots.iter().zip(next.iter_mut()) {
            if *next <= now {
                jobs.push(Job {
                    slot: slot.clone(),
                    at,
                });
                let every = slot.every.max(Duration::from_millis(1));
                let missed = (now - *next).as_nanos() / every.as_nanos();
                *next += every * u32::try_from(missed + 1).unwrap_or(u32::MAX);
            }
        }
        match next.iter().min() {
            _ if !jobs.is_empty() => Ok(jobs),
            Some(due) => Err(due.saturating_sub(now)),
            None => Err(Duration::from_secs(3600)),
        }
    }

    fn arm(&self, deadline: Option<Duration>) {
        if let Watchdog::Alarm(a) = &self.watchdog
            && let Err(e) = a.set(deadline)
        {
            tracing::warn!(error = %e, "cannot set the collection watchdog");
        }
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    current: Option<Job>,
    /// When the batch in progress must be done by (since the base): the shortest interval
    /// among its collectors after it began, when the first of them is due again.
    deadline: Option<Duration>,
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

/// A batch past its deadline: the round it is stuck in.
pub struct Overdue {
    /// The collector whose round is in progress, if one is and it is past its own deadline
    /// (else it is only slow, and is reported if its next round finds it still running).
    pub slot: Option<Arc<Slot>>,
    /// The file that round is blocked on, if it is inside a read.
    pub stuck_on: Option<String>,
}

impl Worker {
    /// Starts a worker thread that follows `plan` (after running `left`, rounds a retired worker
    /// did not start) and reads through `cx`. It sleeps until the next due time, runs the due
    /// rounds, arms the watchdog at the batch's deadline meanwhile, and sleeps again: one
    /// wake-up per due time, of this thread only. A round in progress when `shutdown` turns
    /// true is dropped at its next await (killing any child process it waits on).
    pub fn start(
        plan: Arc<Plan>,
        left: Vec<Job>,
        cx: Context,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let handle = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: left.into(),
                ..State::default()
            }),
            ready: Condvar::new(),
            watch: ReadWatch::default(),
        });
        let thread = shared.clone();
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        std::thread::Builder::new()
            .name(format!("hostwatt-collect-{n}"))
            .spawn(move || {
                thread.watch.install();
                while let Some(job) = next_job(&thread, &plan) {
                    if !*shutdown.borrow() {
                        job.slot.run(&cx, job.at, &handle, &shutdown, &thread.watch);
                    }
                    lock(&thread.state).current = None;
                }
            })?;
        Ok(Self { shared })
    }

    /// Whether the batch in progress is past its deadline at `now` (since the base). When it is
    /// not, the watchdog is armed again for that deadline (it fired early, or not at all).
    pub fn overdue(&self, plan: &Plan, now: Duration) -> Option<Overdue> {
        let s = lock(&self.shared.state);
        match s.deadline {
            Some(d) if d <= now => Some(Overdue {
                slot: s
                    .current
                    .as_ref()
                    .filter(|j| j.at.elapsed() >= j.slot.every)
                    .map(|j| j.slot.clone()),
                stuck_on: self.shared.watch.current(),
            }),
            deadline => {
                plan.arm(deadline);
                None
            }
        }
    }

    /// Retires the worker: it ends after the round in progress, taking no more work (nor
    /// touching the watchdog). Returns the rounds still waiting.
    pub fn retire(self) -> Vec<Job> {
        let mut s = lock(&self.shared.state);
        s.retired = true;
        let left = std::mem::take(&mut s.jobs).into();
        drop(s);
        self.shared.ready.notify_one();
        left
    }
}

/// The worker's next round: a waiting one, or the first of the next batch once it is due;
/// `None` once retired.
fn next_job(shared: &Shared, plan: &Plan) -> Option<Job> {
    let mut s = lock(&shared.state);
    loop {
        if s.retired {
            return None;
        }
        if let Some(job) = s.jobs.pop_front() {
            if s.deadline.is_none() {
                // rounds handed over from a retired worker: a batch of their own
                let shortest = s
                    .jobs
                    .iter()
                    .map(|j| j.slot.every)
                    .fold(job.slot.every, Duration::min);
                s.deadline = Some(plan.now() + shortest);
                plan.arm(s.deadline);
            }
            s.current = Some(Job {
                slot: job.slot.clone(),
                at: job.at,
            });
            return Some(job);
        }
        if s.deadline.take().is_some() {
            plan.arm(None);
        }
        match plan.take_due(plan.now()) {
            Ok(jobs) => s.jobs.extend(jobs),
            Err(wait) => {
                s = shared
                    .ready
                    .wait_timeout(s, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
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

    /// Whether a round is reported as past its deadline and has not returned.
    pub fn timed_out(&self) -> bool {
        self.timed_out.is_some()
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
