//! The sysfs side of cpuidle: one walk over `cpu*/cpuidle/state*` and the global driver, governor
//! and LPIT files, into per-CPU readings in the kernel's units. Aggregation is in `mod.rs`.

use std::io;

use super::super::attrs::parse_numbered;
use crate::collectors::{CollectError, Fault};
use crate::host::root::Root;
use crate::parse::parse_u64;

pub(super) const CPU_BASE: &str = "sys/devices/system/cpu";
pub(super) const GLOBAL: &str = "sys/devices/system/cpu/cpuidle";

pub(super) const HINT: &str = "cpuidle sysfs files are normally world-readable: check the mount of sys \
                    (or /host/sys in a container) and any LSM policy";

/// Index of each counter in `Counters`.
pub(super) const C_TIME: usize = 0;
pub(super) const C_USAGE: usize = 1;
pub(super) const C_ABOVE: usize = 2;
pub(super) const C_BELOW: usize = 3;
pub(super) const C_REJECTED: usize = 4;

/// The five counters of a state (`time` µs, `usage`, `above`, `below`, `rejected`), in the
/// kernel's units so deltas stay exact integers; `None` where the kernel lacks the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters(pub [Option<u64>; 5]);

impl Counters {
    pub(super) const ZERO: Self = Self([Some(0); 5]);

    /// Field-wise sum; unknown where either side is unknown.
    pub(super) fn plus(self, other: Self) -> Self {
        let mut out = self;
        for (o, b) in out.0.iter_mut().zip(other.0) {
            *o = o.zip(b).map(|(a, b)| a.saturating_add(b));
        }
        out
    }

    /// Field-wise increase since `prev`; unknown where a counter went down (CPU re-registered)
    /// or either reading is missing.
    pub(super) fn since(self, prev: Self) -> Self {
        let mut out = self;
        for (o, p) in out.0.iter_mut().zip(prev.0) {
            *o = o.zip(p).and_then(|(now, prev)| now.checked_sub(prev));
        }
        out
    }

    /// Adds the known fields of `delta` (an unknown delta adds nothing, it does not poison).
    pub(super) fn add_known(&mut self, delta: Self) {
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
pub(super) struct Walk {
    pub(super) states: Vec<StateReading>,
    pub(super) faults: Vec<Fault>,
    pub(super) driver: Option<String>,
    pub(super) governor: Option<String>,
    pub(super) lpi_cpu_us: Option<u64>,
    pub(super) lpi_system_us: Option<u64>,
}

pub(super) fn read_walk(root: &Root) -> Result<Walk, CollectError> {
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
