//! The recorder: a collector named `history` that, every `history.interval`, reads the latest
//! snapshots of the collectors the page draws (no hardware access), adds one sample per series
//! to the buffer, and hands the buffer to the writer thread when the flush interval is due. Its
//! snapshot is the store's size and last flush, for `/metrics`.
//!
//! Series (names are stable; the API lists them):
//! - `wall_watts` (best source), `dc_watts`, `psu_loss_watts`, `idle_watts`,
//!   `energy_today_joules` (best source; its daily maximum is the day's energy)
//! - `component_watts:<component>` (the DC breakdown: `cpu`, `disk:<id>`, `fans`, `baseline`, …)
//! - `disk_power_mode:<disk>` (0 standby, 1 idle, 2 active; unknown is not recorded),
//!   `disk_temperature_celsius:<disk>`
//! - `pool_capacity_ratio:<pool>`
//! - `cpuidle_residency_ratio:<state name>`

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::collectors::smart::power::State as PowerState;
use crate::collectors::{CollectError, Collector, Context, Sample, cpuidle, smart, wall, zfs};
use crate::metrics::Latest;
use crate::metrics::{Families, Family, Render};

use super::{Config, FlushPolicy, History};

const SIZE: Family = Family::gauge(
    "hostwatt_history_size_bytes",
    "Size of the history store file (history.sqlite in the state directory)",
    &[],
);
const LAST_FLUSH: Family = Family::gauge(
    "hostwatt_history_last_flush_timestamp_seconds",
    "Unix time of the last write of buffered history to the store",
    &[],
);
const WRITES: Family = Family::counter(
    "hostwatt_history_writes_total",
    "Transactions written to the history store since hostwatt started (one per flush)",
    &[],
);
const FAILURES: Family = Family::counter(
    "hostwatt_history_write_failures_total",
    "Flushes of the history store that failed since hostwatt started",
    &[],
);
/// What a recorder round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The writer's counters.
    pub stats: super::writer::Stats,
    /// Buckets in memory (not exported: it depends on where rounds fall in the wall clock's
    /// 10 s buckets).
    pub buffered: usize,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&SIZE, &LAST_FLUSH, &WRITES, &FAILURES];

    fn render(&self, out: &mut Families) {
        out.push(&SIZE, &[], self.stats.size_bytes as f64);
        if let Some(t) = self.stats.last_flush {
            out.push(&LAST_FLUSH, &[], t);
        }
        out.push(&WRITES, &[], self.stats.writes as f64);
        out.push(&FAILURES, &[], self.stats.failures as f64);
    }
}

/// The snapshots the recorder (and the page) read; a collector that is off is `None`.
#[derive(Clone, Default)]
pub struct Sources {
    /// Wall power and its breakdown.
    pub wall: Option<Latest<wall::Snapshot>>,
    /// Disks.
    pub smart: Option<Latest<smart::Snapshot>>,
    /// Pools.
    pub zfs: Option<Latest<zfs::Snapshot>>,
    /// C-states.
    pub cpuidle: Option<Latest<cpuidle::Snapshot>>,
}

fn latest<S>(rx: &Option<Latest<S>>) -> Option<Arc<S>> {
    rx.as_ref().and_then(|rx| rx.borrow().clone())
}

impl Sources {
    /// The latest wall snapshot.
    pub fn wall(&self) -> Option<Arc<wall::Snapshot>> {
        latest(&self.wall)
    }
    /// The latest SMART snapshot.
    pub fn smart(&self) -> Option<Arc<smart::Snapshot>> {
        latest(&self.smart)
    }
    /// The latest ZFS snapshot.
    pub fn zfs(&self) -> Option<Arc<zfs::Snapshot>> {
        latest(&self.zfs)
    }
    /// The latest cpuidle snapshot.
    pub fn cpuidle(&self) -> Option<Arc<cpuidle::Snapshot>> {
        latest(&self.cpuidle)
    }
}

/// A disk power state as a number for the timeline: 0 standby, 1 idle, 2 active.
pub fn power_mode_value(s: PowerState) -> Option<f64> {
    match s {
        PowerState::Standby => Some(0.0),
        PowerState::Idle => Some(1.0),
        PowerState::Active => Some(2.0),
        PowerState::Unknown => None,
    }
}

