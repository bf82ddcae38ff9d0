//! Check 4, CPU idle and frequency policy: deep idle states disabled
//! (`sys/devices/system/cpu/cpu*/cpuidle/state*/disable` = 1, Documentation/ABI/testing/
//! sysfs-devices-system-cpu), `intel_idle.max_cstate=`, `processor.max_cstate=` or `idle=poll`
//! on the kernel command line; `scaling_governor` and `energy_performance_preference` set to
//! `performance`, with the `intel_pstate`/`amd_pstate` mode (`status`: active, passive, guided,
//! off) as evidence; and, as a note, the share of the time the cores spent in their deepest
//! enabled idle state.

use std::collections::BTreeSet;

use super::{Evidence, Facts, Inputs, Outcome, cmdline_values, finding, read_evidence};
use crate::host::root::Root;

/// Where the CPUs are.
pub const CPUS: &str = "sys/devices/system/cpu";

/// Names of idle states that are not deep: polling and C1 halt.
const SHALLOW: [&str; 3] = ["POLL", "C1", "C1E"];

/// Each CPU (`cpu0`, ...) with its `cpuidle` directory.
fn cpuidle_dirs(root: &Root) -> Vec<(String, String)> {
    root.list(CPUS)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c.strip_prefix("cpu")
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .map(|c| {
            let dir = format!("{CPUS}/{c}/cpuidle");
            (c, dir)
        })
        .collect()
}

