//! PSU efficiency: from DC load (what the components draw) to AC input (what the wall meter sees).
//!
//! A curve is built from points (DC load in watts, efficiency), either a built-in 80 PLUS profile
//! or measured points copied from a Cybenetics report. Between the lowest and highest point the
//! curve interpolates the *loss* linearly, so every given point is reproduced exactly. Outside
//! them it follows a physical loss model fitted to all points:
//!
//! ```text
//! P_in = P_out + a + b·P_out + c·P_out²
//! ```
//!
//! `a` is the fixed loss (controller, fan, bleeder resistors, switching losses at no load), `b·P`
//! losses proportional to load (diode drops, core losses), `c·P²` resistive (I²R) losses. The fit
//! is non-negative least squares over `(a, b, c)`, because a negative fixed or resistive loss is
//! not physical. Below the lowest point the model is scaled to meet that point, so the curve is
//! continuous and falls steeply towards zero load, as real PSUs do (efficiency → 0 as P_out → 0,
//! because `a` stays): that is where a home-lab NAS idles, and where linear extrapolation of an
//! "80 PLUS Gold" label would claim ~87 %.

use serde::{Deserialize, Serialize};

/// An 80 PLUS certification level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 80 PLUS (White).
    White,
    /// 80 PLUS Bronze.
    Bronze,
    /// 80 PLUS Silver.
    Silver,
    /// 80 PLUS Gold.
    Gold,
    /// 80 PLUS Platinum.
    Platinum,
    /// 80 PLUS Titanium.
    Titanium,
}

/// The mains the certification was tested at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mains {
    /// 115 V internal (North America).
    #[serde(rename = "115v")]
    V115,
    /// 230 V EU internal.
    #[serde(rename = "230v-eu")]
    V230Eu,
}

/// Minimum efficiencies of the 80 PLUS programme, as (fraction of rated load, efficiency).
/// Source: CLEAResult 80 PLUS programme, "80 PLUS certified power supplies and manufacturers"
/// requirement tables for 115 V internal and 230 V EU internal non-redundant PSUs.
pub fn profile_points(level: Level, mains: Mains) -> &'static [(f64, f64)] {
    use {Level::*, Mains::*};
    match (mains, level) {
        (V115, White) => &[(0.2, 0.80), (0.5, 0.80), (1.0, 0.80)],
        (V115, Bronze) => &[(0.2, 0.82), (0.5, 0.85), (1.0, 0.82)],
        (V115, Silver) => &[(0.2, 0.85), (0.5, 0.88), (1.0, 0.85)],
        (V115, Gold) => &[(0.2, 0.87), (0.5, 0.90), (1.0, 0.87)],
        (V115, Platinum) => &[(0.2, 0.90), (0.5, 0.92), (1.0, 0.89)],
        (V115, Titanium) => &[(0.1, 0.90), (0.2, 0.92), (0.5, 0.94), (1.0, 0.90)],
        (V230Eu, White) => &[(0.2, 0.82), (0.5, 0.85), (1.0, 0.82)],
        (V230Eu, Bronze) => &[(0.2, 0.85), (0.5, 0.88), (1.0, 0.85)],
        (V230Eu, Silver) => &[(0.2, 0.87), (0.5, 0.90), (1.0, 0.87)],
        (V230Eu, Gold) => &[(0.2, 0.90), (0.5, 0.92), (1.0, 0.89)],
        (V230Eu, Platinum) => &[(0.2, 0.92), (0.5, 0.94), (1.0, 0.90)],
        (V230Eu, Titanium) => &[(0.1, 0.90), (0.2, 0.94), (0.5, 0.96), (1.0, 0.94)],
    }
}

/// Why a set of points does not make a curve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CurveError {
    /// Fewer than three distinct loads: the loss model has three unknowns.
    #[error("need at least 3 points at distinct loads for the loss model, got {0}")]
    TooFewPoints(usize),
    /// An efficiency outside (0, 1].
    #[error("point {index}: efficiency {efficiency} is outside (0, 1]")]
    Efficiency {
        /// 0-based index of the point.
        index: usize,
        /// The bad value.
        efficiency: f64,
    },
    /// A load outside (0, rated].
    #[error("point {index}: load {load_watts} W is outside (0, {rated_watts}] W")]
    Load {
        /// 0-based index of the point.
        index: usize,
        /// The bad load.
        load_watts: f64,
        /// The PSU's rating.
        rated_watts: f64,
    },
    /// A rating that is not a positive number.
    #[error("rated_watts must be positive, got {0}")]
    Rating(f64),
    /// Two points at the same load.
    #[error("two points at the same load {0} W")]
    DuplicateLoad(f64),
}

/// A validated efficiency curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    rated_watts: f64,
    /// (DC load W, loss W), sorted by load.
    points: Vec<(f64, f64)>,
    /// Fitted loss model coefficients (a, b, c).
    pub model: [f64; 3],
}

