//! Pairing like with like: a meter's average power over the estimate's own window, and energy
//! from a meter's own counter.
//!
//! The estimate's window is the span between two RAPL readings (`[start, end]`): its CPU watts
//! are that span's energy over its length. A meter reading is a 1-second sample taken at some
//! other moment, so pairing "this round's estimate" with "the last meter reading" joins two
//! different moments (issue 15: in 177 of 258 rounds the reading predated the window). Here the
//! meter side of a pair is the meter's average over the same window: from its energy counter
//! where it keeps one (counter interpolated at both ends between the readings that bracket
//! them), else the mean of the readings inside the window; or no pair at all.
//!
//! A pair is `steady` when the load did not move across the window, as far as the meter can
//! tell: the readings around it agree with each other and, with a counter, with the counter's
//! average. Only steady pairs teach the calibration: on a moving load a few seconds of
//! misalignment are worth watts.

use std::time::Instant;

/// One meter reading with the time it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// When the reading was taken.
    pub at: Instant,
    /// Instantaneous watts.
    pub watts: f64,
    /// The device's energy total, joules, when it keeps one.
    pub energy_joules: Option<f64>,
}

/// The meter's side of a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowAverage {
    /// Average watts over the window.
    pub watts: f64,
    /// From the energy counter (else from readings inside the window).
    pub from_counter: bool,
    /// The load held still across the window.
    pub steady: bool,
}

/// Relative tolerance of "steady": readings within 3 % of each other...
const STEADY_RATIO: f64 = 0.03;
/// ...or within 1.5 W, whichever is larger (plugs read to ~0.1 W, idle boxes wobble by ~1 W).
const STEADY_WATTS: f64 = 1.5;

fn within(a: f64, b: f64) -> bool {
    (a - b).abs() <= (STEADY_RATIO * a.abs().max(b.abs())).max(STEADY_WATTS)
}

/// The meter's average over `[start, end]` from `history` (oldest first), or `None` when the
/// history does not cover the window: no counter readings bracketing both ends and no reading
/// inside it. A counter that went backwards inside the bracket (a reset) is not used.
pub fn window_average(history: &[Timed], start: Instant, end: Instant) -> Option<WindowAverage> {
    if end <= start {
        return None;
    }
    let secs = end.duration_since(start).as_secs_f64();
    let before = history.iter().rposition(|r| r.at <= start);
    let after = history.iter().position(|r| r.at >= end);
    let inside: Vec<f64> = history
        .iter()
        .filter(|r| r.at >= start && r.at <= end)
        .map(|r| r.watts)
        .collect();
    let counter = match (before, after) {
        (Some(i), Some(j)) => counter_average(&history[i..=j], start, end, secs),
        // a meter with a counter waits until its readings bracket the window
        _ if history.last().is_some_and(|r| r.energy_joules.is_some()) => return None,
        _ => None,
    };
    // readings that tell whether the load held: from the last one at or before the window to
    // the first at or after it, when the meter has read on both sides
    let around: Vec<f64> = match (before, after) {
        (Some(i), Some(j)) => history[i..=j].iter().map(|r| r.watts).collect(),
        _ => inside.clone(),
    };
    let (lo, hi) = around
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &w| {
            (lo.min(w), hi.max(w))
        });
    let readings_steady = !around.is_empty() && within(lo, hi);
    match counter {
        // a frozen or foreign counter (it disagrees with every reading) is not believed
        Some(w) if readings_steady && !within(w, (lo + hi) / 2.0) => {
            average_of(&inside).map(|m| WindowAverage {
                watts: m,
                from_counter: false,
                steady: around.len() >= 2,
            })
        }
        Some(w) => Some(WindowAverage {
            watts: w,
            from_counter: true,
            steady: readings_steady,
        }),
        None => average_of(&inside).map(|m| WindowAverage {
            watts: m,
            from_counter: false,
            steady: readings_steady && around.len() >= 2,
        }),
    }
}

