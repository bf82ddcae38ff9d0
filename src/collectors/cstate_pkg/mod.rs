//! cstate_pkg: Intel package C-state residency (PC2..PC10) from the perf `cstate_pkg` PMU
//! (arch/x86/events/intel/cstate.c), the counters turbostat reads as `Pkg%pc2`.. `Pkg%pc10`.
//!
//! The PMU's description is read through `Root` (`sys/bus/event_source/devices/cstate_pkg/`:
//! `type`, `cpumask`, `events/c<N>-residency` = `event=0x..`, `format/event` = `config:0-63`;
//! Documentation/ABI/testing/sysfs-bus-event_source-devices-format and -events), and the
//! counters are opened with `perf_event_open` (`perf`: one counting event per package and
//! state on the CPU `cpumask` names for that package, kept open and read each round).
//!
//! The counters tick at the TSC rate whatever the core clock does, so, as turbostat does, the
//! share of a round spent in a state is its count over the TSC count of the same round on the
//! same CPU (the `msr` PMU's `tsc` event, opened alongside). Seconds are that share times the
//! round's length (`at` between rounds): no TSC frequency is needed, and none is guessed.
//!
//! It never exports 0 % for what it cannot count. With no PMU (AMD desktop parts, VMs: not
//! measurable on this CPU) the collector is unavailable, as RAPL is on a VM. When the counters
//! are refused it says why in `hostwatt_cstate_pkg_measurable{reason}` and a fault:
//! `perf_event_paranoid` > 0 without CAP_PERFMON or CAP_SYS_ADMIN, `perf_event_open` refused by
//! a seccomp filter or LSM, or another refusal.

mod perf;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Instant;

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_u64};

pub use crate::host::cstate_pkg::{PMU, Unmeasurable, depth};
pub use perf::{Counts, classify_open_error};

/// The PMU with the TSC event the residency counts are divided by.
pub const MSR_PMU: &str = "sys/bus/event_source/devices/msr";
/// Who may open system-wide counters without CAP_PERFMON (Documentation/admin-guide/perf-security.rst).
pub const PARANOID: &str = "proc/sys/kernel/perf_event_paranoid";

/// `[collectors.cstate_pkg]`: `enabled`, and `interval` (default 15s).
pub type Config = crate::collectors::Basic<crate::collectors::Every15s>;

const STATE: &[&str] = &["package", "state"];

const SECONDS: Family = Family::counter(
    "hostwatt_cstate_pkg_residency_seconds_total",
    "Time the CPU package spent in package C-state `state` (pc2..pc10) since hostwatt started counting, seconds: each round's count over the TSC count of the same round (as turbostat), times the round's length",
    STATE,
);
const RATIO: Family = Family::gauge(
    "hostwatt_cstate_pkg_residency_ratio",
    "Share of the last round the CPU package spent in package C-state `state` (residency count / TSC count, 0..1)",
    STATE,
);
const OBSERVED: Family = Family::counter(
    "hostwatt_cstate_pkg_observed_seconds_total",
    "Time the residency counters cover, seconds (the sum of the rounds counted): rate(residency) / rate(this) is the share of time in a state",
    &[],
);
const MEASURABLE: Family = Family::gauge(
    "hostwatt_cstate_pkg_measurable",
    "1 when package C-state residency is counted; 0 with why not: perf_event_paranoid, permission_denied, open_failed, no_tsc, bad_description (a CPU with no package C-state counter at all, AMD desktop parts and VMs, has no series: hostwatt_collector_available{collector=\"cstate_pkg\"} 0)",
    &["reason"],
);

/// One term of a PMU format: which bits of `config` a field fills (`config:0-7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatField {
    /// Lowest bit.
    pub lo: u32,
    /// Highest bit, inclusive.
    pub hi: u32,
}

/// `format/<field>` text (`config:0-63`, `config:21`) → the bits. Only `config` is accepted: the
/// cstate and msr PMUs use nothing else, and a field in `config1` would need more than `Raw`.
pub fn parse_format(text: &str) -> Result<FormatField, ParseError> {
    let bad = |why: &str| ParseError::at("perf format", 1, format!("{why}: {:?}", text.trim()));
    let bits = text
        .trim()
        .strip_prefix("config:")
        .ok_or_else(|| bad("not a config field"))?;
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad("bit is not a number"));
    let (lo, hi) = match bits.split_once('-') {
        Some((lo, hi)) => (num(lo)?, num(hi)?),
        None => (num(bits)?, num(bits)?),
    };
    if lo > hi || hi > 63 {
        return Err(bad("bits out of range"));
    }
    Ok(FormatField { lo, hi })
}

