//! What `hostwatt audit` reads: a running daemon's `GET /api/v1/advice` (which has history), or
//! the inputs of one sample taken by the caller (`app::audit` builds and samples the app).
//! It composes the config, the collectors' metrics and the alerts HTTP client, so it sits in
//! the composition root, not in the advisor.

use std::time::Duration;

use prometheus::proto::MetricFamily;

use crate::advisor::{Inputs, Note, PackageCstates, Report};
use crate::alerts::client::{Access, FetchError, get_json};
use crate::config::Config;

fn gauge(families: &[MetricFamily], name: &str) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name() == name)?
        .get_metric()
        .first()
        .map(|m| m.get_gauge().value())
}

/// `package_watts` from a gathered registry: `hostwatt_rapl_power_watts{zone,id}`, counted per
/// `hostwatt_rapl_zone_counted{zone,id,interface}`.
fn gathered_package_watts(families: &[MetricFamily]) -> Option<f64> {
    let label = |m: &prometheus::proto::Metric, name: &str| {
        m.get_label()
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.value().to_owned())
    };
    let metrics = |name: &'static str| {
        families
            .iter()
            .filter(move |f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
    };
    let counted: std::collections::BTreeSet<String> = metrics("hostwatt_rapl_zone_counted")
        .filter(|m| m.get_gauge().value() == 1.0)
        .filter_map(|m| label(m, "id"))
        .collect();
    let zones: Vec<(String, bool, Option<f64>)> = metrics("hostwatt_rapl_power_watts")
        .filter_map(|m| {
            let id = label(m, "id")?;
            Some((
                label(m, "zone")?,
                counted.contains(&id),
                Some(m.get_gauge().value()),
            ))
        })
        .collect();
    crate::collectors::advisor::package_watts(zones.iter().map(|(n, c, w)| (n.as_str(), *c, *w)))
}

/// Package C-state residency from a gathered registry (`hostwatt_cstate_pkg_*`), with the
/// paranoid level read from `root` for the reason's text; `None` when the collector is off.
fn gathered_cstates(
    families: &[MetricFamily],
    root: &crate::host::root::Root,
) -> Option<PackageCstates> {
    use crate::collectors::cstate_pkg::{self, Unmeasurable};
    let label = |m: &prometheus::proto::Metric, name: &str| {
        m.get_label()
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.value().to_owned())
    };
    let family = |name: &str| families.iter().find(|f| f.name() == name);
    let reason = label(
        family("hostwatt_cstate_pkg_measurable")?
            .get_metric()
            .first()?,
        "reason",
    )?;
    let paranoid = root
        .read_trimmed(cstate_pkg::PARANOID)
        .ok()
        .and_then(|p| p.parse().ok());
    let mut snap = cstate_pkg::Snapshot {
        unmeasurable: Unmeasurable::from_code(&reason, paranoid),
        observed_secs: family("hostwatt_cstate_pkg_observed_seconds_total")
            .and_then(|f| f.get_metric().first())
            .map_or(0.0, |m| m.get_counter().value()),
        ..Default::default()
    };
    for m in family("hostwatt_cstate_pkg_residency_seconds_total")
        .map(|f| f.get_metric())
        .unwrap_or_default()
    {
        if let (Some(p), Some(s)) = (label(m, "package"), label(m, "state")) {
            snap.seconds.insert((p, s), m.get_counter().value());
        }
    }
    Some(snap.summary(false))
}

/// The inputs of an audit from one sample of `cfg`'s collectors (`families`, as gathered): the
/// config's inputs plus the wall estimate's DC and wall watts.
pub fn sampled_inputs(cfg: &Config, families: &[MetricFamily]) -> Inputs {
    let mut inputs = crate::collectors::advisor::config_inputs(&cfg.collectors);
    inputs.idle_dc_watts = gauge(families, "hostwatt_wall_dc_watts");
    inputs.idle_wall_watts = gauge(families, "hostwatt_wall_best_power_watts");
    inputs.idle_basis = "one sample, not known to be idle".to_owned();
    inputs.idle_measured = families
        .iter()
        .filter(|f| f.name() == "hostwatt_wall_best_power_watts")
        .flat_map(|f| f.get_metric())
        .flat_map(|m| m.get_label())
        .any(|l| l.name() == "basis" && l.value() == "measured");
    inputs.package_watts = gathered_package_watts(families);
    inputs.package_cstates = gathered_cstates(families, &cfg.root);
    inputs
}