/// Today's energy of the best source, joules.
pub fn energy_today(w: &wall::Snapshot) -> Option<f64> {
    let (_, source, _) = w.best.as_ref()?;
    w.energy
        .iter()
        .find(|(s, _)| s == source)
        .map(|(_, a)| a.joules_day)
}

/// Series names with no key, as `samples` writes them.
pub const PLAIN_SERIES: &[&str] = &[
    "wall_watts",
    "dc_watts",
    "psu_loss_watts",
    "idle_watts",
    "energy_today_joules",
];

/// Series kinds written as `kind:<key>` (a component, disk, pool or C-state).
pub const KEYED_SERIES: &[&str] = &[
    "component_watts",
    "disk_power_mode",
    "disk_temperature_celsius",
    "pool_capacity_ratio",
    "cpuidle_residency_ratio",
];

/// Whether `name` is a series `samples` can write (its key need not have been seen yet).
pub fn known_series(name: &str) -> bool {
    match name.split_once(':') {
        Some((kind, key)) => !key.is_empty() && KEYED_SERIES.contains(&kind),
        None => PLAIN_SERIES.contains(&name),
    }
}

/// One value per series from the snapshots (pure: the recorder's whole view of the host).
pub fn samples(src: &Sources) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    if let Some(w) = src.wall() {
        if let Some((watts, _, _)) = &w.best {
            out.push(("wall_watts".into(), *watts));
        }
        if !w.components.is_empty() {
            out.push((
                "dc_watts".into(),
                w.components.iter().map(|c| c.watts).sum(),
            ));
        }
        if let Some(e) = &w.estimate {
            out.push(("psu_loss_watts".into(), e.loss_watts));
        }
        if let Some(i) = w.idle_watts {
            out.push(("idle_watts".into(), i));
        }
        if let Some(j) = energy_today(&w) {
            out.push(("energy_today_joules".into(), j));
        }
        for c in &w.components {
            out.push((format!("component_watts:{}", c.component), c.watts));
        }
    }
    if let Some(s) = src.smart() {
        for d in &s.disks {
            if let Some(v) = power_mode_value(d.state) {
                out.push((format!("disk_power_mode:{}", d.id), v));
            }
            if let Some(t) = d.data.as_ref().and_then(|d| d.temperature_celsius) {
                out.push((format!("disk_temperature_celsius:{}", d.id), t));
            }
        }
    }
    if let Some(z) = src.zfs() {
        for p in &z.pools {
            if let Some(l) = &p.list
                && let Some(c) = l.capacity
            {
                out.push((format!("pool_capacity_ratio:{}", l.name), c));
            }
        }
    }
    if let Some(c) = src.cpuidle() {
        for s in &c.states {
            if let Some(r) = s.residency_ratio {
                out.push((format!("cpuidle_residency_ratio:{}", s.name), r));
            }
        }
    }
    out
}

/// Unix time now, seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The recorder collector.
pub struct Recorder {
    history: History,
    sources: Sources,
    policy: FlushPolicy,
}

impl Recorder {
    /// A recorder of `sources` into `history`, flushing at most every `cfg.flush_interval`.
    pub fn new(cfg: &Config, history: History, sources: Sources) -> Self {
        Self {
            history,
            sources,
            policy: FlushPolicy::new(cfg.flush_interval.0, Instant::now()),
        }
    }

    /// Records the sources at wall time `now` and flushes if due at `at`; what `sample` does,
    /// with both clocks given (tests).
    pub fn record_at(&mut self, now: i64, at: Instant) -> Snapshot {
        for (series, v) in samples(&self.sources) {
            self.history.record(&series, now, v);
        }
        if self.policy.due(self.history.has_data(), at) {
            self.history.flush(now);
        }
        Snapshot {
            stats: self.history.stats(),
            buffered: self.history.buffered(),
        }
    }
}

impl Collector for Recorder {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        _cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        Ok(Sample::clean(self.record_at(unix_now(), at)))
    }

    fn finish(&mut self) {
        self.history.flush(unix_now());
        self.history.close();
    }
}
