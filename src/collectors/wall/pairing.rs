//! The wall collector's bookkeeping between rounds: the estimate's windows waiting for the
//! meter to cover them (`Windows`), and each meter's energy counter (`Counters`).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::collectors::rapl;
use crate::estimate::align::{self, Timed};
use crate::estimate::calibrate::Pair;
use crate::estimate::wall::cpu_watts;

/// A window waiting longer than this for the meter is dropped: no pair.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Shortest span a counter step is judged over, seconds (see `Counters::advance`).
const MIN_COUNTER_SPAN: f64 = 120.0;

/// One estimate averaged over its own window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Start of the window (the previous RAPL reading).
    pub start: Instant,
    /// End of the window (this RAPL reading).
    pub end: Instant,
    /// Uncalibrated AC estimate averaged over the window, watts.
    pub estimate: f64,
}

/// RAPL energy per zone at one reading: (id, name, joules_total, skipped).
#[derive(Debug, Clone)]
struct Mark {
    at: Instant,
    zones: Vec<(String, String, f64, u64)>,
}

impl Mark {
    fn of(snap: &rapl::Snapshot) -> Option<Self> {
        Some(Self {
            at: snap.at?,
            zones: snap
                .zones
                .iter()
                .map(|z| (z.id.clone(), z.name.clone(), z.joules_total, z.skipped))
                .collect(),
        })
    }

    /// CPU watts averaged from `prev` to `self` (by the psys / package+dram rule), or `None`
    /// when a zone skipped an interval in between (its joules are missing) or none is common.
    fn cpu_since(&self, prev: &Mark) -> Option<f64> {
        let secs = self.at.checked_duration_since(prev.at)?.as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let mut zones = Vec::new();
        for (id, name, joules, skipped) in &self.zones {
            let Some((_, _, j0, s0)) = prev.zones.iter().find(|z| &z.0 == id) else {
                continue;
            };
            if skipped != s0 || joules < j0 {
                return None;
            }
            zones.push((name.clone(), (joules - j0) / secs));
        }
        cpu_watts(&zones).map(|(w, _)| w)
    }
}

/// Estimate windows not yet paired, and where the next one starts.
#[derive(Debug, Default)]
pub struct Windows {
    pending: VecDeque<Window>,
    rapl: Option<Mark>,
    last_round: Option<Instant>,
}

impl Windows {
    /// Records this round's window, if there is a new one. With RAPL, the window runs between
    /// the two RAPL readings and its CPU watts are their energy over that span; the other
    /// components (`dc_other_watts`) are taken as constant over it. Without RAPL the DC total
    /// is constant between rounds, and the window is the span since the last round.
    pub fn record(
        &mut self,
        rapl: Option<&rapl::Snapshot>,
        dc_other_watts: f64,
        at: Instant,
        to_wall: impl Fn(f64) -> f64,
    ) {
        let last_round = self.last_round.replace(at);
        // no meter to pair them with (none configured, or down): windows do not pile up
        self.pending
            .retain(|w| at.saturating_duration_since(w.end) <= MAX_WAIT);
        let has_cpu = rapl.is_some_and(|s| !s.zones.is_empty());
        if has_cpu {
            let Some(mark) = rapl.and_then(Mark::of) else {
                return;
            };
            if self.rapl.as_ref().is_some_and(|p| p.at == mark.at) {
                return; // RAPL has not read since
            }
            if let Some(prev) = self.rapl.replace(mark.clone())
                && let Some(cpu) = mark.cpu_since(&prev)
            {
                self.pending.push_back(Window {
                    start: prev.at,
                    end: mark.at,
                    estimate: to_wall(cpu + dc_other_watts),
                });
            }
        } else if let Some(start) = last_round.filter(|&s| s < at) {
            self.pending.push_back(Window {
                start,
                end: at,
                estimate: to_wall(dc_other_watts),
            });
        }
    }

