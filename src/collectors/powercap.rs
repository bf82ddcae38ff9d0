//! powercap zones that are not RAPL: power and power limits of other control types, such as DTPM
//! (`dtpm`, the Dynamic Thermal Power Management tree of ARM SoCs) or `arm-scmi`.
//!
//! Reads, through `Root`, `sys/class/powercap/<control>:<n>[:<m>...]/` for every control type
//! but `intel-rapl*` (the `rapl` collector's):
//! - `name` (the zone, e.g. `soc`, `cpu0-cpu3`); the directory name when unreadable;
//! - `power_uw` (current power, µW) and `max_power_range_uw` (its range, µW), when the driver has
//!   them: both are optional in the ABI, and DTPM has power but no `energy_uj`;
//! - `constraint_<N>_{name,power_limit_uw,max_power_uw}`: the limits set on the zone.
//!
//! See Documentation/power/powercap/powercap.rst and Documentation/ABI/testing/sysfs-class-powercap.
//! Values are exported in watts. Zones nest (`dtpm:0:1` is inside `dtpm:0`) and a parent's power
//! includes its children's, so summing every zone counts power twice; `id` shows the nesting.

use std::io;
use std::time::Instant;

use super::attrs::{group_indexed, split_indexed};
use super::rapl::{is_rapl, parse_zone_id};
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::parse_u64;

const BASE: &str = "sys/class/powercap";

const HINT: &str = "powercap sysfs files are normally world-readable: check the mount of sys \
                    (or /host/sys in a container) and any LSM policy";

/// `[collectors.powercap]`: `enabled`, and `interval` (default 15s).
pub type Config = super::Basic<super::Every15s>;

const ZONE: &[&str] = &["control", "zone", "id"];
const CONSTRAINT: &[&str] = &["control", "zone", "id", "constraint", "name"];

const POWER: Family = Family::gauge(
    "hostwatt_powercap_power_watts",
    "Current power of a non-RAPL powercap zone (power_uw); a parent zone includes its children",
    ZONE,
);
const MAX_POWER: Family = Family::gauge(
    "hostwatt_powercap_max_power_range_watts",
    "Range of a non-RAPL powercap zone's power reading (max_power_range_uw)",
    ZONE,
);
const LIMIT: Family = Family::gauge(
    "hostwatt_powercap_constraint_power_limit_watts",
    "Power limit of a powercap zone constraint (constraint_N_power_limit_uw)",
    CONSTRAINT,
);
const LIMIT_MAX: Family = Family::gauge(
    "hostwatt_powercap_constraint_max_power_watts",
    "Highest power limit a powercap zone constraint accepts (constraint_N_max_power_uw)",
    CONSTRAINT,
);

/// µW → W.
fn watts(uw: u64) -> f64 {
    uw as f64 / 1e6
}

/// One constraint of a zone: `constraint_<index>_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// N of `constraint_N_*`.
    pub index: u32,
    /// `constraint_N_name`, e.g. `power_limit`; empty when absent.
    pub name: String,
    /// `constraint_N_power_limit_uw`, W.
    pub limit_watts: Option<f64>,
    /// `constraint_N_max_power_uw`, W.
    pub max_watts: Option<f64>,
}

/// One zone as read from sysfs.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Control type, e.g. `dtpm`.
    pub control: String,
    /// Directory name, e.g. `dtpm:0:1`.
    pub id: String,
    /// `name`, e.g. `cpu0-cpu3`.
    pub name: String,
    /// `power_uw`, W.
    pub watts: Option<f64>,
    /// `max_power_range_uw`, W.
    pub max_watts: Option<f64>,
    /// Constraints in index order.
    pub constraints: Vec<Constraint>,
}

