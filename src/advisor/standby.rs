//! How long each spinning disk has gone without reaching standby, from the SMART collector's
//! power-mode history (`hostwatt_smart_power_mode`, `hostwatt_smart_standby_seconds_total`),
//! and how much of that time the host was idle. Check 6 turns a day of it into the
//! `disk-never-standby` finding.
//!
//! Time is what the rounds say (`at`, monotonic): a restart loses the time the daemon was down
//! (nobody watched the disks then) but keeps what was watched before, through the state store
//! (`advisor.json`, saved rarely). A disk counts as having reached standby when a SMART query
//! found it in STANDBY/SLEEP or its standby time grew since the last round; a round that knows
//! nothing of its mode (`unknown`) is not watched time.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A day: how long a disk must be watched awake before the finding can say "never".
pub const DAY_SECS: f64 = 86_400.0;

/// The share of the awake time the host must have been idle for "although the host was idle".
pub const HOST_IDLE_SHARE_MIN: f64 = 0.5;

/// One spinning disk as one SMART round saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The SMART `disk` label (model and serial, stable across renames and restarts).
    pub disk: String,
    /// Device node (`/dev/sda`).
    pub device: String,
    /// Kernel names (`sda`).
    pub block: Vec<String>,
    /// Whether the round found it in standby.
    pub standby: bool,
    /// Whether its power mode is known at all (`false`: no `stat` file and no SMART answer yet,
    /// as for a pass-through node whose queries fail): such a round is not awake time.
    pub known: bool,
    /// Its standby seconds since the SMART collector started.
    pub standby_total: f64,
}

/// What is kept per disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskWatch {
    /// Device node when last seen.
    pub device: String,
    /// Kernel names when last seen.
    pub block: Vec<String>,
    /// Seconds watched since it was last seen in standby (or since watching began).
    pub awake_secs: f64,
    /// Of `awake_secs`, the seconds the host was idle.
    pub awake_idle_secs: f64,
    /// Seconds watched in all.
    pub watched_secs: f64,
    /// Whether it was ever seen in standby while watched.
    pub ever_standby: bool,
    /// Its standby total at the last round (the SMART collector's, which restarts from zero with
    /// the daemon, so it is not saved).
    #[serde(skip)]
    pub(crate) last_standby_total: Option<f64>,
}

/// Every watched disk by its SMART `disk` label; `advisor.json` in the state store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    /// The disks.
    pub disks: BTreeMap<String, DiskWatch>,
    /// The previous round; a restart starts without one, so the downtime is not counted.
    #[serde(skip)]
    last_at: Option<Instant>,
}

