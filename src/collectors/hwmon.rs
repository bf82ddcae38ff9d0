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
//!
//! Other modules (wall-power estimation) find sensors in the typed `Snapshot`, e.g. a PSU's input
//! power by `Chip::name` (`corsairpsu`, a PMBus driver) and `Sensor::label` (`power total`, `pin`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::config::Interval;
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_i64, parse_u64};

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

const SENSOR_LABELS: &[&str] = &["chip", "sensor", "label"];

const CHIP_INFO: Family = Family::gauge(
    "hostwatt_hwmon_chip_info",
    "A hwmon chip: its driver's chip name and the device it belongs to (empty when absent); value 1",
    &["chip", "name", "device"],
);
const TEMP: Family = Family::gauge(
    "hostwatt_hwmon_temperature_celsius",
    "Temperature of a hwmon sensor (tempN_input)",
    SENSOR_LABELS,
);
const TEMP_MAX: Family = Family::gauge(
    "hostwatt_hwmon_temperature_max_celsius",
    "High limit of a hwmon temperature sensor (tempN_max)",
    SENSOR_LABELS,
);
const TEMP_CRIT: Family = Family::gauge(
    "hostwatt_hwmon_temperature_crit_celsius",
    "Critical limit of a hwmon temperature sensor (tempN_crit)",
    SENSOR_LABELS,
);
const FAN: Family = Family::gauge(
    "hostwatt_hwmon_fan_rpm",
    "Fan speed in revolutions per minute (fanN_input)",
    SENSOR_LABELS,
);
const FAN_MIN: Family = Family::gauge(
    "hostwatt_hwmon_fan_min_rpm",
    "Low limit of a fan's speed in revolutions per minute (fanN_min)",
    SENSOR_LABELS,
);
const VOLTAGE: Family = Family::gauge(
    "hostwatt_hwmon_voltage_volts",
    "Voltage of a hwmon sensor (inN_input, else inN_average)",
    SENSOR_LABELS,
);
const VOLTAGE_MIN: Family = Family::gauge(
    "hostwatt_hwmon_voltage_min_volts",
    "Low limit of a hwmon voltage sensor (inN_min)",
    SENSOR_LABELS,
);
const VOLTAGE_MAX: Family = Family::gauge(
    "hostwatt_hwmon_voltage_max_volts",
    "High limit of a hwmon voltage sensor (inN_max)",
    SENSOR_LABELS,
);
const CURRENT: Family = Family::gauge(
    "hostwatt_hwmon_current_amperes",
    "Current of a hwmon sensor (currN_input, else currN_average)",
    SENSOR_LABELS,
);
const POWER: Family = Family::gauge(
    "hostwatt_hwmon_power_watts",
    "Power of a hwmon sensor (powerN_input, else powerN_average)",
    SENSOR_LABELS,
);
const ENERGY: Family = Family::counter(
    "hostwatt_hwmon_energy_joules_total",
    "Energy counted by a hwmon chip since it started counting (energyN_input)",
    SENSOR_LABELS,
);
const HUMIDITY: Family = Family::gauge(
    "hostwatt_hwmon_humidity_ratio",
    "Relative humidity of a hwmon sensor, 0-1 (humidityN_input)",
    SENSOR_LABELS,
);
const FREQUENCY: Family = Family::gauge(
    "hostwatt_hwmon_frequency_hertz",
    "Frequency of a hwmon sensor (freqN_input)",
    SENSOR_LABELS,
);
const INTRUSION: Family = Family::gauge(
    "hostwatt_hwmon_intrusion_alarm",
    "1 if the chassis intrusion detector has tripped since it was last cleared (intrusionN_alarm)",
    SENSOR_LABELS,
);
const ALARM: Family = Family::gauge(
    "hostwatt_hwmon_sensor_alarm",
    "1 if the chip raises this alarm for the sensor; `alarm` is the attribute suffix (alarm, min_alarm, max_alarm, crit_alarm, lcrit_alarm, emergency_alarm)",
    &["chip", "sensor", "label", "alarm"],
);
const FAULT: Family = Family::gauge(
    "hostwatt_hwmon_sensor_fault",
    "1 if the chip reports the sensor faulty, e.g. a disconnected thermal diode or a stopped fan (N_fault)",
    SENSOR_LABELS,
);

/// Alarm attribute suffixes exported, a fixed set so the `alarm` label stays bounded.
const ALARMS: [&str; 6] = [
    "alarm",
    "min_alarm",
    "max_alarm",
    "crit_alarm",
    "lcrit_alarm",
    "emergency_alarm",
];

