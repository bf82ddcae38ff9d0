//! Thermal zones and cooling devices of the kernel's thermal framework.
//!
//! Reads, through `Root`:
//! - `sys/class/thermal/thermal_zone*/{type,temp,mode,policy}` and the zone's trip points
//!   `trip_point_N_{temp,type,hyst}`;
//! - `sys/class/thermal/cooling_device*/{type,cur_state,max_state}`.
//!
//! Temperatures are m°C in sysfs (and may be negative) and °C here; cooling states are the
//! driver's own steps (fan speed level, P-state clamp), dimensionless. See
//! Documentation/driver-api/thermal/sysfs-api.rst.
//!
//! A zone is labelled with its `type` (`x86_pkg_temp`, `acpitz`, `cpu-thermal`) plus its directory
//! name: several zones can share a type (one `acpitz` per ACPI zone), and `thermal_zoneN` numbers
//! alone mean nothing to a reader. Some ACPI zones fail `temp` with EIO or ENODATA (firmware
//! methods that error out, sensors not ready yet); such a zone is a fault alone and keeps its
//! other series.
//!
//! Only `temp` and `cur_state` change from round to round. After a walk without faults they
//! are kept open and read with pread at offset 0; the rest (types, modes, policies, trip points,
//! `max_state`) is read again on the next walk: when the class listing changes, a kept read
//! fails, or `WALK_EVERY` rounds pass (a trip point or mode a user writes shows within those).

use std::io;
use std::time::Instant;

use super::attrs::{Attrs, group_indexed, is_numbered, split_indexed};
use super::rewalk::DirRewalk;
use super::{CollectError, Collector, Context, Sample};
use crate::host::root::{Attr, ReadError, Root};
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_i64, parse_u64};

const BASE: &str = "sys/class/thermal";

const HINT: &str = "sys/class/thermal is normally world-readable; check the mount options of /sys";

/// `[collectors.thermal]`: `enabled`, and `interval` (default 15s). Sampling interval.
pub type Config = super::Basic<super::Every15s>;

const ZONE_TEMP: Family = Family::gauge(
    "hostwatt_thermal_zone_temperature_celsius",
    "Temperature of a thermal zone (temp, m°C converted to °C)",
    &["zone", "type"],
);
const ZONE_INFO: Family = Family::gauge(
    "hostwatt_thermal_zone_info",
    "Always 1; labels give a thermal zone's type and governor policy",
    &["zone", "type", "policy"],
);
const ZONE_ENABLED: Family = Family::gauge(
    "hostwatt_thermal_zone_enabled",
    "1 if the kernel is monitoring the zone (mode enabled), 0 if disabled",
    &["zone", "type"],
);
const TRIP_TEMP: Family = Family::gauge(
    "hostwatt_thermal_trip_point_temperature_celsius",
    "Temperature at which a trip point of a thermal zone fires (trip_point_N_temp)",
    &["zone", "type", "trip", "trip_type"],
);
const TRIP_HYST: Family = Family::gauge(
    "hostwatt_thermal_trip_point_hysteresis_celsius",
    "Hysteresis of a trip point: how far below its temperature the zone must cool before it clears (trip_point_N_hyst)",
    &["zone", "type", "trip", "trip_type"],
);
const COOLING_STATE: Family = Family::gauge(
    "hostwatt_thermal_cooling_device_state",
    "Current cooling state of a cooling device, in the driver's steps (0 = not cooling)",
    &["device", "type"],
);
const COOLING_MAX: Family = Family::gauge(
    "hostwatt_thermal_cooling_device_max_state",
    "Highest cooling state a cooling device supports",
    &["device", "type"],
);

/// Parses a temperature in m°C (`temp`, `trip_point_N_temp`) to °C.
pub fn parse_millicelsius(text: &str) -> Result<f64, ParseError> {
    Ok(parse_i64("thermal temperature", text)? as f64 / 1000.0)
}

/// Parses a zone's `mode`: `enabled` or `disabled`.
pub fn parse_mode(text: &str) -> Result<bool, ParseError> {
    match text.trim() {
        "enabled" => Ok(true),
        "disabled" => Ok(false),
        other => Err(ParseError::at(
            "thermal zone mode",
            1,
            format!("expected enabled or disabled, got {other:?}"),
        )),
    }
}

/// What a trip point file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripAttr {
    /// `trip_point_N_temp`.
    Temp,
    /// `trip_point_N_type`.
    Type,
    /// `trip_point_N_hyst`.
    Hyst,
}

/// Splits `trip_point_3_temp` into (3, `Temp`); `None` for other zone entries.
pub fn parse_trip_attr(name: &str) -> Option<(u32, TripAttr)> {
    let (n, attr) = split_indexed(name, "trip_point_")?;
    let attr = match attr {
        "temp" => TripAttr::Temp,
        "type" => TripAttr::Type,
        "hyst" => TripAttr::Hyst,
        _ => return None,
    };
    Some((n, attr))
}

