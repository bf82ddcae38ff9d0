//! The DC component breakdown and the AC (wall) estimate.
//!
//! Components are labelled by how they are known: `measured` (RAPL, hwmon power sensors),
//! `modelled` (disks by power state, fans), `configured` (the baseline for board, RAM, chipset
//! and NICs, which no sensor sees). CPU power follows scaphandre's rule: RAPL `psys` (the whole
//! SoC platform) when the platform has it, otherwise `package` + `dram`; never both, and never
//! `core`/`uncore`, which are already inside `package`.

use serde::{Deserialize, Serialize};

use super::disks::{self, ModelOverride};
use super::psu::{Curve, CurveError, Level, Mains};

/// How a component's watts are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Basis {
    /// Read from a sensor.
    Measured,
    /// From a model (disk power state table, fans).
    Modelled,
    /// A value from the config.
    Configured,
}

impl Basis {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Modelled => "modelled",
            Self::Configured => "configured",
        }
    }
}

/// One DC consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Identity: `cpu`, `disk:<id>`, `hwmon:<chip>/<sensor>`, `fans`, `baseline`.
    pub component: String,
    /// Kind: `cpu`, `disk`, `hwmon`, `fans`, `baseline`.
    pub kind: &'static str,
    /// How it is known.
    pub basis: Basis,
    /// DC watts.
    pub watts: f64,
}

/// A disk as the breakdown sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// Stable id (as in the SMART metrics).
    pub id: String,
    /// Model string.
    pub model: String,
    /// Power class.
    pub class: disks::Class,
    /// Current power state.
    pub state: disks::State,
}

/// Everything the breakdown is computed from, gathered from other collectors' snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// RAPL zones with a known rate: (zone name, watts).
    pub rapl: Vec<(String, f64)>,
    /// hwmon power sensors counted as components: (chip, sensor, watts).
    pub hwmon: Vec<(String, String, f64)>,
    /// Disks with a known power state.
    pub disks: Vec<Disk>,
    /// Fans seen spinning.
    pub fans_spinning: usize,
}

/// CPU watts from RAPL zones, with the rule used (`psys` or `package+dram`).
pub fn cpu_watts(zones: &[(String, f64)]) -> Option<(f64, &'static str)> {
    let sum = |pred: &dyn Fn(&str) -> bool| {
        let v: Vec<f64> = zones
            .iter()
            .filter(|(n, _)| pred(n))
            .map(|(_, w)| *w)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>())
    };
    if let Some(w) = sum(&|n| n == "psys") {
        return Some((w, "psys"));
    }
    let pkg = sum(&|n| n.starts_with("package"))?;
    Some((pkg + sum(&|n| n == "dram").unwrap_or(0.0), "package+dram"))
}

/// The component list.
pub fn components(
    inputs: &Inputs,
    baseline_watts: f64,
    fan_watts: f64,
    disk_models: &[ModelOverride],
) -> Vec<Component> {
    let mut out = Vec::new();
    if let Some((w, _)) = cpu_watts(&inputs.rapl) {
        out.push(Component {
            component: "cpu".into(),
            kind: "cpu",
            basis: Basis::Measured,
            watts: w,
        });
    }
    for (chip, sensor, w) in &inputs.hwmon {
        out.push(Component {
            component: format!("hwmon:{chip}/{sensor}"),
            kind: "hwmon",
            basis: Basis::Measured,
            watts: *w,
        });
    }
    for d in &inputs.disks {
        let watts = disks::watts(&d.model, d.class, d.state, disk_models);
        out.push(Component {
            component: format!("disk:{}", d.id),
            kind: "disk",
            basis: Basis::Modelled,
            watts,
        });
    }
    if inputs.fans_spinning > 0 && fan_watts > 0.0 {
        out.push(Component {
            component: "fans".into(),
            kind: "fans",
            basis: Basis::Modelled,
            watts: fan_watts * inputs.fans_spinning as f64,
        });
    }
    if baseline_watts > 0.0 {
        out.push(Component {
            component: "baseline".into(),
            kind: "baseline",
            basis: Basis::Configured,
            watts: baseline_watts,
        });
    }
    out
}