/// Which daemon `hostwatt audit` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The one at `--url`: the user wants its report, so not getting it is an error.
    Given(String),
    /// The one the local config describes: when none answers, sample once here; when one
    /// answers but its report cannot be used, sample and say why in a note.
    Local(String),
}

/// A running daemon's report at `url` (`GET /api/v1/advice`), reached with `access`'s TLS
/// trust and credentials. `Err(None)`: no daemon answered; `Err(Some(e))`: one answered but its
/// report could not be used (TLS, basic auth, its advisor off), which the user should know
/// (`note_unused`).
pub async fn ask_daemon(url: &str, access: &Access) -> Result<Report, Option<FetchError>> {
    match get_json::<Report>(
        url,
        crate::advisor::api::ROUTE,
        Duration::from_secs(5),
        access,
    )
    .await
    {
        Ok(r) => Ok(r),
        Err(FetchError::Io { message, .. }) if message.contains("onnection refused") => {
            tracing::debug!(%message, "no daemon answered; sampling once");
            Err(None)
        }
        Err(e) => Err(Some(e)),
    }
}

/// Notes in `report` (sampled once here) that a daemon answered with `e`: it lacks the
/// daemon's history, and says why.
pub fn note_unused(report: &mut Report, e: &FetchError) {
    report.notes.push(Note {
        check: "daemon".to_owned(),
        text: format!(
            "a daemon answered but its report could not be used ({e}): this one is sampled once here, without the daemon's history"
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_shot_audit_reads_package_residency_from_the_gathered_metrics() {
        use crate::collectors::cstate_pkg::{Snapshot, Unmeasurable};
        let gathered = |snap: &Snapshot| {
            let mut fams =
                crate::metrics::Families::new(<Snapshot as crate::metrics::Render>::FAMILIES);
            crate::metrics::Render::render(snap, &mut fams);
            fams.into_vec()
        };
        let cfg = crate::config::resolve("test", "", &Default::default()).unwrap();
        // two packages over 2 s: package 0 half the time in PC6, package 1 all of it
        let mut snap = Snapshot {
            observed_secs: 2.0,
            ..Snapshot::default()
        };
        for (pkg, state, secs) in [("0", "pc2", 0.5), ("0", "pc6", 1.0), ("1", "pc6", 2.0)] {
            snap.seconds.insert((pkg.into(), state.into()), secs);
        }
        let got = sampled_inputs(&cfg, &gathered(&snap))
            .package_cstates
            .unwrap();
        assert_eq!(got.unmeasurable, None);
        assert_eq!(got.observed_secs, 2.0);
        assert_eq!(
            got.shares,
            [("pc2".to_owned(), 0.25), ("pc6".to_owned(), 0.75)]
        );
        // no counter on this CPU: the reason, and nothing else
        let none = Snapshot {
            unmeasurable: Some(Unmeasurable::NoPmu),
            ..Snapshot::default()
        };
        let got = sampled_inputs(&cfg, &gathered(&none))
            .package_cstates
            .unwrap();
        assert_eq!(got.unmeasurable, Some(Unmeasurable::NoPmu.text()));
        assert!(got.shares.is_empty());
        // the collector off: nothing gathered, no input
        assert_eq!(sampled_inputs(&cfg, &[]).package_cstates, None);
    }

    #[test]
    fn a_one_shot_audit_says_measured_only_when_a_meter_gave_the_idle_power() {
        use crate::collectors::wall::Snapshot;
        let gathered = |best: (f64, &str, &'static str)| {
            let snap = Snapshot {
                best: Some((best.0, best.1.to_owned(), best.2)),
                ..Snapshot::default()
            };
            let mut fams =
                crate::metrics::Families::new(<Snapshot as crate::metrics::Render>::FAMILIES);
            crate::metrics::Render::render(&snap, &mut fams);
            fams.into_vec()
        };
        let cfg = crate::config::resolve("test", "", &Default::default()).unwrap();
        let meter = sampled_inputs(&cfg, &gathered((31.5, "plug", "measured")));
        assert_eq!(
            (meter.idle_wall_watts, meter.idle_measured),
            (Some(31.5), true)
        );
        let model = sampled_inputs(&cfg, &gathered((37.6, "estimate", "modelled")));
        assert_eq!(
            (model.idle_wall_watts, model.idle_measured),
            (Some(37.6), false)
        );
    }
}