/// One trip point of a zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trip {
    /// `N` of `trip_point_N_*`.
    pub index: u32,
    /// `critical`, `hot`, `passive` or `active`.
    pub kind: Option<String>,
    /// °C.
    pub celsius: Option<f64>,
    /// °C.
    pub hyst_celsius: Option<f64>,
}

/// One thermal zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zone {
    /// Directory name, `thermal_zone0`.
    pub id: String,
    /// `type`, e.g. `x86_pkg_temp`; the id when the file is missing.
    pub kind: String,
    /// °C; `None` when the read failed (a fault) or the file is absent.
    pub celsius: Option<f64>,
    /// `mode`; older kernels and some drivers have no such file.
    pub enabled: Option<bool>,
    /// `policy`, the governor (`step_wise`, `user_space`, ...).
    pub policy: Option<String>,
    /// Trip points by number.
    pub trips: Vec<Trip>,
}

/// One cooling device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoolingDevice {
    /// Directory name, `cooling_device0`.
    pub id: String,
    /// `type`, e.g. `Processor`, `Fan`, `intel_powerclamp`.
    pub kind: String,
    /// `cur_state`.
    pub cur_state: Option<u64>,
    /// `max_state`.
    pub max_state: Option<u64>,
}

/// What a thermal round publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Zones, sorted by number.
    pub zones: Vec<Zone>,
    /// Cooling devices, sorted by number.
    pub cooling: Vec<CoolingDevice>,
}

/// One walk of the thermal class.
struct Walk<'a> {
    attrs: Attrs<'a>,
    /// Directory holding the `thermal_zone*` and `cooling_device*` entries.
    base: &'a str,
}

impl Walk<'_> {
    fn text(&mut self, rel: &str, item: &str) -> Option<String> {
        self.attrs.text(rel, item)
    }

    fn celsius(&mut self, rel: &str, item: &str) -> Option<f64> {
        self.attrs.value(rel, item, parse_millicelsius)
    }

    /// `None` when the zone's directory cannot be listed (one fault).
    fn zone(&mut self, id: &str) -> Option<Zone> {
        let dir = format!("{}/{id}", self.base);
        let entries = self.attrs.list(&dir, id)?;
        let kind = self
            .text(&format!("{dir}/type"), id)
            .unwrap_or_else(|| id.to_owned());
        let mut zone = Zone {
            id: id.to_owned(),
            celsius: self.celsius(&format!("{dir}/temp"), id),
            enabled: self.attrs.value(&format!("{dir}/mode"), id, parse_mode),
            policy: self.text(&format!("{dir}/policy"), id),
            trips: Vec::new(),
            kind,
        };
        for (index, files) in group_indexed(entries, parse_trip_attr) {
            let item = format!("{id}/trip_point_{index}");
            let mut trip = Trip {
                index,
                ..Trip::default()
            };
            for (attr, name) in files {
                let rel = format!("{dir}/{name}");
                match attr {
                    TripAttr::Temp => trip.celsius = self.celsius(&rel, &item),
                    TripAttr::Hyst => trip.hyst_celsius = self.celsius(&rel, &item),
                    TripAttr::Type => trip.kind = self.text(&rel, &item),
                }
            }
            zone.trips.push(trip);
        }
        Some(zone)
    }

    /// `None` when the device's directory cannot be listed (one fault).
    fn cooling_device(&mut self, id: &str) -> Option<CoolingDevice> {
        let dir = format!("{}/{id}", self.base);
        self.attrs.list(&dir, id)?;
        let state = |t: &str| parse_u64("cooling state", t);
        Some(CoolingDevice {
            id: id.to_owned(),
            kind: self
                .text(&format!("{dir}/type"), id)
                .unwrap_or_else(|| id.to_owned()),
            cur_state: self.attrs.value(&format!("{dir}/cur_state"), id, state),
            max_state: self.attrs.value(&format!("{dir}/max_state"), id, state),
        })
    }
}

