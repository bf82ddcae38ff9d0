//! Online calibration of the wall estimate against a meter, on time-aligned pairs
//! (`estimate::align`): `wall ≈ offset + gain · estimate`.
//!
//! `offset` absorbs what no sensor sees and the configured baseline missed (board, RAM, NICs, a
//! USB disk spinning up), `gain` corrects the PSU curve and the modelled components
//! proportionally. The fit is a Kalman filter whose parameters drift as random walks *per
//! second*, not per sample: the offset can move by about a watt in ten minutes, the gain (a PSU
//! does not change) by about 1 % an hour. So it follows a hidden step within minutes at any
//! pair rate, and a long idle stretch (no excitation) cannot wind the gain up: its uncertainty
//! grows by the hour.
//!
//! What keeps it from learning nonsense (issue 15 §2):
//! - both parameters stay inside physical bounds (`GAIN`, `OFFSET_WATTS`);
//! - only steady pairs are learned (the caller says which);
//! - every `HOLD_BACK`-th steady pair is held back, never learned, and compares the calibrated
//!   and the uncalibrated estimate on it; the calibration is `trusted` (published as the best
//!   figure when no meter is up) only while its error there is the smaller one.
//!
//! Persisted in the state directory, so the estimate stays calibrated after the meter is gone.

use serde::{Deserialize, Serialize};

/// Physical bounds of the gain: a PSU curve (or the assumed one) is not off by more than this
/// proportion of the whole estimate.
pub const GAIN: (f64, f64) = (0.75, 1.35);
/// Bounds of the offset, watts: what the baseline and the curve's fixed loss can miss (down: an
/// assumed curve overstates a good PSU's fixed loss; up: board, HBA, NICs, USB disks unseen).
pub const OFFSET_WATTS: (f64, f64) = (-25.0, 40.0);
/// Random-walk rate of the offset, W²/s: about 1 W of drift per 10 minutes.
const Q_OFFSET: f64 = 1.0 / 600.0;
/// Random-walk rate of the gain, 1/s: about 1 % per hour.
const Q_GAIN: f64 = 1e-4 / 3600.0;
/// Pair noise: 0.5 W plus 1 % of the reading (meter accuracy, what alignment leaves).
const NOISE_WATTS: f64 = 0.5;
const NOISE_RATIO: f64 = 0.01;
/// One steady pair in this many is held back for validation.
pub const HOLD_BACK: u64 = 4;
/// Held-back pairs needed before the calibration can be trusted.
const TRUST_AFTER: u64 = 3;
/// Time scale of the error averages and of drift detection, seconds.
pub const TRACK_SECONDS: f64 = 600.0;
/// A disagreement larger than this ratio of the meter (and 1 W) counts towards drift.
const DRIFT_RATIO: f64 = 0.03;

/// The filter's state, also the persisted form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Calibration {
    /// `[offset watts, gain]`.
    pub theta: [f64; 2],
    /// Covariance.
    pub p: [[f64; 2]; 2],
    /// Pairs learned from.
    pub samples: u64,
    /// Steady pairs seen (learned or held back).
    pub steady: u64,
    /// Held-back pairs compared.
    pub held_back: u64,
    /// Mean absolute error on held-back pairs, calibrated, watts (over ~`TRACK_SECONDS`).
    pub held_calibrated_watts: Option<f64>,
    /// The same for the uncalibrated estimate.
    pub held_raw_watts: Option<f64>,
    /// Mean absolute error of the published calibrated value on aligned pairs, watts.
    pub mae_watts: Option<f64>,
    /// The same relative to the meter, 0-1.
    pub mae_ratio: Option<f64>,
    /// Seconds the meter and the calibrated estimate have disagreed without a break.
    pub disagree_seconds: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        // Prior: no offset, gain 1 (trust the model); offset uncertain by ~±15 W, gain by ±0.1.
        Self {
            theta: [0.0, 1.0],
            p: [[225.0, 0.0], [0.0, 0.01]],
            samples: 0,
            steady: 0,
            held_back: 0,
            held_calibrated_watts: None,
            held_raw_watts: None,
            mae_watts: None,
            mae_ratio: None,
            disagree_seconds: 0.0,
        }
    }
}

/// One aligned pair: the uncalibrated estimate and the meter, averaged over the same window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Uncalibrated AC estimate, watts.
    pub estimate: f64,
    /// Meter average, watts.
    pub measured: f64,
    /// Window length, seconds.
    pub seconds: f64,
    /// The load held still across the window.
    pub steady: bool,
    /// The meter side is the true average over the window (from its energy counter), not a
    /// few instantaneous readings.
    pub exact: bool,
}

