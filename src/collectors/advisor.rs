//! The power advisor in the daemon: runs `advisor::audit` on its interval against the wall
//! collector's latest estimate, keeps the report for `GET /api/v1/advice`, and exports one series
//! per finding id (bounded: ids are fixed names, device lists stay in the report).
//!
//! Disk activity comes from a window this collector keeps (`sys/block/*/stat` at its first round
//! versus now, restarted after a day), so the daemon's answer has history a one-shot audit lacks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Sample, cstate_pkg, rapl, wall};
use crate::advisor::{self, DiskActivity, Facts, Inputs, Report};
use crate::config::Interval;
use crate::metrics::Latest;
use crate::metrics::{Families, Family, Render};

/// How long a disk-activity window grows before it starts again.
const WINDOW_MAX: Duration = Duration::from_secs(24 * 3600);

/// A window shorter than this says little; since-boot rates are used until then.
const WINDOW_MIN: Duration = Duration::from_secs(3600);

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
    "hostwatt_advice_active",
    "1 per advisor finding that applies now (hostwatt audit, /api/v1/advice have the details)",
    &["id", "severity"],
);
const POTENTIAL: Family = Family::gauge(
    "hostwatt_advice_potential_watts",
    "Upper end of what fixing the finding saves at the wall, watts (only findings with a sourced figure)",
    &["id"],
);

/// The latest report.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// What `/api/v1/advice` serves.
    pub report: Report,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&ACTIVE, &POTENTIAL];

    fn render(&self, out: &mut Families) {
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
    cfg: Config,
    base: Inputs,
    facts: Arc<Facts>,
    wall: Option<Latest<wall::Snapshot>>,
    rapl: Option<Latest<rapl::Snapshot>>,
    cstates: Option<Latest<cstate_pkg::Snapshot>>,
    /// Per disk: completed I/Os and when, at the start of the window.
    window: BTreeMap<String, (u64, Instant)>,
}

impl super::Build for Advisor {
    type Inputs = (
        Option<Latest<wall::Snapshot>>,
        Option<Latest<rapl::Snapshot>>,
        Option<Latest<cstate_pkg::Snapshot>>,
    );

    /// Its section, and from the whole config the PSU curve and SMART interval.
    fn build(hostwatt: &crate::config::Config, (wall, rapl, cstates): Self::Inputs) -> Self {
        Self {
            cfg: hostwatt.collectors.advisor.clone(),
            base: advisor::run::config_inputs(hostwatt),
            facts: Arc::new(Facts::embedded()),
            wall,
            rapl,
            cstates,
            window: BTreeMap::new(),
        }
    }
}

/// Each disk's activity over the window that starts at its entry in `window`, given `now` (the
/// since-boot counts) at `at`. Since-boot rates are passed through until the window is an hour
/// long; the window restarts after a day, or when a counter goes back (a disk replaced).
pub fn advance_window(
    window: &mut BTreeMap<String, (u64, Instant)>,
    now: Vec<DiskActivity>,
    at: Instant,
) -> Vec<DiskActivity> {
    let mut out = Vec::with_capacity(now.len());
    for a in now {
        let (ios0, t0) = *window.entry(a.name.clone()).or_insert((a.ios, at));
        let span = at.saturating_duration_since(t0);
        if span >= WINDOW_MAX || a.ios < ios0 {
            window.insert(a.name.clone(), (a.ios, at));
        }
        if span >= WINDOW_MIN && a.ios >= ios0 {
            out.push(DiskActivity {
                name: a.name,
                ios: a.ios - ios0,
                window_secs: span.as_secs_f64(),
                since_boot: false,
            });
        } else {
            out.push(a);
        }
    }
    out
}

impl Collector for Advisor {
    type Snapshot = Snapshot;
    const NAME: &'static str = "advisor";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut inputs = self.base.clone();
        if let Some(w) = self.wall.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.idle_dc_watts = w.estimate.map(|e| e.dc_watts);
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
            inputs.package_watts = advisor::run::package_watts(zones);
        }
        if let Some(c) = self.cstates.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.package_cstates = Some(c.summary());
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
        Ok(Sample::clean(Snapshot { report }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::{Confidence, Finding, Severity, Watts};

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
        }
    }

    #[test]
    fn renders_one_series_per_finding_id_without_devices() {
        let snap = Snapshot {
            report: Report {
                idle_wall_watts: Some(37.6),
                idle_basis: String::new(),
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
                "hostwatt_advice_active{id=\"pcie-aspm-off\",severity=\"warning\"} 1",
                "hostwatt_advice_active{id=\"nmi-watchdog-on\",severity=\"warning\"} 1",
                "hostwatt_advice_active{id=\"cpu-chiplet-io-die\",severity=\"info\"} 1",
                "hostwatt_advice_potential_watts{id=\"pcie-aspm-off\"} 4",
                "hostwatt_advice_potential_watts{id=\"cpu-chiplet-io-die\"} 8",
            ]
        );
    }

    #[test]
    fn disk_window_replaces_since_boot_after_an_hour_and_restarts_after_a_day() {
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
        assert_eq!(a(boot(1100), day)[0].ios, 100);
        // restarted at the day mark: since-boot again for the next hour
        assert!(a(boot(1101), day + Duration::from_secs(60))[0].since_boot);
    }
}
