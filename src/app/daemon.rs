//! The daemon's lifecycle: serve, reload on SIGHUP (collectors whose config is unchanged carry
//! over with their state; slots still stuck in a round are handed to the next app), stop on
//! SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::config::{self, Config, Overrides};
use crate::host::command::Runner;
use crate::server::Served;
use crate::shutdown::{Event, Signals};

/// Where the daemon gets its config again on SIGHUP, and a command runner for each start.
pub struct Sources<'a> {
    /// The config file (`--config`); `None` is the embedded default.
    pub config: Option<PathBuf>,
    /// The command-line overrides of the file.
    pub overrides: Overrides,
    /// A new command runner: the real programs, or the recordings of `--replay-commands`.
    pub runner: &'a dyn Fn() -> anyhow::Result<Runner>,
}

/// Runs the daemon until SIGTERM/SIGINT. SIGHUP reloads the config; an invalid new config is
/// logged and the old one keeps running.
pub async fn run(sources: &Sources<'_>, cfg: Config) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let listener = TcpListener::bind(cfg.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e}; choose another address with --listen or [daemon] listen",
            cfg.listen
        )
    })?;
    if cfg.persist {
        let dir = cfg.state_dir.clone();
        // the daemon keeps running without state: only what survives a restart is lost
        if let Err(e) = tokio::task::spawn_blocking(move || state_dir_writable(&dir)).await? {
            tracing::warn!(
                "state directory {} is not writable ({e}): energy counters, calibration and alert state will not survive a restart; pass --state-dir DIR, or run as the service user (hostwatt)",
                cfg.state_dir.display()
            );
        }
    }
    let tls = cfg.web.tls.is_some();
    tracing::info!(listen = %listener.local_addr()?, tls, basic_auth = cfg.web.auth.is_some(), config = %cfg.source, root = %cfg.root.base().display(), "hostwatt started");
    let (mut running, served) =
        Running::start(&cfg, (sources.runner)()?, Default::default(), Vec::new()).await?;
    let (registry_tx, registry_rx) = watch::channel(served);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (web_tx, web_rx) = watch::channel(cfg.web.clone());
    let limits = crate::server::conn::Limits {
        max_connections: cfg.max_connections,
        ..Default::default()
    };
    let server = tokio::spawn(crate::server::serve_with(
        listener,
        registry_rx,
        web_rx,
        limits,
        async move {
            let _ = stop_rx.changed().await;
        },
    ));
    let mut current = cfg;
    loop {
        match signals.next().await {
            Event::Stop => break,
            Event::Reload => match reload_config(sources).await {
                Ok((new, true)) => {
                    tracing::error!(config = %new.source, "config file is empty (a write in progress?); keeping the running config. A file with only a comment is taken as all defaults")
                }
                Ok((new, false)) => {
                    if new.listen != current.listen {
                        tracing::warn!(listen = %new.listen, "a new listen address takes effect on restart only");
                    }
                    if new.web.tls.is_some() != tls {
                        tracing::warn!("turning TLS on or off takes effect on restart only");
                    }
                    // certificates, users and headers apply from the next connection or request
                    web_tx.send_replace(new.web.clone());
                    let (carried, stuck) = running.stop(Some(&new)).await;
                    let (r, served) =
                        Running::start(&new, (sources.runner)()?, carried, stuck).await?;
                    running = r;
                    registry_tx.send_replace(served);
                    tracing::info!(config = %new.source, "config reloaded");
                    current = new;
                }
                Err(e) => {
                    tracing::error!(error = %e, "config reload failed; keeping the running config")
                }
            },
        }
    }
    tracing::info!("shutting down");
    running.stop(None).await;
    let _ = stop_tx.send(true);
    server.await??;
    Ok(())
}

/// The config file read again for a reload, off the runtime thread (a file on a stuck mount,
/// a DNS lookup for `--listen host:port`), and whether it is blank (see `is_blank_file`).
async fn reload_config(sources: &Sources<'_>) -> anyhow::Result<(Config, bool)> {
    let path = sources.config.clone();
    let overrides = sources.overrides.clone();
    let load = tokio::task::spawn_blocking(move || {
        let cfg = config::load(path.as_deref(), &overrides)?;
        let blank = is_blank_file(&cfg.source);
        anyhow::Ok((cfg, blank))
    });
    // a read that never returns leaves one blocking-pool thread behind, never the daemon
    match tokio::time::timeout(RELOAD_READ_LIMIT, load).await {
        Ok(loaded) => loaded?,
        Err(_) => anyhow::bail!(
            "reading the config took more than {RELOAD_READ_LIMIT:?} (a stuck file system?)"
        ),
    }
}

