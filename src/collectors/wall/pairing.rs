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
    /// reading; `Some(0.0)` when it has not read since, `None` for a first reading or a meter
    /// without a counter (integrate its watts instead).
    pub fn advance(&mut self, meter: &str, newest: &Timed) -> Option<f64> {
        let energy = newest.energy_joules?;
        let prev = self.0.insert(meter.to_owned(), (newest.at, energy));
        let (t0, e0) = prev?;
        if newest.at <= t0 {
            self.0.insert(meter.to_owned(), (t0, e0));
            return Some(0.0);
        }
        let secs = newest.at.duration_since(t0).as_secs_f64();
        // what the meter could have counted since: twice its reading, plus 50 W
        let max_joules = (2.0 * newest.watts.abs() + 50.0) * secs;
        Some(align::counter_delta(e0, energy, max_joules))
    }
}

/// Watts from the counter's slope over the two newest readings with a counter, when both have
/// one and it did not reset; else the newest instantaneous reading.
pub fn power_between_readings(history: &[Timed]) -> Option<f64> {
    let newest = history.last()?;
    if let [.., a, b] = history
        && let (Some(e0), Some(e1)) = (a.energy_joules, b.energy_joules)
        && e1 >= e0
        && b.at > a.at
    {
        let slope = (e1 - e0) / b.at.duration_since(a.at).as_secs_f64();
        // a frozen or foreign counter: far outside anything the readings allow
        let (lo, hi) = (a.watts.min(b.watts), a.watts.max(b.watts));
        if slope >= lo / 2.0 - 2.0 && slope <= hi * 2.0 + 2.0 {
            return Some(slope);
        }
    }
    Some(newest.watts)
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
}
