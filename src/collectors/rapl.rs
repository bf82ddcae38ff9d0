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
//!
//! After a walk without faults, each zone's `energy_uj` is kept open and read with pread at
//! offset 0; `name` and `max_energy_range_uj` come from the walk, which runs again when the
//! powercap listing changes, a kept read fails, or `WALK_EVERY` rounds pass.

use std::collections::BTreeMap;
use std::io;
use std::time::Instant;

use super::rewalk::DirRewalk;
use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::root::{Attr, ReadError, Root};
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
pub type Config = super::Basic<super::Every15s>;

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

/// The readings of the last fault-free walk, with each zone's `energy_uj` kept open.
#[derive(Debug)]
struct Kept {
    readings: Vec<Reading>,
    energy: Vec<Attr>,
    rewalk: DirRewalk,
}

impl Kept {
    fn open(root: &Root, readings: Vec<Reading>, rewalk: DirRewalk) -> Result<Self, ReadError> {
        let energy = readings
            .iter()
            .map(|z| root.open_attr(format!("{BASE}/{}/energy_uj", z.id)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            readings,
            energy,
            rewalk,
        })
    }

    /// Reads the kept counters into `readings`; `false` when the tree must be walked again (the
    /// walk then reads, and reports, whatever failed here).
    fn refresh(&mut self, root: &Root) -> bool {
        self.rewalk.may_serve(root)
            && self
                .readings
                .iter_mut()
                .zip(&self.energy)
                .all(|(z, a)| a.read_u64().map(|uj| z.energy_uj = uj).is_ok())
    }
}

/// This round's walk: from the kept counters when they may serve it, else read afresh (and
/// kept when fault-free).
fn walk(kept: &mut Option<Kept>, root: &Root) -> Result<Walk, CollectError> {
    if let Some(k) = kept
        && k.refresh(root)
    {
        return Ok(Walk {
            zones: k.readings.clone(),
            ..Walk::default()
        });
    }
    *kept = None;
    let rewalk = DirRewalk::before_walk(root, BASE);
    let walk = read_zones(root)?;
    if walk.faults.is_empty() {
        // a file that cannot be opened now is read, and reported, by the next walk
        *kept = Kept::open(root, walk.zones.clone(), rewalk).ok();
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
    kept: Option<Kept>,
}

impl Rapl {
    /// A collector of the section `_cfg`: it holds only what the registration reads (`enabled`,
    /// `interval`).
    pub fn new(_cfg: Config) -> Self {
        Self {
            zones: BTreeMap::new(),
            kept: None,
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
        } = walk(&mut self.kept, &cx.root)?;
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
#[path = "rapl_tests.rs"]
mod tests;
