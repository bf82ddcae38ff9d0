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

use std::io;
use std::time::Instant;

use super::attrs::{Attrs, group_indexed, is_numbered, split_indexed};
use super::{CollectError, Collector, Context, Sample};
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_i64, parse_u64};

const BASE: &str = "sys/class/thermal";

const HINT: &str = "sys/class/thermal is normally world-readable; check the mount options of /sys";

/// `[collectors.thermal]`: `enabled`, and `interval` (default 15s). Sampling interval.
pub type Config = crate::config::Basic<crate::config::Every15s>;

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

/// The thermal collector. Stateless: every round is a fresh walk.
#[derive(Debug)]
pub struct Thermal;

impl Thermal {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self
    }
}

impl Collector for Thermal {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        read_thermal(&cx.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::render_series as render;

    #[test]
    fn parses_values_and_names() {
        assert_eq!(parse_millicelsius("12376\n"), Ok(12.376));
        assert_eq!(parse_millicelsius("-5000"), Ok(-5.0));
        assert_eq!(
            parse_millicelsius("").unwrap_err().to_string(),
            "thermal temperature, line 1: not an integer: \"\""
        );
        assert_eq!(parse_mode("disabled\n"), Ok(false));
        assert_eq!(
            parse_mode("on").unwrap_err().to_string(),
            "thermal zone mode, line 1: expected enabled or disabled, got \"on\""
        );
        assert_eq!(
            parse_trip_attr("trip_point_0_temp"),
            Some((0, TripAttr::Temp))
        );
        assert_eq!(
            parse_trip_attr("trip_point_11_type"),
            Some((11, TripAttr::Type))
        );
        assert_eq!(
            parse_trip_attr("trip_point_2_hyst"),
            Some((2, TripAttr::Hyst))
        );
        for other in [
            "trip_point__temp",
            "trip_point_x_temp",
            "trip_point_1",
            "temp",
        ] {
            assert_eq!(parse_trip_attr(other), None, "{other}");
        }
    }

    #[test]
    fn reads_the_captured_thermal_tree() {
        // through the class symlinks, restored from the shared copy's flattened link files
        let (_dir, root) = crate::testutil::shared_tree("sysfs/node_exporter");
        let sample = read_thermal(&root).unwrap();
        assert!(sample.faults.is_empty(), "{:?}", sample.faults);
        assert_eq!(
            sample.snapshot,
            Snapshot {
                zones: vec![Zone {
                    id: "thermal_zone0".into(),
                    kind: "cpu-thermal".into(),
                    celsius: Some(12.376),
                    enabled: None,
                    policy: Some("step_wise".into()),
                    trips: Vec::new(),
                }],
                cooling: vec![CoolingDevice {
                    id: "cooling_device0".into(),
                    kind: "Processor".into(),
                    cur_state: Some(0),
                    max_state: Some(3),
                }],
            }
        );
        assert_eq!(
            render(&sample.snapshot),
            [
                "hostwatt_thermal_cooling_device_max_state{device=\"cooling_device0\",type=\"Processor\"} 3",
                "hostwatt_thermal_cooling_device_state{device=\"cooling_device0\",type=\"Processor\"} 0",
                "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"cpu-thermal\",policy=\"step_wise\"} 1",
                "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone0\",type=\"cpu-thermal\"} 12.376",
            ]
        );
    }

    #[test]
    fn follows_class_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sys/devices/virtual/thermal/thermal_zone3");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("type"), "x86_pkg_temp\n").unwrap();
        std::fs::write(target.join("temp"), "51000\n").unwrap();
        std::fs::create_dir_all(dir.path().join(BASE)).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/virtual/thermal/thermal_zone3",
            dir.path().join(BASE).join("thermal_zone3"),
        )
        .unwrap();
        let sample = read_thermal(&Root::new(dir.path())).unwrap();
        assert!(sample.faults.is_empty(), "{:?}", sample.faults);
        let z = &sample.snapshot.zones[0];
        assert_eq!(
            (z.id.as_str(), z.kind.as_str(), z.celsius),
            ("thermal_zone3", "x86_pkg_temp", Some(51.0))
        );
    }

    #[test]
    fn a_failing_zone_is_a_fault_alone() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join(BASE);
        let z0 = base.join("thermal_zone0");
        let z1 = base.join("thermal_zone1");
        std::fs::create_dir_all(&z0).unwrap();
        std::fs::write(z0.join("type"), "acpitz\n").unwrap();
        // a directory where a file should be: reading it fails with EISDIR, as close to an ACPI
        // zone's EIO as a plain tree (read by root) gets
        std::fs::create_dir_all(z0.join("temp")).unwrap();
        std::fs::write(z0.join("trip_point_0_temp"), "105000\n").unwrap();
        std::fs::write(z0.join("trip_point_0_type"), "critical\n").unwrap();
        std::fs::create_dir_all(&z1).unwrap();
        std::fs::write(z1.join("type"), "x86_pkg_temp\n").unwrap();
        std::fs::write(z1.join("temp"), "48000\n").unwrap();
        std::fs::write(z1.join("mode"), "enabled\n").unwrap();
        let sample = read_thermal(&Root::new(dir.path())).unwrap();
        let faults: Vec<_> = sample
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind()))
            .collect();
        assert_eq!(faults, [("thermal_zone0", "io")]);
        assert!(
            sample.faults[0]
                .error
                .to_string()
                .starts_with("sys/class/thermal/thermal_zone0/temp: "),
            "{}",
            sample.faults[0].error
        );
        assert_eq!(
            render(&sample.snapshot),
            [
                "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 105",
                "hostwatt_thermal_zone_enabled{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 1",
                "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"acpitz\",policy=\"\"} 1",
                "hostwatt_thermal_zone_info{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",policy=\"\"} 1",
                "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 48",
            ]
        );
    }

    #[test]
    fn no_or_empty_thermal_class_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert_eq!(read_thermal(&root).unwrap_err().kind(), "unavailable");
        std::fs::create_dir_all(dir.path().join(BASE)).unwrap();
        assert_eq!(read_thermal(&root).unwrap_err().kind(), "unavailable");
        // an entry that is not a directory is present but broken: one fault, not "unavailable"
        std::fs::write(dir.path().join(BASE).join("thermal_zone5"), "x\n").unwrap();
        let sample = read_thermal(&root).unwrap();
        let faults: Vec<_> = sample
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind()))
            .collect();
        assert_eq!(faults, [("thermal_zone5", "io")]);
        assert_eq!(sample.snapshot, Snapshot::default());
    }

    #[test]
    fn reads_the_edac_ecc_case_tree() {
        let root = Root::new(crate::testutil::case_dir("edac-ecc").join("root"));
        let sample = read_thermal(&root).unwrap();
        assert!(sample.faults.is_empty(), "{:?}", sample.faults);
        assert_eq!(
            render(&sample.snapshot),
            [
                "hostwatt_thermal_cooling_device_max_state{device=\"cooling_device0\",type=\"Processor\"} 3",
                "hostwatt_thermal_cooling_device_state{device=\"cooling_device0\",type=\"Processor\"} 0",
                "hostwatt_thermal_trip_point_hysteresis_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 0",
                "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 105",
                "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",trip=\"0\",trip_type=\"passive\"} 0",
                "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",trip=\"1\",trip_type=\"passive\"} 0",
                "hostwatt_thermal_zone_enabled{zone=\"thermal_zone0\",type=\"acpitz\"} 1",
                "hostwatt_thermal_zone_enabled{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 1",
                "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"acpitz\",policy=\"step_wise\"} 1",
                "hostwatt_thermal_zone_info{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",policy=\"step_wise\"} 1",
                "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\"} 27.8",
                "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 47",
            ]
        );
    }
}
