//! The power advisor in the daemon: runs `advisor::audit` on its interval against the wall
//! collector's latest estimate, keeps the report for `GET /api/v1/advice`, and exports one series
//! per finding id (bounded: ids are fixed names, device lists stay in the report).
//!
//! Disk activity comes from a window this collector keeps (`sys/block/*/stat` at its first round
//! versus now, restarted after a day, the previous day standing in for the new window's first
//! hour), so the daemon's answer has history a one-shot audit lacks.
//! How long each spinning disk went without standby comes from the SMART collector's power
//! modes, round by round (`advisor::standby::Watch`), kept across restarts in `advisor.json`
//! under the state directory, saved every `SAVE_EVERY` and on shutdown: rarely, as the disks it
//! watches may be the ones the state directory lives on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Fault, Sample, cstate_pkg, rapl, smart, wall};
use crate::advisor::standby::{Seen, Watch};
use crate::advisor::{self, DiskActivity, Facts, Inputs};
use crate::parse::Interval;
use crate::metrics::Latest;
use crate::metrics::{Families, Family, Render};

/// How long a disk-activity window grows before it starts again.
const WINDOW_MAX: Duration = Duration::from_secs(24 * 3600);

/// A window shorter than this says little; since-boot rates are used until then.
const WINDOW_MIN: Duration = Duration::from_secs(3600);

/// How often the standby history is saved (and on shutdown): losing up to this much of it in a
/// crash only delays the day-long finding.
const SAVE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// The state store file (`advisor.json`).
const STATE: &str = "advisor";

/// `[collectors.advisor]`. On by default, like every collector and as in the example config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run the checks at all.
    pub enabled: bool,
    /// How often to rerun them; settings change rarely.
    pub interval: Interval,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(300),
        }
    }
}

const ACTIVE: Family = Family::gauge(
    "hostwatt_advisor_finding_active",
    "1 per advisor finding that applies now (hostwatt audit, /api/v1/advice have the details)",
    &["id", "severity"],
);
const POTENTIAL: Family = Family::gauge(
    "hostwatt_advisor_finding_potential_watts",
    "Upper end of what fixing the finding saves at the wall, watts (only findings with a sourced figure)",
    &["id"],
);

const TOTAL: Family = Family::gauge(
    "hostwatt_advisor_potential_watts",
    "Upper end of what the findings save together at the wall, watts: findings that share one saving counted once, informational ones left out, at most the idle power (the report's total; summing hostwatt_advisor_finding_potential_watts counts overlaps twice)",
    &[],
);

pub use crate::advisor::api::Snapshot;

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&ACTIVE, &POTENTIAL, &TOTAL];

    fn render(&self, out: &mut Families) {
        out.push(&TOTAL, &[], self.report.total.high);
        for f in &self.report.findings {
            out.push(&ACTIVE, &[&f.id, f.severity.as_str()], 1.0);
            if let Some(w) = f.watts {
                out.push(&POTENTIAL, &[&f.id], w.high);
            }
        }
    }
}

/// The collector.
pub struct Advisor {
    base: Inputs,
    facts: Arc<Facts>,
    wall: Option<Latest<wall::Snapshot>>,
    rapl: Option<Latest<rapl::Snapshot>>,
    cstates: Option<Latest<cstate_pkg::Snapshot>>,
    /// The cstate_pkg snapshot of the previous round, and the residency of idle rounds.
    cstates_last: Option<Arc<cstate_pkg::Snapshot>>,
    cstates_idle: cstate_pkg::Snapshot,
    smart: Option<Latest<smart::Snapshot>>,
    store: crate::state::Store,
    /// The standby history; `None` until loaded at the first round.
    watch: Option<Watch>,
    last_save: Option<Instant>,
    /// Per disk: its I/O window.
    window: BTreeMap<String, Window>,
}

