//! A chip's channels: what a walk reads once (`_enable`, `_label`, limits) and the files a round
//! reads again (the value, alarm and fault flags), kept open.
//!
//! Labels and limits are set by the driver or by `sensors -s` and change without hot-plug only
//! by hand; they are read again by the next walk (`rewalk::WALK_EVERY`). Values and flags are read
//! every round with pread at offset 0 on a kept descriptor, which makes sysfs call the driver's
//! show function again, as an open/read/close would.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::chips::ChipDir;
use super::kinds::{ALARMS, Limit, SensorKind, parse_attr_name, parse_flag, parse_value};
use super::render::LIMITS;
use super::{Chip, HINT, Sensor};
use crate::collectors::{CollectError, Fault};
use crate::host::root::{Attr, ReadError, Root};

/// One enabled channel: its static part read by the walk, its changing files kept open.
#[derive(Debug)]
struct Channel {
    /// Kind, index, label and limits as the walk read them; value, alarms and fault as last read.
    sensor: Sensor,
    /// `_input`, else `_average` (`SensorKind::value_attrs`); `intrusionN_alarm`.
    value: Attr,
    /// The alarm flags the chip has, by suffix.
    alarms: Vec<(&'static str, Attr)>,
    /// `_fault`, if the chip has it.
    fault: Option<Attr>,
}

/// A chip as a walk found it, with its channels' changing files open.
#[derive(Debug)]
pub(super) struct KeptChip {
    /// Identity (`chip`, `name`, `device`); `sensors` stays empty, a round fills a copy.
    pub(super) chip: Chip,
    /// From `update_interval` (ms), if the chip publishes it.
    pub(super) update_interval: Option<std::time::Duration>,
    channels: Vec<Channel>,
}

/// Reads the static files of every enabled channel of `c` and opens its changing ones. A channel
/// whose label cannot be read or whose value cannot be opened is a fault (item `chip/sensor`);
/// a chip directory that vanished meanwhile is one fault for the chip and no channels.
pub(super) fn open_chip(root: &Root, c: &ChipDir) -> (KeptChip, Vec<Fault>) {
    let mut kept = KeptChip {
        chip: Chip {
            chip: c.label.clone(),
            name: c.name.clone(),
            device: c.device.clone(),
            sensors: Vec::new(),
        },
        update_interval: c.update_interval,
        channels: Vec::new(),
    };
    let mut by_channel: BTreeMap<(SensorKind, u32), BTreeSet<&str>> = BTreeMap::new();
    for f in &c.files {
        if let Some((kind, index, attr)) = parse_attr_name(f) {
            by_channel.entry((kind, index)).or_default().insert(attr);
        }
    }
    let mut faults = Vec::new();
    for ((kind, index), attrs) in by_channel {
        let path = |attr: &str| format!("{}/{}{index}_{attr}", c.attr_dir, kind.prefix());
        let present = |attr: &str| attrs.contains(attr);
        let read_flag = |attr: &str| {
            let text = root.read_trimmed(path(attr)).ok()?;
            parse_flag(&text).ok()
        };
        if present("enable") && read_flag("enable") == Some(false) {
            continue;
        }
        let Some(value_attr) = kind.value_attrs().iter().find(|a| present(a)) else {
            continue; // limits or pwm settings only: nothing to report
        };
        let item = format!("{}/{}{index}", c.label, kind.prefix());
        let value = match root.open_attr(path(value_attr)) {
            Ok(a) => a,
            Err(e) => {
                let error = CollectError::from_read(e, HINT);
                if !root.exists(&c.attr_dir) {
                    kept.channels.clear();
                    let item = c.label.clone();
                    return (kept, vec![Fault { item, error }]);
                }
                faults.push(Fault { item, error });
                continue;
            }
        };
        let label = if present("label") {
            match root.read_trimmed(path("label")) {
                Ok(l) => Some(l),
                Err(e) => {
                    let error = CollectError::from_read(e, HINT);
                    faults.push(Fault { item, error });
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
            value: 0.0,
            min: None,
            max: None,
            crit: None,
            alarms: Vec::new(),
            fault: None,
        };
        for (k, limit, attr, _) in LIMITS {
            if k == kind && present(attr) {
                let text = root.read_trimmed(path(attr)).ok();
                let v = text.and_then(|t| parse_value(kind, &t).ok());
                match limit {
                    Limit::Min => sensor.min = v,
                    Limit::Max => sensor.max = v,
                    Limit::Crit => sensor.crit = v,
                }
            }
        }
        // a flag that cannot be opened is absent until the next walk, as one that cannot be read
        let open = |attr: &str| present(attr).then(|| root.open_attr(path(attr)).ok())?;
        let alarms = match kind {
            SensorKind::Intrusion => Vec::new(), // its alarm is its value
            _ => ALARMS.iter().filter_map(|&a| Some((a, open(a)?))).collect(),
        };
        let fault = open("fault");
        kept.channels.push(Channel {
            sensor,
            value,
            alarms,
            fault,
        });
    }
    (kept, faults)
}

/// The text of a kept attribute, trimmed, borrowed from `buf` unless it is not UTF-8 (then
/// lossy, so a parse error shows what was read).
fn read_text<'b>(a: &Attr, buf: &'b mut [u8; 4096]) -> Result<Cow<'b, str>, ReadError> {
    let bytes = a.read_at0(buf)?;
    Ok(match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    })
}

impl KeptChip {
    /// Reads the changing files: the sensors whose value read, and a fault (item `chip/sensor`)
    /// for each that did not (EIO or ENODATA from a disconnected input, EAGAIN from a busy bus,
    /// garbage). A flag that cannot be read is left out of that round. `Err` when a file is gone
    /// (`ReadError::is_gone`: the device was unbound): the chip must be walked again.
    pub(super) fn read(&self) -> Result<(Vec<Sensor>, Vec<Fault>), ReadError> {
        let mut buf = [0; 4096];
        let mut sensors = Vec::with_capacity(self.channels.len());
        let mut faults = Vec::new();
        for ch in &self.channels {
            let kind = ch.sensor.kind;
            let value = match read_text(&ch.value, &mut buf) {
                Err(e) if e.is_gone() => return Err(e),
                Err(e) => Err(CollectError::from_read(e, HINT)),
                Ok(text) => parse_value(kind, &text)
                    .map_err(|e| CollectError::parse(ch.value.rel(), e)),
            };
            let value = match value {
                Ok(v) => v,
                Err(error) => {
                    let item = format!("{}/{}", self.chip.chip, ch.sensor.id());
                    faults.push(Fault { item, error });
                    continue;
                }
            };
            let mut flag = |a: &Attr| match read_text(a, &mut buf) {
                Ok(text) => Ok(parse_flag(&text).ok()),
                Err(e) if e.is_gone() => Err(e),
                Err(_) => Ok(None),
            };
            let mut alarms = Vec::with_capacity(ch.alarms.len());
            for (name, a) in &ch.alarms {
                if let Some(on) = flag(a)? {
                    alarms.push((*name, on));
                }
            }
            let fault = ch.fault.as_ref().map(&mut flag).transpose()?.flatten();
            sensors.push(Sensor {
                value,
                alarms,
                fault,
                ..ch.sensor.clone()
            });
        }
        Ok((sensors, faults))
    }
}
