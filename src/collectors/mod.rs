//! The `Collector` trait, the `Context` every sample gets, `CollectError`, and
//! `register_enabled`: the single list of collectors.
//!
//! A collector samples in the background on its own interval and returns an immutable
//! snapshot; scrapes render the latest one (see `metrics`). Adding a data source is one file
//! here plus one line in `register_enabled` and `enable_all`, its config field, its example config
//! section and `enabled = false` in the golden case configs (see README, Development).

pub mod advisor;
pub mod attrs;
pub mod blockstat;
pub mod cpufreq;
pub mod cpuidle;
pub mod edac;
pub mod hwmon;
pub mod meters;
pub mod powercap;
pub mod rapl;
pub mod smart;
pub mod storage;
pub mod system;
pub mod thermal;
pub mod wall;
pub mod zfs;

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use crate::app::Registration;
use crate::config::Config;
use crate::host::command::{CommandError, Runner};
use crate::host::root::{ReadError, Root};
use crate::metrics::Render;
use crate::parse::ParseError;

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
    Meter(#[from] crate::meters::MeterError),
}

impl CollectError {
    /// Short kind for the `kind` label and the log level.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::PermissionDenied { .. } => "permission",
            Self::Read(_) | Self::Write(_) => "io",
            Self::Parse { .. } => "parse",
            Self::Command(CommandError::Timeout { .. } | CommandError::StillRunning { .. }) => {
                "timeout"
            }
            Self::Command(_) => "command",
            Self::Meter(e) => match e.kind() {
                "timeout" => "timeout",
                "parse" | "protocol" => "parse",
                "auth" => "permission",
                "command" => "command",
                _ => "io",
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

/// A data source sampled in the background.
pub trait Collector: Send + 'static {
    /// What a round produces and scrapes render.
    type Snapshot: Render;
    /// Name in `collector` labels and logs.
    const NAME: &'static str;
    /// How often to sample.
    fn interval(&self) -> Duration;
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

/// The single list of collectors: one line each.
pub fn register_enabled(cfg: &Config, reg: &mut Registration) -> prometheus::Result<()> {
    let c = &cfg.collectors;
    if c.hwmon.enabled {
        reg.add(hwmon::Hwmon::new(c.hwmon.clone()))?;
    }
    if c.rapl.enabled {
        reg.add(rapl::Rapl::new(c.rapl.clone()))?;
    }
    if c.powercap.enabled {
        reg.add(powercap::Powercap::new(c.powercap.clone()))?;
    }
    if c.system.enabled {
        reg.add(system::System::new(c.system.clone()))?;
    }
    if c.meters.enabled {
        reg.add(meters::Meters::new(c.meters.clone(), cfg.meters.clone()))?;
    }
    if c.zfs.enabled {
        reg.add(zfs::Zfs::new(c.zfs.clone()))?;
    }
    if c.smart.enabled {
        reg.add(smart::Smart::new(c.smart.clone()))?;
    }
    if c.edac.enabled {
        reg.add(edac::Edac::new(c.edac.clone()))?;
    }
    if c.thermal.enabled {
        reg.add(thermal::Thermal::new(c.thermal.clone()))?;
    }
    if c.cpuidle.enabled {
        reg.add(cpuidle::Cpuidle::new(c.cpuidle.clone()))?;
    }
    if c.cpufreq.enabled {
        reg.add(cpufreq::Cpufreq::new(c.cpufreq.clone()))?;
    }
    // derived from the collectors above: keep them last
    if c.storage.enabled {
        reg.add(storage::Storage::new(c.storage.clone(), reg))?;
    }
    if c.wall.enabled {
        reg.add(wall::Wall::new(c.wall.clone(), cfg.store(), reg))?;
    }
    if c.advisor.enabled {
        reg.add(advisor::Advisor::new(c.advisor.clone(), cfg, reg))?;
    }
    Ok(())
}

/// Turns every collector on (for `--list-metrics`).
pub fn enable_all(c: &mut crate::config::file::Collectors) {
    c.hwmon.enabled = true;
    c.rapl.enabled = true;
    c.powercap.enabled = true;
    c.system.enabled = true;
    c.meters.enabled = true;
    c.zfs.enabled = true;
    c.smart.enabled = true;
    c.edac.enabled = true;
    c.thermal.enabled = true;
    c.cpuidle.enabled = true;
    c.cpufreq.enabled = true;
    c.storage.enabled = true;
    c.wall.enabled = true;
    c.advisor.enabled = true;
}