fn deep_states_disabled(root: &Root, out: &mut Outcome, inputs: &Inputs, facts: &Facts) {
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    let mut names = BTreeSet::new();
    let mut cpus = BTreeSet::new();
    for (cpu, dir) in cpuidle_dirs(root) {
        for state in root.list(&dir).unwrap_or_default() {
            let rel = format!("{dir}/{state}/disable");
            if root.read_trimmed(&rel).ok().as_deref() != Some("1") {
                continue;
            }
            let name = root
                .read_trimmed(format!("{dir}/{state}/name"))
                .unwrap_or_else(|_| state.clone());
            if SHALLOW.contains(&name.as_str()) {
                continue;
            }
            evidence.push(Evidence::new(&rel, "1"));
            commands.push(format!("echo 0 > /{rel}"));
            names.insert(name);
            cpus.insert(cpu.clone());
        }
    }
    let mut persist = vec![
        "systemd-tmpfiles: w /sys/devices/system/cpu/cpu*/cpuidle/state*/disable - - - - 0"
            .to_owned(),
    ];
    if let Some((cmdline, ev)) = read_evidence(root, "proc/cmdline") {
        let limits: Vec<String> = ["intel_idle.max_cstate", "processor.max_cstate", "idle"]
            .iter()
            .flat_map(|k| {
                cmdline_values(&cmdline, k)
                    .into_iter()
                    .map(move |v| format!("{k}={v}"))
            })
            // idle=halt and idle=nomwait still allow C1; only idle=poll forbids idling at all
            .filter(|kv| !kv.starts_with("idle=") || kv == "idle=poll")
            .collect();
        if !limits.is_empty() {
            evidence.push(ev);
            names.insert(format!("limited at boot by {}", limits.join(" ")));
            persist.insert(
                0,
                format!(
                    "remove {} from the kernel command line and reboot",
                    limits.join(" ")
                ),
            );
        }
    }
    if evidence.is_empty() {
        return;
    }
    let mut f = finding(
        "cpu-deep-cstates-disabled",
        "cpu_policy",
        format!(
            "deep CPU idle states are disabled ({}), so the package cannot reach its deep C-states",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
    .with_figure(facts, inputs, "pkg_cstates", 1);
    f.evidence = evidence;
    f.devices = cpus.into_iter().collect();
    f.command = (!commands.is_empty()).then(|| commands.join(" && "));
    f.persist = Some(
        persist.join("; ") + "; and enable package C-states (C6/C8/C10, not Auto) in the BIOS",
    );
    f.risk = Some("wake-up latency grows to tens or hundreds of microseconds; a few platforms (early Ryzen with the C6 freeze, some Bay Trail boards) hang with deep C-states, which is why they were disabled there".to_owned());
    out.findings.push(f);
}

fn governor(root: &Root, out: &mut Outcome) {
    let dir = format!("{CPUS}/cpufreq");
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    let mode = ["intel_pstate", "amd_pstate"].iter().find_map(|d| {
        let (v, ev) = read_evidence(root, &format!("{CPUS}/{d}/status"))?;
        Some((v, ev))
    });
    let active_pstate = mode.as_ref().is_some_and(|(v, _)| v == "active");
    let want = if active_pstate {
        "powersave"
    } else {
        "schedutil"
    };
    for policy in root.list(&dir).unwrap_or_default() {
        let gov = format!("{dir}/{policy}/scaling_governor");
        if root.read_trimmed(&gov).ok().as_deref() == Some("performance") {
            evidence.push(Evidence::new(&gov, "performance"));
            commands.push(format!("echo {want} > /{gov}"));
        }
        let epp = format!("{dir}/{policy}/energy_performance_preference");
        if root.read_trimmed(&epp).ok().as_deref() == Some("performance") {
            evidence.push(Evidence::new(&epp, "performance"));
            commands.push(format!("echo balance_power > /{epp}"));
        }
    }
    if evidence.is_empty() {
        return;
    }
    if let Some((_, ev)) = mode {
        evidence.push(ev);
    }
    let mut f = finding(
        "cpu-governor-performance",
        "cpu_policy",
        "the CPU frequency governor or energy-performance preference is set to performance"
            .to_owned(),
    );
    f.evidence = evidence;
    f.command = Some(commands.join(" && "));
    f.persist = Some(format!(
        "systemd-tmpfiles: w /sys/devices/system/cpu/cpufreq/policy*/scaling_governor - - - - {want} (and energy_performance_preference balance_power), or cpupower frequency-set -g {want} in a unit; check tuned/TLP profiles that set performance"
    ));
    f.risk = Some("bursty latency-sensitive work ramps up a little slower; no published idle-watt figure, so no watts are claimed".to_owned());
    out.findings.push(f);
}

/// The share of the time since boot the cores spent in their deepest enabled idle state, as a
/// note: per CPU the highest-numbered `cpuidle/stateN` not disabled, its `time` (microseconds
/// since boot, Documentation/ABI/testing/sysfs-devices-system-cpu) over `proc/uptime`, the mean
/// over CPUs. Since boot, so busy time is included; nothing is said without those files.
fn deepest_share(root: &Root, out: &mut Outcome) {
    let Some(uptime) = root
        .read_trimmed("proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .filter(|u| *u > 0.0)
    else {
        return;
    };
    let mut shares = Vec::new();
    let mut names = BTreeSet::new();
    for (_, dir) in cpuidle_dirs(root) {
        let mut states: Vec<(u32, String)> = root
            .list(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| Some((s.strip_prefix("state")?.parse().ok()?, s)))
            .collect();
        states.sort();
        let deepest = states.iter().rev().find_map(|(_, s)| {
            let rel = format!("{dir}/{s}");
            if root.read_trimmed(format!("{rel}/disable")).ok().as_deref() == Some("1") {
                return None;
            }
            let us = root.read_u64(format!("{rel}/time")).ok()?;
            let name = root
                .read_trimmed(format!("{rel}/name"))
                .unwrap_or_else(|_| s.clone());
            Some((name, us as f64 / 1e6 / uptime))
        });
        if let Some((name, share)) = deepest {
            names.insert(name);
            shares.push(share.min(1.0));
        }
    }
    if shares.is_empty() {
        return;
    }
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    out.note(
        "cpu_policy",
        format!(
            "the cores spent {:.1} % of the time since boot in their deepest enabled idle state ({}), busy time included ({CPUS}/cpu*/cpuidle/state*/time over proc/uptime)",
            mean * 100.0,
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    );
}

pub(super) fn check(root: &Root, inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    deep_states_disabled(root, &mut out, inputs, facts);
    governor(root, &mut out);
    deepest_share(root, &mut out);
    out
}
