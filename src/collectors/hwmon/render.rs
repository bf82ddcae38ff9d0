//! The hwmon families and how a `Snapshot` is rendered into them.

use super::kinds::{Limit, SensorKind};
use super::Snapshot;
use crate::metrics::{Families, Family, Render};

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

/// Which limits are read and exported, and where: bounded on purpose.
pub(super) const LIMITS: [(SensorKind, Limit, &str, &Family); 5] = [
    (SensorKind::Temp, Limit::Max, "max", &TEMP_MAX),
    (SensorKind::Temp, Limit::Crit, "crit", &TEMP_CRIT),
    (SensorKind::Fan, Limit::Min, "min", &FAN_MIN),
    (SensorKind::In, Limit::Min, "min", &VOLTAGE_MIN),
    (SensorKind::In, Limit::Max, "max", &VOLTAGE_MAX),
];

impl SensorKind {
    /// The family of this kind's main value.
    pub(super) fn family(self) -> &'static Family {
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
