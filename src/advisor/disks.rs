//! Check 6, disks: rotational disks (`sys/block/<dev>/queue/rotational` = 1) whose I/O never
//! pauses long enough to spin down, from `sys/block/<dev>/stat` (reads completed is field 1,
//! writes completed field 5; Documentation/block/stat.rst) over the daemon's window or, for a
//! one-shot audit, since boot (`proc/uptime`); and a SMART query interval shorter than common
//! spindown timers (hostwatt itself must never be the reason a disk stays up).
//!
//! Whether a disk reached standby in the last day comes from the SMART power-mode history the
//! daemon keeps (`standby::Watch`): `disk-never-standby` names each spinning disk watched for a
//! day or more without reaching standby while the host was idle at least half that time. A
//! disk it names is left out of `disk-never-idle`, whose I/O rate then shows in its evidence, so
//! no disk's watts count twice. A one-shot audit has no history and says so in a note.

use super::standby::{DAY_SECS, DiskWatch, HOST_IDLE_SHARE_MIN, Watch};
use super::{Confidence, DiskActivity, Evidence, Facts, Finding, Inputs, Outcome, finding};
use crate::host::blockstat;
use crate::host::root::Root;

/// A mean gap between I/Os shorter than this keeps a disk from any usual spindown timer.
pub const BUSY_GAP_SECS: f64 = 600.0;

/// Spindown timers people set are 10-30 min (`hdparm -S 120`..`-S 241`); a SMART read more
/// often than the longest of these can keep a spinning disk's idle timer from running out.
pub const SPINDOWN_SECS: f64 = 1800.0;

/// virtio-blk (`vd*`) and Xen (`xvd*`) disks report `rotational` 1 by default whatever backs
/// them: whole disks for I/O, but not known to spin.
fn may_not_spin(name: &str) -> bool {
    name.starts_with("vd") || name.starts_with("xvd")
}

/// Rotational whole physical disks under the root: the disks of `host::blockstat` (the
/// one definition the wall estimate and SMART gating use: no zvols, dm, md, bcache, DRBD or
/// NVMe multipath paths, which repeat the I/O of the disks beneath) that report `rotational` 1.
pub fn rotational(root: &Root) -> Vec<String> {
    blockstat::list_disks(root)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| !may_not_spin(d))
        .filter(|d| {
            root.read_trimmed(format!("sys/block/{d}/queue/rotational"))
                .is_ok_and(|v| v == "1")
        })
        .collect()
}

