//! Online calibration of the wall estimate against a meter: recursive least squares with
//! forgetting over pairs (uncalibrated AC estimate, measured wall).
//!
//! The model is `wall ≈ offset + gain · estimate`. `offset` absorbs what no sensor sees and the
//! configured baseline missed (board, RAM, NICs, fans), `gain` corrects the PSU curve and the
//! modelled components proportionally. Forgetting (λ) lets it follow slow changes such as a new
//! disk; the covariance is capped so a long idle stretch (no excitation) cannot wind it up.
//! Persisted in the state directory, so the estimate stays calibrated after the meter is gone.

use serde::{Deserialize, Serialize};

/// Forgetting factor: an effective memory of ~1/(1-λ) = 1000 samples (about 8 h at 30 s).
pub const LAMBDA: f64 = 0.999;
/// Cap on the covariance trace, against wind-up when the load does not vary.
const MAX_TRACE: f64 = 1e4;
/// Smoothing of the error metrics: mean over roughly the last 1/ALPHA samples.
const ERROR_ALPHA: f64 = 0.05;

/// RLS state, also the persisted form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// `[offset watts, gain]`.
    pub theta: [f64; 2],
    /// Covariance.
    pub p: [[f64; 2]; 2],
    /// Pairs seen.
    pub samples: u64,
    /// Rolling mean absolute error of the calibrated estimate (before each update), watts.
    pub mae_watts: Option<f64>,
    /// Rolling mean absolute error relative to the meter, 0-1.
    pub mae_ratio: Option<f64>,
}

impl Default for Calibration {
    fn default() -> Self {
        // Prior: no offset, gain 1 (trust the model); offset uncertain by ~±30 W, gain by ±0.3.
        Self {
            theta: [0.0, 1.0],
            p: [[900.0, 0.0], [0.0, 0.09]],
            samples: 0,
            mae_watts: None,
            mae_ratio: None,
        }
    }
}

impl Calibration {
    /// The calibrated wall watts for an uncalibrated estimate.
    pub fn apply(&self, estimate: f64) -> f64 {
        (self.theta[0] + self.theta[1] * estimate).max(0.0)
    }

    /// Learns from one pair. Returns the calibrated prediction made before learning (its error
    /// is what the error metrics track).
    pub fn update(&mut self, estimate: f64, measured: f64) -> f64 {
        let predicted = self.apply(estimate);
        let err_abs = (predicted - measured).abs();
        let smooth =
            |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + ERROR_ALPHA * (new - o)));
        self.mae_watts = smooth(self.mae_watts, err_abs);
        if measured > 0.0 {
            self.mae_ratio = smooth(self.mae_ratio, err_abs / measured);
        }
        let phi = [1.0, estimate];
        let p = self.p;
        let p_phi = [
            p[0][0] * phi[0] + p[0][1] * phi[1],
            p[1][0] * phi[0] + p[1][1] * phi[1],
        ];
        let denom = LAMBDA + phi[0] * p_phi[0] + phi[1] * p_phi[1];
        let k = [p_phi[0] / denom, p_phi[1] / denom];
        let e = measured - (self.theta[0] + self.theta[1] * estimate);
        self.theta = [self.theta[0] + k[0] * e, self.theta[1] + k[1] * e];
        // P = (P - k φᵀ P) / λ, with φᵀP = (Pφ)ᵀ since P is symmetric
        let mut next = [[0.0; 2]; 2];
        for (r, row) in next.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (p[r][c] - k[r] * p_phi[c]) / LAMBDA;
            }
        }
        let trace = next[0][0] + next[1][1];
        if trace > MAX_TRACE {
            let s = MAX_TRACE / trace;
            next.iter_mut().flatten().for_each(|v| *v *= s);
        }
        self.p = next;
        self.samples += 1;
        predicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1) (xorshift), so the test is repeatable.
    fn noise(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    #[test]
    fn converges_on_a_synthetic_trace_with_known_offset_and_noise() {
        // The true box: 8 W the model does not see, and a PSU 4 % worse than its curve says.
        let (true_offset, true_gain) = (8.0, 1.04);
        let mut cal = Calibration::default();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..3000 {
            // a NAS: mostly idle around 30 W, sometimes busy up to 120 W
            let estimate = if i % 10 < 7 {
                30.0 + 5.0 * noise(&mut rng)
            } else {
                75.0 + 45.0 * noise(&mut rng)
            };
            let measured = true_offset + true_gain * estimate + 0.5 * noise(&mut rng);
            cal.update(estimate, measured);
        }
        let [offset, gain] = cal.theta;
        assert!((offset - true_offset).abs() < 0.5, "offset {offset}");
        assert!((gain - true_gain).abs() < 0.01, "gain {gain}");
        let mae = cal.mae_watts.unwrap();
        assert!(
            mae < 0.5,
            "mae {mae}: noise is uniform ±0.5 W, so the mean error is about 0.25 W"
        );
        assert!(cal.mae_ratio.unwrap() < 0.02);
    }

    #[test]
    fn uncalibrated_is_the_identity() {
        assert_eq!(Calibration::default().apply(42.0), 42.0);
    }

    #[test]
    fn constant_load_does_not_wind_up() {
        let mut cal = Calibration::default();
        for _ in 0..100_000 {
            cal.update(30.0, 38.0);
        }
        let trace = cal.p[0][0] + cal.p[1][1];
        assert!(trace <= MAX_TRACE * 1.0001, "{trace}");
        assert!((cal.apply(30.0) - 38.0).abs() < 0.01);
    }
}
