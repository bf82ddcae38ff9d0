//! cpuidle: C-state residency, entries and governor misses, to answer "does my CPU reach deep
//! idle, and what keeps it out".
//!
//! Reads, through `Root`:
//! - `sys/devices/system/cpu/cpu*/cpuidle/state*/{name,desc,latency,residency,time,usage,above,
//!   below,rejected,disable}`. `time` (µs in the state), `usage` (entries), `above` (entries whose
//!   observed idle was too short for the state's target residency: the state was too deep),
//!   `below` (entries whose idle was long enough for a deeper state: too shallow) and `rejected`
//!   (entry requests refused) are counters; `latency` (exit latency, µs) and `residency` (target
//!   residency, µs) are per-state constants; `disable` is the user's 0/1 switch. `above`/`below`
//!   appeared in Linux 5.0 and `rejected` later: a missing file means no series, not 0.
//!   `time` and `usage` are read every round, `above`/`below`/`rejected` every
//!   `EXPLAIN_EVERY`th round and `disable` on walks (`kept`).
//! - `sys/devices/system/cpu/cpuidle/{current_driver,current_governor}` (identity), and the ACPI
//!   LPIT counters `low_power_idle_{cpu,system}_residency_us` (S0ix / package-deep idle on Intel,
//!   µs) where present.
//!
//! See Documentation/admin-guide/pm/cpuidle.rst and Documentation/ABI/testing/sysfs-devices-system-cpu.
//!
//! Series are aggregated per state (`state="state3"`, `name="C6"`) over the online CPUs that have
//! it; per-CPU series are opt-in (`per_cpu`) to keep cardinality bounded on big hosts. The
//! aggregate counters start at the kernel's sum on the first round and then grow by per-CPU
//! deltas, so a CPU going offline (its `cpuidle` dir vanishes) does not make them go down.
//! `hostwatt_cpuidle_state_residency_ratio` is Δtime / (Δt × CPUs with the state), each CPU's Δtime
//! capped at Δt.
//!
//! Quirk, documented and deliberately not worked around: the kernel updates a CPU's counters when
//! it *leaves* a state, so a CPU sitting in a long idle shows stale counters until it wakes, and
//! the catch-up lands in a later interval (hence the cap above). Tools that "tickle" idle CPUs
//! (an IPI to every CPU before reading) get fresher numbers by waking the very CPUs being
//! measured; a power monitor must not, so we never do.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Sample};
use crate::parse::Interval;
use crate::metrics::{Families, Family, Render};

mod kept;
mod walk;

use kept::Kept;
pub(crate) use kept::CpuSet;
pub(crate) use walk::is_offline;
use walk::{C_ABOVE, C_BELOW, C_REJECTED, C_TIME, C_USAGE};
pub use walk::{Counters, StateReading, parse_cpu_dir, parse_state_dir, us_to_seconds};

/// `[collectors.cpuidle]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Collect cpuidle at all.
    pub enabled: bool,
    /// Sampling interval; residency ratios are averaged over it.
    pub interval: Interval,
    /// Also export per-CPU series (one per CPU and state): off by default to bound cardinality.
    pub per_cpu: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(15),
            per_cpu: false,
        }
    }
}

const STATE: &[&str] = &["state", "name"];
const CPU_STATE: &[&str] = &["cpu", "state", "name"];

