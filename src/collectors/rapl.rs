//! powercap / RAPL: energy and average power of every zone and sub-zone.
//!
//! Reads `sys/class/powercap/<control>:<n>[:<m>]/{name,energy_uj,max_energy_range_uj}` through
//! `Root`, for both `intel-rapl` (MSR) and `intel-rapl-mmio`; AMD Zen uses the same driver.
//! See Documentation/power/powercap/powercap.rst. Zones of other control types (`dtpm` on ARM
//! boards, ...) are not RAPL and have no `energy_uj`: the `powercap` collector reads those.
//!
//! `energy_uj` counts µJ from 0 to `max_energy_range_uj`, then restarts at 0. We export our own
//! joules counter from daemon start, corrected per zone for that wrap (`advance`); a counter that
//! goes down by more than a plausible wrap (a driver reload) skips the interval instead of adding
//! a bogus delta. `energy_uj` is root-only since Linux 5.10 (CVE-2020-8694): EACCES is
//! `PermissionDenied` with its fix logged once and `hostwatt_rapl_zone_readable 0`, where
//! node_exporter silently exports nothing.
//!
//! One domain can be exposed twice: client CPUs since Tiger Lake have the package both through
//! MSRs (`intel-rapl:0`, `package-0`) and through the processor_thermal device's MMIO
//! (`intel-rapl-mmio:0`, `package-0`), two readings of the same energy. Both are exported, but
//! only one is *counted* (`hostwatt_rapl_zone_counted`): the MSR zone when there is one, the
//! MMIO one otherwise. Sums of CPU power (the wall estimate) use counted zones only.

use std::collections::BTreeMap;
use std::io;
use std::time::Instant;

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::Root;
use crate::metrics::{Families, Family, Render};
use crate::parse::{ParseError, parse_u64};

const BASE: &str = "sys/class/powercap";

/// Above this, a "wrapped" delta is really a counter reset (a driver reload): no single RAPL zone
/// draws 5 kW.
const MAX_PLAUSIBLE_WATTS: f64 = 5000.0;

const HINT: &str = "energy_uj is root-only since Linux 5.10 (CVE-2020-8694): hostwatt needs \
                    CAP_DAC_READ_SEARCH (the packaged systemd unit grants it, docs/systemd.md) or root";

/// `[collectors.rapl]`: `enabled`, and `interval` (default 15s). Sampling interval; must stay well
/// under range / (2 × peak watts), about 7 minutes.
pub type Config = crate::config::Basic<crate::config::Every15s>;

const ENERGY: Family = Family::counter(
    "hostwatt_rapl_energy_joules_total",
    "Energy used by a RAPL zone since hostwatt started, corrected for counter wraparound",
    &["zone", "id"],
);
const POWER: Family = Family::gauge(
    "hostwatt_rapl_power_watts",
    "Average power of a RAPL zone over the last sampling interval",
    &["zone", "id"],
);
const SKIPPED: Family = Family::counter(
    "hostwatt_rapl_skipped_intervals_total",
    "Sampling intervals left out of the energy counter because the hardware counter reset (driver reload) or was out of range",
    &["zone", "id"],
);
const COUNTED: Family = Family::gauge(
    "hostwatt_rapl_zone_counted",
    "1 if the zone counts towards CPU power; 0 for a domain also read through another interface (MMIO when MSR has it), so each package is counted once",
    &["zone", "id", "interface"],
);
const READABLE: Family = Family::gauge(
    "hostwatt_rapl_zone_readable",
    "1 if the zone's energy_uj could be read; 0 e.g. when it is root-only (Linux >= 5.10) and hostwatt is not root",
    &["zone", "id"],
);

/// One zone as read from sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Directory name, e.g. `intel-rapl:0:0`.
    pub id: String,
    /// Zone name, e.g. `package-0`, `core`, `dram`, `psys`.
    pub name: String,
    /// `energy_uj`.
    pub energy_uj: u64,
    /// `max_energy_range_uj`, when readable.
    pub max_uj: Option<u64>,
}

