//! Each collector's rounds run on a thread of its own, so a read that blocks (a FIFO in place of
//! a sysfs attribute, a sensor on a hung I2C bus, an fsync that takes seconds) holds up that
//! collector only: never the runtime thread that serves HTTP and signals, nor another collector.
//!
//! The thread is long-lived and waits on a channel between rounds (no wake-ups when idle). The
//! round's future runs there through `Handle::block_on`: its blocking reads block that thread,
//! while its async parts (child processes, timeouts) are driven by the runtime as before. A round
//! that misses its deadline is reported as a `timeout`, and the collector is skipped until the
//! stuck round returns: a stuck reader is never joined by a second one for the same file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::Sampler;
use crate::collectors::Context;
use crate::host::root::ReadWatch;
use crate::metrics::selfmon::SelfMetrics;

/// What the worker thread is asked to do.
enum Job {
    Round(Instant),
    /// Save state first when `finish`, then hand the sampler back and end.
    Release {
        finish: bool,
    },
}

/// What it answers: `Err` carries a panic's message.
pub enum Done {
    /// A round returned.
    Round(Result<(), String>),
    /// The sampler, handed back after `finish` if asked (its result); the thread has ended.
    Released(Box<dyn Sampler>, Result<(), String>),
}

/// The runtime side of one collector's thread.
pub struct Worker {
    name: &'static str,
    jobs: std_mpsc::Sender<Job>,
    done: mpsc::UnboundedReceiver<Done>,
    watch: ReadWatch,
    /// A job was sent and its answer has not come back.
    pub busy: bool,
}

impl Worker {
    /// Starts the thread that owns `sampler`; rounds read through `cx`. When `shutdown` changes,
    /// a round in progress is dropped at its next await (killing any child process it waits on).
    pub fn start(
        mut sampler: Box<dyn Sampler>,
        cx: Context,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let name = sampler.name();
        let handle = tokio::runtime::Handle::current();
        let (jobs, inbox) = std_mpsc::channel::<Job>();
        let (reply, done) = mpsc::unbounded_channel();
        let watch = ReadWatch::default();
        let thread_watch = watch.clone();
        std::thread::Builder::new()
            .name(format!("hostwatt-{name}"))
            .spawn(move || {
                thread_watch.install();
                while let Ok(job) = inbox.recv() {
                    let round = match job {
                        Job::Release { finish } => {
                            let result = if finish {
                                guarded(|| sampler.finish())
                            } else {
                                Ok(())
                            };
                            let _ = reply.send(Done::Released(sampler, result));
                            return;
                        }
                        Job::Round(at) => guarded(|| {
                            let mut shutdown = shutdown.clone();
                            handle.block_on(async {
                                tokio::select! {
                                    _ = sampler.round(&cx, at) => {}
                                    _ = shutdown.changed() => {}
                                }
                            });
                        }),
                    };
                    if reply.send(Done::Round(round)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            name,
            jobs,
            done,
            watch,
            busy: false,
        })
    }

    /// Collector name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Starts a round at `at`. The caller checks `busy` first.
    pub fn round(&mut self, at: Instant) {
        self.send(Job::Round(at));
    }

    /// Asks the thread to hand the sampler back and end, after saving what must survive a
    /// restart when `finish`.
    pub fn release(&mut self, finish: bool) {
        self.send(Job::Release { finish });
    }

    fn send(&mut self, job: Job) {
        debug_assert!(!self.busy, "one job at a time");
        // the thread only ends after `Release` or when this side is dropped
        self.busy = self.jobs.send(job).is_ok();
    }

    /// The answer to the job in progress. Pending forever when no job is (use it in a `select!`
    /// guarded by `busy`); `None` if the thread is gone.
    pub async fn answer(&mut self) -> Option<Done> {
        let done = self.done.recv().await;
        self.busy = false;
        done
    }

    /// Waits at most `limit` for the job in progress.
    pub async fn answer_within(&mut self, limit: Duration) -> Option<Done> {
        tokio::time::timeout(limit, self.answer())
            .await
            .ok()
            .flatten()
    }

    /// The file the thread is blocked on, if it is inside a read.
    pub fn stuck_on(&self) -> Option<String> {
        self.watch.current()
    }
}

/// Runs `f`, turning a panic into its message.
fn guarded(f: impl FnOnce()) -> Result<(), String> {
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

    /// The thread is gone (it cannot be while this side holds its channel; a bug otherwise).
    pub fn gone(&self) {
        self.fail("panic");
        tracing::error!(
            collector = self.name,
            "collector thread ended; collector stopped"
        );
    }
}