/// The type of a hwmon channel, the prefix of its attribute files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SensorKind {
    /// `tempN`, °C.
    Temp,
    /// `fanN`, RPM.
    Fan,
    /// `inN`, V.
    In,
    /// `currN`, A.
    Curr,
    /// `powerN`, W.
    Power,
    /// `energyN`, J (a counter).
    Energy,
    /// `humidityN`, ratio 0-1.
    Humidity,
    /// `freqN`, Hz.
    Freq,
    /// `intrusionN`, 0/1 from `intrusionN_alarm`.
    Intrusion,
}

impl SensorKind {
    /// Matching order: `intrusion` must be tried before `in`.
    const PREFIX_ORDER: [Self; 9] = [
        Self::Intrusion,
        Self::Humidity,
        Self::Energy,
        Self::Power,
        Self::Curr,
        Self::Temp,
        Self::Freq,
        Self::Fan,
        Self::In,
    ];

    /// The attribute prefix, e.g. `temp`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Temp => "temp",
            Self::Fan => "fan",
            Self::In => "in",
            Self::Curr => "curr",
            Self::Power => "power",
            Self::Energy => "energy",
            Self::Humidity => "humidity",
            Self::Freq => "freq",
            Self::Intrusion => "intrusion",
        }
    }

    /// Factor from the sysfs unit to the base unit.
    fn scale(self) -> f64 {
        match self {
            Self::Temp | Self::In | Self::Curr => 1e-3,
            Self::Power | Self::Energy => 1e-6,
            Self::Humidity => 1e-5, // m% → % is 1e-3, % → ratio 1e-2
            Self::Fan | Self::Freq | Self::Intrusion => 1.0,
        }
    }

    /// The family of this kind's main value.
    fn family(self) -> &'static Family {
        match self {
            Self::Temp => &TEMP,
            Self::Fan => &FAN,
            Self::In => &VOLTAGE,
            Self::Curr => &CURRENT,
            Self::Power => &POWER,
            Self::Energy => &ENERGY,
            Self::Humidity => &HUMIDITY,
            Self::Freq => &FREQUENCY,
            Self::Intrusion => &INTRUSION,
        }
    }

    /// Attributes holding the value, in order of preference.
    fn value_attrs(self) -> &'static [&'static str] {
        match self {
            Self::Intrusion => &["alarm"],
            Self::In | Self::Curr | Self::Power => &["input", "average"],
            _ => &["input"],
        }
    }
}

/// A limit attribute kept for some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// `_min`.
    Min,
    /// `_max`.
    Max,
    /// `_crit`.
    Crit,
}

/// Which limits are read and exported, and where: bounded on purpose.
const LIMITS: [(SensorKind, Limit, &str, &Family); 5] = [
    (SensorKind::Temp, Limit::Max, "max", &TEMP_MAX),
    (SensorKind::Temp, Limit::Crit, "crit", &TEMP_CRIT),
    (SensorKind::Fan, Limit::Min, "min", &FAN_MIN),
    (SensorKind::In, Limit::Min, "min", &VOLTAGE_MIN),
    (SensorKind::In, Limit::Max, "max", &VOLTAGE_MAX),
];

/// Splits an attribute file name: `temp1_crit_alarm` → `(Temp, 1, "crit_alarm")`. `None` for
/// anything that is not a sensor attribute (`name`, `pwm1`, `update_interval`, `uevent`).
pub fn parse_attr_name(file: &str) -> Option<(SensorKind, u32, &str)> {
    SensorKind::PREFIX_ORDER.iter().find_map(|&kind| {
        let rest = file.strip_prefix(kind.prefix())?;
        let (index, attr) = rest.split_once('_')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || attr.is_empty() {
            return None;
        }
        Some((kind, index.parse().ok()?, attr))
    })
}

/// Parses a value or limit file of a `kind` channel into base units. A negative speed, power,
/// humidity or frequency is impossible and an error (a sensor fault), never exported: a chip
/// with a broken tachometer reads `fan1_input` = -5.
pub fn parse_value(kind: SensorKind, text: &str) -> Result<f64, ParseError> {
    let raw = match kind {
        // energy counters are unsigned and may exceed i64 on a long-running chip
        SensorKind::Energy => parse_u64("hwmon value", text)? as f64,
        SensorKind::Fan | SensorKind::Power | SensorKind::Humidity | SensorKind::Freq => {
            match parse_i64("hwmon value", text)? {
                v if v < 0 => {
                    let what = kind.prefix();
                    return Err(ParseError::at(
                        "hwmon value",
                        1,
                        format!("impossible {what} value {v} (a sensor fault)"),
                    ));
                }
                v => v as f64,
            }
        }
        _ => parse_i64("hwmon value", text)? as f64,
    };
    Ok(raw * kind.scale())
}

/// Parses a 0/1 flag file (`_enable`, `_alarm`, `_fault`); any non-zero integer is on.
pub fn parse_flag(text: &str) -> Result<bool, ParseError> {
    Ok(parse_i64("hwmon flag", text)? != 0)
}