/// Whether a powercap entry name is a zone (`intel-rapl:0`, `intel-rapl-mmio:0:1`), not a
/// control type (`intel-rapl`).
pub fn parse_zone_id(name: &str) -> Result<Option<()>, ParseError> {
    let Some((control, rest)) = name.split_once(':') else {
        return Ok(None);
    };
    let valid = !control.is_empty()
        && rest
            .split(':')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(Some(()))
    } else {
        Err(ParseError::at(
            "powercap zone id",
            1,
            format!("malformed zone {name:?}"),
        ))
    }
}

/// Whether a powercap entry belongs to RAPL: its control type is `intel-rapl*` (`intel-rapl`,
/// `intel-rapl-mmio`, and whatever interface the driver adds under that prefix).
pub fn is_rapl(name: &str) -> bool {
    name.split(':')
        .next()
        .unwrap_or(name)
        .starts_with("intel-rapl")
}

/// µJ used between two readings of a counter that counts 0..=max, then restarts at 0.
/// `None` when this can't be known (max unreadable, or a reading above max): the caller skips
/// the interval rather than export a negative value or a false counter reset.
pub fn advance(prev_uj: u64, now_uj: u64, max_uj: Option<u64>) -> Option<u64> {
    if now_uj >= prev_uj {
        return Some(now_uj - prev_uj);
    }
    let max = max_uj.filter(|&max| prev_uj <= max && now_uj <= max)?;
    Some(max - prev_uj + now_uj + 1) // at most one wrap per interval: the interval is chosen so
}

/// One walk of the powercap tree.
#[derive(Debug, Default)]
struct Walk {
    zones: Vec<Reading>,
    faults: Vec<Fault>,
    /// (name, id) of zones whose energy_uj could not be read.
    unreadable: Vec<(String, String)>,
}

/// Reads every zone; unreadable zones become faults, the rest readings.
fn read_zones(root: &Root) -> Result<Walk, CollectError> {
    let entries = root.list(BASE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CollectError::Unavailable(format!("{BASE} does not exist (no powercap driver)"))
        }
        _ => CollectError::from_read(e, HINT),
    })?;
    let mut walk = Walk::default();
    for id in entries.into_iter().filter(|id| is_rapl(id)) {
        match parse_zone_id(&id) {
            Ok(Some(())) => {}
            Ok(None) => continue,
            Err(e) => {
                walk.faults.push(Fault {
                    item: id.clone(),
                    error: CollectError::parse(format!("{BASE}/{id}"), e),
                });
                continue;
            }
        }
        let dir = format!("{BASE}/{id}");
        let name = root
            .read_trimmed(format!("{dir}/name"))
            .unwrap_or_else(|_| id.clone());
        let energy = root
            .read_trimmed(format!("{dir}/energy_uj"))
            .map_err(|e| CollectError::from_read(e, HINT));
        let energy = energy.and_then(|t| {
            parse_u64("energy_uj", &t)
                .map_err(|e| CollectError::parse(format!("{dir}/energy_uj"), e))
        });
        match energy {
            Ok(energy_uj) => {
                let max_uj = root.read_u64(format!("{dir}/max_energy_range_uj")).ok();
                walk.zones.push(Reading {
                    id,
                    name,
                    energy_uj,
                    max_uj,
                });
            }
            Err(error) => {
                walk.unreadable.push((name, id.clone()));
                walk.faults.push(Fault { item: id, error });
            }
        }
    }
    Ok(walk)
}

#[derive(Debug, Clone)]
struct Acc {
    name: String,
    last_uj: u64,
    at: Instant,
    joules_total: f64,
    watts: Option<f64>,
    skipped: u64,
}

/// The RAPL collector: per-zone accumulators across rounds.
#[derive(Debug)]
pub struct Rapl {
    zones: BTreeMap<String, Acc>,
}

