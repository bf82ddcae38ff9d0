//! `History`: the handle the recorder writes through and the API reads through. The SQLite
//! connection lives on one dedicated thread (`hostwatt-history`) that takes commands from a
//! channel, so no SQLite call ever runs on the runtime thread that serves HTTP and signals;
//! async callers wait on a oneshot reply.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, watch};

use super::store::{self, Store};
use super::{Buffer, Point, Row, TIERS, pick_tier};

/// What the writer reports, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Bytes of the store file.
    pub size_bytes: u64,
    /// Unix time of the last committed flush.
    pub last_flush: Option<f64>,
    /// Flush transactions committed since start.
    pub writes: u64,
    /// Flushes that failed since start.
    pub failures: u64,
}

enum Cmd {
    Write(Vec<Row>, i64),
    Query {
        series: String,
        tier: usize,
        from: i64,
        to: i64,
        reply: oneshot::Sender<Vec<(i64, super::Agg)>>,
    },
    Series(oneshot::Sender<Vec<String>>),
    Close,
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    /// Series name.
    pub series: String,
    /// Bucket width of the tier read, seconds.
    pub step_seconds: i64,
    /// `[t, min, avg, max]` per bucket, oldest first.
    pub points: Vec<Point>,
}

/// The store's handle; cheap to clone.
#[derive(Clone)]
pub struct History {
    tx: std::sync::mpsc::Sender<Cmd>,
    buffer: Arc<Mutex<Buffer>>,
    stats: Arc<Mutex<Stats>>,
    closed: watch::Receiver<bool>,
    max_bytes: u64,
}

impl History {
    /// Opens `<dir>/history.sqlite` on a new thread, at its first use. A corrupt store is set
    /// aside and a new one started; one that cannot be opened at all (a read-only directory)
    /// leaves only the unflushed buffer to query. Either is logged once.
    pub fn open(dir: &Path, max_bytes: u64) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Cmd>();
        let stats = Arc::new(Mutex::new(Stats::default()));
        let (closed_tx, closed) = watch::channel(false);
        let dir = dir.to_owned();
        let st = stats.clone();
        let spawned = std::thread::Builder::new()
            .name("hostwatt-history".into())
            .spawn(move || {
                // opened at the first command, so a handle that is never used (`hostwatt
                // list-metrics`) touches no file
                let mut store: Option<Option<Store>> = None;
                // ends when every handle is dropped, after the last write
                while let Ok(cmd) = rx.recv() {
                    if matches!(cmd, Cmd::Close) {
                        break;
                    }
                    let store = store.get_or_insert_with(|| open_store(&dir, &st));
                    serve(store, cmd, &st, max_bytes);
                }
                drop(store);
                let _ = closed_tx.send(true);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no history thread; history is not stored");
        }
        Self {
            tx,
            buffer: Arc::new(Mutex::new(Buffer::default())),
            stats,
            closed,
            max_bytes,
        }
    }

    /// The size cap, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Adds a sample to the in-memory buffer (no I/O).
    pub fn record(&self, series: &str, t: i64, v: f64) {
        lock(&self.buffer).record(series, t, v);
    }

    /// Whether the buffer holds anything.
    pub fn has_data(&self) -> bool {
        !lock(&self.buffer).is_empty()
    }

    /// Buckets buffered.
    pub fn buffered(&self) -> usize {
        lock(&self.buffer).len()
    }

    /// Hands the buffer to the writer thread (one transaction) without waiting for it; `now` is
    /// the wall time the age limits are measured from.
    pub fn flush(&self, now: i64) {
        let rows = lock(&self.buffer).take();
        if !rows.is_empty() {
            let _ = self.tx.send(Cmd::Write(rows, now));
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> Stats {
        *lock(&self.stats)
    }

    /// Asks the writer thread to finish what was sent before and close the file; later
    /// writes are dropped and later queries read the buffer only.
    pub fn close(&self) {
        let _ = self.tx.send(Cmd::Close);
    }

    /// Resolves once the writer thread has closed the file (after `close`, or when it could not
    /// start).
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Buckets of `series` between `from` and `to` (Unix seconds) in the tier `pick_tier`
    /// chooses at wall time `now`, stored and buffered merged.
    pub async fn query(&self, series: &str, from: i64, to: i64, now: i64) -> Answer {
        let tier = pick_tier(from, to, now);
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Cmd::Query {
            series: series.to_owned(),
            tier,
            from,
            to,
            reply,
        });
        let stored = rx.await.unwrap_or_default();
        let buffered = lock(&self.buffer).range(series, tier as u8, from, to);
        Answer {
            series: series.to_owned(),
            step_seconds: TIERS[tier].step,
            points: store::merge(stored, buffered),
        }
    }

    /// Every series stored or buffered, sorted.
    pub async fn series(&self) -> Vec<String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Cmd::Series(reply));
        let mut all = rx.await.unwrap_or_default();
        all.extend(lock(&self.buffer).series());
        all.sort();
        all.dedup();
        all
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_store(dir: &Path, stats: &Mutex<Stats>) -> Option<Store> {
    let store = match Store::open(dir) {
        Ok((s, None)) => Some(s),
        Ok((s, Some(note))) => {
            tracing::warn!(problem = %note, "history store set aside; starting a new one");
            Some(s)
        }
        Err(e) => {
            tracing::error!(error = %e, "history store unusable; history is not stored");
            None
        }
    };
    if let Some(s) = &store {
        lock(stats).size_bytes = s.file_bytes();
    }
    store
}

fn serve(store: &mut Option<Store>, cmd: Cmd, stats: &Mutex<Stats>, max_bytes: u64) {
    match cmd {
        Cmd::Write(rows, now) => {
            let Some(s) = store else { return };
            match s.write(&rows, now, max_bytes) {
                Ok(()) => {
                    let mut st = lock(stats);
                    st.writes = s.writes;
                    st.last_flush = Some(now as f64);
                    st.size_bytes = s.file_bytes();
                }
                Err(e) => {
                    let mut st = lock(stats);
                    if st.failures == 0 {
                        tracing::warn!(error = %e, "history flush failed");
                    }
                    st.failures += 1;
                }
            }
        }
        Cmd::Query {
            series,
            tier,
            from,
            to,
            reply,
        } => {
            let rows = store
                .as_ref()
                .and_then(|s| s.query(&series, tier, from, to).ok())
                .unwrap_or_default();
            let _ = reply.send(rows);
        }
        Cmd::Series(reply) => {
            let _ = reply.send(store.as_ref().map(Store::series).unwrap_or_default());
        }
        Cmd::Close => {}
    }
}