impl super::Build for Advisor {
    type Inputs = (
        Option<Latest<wall::Snapshot>>,
        Option<Latest<rapl::Snapshot>>,
        Option<Latest<cstate_pkg::Snapshot>>,
        Option<Latest<smart::Snapshot>>,
    );

    /// Its section, and from the whole config the PSU curve and SMART interval.
    fn build(setup: &super::Setup<'_>, (wall, rapl, cstates, smart): Self::Inputs) -> Self {
        Self {
            base: config_inputs(setup.collectors),
            facts: Arc::new(Facts::embedded()),
            wall,
            rapl,
            cstates,
            cstates_last: None,
            cstates_idle: cstate_pkg::Snapshot::default(),
            smart,
            store: setup.store.clone(),
            watch: None,
            last_save: None,
            window: BTreeMap::new(),
        }
    }
}

/// The audit's inputs from the collectors' sections: the PSU curve (`[collectors.wall.psu]`; a
/// picoPSU's brick is not counted) and hostwatt's own SMART query interval when the smart
/// collector runs.
pub fn config_inputs(sections: &super::Collectors) -> Inputs {
    let smart = &sections.smart;
    Inputs {
        psu: sections
            .wall
            .chain()
            .ok()
            .flatten()
            .map(|chain| chain.psu),
        smart_query_secs: smart
            .enabled
            .then_some(smart.query_interval.0.as_secs_f64()),
        ..Inputs::default()
    }
}

/// The CPU package power: the `package-*` zones of (name, counted, watts), each counted once
/// (one package read through MSR and MMIO is one), summed; `None` when no package has watts.
pub fn package_watts<'a>(
    zones: impl IntoIterator<Item = (&'a str, bool, Option<f64>)>,
) -> Option<f64> {
    zones
        .into_iter()
        .filter(|(name, counted, _)| *counted && name.starts_with("package"))
        .filter_map(|(_, _, w)| w)
        .fold(None, |sum, w| Some(sum.unwrap_or(0.0) + w))
}

/// The spinning disks of a SMART round: not NVMe, and not a disk that reported 0 rpm (an SSD);
/// a disk that never answered (asleep since the start) counts as spinning.
pub fn spinning(s: &smart::Snapshot) -> Vec<Seen> {
    s.disks
        .iter()
        .filter(|d| d.protocol != "NVMe")
        .filter(|d| d.data.as_ref().is_none_or(|x| x.rotation_rpm != Some(0)))
        .map(|d| Seen {
            disk: d.id.clone(),
            device: d.device.clone(),
            block: d.block.clone(),
            standby: d.state == smart::power::State::Standby,
            known: d.state != smart::power::State::Unknown,
            standby_total: d.standby_seconds,
        })
        .collect()
}

/// One disk's I/O window: (completed I/Os, when) at its start, and at the start of the window
/// before it, which stands in while the current one is under an hour old.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    start: (u64, Instant),
    before: Option<(u64, Instant)>,
}

/// Each disk's activity over its window in `window`, given `now` (the since-boot counts) at
/// `at`. Since-boot rates are passed through until the first window is an hour long; a window
/// restarts after a day, and for its first hour the one before it continues (so the rate does
/// not fall back to since-boot once a day, and findings built on it do not flap); a counter that
/// goes back (a disk replaced) starts over.
pub fn advance_window(
    window: &mut BTreeMap<String, Window>,
    now: Vec<DiskActivity>,
    at: Instant,
) -> Vec<DiskActivity> {
    let mut out = Vec::with_capacity(now.len());
    for a in now {
        let fresh = Window {
            start: (a.ios, at),
            before: None,
        };
        let w = window.entry(a.name.clone()).or_insert(fresh);
        let age = |(_, t): (u64, Instant)| at.saturating_duration_since(t);
        if a.ios < w.start.0 {
            *w = fresh;
        } else if age(w.start) >= WINDOW_MAX {
            *w = Window {
                start: (a.ios, at),
                before: Some(w.start),
            };
        }
        let from = if age(w.start) >= WINDOW_MIN {
            Some(w.start)
        } else {
            w.before
        };
        match from {
            Some(s @ (ios0, _)) => out.push(DiskActivity {
                name: a.name,
                ios: a.ios - ios0,
                window_secs: age(s).as_secs_f64(),
                since_boot: false,
            }),
            None => out.push(a),
        }
    }
    out
}

