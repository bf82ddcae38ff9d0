//! `hostwatt audit`: the report of a running daemon, or one sampled here by an app of the config's
//! collectors (the composition belongs here, not in the advisor).

mod sources;

use std::time::{Duration, Instant};

pub use sources::Ask;

use super::App;
use crate::advisor::{Facts, Report};
use crate::alerts::client::Access;
use crate::config::Config;
use crate::host::command::Runner;

/// Samples the config's collectors once (twice, a second apart, when RAPL, CPU rates or package
/// C-state residency are on),
/// reads the wall estimate from them and audits. SMART, ZFS and alerts are left off: an audit
/// never talks to the disks. Blocking reads run on the blocking pool.
pub async fn audit_once(cfg: &Config, runner: Runner) -> anyhow::Result<Report> {
    let mut quiet = cfg.clone();
    quiet.persist = false;
    quiet.collectors.smart.enabled = false;
    quiet.collectors.zfs.enabled = false;
    quiet.alerts.enabled = false;
    // the audit runs once below, not as a collector
    quiet.collectors.advisor.enabled = false;
    let mut app = App::new(&quiet, quiet.context(runner))?;
    app.sample_all(Instant::now()).await;
    let c = &quiet.collectors;
    if c.rapl.enabled || c.system.enabled || c.cstate_pkg.enabled {
        tokio::time::sleep(Duration::from_secs(1)).await;
        app.sample_all(Instant::now()).await;
    }
    let inputs = sources::sampled_inputs(cfg, &app.registry.gather());
    let root = cfg.root.clone();
    Ok(tokio::task::spawn_blocking(move || {
        crate::advisor::audit(&root, &inputs, &Facts::embedded())
    })
    .await?)
}

/// `hostwatt audit`: the daemon's report when `ask` names one and it answers (reached with
/// `access`), else one sampled here. A daemon named by `--url` that gives no report is an error.
pub async fn report(
    cfg: &Config,
    runner: Runner,
    ask: Option<&sources::Ask>,
    access: &Access,
) -> anyhow::Result<Report> {
    let mut unused = None;
    if let Some(ask) = ask {
        let (sources::Ask::Given(url) | sources::Ask::Local(url)) = ask;
        match sources::ask_daemon(url, access).await {
            Ok(r) => return Ok(r),
            Err(Some(e)) if matches!(ask, sources::Ask::Given(_)) => return Err(e.into()),
            Err(None) if matches!(ask, sources::Ask::Given(_)) => {
                anyhow::bail!("no hostwatt daemon answered at {url}")
            }
            Err(e) => unused = e,
        }
    }
    let mut report = audit_once(cfg, runner).await?;
    if let Some(e) = unused {
        sources::note_unused(&mut report, &e);
    }
    Ok(report)
}