impl Watch {
    /// Adds the round at `at`: `seen` spinning disks, `host_idle` whether the host was idle
    /// (the wall collector's idle detector). Disks no longer seen are dropped.
    pub fn advance(&mut self, seen: &[Seen], host_idle: bool, at: Instant) {
        let dt = self
            .last_at
            .map_or(0.0, |t| at.saturating_duration_since(t).as_secs_f64());
        self.last_at = Some(at);
        self.disks
            .retain(|name, _| seen.iter().any(|s| &s.disk == name));
        for s in seen {
            let w = self.disks.entry(s.disk.clone()).or_default();
            w.device.clone_from(&s.device);
            w.block.clone_from(&s.block);
            let grew = w.last_standby_total.is_some_and(|t| s.standby_total > t);
            w.last_standby_total = Some(s.standby_total);
            if s.standby || grew {
                w.watched_secs += dt;
                w.awake_secs = 0.0;
                w.awake_idle_secs = 0.0;
                w.ever_standby = true;
            } else if s.known {
                w.watched_secs += dt;
                w.awake_secs += dt;
                if host_idle {
                    w.awake_idle_secs += dt;
                }
            }
            // else nothing is known of it this round, which is not "awake": a disk whose mode
            // cannot be read (failing pass-through queries) is never named
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seen(disk: &str, block: &str, standby: bool, total: f64) -> Seen {
        Seen {
            disk: disk.into(),
            device: format!("/dev/{block}"),
            block: vec![block.into()],
            standby,
            known: true,
            standby_total: total,
        }
    }

    #[test]
    fn rounds_that_know_nothing_of_a_disk_are_not_awake_time() {
        let t0 = Instant::now();
        let h = |n: u64| t0 + Duration::from_secs(n * 3600);
        let mut w = Watch::default();
        // a pass-through node whose queries fail: 30 h of rounds that know nothing, then 2 h
        // known awake
        for hour in 0..=30 {
            let unknown = Seen {
                known: false,
                ..seen("megaraid-1", "bus0", false, 0.0)
            };
            w.advance(&[unknown], true, h(hour));
        }
        let d = &w.disks["megaraid-1"];
        assert_eq!((d.awake_secs, d.watched_secs), (0.0, 0.0));
        w.advance(&[seen("megaraid-1", "bus0", false, 0.0)], true, h(31));
        w.advance(&[seen("megaraid-1", "bus0", false, 0.0)], true, h(32));
        let d = &w.disks["megaraid-1"];
        assert_eq!(
            (d.awake_secs, d.awake_idle_secs, d.watched_secs),
            (7200.0, 7200.0, 7200.0)
        );
    }

    #[test]
    fn awake_time_grows_until_standby_and_counts_only_idle_host_time_as_idle() {
        let t0 = Instant::now();
        let h = |n: u64| t0 + Duration::from_secs(n * 3600);
        let mut w = Watch::default();
        // sdb never sleeps; sdc sleeps at hour 10 (seen by a query), and its standby time
        // grows at hour 20 between two rounds that both see it awake
        for hour in 0..=25 {
            let sdc_standby = hour == 10;
            let sdc_total = if hour >= 20 { 600.0 } else { 0.0 };
            w.advance(
                &[
                    seen("WDC-1", "sdb", false, 0.0),
                    seen("WDC-2", "sdc", sdc_standby, sdc_total),
                ],
                hour % 4 != 0, // the host is busy one hour in four
                h(hour),
            );
        }
        let b = &w.disks["WDC-1"];
        assert_eq!(
            (b.awake_secs, b.watched_secs),
            (25.0 * 3600.0, 25.0 * 3600.0)
        );
        // idle in hours 1-3, 5-7, ... 21-23, 25: 19 of the 25 hour-long rounds
        assert_eq!(b.awake_idle_secs, 19.0 * 3600.0);
        assert!(!b.ever_standby);
        let c = &w.disks["WDC-2"];
        assert_eq!((c.awake_secs, c.ever_standby), (5.0 * 3600.0, true));
        // a disk no longer seen is dropped
        w.advance(&[seen("WDC-1", "sdb", false, 0.0)], true, h(26));
        assert_eq!(w.disks.keys().collect::<Vec<_>>(), ["WDC-1"]);
    }

    #[test]
    fn a_restart_keeps_what_was_watched_but_not_the_downtime() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        w.advance(&[seen("WDC-1", "sdb", false, 0.0)], true, t0);
        w.advance(
            &[seen("WDC-1", "sdb", false, 0.0)],
            true,
            t0 + Duration::from_secs(20 * 3600),
        );
        let saved = serde_json::to_string(&w).unwrap();
        let mut back: Watch = serde_json::from_str(&saved).unwrap();
        // the new daemon's first round an hour later counts no time; the next one does
        let later = Instant::now() + Duration::from_secs(3600);
        back.advance(&[seen("WDC-1", "sda", false, 0.0)], true, later);
        assert_eq!(back.disks["WDC-1"].awake_secs, 20.0 * 3600.0);
        back.advance(
            &[seen("WDC-1", "sda", false, 0.0)],
            true,
            later + Duration::from_secs(5 * 3600),
        );
        let d = &back.disks["WDC-1"];
        assert_eq!(
            (d.awake_secs, d.block.as_slice()),
            (25.0 * 3600.0, &["sda".to_owned()][..])
        );
    }
}