impl Curve {
    /// Builds a curve from (DC load W, efficiency) points, in any order.
    pub fn new(rated_watts: f64, points: &[(f64, f64)]) -> Result<Self, CurveError> {
        if !(rated_watts.is_finite() && rated_watts > 0.0) {
            return Err(CurveError::Rating(rated_watts));
        }
        let mut pts = Vec::with_capacity(points.len());
        for (index, &(load_watts, efficiency)) in points.iter().enumerate() {
            if !(efficiency > 0.0 && efficiency <= 1.0) {
                return Err(CurveError::Efficiency { index, efficiency });
            }
            if !(load_watts > 0.0 && load_watts <= rated_watts * (1.0 + 1e-9)) {
                return Err(CurveError::Load {
                    index,
                    load_watts,
                    rated_watts,
                });
            }
            pts.push((load_watts, load_watts / efficiency - load_watts));
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(w) = pts.windows(2).find(|w| (w[1].0 - w[0].0).abs() < 1e-9) {
            return Err(CurveError::DuplicateLoad(w[0].0));
        }
        if pts.len() < 3 {
            return Err(CurveError::TooFewPoints(pts.len()));
        }
        let model = fit_nonnegative(&pts);
        Ok(Self {
            rated_watts,
            points: pts,
            model,
        })
    }

    /// A curve from an 80 PLUS profile for a PSU rated `rated_watts`.
    pub fn from_profile(level: Level, mains: Mains, rated_watts: f64) -> Result<Self, CurveError> {
        let pts: Vec<_> = profile_points(level, mains)
            .iter()
            .map(|&(frac, eff)| (frac * rated_watts, eff))
            .collect();
        Self::new(rated_watts, &pts)
    }

    /// The PSU's rating in watts.
    pub fn rated_watts(&self) -> f64 {
        self.rated_watts
    }

    fn model_loss(&self, p: f64) -> f64 {
        let [a, b, c] = self.model;
        a + b * p + c * p * p
    }

    /// Power lost in the PSU at DC load `p_out` watts.
    pub fn loss_watts(&self, p_out: f64) -> f64 {
        let p = p_out.max(0.0);
        let (first, last) = (self.points[0], self.points[self.points.len() - 1]);
        if p <= first.0 {
            // scale the model so it meets the lowest point: continuous, and steep towards 0
            let m = self.model_loss(first.0);
            return if m > 0.0 {
                self.model_loss(p) * first.1 / m
            } else {
                first.1
            };
        }
        if p >= last.0 {
            let m = self.model_loss(last.0);
            return if m > 0.0 {
                self.model_loss(p) * last.1 / m
            } else {
                last.1
            };
        }
        let i = self.points.partition_point(|pt| pt.0 <= p);
        let ((x0, y0), (x1, y1)) = (self.points[i - 1], self.points[i]);
        y0 + (y1 - y0) * (p - x0) / (x1 - x0)
    }

    /// AC input power for DC load `p_out` watts.
    pub fn input_watts(&self, p_out: f64) -> f64 {
        p_out.max(0.0) + self.loss_watts(p_out)
    }

    /// Efficiency at DC load `p_out` watts (0 at no load: the fixed loss remains).
    pub fn efficiency(&self, p_out: f64) -> f64 {
        let input = self.input_watts(p_out);
        if input > 0.0 {
            p_out.max(0.0) / input
        } else {
            0.0
        }
    }

    /// DC load that draws `p_in` AC watts: the inverse of `input_watts`, by bisection (the
    /// input is monotonic in the output for any non-negative loss model).
    pub fn output_for_input(&self, p_in: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, self.rated_watts * 2.0);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if self.input_watts(mid) < p_in {
                lo = mid
            } else {
                hi = mid
            }
        }
        (lo + hi) / 2.0
    }
}

/// Least-squares fit of loss = a + b·p + c·p² with a, b, c ≥ 0, over every active set of the
/// three bounds (8 small solves): the feasible solution with the least residual wins.
fn fit_nonnegative(pts: &[(f64, f64)]) -> [f64; 3] {
    let mut best: Option<([f64; 3], f64)> = None;
    for mask in 1u8..8 {
        let free: Vec<usize> = (0..3).filter(|i| mask & (1 << i) != 0).collect();
        let Some(sol) = solve_subset(pts, &free) else {
            continue;
        };
        if sol.iter().any(|&v| v < -1e-12) {
            continue;
        }
        let coef = sol.map(|v| v.max(0.0));
        let resid: f64 = pts
            .iter()
            .map(|&(p, l)| {
                let e = coef[0] + coef[1] * p + coef[2] * p * p - l;
                e * e
            })
            .sum();
        if best.is_none_or(|(_, r)| resid < r - 1e-12) {
            best = Some((coef, resid));
        }
    }
    best.map(|(c, _)| c).unwrap_or([0.0; 3])
}

