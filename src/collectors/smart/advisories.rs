//! Drive advisories: is a disk SMR, what class is it (desktop / NAS / enterprise), and has it
//! run beyond its rated duty. The knowledge is data in `drives.toml` beside this file, each
//! row with its public source; this module only matches it.
//!
//! SMR: a family smartctl's drive database names "(SMR)" is trusted first (`drivedb`), then the
//! model table (`table`). Solid-state devices (rotation rate 0, NVMe) are never SMR and have
//! class `ssd` with no duty rating. Whether an SMR disk sits in a ZFS pool is a join with the
//! ZFS collector's vdev → disk map, made in queries, not here.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The embedded table.
pub const DRIVES_TOML: &str = include_str!("drives.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmrRule {
    model: String,
    #[allow(dead_code)] // documentation for readers of the table
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassRule {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    model: Option<String>,
    class: Class,
    #[allow(dead_code)]
    source: String,
}

/// Rated duty of a class.
#[derive(Debug, Clone, Copy)]
pub struct Duty {
    /// Power-on hours per year the drive is designed for.
    pub hours_per_year: u32,
    /// Years of rated use hostwatt budgets before flagging.
    pub rated_years: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuty {
    hours_per_year: u32,
    rated_years: u32,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    smr: Vec<SmrRule>,
    duty: BTreeMap<Class, RawDuty>,
    class: Vec<ClassRule>,
}

/// A drive's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Desktop / client drive (8x5).
    Desktop,
    /// NAS drive (24x7).
    Nas,
    /// Enterprise / data-centre drive (24x7).
    Enterprise,
    /// Solid state: duty ratings are in bytes written, not hours.
    Ssd,
    /// No rule matched.
    Unknown,
}

impl Class {
    /// Every class, for the state-set metric.
    pub const ALL: [Class; 5] = [
        Class::Desktop,
        Class::Nas,
        Class::Enterprise,
        Class::Ssd,
        Class::Unknown,
    ];

    /// The `class` label value.
    pub fn label(self) -> &'static str {
        match self {
            Class::Desktop => "desktop",
            Class::Nas => "nas",
            Class::Enterprise => "enterprise",
            Class::Ssd => "ssd",
            Class::Unknown => "unknown",
        }
    }
}

/// The parsed advisory table.
#[derive(Debug)]
pub struct Table {
    smr: Vec<SmrRule>,
    duty: BTreeMap<Class, Duty>,
    class: Vec<ClassRule>,
}

/// What the table says about one drive.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// `Some("drivedb")` or `Some("table")` for an SMR drive; `None` when not known to be SMR.
    pub smr_source: Option<&'static str>,
    /// The class.
    pub class: Class,
    /// Rated duty as a fraction of the year (2400 / 8760 for desktop); `None` for ssd/unknown.
    pub rated_duty_ratio: Option<f64>,
    /// Power-on hours beyond `hours_per_year × rated_years`; `None` when either is unknown.
    pub beyond_rated_duty: Option<bool>,
}

impl Table {
    /// Parses a table in the `drives.toml` format.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        let raw: RawTable = toml::from_str(text)?;
        Ok(Self {
            smr: raw.smr,
            duty: raw
                .duty
                .into_iter()
                .map(|(c, d)| {
                    (
                        c,
                        Duty {
                            hours_per_year: d.hours_per_year,
                            rated_years: d.rated_years,
                        },
                    )
                })
                .collect(),
            class: raw.class,
        })
    }

    /// The embedded table. Its validity is checked by a unit test, so a failure here is a
    /// build that skipped its tests.
    pub fn embedded() -> Self {
        Self::parse(DRIVES_TOML).expect("embedded drives.toml parses (unit-tested)")
    }

    /// Advice for a drive. `solid_state` is true for rotation rate 0 and NVMe.
    pub fn advise(
        &self,
        model: Option<&str>,
        family: Option<&str>,
        solid_state: bool,
        power_on_seconds: Option<f64>,
    ) -> Advice {
        if solid_state {
            return Advice {
                smr_source: None,
                class: Class::Ssd,
                rated_duty_ratio: None,
                beyond_rated_duty: None,
            };
        }
        let model = model.unwrap_or("");
        let family = family.unwrap_or("");
        let smr_source = if family.contains("(SMR)") {
            Some("drivedb")
        } else if self.smr.iter().any(|r| glob(&r.model, model)) {
            Some("table")
        } else {
            None
        };
        let class = self
            .class
            .iter()
            .find(|r| {
                let fam = r.family.as_deref().is_none_or(|p| glob(p, family));
                let mdl = r.model.as_deref().is_none_or(|p| glob(p, model));
                fam && mdl
            })
            .map_or(Class::Unknown, |r| r.class);
        let duty = self.duty.get(&class);
        Advice {
            smr_source,
            class,
            rated_duty_ratio: duty.map(|d| f64::from(d.hours_per_year) / 8760.0),
            beyond_rated_duty: duty
                .zip(power_on_seconds)
                .map(|(d, s)| s / 3600.0 > f64::from(d.hours_per_year) * f64::from(d.rated_years)),
        }
    }
}