/// Reads every zone and cooling device. No thermal class, or one with nothing in it (most VMs),
/// is `Unavailable`.
fn read_thermal(root: &Root) -> Result<Sample<Snapshot>, CollectError> {
    let base = BASE;
    let entries = root.list(base).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CollectError::Unavailable(format!("{base} does not exist (no thermal framework)"))
        }
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut walk = Walk {
        attrs: Attrs::new(root, HINT),
        base,
    };
    let mut snapshot = Snapshot::default();
    let mut items = 0;
    for name in &entries {
        if is_numbered(name, "thermal_zone") {
            items += 1;
            snapshot.zones.extend(walk.zone(name));
        } else if is_numbered(name, "cooling_device") {
            items += 1;
            snapshot.cooling.extend(walk.cooling_device(name));
        }
    }
    // items that all failed are faults to see, not an absent source
    if items == 0 {
        return Err(CollectError::Unavailable(format!(
            "{base} has no thermal zones or cooling devices"
        )));
    }
    Ok(Sample {
        snapshot,
        faults: walk.attrs.faults,
    })
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &ZONE_TEMP,
        &ZONE_INFO,
        &ZONE_ENABLED,
        &TRIP_TEMP,
        &TRIP_HYST,
        &COOLING_STATE,
        &COOLING_MAX,
    ];

    fn render(&self, out: &mut Families) {
        for z in &self.zones {
            let labels = [z.id.as_str(), z.kind.as_str()];
            out.push(
                &ZONE_INFO,
                &[&z.id, &z.kind, z.policy.as_deref().unwrap_or("")],
                1.0,
            );
            if let Some(c) = z.celsius {
                out.push(&ZONE_TEMP, &labels, c);
            }
            if let Some(e) = z.enabled {
                out.push_bool(&ZONE_ENABLED, &labels, e);
            }
            for t in &z.trips {
                let index = t.index.to_string();
                let trip_labels = [
                    z.id.as_str(),
                    z.kind.as_str(),
                    index.as_str(),
                    t.kind.as_deref().unwrap_or(""),
                ];
                if let Some(c) = t.celsius {
                    out.push(&TRIP_TEMP, &trip_labels, c);
                }
                if let Some(c) = t.hyst_celsius {
                    out.push(&TRIP_HYST, &trip_labels, c);
                }
            }
        }
        for d in &self.cooling {
            let labels = [d.id.as_str(), d.kind.as_str()];
            if let Some(s) = d.cur_state {
                out.push(&COOLING_STATE, &labels, s as f64);
            }
            if let Some(s) = d.max_state {
                out.push(&COOLING_MAX, &labels, s as f64);
            }
        }
    }
}

/// The last fault-free walk, with each zone's `temp` and each cooling device's `cur_state`
/// kept open (parallel to `snapshot.zones` and `snapshot.cooling`; `None` where the walk found
/// no such file).
#[derive(Debug)]
struct Kept {
    snapshot: Snapshot,
    temps: Vec<Option<Attr>>,
    states: Vec<Option<Attr>>,
    rewalk: DirRewalk,
}

impl Kept {
    fn open(root: &Root, snapshot: Snapshot, rewalk: DirRewalk) -> Result<Self, ReadError> {
        let open = |id: &str, file: &str, present: bool| {
            present
                .then(|| root.open_attr(format!("{BASE}/{id}/{file}")))
                .transpose()
        };
        let temps = snapshot
            .zones
            .iter()
            .map(|z| open(&z.id, "temp", z.celsius.is_some()))
            .collect::<Result<_, _>>()?;
        let states = snapshot
            .cooling
            .iter()
            .map(|d| open(&d.id, "cur_state", d.cur_state.is_some()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            snapshot,
            temps,
            states,
            rewalk,
        })
    }

    /// Reads the kept files into `snapshot`; `false` when the class must be walked again (the
    /// walk then reads, and reports, whatever failed here).
    fn refresh(&mut self, root: &Root) -> bool {
        if !self.rewalk.may_serve(root) {
            return false;
        }
        for (z, a) in self.snapshot.zones.iter_mut().zip(&self.temps) {
            if let Some(a) = a {
                let Ok(Ok(c)) = a.read_str(parse_millicelsius) else {
                    return false;
                };
                z.celsius = Some(c);
            }
        }
        for (d, a) in self.snapshot.cooling.iter_mut().zip(&self.states) {
            if let Some(a) = a {
                let Ok(s) = a.read_u64() else {
                    return false;
                };
                d.cur_state = Some(s);
            }
        }
        true
    }
}

/// The thermal collector: a walk of the class, then rounds from kept files (see the module docs).
#[derive(Debug)]
pub struct Thermal {
    kept: Option<Kept>,
}

impl Thermal {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self { kept: None }
    }

    fn round(&mut self, root: &Root) -> Result<Sample<Snapshot>, CollectError> {
        if let Some(kept) = &mut self.kept
            && kept.refresh(root)
        {
            return Ok(Sample {
                snapshot: kept.snapshot.clone(),
                faults: Vec::new(),
            });
        }
        self.kept = None;
        let rewalk = DirRewalk::before_walk(root, BASE);
        let sample = read_thermal(root)?;
        if sample.faults.is_empty() {
            // a file that cannot be opened now is read, and reported, by the next walk
            self.kept = Kept::open(root, sample.snapshot.clone(), rewalk).ok();
        }
        Ok(sample)
    }
}

impl Collector for Thermal {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        self.round(&cx.root)
    }
}

#[cfg(test)]
#[path = "thermal_tests.rs"]
mod tests;