impl Collector for Advisor {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut inputs = self.base.clone();
        if let Some(w) = self.wall.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.idle_dc_watts = w.estimate.map(|e| e.dc_watts);
            inputs.idle_measured = w.best.as_ref().is_some_and(|b| b.2 == "measured");
            (inputs.idle_wall_watts, inputs.idle_basis) = match (w.idle_watts, &w.best) {
                (Some(idle), _) => (Some(idle), "smoothed idle".to_owned()),
                (None, Some((now, source, _))) => (
                    Some(*now),
                    format!("latest {source}, not yet known to be idle"),
                ),
                (None, None) => (None, String::new()),
            };
        }
        if let Some(r) = self.rapl.as_ref().and_then(|rx| rx.borrow().clone()) {
            let zones = r
                .zones
                .iter()
                .map(|z| (z.name.as_str(), z.counted, z.watts));
            inputs.package_watts = package_watts(zones);
        }
        let host_idle = self
            .wall
            .as_ref()
            .and_then(|rx| rx.borrow().clone())
            .is_some_and(|w| w.idle);
        if let Some(c) = self.cstates.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.package_cstates = Some(self.idle_residency(c, host_idle));
        }
        let mut faults = Vec::new();
        if let Some(s) = self.smart.as_ref().and_then(|rx| rx.borrow().clone()) {
            let watch = match self.watch.take() {
                Some(w) => w,
                None => self.load().await,
            };
            let watch = self.watch.insert(watch);
            let spinning = spinning(&s);
            inputs.smart_ungated = Some(
                spinning
                    .iter()
                    .filter(|d| d.block.is_empty())
                    .map(|d| d.device.clone())
                    .collect(),
            );
            watch.advance(&spinning, host_idle, at);
            inputs.standby = Some(watch.clone());
            let due = at.saturating_duration_since(*self.last_save.get_or_insert(at)) >= SAVE_EVERY;
            if due {
                if let Err(error) = self.save().await {
                    faults.push(Fault {
                        item: format!("state:{STATE}"),
                        error,
                    });
                }
                self.last_save = Some(at);
            }
        }
        let root = cx.root.clone();
        let since_boot = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || advisor::disks_since_boot(&root))
                .await
                .map_err(|e| CollectError::Unavailable(format!("disk stat reader: {e}")))?
        };
        inputs.disk_activity = advance_window(&mut self.window, since_boot, at);
        let facts = self.facts.clone();
        let report = tokio::task::spawn_blocking(move || advisor::audit(&root, &inputs, &facts))
            .await
            .map_err(|e| CollectError::Unavailable(format!("advisor: {e}")))?;
        Ok(Sample {
            snapshot: Snapshot { report },
            faults,
        })
    }

    fn finish(&mut self) {
        if let Some(w) = &self.watch
            && let Err(e) = self.store.save(STATE, w)
        {
            tracing::warn!(collector = "advisor", error = %e, "could not save the disk standby history on shutdown");
        }
    }
}

impl Advisor {
    /// Package C-state residency over the rounds the host was idle: what the cstate_pkg totals
    /// grew by between this collector's rounds, counted when the wall collector's idle detector
    /// says idle (the flag at a round stands for the interval before it). Before any idle
    /// round, or without the wall collector, the totals of all the time.
    fn idle_residency(
        &mut self,
        now: Arc<cstate_pkg::Snapshot>,
        host_idle: bool,
    ) -> advisor::PackageCstates {
        if let (true, Some(before)) = (host_idle, &self.cstates_last) {
            self.cstates_idle.add_growth(before, &now);
        }
        self.cstates_last = Some(now.clone());
        if now.unmeasurable.is_none() && self.cstates_idle.observed_secs > 0.0 {
            self.cstates_idle.summary(true)
        } else {
            now.summary(false)
        }
    }