const DRIVER_INFO: Family = Family::gauge(
    "hostwatt_cpuidle_driver_info",
    "The cpuidle driver and governor in use (value 1)",
    &["driver", "governor"],
);
const LPI_CPU: Family = Family::counter(
    "hostwatt_cpuidle_low_power_idle_cpu_residency_seconds_total",
    "Time the CPU package spent in its deepest low-power idle state (ACPI LPIT, Intel package C10 / S0ix CPU part)",
    &[],
);
const LPI_SYSTEM: Family = Family::counter(
    "hostwatt_cpuidle_low_power_idle_system_residency_seconds_total",
    "Time the platform spent in S0ix low-power idle (ACPI LPIT, Intel SLP_S0)",
    &[],
);
const STATE_INFO: Family = Family::gauge(
    "hostwatt_cpuidle_state_info",
    "An idle state and its driver description (value 1)",
    &["state", "name", "desc"],
);
const EXIT_LATENCY: Family = Family::gauge(
    "hostwatt_cpuidle_state_exit_latency_seconds",
    "Worst-case time to leave the idle state, as declared by the driver (largest over CPUs)",
    STATE,
);
const TARGET_RESIDENCY: Family = Family::gauge(
    "hostwatt_cpuidle_state_target_residency_seconds",
    "Minimum idle time for the state to save energy, as declared by the driver (largest over CPUs)",
    STATE,
);
const STATE_CPUS: Family = Family::gauge(
    "hostwatt_cpuidle_state_cpus",
    "Number of online CPUs that have this idle state",
    STATE,
);
const DISABLED_CPUS: Family = Family::gauge(
    "hostwatt_cpuidle_state_disabled_cpus",
    "Number of online CPUs on which this idle state is disabled through its disable file",
    STATE,
);
const TIME: Family = Family::counter(
    "hostwatt_cpuidle_state_time_seconds_total",
    "Time spent in the idle state, summed over online CPUs (kernel sum at first sample, then per-CPU deltas)",
    STATE,
);
const ENTRIES: Family = Family::counter(
    "hostwatt_cpuidle_state_entries_total",
    "Times the idle state was entered, summed over online CPUs",
    STATE,
);
const ABOVE: Family = Family::counter(
    "hostwatt_cpuidle_state_above_total",
    "Entries whose observed idle was too short for the state's target residency (the governor chose too deep), summed over online CPUs",
    STATE,
);
const BELOW: Family = Family::counter(
    "hostwatt_cpuidle_state_below_total",
    "Entries whose observed idle was long enough for a deeper state (the governor chose too shallow), summed over online CPUs",
    STATE,
);
const REJECTED: Family = Family::counter(
    "hostwatt_cpuidle_state_rejected_total",
    "Requests to enter the idle state that were rejected, summed over online CPUs",
    STATE,
);
const RATIO: Family = Family::gauge(
    "hostwatt_cpuidle_state_residency_ratio",
    "Share of time in the idle state over the last sampling interval: time delta / (interval x CPUs with the state), each CPU capped at the interval",
    STATE,
);
const CPU_TIME: Family = Family::counter(
    "hostwatt_cpuidle_cpu_state_time_seconds_total",
    "Time one CPU spent in the idle state (per_cpu = true)",
    CPU_STATE,
);
const CPU_ENTRIES: Family = Family::counter(
    "hostwatt_cpuidle_cpu_state_entries_total",
    "Times one CPU entered the idle state (per_cpu = true)",
    CPU_STATE,
);
const CPU_ABOVE: Family = Family::counter(
    "hostwatt_cpuidle_cpu_state_above_total",
    "Entries of one CPU whose idle was too short for the state (too deep) (per_cpu = true)",
    CPU_STATE,
);
const CPU_BELOW: Family = Family::counter(
    "hostwatt_cpuidle_cpu_state_below_total",
    "Entries of one CPU whose idle was long enough for a deeper state (too shallow) (per_cpu = true)",
    CPU_STATE,
);
const CPU_REJECTED: Family = Family::counter(
    "hostwatt_cpuidle_cpu_state_rejected_total",
    "Rejected requests of one CPU to enter the idle state (per_cpu = true)",
    CPU_STATE,
);
const CPU_RATIO: Family = Family::gauge(
    "hostwatt_cpuidle_cpu_state_residency_ratio",
    "Share of the last sampling interval one CPU spent in the idle state, capped at 1 (per_cpu = true)",
    CPU_STATE,
);
const CPU_DISABLED: Family = Family::gauge(
    "hostwatt_cpuidle_cpu_state_disabled",
    "1 if the idle state is disabled on this CPU through its disable file (per_cpu = true)",
    CPU_STATE,
);

/// One state aggregated over CPUs, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// N of `stateN`.
    pub index: u32,
    /// State name.
    pub name: String,
    /// Description, empty when unreadable.
    pub desc: String,
    /// Largest exit latency over CPUs, seconds.
    pub exit_latency_seconds: Option<f64>,
    /// Largest target residency over CPUs, seconds.
    pub target_residency_seconds: Option<f64>,
    /// Online CPUs with this state.
    pub cpus: u32,
    /// CPUs on which it is disabled; unknown when no CPU has a readable `disable`.
    pub disabled_cpus: Option<u32>,
    /// Time in the state, seconds.
    pub time_seconds: Option<f64>,
    /// Entries.
    pub entries: Option<u64>,
    /// Entries too deep for the idle that followed.
    pub above: Option<u64>,
    /// Entries too shallow for the idle that followed.
    pub below: Option<u64>,
    /// Rejected entry requests.
    pub rejected: Option<u64>,
    /// Share of the last interval; unknown on the first round.
    pub residency_ratio: Option<f64>,
}

/// One state of one CPU, as exported with `per_cpu`.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuState {
    /// N of `cpuN`.
    pub cpu: u32,
    /// N of `stateN`.
    pub index: u32,
    /// State name.
    pub name: String,
    /// `disable` != 0.
    pub disabled: Option<bool>,
    /// The kernel's counters for this CPU (µs and counts).
    pub counters: Counters,
    /// Share of the last interval, capped at 1; unknown on the first round.
    pub residency_ratio: Option<f64>,
}