/// The `chip` label of a chip with driver name `name`, resolved device `device`, found at
/// `sys/class/hwmon/<entry>`. See the module header for the rule.
pub fn chip_label(name: Option<&str>, device: Option<&str>, entry: &str) -> String {
    match (name, device) {
        (Some(name), Some(device)) => {
            let instance = device
                .strip_prefix(name)
                .map(|rest| rest.strip_prefix('.').unwrap_or(rest))
                .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
            if instance.is_some() {
                device.to_owned()
            } else {
                format!("{name}-{device}")
            }
        }
        (Some(name), None) => name.to_owned(),
        (None, Some(device)) => device.to_owned(),
        (None, None) => entry.to_owned(),
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

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &CHIP_INFO,
        &TEMP,
        &TEMP_MAX,
        &TEMP_CRIT,
        &FAN,
        &FAN_MIN,
        &VOLTAGE,
        &VOLTAGE_MIN,
        &VOLTAGE_MAX,
        &CURRENT,
        &POWER,
        &ENERGY,
        &HUMIDITY,
        &FREQUENCY,
        &INTRUSION,
        &ALARM,
        &FAULT,
    ];

    fn render(&self, out: &mut Families) {
        for c in &self.chips {
            let name = c.name.as_deref().unwrap_or("");
            let device = c.device.as_deref().unwrap_or("");
            out.push(&CHIP_INFO, &[&c.chip, name, device], 1.0);
            for s in &c.sensors {
                let id = s.id();
                let labels = [
                    c.chip.as_str(),
                    id.as_str(),
                    s.label.as_deref().unwrap_or(""),
                ];
                out.push(s.kind.family(), &labels, s.value);
                for (kind, limit, _, family) in LIMITS {
                    if let Some(v) = s.limit(limit).filter(|_| kind == s.kind) {
                        out.push(family, &labels, v);
                    }
                }
                for &(alarm, on) in &s.alarms {
                    let [chip, sensor, label] = labels;
                    out.push_bool(&ALARM, &[chip, sensor, label, alarm], on);
                }
                if let Some(fault) = s.fault {
                    out.push_bool(&FAULT, &labels, fault);
                }
            }
        }
    }
}

/// A chip found in `sys/class/hwmon`, before its sensors are read.
#[derive(Debug)]
struct ChipDir {
    /// Entry name under `sys/class/hwmon` (`hwmon3`).
    entry: String,
    /// Root-relative directory holding the attributes.
    attr_dir: String,
    /// Attribute file names in `attr_dir`.
    files: Vec<String>,
    name: Option<String>,
    device: Option<String>,
    update_interval: Option<Duration>,
    label: String,
}

/// Lists the chips, reading only `name`, the `device` link and `update_interval`.
fn discover(root: &Root) -> Result<(Vec<ChipDir>, Vec<Fault>), CollectError> {
    let entries = root.list(BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CollectError::Unavailable(format!("{BASE} does not exist (no hwmon support)"))
        }
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut chips = Vec::new();
    let mut faults = Vec::new();
    for entry in entries {
        match discover_chip(root, &entry) {
            Ok(chip) => chips.push(chip),
            Err(error) => faults.push(Fault { item: entry, error }),
        }
    }
    // two chips with one label (same driver, no or same device) both get their entry appended
    let mut seen: HashMap<String, usize> = HashMap::new();
    for c in &chips {
        *seen.entry(c.label.clone()).or_default() += 1;
    }
    for c in &mut chips {
        if seen[&c.label] > 1 {
            c.label = format!("{}-{}", c.label, c.entry);
        }
    }
    Ok((chips, faults))
}

fn discover_chip(root: &Root, entry: &str) -> Result<ChipDir, CollectError> {
    let dir = format!("{BASE}/{entry}");
    let mut attr_dir = dir.clone();
    let mut files = root
        .list(&dir)
        .map_err(|e| CollectError::from_read(e, HINT))?;
    let parent = format!("{dir}/device");
    // old-style drivers: nothing of the chip in the hwmon directory, all of it on the device
    let own = files
        .iter()
        .any(|f| f == "name" || parse_attr_name(f).is_some());
    if !own && root.exists(format!("{parent}/name")) {
        files = root
            .list(&parent)
            .map_err(|e| CollectError::from_read(e, HINT))?;
        attr_dir = parent.clone();
    }
    let name = if files.iter().any(|f| f == "name") {
        let name = root
            .read_trimmed(format!("{attr_dir}/name"))
            .map_err(|e| CollectError::from_read(e, HINT))?;
        Some(name).filter(|n| !n.is_empty())
    } else {
        None
    };
    let device = root
        .canonical_rel(&parent)
        .and_then(|p| Some(Path::new(&p).file_name()?.to_string_lossy().into_owned()))
        .or_else(|| root.link_name(&parent));
    let update_interval = files
        .iter()
        .any(|f| f == "update_interval")
        .then(|| root.read_u64(format!("{attr_dir}/update_interval")).ok())
        .flatten()
        .map(Duration::from_millis);
    Ok(ChipDir {
        label: chip_label(name.as_deref(), device.as_deref(), entry),
        entry: entry.to_owned(),
        attr_dir,
        files,
        name,
        device,
        update_interval,
    })
}

