//! The package C-state counters as Linux exposes them (the perf `cstate_pkg` PMU,
//! arch/x86/events/intel/cstate.c), in the terms both the `cstate_pkg` collector and the
//! advisor's package C-state check use: where the PMU is, how deep a state is, and why the
//! counters may not be counted here (`Unmeasurable`, the collector's `reason` label).

/// The package C-state PMU.
pub const PMU: &str = "sys/bus/event_source/devices/cstate_pkg";

/// The depth of a state name (`pc10` → 10), for ordering.
pub fn depth(state: &str) -> u32 {
    state
        .strip_prefix("pc")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Why package C-state residency is not counted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmeasurable {
    /// No `cstate_pkg` PMU: the CPU has no package C-state counter Linux exposes (AMD desktop
    /// parts, VMs, non-Intel CPUs).
    NoPmu,
    /// No `msr` PMU `tsc` event to divide the counts by.
    NoTsc,
    /// `perf_event_paranoid` (the value read, when readable) forbids system-wide counters to a
    /// process without CAP_PERFMON or CAP_SYS_ADMIN (EACCES).
    Paranoid(Option<i64>),
    /// `perf_event_open` refused with EPERM (or EACCES where the paranoid level allows it): a
    /// seccomp filter or an LSM policy.
    Denied(String),
    /// Another refusal: the kernel's error for (type, config, cpu).
    OpenFailed(String),
    /// The PMU's sysfs description did not parse or could not be read.
    BadDescription(String),
}

impl Unmeasurable {
    /// The `reason` label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoPmu => "no_pmu",
            Self::NoTsc => "no_tsc",
            Self::Paranoid(_) => "perf_event_paranoid",
            Self::Denied(_) => "permission_denied",
            Self::OpenFailed(_) => "open_failed",
            Self::BadDescription(_) => "bad_description",
        }
    }

    /// What it means and what fixes it.
    pub fn text(&self) -> String {
        match self {
            Self::NoPmu => "not measurable on this CPU: no package C-state counter (no cstate_pkg perf PMU, as on AMD desktop parts and in VMs)".to_owned(),
            Self::NoTsc => "the msr perf PMU has no tsc event to divide the residency counts by".to_owned(),
            Self::Paranoid(level) => format!(
                "kernel.perf_event_paranoid {} allows system-wide counters only with CAP_PERFMON (Linux >= 5.8) or CAP_SYS_ADMIN: run hostwatt with one of them (the shipped systemd unit has CAP_SYS_ADMIN) or set `sysctl kernel.perf_event_paranoid=0`",
                level.map_or("> 0".to_owned(), |l| format!("= {l}"))
            ),
            Self::Denied(e) => format!(
                "perf_event_open refused ({e}): a seccomp filter (a systemd unit whose SystemCallFilter= removes @debug without allowing perf_event_open again, as the shipped unit does) or an LSM policy"
            ),
            Self::OpenFailed(e) => format!("perf_event_open failed: {e}"),
            Self::BadDescription(e) => format!("the PMU description in sysfs is unusable: {e}"),
        }
    }

    /// The reason behind a `reason` label (as gathered from metrics), with the paranoid level
    /// read from the root; the details of a refusal are in the daemon's log. `None` for `ok`.
    pub fn from_code(code: &str, paranoid: Option<i64>) -> Option<Self> {
        let logged = || "see hostwatt's log for the kernel's error".to_owned();
        Some(match code {
            "no_pmu" => Self::NoPmu,
            "no_tsc" => Self::NoTsc,
            "perf_event_paranoid" => Self::Paranoid(paranoid),
            "permission_denied" => Self::Denied(logged()),
            "open_failed" => Self::OpenFailed(logged()),
            "bad_description" => Self::BadDescription(logged()),
            _ => return None,
        })
    }
}
