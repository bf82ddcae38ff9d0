//! Check 2, SATA link power management: `sys/class/scsi_host/host*/link_power_management_policy`
//! (one of `keep_firmware_settings`, `max_performance`, `medium_power`, `med_power_with_dipm`,
//! `min_power_with_partial`, `min_power`: libata's `ata_lpm_policy_names`,
//! Documentation/ABI/testing/sysfs-class-scsi_host) not at one with device-initiated link power
//! management, per host, counted by the disks behind it.

use super::{Evidence, Facts, Inputs, Outcome, finding};
use crate::host::root::Root;

/// The class directory.
pub const HOSTS: &str = "sys/class/scsi_host";

/// Policies that let the link sleep with DIPM: powertop's target and the two deeper ones
/// (`min_power_with_partial` is what ahci picks by default on s2idle machines that support
/// Partial, so a tuned laptop-class board reads it).
pub const SAVING: [&str; 3] = ["med_power_with_dipm", "min_power_with_partial", "min_power"];

/// Kernel names of the block devices whose `device` link resolves under `host`.
pub fn disks_behind(root: &Root, host: &str) -> Vec<String> {
    let marker = format!("/{host}/");
    root.list("sys/block")
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            root.canonical_rel(format!("sys/block/{d}/device"))
                .is_some_and(|p| p.contains(&marker))
        })
        .collect()
}

pub(super) fn check(root: &Root, inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    let mut devices = Vec::new();
    let mut disks = 0;
    // max_performance allows neither Partial nor Slumber, medium_power Partial only
    let mut policies: Vec<String> = Vec::new();
    for host in root.list(HOSTS).unwrap_or_default() {
        let rel = format!("{HOSTS}/{host}/link_power_management_policy");
        let Ok(policy) = root.read_trimmed(&rel) else {
            continue;
        };
        if SAVING.contains(&policy.as_str()) {
            continue;
        }
        let behind = disks_behind(root, &host);
        if behind.is_empty() {
            continue;
        }
        disks += behind.len();
        evidence.push(Evidence::new(&rel, &policy));
        if !policies.contains(&policy) {
            policies.push(policy.clone());
        }
        commands.push(format!("echo med_power_with_dipm > /{rel}"));
        devices.push(format!("{host}: {}", behind.join(", ")));
    }
    if disks == 0 {
        return out;
    }
    let mut f = finding(
        "sata-alpm-off",
        "sata_alpm",
        format!(
            "SATA links of {disks} disk(s) never enter Slumber (link power management below med_power_with_dipm: {})",
            policies.join(", ")
        ),
    )
    .with_figure(facts, inputs, "sata_alpm", disks);
    f.evidence = evidence;
    f.devices = devices;
    f.command = Some(commands.join(" && "));
    f.persist = Some("udev rule: ACTION==\"add\", SUBSYSTEM==\"scsi_host\", KERNEL==\"host*\", ATTR{link_power_management_policy}=\"med_power_with_dipm\" (or ahci.mobile_lpm_policy=3 on the kernel command line)".to_owned());
    f.risk = Some("some old SSDs, port multipliers and SATA bridges hang or log link errors with link power management; hot-plug detection may stop working on those ports".to_owned());
    out.findings.push(f);
    out
}
