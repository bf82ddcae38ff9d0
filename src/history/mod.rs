//! History: the series the status page draws, kept in the daemon for two years, bounded in size
//! and gentle on the disks it lives on.
//!
//! # Shape
//! A series is a name such as `wall_watts` or `disk_temperature_celsius:<disk>` (the list is in
//! `record`). Samples are reduced into buckets of three tiers (`TIERS`): 10 s buckets kept a day,
//! 1 min buckets kept 30 days, 1 h buckets kept two years. A bucket holds the count, minimum,
//! maximum and sum of its samples, so the mean of merged buckets is exact.
//!
//! # Disk friendliness
//! The state directory often sits on a pool whose disks should sleep. Samples are buffered in
//! memory (`Buffer`) and written in one SQLite transaction at most every `flush_interval`
//! (15 min by default) and on shutdown; nothing is written when nothing was sampled. A crash
//! loses at most one flush interval. Queries merge the unflushed buffer, so the page shows the
//! last minutes anyway.
//!
//! # Why SQLite (rusqlite, `bundled`)
//! A store that is trusted for crash safety (transactions, a journal), inspectable with the
//! `sqlite3` shell, and needs no server. `bundled` compiles the SQLite amalgamation into the
//! binary, so the daemon does not depend on the host's libsqlite3 version (a NAS distribution
//! may ship an old one, or none).
//!
//! # Bounds
//! Each tier prunes by age at every flush; past `max_size_mb` the oldest buckets (of any tier)
//! are deleted first and the freed pages returned to the filesystem (`auto_vacuum =
//! incremental`). Buckets are packed 360 to a row (`chunk`: deltas in thousandths of the unit as
//! varints), about 5–10 bytes a bucket instead of about 29 for a row each.
//!
//! # Time
//! Buckets are placed by wall-clock Unix time (a restart continues the same series); the flush
//! interval runs on the monotonic clock, so a clock jump neither stops nor floods flushes. A
//! bucket written twice (a flush in the middle of a bucket, a clock set back) merges with what is
//! stored. Counters are not stored raw: the recorder stores rates and per-day totals that the
//! collectors already made safe against resets.

mod chunk;
pub mod record;
pub mod store;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::parse::Interval;

pub use writer::History;

/// `[history]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Record history (and serve it to the page and `/api/v1/history`).
    pub enabled: bool,
    /// How often the recorder samples the collectors' latest snapshots.
    pub interval: Interval,
    /// Buffered samples are written at most this often, and on shutdown.
    pub flush_interval: Interval,
    /// Size cap of the store in MB (10^6 bytes); the oldest buckets go first.
    pub max_size_mb: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(15),
            flush_interval: Interval::secs(15 * 60),
            max_size_mb: 50,
        }
    }
}

/// One resolution of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Bucket width, seconds.
    pub step: i64,
    /// How long buckets are kept, seconds.
    pub keep: i64,
}

/// The tiers, finest first. A tier's index is its id in the store.
pub const TIERS: [Tier; 3] = [
    Tier {
        step: 10,
        keep: 86_400,
    },
    Tier {
        step: 60,
        keep: 30 * 86_400,
    },
    Tier {
        step: 3600,
        keep: 2 * 365 * 86_400,
    },
];

/// At most about this many points per query: a chart is a few hundred to a couple of thousand
/// pixels wide.
pub const MAX_POINTS: i64 = 2000;

/// The tier a query of `[from, to]` at wall time `now` reads: the finest one that still holds
/// `from` and gives at most `MAX_POINTS` buckets; the coarsest when none does.
pub fn pick_tier(from: i64, to: i64, now: i64) -> usize {
    // saturating: from and to come from a URL
    let span = to.saturating_sub(from).max(0);
    TIERS
        .iter()
        .position(|t| now.saturating_sub(from) <= t.keep && span / t.step <= MAX_POINTS)
        .unwrap_or(TIERS.len() - 1)
}

/// A bucket's aggregate, in the series' unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    /// Samples.
    pub n: u64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Sum of the samples.
    pub sum: f64,
}

