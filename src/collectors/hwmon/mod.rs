//! hwmon: every sensor of every hardware-monitoring chip (temperatures, fans, voltages, currents,
//! power, energy, humidity, frequency, chassis intrusion).
//!
//! Reads `sys/class/hwmon/<entry>/` through `Root`; entries are symlinks into `sys/devices`, a few
//! are plain directories. Attribute files are `<type><n>_<attr>` as in the kernel's
//! Documentation/hwmon/sysfs-interface.rst; units are converted once, in `parse_value`:
//! temp m°C → °C, in mV → V, curr mA → A, power µW → W (`powerN_input`, else `powerN_average`),
//! energy µJ → J, humidity m% → ratio 0-1, freq Hz, fan RPM, `intrusionN_alarm` 0/1. Limits kept:
//! temp `max`/`crit`, fan `min`, in `min`/`max`; alarms and `_fault` flags go to two families with a
//! fixed set of label values, so cardinality is bounded by the hardware.
//!
//! Quirks:
//! - Chip identity. `hwmonN` numbers change across boots, so the `chip` label is built from the
//!   `name` file and the resolved `device` link: `coretemp.0` (device `coretemp.0` is `name` plus an
//!   instance number), `nvme0`, `amdgpu-0000:03:00.0`, `nct6779-nct6775.656`. A chip without `name`
//!   is its device (`card0`), else its directory (`hwmon4`). Chips that would still share a label
//!   (two `ina226` without a device) all get their directory appended (`ina226-hwmon3`), so no
//!   series is duplicated; only those few labels then depend on the boot's numbering.
//! - Old drivers (applesmc) put `name` and the attributes on the parent device, not in the hwmon
//!   directory: when the hwmon directory has neither `name` nor a sensor attribute but
//!   `device/name` exists, the chip is read from `device/`, as libsensors does.
//! - A chip directory that cannot be listed at all is a fault with the entry name as item
//!   (`hwmon3`): its label is not known yet.
//! - A channel whose `<type><n>_enable` is 0 is switched off and skipped.
//! - drivetemp is excluded by default (`exclude = ["drivetemp"]`): it reads a disk's temperature
//!   with ATA SCT/SMART commands, and "reading the drive temperature may reset the spin down timer
//!   on some drives" (Documentation/hwmon/drivetemp.rst, seen on WD120EFAX), so polling it every
//!   15 s keeps such a disk spinning forever. Excluded chips have only `name` read, never a sensor.
//! - A sensor whose read fails (EIO or ENODATA from a disconnected input, EAGAIN from a busy bus)
//!   drops out alone as a `Fault` with item `chip/sensor`; a chip directory that vanishes mid-walk
//!   is one `Read` fault for the chip; no `sys/class/hwmon` at all is `Unavailable`.
//! - A chip that publishes `update_interval` (ms) is not re-read before that much time has passed:
//!   its last readings are reused, as long as that read had no faults.
//! - Names, labels, limits, `_enable` and device links are read by a walk; rounds between walks
//!   read only values, alarms and faults through kept descriptors (`kept`). A label or limit
//!   changed by hand (`sensors -s`) shows after the next walk, at most `WALK_EVERY` rounds later;
//!   a chip that comes or goes shows the next round.
//!
//! Other modules (wall-power estimation) find sensors in the typed `Snapshot`, e.g. a PSU's input
//! power by `Chip::name` (`corsairpsu`, a PMBus driver) and `Sensor::label` (`power total`, `pin`).

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Sample};
use crate::parse::Interval;

mod channels;
mod chips;
mod kept;
mod kinds;
mod render;

pub use chips::chip_label;
use kinds::Limit;
pub use kinds::{SensorKind, parse_attr_name, parse_flag, parse_value};
use kept::{Cached, Kept, Walk};

const BASE: &str = "sys/class/hwmon";

const HINT: &str = "hwmon attributes are normally world-readable; check the permissions of \
                    sys/class/hwmon and of the device directories it links to";