    /// Pairs the pending windows the meter's `history` (oldest first) now covers. A window the
    /// meter has passed without covering (no counter around it, no reading inside), or waited
    /// for too long, is dropped: no pair rather than a wrong one.
    pub fn pair(&mut self, history: &[Timed], at: Instant) -> Vec<Pair> {
        let latest = history.last().map(|r| r.at);
        let mut pairs = Vec::new();
        self.pending.retain(|w| {
            if let Some(avg) = align::window_average(history, w.start, w.end) {
                pairs.push(Pair {
                    estimate: w.estimate,
                    measured: avg.watts,
                    seconds: w.end.duration_since(w.start).as_secs_f64(),
                    steady: avg.steady,
                    exact: avg.from_counter,
                });
                return false;
            }
            let passed = latest.is_some_and(|l| l > w.end);
            !passed && at.saturating_duration_since(w.end) <= MAX_WAIT
        });
        pairs
    }
}

/// Each meter's energy counter at its last reading seen: (reading time, joules).
#[derive(Debug, Default)]
pub struct Counters(BTreeMap<String, (Instant, f64)>);

impl Counters {
    /// Joules the meter's counter advanced since the last reading seen, from its newest
    /// reading; `Some(0.0)` when it has not read since, `None` for a first reading, a meter
    /// without a counter or a step it cannot have counted (integrate its watts instead).
    pub fn advance(&mut self, meter: &str, newest: &Timed) -> Option<f64> {
        let energy = newest.energy_joules?;
        let prev = self.0.insert(meter.to_owned(), (newest.at, energy));
        let (t0, e0) = prev?;
        if newest.at <= t0 {
            self.0.insert(meter.to_owned(), (t0, e0));
            return Some(0.0);
        }
        let secs = newest.at.duration_since(t0).as_secs_f64();
        // what the meter could have counted since: twice its reading, plus 50 W, over at least
        // two minutes (a Gen1 Shelly's watt-minute total may move once a minute)
        let max_joules = (2.0 * newest.watts.abs() + 50.0) * secs.max(MIN_COUNTER_SPAN);
        align::counter_delta(e0, energy, max_joules)
    }
}

/// Longest span of steady readings the counter's slope is taken over.
const STEADY_SLOPE_SPAN: Duration = Duration::from_secs(120);

/// Watts from the counter's slope, when the readings have one and it did not reset; else the
/// newest instantaneous reading. The slope runs over the two newest readings, and further back
/// while the readings stay steady (up to `STEADY_SLOPE_SPAN`): a coarse counter's last step is
/// a large share of one interval (a Gen1 Shelly counts whole watt-minutes, 60 J, which is
/// ±4 W over 15 s) and a small one of two minutes (±0.5 W); within the steady tolerance, the
/// longer span costs nothing a reading could tell.
pub fn power_between_readings(history: &[Timed]) -> Option<f64> {
    let newest = history.last()?;
    let counted = |a: &Timed, b: &Timed| match (a.energy_joules, b.energy_joules) {
        (Some(e0), Some(e1)) => e1 >= e0 && b.at > a.at,
        _ => false,
    };
    let n = history.len();
    if n < 2 || !counted(&history[n - 2], newest) {
        return Some(newest.watts);
    }
    let (mut lo, mut hi) = range(&history[n - 2..]);
    let mut first = n - 2;
    while first > 0 {
        let r = &history[first - 1];
        let (l, h) = (lo.min(r.watts), hi.max(r.watts));
        if !counted(r, &history[first])
            || newest.at.duration_since(r.at) > STEADY_SLOPE_SPAN
            || !align::within(l, h)
            || !align::within(lo, hi)
        {
            break;
        }
        (lo, hi, first) = (l, h, first - 1);
    }
    let a = &history[first];
    let (Some(e0), Some(e1)) = (a.energy_joules, newest.energy_joules) else {
        return Some(newest.watts);
    };
    let slope = (e1 - e0) / newest.at.duration_since(a.at).as_secs_f64();
    // a frozen or foreign counter: far outside anything the readings allow
    if slope >= lo / 2.0 - 2.0 && slope <= hi * 2.0 + 2.0 {
        return Some(slope);
    }
    Some(newest.watts)
}