/// `events/<name>` text (`event=0x02`, terms separated by commas; a bare term is 1) encoded
/// into `config` through `formats`.
pub fn encode(text: &str, formats: &BTreeMap<String, FormatField>) -> Result<u64, ParseError> {
    let mut config = 0u64;
    for term in text.trim().split(',').filter(|t| !t.is_empty()) {
        let (name, value) = term.split_once('=').unwrap_or((term, "1"));
        let value = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        }
        .ok_or_else(|| ParseError::at("perf event", 1, format!("bad value in {term:?}")))?;
        let f = formats.get(name).ok_or_else(|| {
            ParseError::at("perf event", 1, format!("no format for {name:?} in {term:?}"))
        })?;
        let width = f.hi - f.lo + 1;
        if width < 64 && value >> width != 0 {
            return Err(ParseError::at(
                "perf event",
                1,
                format!("{term:?} does not fit {width} bits"),
            ));
        }
        config |= value << f.lo;
    }
    Ok(config)
}

/// A cpulist (`0`, `0,8`, `0-3,8-11`; Documentation/admin-guide/cputopology.rst) → CPU numbers.
pub fn parse_cpulist(text: &str) -> Result<Vec<usize>, ParseError> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let n = |s: &str| {
            parse_u64("cpulist", s).and_then(|v| {
                usize::try_from(v).map_err(|_| ParseError::at("cpulist", 1, "out of range"))
            })
        };
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(n(a)?..=n(b)?),
            None => cpus.push(n(part)?),
        }
    }
    Ok(cpus)
}

/// A PMU's description: its `type`, the CPUs of `cpumask` (one per package for cstate_pkg;
/// absent for msr, which counts on any CPU) and events by name with their encoded config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmu {
    /// `perf_event_attr.type`.
    pub ty: u32,
    /// `cpumask`, empty when the PMU has none.
    pub cpus: Vec<usize>,
    /// (event file name, config), in file-name order.
    pub events: Vec<(String, u64)>,
}

/// Reads the PMU at `dir` through `root`. `Ok(None)` when the PMU does not exist.
pub fn read_pmu(root: &Root, dir: &str) -> Result<Option<Pmu>, CollectError> {
    if !root.exists(format!("{dir}/type")) {
        return Ok(None);
    }
    let hint = "perf PMU descriptions in sysfs are world-readable: check the mount of sys";
    let read = |rel: String| root.read_trimmed(&rel).map_err(|e| CollectError::from_read(e, hint));
    let parse = |rel: &str, e| CollectError::parse(rel, e);
    let ty_rel = format!("{dir}/type");
    let ty = parse_u64("type", &read(ty_rel.clone())?)
        .and_then(|t| u32::try_from(t).map_err(|_| ParseError::at("type", 1, "out of range")))
        .map_err(|e| parse(&ty_rel, e))?;
    let cpus = match root.read_optional(format!("{dir}/cpumask")) {
        Ok(Some(t)) => parse_cpulist(&t).map_err(|e| parse(&format!("{dir}/cpumask"), e))?,
        Ok(None) => Vec::new(),
        Err(e) => return Err(CollectError::from_read(e, hint)),
    };
    let mut formats = BTreeMap::new();
    for name in root.list(format!("{dir}/format")).unwrap_or_default() {
        let rel = format!("{dir}/format/{name}");
        formats.insert(name, parse_format(&read(rel.clone())?).map_err(|e| parse(&rel, e))?);
    }
    let mut events = Vec::new();
    // `<event>.scale` / `.unit` describe an event; they are not events
    for name in root.list(format!("{dir}/events")).unwrap_or_default() {
        if name.contains('.') {
            continue;
        }
        let rel = format!("{dir}/events/{name}");
        events.push((name, encode(&read(rel.clone())?, &formats).map_err(|e| parse(&rel, e))?));
    }
    events.sort();
    Ok(Some(Pmu { ty, cpus, events }))
}

/// `c6-residency` → `pc6`, the name turbostat and the SDM give package state 6.
pub fn state_name(event: &str) -> Option<String> {
    let n = event.strip_prefix('c')?.strip_suffix("-residency")?;
    n.parse::<u32>().ok().map(|n| format!("pc{n}"))
}

/// Each (package, state)'s share of the round between `prev` and `now`: its count's growth over
/// the TSC count's growth on the same CPU, clamped to 0..1. A package whose TSC did not move or
/// a counter that went back (reopened) has no share this round.
pub fn shares(prev: &[Counts], now: &[Counts]) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for n in now {
        let Some(p) = prev.iter().find(|p| p.package == n.package) else {
            continue;
        };
        let Some(tsc) = n.tsc.checked_sub(p.tsc).filter(|d| *d > 0) else {
            continue;
        };
        for (state, count) in &n.states {
            let before = p.states.iter().find(|(s, _)| s == state).map(|(_, c)| *c);
            if let Some(d) = before.and_then(|b| count.checked_sub(b)) {
                let share = (d as f64 / tsc as f64).clamp(0.0, 1.0);
                out.insert((n.package.clone(), state.clone()), share);
            }
        }
    }
    out
}