/// Reads every enabled channel of a chip. A failing channel becomes a fault; a chip directory
/// that vanished becomes one fault for the chip and no sensors.
fn read_sensors(root: &Root, c: &ChipDir) -> (Vec<Sensor>, Vec<Fault>) {
    let mut channels: BTreeMap<(SensorKind, u32), BTreeSet<&str>> = BTreeMap::new();
    for f in &c.files {
        if let Some((kind, index, attr)) = parse_attr_name(f) {
            channels.entry((kind, index)).or_default().insert(attr);
        }
    }
    let mut sensors = Vec::new();
    let mut faults = Vec::new();
    for ((kind, index), attrs) in channels {
        let path = |attr: &str| format!("{}/{}{index}_{attr}", c.attr_dir, kind.prefix());
        let flag = |attr: &str| {
            attrs
                .contains(attr)
                .then(|| root.read_trimmed(path(attr)).ok())
                .flatten()
                .and_then(|t| parse_flag(&t).ok())
        };
        if flag("enable") == Some(false) {
            continue;
        }
        let Some(value_attr) = kind.value_attrs().iter().find(|a| attrs.contains(*a)) else {
            continue; // limits or pwm settings only: nothing to report
        };
        let item = format!("{}/{}{index}", c.label, kind.prefix());
        let read = |attr: &str| -> Result<f64, CollectError> {
            let text = root
                .read_trimmed(path(attr))
                .map_err(|e| CollectError::from_read(e, HINT))?;
            parse_value(kind, &text).map_err(|e| CollectError::parse(path(attr), e))
        };
        let value = match read(value_attr) {
            Ok(v) => v,
            Err(error) => {
                if !root.exists(&c.attr_dir) {
                    return (
                        Vec::new(),
                        vec![Fault {
                            item: c.label.clone(),
                            error,
                        }],
                    );
                }
                faults.push(Fault { item, error });
                continue;
            }
        };
        let label = if attrs.contains("label") {
            match root.read_trimmed(path("label")) {
                Ok(l) => Some(l),
                Err(e) => {
                    faults.push(Fault {
                        item,
                        error: CollectError::from_read(e, HINT),
                    });
                    continue;
                }
            }
        } else {
            None
        };
        let mut sensor = Sensor {
            kind,
            index,
            label,
            value,
            min: None,
            max: None,
            crit: None,
            alarms: Vec::new(),
            fault: None,
        };
        for (k, limit, attr, _) in LIMITS {
            if k == kind && attrs.contains(attr) {
                let v = read(attr).ok();
                match limit {
                    Limit::Min => sensor.min = v,
                    Limit::Max => sensor.max = v,
                    Limit::Crit => sensor.crit = v,
                }
            }
        }
        if kind != SensorKind::Intrusion {
            sensor.alarms = ALARMS.iter().filter_map(|&a| Some((a, flag(a)?))).collect();
        }
        sensor.fault = flag("fault");
        sensors.push(sensor);
    }
    (sensors, faults)
}

/// Last fault-free readings of a chip, reused until its `update_interval` has passed.
#[derive(Debug, Clone)]
struct Cached {
    at: Instant,
    sensors: Vec<Sensor>,
}

/// One walk: the chips read (or reused) this round and the faults.
#[derive(Debug, Default)]
struct Walk {
    chips: Vec<Chip>,
    faults: Vec<Fault>,
}

/// Reads every chip not in `exclude`, reusing `cache` entries younger than their chip's
/// `update_interval`, and refreshes `cache`.
fn read_chips(
    root: &Root,
    exclude: &[String],
    cache: &mut HashMap<String, Cached>,
    at: Instant,
) -> Result<Walk, CollectError> {
    let (dirs, faults) = discover(root)?;
    let mut walk = Walk {
        chips: Vec::new(),
        faults,
    };
    let excluded = |c: &ChipDir| {
        exclude
            .iter()
            .any(|x| Some(x) == c.name.as_ref() || *x == c.label)
    };
    let mut fresh = HashMap::new();
    for c in dirs.iter().filter(|c| !excluded(c)) {
        let reusable = cache.remove(&c.label).filter(|prev| {
            c.update_interval
                .is_some_and(|every| at.saturating_duration_since(prev.at) < every)
        });
        let sensors = match reusable {
            Some(prev) => {
                let sensors = prev.sensors.clone();
                fresh.insert(c.label.clone(), prev);
                sensors
            }
            None => {
                let (sensors, faults) = read_sensors(root, c);
                if c.update_interval.is_some() && faults.is_empty() {
                    let cached = Cached {
                        at,
                        sensors: sensors.clone(),
                    };
                    fresh.insert(c.label.clone(), cached);
                }
                walk.faults.extend(faults);
                sensors
            }
        };
        walk.chips.push(Chip {
            chip: c.label.clone(),
            name: c.name.clone(),
            device: c.device.clone(),
            sensors,
        });
    }
    // chips that vanished, have no update_interval or had a fault leave the cache
    *cache = fresh;
    Ok(walk)
}

