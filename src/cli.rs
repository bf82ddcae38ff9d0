//! The command line, and the daemon's lifecycle: serve, reload on SIGHUP, stop on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::collectors::Context;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::host::command::Runner;
use crate::metrics::{Family, Kind};
use crate::server::Served;
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
    /// Web config file for TLS and basic auth (the Prometheus exporter-toolkit format)
    #[arg(long = "web.config.file", global = true, value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,
    /// Log level or tracing filter (error, warn, info, debug, trace)
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// Answer external commands from recorded outputs (commands.toml) instead of running them
    #[arg(long, global = true, value_name = "FILE")]
    pub replay_commands: Option<PathBuf>,
    /// Where `shared:` paths of a commands.toml point (e.g. ../shared/fixtures)
    #[arg(long, global = true, value_name = "DIR", requires = "replay_commands")]
    pub shared_fixtures: Option<PathBuf>,
    /// What to do [default: run]
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon: sample in the background, serve /metrics and /healthz
    Run,
    /// Collect once (two rounds one second apart, for rates) and print the exposition
    Once,
    /// Validate the config and print it resolved
    CheckConfig,
    /// Print every metric family as a Markdown table
    ListMetrics,
    /// Print the alert rules of the config as a Prometheus alerting-rules file
    Rules,
    /// List the current alerts of a running daemon
    Alerts {
        /// The daemon's base URL [default: from the config's listen address]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

impl Cli {
    /// Command-line overrides of the config file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            root: self.root.clone(),
            state_dir: self.state_dir.clone(),
            web_config_file: self.web_config_file.clone(),
        }
    }

    /// Loads and resolves the config.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        config::load(self.config.as_deref(), &self.overrides())
    }

    /// The command runner: real programs, or recordings with `--replay-commands`.
    pub fn runner(&self) -> anyhow::Result<Runner> {
        Ok(match &self.replay_commands {
            Some(p) => Runner::load_replay(p, self.shared_fixtures.as_deref())?,
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
    // a one-off run neither reads nor writes the daemon's state (energy, alerts)
    let cfg = &Config {
        persist: false,
        ..cfg.clone()
    };
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

/// The URL `hostwatt alerts` reaches the daemon of `cfg` at: its listen address, with a
/// wildcard address replaced by loopback.
pub fn local_url(cfg: &Config) -> String {
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

/// `hostwatt alerts`: the table of the daemon at `url`.
pub async fn alerts(url: &str) -> anyhow::Result<String> {
    let body = crate::alerts::client::fetch(url, Duration::from_secs(10)).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Ok(crate::alerts::client::table(&body, now))
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
    let tls = cfg.web.tls.is_some();
    tracing::info!(listen = %listener.local_addr()?, tls, basic_auth = cfg.web.auth.is_some(), config = %cfg.source, root = %cfg.root.base().display(), "hostwatt started");
    let (mut running, served) = Running::start(&cfg, cli.runner()?)?;
    let (registry_tx, registry_rx) = watch::channel(served);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (web_tx, web_rx) = watch::channel(cfg.web.clone());
    let server = tokio::spawn(crate::server::serve(
        listener,
        registry_rx,
        web_rx,
        async move {
            let _ = stop_rx.changed().await;
        },
    ));
    let mut current = cfg;
    loop {
        match signals.next().await {
            Event::Stop => break,
            Event::Reload => match cli.load_config() {
                Ok(new) => {
                    if new.listen != current.listen {
                        tracing::warn!(listen = %new.listen, "a new listen address takes effect on restart only");
                    }
                    if new.web.tls.is_some() != tls {
                        tracing::warn!("turning TLS on or off takes effect on restart only");
                    }
                    // certificates, users and headers apply from the next connection or request
                    web_tx.send_replace(new.web.clone());
                    running.stop().await;
                    let (r, served) = Running::start(&new, cli.runner()?)?;
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
    running.stop().await;
    let _ = stop_tx.send(true);
    server.await??;
    Ok(())
}

struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(cfg: &Config, runner: Runner) -> anyhow::Result<(Self, Served)> {
        // the engine gets the queue's sending end; the dispatcher reads it, with its metrics in
        // the app's registry
        let (tx, inbox) = crate::notify::inbox();
        let notify = (!cfg.notify.is_empty()).then_some(tx);
        let app = App::with_notifier(cfg, context(cfg, runner), notify)?;
        tracing::info!(collectors = ?app.collector_names(), "collectors enabled");
        let (stop, rx) = watch::channel(false);
        let served = app.served();
        let registry = app.registry.clone();
        let history = app.history();
        let (_, mut tasks) = app.spawn(rx.clone());
        // stopping waits until the history's last flush is on disk, bounded: a stuck disk
        // must not hold up a stop (SQLite's journal keeps the store whole either way)
        if let Some(h) = history {
            let mut stopping = rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = stopping.changed().await;
                if tokio::time::timeout(Duration::from_secs(30), h.closed())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "history store not closed after 30 s; stopping without its last flush"
                    );
                }
            }));
        }
        let hostname = crate::notify::hostname(&cfg.root);
        let dispatcher =
            crate::notify::spawn_with_inbox(&cfg.notify, &hostname, &registry, rx, inbox)?;
        if !cfg.notify.is_empty() {
            tracing::info!(receivers = ?cfg.notify.keys().collect::<Vec<_>>(), "notification receivers configured");
        }
        tasks.push(dispatcher);
        Ok((Self { stop, tasks }, served))
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
