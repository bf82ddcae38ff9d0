//! The command line, and the daemon's lifecycle: serve, reload on SIGHUP, stop on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::collectors::Context;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::host::command::Runner;
use crate::metrics::{Family, Kind};
use crate::shutdown::{Event, Signals};

/// hostwatt: on-host power and health monitoring daemon with a Prometheus endpoint.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Config file [default: /etc/hostwatt/hostwatt.toml, else the embedded default]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The host's filesystem root: sysfs is read at DIR/sys, procfs at DIR/proc
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Listen address of the HTTP endpoint, ADDR:PORT
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Directory for persistent state (energy counters, calibration, alert state)
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log level or tracing filter (error, warn, info, debug, trace)
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// Answer external commands from recorded outputs (commands.toml) instead of running them
    #[arg(long, global = true, value_name = "FILE")]
    pub replay_commands: Option<PathBuf>,
    /// What to do [default: run]
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon: sample in the background, serve /metrics and /healthz
    Run,
    /// Collect once (two rounds one second apart, for rates) and print the exposition
    Once,
    /// Validate the config and print it resolved
    CheckConfig,
    /// Print every metric family as a Markdown table
    ListMetrics,
}

impl Cli {
    /// Command-line overrides of the config file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            root: self.root.clone(),
            state_dir: self.state_dir.clone(),
        }
    }

    /// Loads and resolves the config.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        config::load(self.config.as_deref(), &self.overrides())
    }

    /// The command runner: real programs, or recordings with `--replay-commands`.
    pub fn runner(&self) -> anyhow::Result<Runner> {
        Ok(match &self.replay_commands {
            Some(p) => Runner::load_replay(p, None)?,
            None => Runner::system(),
        })
    }
}

/// The context for `cfg`.
pub fn context(cfg: &Config, runner: Runner) -> Context {
    Context {
        root: cfg.root.clone(),
        runner,
    }
}

/// `hostwatt once`: two rounds about a second apart, then the exposition.
pub async fn once(cfg: &Config, runner: Runner) -> anyhow::Result<String> {
    let mut app = App::new(cfg, context(cfg, runner))?;
    let t0 = Instant::now();
    app.sample_all(t0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.sample_all(Instant::now()).await;
    Ok(crate::metrics::exposition(&app.registry))
}

/// `hostwatt list-metrics`: a Markdown table of every family, self-metrics first.
pub fn list_metrics(families: &[&Family]) -> String {
    let mut out = String::from("| metric | type | labels | help |\n|---|---|---|---|\n");
    for f in families {
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.name,
            kind,
            f.labels.join(", "),
            f.help
        ));
    }
    out
}

/// Every family of every collector, as if all were enabled.
pub fn all_families() -> anyhow::Result<Vec<&'static Family>> {
    let mut cfg = config::resolve(
        config::EMBEDDED_NAME,
        config::EMBEDDED,
        &Overrides::default(),
    )?;
    crate::collectors::enable_all(&mut cfg.collectors);
    let app = App::new(&cfg, context(&cfg, Runner::system()))?;
    let mut families = app.families().to_vec();
    families.extend(crate::notify::FAMILIES);
    Ok(families)
}

/// Runs the daemon until SIGTERM/SIGINT. SIGHUP reloads the config; an invalid new config is
/// logged and the old one keeps running.
pub async fn run_daemon(cli: &Cli, cfg: Config) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let listener = TcpListener::bind(cfg.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, config = %cfg.source, root = %cfg.root.base().display(), "hostwatt started");
    let (mut running, registry) = Running::start(&cfg, cli.runner()?)?;
    let (registry_tx, registry_rx) = watch::channel(registry);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn(crate::server::run(listener, registry_rx, async move {
        let _ = stop_rx.changed().await;
    }));
    let mut current = cfg;
    loop {
        match signals.next().await {
            Event::Stop => break,
            Event::Reload => match cli.load_config() {
                Ok(new) => {
                    if new.listen != current.listen {
                        tracing::warn!(listen = %new.listen, "a new listen address takes effect on restart only");
                    }
                    running.stop().await;
                    let (r, registry) = Running::start(&new, cli.runner()?)?;
                    running = r;
                    registry_tx.send_replace(registry);
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
    running.stop().await;
    let _ = stop_tx.send(true);
    server.await??;
    Ok(())
}

struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Where alert notifications go; the alert engine sends through it.
    #[allow(dead_code)] // until the alert engine is wired in
    notifier: crate::notify::Notifier,
}

impl Running {
    fn start(cfg: &Config, runner: Runner) -> anyhow::Result<(Self, Registry)> {
        let app = App::new(cfg, context(cfg, runner))?;
        tracing::info!(collectors = ?app.collector_names(), "collectors enabled");
        let (stop, rx) = watch::channel(false);
        let (registry, mut tasks) = app.spawn(rx.clone());
        let hostname = crate::notify::hostname(&cfg.root);
        let (notifier, dispatcher) = crate::notify::spawn(&cfg.notify, &hostname, &registry, rx)?;
        if !cfg.notify.is_empty() {
            tracing::info!(receivers = ?cfg.notify.keys().collect::<Vec<_>>(), "notification receivers configured");
        }
        tasks.push(dispatcher);
        Ok((
            Self {
                stop,
                tasks,
                notifier,
            },
            registry,
        ))
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
