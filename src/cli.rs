//! The command line: flags, parsing and dispatch. The daemon's lifecycle is `app::daemon`,
//! `hostwatt once` is `app::once`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::collectors::Context;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::host::command::Runner;
use crate::metrics::{Family, Kind};

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
        /// Where the daemon is and how to pass its TLS and basic auth.
        #[command(flatten)]
        daemon: Daemon,
    },
    /// Say what keeps this box from idling lower and what each fix is worth (read-only)
    Audit {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// The daemon whose report (with its history) to print; a given --url that does not
        /// answer is an error, the default one falls back to sampling once here.
        #[command(flatten)]
        daemon: Daemon,
    },
}

/// The flags of a command that asks a running daemon (`alerts`, `audit`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Daemon {
    /// The daemon's base URL, http:// or https:// [default: from the config's listen address and web config]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// How to pass the daemon's TLS and basic auth.
    #[command(flatten)]
    pub access: AlertsAccess,
}

/// The TLS and basic-auth flags of the commands that ask a daemon. No flag takes the password
/// itself: `ps` would show it to every user.
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
    cfg.context(runner)
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

/// `hostwatt audit`: the report of the daemon at `--url`, else of the local one (it has
/// history), else one sampled here. With `--root` or `--replay-commands` the host is not this
/// one, so only a daemon named by `--url` is asked.
pub async fn audit(cli: &Cli, cfg: &Config, json: bool, daemon: &Daemon) -> anyhow::Result<String> {
    use crate::app::audit::Ask;
    let local = cli.root.is_none() && cli.replay_commands.is_none();
    let ask = match &daemon.url {
        Some(url) => Some(Ask::Given(url.clone())),
        None => local.then(|| Ask::Local(local_url(cfg))),
    };
    let access = daemon.access.resolve()?;
    let report = crate::app::audit::report(cfg, cli.runner()?, ask.as_ref(), &access).await?;
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
    cfg.collectors.enable_all();
    let app = App::new(&cfg, context(&cfg, Runner::system()))?;
    let mut families = app.families().to_vec();
    families.extend(crate::notify::FAMILIES);
    Ok(families)
}

/// Runs the daemon of `cfg` (see `app::daemon::run`), reading the config file of `cli` again on
/// SIGHUP.
pub async fn run_daemon(cli: &Cli, cfg: Config) -> anyhow::Result<()> {
    let runner = || cli.runner();
    let sources = crate::app::daemon::Sources {
        config: cli.config.clone(),
        overrides: cli.overrides(),
        runner: &runner,
    };
    crate::app::daemon::run(&sources, cfg).await
}