/// What the collector publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Why residency is not counted; `None` when it is.
    pub unmeasurable: Option<Unmeasurable>,
    /// (package, state) → seconds in that state since counting started.
    pub seconds: BTreeMap<(String, String), f64>,
    /// (package, state) → share of the last round.
    pub ratio: BTreeMap<(String, String), f64>,
    /// Seconds of rounds counted so far (the time `seconds` covers).
    pub observed_secs: f64,
}

impl Snapshot {
    /// Each state's share of the observed time, the mean over packages, deepest last; empty
    /// before two rounds.
    pub fn mean_shares(&self) -> Vec<(String, f64)> {
        let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        if self.observed_secs <= 0.0 {
            return Vec::new();
        }
        for ((_, state), secs) in &self.seconds {
            let e = sums.entry(state).or_default();
            e.0 += secs / self.observed_secs;
            e.1 += 1;
        }
        let mut out: Vec<(String, f64)> = sums
            .into_iter()
            .map(|(s, (sum, n))| (s.to_owned(), sum / n as f64))
            .collect();
        out.sort_by_key(|(s, _)| depth(s));
        out
    }
}

impl Snapshot {
    /// What the advisor's check 5 reads; `while_idle` says the totals cover idle time only.
    pub fn summary(&self, while_idle: bool) -> crate::advisor::PackageCstates {
        crate::advisor::PackageCstates {
            unmeasurable: self.unmeasurable.as_ref().map(Unmeasurable::text),
            observed_secs: self.observed_secs,
            shares: self.mean_shares(),
            while_idle,
        }
    }

    /// Adds to these totals what `now`'s totals grew by since `before` (two snapshots of the
    /// same collector): how the advisor keeps residency over the rounds the host was idle.
    pub fn add_growth(&mut self, before: &Snapshot, now: &Snapshot) {
        let dt = now.observed_secs - before.observed_secs;
        if dt <= 0.0 {
            return;
        }
        for (key, secs) in &now.seconds {
            let grew = secs - before.seconds.get(key).copied().unwrap_or(0.0);
            *self.seconds.entry(key.clone()).or_default() += grew.max(0.0);
        }
        self.observed_secs += dt;
    }
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&SECONDS, &OBSERVED, &RATIO, &MEASURABLE];

    fn render(&self, out: &mut Families) {
        match &self.unmeasurable {
            None => out.push(&MEASURABLE, &["ok"], 1.0),
            Some(why) => out.push(&MEASURABLE, &[why.code()], 0.0),
        }
        for ((package, state), secs) in &self.seconds {
            out.push(&SECONDS, &[package, state], *secs);
        }
        if self.unmeasurable.is_none() || self.observed_secs > 0.0 {
            out.push(&OBSERVED, &[], self.observed_secs);
        }
        for ((package, state), share) in &self.ratio {
            out.push(&RATIO, &[package, state], *share);
        }
    }
}

/// The collector: the open counters, the last round's counts, and the running totals.
pub struct CstatePkg {
    counters: Option<perf::Counters>,
    last: Option<(Vec<Counts>, Instant)>,
    snap: Snapshot,
}

impl CstatePkg {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self {
            counters: None,
            last: None,
            snap: Snapshot::default(),
        }
    }

    /// Adds a round's counts read at `at` to the totals.
    fn advance(&mut self, now: Vec<Counts>, at: Instant) {
        if let Some((prev, t0)) = &self.last {
            let dt = at.saturating_duration_since(*t0).as_secs_f64();
            let ratio = shares(prev, &now);
            if dt > 0.0 && !ratio.is_empty() {
                for (key, share) in &ratio {
                    *self.snap.seconds.entry(key.clone()).or_default() += share * dt;
                }
                self.snap.observed_secs += dt;
                self.snap.ratio = ratio;
            }
        }
        self.last = Some((now, at));
    }
}

impl Collector for CstatePkg {
    type Snapshot = Snapshot;
    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        // read on the collection worker like every sysfs read (scheduler::worker): handing it to
        // the blocking pool cost two thread wake-ups a round, even where there is no PMU
        let (counters, read) = perf::round(&cx.root, self.counters.take());
        self.counters = counters;
        let mut faults = Vec::new();
        match read {
            Ok(counts) => {
                self.snap.unmeasurable = None;
                self.advance(counts, at);
            }
            // like RAPL on a VM: nothing to count here, and no residency series (never 0 %)
            Err(Unmeasurable::NoPmu) => {
                self.last = None;
                self.snap = Snapshot::default();
                return Err(CollectError::Unavailable(Unmeasurable::NoPmu.text()));
            }
            Err(why) => {
                // counting starts again from the next good round; what was counted stays
                self.last = None;
                self.snap.ratio.clear();
                faults.push(Fault {
                    item: "counters".to_owned(),
                    error: why.fault(),
                });
                self.snap.unmeasurable = Some(why);
            }
        }
        Ok(Sample {
            snapshot: self.snap.clone(),
            faults,
        })
    }
}