impl Rapl {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self {
            zones: BTreeMap::new(),
        }
    }

    /// Folds this round's `readings` into the counters. A zone whose read failed this round
    /// (`failed`, by id) keeps its baseline, so the next good read counts the energy spent
    /// meanwhile; its rate is unknown for the round.
    fn fold(&mut self, readings: &[Reading], failed: &[&str], at: Instant) {
        // a vanished zone drops out, and its series with it
        self.zones.retain(|id, _| {
            readings.iter().any(|z| &z.id == id) || failed.contains(&id.as_str())
        });
        for id in failed {
            if let Some(acc) = self.zones.get_mut(*id) {
                acc.watts = None;
            }
        }
        for z in readings {
            let Some(acc) = self.zones.get_mut(&z.id) else {
                let first = Acc {
                    name: z.name.clone(),
                    last_uj: z.energy_uj,
                    at,
                    joules_total: 0.0,
                    watts: None,
                    skipped: 0,
                };
                self.zones.insert(z.id.clone(), first);
                continue;
            };
            let dt = at.saturating_duration_since(acc.at).as_secs_f64();
            let delta = advance(acc.last_uj, z.energy_uj, z.max_uj)
                .filter(|&d| dt > 0.0 && (d as f64 / 1e6) / dt <= MAX_PLAUSIBLE_WATTS);
            match delta {
                Some(d_uj) => {
                    let joules = d_uj as f64 / 1e6;
                    acc.joules_total += joules;
                    acc.watts = Some(joules / dt);
                }
                None => {
                    acc.skipped += 1;
                    acc.watts = None;
                }
            }
            acc.last_uj = z.energy_uj;
            acc.at = at;
        }
    }
}

/// Interfaces in order of preference when a domain is read through several.
const PREFERENCE: [&str; 2] = ["msr", "mmio"];

/// The interface of a zone id: `intel-rapl:0` → `msr`, `intel-rapl-mmio:0:1` → `mmio`.
pub fn interface(id: &str) -> &str {
    match id.split(':').next().unwrap_or(id) {
        "intel-rapl" => "msr",
        "intel-rapl-mmio" => "mmio",
        other => other,
    }
}

/// Whether a zone on `interface` measuring `domain` counts: no other interface earlier in
/// [`PREFERENCE`] has the same domain.
fn counted<'a>(
    interface: &str,
    domain: &[String],
    all: impl Iterator<Item = &'a (String, Vec<String>)>,
) -> bool {
    let rank = |i: &str| PREFERENCE.iter().position(|p| *p == i);
    let Some(mine) = rank(interface) else {
        return true;
    };
    !all.into_iter()
        .any(|(i, d)| d == domain && rank(i).is_some_and(|r| r < mine))
}

impl Rapl {
    /// Zone id → (interface, domain), the domain being the zone names from the top-level zone
    /// down (`["package-0", "core"]` for `intel-rapl:0:0`), which is what two interfaces share.
    fn domains(&self) -> BTreeMap<String, (String, Vec<String>)> {
        self.zones
            .keys()
            .map(|id| {
                let parts: Vec<&str> = id.split(':').collect();
                let domain = (2..=parts.len())
                    .map(|n| {
                        let up = parts[..n].join(":");
                        self.zones.get(&up).map_or(up, |a| a.name.clone())
                    })
                    .collect();
                (id.clone(), (interface(id).to_owned(), domain))
            })
            .collect()
    }
}

/// What a RAPL round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the zones were read: the end of the window their `watts` average over.
    pub at: Option<Instant>,
    /// Readable zones.
    pub zones: Vec<Zone>,
    /// Zones whose energy_uj could not be read, as (name, id).
    pub unreadable: Vec<(String, String)>,
}

/// One zone's exported values.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Sysfs zone id.
    pub id: String,
    /// Zone name.
    pub name: String,
    /// Interface the zone is read through: `msr` (`intel-rapl`), `mmio` (`intel-rapl-mmio`),
    /// else the powercap control type's name.
    pub interface: String,
    /// Whether the zone counts towards CPU power: false when the same domain is also read
    /// through a preferred interface (see the module docs).
    pub counted: bool,
    /// Joules since hostwatt started.
    pub joules_total: f64,
    /// Watts over the last interval; unknown on the first round and after a skip.
    pub watts: Option<f64>,
    /// Intervals skipped.
    pub skipped: u64,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&ENERGY, &POWER, &SKIPPED, &COUNTED, &READABLE];
    fn render(&self, out: &mut Families) {
        for z in &self.zones {
            let labels = [z.name.as_str(), z.id.as_str()];
            out.push(&ENERGY, &labels, z.joules_total);
            if let Some(w) = z.watts {
                out.push(&POWER, &labels, w);
            }
            out.push(&SKIPPED, &labels, z.skipped as f64);
            out.push_bool(&COUNTED, &[&z.name, &z.id, &z.interface], z.counted);
            out.push(&READABLE, &labels, 1.0);
        }
        for (name, id) in &self.unreadable {
            out.push(&READABLE, &[name, id], 0.0);
        }
    }
}

