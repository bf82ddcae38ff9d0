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
use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::attrs::parse_numbered;
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::config::Interval;
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::parse_u64;

const CPU_BASE: &str = "sys/devices/system/cpu";
const GLOBAL: &str = "sys/devices/system/cpu/cpuidle";

const HINT: &str = "cpuidle sysfs files are normally world-readable: check the mount of sys \
                    (or /host/sys in a container) and any LSM policy";

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

/// Index of each counter in `Counters`.
const C_TIME: usize = 0;
const C_USAGE: usize = 1;
const C_ABOVE: usize = 2;
const C_BELOW: usize = 3;
const C_REJECTED: usize = 4;

/// The five counters of a state (`time` µs, `usage`, `above`, `below`, `rejected`), in the
/// kernel's units so deltas stay exact integers; `None` where the kernel lacks the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters(pub [Option<u64>; 5]);

impl Counters {
    const ZERO: Self = Self([Some(0); 5]);

    /// Field-wise sum; unknown where either side is unknown.
    fn plus(self, other: Self) -> Self {
        let mut out = self;
        for (o, b) in out.0.iter_mut().zip(other.0) {
            *o = o.zip(b).map(|(a, b)| a.saturating_add(b));
        }
        out
    }

    /// Field-wise increase since `prev`; unknown where a counter went down (CPU re-registered)
    /// or either reading is missing.
    fn since(self, prev: Self) -> Self {
        let mut out = self;
        for (o, p) in out.0.iter_mut().zip(prev.0) {
            *o = o.zip(p).and_then(|(now, prev)| now.checked_sub(prev));
        }
        out
    }

    /// Adds the known fields of `delta` (an unknown delta adds nothing, it does not poison).
    fn add_known(&mut self, delta: Self) {
        for (t, d) in self.0.iter_mut().zip(delta.0) {
            if let (Some(t), Some(d)) = (t.as_mut(), d) {
                *t = t.saturating_add(d);
            }
        }
    }
}

/// One idle state of one CPU as read from sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReading {
    /// N of `cpuN`.
    pub cpu: u32,
    /// N of `stateN`.
    pub index: u32,
    /// `name`, e.g. `C6`, `POLL`.
    pub name: String,
    /// `desc`, e.g. `MWAIT 0x20`.
    pub desc: Option<String>,
    /// `latency`, µs.
    pub latency_us: Option<u64>,
    /// `residency`, µs.
    pub residency_us: Option<u64>,
    /// `disable` != 0.
    pub disabled: Option<bool>,
    /// The counters.
    pub counters: Counters,
}

/// `cpu12` → 12; `cpufreq`, `cpuidle`, `online` → `None`.
pub fn parse_cpu_dir(name: &str) -> Option<u32> {
    parse_numbered(name, "cpu")
}

/// `state3` → 3.
pub fn parse_state_dir(name: &str) -> Option<u32> {
    parse_numbered(name, "state")
}

/// µs → s, the one unit conversion of this collector.
pub fn us_to_seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Reads and parses an optional integer file: missing → `None`, garbage → `Parse`.
fn read_opt_u64(root: &Root, what: &'static str, rel: &str) -> Result<Option<u64>, CollectError> {
    let text = root
        .read_optional(rel)
        .map_err(|e| CollectError::from_read(e, HINT))?;
    text.map(|t| parse_u64(what, &t).map_err(|e| CollectError::parse(rel, e)))
        .transpose()
}

fn read_req_u64(root: &Root, what: &'static str, rel: &str) -> Result<u64, CollectError> {
    let text = root
        .read_trimmed(rel)
        .map_err(|e| CollectError::from_read(e, HINT))?;
    parse_u64(what, &text).map_err(|e| CollectError::parse(rel, e))
}

fn read_state(root: &Root, cpu: u32, index: u32, dir: &str) -> Result<StateReading, CollectError> {
    let name = root
        .read_trimmed(format!("{dir}/name"))
        .map_err(|e| CollectError::from_read(e, HINT))?;
    let desc = root.read_optional(format!("{dir}/desc")).ok().flatten();
    let opt = |what, file: &str| read_opt_u64(root, what, &format!("{dir}/{file}"));
    let counters = Counters([
        Some(read_req_u64(root, "cpuidle time", &format!("{dir}/time"))?),
        Some(read_req_u64(
            root,
            "cpuidle usage",
            &format!("{dir}/usage"),
        )?),
        opt("cpuidle above", "above")?,
        opt("cpuidle below", "below")?,
        opt("cpuidle rejected", "rejected")?,
    ]);
    Ok(StateReading {
        cpu,
        index,
        name,
        desc,
        latency_us: opt("cpuidle latency", "latency")?,
        residency_us: opt("cpuidle residency", "residency")?,
        disabled: opt("cpuidle disable", "disable")?.map(|d| d != 0),
        counters,
    })
}