/// The hwmon collector.
#[derive(Debug)]
pub struct Hwmon {
    cfg: Config,
    cache: HashMap<String, Cached>,
}

impl Hwmon {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            cache: HashMap::new(),
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
        if !cx.root.exists(BASE) {
            return Err(CollectError::Unavailable(format!(
                "{BASE} does not exist (no hwmon support)"
            )));
        }
        // chips behind a slow SMBus/I2C bus block here: the daemon runs every round on the
        // collector's own thread (scheduler::worker), never on the runtime thread
        let Walk { chips, faults } = read_chips(&cx.root, &self.cfg.exclude, &mut self.cache, at)?;
        Ok(Sample {
            snapshot: Snapshot { chips },
            faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::shared_tree;
    use SensorKind::*;

    fn walk(root: &Root) -> Walk {
        let exclude = Config::default().exclude;
        read_chips(root, &exclude, &mut HashMap::new(), Instant::now()).unwrap()
    }

    fn value(w: &Walk, chip: &str, kind: SensorKind, index: u32) -> f64 {
        sensor(w, chip, kind, index).value
    }

    fn sensor<'a>(w: &'a Walk, chip: &str, kind: SensorKind, index: u32) -> &'a Sensor {
        let c = w
            .chips
            .iter()
            .find(|c| c.chip == chip)
            .unwrap_or_else(|| panic!("no chip {chip} in {:?}", labels(w)));
        c.sensors
            .iter()
            .find(|s| s.kind == kind && s.index == index)
            .unwrap_or_else(|| panic!("{chip}: no {kind:?}{index} in {:?}", c.sensors))
    }

    fn labels(w: &Walk) -> Vec<&str> {
        w.chips.iter().map(|c| c.chip.as_str()).collect()
    }

