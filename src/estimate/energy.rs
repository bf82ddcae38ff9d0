//! Energy accumulation (watts over time → joules), per local day and month, and idle detection.
//!
//! Integration is trapezoidal between consecutive samples. A gap longer than `max_gap` (the
//! daemon was stopped, the host suspended) is not bridged: we do not know what happened in it.
//! Day and month keys come from the caller (local calendar), so this stays pure and testable.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Hours in an average year, for annual projections.
pub const HOURS_PER_YEAR: f64 = 8766.0;

/// An energy counter for one power series; its persisted part survives restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Joules since the counter was first created (across restarts).
    pub joules_total: f64,
    /// Local day the `joules_day` belongs to (`YYYY-MM-DD`).
    pub day: String,
    /// Joules in `day`.
    pub joules_day: f64,
    /// Local month the `joules_month` belongs to (`YYYY-MM`).
    pub month: String,
    /// Joules in `month`.
    pub joules_month: f64,
    #[serde(skip)]
    last: Option<(Instant, f64)>,
}

impl Accumulator {
    /// Adds a power sample taken at `at`, on local `day`/`month`.
    pub fn add(&mut self, watts: f64, at: Instant, day: &str, month: &str, max_gap: Duration) {
        self.roll(day, month);
        if let Some((t, w)) = self.last {
            let dt = at.saturating_duration_since(t);
            if !dt.is_zero() && dt <= max_gap {
                let joules = (w + watts) / 2.0 * dt.as_secs_f64();
                self.joules_total += joules;
                self.joules_day += joules;
                self.joules_month += joules;
            }
        }
        self.last = Some((at, watts));
    }

    /// Adds `joules` counted by a device between its readings (an energy counter's delta), on
    /// local `day`/`month`; `watts` at `at` continues the segment if the next sample is a power.
    pub fn add_joules(&mut self, joules: f64, watts: f64, at: Instant, day: &str, month: &str) {
        self.roll(day, month);
        self.joules_total += joules;
        self.joules_day += joules;
        self.joules_month += joules;
        self.last = Some((at, watts));
    }

    fn roll(&mut self, day: &str, month: &str) {
        if self.day != day {
            self.day = day.to_owned();
            self.joules_day = 0.0;
        }
        if self.month != month {
            self.month = month.to_owned();
            self.joules_month = 0.0;
        }
    }

    /// Forgets the last sample, so the next one starts a new segment (the series went away).
    pub fn break_segment(&mut self) {
        self.last = None;
    }
}

/// kWh from joules.
pub fn kwh(joules: f64) -> f64 {
    joules / 3.6e6
}

/// Idle detection: CPU and disk I/O below thresholds, held for a window; and the smoothed wall
/// power while idle.
#[derive(Debug, Clone)]
pub struct Idle {
    /// How long the thresholds must hold.
    pub window: Duration,
    /// CPU busy ratio below which the host may be idle.
    pub cpu_busy_below: f64,
    /// Disk operations per second below which the host may be idle.
    pub disk_iops_below: f64,
    /// Smoothing time constant of the idle power.
    pub tau: Duration,
    quiet_since: Option<Instant>,
    last: Option<Instant>,
    /// Smoothed wall watts while idle; persisted by the caller.
    pub idle_watts: Option<f64>,
}

impl Idle {
    /// A detector with the given thresholds and a 10-minute smoothing constant.
    pub fn new(window: Duration, cpu_busy_below: f64, disk_iops_below: f64) -> Self {
        Self {
            window,
            cpu_busy_below,
            disk_iops_below,
            tau: Duration::from_secs(600),
            quiet_since: None,
            last: None,
            idle_watts: None,
        }
    }

    /// Feeds one sample; returns whether the host is idle now. Unknown CPU load never counts
    /// as idle; unknown disk I/O (no block devices) does not block it.
    pub fn update(
        &mut self,
        at: Instant,
        cpu_busy: Option<f64>,
        disk_iops: Option<f64>,
        wall_watts: Option<f64>,
    ) -> bool {
        let quiet = cpu_busy.is_some_and(|b| b < self.cpu_busy_below)
            && disk_iops.is_none_or(|i| i < self.disk_iops_below);
        self.quiet_since = if quiet {
            self.quiet_since.or(Some(at))
        } else {
            None
        };
        let idle = self
            .quiet_since
            .is_some_and(|s| at.saturating_duration_since(s) >= self.window);
        if let (true, Some(w)) = (idle, wall_watts) {
            let dt = self
                .last
                .map_or(Duration::ZERO, |l| at.saturating_duration_since(l));
            let alpha = 1.0 - (-dt.as_secs_f64() / self.tau.as_secs_f64()).exp();
            self.idle_watts = Some(match self.idle_watts {
                Some(prev) if !dt.is_zero() => prev + alpha * (w - prev),
                Some(prev) => prev,
                None => w,
            });
        }
        self.last = Some(at);
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_secs(90);

    #[test]
    fn integrates_trapezoids_and_splits_days() {
        let t0 = Instant::now();
        let mut a = Accumulator::default();
        a.add(20.0, t0, "2026-11-23", "2026-11", GAP);
        a.add(
            40.0,
            t0 + Duration::from_secs(30),
            "2026-11-23",
            "2026-11",
            GAP,
        );
        assert_eq!(a.joules_total, 900.0); // (20+40)/2 W × 30 s
        a.add(
            40.0,
            t0 + Duration::from_secs(60),
            "2026-11-24",
            "2026-11",
            GAP,
        );
        assert_eq!(
            (a.joules_total, a.joules_day, a.joules_month),
            (2100.0, 1200.0, 2100.0)
        );
        a.add(
            40.0,
            t0 + Duration::from_secs(60 + 3600),
            "2026-11-24",
            "2026-11",
            GAP,
        );
        assert_eq!(a.joules_total, 2100.0, "an hour-long gap is not bridged");
        a.add(
            40.0,
            t0 + Duration::from_secs(90 + 3600),
            "2026-12-01",
            "2026-12",
            GAP,
        );
        assert_eq!((a.joules_day, a.joules_month), (1200.0, 1200.0));
        assert!((kwh(3.6e6) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn idle_needs_the_whole_window_and_smooths_power() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n * 60);
        let mut idle = Idle::new(Duration::from_secs(300), 0.10, 5.0);
        assert!(!idle.update(s(0), Some(0.02), Some(0.0), Some(30.0)));
        assert!(!idle.update(s(4), Some(0.02), Some(1.0), Some(30.0)));
        assert!(idle.update(s(5), Some(0.02), Some(1.0), Some(30.0)));
        assert_eq!(idle.idle_watts, Some(30.0));
        assert!(idle.update(s(15), Some(0.02), None, Some(40.0)));
        let w = idle.idle_watts.unwrap();
        assert!(
            (w - (30.0 + (1.0 - (-1.0f64).exp()) * 10.0)).abs() < 1e-9,
            "{w}"
        );
        assert!(
            !idle.update(s(16), Some(0.50), Some(1.0), Some(80.0)),
            "busy CPU ends idle"
        );
        assert_eq!(
            idle.idle_watts,
            Some(w),
            "busy power does not move the idle power"
        );
        assert!(
            !idle.update(s(17), None, Some(0.0), Some(30.0)),
            "unknown CPU load is not idle"
        );
    }
}
