//! The TOML file as serde types, with `deny_unknown_fields` everywhere. No I/O, no defaults
//! beyond serde's: `config::resolve` turns this into the resolved `Config`.
//!
//! Each collector's section is that collector's own `Config` type (in its module), so adding a
//! collector adds one field here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collectors::{cpufreq, cpuidle, edac, hwmon, rapl, smart, system, thermal, wall};

/// The whole file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// `[daemon]`: listening address, filesystem root, state directory.
    pub daemon: Daemon,
    /// `[collectors.*]`: one section per collector.
    pub collectors: Collectors,
    /// `[notify.<name>]`: where alert notifications go, one table per receiver.
    pub notify: BTreeMap<String, crate::notify::Receiver>,
}

/// `[daemon]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Daemon {
    /// Address of the HTTP endpoint, `ADDR:PORT`.
    pub listen: String,
    /// The host's filesystem root (`/`; `/host` in a container).
    pub root: String,
    /// Where persistent state (energy counters, alert state) lives.
    pub state_dir: String,
}

impl Default for Daemon {
    fn default() -> Self {
        Self {
            listen: super::DEFAULT_LISTEN.to_owned(),
            root: "/".to_owned(),
            state_dir: "/var/lib/hostwatt".to_owned(),
        }
    }
}

/// `[collectors.*]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Collectors {
    /// `[collectors.hwmon]`.
    pub hwmon: hwmon::Config,
    /// `[collectors.rapl]`.
    pub rapl: rapl::Config,
    /// `[collectors.system]`.
    pub system: system::Config,
    /// `[collectors.smart]`.
    pub smart: smart::Config,
    /// `[collectors.edac]`.
    pub edac: edac::Config,
    /// `[collectors.thermal]`.
    pub thermal: thermal::Config,
    /// `[collectors.cpuidle]`.
    pub cpuidle: cpuidle::Config,
    /// `[collectors.cpufreq]`.
    pub cpufreq: cpufreq::Config,
    /// `[collectors.wall]`.
    pub wall: wall::Config,
}
