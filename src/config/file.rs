//! The TOML file as serde types, with `deny_unknown_fields` everywhere. No I/O, no defaults
//! beyond serde's: `config::resolve` turns this into the resolved `Config`.
//!
//! Each collector's section is that collector's own `Config` type (in its module), so adding a
//! collector adds one field here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alerts::rules as alerts;
use crate::collectors::{
    advisor, cpufreq, cpuidle, edac, hwmon, meters, powercap, rapl, smart, storage, system,
    thermal, wall, zfs,
};

/// The whole file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// `[daemon]`: listening address, filesystem root, state directory.
    pub daemon: Daemon,
    /// `[collectors.*]`: one section per collector.
    pub collectors: Collectors,
    /// `[[meters]]`: wall-power meters (Shelly, Tasmota, NUT, IPMI), read by `collectors.meters`.
    #[serde(
        default,
        deserialize_with = "crate::meters::deserialize_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub meters: Vec<crate::meters::Meter>,
    /// `[alerts]`: rule evaluation in the daemon, `[alerts.rules.<Name>]` overrides.
    pub alerts: alerts::Config,
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
    /// Exporter-toolkit web config (TLS, basic auth); empty: plain HTTP, no auth.
    pub web_config_file: String,
    /// Open HTTP connections at most (TLS handshakes included); at the cap the oldest one that
    /// is not answering a request makes room.
    pub max_connections: usize,
}

impl Default for Daemon {
    fn default() -> Self {
        Self {
            listen: super::DEFAULT_LISTEN.to_owned(),
            root: "/".to_owned(),
            state_dir: "/var/lib/hostwatt".to_owned(),
            web_config_file: String::new(),
            max_connections: crate::server::conn::DEFAULT_MAX_CONNECTIONS,
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
    /// `[collectors.powercap]`.
    pub powercap: powercap::Config,
    /// `[collectors.system]`.
    pub system: system::Config,
    /// `[collectors.meters]`.
    pub meters: meters::Config,
    /// `[collectors.zfs]`.
    pub zfs: zfs::Config,
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
    /// `[collectors.storage]`.
    pub storage: storage::Config,
    /// `[collectors.wall]`.
    pub wall: wall::Config,
    /// `[collectors.advisor]`.
    pub advisor: advisor::Config,
}