impl Collector for Rapl {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let Walk {
            zones: readings,
            mut faults,
            unreadable,
        } = read_zones(&cx.root)?;
        if readings.is_empty()
            && !faults.is_empty()
            && faults.iter().all(|f| f.error.kind() == "permission")
        {
            // no zone readable at all: the round failed, and says why once
            return Err(faults.swap_remove(0).error);
        }
        let failed: Vec<&str> = faults.iter().map(|f| f.item.as_str()).collect();
        self.fold(&readings, &failed, at);
        let domains = self.domains();
        let zones = self
            .zones
            .iter()
            .map(|(id, a)| {
                let (interface, domain) = &domains[id];
                Zone {
                    id: id.clone(),
                    name: a.name.clone(),
                    counted: counted(interface, domain, domains.values()),
                    interface: interface.clone(),
                    joules_total: a.joules_total,
                    watts: a.watts,
                    skipped: a.skipped,
                }
            })
            .collect();
        Ok(Sample {
            snapshot: Snapshot {
                at: Some(at),
                zones,
                unreadable,
            },
            faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counter_wraps_at_max_range() {
        assert_eq!(advance(100, 250, Some(1000)), Some(150));
        assert_eq!(advance(900, 99, Some(999)), Some(199)); // 900..=999 is 100, 0..=99 is 99 more
        assert_eq!(advance(900, 99, None), None);
        assert_eq!(
            advance(1200, 5, Some(1000)),
            None,
            "reading above max is not a wrap"
        );
    }

    proptest! {
        #[test]
        fn advance_recovers_any_single_wrap(max in 1u64..u64::MAX / 2, prev_frac in 0.0f64..1.0, d_frac in 0.0f64..1.0) {
            let prev = (max as f64 * prev_frac) as u64;
            let d = (max as f64 * d_frac) as u64;
            let now = ((prev as u128 + d as u128) % (max as u128 + 1)) as u64;
            prop_assert_eq!(advance(prev, now, Some(max)), Some(d));
        }
    }

    #[test]
    fn parses_zone_ids() {
        assert_eq!(parse_zone_id("intel-rapl"), Ok(None));
        assert_eq!(parse_zone_id("intel-rapl:0:1"), Ok(Some(())));
        assert_eq!(parse_zone_id("intel-rapl-mmio:0"), Ok(Some(())));
        assert_eq!(
            parse_zone_id("intel-rapl:a").unwrap_err().to_string(),
            "powercap zone id, line 1: malformed zone \"intel-rapl:a\""
        );
    }

    #[test]
    fn claims_only_intel_rapl_control_types() {
        for rapl in ["intel-rapl:0", "intel-rapl-mmio:0:1", "intel-rapl"] {
            assert!(is_rapl(rapl), "{rapl}");
        }
        for other in ["dtpm:0", "dtpm", "idle-injection:0", "arm-scmi:0"] {
            assert!(!is_rapl(other), "{other}");
        }
    }

    #[test]
    fn a_dtpm_tree_is_no_rapl_zone() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("sys/class/powercap/dtpm:0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("name"), "soc\n").unwrap();
        std::fs::write(zone.join("power_uw"), "1200000\n").unwrap();
        std::fs::create_dir_all(dir.path().join("sys/class/powercap/dtpm")).unwrap();
        let walk = read_zones(&Root::new(dir.path())).unwrap();
        assert!(walk.zones.is_empty(), "{:?}", walk.zones);
        assert!(walk.faults.is_empty(), "{:?}", walk.faults);
        assert!(walk.unreadable.is_empty(), "{:?}", walk.unreadable);
    }

    fn reading(uj: u64) -> Reading {
        Reading {
            id: "intel-rapl:0".into(),
            name: "package-0".into(),
            energy_uj: uj,
            max_uj: Some(262_143_328_850),
        }
    }

    #[test]
    fn reads_the_captured_powercap_trees() {
        for tree in ["sysfs/node_exporter", "sysfs/kepler"] {
            let walk = read_zones(&crate::testutil::shared_root(tree)).unwrap();
            let pkg = walk
                .zones
                .iter()
                .find(|z| z.id == "intel-rapl:0")
                .expect("package zone");
            assert_eq!(
                (pkg.name.as_str(), pkg.energy_uj, pkg.max_uj),
                ("package-0", 240_422_366_267, Some(262_143_328_850))
            );
            let core = walk
                .zones
                .iter()
                .find(|z| z.id == "intel-rapl:0:0")
                .expect("core zone");
            assert_eq!(
                (core.name.as_str(), core.energy_uj),
                ("core", 118_821_284_256)
            );
        }
        let kepler = read_zones(&crate::testutil::shared_root("sysfs/kepler")).unwrap();
        assert!(kepler.zones.iter().any(|z| z.id == "intel-rapl-mmio:0"));
        let malformed: Vec<_> = kepler
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind()))
            .collect();
        assert_eq!(malformed, [("intel-rapl:a", "parse")]);
    }