/// What a powercap round publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Non-RAPL zones, in directory order.
    pub zones: Vec<Zone>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&POWER, &MAX_POWER, &LIMIT, &LIMIT_MAX];
    fn render(&self, out: &mut Families) {
        for z in &self.zones {
            let zone = [z.control.as_str(), z.name.as_str(), z.id.as_str()];
            for (family, v) in [(&POWER, z.watts), (&MAX_POWER, z.max_watts)] {
                if let Some(v) = v {
                    out.push(family, &zone, v);
                }
            }
            for c in &z.constraints {
                let index = c.index.to_string();
                let labels = [zone[0], zone[1], zone[2], index.as_str(), c.name.as_str()];
                for (family, v) in [(&LIMIT, c.limit_watts), (&LIMIT_MAX, c.max_watts)] {
                    if let Some(v) = v {
                        out.push(family, &labels, v);
                    }
                }
            }
        }
    }
}

/// Reads one optional µW file: missing → `None`; unreadable or garbage → a fault and `None`, so
/// one bad file hides nothing else of the zone.
fn read_uw(root: &Root, dir: &str, file: &str, faults: &mut Vec<Fault>) -> Option<f64> {
    let rel = format!("{dir}/{file}");
    let parsed = match root.read_optional(&rel) {
        Ok(None) => return None,
        Ok(Some(text)) => {
            parse_u64("powercap µW value", &text).map_err(|e| CollectError::parse(&rel, e))
        }
        Err(e) => Err(CollectError::from_read(e, HINT)),
    };
    parsed
        .map(watts)
        .map_err(|error| {
            faults.push(Fault {
                item: rel
                    .trim_start_matches(BASE)
                    .trim_start_matches('/')
                    .to_owned(),
                error,
            })
        })
        .ok()
}

/// Reads one zone directory `id` of control type `control`.
fn read_zone(root: &Root, control: &str, id: &str, faults: &mut Vec<Fault>) -> Zone {
    let dir = format!("{BASE}/{id}");
    let name = root
        .read_trimmed(format!("{dir}/name"))
        .unwrap_or_else(|_| id.to_owned());
    let files = root.list(&dir).unwrap_or_default();
    let constraints = group_indexed(files, |f| {
        split_indexed(f, "constraint_").map(|(n, attr)| (n, attr.to_owned()))
    })
    .into_iter()
    .map(|(index, attrs)| {
        let has = |a: &str| attrs.iter().any(|(attr, _)| attr == a);
        let uw = |a: &str, faults: &mut Vec<Fault>| {
            has(a)
                .then(|| read_uw(root, &dir, &format!("constraint_{index}_{a}"), faults))
                .flatten()
        };
        Constraint {
            index,
            name: root
                .read_optional(format!("{dir}/constraint_{index}_name"))
                .ok()
                .flatten()
                .unwrap_or_default(),
            limit_watts: uw("power_limit_uw", faults),
            max_watts: uw("max_power_uw", faults),
        }
    })
    .collect();
    Zone {
        control: control.to_owned(),
        id: id.to_owned(),
        name,
        watts: read_uw(root, &dir, "power_uw", faults),
        max_watts: read_uw(root, &dir, "max_power_range_uw", faults),
        constraints,
    }
}

/// Reads every non-RAPL zone. No `sys/class/powercap` is `Unavailable`; a malformed zone name is
/// a fault and the other zones are still read.
pub fn read_zones(root: &Root) -> Result<(Snapshot, Vec<Fault>), CollectError> {
    let entries = root.list(BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CollectError::Unavailable(format!("{BASE} does not exist (no powercap driver)"))
        }
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut faults = Vec::new();
    let mut zones = Vec::new();
    for id in entries.into_iter().filter(|id| !is_rapl(id)) {
        match parse_zone_id(&id) {
            Ok(None) => {} // a control type's own directory (`dtpm`)
            Ok(Some(())) => {
                let control = id.split(':').next().unwrap_or_default().to_owned();
                zones.push(read_zone(root, &control, &id, &mut faults));
            }
            Err(e) => faults.push(Fault {
                item: id.clone(),
                error: CollectError::parse(format!("{BASE}/{id}"), e),
            }),
        }
    }
    Ok((Snapshot { zones }, faults))
}

/// The powercap collector: stateless, every value is read fresh.
#[derive(Debug)]
pub struct Powercap;

