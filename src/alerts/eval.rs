//! Evaluates rules over gathered metric families (exactly what `/metrics` shows): no I/O.
//!
//! Each rule yields one `Observation` per matching series: its labels, its value, and whether
//! the firing condition (`fires`) and the hysteresis condition (`holds`) are met. The state
//! machine (`alerts::book`) decides the state from those. "Increased" rules need the past: `History`
//! keeps, per series, the points where its value changed inside the window.

use std::collections::{BTreeMap, HashMap};

use prometheus::proto::{Metric, MetricFamily, MetricType};

use super::rules::{Expr, Op, Rule, Selector};

/// Labels of a series, `__name__` excluded.
pub type Labels = BTreeMap<String, String>;

/// One series of one rule at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Identifying labels.
    pub labels: Labels,
    /// The value compared (for `Increased`, the increase; for `Age`, the age in seconds).
    pub value: f64,
    /// The firing condition holds.
    pub fires: bool,
    /// The condition a firing alert needs to stay firing (past `clear`).
    pub holds: bool,
}

/// Points of "increased" series: (unix time, value), oldest first.
#[derive(Debug, Default, Clone)]
pub struct History {
    series: HashMap<(&'static str, Labels), Vec<(f64, f64)>>,
}

impl History {
    /// Series tracked (for tests and bounds).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Records `value` at `now` and returns the growth over the window ending at `now`, or
    /// `None` while the series has no point at or before the window start and only one inside it
    /// (as `increase` in PromQL needs two samples).
    fn observe(
        &mut self,
        rule: &'static str,
        labels: &Labels,
        now: f64,
        value: f64,
        window: f64,
        counter: bool,
    ) -> Option<f64> {
        let points = self.series.entry((rule, labels.clone())).or_default();
        // only changes are stored: a flat series costs one or two points whatever the window
        let changed = points.last().is_none_or(|&(_, v)| v != value);
        if changed {
            points.push((now, value));
        }
        let start = now - window;
        // keep one point at or before the window start: the baseline
        let first_inside = points
            .iter()
            .position(|&(t, _)| t > start)
            .unwrap_or(points.len());
        if first_inside > 1 {
            points.drain(..first_inside - 1);
        }
        if points.len() < 2 && !(points.len() == 1 && points[0].0 < now) {
            return None;
        }
        let growth = if counter {
            points
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0].1, w[1].1);
                    if b >= a { b - a } else { b } // a counter reset: it counted up from 0
                })
                .sum()
        } else {
            points.last().map(|p| p.1).unwrap_or(value) - points[0].1
        };
        Some(growth)
    }

    /// Forgets series of `rule` not in `seen` (a vanished disk does not stay forever).
    fn retain_seen(&mut self, rule: &'static str, seen: &[Labels]) {
        self.series
            .retain(|(r, l), _| *r != rule || seen.contains(l));
    }
}

/// A series of a family: labels and value.
fn sample(m: &Metric, kind: MetricType) -> (Labels, f64) {
    let labels = m
        .get_label()
        .iter()
        .map(|lp| (lp.name().to_owned(), lp.value().to_owned()))
        .collect();
    // hostwatt renders only counters and gauges
    let value = match kind {
        MetricType::COUNTER => m.get_counter().value(),
        _ => m.get_gauge().value(),
    };
    (labels, value)
}

/// The series of `families` that `sel` selects.
pub fn select(families: &[MetricFamily], sel: &Selector) -> Vec<(Labels, f64)> {
    let Some(mf) = families.iter().find(|f| f.name() == sel.metric) else {
        return Vec::new();
    };
    mf.get_metric()
        .iter()
        .map(|m| sample(m, mf.get_field_type()))
        .filter(|(labels, _)| {
            sel.matchers.iter().all(|(name, want)| {
                want.matches(labels.get(*name).map(String::as_str).unwrap_or(""))
            })
        })
        .collect()
}