    #[test]
    fn missing_powercap_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_zones(&Root::new(dir.path())).unwrap_err();
        assert_eq!(err.kind(), "unavailable");
    }

    #[test]
    fn a_failed_read_keeps_the_baseline_and_the_next_read_counts_the_energy_spent_meanwhile() {
        let mut r = Rapl::new(Config::default());
        let t0 = Instant::now();
        r.fold(&[reading(1_000_000)], &[], t0);
        // EIO, or a file caught mid-write: no reading this round
        r.fold(&[], &["intel-rapl:0"], t0 + Duration::from_secs(10));
        let acc = &r.zones["intel-rapl:0"];
        assert_eq!((acc.watts, acc.joules_total), (None, 0.0));
        r.fold(&[reading(101_000_000)], &[], t0 + Duration::from_secs(20));
        let acc = &r.zones["intel-rapl:0"];
        assert!((acc.joules_total - 100.0).abs() < 1e-9, "{}", acc.joules_total);
        assert!((acc.watts.unwrap() - 5.0).abs() < 1e-9, "{:?}", acc.watts);
        // a zone that is gone (neither read nor failed) drops out
        r.fold(&[], &[], t0 + Duration::from_secs(30));
        assert!(r.zones.is_empty());
    }

    #[test]
    fn computes_watts_across_a_wrap_and_skips_a_reset() {
        let mut r = Rapl::new(Config::default());
        let t0 = Instant::now();
        r.fold(&[reading(262_143_000_000)], &[], t0);
        assert_eq!(
            r.zones["intel-rapl:0"].watts, None,
            "no rate on the first round"
        );
        // wraps: 328_850 + 1 + 149_671_149 µJ = 150 J in 10 s
        r.fold(&[reading(149_671_149)], &[], t0 + Duration::from_secs(10));
        let acc = &r.zones["intel-rapl:0"];
        assert!((acc.watts.unwrap() - 15.0).abs() < 1e-9, "{:?}", acc.watts);
        assert!((acc.joules_total - 150.0).abs() < 1e-9);
        // driver reload: back to a small value far from max → a "wrap" of 262 kJ in 10 s is implausible
        r.fold(&[reading(1_000)], &[], t0 + Duration::from_secs(20));
        let acc = &r.zones["intel-rapl:0"];
        assert_eq!((acc.watts, acc.skipped), (None, 1));
        assert!(
            (acc.joules_total - 150.0).abs() < 1e-9,
            "reset adds nothing"
        );
    }

    /// Runs one of a real-world case's scripts on `dir` (a copy of the case folder).
    #[allow(clippy::disallowed_methods)] // the case's own script, not a program hostwatt runs
    fn run_case_script(case: &std::path::Path, script: &str, dir: &std::path::Path) {
        let status = std::process::Command::new("sh")
            .arg(case.join(script))
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "{script}: {status}");
    }

    /// Real-world case `rapl-msr-mmio-no-psys`: package-0 through MSR (3.93 W) and MMIO
    /// (3.78 W) is one CPU. Counters moved by the case's setup.sh and during.sh on a copy.
    #[tokio::test]
    async fn one_package_through_msr_and_mmio_is_counted_once() {
        let case = crate::testutil::shared_fixture("real-world/rapl-msr-mmio-no-psys");
        let dir = tempfile::tempdir().unwrap();
        crate::testutil::overlay(&case, dir.path());
        run_case_script(&case, "setup.sh", dir.path());
        let cx = Context {
            root: Root::new(dir.path().join("root")),
            runner: crate::host::command::Runner::replay(Vec::new()),
        };
        let mut rapl = Rapl::new(Config::default());
        let t0 = Instant::now();
        rapl.sample(&cx, t0).await.unwrap();
        run_case_script(&case, "during.sh", dir.path());
        let s = rapl.sample(&cx, t0 + Duration::from_secs(1)).await.unwrap();
        assert!(s.faults.is_empty(), "{:?}", s.faults);
        let got: Vec<(&str, &str, &str, bool, f64)> = s
            .snapshot
            .zones
            .iter()
            .map(|z| {
                let w = (z.watts.unwrap() * 1000.0).round() / 1000.0;
                (
                    z.id.as_str(),
                    z.name.as_str(),
                    z.interface.as_str(),
                    z.counted,
                    w,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("intel-rapl-mmio:0", "package-0", "mmio", false, 3.78),
                ("intel-rapl:0", "package-0", "msr", true, 3.93),
                ("intel-rapl:0:0", "core", "msr", true, 0.84),
                ("intel-rapl:0:1", "uncore", "msr", true, 0.21),
            ]
        );
        let counted: Vec<(String, f64)> = s
            .snapshot
            .zones
            .iter()
            .filter(|z| z.counted)
            .map(|z| (z.name.clone(), z.watts.unwrap()))
            .collect();
        let (watts, rule) = crate::estimate::wall::cpu_watts(&counted).unwrap();
        assert_eq!(rule, "package+dram");
        assert!((watts - 3.93).abs() < 1e-9, "{watts}");
        let series = crate::testutil::render_series(&s.snapshot);
        for line in [
            "hostwatt_rapl_zone_counted{zone=\"package-0\",id=\"intel-rapl-mmio:0\",interface=\"mmio\"} 0",
            "hostwatt_rapl_zone_counted{zone=\"package-0\",id=\"intel-rapl:0\",interface=\"msr\"} 1",
        ] {
            assert!(
                series.iter().any(|l| l == line),
                "{line} not in {series:#?}"
            );
        }
    }

    #[test]
    fn mmio_counts_when_msr_lacks_the_domain() {
        let mut r = Rapl::new(Config::default());
        let at = Instant::now();
        let z = |id: &str, name: &str| Reading {
            id: id.into(),
            name: name.into(),
            energy_uj: 0,
            max_uj: None,
        };
        r.fold(
            &[
                z("intel-rapl:0", "package-0"),
                z("intel-rapl:0:0", "core"),
                z("intel-rapl-mmio:0", "package-0"),
                z("intel-rapl-mmio:0:0", "core"),
                z("intel-rapl-mmio:1", "package-1"),
                z("intel-rapl:1", "psys"),
            ],
            &[],
            at,
        );
        let d = r.domains();
        let counted: Vec<(&str, bool)> = d
            .iter()
            .map(|(id, (i, dom))| (id.as_str(), counted(i, dom, d.values())))
            .collect();
        assert_eq!(
            counted,
            [
                ("intel-rapl-mmio:0", false),
                ("intel-rapl-mmio:0:0", false),
                ("intel-rapl-mmio:1", true),
                ("intel-rapl:0", true),
                ("intel-rapl:0:0", true),
                ("intel-rapl:1", true),
            ]
        );
    }
}
