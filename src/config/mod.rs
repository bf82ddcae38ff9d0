//! The resolved `Config` and `resolve`: defaults < file < command line.
//!
//! Errors name the file, the line and the key:
//! `/etc/hostwatt/hostwatt.toml:14: collectors.rapl.interval: invalid duration "5x"`.
//! With no `--config` and no `/etc/hostwatt/hostwatt.toml`, the embedded example config is used.

pub mod file;
pub mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::host::root::Root;

pub use crate::parse::interval::{ABOVE_ZERO, ANY, Interval, ONE_SECOND};

/// The default config path.
pub const DEFAULT_PATH: &str = "/etc/hostwatt/hostwatt.toml";
/// Default listen address. Port 9891 collides with no common exporter (node_exporter 9100,
/// smartctl_exporter 9633, zfs_exporter 9134).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9891";

/// The default for `[daemon] max_connections`: far above what a few Prometheus servers and a
/// browser need, far below the 1,024 files of a default soft `RLIMIT_NOFILE`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// The example config, embedded: it is also the default config.
pub const EMBEDDED: &str = include_str!("../../config/hostwatt.example.toml");
/// The name the embedded config goes by in messages.
pub const EMBEDDED_NAME: &str = "<embedded default config>";

/// The resolved configuration the rest of the crate sees. It serializes in the file's own
/// shape (`[daemon]`, `[collectors.*]`, ...), so `check-config`'s output is a valid config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a path or `EMBEDDED_NAME`.
    pub source: String,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// `[daemon] max_connections`: open HTTP connections at most.
    pub max_connections: usize,
    /// Filesystem root for sysfs/procfs.
    pub root: Root,
    /// State directory.
    pub state_dir: PathBuf,
    /// Whether state is read and written there (`hostwatt once` keeps none).
    pub persist: bool,
    /// The web config file (`--web.config.file`, `daemon.web_config_file`), if any.
    pub web_config_file: Option<PathBuf>,
    /// The web config read from it, validated: TLS, basic auth, headers.
    pub web: Arc<crate::web::WebConfig>,
    /// Per-collector settings.
    pub collectors: file::Collectors,
    /// Wall-power meters, `[[meters]]`.
    pub meters: Vec<crate::meters::Meter>,
    /// `[alerts]` as written.
    pub alerts: crate::alerts::rules::Config,
    /// The alert rules with the `[alerts.rules.*]` overrides applied.
    pub alert_rules: Vec<crate::alerts::rules::Rule>,
    /// Notification receivers by name (`[notify.<name>]`).
    pub notify: std::collections::BTreeMap<String, crate::notify::Receiver>,
    /// `[history]`: the status page's store.
    pub history: crate::history::Config,
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Daemon {
            listen: String,
            root: String,
            state_dir: String,
            max_connections: usize,
            #[serde(skip_serializing_if = "String::is_empty")]
            web_config_file: String,
        }
        #[derive(Serialize)]
        struct Shape<'a> {
            daemon: Daemon,
            collectors: &'a file::Collectors,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            meters: &'a [crate::meters::Meter],
            alerts: &'a crate::alerts::rules::Config,
            notify: &'a std::collections::BTreeMap<String, crate::notify::Receiver>,
            history: &'a crate::history::Config,
        }
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Shape {
            daemon: Daemon {
                listen: self.listen.to_string(),
                root: path(self.root.base()),
                state_dir: path(&self.state_dir),
                max_connections: self.max_connections,
                web_config_file: self
                    .web_config_file
                    .as_deref()
                    .map(path)
                    .unwrap_or_default(),
            },
            collectors: &self.collectors,
            meters: &self.meters,
            alerts: &self.alerts,
            notify: &self.notify,
            history: &self.history,
        }
        .serialize(s)
    }
}

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--root`.
    pub root: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The config path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A value is wrong; `line` is known for anything read from the file.
    #[error("{path}:{}{key}: {message}", line.map(|l| format!("{l}: ")).unwrap_or_default())]
    Invalid {
        /// The config path.
        path: String,
        /// 1-based line.
        line: Option<usize>,
        /// Dotted key (`collectors.rapl.interval`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line flag's value is wrong (not the config's: the user typed it).
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, `--root`.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// The state store collectors persist to.
    pub fn store(&self) -> crate::state::Store {
        if self.persist {
            crate::state::Store::dir(&self.state_dir)
        } else {
            crate::state::Store::none()
        }
    }

    /// What a `collectors::Build` collector is built from: the sections, the meters, the store.
    pub fn setup(&self) -> crate::collectors::Setup<'_> {
        crate::collectors::Setup {
            collectors: &self.collectors,
            meters: &self.meters,
            store: self.store(),
        }
    }

    /// The context collectors sample through: this config's filesystem root, and `runner`.
    pub fn context(&self, runner: crate::host::command::Runner) -> crate::collectors::Context {
        crate::collectors::Context {
            root: self.root.clone(),
            runner,
        }
    }
}

/// Reads the config text: an explicit path must exist; without one, the default path is used
/// when present, else the embedded config.
pub fn load_text(explicit: Option<&Path>) -> Result<(String, String), ConfigError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    match explicit {
        Some(p) => Ok((p.display().to_string(), read(p)?)),
        None if Path::new(DEFAULT_PATH).exists() => {
            Ok((DEFAULT_PATH.to_owned(), read(Path::new(DEFAULT_PATH))?))
        }
        None => Ok((EMBEDDED_NAME.to_owned(), EMBEDDED.to_owned())),
    }
}

/// Loads and resolves in one step.
pub fn load(explicit: Option<&Path>, cli: &Overrides) -> Result<Config, ConfigError> {
    let (source, text) = load_text(explicit)?;
    resolve(&source, &text, cli)
}

/// Parses `text` (from `source`) and applies `cli` on top.
pub fn resolve(source: &str, text: &str, cli: &Overrides) -> Result<Config, ConfigError> {
    let parsed: file::File = toml::from_str(text).map_err(|e| {
        let (mut line, mut key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (None, String::new()),
        };
        // Inside a table picked by a `kind` tag (`[notify.<name>]`) serde reports the table,
        // not the key: find the key's own line from the name in the message.
        if let Some(field) = unknown_field(e.message()) {
            let dotted = format!("{key}.{field}");
            if let Some(l) = find_key_line(text, &dotted) {
                (line, key) = (Some(l), dotted);
            }
        }
        ConfigError::Invalid {
            path: source.to_owned(),
            line,
            message: validate::reword(&key, e.message().trim()),
            key,
        }
    })?;
    // a key the user did not write (a missing `profile`) is blamed on its table's header
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: source.to_owned(),
        line: find_table_line(text, key),
        key: key.to_owned(),
        message,
    };
    // a value from a flag is blamed on the flag, not on a config the user may never have written
    let listen = match &cli.listen {
        Some(text) => parse_listen(text).map_err(|message| ConfigError::Flag {
            flag: "--listen",
            message,
        })?,
        None => parse_listen(&parsed.daemon.listen).map_err(|m| invalid("daemon.listen", m))?,
    };
    let root = cli
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(&parsed.daemon.root));
    if !root.is_dir() {
        let message = format!("{} is not a directory", root.display());
        return Err(match cli.root {
            Some(_) => ConfigError::Flag {
                flag: "--root",
                message,
            },
            None => invalid("daemon.root", message),
        });
    }
    if let Err((key, message)) = parsed.collectors.wall.chain() {
        return Err(invalid(&format!("collectors.wall.{key}"), message));
    }
    let alert_rules = parsed
        .alerts
        .rules()
        .map_err(|(key, message)| ConfigError::Invalid {
            path: source.to_owned(),
            line: find_table_line(text, &format!("alerts.{key}")),
            key: format!("alerts.{key}"),
            message,
        })?;
    // serde accepted the text, so it is valid TOML
    let raw: toml::Table = toml::from_str(text).unwrap_or_default();
    validate::check(&raw, &alert_rules).map_err(|(key, nth, message)| {
        let (line, key) = match key.split_once(".*.") {
            Some((table, leaf)) => (
                find_entry_key_line(text, table, nth, leaf),
                format!("{table}[{nth}].{leaf}"),
            ),
            None => (find_table_line(text, &key), key),
        };
        ConfigError::Invalid {
            path: source.to_owned(),
            line,
            key,
            message,
        }
    })?;
    let web_config_file = cli.web_config_file.clone().or_else(|| {
        Some(PathBuf::from(&parsed.daemon.web_config_file)).filter(|p| !p.as_os_str().is_empty())
    });
    let web = match &web_config_file {
        Some(path) => crate::web::load(path).map_err(|e| match cli.web_config_file {
            Some(_) => ConfigError::Flag {
                flag: "--web.config.file",
                message: e.to_string(),
            },
            None => invalid("daemon.web_config_file", e.to_string()),
        })?,
        None => crate::web::WebConfig::default(),
    };
    if parsed.daemon.max_connections == 0 {
        return Err(invalid(
            "daemon.max_connections",
            "must be at least 1".to_owned(),
        ));
    }
    // a 0 MB cap deleted every bucket at each flush: the page showed only the unflushed minutes
    if parsed.history.max_size_mb == 0 {
        return Err(invalid(
            "history.max_size_mb",
            "must be at least 1 (to keep no history, set enabled = false)".to_owned(),
        ));
    }
    for (name, receiver) in &parsed.notify {
        if let Err((key, message)) = receiver.validate() {
            return Err(invalid(&format!("notify.{name}.{key}"), message));
        }
    }
    Ok(Config {
        source: source.to_owned(),
        web_config_file,
        web: Arc::new(web),
        listen,
        max_connections: parsed.daemon.max_connections,
        root: Root::new(root),
        state_dir: cli
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(parsed.daemon.state_dir)),
        persist: true,
        collectors: parsed.collectors,
        meters: parsed.meters,
        alerts: parsed.alerts,
        alert_rules,
        notify: parsed.notify,
        history: parsed.history,
    })
}

/// A listen address as Prometheus exporters take it: `ADDR:PORT`, `[V6]:PORT`, `HOST:PORT`
/// (resolved now, first address), or `:PORT` (every IPv4 interface).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected =
        || format!("expected HOST:PORT (such as \"localhost:9891\" or \":9891\"), got {text:?}");
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number (0-65535) in {text:?}"))?;
    match host {
        "" => Ok(SocketAddr::from(([0, 0, 0, 0], port))),
        // no resolver needed for the common case
        "localhost" => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        h if h.contains([':', '[', ']', '/']) => Err(expected()),
        h => std::net::ToSocketAddrs::to_socket_addrs(&(h, port))
            .map_err(|e| format!("cannot resolve {h:?} in {text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{h:?} in {text:?} has no address")),
    }
}

/// `X` of serde's "unknown field `X`, expected ...".
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

/// Line number and dotted key at byte `offset` of a TOML text, from the nearest `[table]`
/// header above and the `key =` on that line.
fn locate(text: &str, offset: usize) -> (Option<usize>, String) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let mut table = String::new();
    let mut key = String::new();
    for (i, line) in text.lines().enumerate().take(line_no) {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            key.clear();
        } else if i + 1 == line_no {
            key = t
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned();
        }
    }
    let full = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    (Some(line_no), full)
}

/// The line of `dotted.key` in the text, when it is written there.
fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or_default().trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        } else if current == table && t.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// The line of `key` in the `nth` (0-based) `[[table]]` entry, else of that entry's header.
fn find_entry_key_line(text: &str, table: &str, nth: usize, key: &str) -> Option<usize> {
    let header = format!("[[{table}]]");
    let mut seen = 0;
    let mut inside = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            if inside.is_some() {
                break;
            }
            if t == header {
                seen += 1;
                if seen == nth + 1 {
                    inside = Some(i + 1);
                }
            }
        } else if inside.is_some() && t.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    inside
}

/// The line of `dotted.key` when written as a key, else of the nearest written table it
/// belongs to (`alerts.rules.Foo.clear` under `[alerts.rules.Foo]`).
fn find_table_line(text: &str, dotted: &str) -> Option<usize> {
    if let Some(line) = find_key_line(text, dotted) {
        return Some(line);
    }
    let mut table = dotted;
    loop {
        if let Some(i) = text.lines().position(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .is_some_and(|t| t.trim() == table)
        }) {
            return Some(i + 1);
        }
        table = table.rsplit_once('.')?.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        resolve("/etc/hostwatt/hostwatt.toml", text, &Overrides::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn resolves_the_embedded_example() {
        let cfg = resolve(EMBEDDED_NAME, EMBEDDED, &Overrides::default()).unwrap();
        assert_eq!(cfg.listen.port(), 9891);
        assert_eq!(cfg.root, Root::new("/"));
    }

    #[test]
    fn example_documents_every_key_of_the_default() {
        let default = toml::to_string(&file::File::default()).unwrap();
        for line in default.lines() {
            let t = line.trim();
            let key = if t.starts_with('[') {
                t
            } else {
                t.split('=').next().unwrap_or("").trim()
            };
            if !key.is_empty() {
                assert!(EMBEDDED.contains(key), "example config lacks {key}");
            }
        }
    }

    #[test]
    fn rejects_unknown_key_with_file_line_and_key() {
        let e = err("[daemon]\nlisten = \"127.0.0.1:1\"\n\n[collectors.rapl]\nenabeld = true\n");
        assert!(
            e.starts_with(
                "/etc/hostwatt/hostwatt.toml:5: collectors.rapl.enabeld: unknown field `enabeld`"
            ),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_interval_with_line() {
        let e = err("[collectors.rapl]\ninterval = \"5x\"\n");
        assert!(
            e.starts_with(
                "/etc/hostwatt/hostwatt.toml:2: collectors.rapl.interval: invalid duration \"5x\""
            ),
            "{e}"
        );
        let e = err("[collectors.system]\n\ninterval = \"100ms\"\n");
        assert!(
            e.contains(
                ":3: collectors.system.interval: interval \"100ms\" is below the 1s minimum"
            ),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_listen_address_with_line() {
        let e = err("[daemon]\nlisten = \"localhost\"\n");
        assert_eq!(
            e,
            "/etc/hostwatt/hostwatt.toml:2: daemon.listen: expected HOST:PORT (such as \"localhost:9891\" or \":9891\"), got \"localhost\""
        );
    }

    #[test]
    fn rejects_syntax_error_with_line() {
        let e = err("[daemon\nlisten = 1\n");
        assert!(e.starts_with("/etc/hostwatt/hostwatt.toml:1: "), "{e}");
    }

    #[test]
    fn command_line_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cli = Overrides {
            listen: Some("127.0.0.1:0".into()),
            root: Some(dir.path().into()),
            ..Default::default()
        };
        let cfg = resolve("x", "[daemon]\nlisten = \"0.0.0.0:1\"\n", &cli).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:0");
        assert_eq!(cfg.root.base(), dir.path());
    }

    #[test]
    fn rejects_bad_alert_rules_with_line() {
        let e = err("[alerts]\nenabled = true\n\n[alerts.rules.PoolFull]\nenabled = false\n");
        assert!(
            e.starts_with(
                "/etc/hostwatt/hostwatt.toml:4: alerts.rules.PoolFull: unknown rule; known rules: "
            ),
            "{e}"
        );
        let e = err("[alerts.rules.ZfsPoolCapacityHigh]\nthreshold = 0.9\nclear = 0.95\n");
        assert_eq!(
            e,
            "/etc/hostwatt/hostwatt.toml:3: alerts.rules.ZfsPoolCapacityHigh.clear: clear 0.95 must be at or below the threshold 0.9"
        );
        let e = err("[alerts.rules.ZfsPoolCapacityHigh]\nfor = \"soon\"\n");
        assert!(
            e.starts_with("/etc/hostwatt/hostwatt.toml:2: alerts.rules.ZfsPoolCapacityHigh.for: invalid duration \"soon\""),
            "{e}"
        );
        let e = err("[alerts.rules.SmartHealthFailed]\nseverity = \"fatal\"\n");
        assert!(
            e.starts_with(
                "/etc/hostwatt/hostwatt.toml:2: alerts.rules.SmartHealthFailed.severity: "
            ),
            "{e}"
        );
    }

    #[test]
    fn explicit_missing_config_is_an_error() {
        let e = load_text(Some(Path::new("/nonexistent/hostwatt.toml"))).unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/hostwatt.toml: "),
            "{e}"
        );
    }
}