impl Powercap {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self
    }
}

impl Collector for Powercap {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        _at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let (snapshot, faults) = read_zones(&cx.root)?;
        Ok(Sample { snapshot, faults })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::render_series as render;

    /// A DTPM hierarchy as an ARM board shows it: the `dtpm` control type, a `soc` zone and two
    /// CPU-cluster children, beside an RAPL zone that is not this collector's.
    fn dtpm_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join(BASE);
        let zone = |id: &str, files: &[(&str, &str)]| {
            let d = base.join(id);
            std::fs::create_dir_all(&d).unwrap();
            for (f, v) in files {
                std::fs::write(d.join(f), format!("{v}\n")).unwrap();
            }
        };
        zone("dtpm", &[("enabled", "1")]);
        zone(
            "dtpm:0",
            &[
                ("name", "soc"),
                ("power_uw", "3250000"),
                ("max_power_range_uw", "9000000"),
                ("constraint_0_name", "power_limit"),
                ("constraint_0_power_limit_uw", "6000000"),
                ("constraint_0_max_power_uw", "9000000"),
            ],
        );
        zone(
            "dtpm:0:0",
            &[
                ("name", "cpu0-cpu3"),
                ("power_uw", "750000"),
                ("constraint_0_name", "power_limit"),
                ("constraint_0_power_limit_uw", "2000000"),
            ],
        );
        zone(
            "dtpm:0:1",
            &[("name", "cpu4-cpu5"), ("power_uw", "garbage")],
        );
        zone(
            "intel-rapl:0",
            &[("name", "package-0"), ("energy_uj", "1000")],
        );
        dir
    }

    #[test]
    fn reads_a_dtpm_hierarchy_in_watts() {
        let tree = dtpm_tree();
        let (snap, faults) = read_zones(&Root::new(tree.path())).unwrap();
        let ids: Vec<&str> = snap.zones.iter().map(|z| z.id.as_str()).collect();
        assert_eq!(ids, ["dtpm:0", "dtpm:0:0", "dtpm:0:1"]);
        let soc = &snap.zones[0];
        assert_eq!((soc.control.as_str(), soc.name.as_str()), ("dtpm", "soc"));
        assert_eq!((soc.watts, soc.max_watts), (Some(3.25), Some(9.0)));
        assert_eq!(
            soc.constraints,
            [Constraint {
                index: 0,
                name: "power_limit".into(),
                limit_watts: Some(6.0),
                max_watts: Some(9.0),
            }]
        );
        assert_eq!(snap.zones[1].watts, Some(0.75));
        assert_eq!(snap.zones[1].constraints[0].max_watts, None);
        // one garbled file is one fault; the zone and its siblings stay
        assert_eq!(snap.zones[2].watts, None);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].item, "dtpm:0:1/power_uw");
        assert_eq!(faults[0].error.kind(), "parse");
    }

    #[test]
    fn renders_zone_and_constraint_series() {
        let tree = dtpm_tree();
        let (snap, _) = read_zones(&Root::new(tree.path())).unwrap();
        let series = render(&snap);
        for want in [
            r#"hostwatt_powercap_power_watts{control="dtpm",zone="cpu0-cpu3",id="dtpm:0:0"} 0.75"#,
            r#"hostwatt_powercap_max_power_range_watts{control="dtpm",zone="soc",id="dtpm:0"} 9"#,
            r#"hostwatt_powercap_constraint_power_limit_watts{control="dtpm",zone="soc",id="dtpm:0",constraint="0",name="power_limit"} 6"#,
        ] {
            assert!(series.iter().any(|l| l == want), "no {want} in {series:#?}");
        }
        // power_uw garbled: no series rather than a 0
        assert!(
            !series.iter().any(|l| l.contains("cpu4-cpu5")),
            "{series:#?}"
        );
        assert!(!series.iter().any(|l| l.contains("intel-rapl")));
    }

    #[test]
    fn no_powercap_class_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_zones(&Root::new(dir.path())).unwrap_err();
        assert_eq!(err.kind(), "unavailable");
    }
}
