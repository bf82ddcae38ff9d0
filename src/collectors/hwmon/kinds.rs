//! The sensor types of hwmon and their attribute files: names, units, limits, flags.
//!
//! Pure functions over the kernel's naming (Documentation/hwmon/sysfs-interface.rst); no I/O.

use crate::collectors::attrs::split_indexed;
use crate::parse::{ParseError, parse_i64, parse_u64};

/// Alarm attribute suffixes exported, a fixed set so the `alarm` label stays bounded.
pub(super) const ALARMS: [&str; 6] = [
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
    pub(super) fn scale(self) -> f64 {
        match self {
            Self::Temp | Self::In | Self::Curr => 1e-3,
            Self::Power | Self::Energy => 1e-6,
            Self::Humidity => 1e-5, // m% → % is 1e-3, % → ratio 1e-2
            Self::Fan | Self::Freq | Self::Intrusion => 1.0,
        }
    }

    /// Attributes holding the value, in order of preference.
    pub(super) fn value_attrs(self) -> &'static [&'static str] {
        match self {
            Self::Intrusion => &["alarm"],
            Self::In | Self::Curr | Self::Power => &["input", "average"],
            _ => &["input"],
        }
    }
}

/// A limit attribute kept for some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// `_min`.
    Min,
    /// `_max`.
    Max,
    /// `_crit`.
    Crit,
}

/// Splits an attribute file name: `temp1_crit_alarm` → `(Temp, 1, "crit_alarm")`. `None` for
/// anything that is not a sensor attribute (`name`, `pwm1`, `update_interval`, `uevent`).
pub fn parse_attr_name(file: &str) -> Option<(SensorKind, u32, &str)> {
    SensorKind::PREFIX_ORDER.iter().find_map(|&kind| {
        let (index, attr) = split_indexed(file, kind.prefix())?;
        (!attr.is_empty()).then_some((kind, index, attr))
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
