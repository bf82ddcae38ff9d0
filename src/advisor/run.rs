//! What `hostwatt audit` reads: a running daemon's `GET /api/v1/advice` (which has history), or
//! the inputs of one sample taken by the caller (`app::audit` builds and samples the app).

use std::time::Duration;

use prometheus::proto::MetricFamily;

use super::{Inputs, Report};
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
) -> Option<super::PackageCstates> {
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
    match get_json::<Report>(url, super::api::ROUTE, Duration::from_secs(5), access).await {
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
    report.notes.push(super::Note {
        check: "daemon".to_owned(),
        text: format!(
            "a daemon answered but its report could not be used ({e}): this one is sampled once here, without the daemon's history"
        ),
    });
}