impl Agg {
    /// One sample.
    pub fn one(v: f64) -> Self {
        Self {
            n: 1,
            min: v,
            max: v,
            sum: v,
        }
    }

    /// Both buckets as one.
    pub fn merge(self, o: Self) -> Self {
        Self {
            n: self.n + o.n,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            sum: self.sum + o.sum,
        }
    }

    /// Mean of the samples.
    pub fn avg(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum / self.n as f64
        }
    }
}

/// A bucket of one series in one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Series name.
    pub series: String,
    /// Index into `TIERS`.
    pub tier: u8,
    /// Bucket start, Unix seconds (a multiple of the tier's step).
    pub t: i64,
    /// The aggregate.
    pub agg: Agg,
}

/// A bucket as queries return it: `[t, min, avg, max]`, Unix seconds and the series' unit.
pub type Point = [f64; 4];

/// Samples not yet written: one aggregate per (series, tier, bucket). Series names are kept
/// once (a 15 min buffer of 90 series is some 10 000 buckets: 48 bytes each, not 100).
#[derive(Debug, Default)]
pub struct Buffer {
    names: Vec<String>,
    aggs: BTreeMap<(u32, u8, i64), Agg>,
}

impl Buffer {
    fn id(&self, series: &str) -> Option<u32> {
        self.names
            .iter()
            .position(|n| n == series)
            .map(|i| i as u32)
    }

    /// Adds sample `v` of `series` taken at Unix time `t` to the bucket of every tier. Non-finite
    /// values are dropped (a sensor's NaN must not poison a mean).
    pub fn record(&mut self, series: &str, t: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let id = self.id(series).unwrap_or_else(|| {
            self.names.push(series.to_owned());
            (self.names.len() - 1) as u32
        });
        for (i, tier) in TIERS.iter().enumerate() {
            let key = (id, i as u8, t - t.rem_euclid(tier.step));
            let agg = self
                .aggs
                .get(&key)
                .map_or(Agg::one(v), |a| a.merge(Agg::one(v)));
            self.aggs.insert(key, agg);
        }
    }

    /// Whether nothing was recorded since the last `take`.
    pub fn is_empty(&self) -> bool {
        self.aggs.is_empty()
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.aggs.len()
    }

    /// Everything recorded, emptying the buffer.
    pub fn take(&mut self) -> Vec<Row> {
        let names = std::mem::take(&mut self.names);
        std::mem::take(&mut self.aggs)
            .into_iter()
            .map(|((id, tier, t), agg)| Row {
                series: names[id as usize].clone(),
                tier,
                t,
                agg,
            })
            .collect()
    }

    /// The buffered buckets of `series` in `tier` with `from <= t <= to`.
    pub fn range(&self, series: &str, tier: u8, from: i64, to: i64) -> Vec<(i64, Agg)> {
        let Some(id) = self.id(series) else {
            return Vec::new();
        };
        if from > to {
            return Vec::new();
        }
        self.aggs
            .range((id, tier, from)..=(id, tier, to))
            .map(|((_, _, t), a)| (*t, *a))
            .collect()
    }

    /// The series names held.
    pub fn series(&self) -> Vec<String> {
        let mut names = self.names.clone();
        names.sort();
        names
    }
}

/// When to flush: at most every `interval` on the monotonic clock, and only with data.
#[derive(Debug, Clone)]
pub struct FlushPolicy {
    interval: Duration,
    last: Option<Instant>,
}

impl FlushPolicy {
    /// A policy whose first interval starts at `start`.
    pub fn new(interval: Duration, start: Instant) -> Self {
        Self {
            interval,
            last: Some(start),
        }
    }

    /// Whether a buffer that `has_data` is due to be written at `at`; if so, the next interval
    /// starts at `at`.
    pub fn due(&mut self, has_data: bool, at: Instant) -> bool {
        let elapsed = self
            .last
            .is_none_or(|l| at.saturating_duration_since(l) >= self.interval);
        if has_data && elapsed {
            self.last = Some(at);
            true
        } else {
            false
        }
    }
}
