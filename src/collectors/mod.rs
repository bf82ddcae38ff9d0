//! The `Collector` trait, the `Context` every sample gets, `CollectError`, and `list!`: the one
//! list of collectors.
//!
//! A collector samples in the background on its own interval and returns an immutable
//! snapshot; scrapes render the latest one (see `metrics`). Adding a collector is its file here
//! (`NAME.rs` or `NAME/mod.rs`, with its `Config` for `[collectors.NAME]` and its `Collector`),
//! one entry in `list!` (with the collectors it reads, if any), and its section in
//! `config/hostwatt.example.toml` (see README, Development); README's metrics table is then
//! regenerated from `hostwatt list-metrics` (a test compares the two). The module declaration,
//! the config field, the registration in `app` (which reads the section's `enabled` and
//! `interval`: a `Schedule`) and the names are generated from the list; its metric names start
//! with `hostwatt_NAME_` (checked by `metrics::names`). Golden cases name the collectors they
//! exercise, so none of them changes.

pub mod attrs;
mod basic;
pub(crate) mod rewalk;

pub use basic::{Basic, DefaultInterval, Every15s, Every60s};

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use crate::host::command::{CommandError, Runner};
use crate::host::root::{ReadError, Root};
use crate::meters::{Meter, MeterError};
use crate::metrics::{Family, Render};
use crate::parse::ParseError;
use crate::state::Store;

/// The two seams every sample reaches the host through. Never global.
#[derive(Debug, Clone)]
pub struct Context {
    /// Filesystem root for sysfs/procfs reads.
    pub root: Root,
    /// Runner for external programs.
    pub runner: Runner,
}

/// Why a collector round or one of its items failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The data source does not exist on this host (no RAPL on a VM). Not an error round.
    #[error("not available: {0}")]
    Unavailable(String),
    /// The source exists but is not readable by this user.
    #[error("permission denied: {path} ({hint})")]
    PermissionDenied {
        /// Root-relative path.
        path: String,
        /// How to fix it; logged once.
        hint: &'static str,
    },
    /// A read failed (EIO, ENODATA, a file that vanished mid-walk).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Saving persisted state failed: a write, never reported as a read.
    #[error(transparent)]
    Write(#[from] crate::state::SaveError),
    /// The content did not parse.
    #[error("{path}: {source}")]
    Parse {
        /// Root-relative path, or the command that printed the text.
        path: String,
        /// The parse error.
        #[source]
        source: ParseError,
    },
    /// An external program failed to run or timed out.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A wall-power meter gave no reading.
    #[error(transparent)]
    Meter(#[from] MeterError),
}

impl CollectError {
    /// Its kind, for the `kind` label and the log level.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::PermissionDenied { .. } => ErrorKind::Permission,
            Self::Read(_) => ErrorKind::Io,
            Self::Write(_) => ErrorKind::Write,
            Self::Parse { .. } => ErrorKind::Parse,
            Self::Command(e) => command_kind(e),
            // by variant, not by `MeterError::kind`'s label: a new variant must be placed here
            Self::Meter(e) => match e {
                MeterError::Timeout { .. } => ErrorKind::Timeout,
                MeterError::Parse(_) | MeterError::Protocol(_) => ErrorKind::Parse,
                MeterError::Auth(_) => ErrorKind::Permission,
                MeterError::Command(e) => command_kind(e),
                MeterError::Exit { .. } => ErrorKind::Command,
                MeterError::Connect { .. }
                | MeterError::Http { .. }
                | MeterError::Unsupported(_)
                | MeterError::Device(_) => ErrorKind::Io,
            },
        }
    }

    /// Maps a read error: EACCES becomes `PermissionDenied` with `hint`, anything else `Read`.
    pub fn from_read(err: ReadError, hint: &'static str) -> Self {
        if err.kind() == io::ErrorKind::PermissionDenied {
            Self::PermissionDenied {
                path: err.rel_path,
                hint,
            }
        } else {
            Self::Read(err)
        }
    }

    /// A parse error of the file at `path`.
    pub fn parse(path: impl Into<String>, source: ParseError) -> Self {
        Self::Parse {
            path: path.into(),
            source,
        }
    }
}

/// The kind of a program that did not run to the end: `Timeout` for one that hung (this run,
/// or a killed earlier run still alive), else `Command`.
fn command_kind(e: &CommandError) -> ErrorKind {
    match e {
        CommandError::Timeout { .. } | CommandError::StillRunning { .. } => ErrorKind::Timeout,
        _ => ErrorKind::Command,
    }
}

/// What kind of failure a `CollectError` is: the `kind` label of
/// `hostwatt_collector_errors_total` and of the failing items, in the few classes an operator
/// acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// `unavailable`: the source does not exist here.
    Unavailable,
    /// `permission`: not readable by this user (or a meter refused the login).
    Permission,
    /// `io`: a read (or a meter's connection) failed.
    Io,
    /// `write`: saving persisted state failed.
    Write,
    /// `parse`: text that did not parse.
    Parse,
    /// `timeout`: a program or meter that hung.
    Timeout,
    /// `command`: a program that failed or exited non-zero.
    Command,
}

impl ErrorKind {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Permission => "permission",
            Self::Io => "io",
            Self::Write => "write",
            Self::Parse => "parse",
            Self::Timeout => "timeout",
            Self::Command => "command",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind equals its label value, so a test reads `assert_eq!(e.kind(), "parse")`.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, label: &&str) -> bool {
        self.as_str() == *label
    }
}

