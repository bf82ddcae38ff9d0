//! Check 1, PCIe ASPM: the global policy (`sys/module/pcie_aspm/parameters/policy`, the current
//! one in brackets: `default [performance] powersave powersupersave`), `pcie_aspm=off` on the
//! kernel command line, and per device the link states it supports but has off
//! (`sys/bus/pci/devices/*/link/{l0s,l1,l1_1,l1_2}_aspm`, "0"/"1", Linux >= 5.5; a file exists
//! only for a state the link supports, Documentation/ABI/testing/sysfs-bus-pci).
//!
//! One finding for all three, because they are one cause (the link never leaves L0) and the
//! published figure is platform-wide.

use super::pci::Device;
use super::{Evidence, Facts, Inputs, Outcome, cmdline_values, finding, read_evidence};
use crate::host::root::Root;

/// Where the policy is.
pub const POLICY: &str = "sys/module/pcie_aspm/parameters/policy";

/// Per-link ASPM attributes, in the order the kernel documents them.
pub const LINK_STATES: [&str; 4] = ["l0s_aspm", "l1_aspm", "l1_1_aspm", "l1_2_aspm"];

/// What "fix now" says when the kernel was booted with `pcie_aspm=off`.
pub const BOOT_OFF_COMMAND: &str = "none at runtime: booted with pcie_aspm=off, the kernel refuses ASPM changes (writing the policy returns EPERM) until it boots without it (see persist)";

/// The bracketed (current) choice of a sysfs choice list, or the whole text if none.
pub fn current_choice(text: &str) -> &str {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
        .unwrap_or(text.trim())
}

pub(super) fn check(root: &Root, pci: &[Device], inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    let mut persist = Vec::new();
    let mut devices = Vec::new();
    let cmdline = read_evidence(root, "proc/cmdline");
    let boot_off = cmdline
        .as_ref()
        .is_some_and(|(c, _)| cmdline_values(c, "pcie_aspm").iter().any(|v| v == "off"));
    if boot_off {
        evidence.push(
            cmdline
                .clone()
                .map(|(_, e)| e)
                .unwrap_or_else(|| Evidence::new("proc/cmdline", "")),
        );
        persist.push("remove pcie_aspm=off from the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot".to_owned());
    }
    if let Some((text, ev)) = read_evidence(root, POLICY) {
        let policy = current_choice(&text);
        if policy == "performance" {
            evidence.push(ev);
            commands.push(format!("echo powersupersave > /{POLICY}"));
            persist
                .push("add pcie_aspm.policy=powersupersave to the kernel command line".to_owned());
        }
    }
    for d in pci {
        let off: Vec<&str> = LINK_STATES
            .iter()
            .copied()
            .filter(|s| {
                root.read_trimmed(format!("{}/link/{s}", d.dir()))
                    .is_ok_and(|v| v == "0")
            })
            .collect();
        if off.is_empty() {
            continue;
        }
        for s in &off {
            evidence.push(Evidence::new(format!("{}/link/{s}", d.dir()), "0"));
        }
        // the blocker check says forcing ASPM on such a device can drop its link: this one
        // must not hand out the command that does it
        if facts
            .blockers
            .iter()
            .any(|b| b.vendor == d.vendor && b.device == d.device)
        {
            devices.push(format!(
                "{} (off: {}; left off: a known ASPM blocker, see cstate-blocker-{:04x}-{:04x})",
                d.label(),
                off.join(", "),
                d.vendor,
                d.device
            ));
            continue;
        }
        for s in &off {
            commands.push(format!("echo 1 > /{}/link/{s}", d.dir()));
        }
        persist.push(format!(
            "udev rule: ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"{}\", {}",
            d.address,
            off.iter()
                .map(|s| format!("ATTR{{link/{s}}}=\"1\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        devices.push(format!("{} (off: {})", d.label(), off.join(", ")));
    }
    if evidence.is_empty() {
        return out;
    }
    let mut f = finding(
        "pcie-aspm-off",
        "aspm",
        "PCIe links are kept out of their low-power states (ASPM off), which also keeps the package out of deep C-states".to_owned(),
    )
    .with_figure(facts, inputs, "aspm", 1);
    f.evidence = evidence;
    f.devices = devices;
    // with pcie_aspm=off the kernel sets aspm_disabled: pcie_aspm_set_policy returns EPERM and
    // the link attributes are not offered, so every runtime write would fail
    f.command = if boot_off {
        Some(BOOT_OFF_COMMAND.to_owned())
    } else {
        (!commands.is_empty()).then(|| commands.join(" && "))
    };
    f.persist = Some(persist.join("; ") + "; and set ASPM to Enabled (not Auto) in the BIOS");
    f.risk = Some("some NICs (Intel I225/I226, some Realtek) drop the link or lose packets with ASPM on, and some devices log AER errors: enable per device and watch `ip -s link` and dmesg".to_owned());
    out.findings.push(f);
    out
}
