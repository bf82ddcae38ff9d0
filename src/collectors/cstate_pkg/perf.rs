//! The counter edge: `perf_event_open` through the `perf-event2` crate (safe; hostwatt forbids
//! unsafe code), one counting event per package and state plus that CPU's TSC, and why a PMU
//! that is described cannot be counted (`Unmeasurable`, from `host::cstate_pkg`).

use std::io;

use perf_event::events::Raw;
use perf_event::{Builder, Counter};

use super::{MSR_PMU, PARANOID, PMU, Pmu, read_pmu, state_name};
use crate::host::cstate_pkg::Unmeasurable;
use crate::host::root::Root;

/// What fixes a refused `perf_event_open`, for the permission fault.
const HINT: &str = "system-wide counters need CAP_PERFMON or CAP_SYS_ADMIN, or kernel.perf_event_paranoid <= 0; under systemd, SystemCallFilter= must allow perf_event_open (the shipped unit does)";

// `Unmeasurable` is defined below collectors (the advisor reads it too); its fault is a
// collector error, so it is made here.
impl Unmeasurable {
    /// The round's fault: `permission` for a refusal the hint fixes, `unavailable` (with the
    /// whole text) for the rest. `NoPmu` is not a fault but the collector's `Unavailable`.
    pub fn fault(&self) -> super::CollectError {
        match self {
            Self::Paranoid(_) | Self::Denied(_) => super::CollectError::PermissionDenied {
                path: format!("{PMU} (perf_event_open)"),
                hint: HINT,
            },
            _ => super::CollectError::Unavailable(self.text()),
        }
    }
}

/// Classifies the error of opening `what` given the paranoid level read from the root.
pub fn classify_open_error(err: &io::Error, what: &str, paranoid: Option<i64>) -> Unmeasurable {
    const EPERM: i32 = 1;
    const EACCES: i32 = 13;
    match err.raw_os_error() {
        Some(EACCES) if paranoid.is_none_or(|p| p > 0) => Unmeasurable::Paranoid(paranoid),
        Some(EACCES | EPERM) => Unmeasurable::Denied(format!("{what}: {err}")),
        _ => Unmeasurable::OpenFailed(format!("{what}: {err}")),
    }
}

/// One round's raw counts of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// The `package` label: `physical_package_id` of the counting CPU (`<package>.<die>` when
    /// the PMU counts per die).
    pub package: String,
    /// TSC ticks counted on that CPU.
    pub tsc: u64,
    /// (state, ticks in it), e.g. `("pc6", 1234)`.
    pub states: Vec<(String, u64)>,
}

struct Package {
    package: String,
    tsc: Counter,
    states: Vec<(String, Counter)>,
}

/// The open counters of every package.
pub struct Counters {
    packages: Vec<Package>,
}

/// Opens a counting event `(ty, config)` on `cpu` for every task, enabled. Kernel and
/// hypervisor are not excluded: the cstate and msr PMUs reject exclusion bits (EINVAL).
pub fn open(ty: u32, config: u64, cpu: usize) -> io::Result<Counter> {
    let mut b = Builder::new(Raw::new(config));
    b.attrs_mut().type_ = ty;
    b.one_cpu(cpu)
        .any_pid()
        .include_kernel()
        .include_hv()
        .enabled(true);
    b.build()
}

fn package_of(root: &Root, cpu: usize, per_die: bool) -> String {
    let topo = |f: &str| root.read_trimmed(format!("sys/devices/system/cpu/cpu{cpu}/topology/{f}"));
    let pkg = topo("physical_package_id").unwrap_or_else(|_| format!("cpu{cpu}"));
    match topo("die_id") {
        Ok(die) if per_die => format!("{pkg}.{die}"),
        _ => pkg,
    }
}

fn describe(root: &Root) -> Result<(Pmu, u32, u64), Unmeasurable> {
    let bad = |e: super::CollectError| Unmeasurable::BadDescription(e.to_string());
    let pmu = read_pmu(root, PMU).map_err(bad)?.ok_or(Unmeasurable::NoPmu)?;
    let msr = read_pmu(root, MSR_PMU).map_err(bad)?.ok_or(Unmeasurable::NoTsc)?;
    let tsc = msr
        .events
        .iter()
        .find(|(n, _)| n == "tsc")
        .map(|(_, c)| *c)
        .ok_or(Unmeasurable::NoTsc)?;
    if pmu.cpus.is_empty() || !pmu.events.iter().any(|(n, _)| state_name(n).is_some()) {
        return Err(Unmeasurable::BadDescription(format!(
            "{PMU} lists no cpumask or no c<N>-residency event"
        )));
    }
    Ok((pmu, msr.ty, tsc))
}

/// Opens the counters the root's PMU description names.
pub fn open_all(root: &Root) -> Result<Counters, Unmeasurable> {
    let (pmu, msr_ty, tsc_config) = describe(root)?;
    let paranoid = root
        .read_trimmed(PARANOID)
        .ok()
        .and_then(|p| p.parse::<i64>().ok());
    let packages_seen: Vec<String> = pmu.cpus.iter().map(|c| package_of(root, *c, false)).collect();
    let per_die = (1..packages_seen.len()).any(|i| packages_seen[..i].contains(&packages_seen[i]));
    let mut packages = Vec::with_capacity(pmu.cpus.len());
    for &cpu in &pmu.cpus {
        let opened = |ty, config, what: &str| {
            open(ty, config, cpu).map_err(|e| {
                classify_open_error(&e, &format!("{what} (type {ty}, config {config:#x}) on cpu {cpu}"), paranoid)
            })
        };
        let mut states = Vec::new();
        for (event, config) in &pmu.events {
            if let Some(state) = state_name(event) {
                states.push((state, opened(pmu.ty, *config, &format!("cstate_pkg/{event}/"))?));
            }
        }
        packages.push(Package {
            package: package_of(root, cpu, per_die),
            tsc: opened(msr_ty, tsc_config, "msr/tsc/")?,
            states,
        });
    }
    Ok(Counters { packages })
}

impl Counters {
    /// Reads every counter: one round's counts.
    pub fn read(&mut self) -> io::Result<Vec<Counts>> {
        let mut out = Vec::with_capacity(self.packages.len());
        for p in &mut self.packages {
            let mut states = Vec::with_capacity(p.states.len());
            for (s, c) in &mut p.states {
                states.push((s.clone(), c.read()?));
            }
            out.push(Counts {
                package: p.package.clone(),
                tsc: p.tsc.read()?,
                states,
            });
        }
        Ok(out)
    }
}

/// One round: opens the counters when none are open, reads them. Blocking; counters that fail
/// to read are dropped, to be reopened next round (a CPU taken offline closes its events).
pub fn round(
    root: &Root,
    counters: Option<Counters>,
) -> (Option<Counters>, Result<Vec<Counts>, Unmeasurable>) {
    let mut counters = match counters {
        Some(c) => c,
        None => match open_all(root) {
            Ok(c) => c,
            Err(why) => return (None, Err(why)),
        },
    };
    match counters.read() {
        Ok(counts) => (Some(counters), Ok(counts)),
        Err(e) => (None, Err(Unmeasurable::OpenFailed(format!("reading the counters: {e}")))),
    }
}