/// `[collectors.wall.psu]` (and `brick`): a rating plus a named 80 PLUS profile or measured points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsuConfig {
    /// Rated DC output, watts.
    pub rated_watts: f64,
    /// An 80 PLUS level (`white`, `bronze`, `silver`, `gold`, `platinum`, `titanium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Level>,
    /// Mains of the profile: `115v` (default) or `230v-eu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mains: Option<Mains>,
    /// Measured points, e.g. from a Cybenetics report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<Point>,
}

/// One measured point: a load in watts or percent of rating, and the efficiency there (0-1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// DC load, watts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_watts: Option<f64>,
    /// DC load, percent of `rated_watts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_percent: Option<f64>,
    /// Efficiency at that load, as a fraction (0.875 for 87.5 %).
    pub efficiency: f64,
}

impl PsuConfig {
    /// The validated curve; the error names the offending key.
    pub fn curve(&self) -> Result<Curve, (&'static str, String)> {
        let curve_err = |e: CurveError| ("points", e.to_string());
        match (self.profile, self.points.is_empty()) {
            (Some(_), false) => Err(("points", "give either profile or points, not both".into())),
            (None, true) => Err((
                "profile",
                "give a profile (e.g. \"gold\") or measured points".into(),
            )),
            (Some(level), true) => {
                Curve::from_profile(level, self.mains.unwrap_or(Mains::V115), self.rated_watts)
                    .map_err(|e| ("rated_watts", e.to_string()))
            }
            (None, false) => {
                let mut pts = Vec::with_capacity(self.points.len());
                for (i, p) in self.points.iter().enumerate() {
                    let load = match (p.load_watts, p.load_percent) {
                        (Some(w), None) => w,
                        (None, Some(pct)) => pct / 100.0 * self.rated_watts,
                        _ => {
                            return Err((
                                "points",
                                format!(
                                    "point {i}: give exactly one of load_watts or load_percent"
                                ),
                            ));
                        }
                    };
                    pts.push((load, p.efficiency));
                }
                if let Some(i) = self
                    .points
                    .iter()
                    .position(|p| p.efficiency > 1.0 && p.efficiency <= 100.0)
                {
                    return Err((
                        "points",
                        format!(
                            "point {i}: efficiency {} looks like a percentage; write it as a fraction ({})",
                            self.points[i].efficiency,
                            self.points[i].efficiency / 100.0
                        ),
                    ));
                }
                Curve::new(self.rated_watts, &pts).map_err(curve_err)
            }
        }
    }
}

/// Where the PSU curve comes from; it decides how far the curve may be off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveBasis {
    /// Measured points (a Cybenetics report): the loss is known to about ±20 %.
    Points,
    /// An 80 PLUS profile: certification minimums, so a real unit loses up to half as much, and
    /// rarely more.
    Profile,
    /// No PSU configured: `assumed_chain`, a guess about a PSU nobody described.
    Assumed,
}

impl CurveBasis {
    /// The `basis` label of the uncalibrated estimate.
    pub fn label(self) -> &'static str {
        match self {
            Self::Points | Self::Profile => "modelled",
            Self::Assumed => "assumed_psu",
        }
    }

    /// (low, high) factors on the curve's loss that bound the real PSU's loss.
    fn loss_factors(self) -> (f64, f64) {
        match self {
            Self::Points => (0.8, 1.2),
            Self::Profile => (0.5, 1.1),
            Self::Assumed => (0.35, 1.6),
        }
    }
}

/// Rating of the PSU assumed when none is configured: an ATX unit sized for a typical home
/// server (a few disks, no discrete GPU).
pub const ASSUMED_RATED_WATTS: f64 = 450.0;

/// The chain assumed when `[collectors.wall.psu]` is missing: an ATX 80 PLUS Bronze PSU of
/// `ASSUMED_RATED_WATTS` at the 115 V certification minimums (82 / 85 / 82 % at 20 / 50 / 100 %
/// load; CLEAResult 80 PLUS programme requirement table), the most common label on such units
/// and, being a minimum, the pessimistic side of what they measure.
pub fn assumed_chain() -> Chain {
    Chain {
        psu: Curve::from_profile(Level::Bronze, Mains::V115, ASSUMED_RATED_WATTS)
            .expect("the built-in Bronze profile is a valid curve"),
        brick: None,
        basis: CurveBasis::Assumed,
    }
}

