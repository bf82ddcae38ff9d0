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
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// The host's filesystem root: sysfs is read at DIR/sys, procfs at DIR/proc
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub root: Option<PathBuf>,
    /// Listen address of the HTTP endpoint, ADDR:PORT
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "ADDR:PORT"
    )]
    pub listen: Option<String>,
    /// Directory for persistent state (energy counters, calibration, alert state)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,
    /// Web config file for TLS and basic auth (the Prometheus exporter-toolkit format)
    #[arg(
        long = "web.config.file",
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub web_config_file: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace; warning and verbose too) or a tracing filter
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        default_value = "info",
        value_name = "LEVEL"
    )]
    pub log_level: String,
    /// Answer external commands from recorded outputs (commands.toml) instead of running them
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub replay_commands: Option<PathBuf>,
    /// Where `shared:` paths of a commands.toml point (e.g. ../shared/fixtures)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR",
        requires = "replay_commands"
    )]
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
        /// The daemon's base URL, http:// or https:// [default: from the config's listen address and web config]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// How to pass the daemon's TLS and basic auth.
        #[command(flatten)]
        access: AlertsAccess,
    },
    /// Say what keeps this box from idling lower and what each fix is worth (read-only)
    Audit {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `hostwatt alerts`' TLS and basic-auth flags. No flag takes the password itself: `ps`
/// would show it to every user.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AlertsAccess {
    /// PEM file of the CA (or the self-signed certificate) that signed the daemon's certificate
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the daemon's certificate (a self-signed one you have not copied here)
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
    /// Basic-auth user; the password comes from $HOSTWATT_ALERTS_PASSWORD or --password-file
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// File holding the basic-auth password (its first line)
    #[arg(long, value_name = "PATH", requires = "user")]
    pub password_file: Option<PathBuf>,
}

impl AlertsAccess {
    /// The client's access: the CA file as given, the password read from the file or the
    /// environment. A `--user` without a password is an error that says where to put it.
    pub fn resolve(&self) -> anyhow::Result<crate::alerts::client::Access> {
        use crate::alerts::client::PASSWORD_ENV;
        let basic_auth = match &self.user {
            None => None,
            Some(user) => {
                let password = match &self.password_file {
                    Some(path) => std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("--password-file {}: {e}", path.display()))?
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    None => std::env::var(PASSWORD_ENV).map_err(|_| {
                        anyhow::anyhow!(
                            "--user {user} needs a password: set {PASSWORD_ENV} or pass --password-file PATH (not on the command line, where ps shows it)"
                        )
                    })?,
                };
                Some((user.clone(), password))
            }
        };
        Ok(crate::alerts::client::Access {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            basic_auth,
        })
    }
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
/// wildcard address replaced by loopback; `https://` when its web config turns TLS on.
pub fn local_url(cfg: &Config) -> String {
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if cfg.web.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}

/// `hostwatt alerts`: the table of the daemon at `url`.
pub async fn alerts(url: &str, access: &AlertsAccess) -> anyhow::Result<String> {
    let body =
        crate::alerts::client::fetch_with(url, Duration::from_secs(10), &access.resolve()?).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Ok(crate::alerts::client::table(&body, now))
}

/// `hostwatt audit`: the running daemon's report (it has history), else one sampled here. With
/// `--root` or `--replay-commands` the host is not this one, so no daemon is asked.
pub async fn audit(cli: &Cli, cfg: &Config, json: bool) -> anyhow::Result<String> {
    let daemon = (cli.root.is_none() && cli.replay_commands.is_none()).then(|| local_url(cfg));
    let report = crate::advisor::run::report(cfg, cli.runner()?, daemon.as_deref()).await?;
    Ok(if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.text()
    })
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
    let (mut running, served) = Running::start(&cfg, cli.runner()?, Default::default())?;
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
            Event::Reload => match cli.load_config() {
                Ok(new) if is_blank_file(&new.source) => {
                    tracing::error!(config = %new.source, "config file is empty (a write in progress?); keeping the running config. A file with only a comment is taken as all defaults")
                }
                Ok(new) => {
                    if new.listen != current.listen {
                        tracing::warn!(listen = %new.listen, "a new listen address takes effect on restart only");
                    }
                    if new.web.tls.is_some() != tls {
                        tracing::warn!("turning TLS on or off takes effect on restart only");
                    }
                    // certificates, users and headers apply from the next connection or request
                    web_tx.send_replace(new.web.clone());
                    let carried = running.stop(Some(&new)).await;
                    let (r, served) = Running::start(&new, cli.runner()?, carried)?;
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
    collectors: Vec<crate::scheduler::Task>,
    dispatcher: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(
        cfg: &Config,
        runner: Runner,
        carried: crate::app::CarriedOver,
    ) -> anyhow::Result<(Self, Served)> {
        // the engine gets the queue's sending end; the dispatcher reads it, with its metrics in
        // the app's registry
        let (tx, inbox) = crate::notify::inbox();
        let notify = (!cfg.notify.is_empty()).then_some(tx);
        let app = App::reloaded(cfg, context(cfg, runner), notify, carried)?;
        tracing::info!(collectors = ?app.collector_names(), "collectors enabled");
        if let Some(note) = cfg.collectors.wall.assumption_note(cfg.meters.len()) {
            tracing::warn!("{note}");
        }
        let (stop, rx) = watch::channel(false);
        let served = app.served();
        let registry = app.registry.clone();
        let keep = crate::scheduler::Keep::default();
        let (_, collectors) = app.spawn(rx.clone(), keep.clone());
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
        };
        Ok((running, served))
    }

    /// Stops everything; the collectors whose config key is the same in `next` are handed
    /// back with their state, counters and schedule, the others save their state and end.
    async fn stop(self, next: Option<&Config>) -> crate::app::CarriedOver {
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
        for t in self.collectors {
            // a collector still stuck in a read is not handed back, and is built anew
            if let Ok(Some(sampler)) = t.await {
                let name = sampler.name();
                let kept = same.iter().any(|s| s == name);
                carried.insert(name, sampler.carry(kept));
            }
        }
        let _ = self.dispatcher.await;
        carried
    }
}