/// How long a reload waits for the config file to be read.
const RELOAD_READ_LIMIT: Duration = Duration::from_secs(10);

/// Whether the state directory exists (or can be made) and takes a file: a probe file is
/// written and removed.
fn state_dir_writable(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".hostwatt-write-test");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// Whether `source` is a file with nothing but whitespace: on SIGHUP that is far more often a
/// truncated or half-written file than a wish for all defaults, so it is refused.
fn is_blank_file(source: &str) -> bool {
    source != config::EMBEDDED_NAME
        && std::fs::read_to_string(source).is_ok_and(|text| text.trim().is_empty())
}

struct Running {
    stop: watch::Sender<bool>,
    keys: std::collections::BTreeMap<String, String>,
    keep: crate::scheduler::Keep,
    collectors: crate::scheduler::Task,
    dispatcher: tokio::task::JoinHandle<()>,
    /// The history store, closed (last flush written) at stop.
    history: Option<crate::history::History>,
}

/// How long a stop waits for the history's last flush: a few seconds, like the state saves.
const HISTORY_CLOSE_LIMIT: Duration = Duration::from_secs(5);

impl Running {
    /// Builds the app of `cfg` and starts it; `carried` and `stuck` are what the previous
    /// app's `stop` handed back.
    async fn start(
        cfg: &Config,
        runner: Runner,
        carried: crate::app::CarriedOver,
        stuck: Vec<std::sync::Arc<crate::scheduler::Slot>>,
    ) -> anyhow::Result<(Self, Served)> {
        // the engine gets the queue's sending end; the dispatcher reads it, with its metrics in
        // the app's registry
        let (tx, inbox) = crate::notify::inbox();
        let notify = (!cfg.notify.is_empty()).then_some(tx);
        // building collectors loads their state files: off the runtime thread
        let built = cfg.clone();
        let app = tokio::task::spawn_blocking(move || {
            App::reloaded(&built, built.context(runner), notify, carried)
        })
        .await??;
        tracing::info!(collectors = ?app.collector_names(), "collectors enabled");
        if let Some(note) = cfg.collectors.wall.assumption_note(cfg.meters.len()) {
            tracing::warn!("{note}");
        }
        let (stop, rx) = watch::channel(false);
        let served = app.served();
        let registry = app.registry.clone();
        let history = app.history();
        let keep = crate::scheduler::Keep::default();
        let (_, collectors) = app.spawn(rx.clone(), keep.clone(), stuck);
        let hostname = crate::notify::hostname(&cfg.root);
        let dispatcher =
            crate::notify::spawn_with_inbox(&cfg.notify, &hostname, &registry, rx, inbox)?;
        if !cfg.notify.is_empty() {
            tracing::info!(receivers = ?cfg.notify.keys().collect::<Vec<_>>(), "notification receivers configured");
        }
        let running = Self {
            stop,
            keys: crate::app::keys(cfg),
            keep,
            collectors,
            dispatcher,
            history,
        };
        Ok((running, served))
    }

    /// Stops everything; the collectors whose config key is the same in `next` are handed
    /// back with their state, counters and schedule, the others save their state and end. The
    /// slots of collectors still stuck in a round come back too, for the next app to wait on.
    async fn stop(
        self,
        next: Option<&Config>,
    ) -> (
        crate::app::CarriedOver,
        Vec<std::sync::Arc<crate::scheduler::Slot>>,
    ) {
        let same: Vec<String> = next.map_or_else(Vec::new, |cfg| {
            crate::app::keys(cfg)
                .into_iter()
                .filter(|(name, key)| self.keys.get(name) == Some(key))
                .map(|(name, _)| name)
                .collect()
        });
        {
            let mut keep = self
                .keep
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            keep.extend(same.iter().cloned());
        }
        let _ = self.stop.send(true);
        let mut carried = crate::app::CarriedOver::new();
        // a scheduler task that panicked hands nothing back: everything is built anew
        let stopped = self.collectors.await.unwrap_or_default();
        for sampler in stopped.samplers {
            let name = sampler.name();
            let kept = same.iter().any(|s| s == name);
            carried.insert(name, sampler.carry(kept));
        }
        let _ = self.dispatcher.await;
        // the history's last flush is on disk before the process ends or a new store handle
        // opens the same file; bounded, because a stuck disk must not hold up a stop (SQLite's
        // journal keeps the store whole either way)
        if let Some(h) = self.history
            && tokio::time::timeout(HISTORY_CLOSE_LIMIT, h.closed())
                .await
                .is_err()
        {
            tracing::warn!(
                "history store not closed after {HISTORY_CLOSE_LIMIT:?}; stopping without its last flush"
            );
        }
        (carried, stopped.stuck)
    }
}