/// The power conversion chain: the PSU, and optionally an external brick feeding it (picoPSU).
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The PSU (or picoPSU) feeding the components.
    pub psu: Curve,
    /// An AC→DC brick in front of a picoPSU.
    pub brick: Option<Curve>,
    /// Where the curves come from.
    pub basis: CurveBasis,
}

/// DC total, PSU loss and AC input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Sum of the components.
    pub dc_watts: f64,
    /// Wall minus DC.
    pub loss_watts: f64,
    /// AC input: what a wall meter would read (before calibration).
    pub wall_watts: f64,
}

impl Estimate {
    /// Efficiency of the whole chain, 0-1.
    pub fn efficiency(&self) -> f64 {
        if self.wall_watts > 0.0 {
            self.dc_watts / self.wall_watts
        } else {
            0.0
        }
    }
}

impl Chain {
    /// Wall watts between which the true wall power lies when no meter says otherwise, for a
    /// DC total `dc_watts` of which `baseline_watts` is the configured guess at what no sensor
    /// sees. That guess is taken as anywhere from half to twice itself (at least ±4 W: a board,
    /// RAM and a NIC are rarely known better), and the curve's loss is scaled by its basis's
    /// factors (`CurveBasis`). Returns (lower, upper) AC watts.
    pub fn band(&self, dc_watts: f64, baseline_watts: f64) -> (f64, f64) {
        let unseen_low = (baseline_watts / 2.0).max(4.0).min(dc_watts.max(0.0));
        let unseen_high = baseline_watts.max(4.0);
        let (lo, hi) = self.basis.loss_factors();
        let wall = |dc: f64, factor: f64| {
            let e = self.estimate(dc);
            dc + e.loss_watts * factor
        };
        (
            wall(dc_watts - unseen_low, lo),
            wall(dc_watts + unseen_high, hi),
        )
    }