    fn faults(w: &Walk) -> Vec<(&str, &str)> {
        w.faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind()))
            .collect()
    }

    #[test]
    fn splits_attribute_names() {
        assert_eq!(parse_attr_name("temp1_input"), Some((Temp, 1, "input")));
        assert_eq!(
            parse_attr_name("temp1_crit_alarm"),
            Some((Temp, 1, "crit_alarm"))
        );
        assert_eq!(
            parse_attr_name("intrusion0_alarm"),
            Some((Intrusion, 0, "alarm"))
        );
        assert_eq!(parse_attr_name("in0_input"), Some((In, 0, "input")));
        assert_eq!(parse_attr_name("fan10_min"), Some((Fan, 10, "min")));
        assert_eq!(
            parse_attr_name("humidity1_input"),
            Some((Humidity, 1, "input"))
        );
        for not_a_sensor in [
            "",
            "name",
            "pwm1",
            "pwm1_enable",
            "update_interval",
            "temp_input",
            "tempx_input",
            "temp1",
            "temp1_",
            "bogus1_input",
            "in_foo",
        ] {
            assert_eq!(parse_attr_name(not_a_sensor), None, "{not_a_sensor:?}");
        }
    }

    #[test]
    fn converts_units_once() {
        let close = |kind, text, want: f64| {
            let got = parse_value(kind, text).unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{kind:?} {text:?}: {got} != {want}"
            );
        };
        close(Temp, "55000\n", 55.0);
        close(Temp, "-5500", -5.5);
        close(In, "792", 0.792);
        close(Curr, "5000", 5.0);
        close(Power, "45000000", 45.0);
        close(Energy, "18446744073709551615", 18_446_744_073_709.55);
        close(Humidity, "45500", 0.455);
        close(Freq, "214000000", 214e6);
        close(Fan, "1098", 1098.0);
        close(Intrusion, "1", 1.0);
        assert_eq!(
            parse_value(Temp, "").unwrap_err().to_string(),
            "hwmon value, line 1: not an integer: \"\""
        );
        assert!(parse_value(Temp, "55.0").is_err());
        assert!(parse_value(Energy, "-1").is_err());
        assert_eq!(
            parse_value(Fan, "-5").unwrap_err().to_string(),
            "hwmon value, line 1: impossible fan value -5 (a sensor fault)"
        );
        assert!(parse_value(Power, "-1").is_err());
        // below zero is a real temperature, voltage or current
        close(Temp, "-5000", -5.0);
        close(In, "-12000", -12.0);
        assert_eq!(parse_flag("0\n"), Ok(false));
        assert_eq!(parse_flag("1"), Ok(true));
        assert!(parse_flag("on").is_err());
    }

    #[test]
    fn builds_chip_labels_from_name_and_device() {
        let l = |n, d| chip_label(n, d, "hwmon7");
        assert_eq!(l(Some("coretemp"), Some("coretemp.0")), "coretemp.0");
        assert_eq!(l(Some("nvme"), Some("nvme0")), "nvme0");
        assert_eq!(
            l(Some("amdgpu"), Some("0000:03:00.0")),
            "amdgpu-0000:03:00.0"
        );
        assert_eq!(l(Some("asus"), Some("asus-nb-wmi")), "asus-asus-nb-wmi");
        assert_eq!(l(Some("nvme"), Some("nvme")), "nvme-nvme");
        assert_eq!(l(Some("k10temp"), None), "k10temp");
        assert_eq!(l(None, Some("card0")), "card0");
        assert_eq!(l(None, None), "hwmon7");
    }

    #[test]
    fn reads_the_node_exporter_tree() {
        let tree = shared_tree("sysfs/node_exporter").0;
        let w = walk(&Root::new(tree.path()));
        assert_eq!(
            labels(&w),
            [
                "coretemp.0",
                "coretemp.1",
                "applesmc.768",
                "nct6779",
                "hwmon4",
                "bogus",
                "asus-asus-nb-wmi",
                "asus_wmi_sensors-asus-nb-wmi",
                "mt7996_phy0_0-phy0",
                "mt7996_phy0_1-phy0",
                "mt7996_phy0_2-phy0",
            ]
        );
        assert!(w.faults.is_empty(), "{:?}", faults(&w));

        let core0 = sensor(&w, "coretemp.0", Temp, 2);
        assert_eq!(core0.label.as_deref(), Some("Core 0"));
        assert_eq!(
            (core0.value, core0.max, core0.crit),
            (54.0, Some(84.0), Some(100.0))
        );
        assert_eq!(core0.alarms, [("crit_alarm", false)]);
        assert_eq!(value(&w, "coretemp.1", Temp, 5), 50.0);

        // applesmc keeps name and attributes on the platform device, not in hwmon2
        let left = sensor(&w, "applesmc.768", Fan, 1);
        assert_eq!(
            (left.label.as_deref(), left.value),
            (Some("Left side"), 0.0)
        );
        assert_eq!(sensor(&w, "applesmc.768", Fan, 1).min, Some(2160.0));
        assert_eq!(value(&w, "applesmc.768", Fan, 2), 1998.0);

        let nct = "nct6779";
        let fan = sensor(&w, nct, Fan, 2);
        assert_eq!(
            (fan.value, fan.min, fan.label.as_deref()),
            (1098.0, Some(0.0), None)
        );
        let in0 = sensor(&w, nct, In, 0);
        assert_eq!(
            (in0.value, in0.min, in0.max),
            (0.792, Some(0.0), Some(1.744))
        );
        assert_eq!(sensor(&w, nct, In, 1).alarms, [("alarm", true)]);
        assert_eq!(value(&w, nct, Intrusion, 0), 1.0);
        assert_eq!(value(&w, nct, Intrusion, 1), 1.0);
        assert_eq!(sensor(&w, nct, Intrusion, 0).alarms, []);

        // hwmon4: a plain directory without name or device
        assert_eq!(value(&w, "hwmon4", Freq, 1), 214e6);
        assert_eq!(sensor(&w, "hwmon4", Freq, 2).label.as_deref(), Some("mclk"));
        assert_eq!(value(&w, "hwmon4", Temp, 2), 54.0);

        assert_eq!(value(&w, "mt7996_phy0_2-phy0", Temp, 1), 57.0);
        let bogus = w.chips.iter().find(|c| c.chip == "bogus").unwrap();
        assert!(bogus.sensors.is_empty(), "bogus1_* is no sensor type");
    }

    #[test]
    fn reads_the_kepler_tree() {
        let tree = shared_tree("sysfs/kepler").0;
        let w = walk(&Root::new(tree.path()));
        assert_eq!(
            labels(&w),
            [
                "k10temp",
                "amdgpu",
                "platform_sensor",
                "card0",
                "test_power_chip",
                "energy_meter",
                "ina226-hwmon_ina226",
                "ina3221-hwmon_voltage_current",
                "ina3221-hwmon_voltage_current_average",
                "ina226-hwmon_voltage_current_no_labels",
            ]
        );
        assert!(w.faults.is_empty(), "{:?}", faults(&w));

        let package = sensor(&w, "k10temp", Power, 1);
        assert_eq!(
            (package.label.as_deref(), package.value),
            (Some("Package"), 45.0)
        );
        assert_eq!(
            value(&w, "amdgpu", Power, 1),
            120.0,
            "input wins over average"
        );
        assert_eq!(value(&w, "platform_sensor", Power, 1), 30.0);
        assert_eq!(value(&w, "card0", Power, 1), 25.0);

        let rails: Vec<_> = w.chips[4]
            .sensors
            .iter()
            .map(|s| s.label.as_deref())
            .collect();
        assert_eq!(
            rails,
            [Some("PSU_Rail_A"), Some("PSU_Rail_B")],
            "power3_enable = 0"
        );

        assert_eq!(value(&w, "energy_meter", Energy, 1), 500.0);
        assert_eq!(value(&w, "ina226-hwmon_ina226", Curr, 1), 5.0);
        assert_eq!(value(&w, "ina226-hwmon_ina226", In, 0), 1.5);
        assert_eq!(value(&w, "ina226-hwmon_ina226", In, 1), 12.0);
        assert_eq!(
            value(&w, "ina3221-hwmon_voltage_current_average", In, 1),
            12.0
        );
        assert_eq!(
            value(&w, "ina3221-hwmon_voltage_current_average", Curr, 1),
            5.0
        );
        let no_label = sensor(&w, "ina226-hwmon_voltage_current_no_labels", In, 0);
        assert_eq!((no_label.value, no_label.label.as_deref()), (5.0, None));
    }

    fn case_root() -> Root {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/hwmon-faults/root");
        assert!(path.exists(), "missing {}", path.display());
        Root::new(path)
    }

    #[test]
    fn golden_case_faults_one_sensor_and_skips_drivetemp() {
        let w = walk(&case_root());
        assert_eq!(
            labels(&w),
            [
                "coretemp.0",
                "nct6798-nct6775.656",
                "corsairpsu-0003:1B1C:1C05.0001"
            ],
            "drivetemp is excluded by default"
        );
        assert_eq!(faults(&w), [("nct6798-nct6775.656/temp2", "io")]);
        let CollectError::Read(e) = &w.faults[0].error else {
            panic!("{:?}", w.faults[0].error)
        };
        assert_eq!(e.rel_path, "sys/class/hwmon/hwmon1/temp2_input");
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);

        let nct = "nct6798-nct6775.656";
        let ids: Vec<_> = w.chips[1].sensors.iter().map(Sensor::id).collect();
        assert_eq!(
            ids,
            ["temp1", "fan1", "in0", "intrusion0"],
            "temp3 is disabled"
        );
        assert_eq!(value(&w, nct, Temp, 1), 38.0);
        assert_eq!(value(&w, nct, Fan, 1), 812.0);
        assert_eq!(value(&w, nct, In, 0), 1.032);
        assert_eq!(value(&w, "coretemp.0", Temp, 1), 45.0);

        // what a wall-power estimate would look for
        let snapshot = Snapshot { chips: w.chips };
        let psu: Vec<_> = snapshot
            .sensors(Power)
            .filter(|(c, s)| {
                c.name.as_deref() == Some("corsairpsu") && s.label.as_deref() == Some("power total")
            })
            .map(|(_, s)| s.value)
            .collect();
        assert_eq!(psu, [152.0]);
    }

    #[test]
    fn drivetemp_is_read_only_when_not_excluded() {
        let root = case_root();
        let w = read_chips(&root, &[], &mut HashMap::new(), Instant::now()).unwrap();
        assert_eq!(value(&w, "drivetemp-0:0:0:0", Temp, 1), 34.0);
        let w = read_chips(
            &root,
            &["coretemp.0".into(), "corsairpsu".into()],
            &mut HashMap::new(),
            Instant::now(),
        )
        .unwrap();
        assert_eq!(labels(&w), ["nct6798-nct6775.656", "drivetemp-0:0:0:0"]);
    }

    #[test]
    fn renders_every_series_once() {
        let tree = shared_tree("sysfs/node_exporter").0;
        let mut chips = walk(&Root::new(tree.path())).chips;
        let kepler = shared_tree("sysfs/kepler").0;
        chips.extend(walk(&Root::new(kepler.path())).chips);
        let mut out = Families::new(Snapshot::FAMILIES);
        Snapshot { chips }.render(&mut out);
        let mut seen = BTreeSet::new();
        let mut lines = Vec::new();
        for mf in out.into_vec() {
            for m in mf.get_metric() {
                let labels: Vec<_> = m
                    .get_label()
                    .iter()
                    .map(|l| format!("{}={:?}", l.name(), l.value()))
                    .collect();
                let series = format!("{}{{{}}}", mf.name(), labels.join(","));
                assert!(seen.insert(series.clone()), "duplicate series {series}");
                let v = if mf.get_field_type() == prometheus::proto::MetricType::COUNTER {
                    m.get_counter().value()
                } else {
                    m.get_gauge().value()
                };
                lines.push(format!("{series} {v}"));
            }
        }
        for want in [
            r#"hostwatt_hwmon_temperature_celsius{chip="coretemp.0",sensor="temp1",label="Physical id 0"} 55"#,
            r#"hostwatt_hwmon_temperature_crit_celsius{chip="coretemp.1",sensor="temp1",label="Physical id 0"} 100"#,
            r#"hostwatt_hwmon_fan_rpm{chip="nct6779",sensor="fan2",label=""} 1098"#,
            r#"hostwatt_hwmon_sensor_alarm{chip="nct6779",sensor="in1",label="",alarm="alarm"} 1"#,
            r#"hostwatt_hwmon_intrusion_alarm{chip="nct6779",sensor="intrusion0",label=""} 1"#,
            r#"hostwatt_hwmon_power_watts{chip="amdgpu",sensor="power1",label="GPU"} 120"#,
            r#"hostwatt_hwmon_energy_joules_total{chip="energy_meter",sensor="energy1",label="Total"} 500"#,
            r#"hostwatt_hwmon_frequency_hertz{chip="hwmon4",sensor="freq1",label="sclk"} 214000000"#,
            r#"hostwatt_hwmon_chip_info{chip="applesmc.768",name="applesmc",device="applesmc.768"} 1"#,
            r#"hostwatt_hwmon_chip_info{chip="card0",name="",device="card0"} 1"#,
        ] {
            assert!(lines.iter().any(|l| l == want), "missing {want}");
        }
    }

    #[test]
    fn missing_hwmon_class_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_chips(
            &Root::new(dir.path()),
            &[],
            &mut HashMap::new(),
            Instant::now(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "unavailable");
    }

    #[test]
    fn a_chip_gone_mid_walk_is_one_read_fault() {
        // listed in class/hwmon, but its device directory is already gone (driver unbound)
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join(BASE);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/platform/gone/hwmon/hwmon0",
            class.join("hwmon0"),
        )
        .unwrap();
        std::fs::create_dir(class.join("hwmon1")).unwrap();
        std::fs::write(class.join("hwmon1/temp1_input"), "21000\n").unwrap();
        let w = walk(&Root::new(dir.path()));
        assert_eq!(faults(&w), [("hwmon0", "io")]);
        assert_eq!(value(&w, "hwmon1", Temp, 1), 21.0);
    }

    #[test]
    fn does_not_reread_a_chip_before_its_update_interval() {
        let dir = tempfile::tempdir().unwrap();
        let chip = dir.path().join(BASE).join("hwmon0");
        std::fs::create_dir_all(&chip).unwrap();
        let write = |f: &str, v: &str| std::fs::write(chip.join(f), v).unwrap();
        write("name", "ina226\n");
        write("update_interval", "60000\n");
        write("power1_average", "2000000\n"); // no power1_input: the average is the value
        let root = Root::new(dir.path());
        let mut cache = HashMap::new();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let power = |w: Walk| value(&w, "ina226", Power, 1);
        assert_eq!(
            power(read_chips(&root, &[], &mut cache, at(0)).unwrap()),
            2.0
        );
        write("power1_average", "3000000\n");
        assert_eq!(
            power(read_chips(&root, &[], &mut cache, at(15)).unwrap()),
            2.0,
            "reused"
        );
        assert_eq!(
            power(read_chips(&root, &[], &mut cache, at(60)).unwrap()),
            3.0,
            "due again"
        );
        std::fs::remove_file(chip.join("update_interval")).unwrap();
        write("power1_average", "4000000\n");
        assert_eq!(
            power(read_chips(&root, &[], &mut cache, at(61)).unwrap()),
            4.0,
            "no interval: every round"
        );
    }

    #[tokio::test]
    async fn samples_the_golden_case_through_the_collector() {
        let cx = Context {
            root: case_root(),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        let mut c = Hwmon::new(Config::default());
        let t0 = Instant::now();
        let sample = c.sample(&cx, t0).await.unwrap();
        assert_eq!(sample.faults.len(), 1);
        // the nct chip updates every second, but a chip read with a fault is not reused:
        // its fault is reported again rather than hidden behind a cached reading
        let again = c
            .sample(&cx, t0 + Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(again.faults.len(), 1);
        assert_eq!(again.snapshot, sample.snapshot);
        let (chip, s) = sample.snapshot.sensors(Curr).next().unwrap();
        assert_eq!(
            (chip.chip.as_str(), s.value),
            ("corsairpsu-0003:1B1C:1C05.0001", 0.72)
        );
        assert_eq!(c.cfg.interval.0, Duration::from_secs(15));
    }
}