fn average_of(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Average watts over `[start, end]` from counter readings `bracket` (first at or before
/// `start`, last at or after `end`), interpolating the counter linearly between readings.
fn counter_average(bracket: &[Timed], start: Instant, end: Instant, secs: f64) -> Option<f64> {
    let pts: Option<Vec<(Instant, f64)>> = bracket
        .iter()
        .map(|r| r.energy_joules.map(|e| (r.at, e)))
        .collect();
    let pts = pts?;
    if pts.windows(2).any(|w| w[1].1 < w[0].1) {
        return None;
    }
    let at = |t: Instant| -> f64 {
        let i = pts.iter().rposition(|p| p.0 <= t).unwrap_or(0);
        let (t0, e0) = pts[i];
        match pts.get(i + 1) {
            Some(&(t1, e1)) if t1 > t0 => {
                e0 + (e1 - e0) * t.duration_since(t0).as_secs_f64()
                    / t1.duration_since(t0).as_secs_f64()
            }
            _ => e0,
        }
    };
    Some((at(end) - at(start)) / secs)
}

/// Joules a device counter advanced from `prev` to `now`. A counter that went backwards was
/// reset (device reboot, owner reset): it counted `now` since the reset, which is added when it
/// is no more than `max_joules` (what the meter could have drawn in the gap), else nothing is
/// (a foreign value: we do not know what happened).
pub fn counter_delta(prev: f64, now: f64, max_joules: f64) -> f64 {
    if now >= prev {
        now - prev
    } else if now <= max_joules {
        now
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn trace(t0: Instant, rows: &[(u64, f64, Option<f64>)]) -> Vec<Timed> {
        rows.iter()
            .map(|&(s, watts, energy_joules)| Timed {
                at: t0 + Duration::from_secs(s),
                watts,
                energy_joules,
            })
            .collect()
    }

    #[test]
    fn averages_the_counter_over_the_window_not_the_last_reading() {
        let t0 = Instant::now();
        // 40 W until 30 s, then 60 W; readings every 15 s with a counter
        let h = trace(
            t0,
            &[
                (0, 40.0, Some(0.0)),
                (15, 40.0, Some(600.0)),
                (30, 40.0, Some(1200.0)),
                (45, 60.0, Some(2100.0)),
                (60, 60.0, Some(3000.0)),
            ],
        );
        let s = |n: u64| t0 + Duration::from_secs(n);
        let a = window_average(&h, s(30), s(60)).unwrap();
        assert_eq!((a.watts, a.from_counter), (60.0, true));
        assert!(!a.steady, "a step at the window's start is not steady");
        let a = window_average(&h, s(0), s(30)).unwrap();
        assert_eq!((a.watts, a.from_counter, a.steady), (40.0, true, true));
        // interpolated at both ends between readings
        let a = window_average(&h, s(5), s(20)).unwrap();
        assert!((a.watts - 40.0).abs() < 1e-9);
        assert!(
            window_average(&h, s(50), s(70)).is_none(),
            "not covered yet: no pair"
        );
    }

    #[test]
    fn without_a_counter_uses_readings_inside_the_window() {
        let t0 = Instant::now();
        let h = trace(t0, &[(0, 30.0, None), (10, 31.0, None), (20, 30.0, None)]);
        let s = |n: u64| t0 + Duration::from_secs(n);
        let a = window_average(&h, s(5), s(25)).unwrap();
        assert_eq!((a.watts, a.from_counter, a.steady), (30.5, false, true));
        assert!(window_average(&h, s(21), s(29)).is_none());
        // one reading inside, and the readings on both sides agree with it: steady
        let a = window_average(&h, s(5), s(15)).unwrap();
        assert_eq!((a.watts, a.steady), (31.0, true));
        let jump = trace(t0, &[(0, 30.0, None), (10, 31.0, None), (20, 60.0, None)]);
        assert!(!window_average(&jump, s(5), s(15)).unwrap().steady);
    }

    #[test]
    fn a_counter_that_reset_or_froze_is_not_used() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let reset = trace(
            t0,
            &[
                (0, 50.0, Some(9000.0)),
                (10, 50.0, Some(100.0)),
                (20, 50.0, Some(600.0)),
            ],
        );
        let a = window_average(&reset, s(0), s(20)).unwrap();
        assert_eq!((a.watts, a.from_counter), (50.0, false));
        let frozen = trace(
            t0,
            &[
                (0, 50.0, Some(10.0)),
                (10, 50.0, Some(10.0)),
                (20, 50.0, Some(10.0)),
            ],
        );
        let a = window_average(&frozen, s(0), s(20)).unwrap();
        assert_eq!((a.watts, a.from_counter, a.steady), (50.0, false, true));
    }

    #[test]
    fn counter_deltas_survive_resets() {
        assert_eq!(counter_delta(100.0, 250.0, 1e3), 150.0);
        assert_eq!(
            counter_delta(9000.0, 120.0, 1e3),
            120.0,
            "reset: counted since"
        );
        assert_eq!(counter_delta(9000.0, 5000.0, 1e3), 0.0, "foreign value");
    }
}