/// What a cpuidle round publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `current_driver`.
    pub driver: Option<String>,
    /// `current_governor`.
    pub governor: Option<String>,
    /// LPIT CPU residency, seconds.
    pub lpi_cpu_seconds: Option<f64>,
    /// LPIT system residency, seconds.
    pub lpi_system_seconds: Option<f64>,
    /// States aggregated over CPUs, by index.
    pub states: Vec<State>,
    /// Per-CPU states; empty unless `per_cpu`.
    pub per_cpu: Vec<CpuState>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &DRIVER_INFO,
        &LPI_CPU,
        &LPI_SYSTEM,
        &STATE_INFO,
        &EXIT_LATENCY,
        &TARGET_RESIDENCY,
        &STATE_CPUS,
        &DISABLED_CPUS,
        &TIME,
        &ENTRIES,
        &ABOVE,
        &BELOW,
        &REJECTED,
        &RATIO,
        &CPU_TIME,
        &CPU_ENTRIES,
        &CPU_ABOVE,
        &CPU_BELOW,
        &CPU_REJECTED,
        &CPU_RATIO,
        &CPU_DISABLED,
    ];

    fn render(&self, out: &mut Families) {
        if self.driver.is_some() || self.governor.is_some() {
            let driver = self.driver.as_deref().unwrap_or("");
            let governor = self.governor.as_deref().unwrap_or("");
            out.push(&DRIVER_INFO, &[driver, governor], 1.0);
        }
        if let Some(s) = self.lpi_cpu_seconds {
            out.push(&LPI_CPU, &[], s);
        }
        if let Some(s) = self.lpi_system_seconds {
            out.push(&LPI_SYSTEM, &[], s);
        }
        for s in &self.states {
            let state = format!("state{}", s.index);
            let labels = [state.as_str(), s.name.as_str()];
            out.push(&STATE_INFO, &[&state, &s.name, &s.desc], 1.0);
            let gauges = [
                (&EXIT_LATENCY, s.exit_latency_seconds),
                (&TARGET_RESIDENCY, s.target_residency_seconds),
                (&STATE_CPUS, Some(f64::from(s.cpus))),
                (&DISABLED_CPUS, s.disabled_cpus.map(f64::from)),
                (&TIME, s.time_seconds),
                (&ENTRIES, s.entries.map(|v| v as f64)),
                (&ABOVE, s.above.map(|v| v as f64)),
                (&BELOW, s.below.map(|v| v as f64)),
                (&REJECTED, s.rejected.map(|v| v as f64)),
                (&RATIO, s.residency_ratio),
            ];
            for (family, value) in gauges {
                if let Some(v) = value {
                    out.push(family, &labels, v);
                }
            }
        }
        for c in &self.per_cpu {
            let cpu = c.cpu.to_string();
            let state = format!("state{}", c.index);
            let labels = [cpu.as_str(), state.as_str(), c.name.as_str()];
            let n = |i: usize| c.counters.0[i].map(|v| v as f64);
            let values = [
                (&CPU_TIME, c.counters.0[C_TIME].map(us_to_seconds)),
                (&CPU_ENTRIES, n(C_USAGE)),
                (&CPU_ABOVE, n(C_ABOVE)),
                (&CPU_BELOW, n(C_BELOW)),
                (&CPU_REJECTED, n(C_REJECTED)),
                (&CPU_RATIO, c.residency_ratio),
                (&CPU_DISABLED, c.disabled.map(|d| if d { 1.0 } else { 0.0 })),
            ];
            for (family, value) in values {
                if let Some(v) = value {
                    out.push(family, &labels, v);
                }
            }
        }
    }
}

/// Aggregation key: a state is the same across CPUs when index and name agree (hybrid or
/// big.LITTLE CPUs may name the same index differently; those stay apart).
type Key = (u32, String);

/// The cpuidle collector: previous per-CPU readings and the aggregate counters.
#[derive(Debug)]
pub struct Cpuidle {
    cfg: Config,
    /// (cpu, state index) → (name, counters) of the last round.
    prev: BTreeMap<(u32, u32), (String, Counters)>,
    prev_at: Option<Instant>,
    /// Monotonic aggregate counters per state.
    totals: BTreeMap<Key, Counters>,
    /// The last walk and the files that change, kept open (`kept`).
    kept: Option<Kept>,
}

/// Per-state accumulation within one round.
#[derive(Debug)]
struct Group {
    desc: Option<String>,
    latency_us: Option<u64>,
    residency_us: Option<u64>,
    cpus: u32,
    disabled: Option<u32>,
    now_sum: Counters,
    delta_sum: Counters,
    /// Σ min(Δtime, Δt) over CPUs with a previous reading, µs.
    ratio_us: u64,
    ratio_cpus: u32,
}