/// Each rotational disk's I/O since boot: what a single sampling gives.
pub fn activity_since_boot(root: &Root) -> Vec<DiskActivity> {
    let Some(uptime) = root
        .read_trimmed("proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
    else {
        return Vec::new();
    };
    rotational(root)
        .into_iter()
        .filter_map(|name| {
            let ios = blockstat::read_ios(root, std::slice::from_ref(&name)).ok()??;
            Some(DiskActivity {
                name,
                ios,
                window_secs: uptime,
                since_boot: true,
            })
        })
        .collect()
}

pub(super) fn check(root: &Root, inputs: &Inputs, facts: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let activity = if inputs.disk_activity.is_empty() {
        activity_since_boot(root)
    } else {
        inputs.disk_activity.clone()
    };
    let mut busy: Vec<&DiskActivity> = activity
        .iter()
        .filter(|a| a.ios > 0 && (a.window_secs / a.ios as f64) < BUSY_GAP_SECS)
        .collect();
    match &inputs.standby {
        Some(watch) => {
            if let Some((f, named)) = never_standby(watch, &busy, inputs, facts) {
                busy.retain(|a| !named.contains(&a.name));
                out.findings.push(f);
            }
            watching_note(&mut out, watch);
        }
        None if activity.iter().any(|a| a.since_boot) => out.note(
            "disks",
            "whether each disk reached standby in the last day needs the SMART power-mode history of a running daemon; this one-shot audit uses the I/O rate since boot",
        ),
        None => out.note(
            "disks",
            "whether each disk reached standby in the last day needs the SMART collector's power-mode history: turn on [collectors.smart]",
        ),
    }
    if !busy.is_empty() {
        let mut f = finding(
            "disk-never-idle",
            "disks",
            format!(
                "{} spinning disk(s) see I/O more often than every {} min, so they never spin down",
                busy.len(),
                BUSY_GAP_SECS / 60.0
            ),
        )
        .with_figure(facts, inputs, "disk_spindown_35", busy.len());
        if busy.iter().any(|a| a.since_boot) {
            f.confidence = f.confidence.min(Confidence::Low);
        }
        f.evidence = busy
            .iter()
            .map(|a| {
                Evidence::new(
                    format!("sys/block/{}/stat", a.name),
                    format!(
                        "{} I/Os in {:.0} s{}: one every {:.3} s",
                        a.ios,
                        a.window_secs,
                        if a.since_boot { " (since boot)" } else { "" },
                        a.window_secs / a.ios as f64
                    ),
                )
            })
            .collect();
        f.devices = busy.iter().map(|a| a.name.clone()).collect();
        f.command = Some(format!(
            "find the writer: `grep . {}` twice a minute apart, and `fatrace` or `iotop -oa`; then set a spindown timer: {}",
            stat_paths(&f.devices),
            f.devices
                .iter()
                .map(|d| format!("hdparm -S 241 /dev/{d}"))
                .collect::<Vec<_>>()
                .join(" && ")
        ));
        f.persist = Some("move logs, swap and frequently written datasets to an SSD; hdparm -S in /etc/hdparm.conf or a udev rule; watts assume 3.5-inch disks (form factor is not in sysfs)".to_owned());
        f.risk = Some("each spin-up wears the drive (load/unload cycles are rated, e.g. 600 k for IronWolf) and a spun-down disk takes seconds to answer; do not spin down disks that wake every few minutes".to_owned());
        out.findings.push(f);
    }
    // The SMART collector reads a disk with a sys/block entry only after I/O of its own, so its
    // reads cannot be what keeps that disk up; a disk it cannot gate is read every interval.
    let ungated = inputs.smart_ungated.as_deref();
    if let Some(q) = inputs
        .smart_query_secs
        .filter(|q| *q < SPINDOWN_SECS && ungated.is_none_or(|u| !u.is_empty()))
    {
        let mut f = finding(
            "smart-interval-below-spindown",
            "disks",
            format!(
                "hostwatt's SMART query interval ({q:.0} s) is shorter than common spindown timers ({SPINDOWN_SECS:.0} s): disks it cannot gate on their own I/O (RAID pass-through, no sys/block entry) are read that often and can never spin down{}",
                if ungated.is_none() {
                    " (whether there are any needs the daemon's SMART scan)"
                } else {
                    ""
                }
            ),
        );
        f.evidence = vec![Evidence::new(
            "hostwatt config: collectors.smart.query_interval",
            format!("{q:.0}s"),
        )];
        f.devices = ungated.unwrap_or_default().to_vec();
        f.command = Some(
            "set [collectors.smart] query_interval = \"1h\" and reload (systemctl reload hostwatt)"
                .to_owned(),
        );
        f.persist = Some("the config file".to_owned());
        f.risk = Some("SMART values (temperatures, error counters) update less often; the watts are those of the disk-never-idle finding".to_owned());
        out.findings.push(f);
    }
    out
}

/// The `stat` files of `disks`, spelled out: a shell leaves a one-name brace (`{sda}`) as it
/// is, so `/sys/block/{sda}/stat` would name no file.
fn stat_paths(disks: &[String]) -> String {
    disks
        .iter()
        .map(|d| format!("/sys/block/{d}/stat"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn hours(secs: f64) -> String {
    format!("{:.1} h", secs / 3600.0)
}

/// The disks watched a day or more without standby while the host was mostly idle, as one
/// finding naming each (`sdb (WDC WD40EFRX-68N32N0 WD-WCC7K...)`), with the I/O rate of those in
/// `busy`; and the kernel names of those disks.
fn never_standby(
    watch: &Watch,
    busy: &[&DiskActivity],
    inputs: &Inputs,
    facts: &Facts,
) -> Option<(Finding, Vec<String>)> {
    let awake: Vec<(&String, &DiskWatch)> = watch
        .disks
        .iter()
        .filter(|(_, w)| {
            w.awake_secs >= DAY_SECS && w.awake_idle_secs >= HOST_IDLE_SHARE_MIN * w.awake_secs
        })
        .collect();
    if awake.is_empty() {
        return None;
    }
    let shortest = awake
        .iter()
        .map(|(_, w)| w.awake_secs)
        .fold(f64::INFINITY, f64::min);
    let mut f = finding(
        "disk-never-standby",
        "disks",
        format!(
            "{} spinning disk(s) never reached standby in the last {} watched, although the host was idle most of that time",
            awake.len(),
            hours(shortest)
        ),
    )
    .with_figure(facts, inputs, "disk_spindown_35", awake.len());
    let name = |w: &DiskWatch| w.block.first().cloned().unwrap_or_else(|| w.device.clone());
    for (disk, w) in &awake {
        f.evidence.push(Evidence::new(
            format!("hostwatt_smart_power_mode{{disk=\"{disk}\"}}"),
            format!(
                "no standby in {} watched{} ({} watched in all), host idle {} of it",
                hours(w.awake_secs),
                if w.ever_standby {
                    " since it last slept"
                } else {
                    ""
                },
                hours(w.watched_secs),
                hours(w.awake_idle_secs)
            ),
        ));
        if let Some(a) = busy.iter().find(|a| w.block.contains(&a.name)) {
            f.evidence.push(Evidence::new(
                format!("sys/block/{}/stat", a.name),
                format!(
                    "{} I/Os in {:.0} s: one every {:.3} s",
                    a.ios,
                    a.window_secs,
                    a.window_secs / a.ios as f64
                ),
            ));
        }
        f.devices.push(format!("{} ({disk})", name(w)));
    }
    let names: Vec<String> = awake.iter().map(|(_, w)| name(w)).collect();
    f.command = Some(format!(
        "set a spindown timer: {}; then find what keeps them up: `grep . {}` twice a minute apart, `fatrace`, or a SMART/temperature poller (hdparm -C shows the state without waking it)",
        names
            .iter()
            .map(|d| format!("hdparm -S 241 /dev/{d}"))
            .collect::<Vec<_>>()
            .join(" && "),
        stat_paths(&names)
    ));
    f.persist = Some("hdparm -S in /etc/hdparm.conf or a udev rule (`ACTION==\"add\", KERNEL==\"sd[a-z]\", ATTR{queue/rotational}==\"1\", RUN+=\"/usr/sbin/hdparm -S 241 /dev/%k\"`); watts assume 3.5-inch disks".to_owned());
    f.risk = Some("each spin-up wears the drive (load/unload cycles are rated, e.g. 600 k for IronWolf) and a spun-down disk takes seconds to answer; a disk in a pool that is read every few minutes should stay up".to_owned());
    let blocks = awake.iter().flat_map(|(_, w)| w.block.clone()).collect();
    Some((f, blocks))
}

/// Says how long the history covers while no disk has a day of it.
fn watching_note(out: &mut Outcome, watch: &Watch) {
    let longest = watch
        .disks
        .values()
        .map(|w| w.watched_secs)
        .fold(0.0, f64::max);
    if watch.disks.is_empty() {
        out.note("disks", "no spinning disk in the SMART power-mode history");
    } else if longest < DAY_SECS {
        out.note(
            "disks",
            format!(
                "SMART power-mode history covers {} of {} spinning disk(s); whether each reaches standby needs a day",
                hours(longest),
                watch.disks.len()
            ),
        );
    }
}
