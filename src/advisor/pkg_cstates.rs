//! Check 5, package C-states. Residency is counted by the perf `cstate_pkg` PMU
//! (arch/x86/events/intel/cstate.c), which needs `perf_event_open`; hostwatt has no unsafe code
//! and opens no perf events, so this check says what can be measured here and how, and never
//! reports 0 % for what it cannot see. S0ix residency comes from ACPI LPIT
//! (`sys/devices/system/cpu/cpuidle/low_power_idle_system_residency_us`, microseconds since boot,
//! Documentation/ABI/testing/sysfs-devices-system-cpu).

use super::Outcome;
use crate::host::root::Root;

/// The perf PMU directory.
pub const PMU: &str = "sys/bus/event_source/devices/cstate_pkg";

/// LPIT system residency, microseconds.
pub const LPIT: &str = "sys/devices/system/cpu/cpuidle/low_power_idle_system_residency_us";

const CHECK: &str = "pkg_cstates";

pub(super) fn check(root: &Root) -> Outcome {
    let mut out = Outcome::default();
    if root.exists(PMU) {
        let events: Vec<String> = root
            .list(format!("{PMU}/events"))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !e.contains('.'))
            .collect();
        let paranoid = root
            .read_trimmed("proc/sys/kernel/perf_event_paranoid")
            .unwrap_or_else(|_| "unreadable".to_owned());
        let first = events
            .first()
            .cloned()
            .unwrap_or_else(|| "c6-residency".to_owned());
        out.note(
            CHECK,
            format!(
                "package C-state residency is counted by the perf cstate_pkg PMU ({}), which hostwatt does not open; \
                 measure it with `perf stat -e cstate_pkg/{first}/ -a sleep 30` (needs CAP_PERFMON or perf_event_paranoid <= 0; here perf_event_paranoid = {paranoid})",
                if events.is_empty() { "no events listed".to_owned() } else { events.join(", ") },
            ),
        );
    } else {
        out.note(
            CHECK,
            "not measurable on this CPU: no package C-state counter (no cstate_pkg perf PMU, as on AMD desktop parts and in VMs)",
        );
    }
    match root.read_u64(LPIT) {
        Ok(us) => out.note(
            CHECK,
            format!("S0ix (LPIT) residency since boot: {:.1} s ({LPIT}); whether it grows while idle needs two readings", us as f64 / 1e6),
        ),
        Err(_) => out.note(CHECK, "no ACPI LPIT: S0ix residency not measurable here"),
    }
    out
}