impl Cpuidle {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            prev: BTreeMap::new(),
            prev_at: None,
            totals: BTreeMap::new(),
            kept: None,
        }
    }

    /// Folds one round of readings taken at `at` into the aggregates.
    fn fold(&mut self, readings: &[StateReading], at: Instant) -> (Vec<State>, Vec<CpuState>) {
        let dt_us = self
            .prev_at
            .map(|p| u64::try_from(at.saturating_duration_since(p).as_micros()).unwrap_or(u64::MAX))
            .filter(|&d| d > 0);
        let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
        let mut per_cpu = Vec::new();
        for r in readings {
            let g = groups
                .entry((r.index, r.name.clone()))
                .or_insert_with(|| Group {
                    desc: None,
                    latency_us: None,
                    residency_us: None,
                    cpus: 0,
                    disabled: None,
                    now_sum: Counters::ZERO,
                    delta_sum: Counters::ZERO,
                    ratio_us: 0,
                    ratio_cpus: 0,
                });
            g.cpus += 1;
            g.desc = g.desc.take().or_else(|| r.desc.clone());
            g.latency_us = g.latency_us.max(r.latency_us);
            g.residency_us = g.residency_us.max(r.residency_us);
            if let Some(d) = r.disabled {
                *g.disabled.get_or_insert(0) += u32::from(d);
            }
            g.now_sum = g.now_sum.plus(r.counters);
            let prev = self
                .prev
                .get(&(r.cpu, r.index))
                .filter(|(name, _)| *name == r.name);
            let mut ratio = None;
            if let Some((_, prev)) = prev {
                let delta = r.counters.since(*prev);
                g.delta_sum.add_known(delta);
                if let (Some(dt), Some(dtime)) = (dt_us, delta.0[C_TIME]) {
                    // a CPU cannot idle longer than the interval; the excess is lag from a
                    // long idle that ended in this interval
                    let capped = dtime.min(dt);
                    g.ratio_us += capped;
                    g.ratio_cpus += 1;
                    ratio = Some(capped as f64 / dt as f64);
                }
            }
            if self.cfg.per_cpu {
                per_cpu.push(CpuState {
                    cpu: r.cpu,
                    index: r.index,
                    name: r.name.clone(),
                    disabled: r.disabled,
                    counters: r.counters,
                    residency_ratio: ratio,
                });
            }
        }
        // a state that vanished (driver change) drops out, and its series with it
        self.totals.retain(|k, _| groups.contains_key(k));
        let mut states = Vec::with_capacity(groups.len());
        for (key, g) in groups {
            let total = match self.totals.get_mut(&key) {
                Some(t) => {
                    t.add_known(g.delta_sum);
                    *t
                }
                None => *self.totals.entry(key.clone()).or_insert(g.now_sum),
            };
            let ratio = dt_us
                .filter(|_| g.ratio_cpus > 0)
                .map(|dt| g.ratio_us as f64 / (f64::from(g.ratio_cpus) * dt as f64));
            states.push(State {
                index: key.0,
                name: key.1,
                desc: g.desc.unwrap_or_default(),
                exit_latency_seconds: g.latency_us.map(us_to_seconds),
                target_residency_seconds: g.residency_us.map(us_to_seconds),
                cpus: g.cpus,
                disabled_cpus: g.disabled,
                time_seconds: total.0[C_TIME].map(us_to_seconds),
                entries: total.0[C_USAGE],
                above: total.0[C_ABOVE],
                below: total.0[C_BELOW],
                rejected: total.0[C_REJECTED],
                residency_ratio: ratio,
            });
        }
        self.prev = readings
            .iter()
            .map(|r| ((r.cpu, r.index), (r.name.clone(), r.counters)))
            .collect();
        self.prev_at = Some(at);
        (states, per_cpu)
    }
}

impl Collector for Cpuidle {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        // most rounds read only the counters through kept descriptors; a full walk when the set
        // may have changed (`kept`)
        let mut kept = match self.kept.take() {
            Some(mut k) => {
                if k.refresh(&cx.root) {
                    k
                } else {
                    drop(k); // its descriptors, before the walk opens new ones
                    Kept::walk(&cx.root)?
                }
            }
            None => Kept::walk(&cx.root)?,
        };
        let faults = std::mem::take(&mut kept.walk.faults);
        let (states, per_cpu) = self.fold(&kept.walk.states, at);
        let walk = &kept.walk;
        let snapshot = Snapshot {
            driver: walk.driver.clone(),
            governor: walk.governor.clone(),
            lpi_cpu_seconds: walk.lpi_cpu_us.map(us_to_seconds),
            lpi_system_seconds: walk.lpi_system_us.map(us_to_seconds),
            states,
            per_cpu,
        };
        self.kept = Some(kept);
        Ok(Sample { snapshot, faults })
    }
}

#[cfg(test)]
mod tests;