    /// AC input for a DC load.
    pub fn estimate(&self, dc_watts: f64) -> Estimate {
        let after_psu = self.psu.input_watts(dc_watts);
        let wall_watts = self
            .brick
            .as_ref()
            .map_or(after_psu, |b| b.input_watts(after_psu));
        Estimate {
            dc_watts,
            loss_watts: wall_watts - dc_watts,
            wall_watts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::disks::{Class, State};

    fn zones(z: &[(&str, f64)]) -> Vec<(String, f64)> {
        z.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect()
    }

    #[test]
    fn cpu_prefers_psys_and_never_double_counts() {
        assert_eq!(
            cpu_watts(&zones(&[("package-0", 6.0), ("core", 3.0), ("psys", 11.0)])),
            Some((11.0, "psys"))
        );
        assert_eq!(
            cpu_watts(&zones(&[
                ("package-0", 6.0),
                ("package-1", 5.0),
                ("core", 3.0),
                ("dram", 2.0)
            ])),
            Some((13.0, "package+dram"))
        );
        assert_eq!(cpu_watts(&zones(&[("core", 3.0)])), None);
    }

    #[test]
    fn breaks_down_a_small_nas() {
        let inputs = Inputs {
            rapl: zones(&[("package-0", 4.0), ("dram", 1.0)]),
            hwmon: vec![],
            disks: vec![
                Disk {
                    id: "WD-1".into(),
                    model: "WDC WD40EFZX".into(),
                    class: Class::Hdd35_5400,
                    state: State::Standby,
                },
                Disk {
                    id: "WD-2".into(),
                    model: "WDC WD40EFZX".into(),
                    class: Class::Hdd35_5400,
                    state: State::Idle,
                },
            ],
            fans_spinning: 2,
        };
        let c = components(&inputs, 8.0, 0.5, &[]);
        let got: Vec<_> = c
            .iter()
            .map(|c| (c.component.as_str(), c.basis, c.watts))
            .collect();
        assert_eq!(
            got,
            [
                ("cpu", Basis::Measured, 5.0),
                ("disk:WD-1", Basis::Modelled, 0.4),
                ("disk:WD-2", Basis::Modelled, 3.3),
                ("fans", Basis::Modelled, 1.0),
                ("baseline", Basis::Configured, 8.0)
            ]
        );
    }

    fn psu(profile: Option<Level>, points: Vec<Point>) -> PsuConfig {
        PsuConfig {
            rated_watts: 500.0,
            profile,
            mains: Some(Mains::V230Eu),
            points,
        }
    }

    #[test]
    fn validates_psu_config() {
        assert!(psu(Some(Level::Gold), vec![]).curve().is_ok());
        assert_eq!(psu(None, vec![]).curve().unwrap_err().0, "profile");
        let pct = |l: f64, e: f64| Point {
            load_watts: None,
            load_percent: Some(l),
            efficiency: e,
        };
        assert!(
            psu(None, vec![pct(10.0, 0.85), pct(20.0, 0.9), pct(50.0, 0.92)])
                .curve()
                .is_ok()
        );
        let e = psu(None, vec![pct(10.0, 85.0), pct(20.0, 0.9), pct(50.0, 0.92)])
            .curve()
            .unwrap_err();
        assert_eq!(
            e,
            (
                "points",
                "point 0: efficiency 85 looks like a percentage; write it as a fraction (0.85)"
                    .into()
            )
        );
        let both = Point {
            load_watts: Some(20.0),
            load_percent: Some(4.0),
            efficiency: 0.8,
        };
        assert!(
            psu(None, vec![both])
                .curve()
                .unwrap_err()
                .1
                .contains("exactly one")
        );
    }

    #[test]
    fn a_brick_adds_its_own_loss() {
        let pico = Curve::new(160.0, &[(16.0, 0.94), (40.0, 0.95), (120.0, 0.95)]).unwrap();
        let brick = Curve::new(120.0, &[(12.0, 0.85), (30.0, 0.89), (90.0, 0.90)]).unwrap();
        let alone = Chain {
            psu: pico.clone(),
            brick: None,
            basis: CurveBasis::Points,
        }
        .estimate(20.0);
        let chained = Chain {
            psu: pico,
            brick: Some(brick),
            basis: CurveBasis::Points,
        }
        .estimate(20.0);
        assert!(chained.wall_watts > alone.wall_watts && chained.loss_watts > alone.loss_watts);
        assert!((chained.wall_watts - chained.dc_watts - chained.loss_watts).abs() < 1e-12);
    }

    #[test]
    fn the_band_covers_an_unseen_board_and_a_better_psu() {
        // the issue-15 box: a 500 W Gold SFX-L measured at 62/74/83/86/89 % at 10/20/40/60/100 W,
        // 11 W of board the config's 8 W baseline does not know
        let sfx = Curve::new(
            500.0,
            &[
                (10.0, 0.62),
                (20.0, 0.74),
                (40.0, 0.83),
                (60.0, 0.86),
                (100.0, 0.89),
            ],
        )
        .unwrap();
        let chain = Chain {
            psu: sfx.clone(),
            brick: None,
            basis: CurveBasis::Points,
        };
        for cpu in [2.0, 10.0, 30.0, 60.0] {
            let truth = sfx.input_watts(cpu + 11.0);
            let (lower, upper) = chain.band(cpu + 8.0, 8.0);
            assert!(
                lower < truth && truth < upper,
                "{cpu} W: {lower} < {truth} < {upper}"
            );
            assert!(
                upper - lower < 0.85 * truth,
                "{cpu} W: band {lower}..{upper} too wide"
            );
        }
        // the assumed Bronze PSU against that Gold unit: still covered
        let assumed = assumed_chain();
        for cpu in [2.0, 30.0, 60.0] {
            let truth = sfx.input_watts(cpu + 11.0);
            let (lower, upper) = assumed.band(cpu + 8.0, 8.0);
            assert!(
                lower < truth && truth < upper,
                "{cpu} W: {lower} < {truth} < {upper}"
            );
        }
    }

    #[test]
    fn the_assumed_psu_is_the_bronze_label_minimum() {
        let chain = assumed_chain();
        assert_eq!(chain.basis.label(), "assumed_psu");
        // 20 % of 450 W is 90 W DC, where Bronze at 115 V certifies 82 %
        assert!((chain.estimate(90.0).efficiency() - 0.82).abs() < 1e-9);
        assert!((chain.estimate(225.0).efficiency() - 0.85).abs() < 1e-9);
    }
}