/// What one pair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Learned from.
    Learned,
    /// Held back to validate.
    HeldBack,
    /// Not steady: only the error metrics saw it.
    Skipped,
}

fn smooth(old: Option<f64>, new: f64, seconds: f64) -> Option<f64> {
    let alpha = 1.0 - (-seconds / TRACK_SECONDS).exp();
    Some(old.map_or(new, |o| o + alpha * (new - o)))
}

impl Calibration {
    /// The calibrated wall watts for an uncalibrated estimate.
    pub fn apply(&self, estimate: f64) -> f64 {
        (self.theta[0] + self.theta[1] * estimate).max(0.0)
    }

    /// Whether the calibrated estimate has been shown better than the uncalibrated one on
    /// held-back pairs, so it may stand in for a meter that is down.
    pub fn trusted(&self) -> bool {
        self.held_back >= TRUST_AFTER
            && matches!(
                (self.held_calibrated_watts, self.held_raw_watts),
                (Some(c), Some(r)) if c <= r
            )
    }

    /// Whether the meter and the calibrated estimate have disagreed for longer than the
    /// calibration's tracking time scale: something changed that it does not follow.
    pub fn drifting(&self) -> bool {
        self.disagree_seconds > TRACK_SECONDS
    }

    /// Takes one aligned pair: updates the error metrics with the error of the calibrated value
    /// as published before this pair (when the meter's side is a true window average: from a
    /// counter, or a steady load), then learns from it or holds it back.
    pub fn observe(&mut self, pair: Pair) -> Use {
        let predicted = self.apply(pair.estimate);
        let err = (predicted - pair.measured).abs();
        if pair.exact || pair.steady {
            self.mae_watts = smooth(self.mae_watts, err, pair.seconds);
            if pair.measured > 0.0 {
                self.mae_ratio = smooth(self.mae_ratio, err / pair.measured, pair.seconds);
            }
            if err > (DRIFT_RATIO * pair.measured).max(1.0) {
                self.disagree_seconds += pair.seconds;
            } else {
                self.disagree_seconds = 0.0;
            }
        }
        if !pair.steady {
            return Use::Skipped;
        }
        self.steady += 1;
        if self.steady.is_multiple_of(HOLD_BACK) {
            self.held_back += 1;
            let raw = (pair.estimate - pair.measured).abs();
            // held-back pairs come ~HOLD_BACK times less often: weigh them accordingly
            let s = pair.seconds * HOLD_BACK as f64;
            self.held_calibrated_watts = smooth(self.held_calibrated_watts, err, s);
            self.held_raw_watts = smooth(self.held_raw_watts, raw, s);
            return Use::HeldBack;
        }
        self.learn(pair);
        Use::Learned
    }

    fn learn(&mut self, pair: Pair) {
        let dt = pair.seconds.max(0.0);
        let mut p = self.p;
        p[0][0] += Q_OFFSET * dt;
        p[1][1] += Q_GAIN * dt;
        // drift never makes it less sure than the prior: a month of constant load must not
        // let one burst swing the gain (scaling a row and its column keeps P positive definite)
        let prior = Self::default().p;
        for i in 0..2 {
            if p[i][i] > prior[i][i] {
                let f = (prior[i][i] / p[i][i]).sqrt();
                p[i].iter_mut().for_each(|v| *v *= f);
                p.iter_mut().for_each(|row| row[i] *= f);
            }
        }
        let phi = [1.0, pair.estimate];
        let r = (NOISE_WATTS + NOISE_RATIO * pair.measured.abs()).powi(2);
        let p_phi = [
            p[0][0] * phi[0] + p[0][1] * phi[1],
            p[1][0] * phi[0] + p[1][1] * phi[1],
        ];
        let s = r + phi[0] * p_phi[0] + phi[1] * p_phi[1];
        let k = [p_phi[0] / s, p_phi[1] / s];
        let e = pair.measured - (self.theta[0] + self.theta[1] * pair.estimate);
        self.theta = [
            (self.theta[0] + k[0] * e).clamp(OFFSET_WATTS.0, OFFSET_WATTS.1),
            (self.theta[1] + k[1] * e).clamp(GAIN.0, GAIN.1),
        ];
        let mut next = [[0.0; 2]; 2];
        for (r, row) in next.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = p[r][c] - k[r] * p_phi[c];
            }
        }
        // keep it symmetric against rounding
        let off = (next[0][1] + next[1][0]) / 2.0;
        next[0][1] = off;
        next[1][0] = off;
        self.p = next;
        self.samples += 1;
    }
}

#[cfg(test)]
#[path = "calibrate_tests.rs"]
mod tests;