/// `[collectors.hwmon]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Collect hwmon at all.
    pub enabled: bool,
    /// Sampling interval. Chips that publish `update_interval` are never re-read faster than that.
    pub interval: Interval,
    /// Chips to leave alone, by `name` (the driver's chip name) or by `chip` label.
    pub exclude: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(15),
            exclude: vec!["drivetemp".to_owned()],
        }
    }
}
/// One sensor channel as read, values in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// Channel type.
    pub kind: SensorKind,
    /// Channel number (`1` of `temp1`).
    pub index: u32,
    /// `<type><n>_label`, if the chip has one (`Package id 0`, `power total`).
    pub label: Option<String>,
    /// The value in base units (°C, RPM, V, A, W, J, ratio, Hz, 0/1).
    pub value: f64,
    /// `_min`, for fans and voltages.
    pub min: Option<f64>,
    /// `_max`, for temperatures and voltages.
    pub max: Option<f64>,
    /// `_crit`, for temperatures.
    pub crit: Option<f64>,
    /// Alarm flags present on the chip, by attribute suffix (`alarm`, `crit_alarm`).
    pub alarms: Vec<(&'static str, bool)>,
    /// `_fault`, if the chip has it.
    pub fault: Option<bool>,
}

impl Sensor {
    /// The channel name, `temp1`.
    pub fn id(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.index)
    }

    fn limit(&self, limit: Limit) -> Option<f64> {
        match limit {
            Limit::Min => self.min,
            Limit::Max => self.max,
            Limit::Crit => self.crit,
        }
    }
}

/// One chip and its readable sensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Chip {
    /// The stable `chip` label (`coretemp.0`, `nvme0`, `amdgpu-0000:03:00.0`).
    pub chip: String,
    /// The `name` file: the driver's chip name (`coretemp`, `corsairpsu`), if present.
    pub name: Option<String>,
    /// Last component of the resolved `device` link (`coretemp.0`, `0000:03:00.0`), if present.
    pub device: Option<String>,
    /// Readable, enabled sensors.
    pub sensors: Vec<Sensor>,
}

/// What a hwmon round publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every chip not excluded, in `sys/class/hwmon` order.
    pub chips: Vec<Chip>,
}

impl Snapshot {
    /// Every sensor of `kind`, with its chip: e.g. the power sensors a wall estimate looks at.
    pub fn sensors(&self, kind: SensorKind) -> impl Iterator<Item = (&Chip, &Sensor)> {
        self.chips.iter().flat_map(move |c| {
            c.sensors
                .iter()
                .filter(move |s| s.kind == kind)
                .map(move |s| (c, s))
        })
    }

    /// The chip with this `chip` label.
    pub fn chip(&self, chip: &str) -> Option<&Chip> {
        self.chips.iter().find(|c| c.chip == chip)
    }
}

/// The hwmon collector: walks the chips now and then, reads their changing files through kept
/// descriptors in between (`kept`).
#[derive(Debug)]
pub struct Hwmon {
    cfg: Config,
    cache: HashMap<String, Cached>,
    kept: Option<Kept>,
}

impl Hwmon {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            cache: HashMap::new(),
            kept: None,
        }
    }
}

impl Collector for Hwmon {
    type Snapshot = Snapshot;
    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        // chips behind a slow SMBus/I2C bus block here: the daemon runs every round on the
        // collector's own thread (scheduler::worker), never on the runtime thread
        let round = self.kept.as_mut().and_then(|k| k.round(&cx.root, &mut self.cache, at));
        let Walk { chips, faults } = match round {
            Some(walk) => walk,
            None => {
                self.kept = None; // its descriptors, before the walk opens new ones
                let (kept, walk) = Kept::walk(&cx.root, &self.cfg.exclude, &mut self.cache, at)?;
                self.kept = Some(kept);
                walk
            }
        };
        Ok(Sample {
            snapshot: Snapshot { chips },
            faults,
        })
    }
}
#[cfg(test)]
mod tests;
