//! Reading a chip's sensors, and reusing a chip's readings until its `update_interval` passed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::chips::{ChipDir, discover};
use super::kinds::{ALARMS, Limit, SensorKind, parse_attr_name, parse_flag, parse_value};
use super::render::LIMITS;
use super::{Chip, HINT, Sensor};
use crate::collectors::{CollectError, Fault};
use crate::host::root::Root;

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
pub(super) struct Cached {
    pub(super) at: Instant,
    pub(super) sensors: Vec<Sensor>,
}

/// One walk: the chips read (or reused) this round and the faults.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub(super) chips: Vec<Chip>,
    pub(super) faults: Vec<Fault>,
}

/// Reads every chip not in `exclude`, reusing `cache` entries younger than their chip's
/// `update_interval`, and refreshes `cache`.
pub(super) fn read_chips(
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
