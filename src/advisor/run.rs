//! What `hostwatt audit` reads: a running daemon's `GET /api/v1/advice` (which has history), or
//! the inputs of one sample taken by the caller (`app::audit` builds and samples the app).

use std::time::Duration;

use prometheus::proto::MetricFamily;

use super::{Inputs, Report};
use crate::alerts::client::FetchError;
use crate::config::Config;

/// The route the daemon serves the report at.
pub const ROUTE: &str = "/api/v1/advice";

/// The inputs from a config: the PSU curve (`[collectors.wall.psu]`; a picoPSU's brick is not
/// counted) and hostwatt's own SMART query interval when the smart collector runs.
pub fn config_inputs(cfg: &Config) -> Inputs {
    let smart = &cfg.collectors.smart;
    Inputs {
        psu: cfg
            .collectors
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

fn gauge(families: &[MetricFamily], name: &str) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name() == name)?
        .get_metric()
        .first()
        .map(|m| m.get_gauge().value())
}

/// The inputs of an audit from one sample of `cfg`'s collectors (`families`, as gathered): the
/// config's inputs plus the wall estimate's DC and wall watts.
pub fn sampled_inputs(cfg: &Config, families: &[MetricFamily]) -> Inputs {
    let mut inputs = config_inputs(cfg);
    inputs.idle_dc_watts = gauge(families, "hostwatt_wall_dc_watts");
    inputs.idle_wall_watts = gauge(families, "hostwatt_wall_best_power_watts");
    inputs.idle_basis = "one sample, not known to be idle".to_owned();
    inputs
}

/// A running daemon's report at `url` (`GET /api/v1/advice`). `Err(None)`: no daemon answered;
/// `Err(Some(e))`: one answered but its report could not be used (TLS, basic auth, its advisor
/// off), which the user should know (`note_unused`).
pub async fn ask_daemon(url: &str) -> Result<Report, Option<FetchError>> {
    match crate::alerts::client::get_json::<Report>(
        url,
        ROUTE,
        Duration::from_secs(5),
        &crate::alerts::client::Access::default(),
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
    report.notes.push(super::Note {
        check: "daemon".to_owned(),
        text: format!(
            "a daemon answered but its report could not be used ({e}): this one is sampled once here, without the daemon's history"
        ),
    });
}
