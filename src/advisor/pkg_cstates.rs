//! Check 5, package C-states. Residency comes from the `cstate_pkg` collector (the perf
//! `cstate_pkg` PMU, arch/x86/events/intel/cstate.c, divided by the TSC as turbostat does): the
//! deepest package state reached while the host was idle (the daemon counts the rounds its wall
//! collector's idle detector saw idle) and the share of time in it, and a finding when the
//! package spends (almost) no time in PC6 or deeper. Where it cannot be counted the note says exactly why
//! (never 0 % for what cannot be seen). S0ix residency comes from ACPI LPIT
//! (`sys/devices/system/cpu/cpuidle/low_power_idle_system_residency_us`, microseconds since boot,
//! Documentation/ABI/testing/sysfs-devices-system-cpu).

use super::{Confidence, Evidence, Facts, Inputs, Outcome, PackageCstates, finding};
use crate::host::root::Root;

/// The perf PMU directory.
pub const PMU: &str = crate::host::cstate_pkg::PMU;

/// LPIT system residency, microseconds.
pub const LPIT: &str = "sys/devices/system/cpu/cpuidle/low_power_idle_system_residency_us";

/// The first package state where the uncore, memory controller and most of the package power
/// off; below it the package draws several watts more at idle.
pub const DEEP: u32 = 6;

/// Less than this share of the time in PC6 or deeper counts as "never there".
pub const DEEP_SHARE_MIN: f64 = 0.05;

/// A state with less than this share is not called "reached" (a few wake-ups' worth).
pub const REACHED_MIN: f64 = 0.001;

/// An observation shorter than this (a one-shot audit's second) gives a low-confidence finding.
pub const OBSERVED_MIN_SECS: f64 = 3600.0;

const CHECK: &str = "pkg_cstates";

fn hours(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{secs:.0} s")
    }
}

pub(super) fn check(root: &Root, inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    match &inputs.package_cstates {
        None if !root.exists(PMU) => out.note(
            CHECK,
            crate::host::cstate_pkg::Unmeasurable::NoPmu.text(),
        ),
        None => out.note(
            CHECK,
            "package C-state residency is counted by the cstate_pkg collector, which is off or has not run: turn on [collectors.cstate_pkg] (or measure with `turbostat --quiet --show Pkg%pc2,Pkg%pc6,Pkg%pc8,Pkg%pc10 sleep 60`)",
        ),
        Some(PackageCstates {
            unmeasurable: Some(why),
            ..
        }) => out.note(CHECK, why.clone()),
        Some(p) if p.observed_secs <= 0.0 || p.shares.is_empty() => out.note(
            CHECK,
            "package C-state residency: counting started, the shares need a second round",
        ),
        Some(p) => residency(&mut out, p, inputs, facts),
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

fn residency(out: &mut Outcome, p: &PackageCstates, inputs: &Inputs, facts: &Facts) {
    // the shares cover idle time when the daemon could tell (`while_idle`), else all of it
    let depth = crate::host::cstate_pkg::depth;
    let reached = p.shares.iter().rev().find(|(_, s)| *s >= REACHED_MIN);
    let deep: f64 = p
        .shares
        .iter()
        .filter(|(s, _)| depth(s) >= DEEP)
        .map(|(_, share)| share)
        .sum();
    let over = format!(
        "over {} {}",
        hours(p.observed_secs),
        if p.while_idle {
            "while the host was idle"
        } else {
            "observed, busy time included"
        }
    );
    out.note(
        CHECK,
        match reached {
            Some((state, share)) => format!(
                "deepest package C-state reached {over}: {} ({:.1} % of the time)",
                state.to_uppercase(),
                share * 100.0
            ),
            None => format!("no package C-state reached {over}: the package stayed in PC0"),
        },
    );
    if deep >= DEEP_SHARE_MIN {
        return;
    }
    let mut f = finding(
        "pkg-cstate-shallow",
        CHECK,
        format!(
            "the CPU package spends {:.1} % of the time in PC6 or deeper {over}",
            deep * 100.0
        ),
    )
    .with_figure(facts, inputs, "pkg_cstates", 1);
    // a short sample, or one that includes busy time, says less about idle
    if p.observed_secs < OBSERVED_MIN_SECS || !p.while_idle {
        f.confidence = f.confidence.min(Confidence::Low);
    }
    f.evidence = p
        .shares
        .iter()
        .map(|(state, share)| {
            Evidence::new(
                format!("perf cstate_pkg/c{}-residency/ over msr/tsc/", depth(state)),
                format!("{} {:.2} %", state.to_uppercase(), share * 100.0),
            )
        })
        .collect();
    f.command = Some(
        "find what holds the package up: `powertop` (Idle stats), on Intel `cat /sys/kernel/debug/pmc_core/ltr_show` and `package_cstate_show`; enable ASPM (see pcie-aspm-off) and `powertop --auto-tune`"
            .to_owned(),
    );
    f.persist = Some(
        "BIOS: package C-state limit set explicitly to C8/C10 (\"Auto\" often leaves it at C3), native ASPM on; the runtime settings through udev rules or a powertop service".to_owned(),
    );
    f.risk = Some("deeper package states add wake-up latency (tens to hundreds of µs); some boards hang or drop NICs with package states beyond C6".to_owned());
    out.findings.push(f);
}