/// Whether `cpuN/online` says 0. cpu0 often has no `online` file at all: it cannot be taken
/// offline, so a missing file means online.
pub(crate) fn is_offline(root: &Root, cpu_dir: &str) -> bool {
    root.read_optional(format!("{CPU_BASE}/{cpu_dir}/online"))
        .ok()
        .flatten()
        .is_some_and(|o| o == "0")
}

/// One walk of the cpuidle tree.
#[derive(Debug, Default)]
struct Walk {
    states: Vec<StateReading>,
    faults: Vec<Fault>,
    driver: Option<String>,
    governor: Option<String>,
    lpi_cpu_us: Option<u64>,
    lpi_system_us: Option<u64>,
}

fn read_walk(root: &Root) -> Result<Walk, CollectError> {
    let entries = root.list(CPU_BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CollectError::Unavailable(format!("{CPU_BASE} does not exist")),
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut walk = Walk::default();
    for entry in entries {
        let Some(cpu) = parse_cpu_dir(&entry) else {
            continue;
        };
        let dir = format!("{CPU_BASE}/{entry}/cpuidle");
        // an offline CPU has no cpuidle dir; `online` is checked too in case a driver keeps it
        if is_offline(root, &entry) || !root.exists(&dir) {
            continue;
        }
        let states = match root.list(&dir) {
            Ok(s) => s,
            Err(e) => {
                walk.faults.push(Fault {
                    item: entry.clone(),
                    error: CollectError::from_read(e, HINT),
                });
                continue;
            }
        };
        for state in states {
            let Some(index) = parse_state_dir(&state) else {
                continue;
            };
            match read_state(root, cpu, index, &format!("{dir}/{state}")) {
                Ok(r) => walk.states.push(r),
                Err(error) => walk.faults.push(Fault {
                    item: format!("{entry}/{state}"),
                    error,
                }),
            }
        }
    }
    if walk.states.is_empty() {
        if walk.faults.is_empty() {
            return Err(CollectError::Unavailable(
                "no online CPU has a cpuidle directory (no cpuidle driver, or cpuidle.off=1)"
                    .to_owned(),
            ));
        }
        return Err(walk.faults.swap_remove(0).error);
    }
    walk.driver = root
        .read_optional(format!("{GLOBAL}/current_driver"))
        .ok()
        .flatten();
    // older kernels have only `current_governor_ro` unless booted with cpuidle_sysfs_switch
    walk.governor = ["current_governor", "current_governor_ro"]
        .iter()
        .find_map(|f| root.read_optional(format!("{GLOBAL}/{f}")).ok().flatten());
    for (file, slot) in [
        ("low_power_idle_cpu_residency_us", &mut walk.lpi_cpu_us),
        (
            "low_power_idle_system_residency_us",
            &mut walk.lpi_system_us,
        ),
    ] {
        match read_opt_u64(
            root,
            "low power idle residency",
            &format!("{GLOBAL}/{file}"),
        ) {
            Ok(v) => *slot = v,
            Err(error) => walk.faults.push(Fault {
                item: file.to_owned(),
                error,
            }),
        }
    }
    Ok(walk)
}

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
    const NAME: &'static str = "cpuidle";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        // Read inline: cpuidle attributes are per-CPU counters served from memory, and a hand-off
        // to the blocking pool costs two wake-ups a round (docs/BENCHMARKS.md).
        let walk = read_walk(&cx.root)?;
        let (states, per_cpu) = self.fold(&walk.states, at);
        Ok(Sample {
            snapshot: Snapshot {
                driver: walk.driver,
                governor: walk.governor,
                lpi_cpu_seconds: walk.lpi_cpu_us.map(us_to_seconds),
                lpi_system_seconds: walk.lpi_system_us.map(us_to_seconds),
                states,
                per_cpu,
            },
            faults: walk.faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::command::Runner;
    use crate::testutil::shared_root;
    use std::path::{Path, PathBuf};

    const CASE: &str = "tests/cases/cpuidle-deep";

    fn case_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE)
    }

    /// The case's `root/` copied into a fresh tempdir.
    fn case_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::testutil::overlay(&case_dir().join("root"), dir.path());
        dir
    }

    fn cx(path: &Path) -> Context {
        Context {
            root: Root::new(path),
            runner: Runner::replay(Vec::new()),
        }
    }

    /// Runs round 0 at `t0` and round 1 (after overlaying `rounds/1`) at `t0 + 15 s`.
    async fn two_rounds(cfg: Config) -> (Sample<Snapshot>, Sample<Snapshot>) {
        let tree = case_root();
        let cx = cx(tree.path());
        let mut c = Cpuidle::new(cfg);
        let t0 = Instant::now();
        let first = c.sample(&cx, t0).await.unwrap();
        crate::testutil::overlay(&case_dir().join("rounds/1"), tree.path());
        let second = c.sample(&cx, t0 + Duration::from_secs(15)).await.unwrap();
        (first, second)
    }

    fn state<'a>(snap: &'a Snapshot, name: &str) -> &'a State {
        snap.states
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no state {name} in {:?}", snap.states))
    }

    #[test]
    fn parses_numbered_dir_names() {
        assert_eq!(parse_cpu_dir("cpu0"), Some(0));
        assert_eq!(parse_cpu_dir("cpu127"), Some(127));
        for not_a_cpu in ["cpufreq", "cpuidle", "cpu", "online", "cpu1a", "cpu-1"] {
            assert_eq!(parse_cpu_dir(not_a_cpu), None, "{not_a_cpu}");
        }
        assert_eq!(parse_state_dir("state10"), Some(10));
        assert_eq!(parse_state_dir("state"), None);
        assert_eq!(parse_state_dir("driver"), None);
    }

    #[test]
    fn counters_sum_and_delta_field_wise() {
        let a = Counters([Some(10), Some(2), None, Some(5), Some(0)]);
        let b = Counters([Some(15), Some(3), Some(1), Some(4), Some(0)]);
        assert_eq!(
            a.plus(b),
            Counters([Some(25), Some(5), None, Some(9), Some(0)])
        );
        // below went down 5 → 4: a re-registered CPU, not a negative delta
        assert_eq!(
            b.since(a),
            Counters([Some(5), Some(1), None, None, Some(0)])
        );
        let mut t = Counters([Some(100), None, Some(7), Some(7), Some(7)]);
        t.add_known(b.since(a));
        assert_eq!(t, Counters([Some(105), None, Some(7), Some(7), Some(7)]));
    }

    #[test]
    fn reads_the_captured_firecracker_tree() {
        let walk = read_walk(&shared_root("sysfs/firecracker-epyc")).unwrap();
        assert!(walk.faults.is_empty(), "{:?}", walk.faults);
        assert_eq!(walk.driver.as_deref(), Some("haltpoll"));
        assert_eq!(walk.governor.as_deref(), Some("haltpoll"));
        assert_eq!((walk.lpi_cpu_us, walk.lpi_system_us), (None, None));
        let ids: Vec<_> = walk
            .states
            .iter()
            .map(|s| (s.cpu, s.index, s.name.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                (0, 0, "POLL"),
                (0, 1, "haltpoll idle"),
                (1, 0, "POLL"),
                (1, 1, "haltpoll idle")
            ]
        );
        let cpu1 = &walk.states[3];
        assert_eq!(
            cpu1.counters,
            Counters([
                Some(2_157_652_922),
                Some(763_990),
                Some(26),
                Some(0),
                Some(0)
            ])
        );
        assert_eq!(
            (
                cpu1.desc.as_deref(),
                cpu1.latency_us,
                cpu1.residency_us,
                cpu1.disabled
            ),
            (
                Some("default architecture idle"),
                Some(1),
                Some(1),
                Some(false)
            )
        );

        let mut c = Cpuidle::new(Config::default());
        let (states, per_cpu) = c.fold(&walk.states, Instant::now());
        assert!(per_cpu.is_empty(), "per-CPU series are opt-in");
        let halt = &states[1];
        assert_eq!(
            (
                halt.index,
                halt.name.as_str(),
                halt.cpus,
                halt.disabled_cpus
            ),
            (1, "haltpoll idle", 2, Some(0))
        );
        assert_eq!(halt.time_seconds, Some(3_972.428_118)); // 1814775196 + 2157652922 µs
        assert_eq!(
            (halt.entries, halt.above, halt.below),
            (Some(1_242_170), Some(40), Some(0))
        );
        assert_eq!(halt.exit_latency_seconds, Some(1e-6));
        assert_eq!(halt.residency_ratio, None, "no ratio on the first round");
    }

    #[tokio::test]
    async fn aggregates_the_deep_idle_case_over_two_rounds() {
        let (first, second) = two_rounds(Config::default()).await;
        assert!(first.faults.is_empty() && second.faults.is_empty());
        let s0 = &first.snapshot;
        assert_eq!(s0.driver.as_deref(), Some("intel_idle"));
        assert_eq!(s0.governor.as_deref(), Some("menu"));
        assert_eq!(s0.lpi_cpu_seconds, Some(1_234.567_89));
        assert_eq!(s0.lpi_system_seconds, Some(987.654_321));
        let names: Vec<_> = s0
            .states
            .iter()
            .map(|s| (s.index, s.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(0, "POLL"), (1, "C1"), (2, "C1E"), (3, "C6"), (4, "C10")]
        );
        let c6 = state(s0, "C6");
        assert_eq!(c6.desc, "MWAIT 0x20");
        assert_eq!(
            (c6.exit_latency_seconds, c6.target_residency_seconds),
            (Some(170e-6), Some(500e-6))
        );
        // cpu3 is offline: three CPUs, not four
        assert_eq!((c6.cpus, c6.disabled_cpus), (3, Some(0)));
        assert_eq!(c6.time_seconds, Some(1_245.677_9));
        assert!(s0.states.iter().all(|s| s.residency_ratio.is_none()));
        assert_eq!(
            state(s0, "POLL").disabled_cpus,
            Some(1),
            "cpu2 disabled POLL"
        );

        let s1 = &second.snapshot;
        assert_eq!(s1.lpi_cpu_seconds, Some(1_245.067_89));
        assert_eq!(s1.lpi_system_seconds, Some(995.154_321));
        let got: Vec<_> = s1
            .states
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.time_seconds,
                    s.entries,
                    s.above,
                    s.below,
                    s.rejected,
                    s.residency_ratio,
                )
            })
            .collect();
        // ratio = Σ Δtime / (15 s × 3 CPUs), e.g. C10: (9 + 6 + 12) s / 45 s
        #[rustfmt::skip]
        assert_eq!(got, [
            ("POLL", Some(2.232_999), Some(19_713), Some(0), Some(2_339), Some(0), Some(0.001)),
            ("C1", Some(8.134_566), Some(41_455), Some(51), Some(11_955), Some(0), Some(0.02)),
            ("C1E", Some(137.928_9), Some(484_733), Some(7_594), Some(39_353), Some(0), Some(0.05)),
            ("C6", Some(1_254.677_9), Some(936_955), Some(128_277), Some(18_720), Some(0), Some(0.2)),
            ("C10", Some(7_430.702_48), Some(665_154), Some(76_196), Some(0), Some(60), Some(0.6)),
        ]);
    }

    #[tokio::test]
    async fn per_cpu_series_are_opt_in() {
        let cfg = Config {
            per_cpu: true,
            ..Config::default()
        };
        let (_, second) = two_rounds(cfg).await;
        let s = &second.snapshot;
        assert_eq!(s.per_cpu.len(), 15, "3 online CPUs x 5 states");
        let cpu2_c10 = s
            .per_cpu
            .iter()
            .find(|c| c.cpu == 2 && c.name == "C10")
            .unwrap();
        assert_eq!(cpu2_c10.residency_ratio, Some(0.8)); // 12 s of 15
        assert_eq!(cpu2_c10.counters.0[C_TIME], Some(2_613_234_567));
        let cpu2_poll = s
            .per_cpu
            .iter()
            .find(|c| c.cpu == 2 && c.name == "POLL")
            .unwrap();
        assert_eq!(
            (cpu2_poll.disabled, cpu2_poll.residency_ratio),
            (Some(true), Some(0.0))
        );

        let text = crate::testutil::render_series(s).join("\n") + "\n";
        for line in [
            "hostwatt_cpuidle_state_residency_ratio{state=\"state4\",name=\"C10\"} 0.6\n",
            "hostwatt_cpuidle_cpu_state_residency_ratio{cpu=\"2\",state=\"state4\",name=\"C10\"} 0.8\n",
            "hostwatt_cpuidle_state_info{state=\"state3\",name=\"C6\",desc=\"MWAIT 0x20\"} 1\n",
            "hostwatt_cpuidle_driver_info{driver=\"intel_idle\",governor=\"menu\"} 1\n",
            "hostwatt_cpuidle_state_disabled_cpus{state=\"state0\",name=\"POLL\"} 1\n",
            "hostwatt_cpuidle_cpu_state_disabled{cpu=\"2\",state=\"state0\",name=\"POLL\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("cpu=\"3\""), "offline cpu3 has no series");
    }

    fn reading(cpu: u32, time_us: u64) -> StateReading {
        StateReading {
            cpu,
            index: 1,
            name: "C6".into(),
            desc: None,
            latency_us: Some(85),
            residency_us: Some(200),
            disabled: None,
            counters: Counters([Some(time_us), Some(time_us / 100), None, None, None]),
        }
    }

    #[test]
    fn aggregate_counters_survive_a_cpu_going_offline() {
        let mut c = Cpuidle::new(Config::default());
        let t0 = Instant::now();
        let (s, _) = c.fold(&[reading(0, 1_000_000), reading(1, 3_000_000)], t0);
        assert_eq!(s[0].time_seconds, Some(4.0));
        // cpu1 goes offline; cpu0 idles 5 of 10 s
        let (s, _) = c.fold(&[reading(0, 6_000_000)], t0 + Duration::from_secs(10));
        assert_eq!(
            (
                s[0].time_seconds,
                s[0].cpus,
                s[0].residency_ratio,
                s[0].above
            ),
            (Some(9.0), 1, Some(0.5), None)
        );
        // cpu1 comes back with its old counter: its time before now is not added again, and a
        // long idle that ended in this interval (lag) is capped at the interval
        let (s, _) = c.fold(
            &[reading(0, 26_000_000), reading(1, 3_000_000)],
            t0 + Duration::from_secs(20),
        );
        assert_eq!(
            (s[0].time_seconds, s[0].cpus, s[0].residency_ratio),
            (Some(29.0), 2, Some(1.0))
        );
    }

    #[test]
    fn missing_cpu_dir_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_walk(&Root::new(dir.path())).unwrap_err().kind(),
            "unavailable"
        );
        // node_exporter's capture has CPUs, but no cpuidle driver
        let err = read_walk(&shared_root("sysfs/node_exporter")).unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");
    }

    #[test]
    fn a_garbage_state_is_a_fault_and_the_others_stay() {
        let tree = case_root();
        let bad = "sys/devices/system/cpu/cpu1/cpuidle/state3/time";
        std::fs::write(tree.path().join(bad), "12x\n").unwrap();
        let walk = read_walk(&Root::new(tree.path())).unwrap();
        assert_eq!(walk.states.len(), 14);
        let faults: Vec<_> = walk
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.to_string()))
            .collect();
        assert_eq!(
            faults,
            [(
                "cpu1/state3",
                format!("{bad}: cpuidle time, line 1: not an unsigned integer: \"12x\"")
            )]
        );
    }

    #[test]
    fn eacces_maps_to_permission_denied() {
        let err = crate::host::root::ReadError {
            rel_path: "sys/devices/system/cpu/cpu0/cpuidle/state1/time".to_owned(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(CollectError::from_read(err, HINT).kind(), "permission");
    }

    #[tokio::test]
    async fn samples_the_live_host_without_parse_errors() {
        let mut c = Cpuidle::new(Config::default());
        let live = Path::new("/sys/devices/system/cpu/cpu0/cpuidle").exists();
        match c.sample(&cx(Path::new("/")), Instant::now()).await {
            Ok(sample) => {
                assert!(
                    sample.snapshot.states.iter().any(|s| !s.name.is_empty()),
                    "{:?}",
                    sample.snapshot
                );
                assert!(sample.faults.iter().all(|f| f.error.kind() != "parse"));
            }
            Err(e) => {
                assert!(!live, "cpu0 has cpuidle, yet: {e}");
                assert_eq!(e.kind(), "unavailable", "{e}");
            }
        }
    }
}
