//! Check 8, the kernel knobs powertop lists: the NMI watchdog (`proc/sys/kernel/nmi_watchdog`,
//! 0/1), `vm.dirty_writeback_centisecs` (powertop's target 1500), and HDA audio codec power save
//! (`sys/module/snd_hda_intel/parameters/power_save`, seconds, 0 = off). None has a published
//! per-box watt figure, so these findings carry no watts.

use super::{Outcome, finding, read_evidence};
use crate::host::root::Root;

/// powertop's recommended writeback interval, centiseconds.
pub const WRITEBACK_CENTISECS: u64 = 1500;

struct Knob {
    id: &'static str,
    rel: &'static str,
    bad: fn(&str) -> bool,
    title: &'static str,
    command: &'static str,
    persist: &'static str,
    risk: &'static str,
}

const KNOBS: [Knob; 3] = [
    Knob {
        id: "nmi-watchdog-on",
        rel: "proc/sys/kernel/nmi_watchdog",
        bad: |v| v == "1",
        title: "the NMI watchdog is on: a perf counter interrupt on every CPU keeps waking it",
        command: "echo 0 > /proc/sys/kernel/nmi_watchdog",
        persist: "sysctl: kernel.nmi_watchdog = 0 in /etc/sysctl.d/90-power.conf (or nmi_watchdog=0 on the kernel command line)",
        risk: "hard lockups are no longer detected and logged",
    },
    Knob {
        id: "dirty-writeback-short",
        rel: "proc/sys/vm/dirty_writeback_centisecs",
        bad: |v| {
            v.parse::<u64>()
                .is_ok_and(|c| c > 0 && c < WRITEBACK_CENTISECS)
        },
        title: "dirty pages are written back more often than every 15 s, waking disks and CPUs",
        command: "echo 1500 > /proc/sys/vm/dirty_writeback_centisecs",
        persist: "sysctl: vm.dirty_writeback_centisecs = 1500 in /etc/sysctl.d/90-power.conf",
        risk: "up to 15 s of buffered writes are lost on a power cut (use a UPS)",
    },
    Knob {
        id: "audio-power-save-off",
        rel: "sys/module/snd_hda_intel/parameters/power_save",
        bad: |v| v == "0",
        title: "HDA audio codec power save is off: the codec stays powered",
        command: "echo 1 > /sys/module/snd_hda_intel/parameters/power_save",
        persist: "modprobe.d: options snd_hda_intel power_save=1 in /etc/modprobe.d/audio-power.conf",
        risk: "some speakers pop when the codec powers up",
    },
];

pub(super) fn check(root: &Root) -> Outcome {
    let mut out = Outcome::default();
    for k in &KNOBS {
        let Some((v, ev)) = read_evidence(root, k.rel) else {
            continue;
        };
        if !(k.bad)(&v) {
            continue;
        }
        let mut f = finding(k.id, "kernel_knobs", k.title.to_owned());
        f.evidence = vec![ev];
        f.command = Some(k.command.to_owned());
        f.persist = Some(k.persist.to_owned());
        f.risk = Some(format!(
            "{}; no published watt figure, so no watts are claimed",
            k.risk
        ));
        out.findings.push(f);
    }
    out.note(
        "kernel_knobs",
        "Wake-on-LAN is not checked: reading it needs ethtool with CAP_NET_ADMIN",
    );
    out
}