    /// The saved standby history, or a fresh one; a file that could not be used is logged.
    async fn load(&self) -> Watch {
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || store.load::<Watch>(STATE)).await;
        match loaded {
            Ok(crate::state::Loaded::Ok(w)) => w,
            Ok(crate::state::Loaded::Missing) => Watch::default(),
            Ok(l) => {
                let note = l.set_aside_note("watching the disks from now");
                tracing::warn!(collector = "advisor", "{STATE}.json: {}", note.unwrap_or_default());
                Watch::default()
            }
            Err(e) => {
                tracing::warn!(collector = "advisor", error = %e, "loading {STATE}.json");
                Watch::default()
            }
        }
    }

    async fn save(&self) -> Result<(), CollectError> {
        let (store, watch) = (self.store.clone(), self.watch.clone());
        tokio::task::spawn_blocking(move || watch.map_or(Ok(()), |w| store.save(STATE, &w)))
            .await
            .map_err(|e| CollectError::Unavailable(format!("state saver: {e}")))?
            .map_err(CollectError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::{Confidence, Finding, Report, Severity, Watts};

    fn finding(id: &str, severity: Severity, watts: Option<f64>) -> Finding {
        Finding {
            id: id.into(),
            check: "c".into(),
            title: "t".into(),
            severity,
            evidence: vec![],
            devices: vec!["0000:01:00.0 some NIC".into()],
            watts: watts.map(|h| Watts {
                low: h / 2.0,
                high: h,
            }),
            watts_dc: None,
            confidence: Confidence::Low,
            command: None,
            persist: None,
            risk: None,
            sources: vec![],
            overlaps: None,
        }
    }

    #[test]
    fn renders_one_series_per_finding_id_without_devices() {
        let snap = Snapshot {
            report: Report {
                idle_wall_watts: Some(37.6),
                idle_basis: String::new(),
                idle_measured: false,
                through_psu: true,
                total: Watts {
                    low: 1.0,
                    high: 4.0,
                },
                findings: vec![
                    finding("pcie-aspm-off", Severity::Warning, Some(4.0)),
                    finding("nmi-watchdog-on", Severity::Warning, None),
                    finding("cpu-chiplet-io-die", Severity::Info, Some(8.0)),
                ],
                notes: vec![],
            },
        };
        assert_eq!(
            crate::testutil::render_series(&snap),
            vec![
                "hostwatt_advisor_finding_active{id=\"pcie-aspm-off\",severity=\"warning\"} 1",
                "hostwatt_advisor_finding_active{id=\"nmi-watchdog-on\",severity=\"warning\"} 1",
                "hostwatt_advisor_finding_active{id=\"cpu-chiplet-io-die\",severity=\"info\"} 1",
                "hostwatt_advisor_finding_potential_watts{id=\"pcie-aspm-off\"} 4",
                "hostwatt_advisor_finding_potential_watts{id=\"cpu-chiplet-io-die\"} 8",
                "hostwatt_advisor_potential_watts 4",
            ]
        );
    }

    #[test]
    fn package_power_counts_each_package_once() {
        let zones = [
            ("package-0", true, Some(3.93)),
            ("package-0", false, Some(3.78)),
            ("core", true, Some(1.0)),
            ("package-1", true, None),
        ];
        assert_eq!(package_watts(zones), Some(3.93));
        assert_eq!(package_watts([("psys", true, Some(9.0))]), None);
    }

    fn smart_disk(id: &str, block: &str, state: smart::power::State) -> smart::Disk {
        smart::Disk {
            id: id.into(),
            device: format!("/dev/{block}"),
            dev_type: "sat".into(),
            block: vec![block.into()],
            protocol: "ATA".into(),
            hide_serial: false,
            data: None,
            age_seconds: None,
            exit: None,
            state,
            standby_seconds: 0.0,
            spin_ups: 0,
            standby_skips: 0,
            advice: None,
        }
    }

    /// An advisor reading SMART snapshots from `rx`, its state in `state_dir`.
    fn advisor_with_smart(
        state_dir: &std::path::Path,
        rx: Latest<smart::Snapshot>,
        wall: Option<Latest<wall::Snapshot>>,
    ) -> Advisor {
        let text = format!("[daemon]\nstate_dir = {:?}\n", state_dir.display().to_string());
        let cfg = crate::config::resolve("test", &text, &Default::default()).unwrap();
        <Advisor as super::super::Build>::build(&cfg.setup(), (wall, None, None, Some(rx)))
    }

    #[tokio::test]
    async fn a_disk_awake_for_a_day_is_found_and_the_history_survives_a_restart() {
        use smart::power::State::{Active, Idle, Standby};
        let state = tempfile::tempdir().unwrap();
        let tree = tempfile::tempdir().unwrap();
        let cx = Context {
            root: crate::host::root::Root::new(tree.path()),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        let (tx, rx) = tokio::sync::watch::channel(None);
        let send = |sdb, sdc| {
            let snap = smart::Snapshot {
                disks: vec![
                    smart_disk("WDC_WD40EFRX_WD-1", "sdb", sdb),
                    smart_disk("ST8000VN004_WSD2", "sdc", sdc),
                ],
            };
            tx.send_replace(Some(Arc::new(snap)));
        };
        let mut a = advisor_with_smart(state.path(), rx.clone(), None);
        let t0 = Instant::now();
        let hour = |n: u64| t0 + Duration::from_secs(n * 3600);
        // the wall collector is off here, so the host is not known to be idle: no finding
        for n in 0..=13 {
            send(if n % 2 == 0 { Active } else { Idle }, Standby);
            let report = a.sample(&cx, hour(n)).await.unwrap().snapshot.report;
            assert!(report.findings.iter().all(|f| f.id != "disk-never-standby"));
        }
        let w = a.watch.clone().unwrap();
        assert_eq!(w.disks["WDC_WD40EFRX_WD-1"].awake_secs, 13.0 * 3600.0);
        assert_eq!(w.disks["WDC_WD40EFRX_WD-1"].awake_idle_secs, 0.0);
        assert_eq!(w.disks["ST8000VN004_WSD2"].awake_secs, 0.0);
        // saved at shutdown, loaded by the next daemon
        a.finish();
        assert!(state.path().join("advisor.json").exists());
        // the next daemon has a wall collector that finds the host idle
        let idle = wall::Snapshot {
            idle: true,
            ..Default::default()
        };
        let (_wall_tx, wall_rx) = tokio::sync::watch::channel(Some(Arc::new(idle)));
        let mut b = advisor_with_smart(state.path(), rx, Some(wall_rx));
        send(Idle, Standby);
        b.sample(&cx, hour(100)).await.unwrap();
        assert_eq!(
            b.watch.as_ref().unwrap().disks["WDC_WD40EFRX_WD-1"].awake_secs,
            13.0 * 3600.0,
            "what was watched is kept; the 87 h the daemon was down are not counted"
        );
        // 13 h awake with the host busy, then 24 h with it idle: idle 24 of 37 h
        let mut report = None;
        for n in 101..=124 {
            send(Idle, Standby);
            report = Some(b.sample(&cx, hour(n)).await.unwrap().snapshot.report);
        }
        let report = report.unwrap();
        let f = report
            .findings
            .iter()
            .find(|f| f.id == "disk-never-standby")
            .expect("found after a day");
        assert_eq!(f.devices, ["sdb (WDC_WD40EFRX_WD-1)"]);
        assert!(f.title.contains("in the last 37.0 h watched"), "{}", f.title);
    }

    #[tokio::test]
    async fn package_residency_is_counted_over_the_rounds_the_host_was_idle() {
        let tree = tempfile::tempdir().unwrap();
        let cx = Context {
            root: crate::host::root::Root::new(tree.path()),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        let (wall_tx, wall_rx) = tokio::sync::watch::channel(None);
        let (c_tx, c_rx) = tokio::sync::watch::channel(None);
        let cfg = crate::config::resolve("test", "", &Default::default()).unwrap();
        let mut a = <Advisor as super::super::Build>::build(
            &cfg.setup(),
            (Some(wall_rx), None, Some(c_rx), None),
        );
        let t0 = Instant::now();
        // cstate_pkg totals at each advisor round (5 min apart), and whether the host was idle
        let rounds = [
            (0.0, 0.0, 0.0, false),
            (300.0, 290.0, 0.0, false), // busy: PC2 only, not counted
            (600.0, 290.0, 240.0, true), // idle: 240 s of 300 in PC8
            (900.0, 350.0, 240.0, false), // busy again, not counted
        ];
        let mut notes = Vec::new();
        for (n, (observed, pc2, pc8, idle)) in rounds.into_iter().enumerate() {
            let mut snap = cstate_pkg::Snapshot {
                observed_secs: observed,
                ..Default::default()
            };
            snap.seconds.insert(("0".into(), "pc2".into()), pc2);
            snap.seconds.insert(("0".into(), "pc8".into()), pc8);
            c_tx.send_replace(Some(Arc::new(snap)));
            let w = wall::Snapshot {
                idle,
                ..Default::default()
            };
            wall_tx.send_replace(Some(Arc::new(w)));
            let at = t0 + Duration::from_secs(300 * n as u64);
            let report = a.sample(&cx, at).await.unwrap().snapshot.report;
            notes.push(
                report
                    .notes
                    .iter()
                    .find(|n| n.check == "pkg_cstates")
                    .map(|n| n.text.clone())
                    .unwrap(),
            );
        }
        assert_eq!(
            notes[1],
            "deepest package C-state reached over 300 s observed, busy time included: PC2 (96.7 % of the time)",
            "no idle round yet: all the time"
        );
        assert_eq!(
            notes[3],
            "deepest package C-state reached over 300 s while the host was idle: PC8 (80.0 % of the time)"
        );
    }

    #[test]
    fn disk_window_replaces_since_boot_after_an_hour_and_restarts_after_a_day_without_a_gap() {
        let mut w = BTreeMap::new();
        let mut a = |now, at| advance_window(&mut w, now, at);
        let t0 = Instant::now();
        let boot = |ios| {
            vec![DiskActivity {
                name: "sda".into(),
                ios,
                window_secs: 86400.0,
                since_boot: true,
            }]
        };
        assert!(a(boot(1000), t0)[0].since_boot);
        assert!(
            a(boot(1010), t0 + Duration::from_secs(600))[0].since_boot,
            "10 min is too short"
        );
        let hour = a(boot(1012), t0 + Duration::from_secs(3600));
        assert_eq!(
            (hour[0].ios, hour[0].window_secs, hour[0].since_boot),
            (12, 3600.0, false)
        );
        let day = t0 + WINDOW_MAX;
        let at_day = a(boot(1100), day);
        assert_eq!(
            (at_day[0].ios, at_day[0].window_secs, at_day[0].since_boot),
            (100, 86400.0, false)
        );
        // restarted at the day mark; for its first hour the day before continues
        let after = a(boot(1101), day + Duration::from_secs(60));
        assert_eq!(
            (after[0].ios, after[0].window_secs, after[0].since_boot),
            (101, 86460.0, false)
        );
        let hour = a(boot(1130), day + Duration::from_secs(3600));
        assert_eq!((hour[0].ios, hour[0].window_secs), (30, 3600.0));
        // a counter that goes back (a disk replaced under the same name) starts over
        assert!(a(boot(5), day + Duration::from_secs(7200))[0].since_boot);
    }
}