/// Case-insensitive glob: `*` any run, `?` one character, `[abc]` / `[a-z]` one of a set.
/// An empty text matches only patterns that can be empty.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => !t.is_empty() && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(close) = p.iter().position(|&c| c == ']') else {
                return t.first() == Some(&'[') && glob_at(&p[1..], &t[1..]);
            };
            let Some(&c) = t.first() else {
                return false;
            };
            let set = &p[1..close];
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit && glob_at(&p[close + 1..], &t[1..])
        }
        Some(&c) => t.first() == Some(&c) && glob_at(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_globs() {
        assert!(glob("*WD40EFAX*", "WDC WD40EFAX-68JH4N0"));
        assert!(glob("st4000dm004*", "ST4000DM004-2CV104"));
        assert!(glob("*WD??EF[RAZP]X*", "WDC WD20EFRX-68EUZN0"));
        assert!(!glob("*WD??EF[RAZP]X*", "WDC WD20EZRX-00D8PB0"));
        assert!(glob("/dev/sd[a-c]", "/dev/sdb"));
        assert!(!glob("/dev/sd[a-c]", "/dev/sdd"));
        assert!(glob("*", ""));
        assert!(!glob("?", ""));
    }

    #[test]
    fn embedded_table_parses_and_every_rule_has_a_source() {
        let t = Table::embedded();
        assert!(t.smr.len() >= 15);
        assert!(t.smr.iter().all(|r| r.source.len() > 20));
        assert!(
            t.class
                .iter()
                .all(|r| r.family.is_some() || r.model.is_some())
        );
        for c in [Class::Desktop, Class::Nas, Class::Enterprise] {
            assert!(t.duty.contains_key(&c), "{c:?} has no duty");
        }
        assert_eq!(t.duty[&Class::Desktop].hours_per_year, 2400);
        assert!(Table::parse("smr = 1").is_err());
    }

    #[test]
    fn advises_on_known_drives() {
        let t = Table::embedded();
        let hours = |h: f64| Some(h * 3600.0);
        // drivedb names the family SMR
        let a = t.advise(
            Some("ST4000DM004-2CV104"),
            Some("Seagate BarraCuda 3.5 (SMR)"),
            false,
            hours(1.0),
        );
        assert_eq!(
            (a.smr_source, a.class, a.beyond_rated_duty),
            (Some("drivedb"), Class::Desktop, Some(false))
        );
        assert_eq!(a.rated_duty_ratio, Some(2400.0 / 8760.0));
        // not flagged by an old drivedb: the table knows it
        let a = t.advise(Some("WDC WD40EFAX-68JH4N0"), None, false, hours(100.0));
        assert_eq!((a.smr_source, a.class), (Some("table"), Class::Nas));
        // CMR Red
        let a = t.advise(
            Some("WDC WD20EFRX-68EUZN0"),
            Some("Western Digital Red"),
            false,
            hours(50_000.0),
        );
        assert_eq!(
            (a.smr_source, a.class, a.beyond_rated_duty),
            (None, Class::Nas, Some(true))
        );
        // a desktop drive always on: 109k hours is far beyond 12,000
        let a = t.advise(
            Some("Hitachi HDS721010CLA332"),
            Some("Hitachi Deskstar 7K1000.C"),
            false,
            hours(109_000.0),
        );
        assert_eq!((a.class, a.beyond_rated_duty), (Class::Desktop, Some(true)));
        let a = t.advise(
            Some("ST16000NM001G-2KK103"),
            Some("Seagate Exos X16"),
            false,
            None,
        );
        assert_eq!((a.class, a.beyond_rated_duty), (Class::Enterprise, None));
        let a = t.advise(Some("TOSHIBA HDWR160"), None, false, hours(10.0));
        assert_eq!(a.class, Class::Nas);
        let a = t.advise(Some("Samsung SSD 860 EVO 500GB"), None, true, hours(10.0));
        assert_eq!((a.class, a.smr_source), (Class::Ssd, None));
        let a = t.advise(Some("Mystery Disk"), None, false, hours(10.0));
        assert_eq!((a.class, a.rated_duty_ratio), (Class::Unknown, None));
    }
}