/// The lowest and highest watts of `readings`.
fn range(readings: &[Timed]) -> (f64, f64) {
    readings
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r.watts), hi.max(r.watts))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_without_a_meter_do_not_pile_up() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        for s in 0..1000u64 {
            w.record(None, 20.0, t0 + Duration::from_secs(30 * s), |dc| dc * 1.2);
        }
        assert_eq!(
            w.pending.len(),
            11,
            "5 minutes of 30 s windows, and this one"
        );
        let pairs = w.pair(
            &[Timed {
                at: t0 + Duration::from_secs(30 * 999),
                watts: 24.0,
                energy_joules: None,
            }],
            t0 + Duration::from_secs(30 * 999),
        );
        assert_eq!(pairs.len(), 1, "the window ending at the reading");
        assert_eq!((pairs[0].estimate, pairs[0].measured), (24.0, 24.0));
        assert!(!pairs[0].steady, "one reading cannot tell");
    }

    #[test]
    fn counters_add_deltas_and_survive_a_reset() {
        let t0 = Instant::now();
        let r = |s: u64, watts: f64, e: f64| Timed {
            at: t0 + Duration::from_secs(s),
            watts,
            energy_joules: Some(e),
        };
        let mut c = Counters::default();
        assert_eq!(c.advance("plug", &r(0, 50.0, 1000.0)), None);
        assert_eq!(c.advance("plug", &r(15, 50.0, 1750.0)), Some(750.0));
        assert_eq!(c.advance("plug", &r(15, 50.0, 1750.0)), Some(0.0));
        assert_eq!(c.advance("plug", &r(30, 50.0, 300.0)), Some(300.0));
        // a glitch: one reading of a low total between true ones is a reset, the return to
        // the true total is not energy (it would count 1750 J a second time)
        assert_eq!(c.advance("plug", &r(45, 50.0, 1_000_000.0)), None);
        assert_eq!(c.advance("plug", &r(60, 50.0, 1_000_750.0)), Some(750.0));
        assert_eq!(
            power_between_readings(&[r(0, 49.0, 0.0), r(15, 51.0, 750.0)]),
            Some(50.0)
        );
        assert_eq!(
            power_between_readings(&[r(0, 60.0, 9.0), r(15, 61.0, 9.0)]),
            Some(61.0),
            "a frozen counter is not the power"
        );
    }

    #[test]
    fn a_coarse_counter_is_read_over_the_steady_span() {
        // a Gen1 Shelly plug at a steady 23 W, read every 15 s: its total counts whole
        // watt-minutes, so 345 J per interval shows as steps of 5 or 6 (20 or 24 W)
        let t0 = Instant::now();
        let plug = |s: u64, watts: f64, joules: f64| Timed {
            at: t0 + Duration::from_secs(s),
            watts,
            energy_joules: Some((joules / 60.0).floor() * 60.0),
        };
        let mut h: Vec<Timed> = (0..=20)
            .map(|i| plug(15 * i, 23.0, 345.0 * i as f64))
            .collect();
        for end in 2..=h.len() {
            let got = power_between_readings(&h[..end]).unwrap();
            let span = (15.0 * (end - 1) as f64).min(120.0);
            assert!((got - 23.0).abs() <= 60.0 / span + 1e-9, "{end}: {got}");
        }
        let got = power_between_readings(&h).unwrap();
        assert!((got - 23.0).abs() <= 0.5, "two minutes: {got}");
        // a step to 60 W: the steady span starts again at the step
        let e = h.last().unwrap().energy_joules.unwrap();
        h.push(plug(315, 60.0, e + 15.0 * 60.0));
        h.push(plug(330, 60.0, e + 30.0 * 60.0));
        assert_eq!(power_between_readings(&h), Some(60.0));
    }
}