/// Solves the normal equations for the coefficients in `free` (others fixed at 0).
fn solve_subset(pts: &[(f64, f64)], free: &[usize]) -> Option<[f64; 3]> {
    let n = free.len();
    // Scale p so the normal matrix stays well conditioned (p² of 1000 W is 1e6).
    let scale = pts.iter().map(|p| p.0).fold(1.0, f64::max);
    let basis = |i: usize, p: f64| (p / scale).powi(i as i32);
    let mut m = vec![vec![0.0; n + 1]; n];
    for &(p, l) in pts {
        for r in 0..n {
            for c in 0..n {
                m[r][c] += basis(free[r], p) * basis(free[c], p);
            }
            m[r][n] += basis(free[r], p) * l;
        }
    }
    // Gauss-Jordan with partial pivoting on an n ≤ 3 system.
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut out = [0.0; 3];
    for (r, &i) in free.iter().enumerate() {
        out[i] = m[r][n] / m[r][r] / scale.powi(i as i32);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Level; 6] = [
        Level::White,
        Level::Bronze,
        Level::Silver,
        Level::Gold,
        Level::Platinum,
        Level::Titanium,
    ];

    #[test]
    fn reproduces_every_80_plus_point_exactly() {
        for mains in [Mains::V115, Mains::V230Eu] {
            for level in ALL {
                let curve = Curve::from_profile(level, mains, 500.0).unwrap();
                for &(frac, eff) in profile_points(level, mains) {
                    let got = curve.efficiency(frac * 500.0);
                    assert!(
                        (got - eff).abs() < 1e-9,
                        "{level:?} {mains:?} at {frac}: {got} != {eff}"
                    );
                }
            }
        }
    }

    #[test]
    fn gold_falls_steeply_below_its_lowest_point() {
        let gold = Curve::from_profile(Level::Gold, Mains::V115, 500.0).unwrap();
        let at = |w: f64| gold.efficiency(w);
        // 20 % load is the lowest certified point (87 %); a NAS idling at 50 W sits at 10 %.
        assert!(at(50.0) < 0.87 && at(50.0) > 0.70, "{}", at(50.0));
        assert!(at(20.0) < at(50.0));
        assert!(at(5.0) < at(20.0));
        assert_eq!(at(0.0), 0.0);
        let [a, b, c] = gold.model;
        assert!(a > 0.0 && b >= 0.0 && c >= 0.0, "{:?}", gold.model);
    }

    #[test]
    fn fits_a_known_loss_model_exactly() {
        // loss = 4 + 0.02 p + 0.0001 p²
        let loss = |p: f64| 4.0 + 0.02 * p + 0.0001 * p * p;
        let pts: Vec<_> = [20.0, 40.0, 60.0, 100.0, 250.0, 500.0]
            .iter()
            .map(|&p| (p, p / (p + loss(p))))
            .collect();
        let curve = Curve::new(500.0, &pts).unwrap();
        let [a, b, c] = curve.model;
        assert!(
            (a - 4.0).abs() < 1e-6 && (b - 0.02).abs() < 1e-8 && (c - 0.0001).abs() < 1e-10,
            "{:?}",
            curve.model
        );
        // extrapolation below the lowest point follows the model
        assert!((curve.loss_watts(10.0) - loss(10.0)).abs() < 1e-6);
        assert!((curve.input_watts(10.0) - 14.21).abs() < 1e-6);
    }

    #[test]
    fn clamps_a_negative_fixed_loss_to_zero() {
        // Efficiency rising with load at every point would fit a < 0 unconstrained.
        let curve = Curve::new(100.0, &[(10.0, 0.99), (50.0, 0.95), (100.0, 0.90)]).unwrap();
        assert!(curve.model.iter().all(|&v| v >= 0.0), "{:?}", curve.model);
    }

    #[test]
    fn inverts_input_to_output() {
        let gold = Curve::from_profile(Level::Gold, Mains::V230Eu, 550.0).unwrap();
        for p in [3.0, 30.0, 110.0, 400.0] {
            let back = gold.output_for_input(gold.input_watts(p));
            assert!((back - p).abs() < 1e-6, "{p} -> {back}");
        }
    }

    #[test]
    fn rejects_bad_points() {
        assert_eq!(
            Curve::new(500.0, &[(100.0, 0.9), (200.0, 0.9)]),
            Err(CurveError::TooFewPoints(2))
        );
        assert!(matches!(
            Curve::new(500.0, &[(100.0, 1.2), (200.0, 0.9), (300.0, 0.9)]),
            Err(CurveError::Efficiency { index: 0, .. })
        ));
        assert!(matches!(
            Curve::new(500.0, &[(100.0, 0.9), (600.0, 0.9), (300.0, 0.9)]),
            Err(CurveError::Load { index: 1, .. })
        ));
        assert_eq!(
            Curve::new(500.0, &[(100.0, 0.9), (100.0, 0.8), (300.0, 0.9)]),
            Err(CurveError::DuplicateLoad(100.0))
        );
        assert_eq!(Curve::new(0.0, &[]), Err(CurveError::Rating(0.0)));
    }
}