/// Evaluates `rule` at unix time `now`.
pub fn evaluate(
    rule: &Rule,
    families: &[MetricFamily],
    now: f64,
    history: &mut History,
) -> Vec<Observation> {
    let threshold = rule.threshold.unwrap_or(0.0);
    let clear = rule.clear_value().unwrap_or(threshold);
    match rule.expr {
        Expr::Compare(sel, op) => select(families, &sel)
            .into_iter()
            .map(|(labels, value)| {
                let (fires, holds) = match op {
                    Op::Above => (value > threshold, value > clear),
                    Op::Below => (value < threshold, value < clear),
                    Op::Equals(x) => (value == x, value == x),
                };
                Observation {
                    labels,
                    value,
                    fires,
                    holds,
                }
            })
            .collect(),
        Expr::Age(sel) => select(families, &sel)
            .into_iter()
            .map(|(labels, at)| {
                let value = now - at;
                Observation {
                    labels,
                    value,
                    fires: value > threshold,
                    holds: value > threshold,
                }
            })
            .collect(),
        Expr::Increased(sel) => {
            let window = rule.window.map_or(0.0, |w| w.as_secs_f64());
            let series = select(families, &sel);
            let seen: Vec<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
            history.retain_seen(rule.name, &seen);
            series
                .into_iter()
                .filter_map(|(labels, v)| {
                    let growth =
                        history.observe(rule.name, &labels, now, v, window, sel.is_counter())?;
                    Some(Observation {
                        labels,
                        value: growth,
                        fires: growth > threshold,
                        holds: growth > threshold,
                    })
                })
                .collect()
        }
        Expr::Both(left, lv, right, rv) => {
            let right_ok = select(families, &right).iter().any(|(_, v)| *v == rv);
            select(families, &left)
                .into_iter()
                .map(|(labels, value)| {
                    let ok = value == lv && right_ok;
                    Observation {
                        labels,
                        value,
                        fires: ok,
                        holds: ok,
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alerts::rules::builtin;
    use crate::metrics::{Families, Family};

    pub(crate) const CAP: Family =
        Family::gauge("hostwatt_zfs_pool_capacity_ratio", "c", &["pool"]);
    const STATE: Family = Family::gauge("hostwatt_zfs_pool_state", "s", &["pool", "state"]);
    const CE: Family = Family::counter(
        "hostwatt_edac_correctable_errors_total",
        "ce",
        &["controller"],
    );
    const SCAN_END: Family = Family::gauge(
        "hostwatt_zfs_scan_end_timestamp_seconds",
        "e",
        &["pool", "function"],
    );
    const ECC: Family = Family::gauge("hostwatt_edac_memory_ecc_present", "e", &[]);
    const EDAC: Family = Family::gauge("hostwatt_edac_reporting_active", "r", &[]);
    const SMR_IN_POOL: Family =
        Family::gauge("hostwatt_storage_smr_in_pool", "s", &["disk", "pool"]);
    const ALL: &[&Family] = &[&CAP, &STATE, &CE, &SCAN_END, &ECC, &EDAC, &SMR_IN_POOL];

    /// Families built by pushing series.
    pub(crate) fn families(f: impl FnOnce(&mut Families)) -> Vec<MetricFamily> {
        let mut out = Families::new(ALL);
        f(&mut out);
        out.into_vec()
    }

    pub(crate) fn rule(name: &str) -> Rule {
        builtin().into_iter().find(|r| r.name == name).unwrap()
    }

    fn eval(
        name: &str,
        fams: &[MetricFamily],
        now: f64,
        h: &mut History,
    ) -> Vec<(f64, bool, bool)> {
        evaluate(&rule(name), fams, now, h)
            .into_iter()
            .map(|o| (o.value, o.fires, o.holds))
            .collect()
    }

    #[test]
    fn compares_with_hysteresis() {
        let mut h = History::default();
        let fams = families(|f| {
            f.push(&CAP, &["tank"], 0.79);
            f.push(&CAP, &["big"], 0.85);
        });
        let obs = evaluate(&rule("ZfsPoolCapacityHigh"), &fams, 0.0, &mut h);
        assert_eq!(obs.len(), 2);
        let by = |p: &str| obs.iter().find(|o| o.labels["pool"] == p).unwrap();
        assert_eq!((by("big").fires, by("big").holds), (true, true));
        assert_eq!(
            (by("tank").fires, by("tank").holds),
            (false, true),
            "0.79 is above clear 0.78"
        );
    }

    #[test]
    fn matches_labels_of_a_state_set() {
        let mut h = History::default();
        let fams = families(|f| {
            for (s, v) in [("ONLINE", 0.0), ("DEGRADED", 1.0), ("FAULTED", 0.0)] {
                f.push(&STATE, &["tank", s], v);
            }
        });
        let obs = evaluate(&rule("ZfsPoolNotOnline"), &fams, 0.0, &mut h);
        let firing: Vec<&str> = obs
            .iter()
            .filter(|o| o.fires)
            .map(|o| o.labels["state"].as_str())
            .collect();
        assert_eq!(firing, ["DEGRADED"]);
        assert_eq!(obs.len(), 2, "ONLINE is not selected");
    }

    #[test]
    fn increase_needs_two_points_and_forgets_after_the_window() {
        let mut h = History::default();
        let r = "EdacCorrectedErrorsIncreasing";
        let at = |v: f64| families(|f| f.push(&CE, &["mc0"], v));
        assert_eq!(eval(r, &at(5.0), 0.0, &mut h), [], "one point: unknown");
        assert_eq!(eval(r, &at(5.0), 60.0, &mut h), [(0.0, false, false)]);
        assert_eq!(eval(r, &at(7.0), 120.0, &mut h), [(2.0, true, true)]);
        assert_eq!(
            eval(r, &at(1.0), 180.0, &mut h),
            [(3.0, true, true)],
            "reset counts from 0"
        );
        assert_eq!(
            eval(r, &at(1.0), 120.0 + 3600.0, &mut h),
            [(1.0, true, true)]
        );
        assert_eq!(
            eval(r, &at(1.0), 180.0 + 3600.0, &mut h),
            [(0.0, false, false)],
            "window passed"
        );
        assert_eq!(h.len(), 1);
        assert_eq!(eval(r, &families(|_| {}), 240.0 + 3600.0, &mut h), []);
        assert!(h.is_empty(), "a vanished series is forgotten");
    }

    #[test]
    fn increase_of_a_gauge_is_its_difference() {
        let mut h = History::default();
        let mut rl = rule("EdacCorrectedErrorsIncreasing");
        rl.expr = Expr::Increased(Selector::metric("hostwatt_zfs_pool_capacity_ratio"));
        let at = |v: f64| families(|f| f.push(&CAP, &["tank"], v));
        evaluate(&rl, &at(0.5), 0.0, &mut h);
        evaluate(&rl, &at(0.7), 60.0, &mut h);
        let o = evaluate(&rl, &at(0.6), 120.0, &mut h);
        assert!((o[0].value - 0.1).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn age_is_seconds_since_the_timestamp() {
        let mut h = History::default();
        // the end of a later resilver does not count as a scrub
        let fams = families(|f| {
            f.push(&SCAN_END, &["tank", "scrub"], 1000.0);
            f.push(&SCAN_END, &["tank", "resilver"], 1000.0 + 35.0 * 86_400.0);
        });
        let day = 86_400.0;
        assert_eq!(
            eval("ZfsScrubOverdue", &fams, 1000.0 + 36.0 * day, &mut h),
            [(36.0 * day, true, true)]
        );
        assert_eq!(
            eval("ZfsScrubOverdue", &fams, 1000.0 + 2.0 * day, &mut h),
            [(2.0 * day, false, false)]
        );
    }

    #[test]
    fn both_needs_the_right_side() {
        let mut h = History::default();
        let r = "EccReportingInactive";
        let fams = |ecc: f64, active: Option<f64>| {
            families(|f| {
                f.push(&ECC, &[], ecc);
                if let Some(a) = active {
                    f.push(&EDAC, &[], a);
                }
            })
        };
        assert_eq!(
            eval(r, &fams(1.0, Some(0.0)), 0.0, &mut h),
            [(1.0, true, true)]
        );
        assert_eq!(
            eval(r, &fams(1.0, Some(1.0)), 0.0, &mut h),
            [(1.0, false, false)]
        );
        assert_eq!(
            eval(r, &fams(0.0, Some(0.0)), 0.0, &mut h),
            [(0.0, false, false)]
        );
        assert_eq!(
            eval(r, &fams(1.0, None), 0.0, &mut h),
            [(1.0, false, false)],
            "edac collector off: unknown"
        );
    }

    fn label_map(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The rule reads the storage collector's join (`storage::join`, tested there on kernel
    /// names) instead of joining SMART and ZFS series a second way.
    #[test]
    fn smr_disk_in_a_pool_fires_per_pool_and_disk_of_the_storage_join() {
        let mut h = History::default();
        let fams = families(|f| {
            f.push(&SMR_IN_POOL, &["ST4000DM004_Z1", "tank"], 1.0);
            f.push(&SMR_IN_POOL, &["WD40EFRX_W1", "tank"], 0.0);
        });
        let obs = evaluate(&rule("SmrDiskInZfsPool"), &fams, 0.0, &mut h);
        let firing: Vec<_> = obs.iter().filter(|o| o.fires).collect();
        assert_eq!(firing.len(), 1, "{obs:?}");
        assert_eq!(
            firing[0].labels,
            label_map(&[("pool", "tank"), ("disk", "ST4000DM004_Z1")])
        );
        assert!(
            evaluate(&rule("SmrDiskInZfsPool"), &families(|_| {}), 0.0, &mut h)
                .iter()
                .all(|o| !o.fires)
        );
    }
}