/// One item (sensor, zone, disk) that failed while the rest of the round succeeded.
#[derive(Debug)]
pub struct Fault {
    /// Stable identity of the item (`coretemp/temp1`, `package-0`), never a root path.
    pub item: String,
    /// What went wrong.
    pub error: CollectError,
}

/// What a successful round yields: the snapshot, and the items that failed in it.
#[derive(Debug)]
pub struct Sample<S> {
    /// The new snapshot.
    pub snapshot: S,
    /// Items that failed this round; they are reported and logged once, the others rendered.
    pub faults: Vec<Fault>,
}

impl<S> Sample<S> {
    /// A sample with no failed items.
    pub fn clean(snapshot: S) -> Self {
        Self {
            snapshot,
            faults: Vec::new(),
        }
    }
}

/// A data source sampled in the background. Its name and interval are not its own: they are
/// its entry in `list!` and its section's `interval`, handed to the scheduler as a `Schedule`.
pub trait Collector: Send + 'static {
    /// What a round produces and scrapes render.
    type Snapshot: Render;
    /// One round. `at` is the round's monotonic time: rates are computed from it, so tests can
    /// drive rounds without sleeping.
    fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> impl Future<Output = Result<Sample<Self::Snapshot>, CollectError>> + Send;

    /// Called once when the daemon stops, to save what must survive a restart.
    fn finish(&mut self) {}
}

/// How the scheduler runs a collector: the name in its `collector` label and logs, and how often
/// it samples. For a collector of `list!`, its entry's name and its section's `interval` (the
/// registration in `app` reads both); the alert engine and the history recorder give their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Name in `collector` labels and logs; also the key a reload finds the collector by.
    pub name: &'static str,
    /// Time between rounds.
    pub every: Duration,
}

/// The one list of collectors, in sampling order; `list!(then)` hands it to the macro `then`.
///
/// An entry `name: Type` is the collector `name::Type`, built by `Type::new` from its section
/// `[collectors.name]` (`name::Config`). An entry `name: Type [a, b]` reads the snapshots of the
/// collectors `a` and `b`, listed above it: it is built by `<Type as Build>::build` from a
/// `Setup` (every section, the meters, the state store) and their `Latest` handles,
/// `(Option<Latest<a's Snapshot>>, ...)`, in that order (`None` when one is off). From this list come the `pub mod name;` declarations, the config's
/// fields (`Collectors`), `NAMES`, `INPUTS`, `Collectors::enable_all` and the composition root's
/// registration (`app`).
macro_rules! list {
    ($then:ident) => {
        $then! {
            hwmon: Hwmon,
            rapl: Rapl,
            powercap: Powercap,
            system: System,
            meters: Meters [],
            zfs: Zfs,
            smart: Smart,
            edac: Edac,
            thermal: Thermal,
            cpuidle: Cpuidle,
            cpufreq: Cpufreq,
            cstate_pkg: CstatePkg,
            storage: Storage [smart, zfs],
            wall: Wall [rapl, hwmon, smart, meters, system],
            advisor: Advisor [wall, rapl, cstate_pkg, smart],
        }
    };
}
pub(crate) use list;

/// How the composition root builds a collector that reads other collectors' snapshots (or more
/// of the config than its own section).
pub trait Build: Collector + Sized {
    /// The `Latest` handles it reads, as a tuple in the order of its list entry.
    type Inputs;
    /// The collector of `setup`, reading `inputs`.
    fn build(setup: &Setup<'_>, inputs: Self::Inputs) -> Self;
}

/// What a `Build` collector is built from besides the snapshots it reads: the parts of the
/// resolved config a collector may read beyond its own section. The composition root makes it
/// from `config::Config` (`Config::setup`); collectors sit below the config file, which lists
/// their sections, so they never see it whole.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    /// Every `[collectors.*]` section, validated by `config::resolve` (a wall chain builds).
    pub collectors: &'a Collectors,
    /// The wall-power meters, `[[meters]]`, in config order.
    pub meters: &'a [Meter],
    /// Where collectors persist state (nowhere for `hostwatt once`).
    pub store: Store,
}

macro_rules! config_of {
    ($($name:ident: $ty:ident $([$($input:ident),*])?),* $(,)?) => {
        $(pub mod $name;)*

        /// `[collectors.*]`: one section per collector, generated from `list!`.
        #[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Collectors {
            $(
                #[doc = concat!("`[collectors.", stringify!($name), "]`.")]
                pub $name: $name::Config,
            )*
        }

        impl Collectors {
            /// Turns every collector on (for `hostwatt list-metrics`).
            pub fn enable_all(&mut self) {
                $(self.$name.enabled = true;)*
            }

            /// Turns every collector off (a golden case then turns on the ones it exercises).
            pub fn disable_all(&mut self) {
                $(self.$name.enabled = false;)*
            }
        }

        /// Every collector's name (its `[collectors.NAME]` section and `collector` label), in
        /// sampling order.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// The collectors whose snapshots each collector reads (see `list!`), by name.
        pub const INPUTS: &[(&str, &[&str])] =
            &[$((stringify!($name), &[$($(stringify!($input)),*)?])),*];

        /// Every collector's name and the families its snapshot renders, in sampling order: what
        /// the prefix rule of `metrics::names` is checked against.
        pub const FAMILIES: &[(&str, &[&Family])] = &[$((
            stringify!($name),
            <<$name::$ty as Collector>::Snapshot as Render>::FAMILIES,
        )),*];
    };
}
list!(config_of);
