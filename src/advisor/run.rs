//! Where `hostwatt audit` gets its report: from a running daemon's `GET /api/v1/advice` (which
//! has history), or by sampling once itself.

use std::time::{Duration, Instant};

use prometheus::proto::MetricFamily;

use super::{Facts, Inputs, Report};
use crate::alerts::client::FetchError;
use crate::app::App;
use crate::config::Config;
use crate::host::command::Runner;

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

/// Samples the config's collectors once (twice, a second apart, when RAPL or CPU rates are on),
/// reads the wall estimate from them and audits. SMART, ZFS and alerts are left off: an audit
/// never talks to the disks. Blocking reads run on the blocking pool.
pub async fn audit_once(cfg: &Config, runner: Runner) -> anyhow::Result<Report> {
    let mut quiet = cfg.clone();
    quiet.persist = false;
    quiet.collectors.smart.enabled = false;
    quiet.collectors.zfs.enabled = false;
    quiet.alerts.enabled = false;
    let mut app = App::new(&quiet, crate::cli::context(&quiet, runner))?;
    app.sample_all(Instant::now()).await;
    if quiet.collectors.rapl.enabled || quiet.collectors.system.enabled {
        tokio::time::sleep(Duration::from_secs(1)).await;
        app.sample_all(Instant::now()).await;
    }
    let families = app.registry.gather();
    let mut inputs = config_inputs(cfg);
    inputs.idle_dc_watts = gauge(&families, "hostwatt_wall_dc_watts");
    inputs.idle_wall_watts = gauge(&families, "hostwatt_wall_best_power_watts");
    inputs.idle_basis = "one sample, not known to be idle".to_owned();
    let root = cfg.root.clone();
    Ok(
        tokio::task::spawn_blocking(move || super::audit(&root, &inputs, &Facts::embedded()))
            .await?,
    )
}

/// `hostwatt audit`: the daemon's report when `ask_daemon` and one answers at `url`, else one
/// sampled here.
pub async fn report(
    cfg: &Config,
    runner: Runner,
    ask_daemon: Option<&str>,
) -> anyhow::Result<Report> {
    let mut unused = None;
    if let Some(url) = ask_daemon {
        match crate::alerts::client::get_json::<Report>(
            url,
            ROUTE,
            Duration::from_secs(5),
            &crate::alerts::client::Access::default(),
        )
        .await
        {
            Ok(r) => return Ok(r),
            Err(FetchError::Io { message, .. }) if message.contains("onnection refused") => {
                tracing::debug!(%message, "no daemon answered; sampling once")
            }
            // a daemon is there (TLS, basic auth, its advisor off): the user should know that
            // this report lacks its history, and why
            Err(e) => unused = Some(e),
        }
    }
    let mut report = audit_once(cfg, runner).await?;
    if let Some(e) = unused {
        report.notes.push(super::Note {
            check: "daemon".to_owned(),
            text: format!(
                "a daemon answered but its report could not be used ({e}): this one is sampled once here, without the daemon's history"
            ),
        });
    }
    Ok(report)
}
