//! What a wall round publishes, and its metric families.

use super::pairing::power_between_readings;
use crate::app::Latest;
use crate::collectors::meters;
use crate::estimate::calibrate::Calibration;
use crate::estimate::energy::{Accumulator, HOURS_PER_YEAR, kwh};
use crate::estimate::wall::{Component, Estimate};
use crate::metrics::{Families, Family, Render};

const COMPONENT: Family = Family::gauge(
    "hostwatt_wall_component_watts",
    "DC power of one consumer; basis says whether it is measured (sensor), modelled (disk state table, fans) or configured (baseline)",
    &["component", "kind", "basis"],
);
const DC: Family = Family::gauge("hostwatt_wall_dc_watts", "Sum of the DC components", &[]);
const LOSS: Family = Family::gauge(
    "hostwatt_wall_psu_loss_watts",
    "Power lost in the PSU (and brick): the AC estimate minus the DC total, from the PSU efficiency curve",
    &[],
);
const EFFICIENCY: Family = Family::gauge(
    "hostwatt_wall_psu_efficiency_ratio",
    "PSU efficiency at the current DC load, from the configured curve (loss model a + b*P + c*P^2 outside its points)",
    &[],
);
const POWER: Family = Family::gauge(
    "hostwatt_wall_power_watts",
    "AC power at the wall: source=estimate is the DC total divided by the PSU efficiency at that load, source=calibrated that estimate corrected against a meter",
    &["source", "basis"],
);
const BAND: Family = Family::gauge(
    "hostwatt_wall_power_band_watts",
    "Bounds of the true wall power by the estimate's own uncertainty, without a meter: the baseline taken as half to twice itself (at least 4 W), the PSU loss scaled by how its curve is known (measured points, 80 PLUS label, assumed PSU)",
    &["bound", "basis"],
);
const BEST: Family = Family::gauge(
    "hostwatt_wall_best_power_watts",
    "The best available wall power: a meter when one is up (its energy counter's slope over its last two readings when it keeps one), else the calibrated estimate once validated on held-back pairs, else the estimate",
    &["source", "basis"],
);
const ENERGY: Family = Family::counter(
    "hostwatt_wall_energy_joules_total",
    "Energy at the wall integrated from each power series, persisted across restarts (source=best follows hostwatt_wall_best_power_watts)",
    &["source"],
);
const TODAY: Family = Family::gauge(
    "hostwatt_wall_energy_today_joules",
    "Energy at the wall since local midnight",
    &["source"],
);
const MONTH: Family = Family::gauge(
    "hostwatt_wall_energy_month_joules",
    "Energy at the wall since the start of the local month",
    &["source"],
);
const COST_TODAY: Family = Family::gauge(
    "hostwatt_wall_cost_today",
    "Cost of today's energy at the configured price per kWh",
    &["source", "currency"],
);
const COST_MONTH: Family = Family::gauge(
    "hostwatt_wall_cost_month",
    "Cost of this month's energy at the configured price per kWh",
    &["source", "currency"],
);
const IDLE: Family = Family::gauge(
    "hostwatt_wall_idle",
    "1 while the host is idle (CPU and disk I/O below the thresholds for the idle window)",
    &[],
);
const IDLE_POWER: Family = Family::gauge(
    "hostwatt_wall_idle_power_watts",
    "Best wall power while idle, smoothed over about 10 minutes and persisted",
    &[],
);
const IDLE_YEAR: Family = Family::gauge(
    "hostwatt_wall_idle_cost_per_year",
    "What a year at the current idle power costs at the configured price (idle watts x 8766 h)",
    &["currency"],
);
const CAL_OFFSET: Family = Family::gauge(
    "hostwatt_wall_calibration_offset_watts",
    "Fitted offset of the calibration: wall = offset + gain x estimate",
    &[],
);
const CAL_GAIN: Family = Family::gauge(
    "hostwatt_wall_calibration_gain",
    "Fitted gain of the calibration: wall = offset + gain x estimate, kept within 0.75-1.35",
    &[],
);
const CAL_ERR: Family = Family::gauge(
    "hostwatt_wall_calibration_error_watts",
    "Mean absolute error of the published calibrated estimate against the meter's average over the same window (aligned pairs), over about 10 minutes",
    &[],
);
const CAL_ERR_RATIO: Family = Family::gauge(
    "hostwatt_wall_calibration_error_ratio",
    "Mean absolute error of the published calibrated estimate relative to the meter, on aligned pairs, over about 10 minutes",
    &[],
);
const CAL_HELD: Family = Family::gauge(
    "hostwatt_wall_calibration_holdout_error_watts",
    "Mean absolute error on held-back pairs (never learned from) of the calibrated and the uncalibrated estimate",
    &["estimate"],
);
const CAL_TRUSTED: Family = Family::gauge(
    "hostwatt_wall_calibration_trusted",
    "1 when the calibrated estimate has beaten the uncalibrated one on held-back pairs, so it stands in as the best wall power while no meter is up",
    &[],
);
const CAL_DRIFT: Family = Family::gauge(
    "hostwatt_wall_calibration_drifting",
    "1 when the meter and the calibrated estimate have disagreed by more than 3 % (and 1 W) for longer than the calibration's 10-minute time scale",
    &[],
);
const CAL_SAMPLES: Family = Family::counter(
    "hostwatt_wall_calibration_samples_total",
    "Steady, time-aligned estimate/meter pairs the calibration has learned from",
    &[],
);

/// What a wall round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// DC consumers.
    pub components: Vec<Component>,
    /// Through the PSU (configured or assumed).
    pub estimate: Option<Estimate>,
    /// `basis` of the estimate: `modelled`, or `assumed_psu` without `[collectors.wall.psu]`.
    pub estimate_basis: &'static str,
    /// (lower, upper) wall watts by the estimate's own uncertainty (`Chain::band`).
    pub band: Option<(f64, f64)>,
    /// Calibrated estimate, once the calibration has seen a sample.
    pub calibrated: Option<f64>,
    /// The calibration, once it has seen a sample.
    pub calibration: Option<Calibration>,
    /// Meter readings: (name, watts).
    pub meters: Vec<(String, f64)>,
    /// The headline value: (watts, source, basis).
    pub best: Option<(f64, String, &'static str)>,
    /// The meters collector's latest snapshot: a configured meter's series and `best` are
    /// rendered from its newest reading, so they never lag the meters collector by a wall round.
    pub live: Option<Latest<meters::Snapshot>>,
    /// Energy per source.
    pub energy: Vec<(String, Accumulator)>,
    /// Idle now.
    pub idle: bool,
    /// Smoothed idle power.
    pub idle_watts: Option<f64>,
    /// (price per kWh, currency).
    pub price: Option<(f64, String)>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &COMPONENT,
        &DC,
        &LOSS,
        &EFFICIENCY,
        &POWER,
        &BAND,
        &BEST,
        &ENERGY,
        &TODAY,
        &MONTH,
        &COST_TODAY,
        &COST_MONTH,
        &IDLE,
        &IDLE_POWER,
        &IDLE_YEAR,
        &CAL_OFFSET,
        &CAL_GAIN,
        &CAL_ERR,
        &CAL_ERR_RATIO,
        &CAL_HELD,
        &CAL_TRUSTED,
        &CAL_DRIFT,
        &CAL_SAMPLES,
    ];

    fn render(&self, out: &mut Families) {
        for c in &self.components {
            out.push(
                &COMPONENT,
                &[&c.component, c.kind, c.basis.as_str()],
                c.watts,
            );
        }
        out.push(&DC, &[], self.components.iter().map(|c| c.watts).sum());
        if let Some(e) = &self.estimate {
            out.push(&LOSS, &[], e.loss_watts);
            out.push(&EFFICIENCY, &[], e.efficiency());
            out.push(&POWER, &["estimate", self.estimate_basis], e.wall_watts);
        }
        if let Some((lower, upper)) = self.band {
            out.push(&BAND, &["lower", self.estimate_basis], lower);
            out.push(&BAND, &["upper", self.estimate_basis], upper);
        }
        if let Some(w) = self.calibrated {
            out.push(&POWER, &["calibrated", "calibrated"], w);
        }
        let live = self.live.as_ref().and_then(|rx| rx.borrow().clone());
        // the newest reading of a meter still up: (watts, power between its last readings)
        let newest = |name: &str| {
            let m = live.as_ref()?.meters.iter().find(|m| m.name == name)?;
            m.reading.as_ref()?;
            let r = m.history.last()?;
            Some((r.watts, power_between_readings(&m.history)?))
        };
        for (name, w) in &self.meters {
            let w = newest(name).map_or(*w, |(w, _)| w);
            out.push(&POWER, &[name, "measured"], w);
        }
        if let Some((w, source, basis)) = &self.best {
            let w = match *basis {
                "measured" => newest(source).map_or(*w, |(_, p)| p),
                _ => *w,
            };
            out.push(&BEST, &[source, basis], w);
        }
        for (source, acc) in &self.energy {
            out.push(&ENERGY, &[source], acc.joules_total);
            out.push(&TODAY, &[source], acc.joules_day);
            out.push(&MONTH, &[source], acc.joules_month);
            if let Some((price, currency)) = &self.price {
                out.push(
                    &COST_TODAY,
                    &[source, currency],
                    kwh(acc.joules_day) * price,
                );
                out.push(
                    &COST_MONTH,
                    &[source, currency],
                    kwh(acc.joules_month) * price,
                );
            }
        }
        out.push_bool(&IDLE, &[], self.idle);
        if let Some(w) = self.idle_watts {
            out.push(&IDLE_POWER, &[], w);
            if let Some((price, currency)) = &self.price {
                out.push(&IDLE_YEAR, &[currency], w * HOURS_PER_YEAR / 1000.0 * price);
            }
        }
        if let Some(c) = &self.calibration {
            out.push(&CAL_OFFSET, &[], c.theta[0]);
            out.push(&CAL_GAIN, &[], c.theta[1]);
            out.push(&CAL_SAMPLES, &[], c.samples as f64);
            if let Some(e) = c.mae_watts {
                out.push(&CAL_ERR, &[], e);
            }
            if let Some(e) = c.mae_ratio {
                out.push(&CAL_ERR_RATIO, &[], e);
            }
            if let Some(e) = c.held_calibrated_watts {
                out.push(&CAL_HELD, &["calibrated"], e);
            }
            if let Some(e) = c.held_raw_watts {
                out.push(&CAL_HELD, &["uncalibrated"], e);
            }
            out.push_bool(&CAL_TRUSTED, &[], c.trusted());
            out.push_bool(&CAL_DRIFT, &[], c.drifting());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::estimate::align::Timed;
    use crate::meters::{Kind, Reading};

    fn meters_at(t0: Instant, readings: &[(u64, f64, f64)]) -> meters::Snapshot {
        let history: Vec<Timed> = readings
            .iter()
            .map(|&(s, watts, j)| Timed {
                at: t0 + Duration::from_secs(s),
                watts,
                energy_joules: Some(j),
            })
            .collect();
        let last = history.last().expect("a reading");
        meters::Snapshot {
            meters: vec![meters::State {
                name: "plug".into(),
                kind: Kind::Shelly,
                reading: Some(Reading {
                    watts: last.watts,
                    energy_joules: last.energy_joules,
                    method: "apower",
                }),
                error: None,
                errors: BTreeMap::new(),
                history,
            }],
        }
    }

    #[test]
    fn meter_series_and_best_come_from_the_newest_meter_reading() {
        let t0 = Instant::now();
        let (tx, rx) = tokio::sync::watch::channel(Some(Arc::new(meters_at(
            t0,
            &[(0, 40.0, 0.0), (15, 40.0, 600.0)],
        ))));
        let snap = Snapshot {
            meters: vec![("plug".into(), 40.0)],
            best: Some((40.0, "plug".into(), "measured")),
            live: Some(rx),
            ..Snapshot::default()
        };
        // the meters collector reads again after the wall round: no lag at the next scrape
        tx.send_replace(Some(Arc::new(meters_at(
            t0,
            &[(0, 40.0, 0.0), (15, 40.0, 600.0), (30, 71.0, 1500.0)],
        ))));
        let series = crate::testutil::render_series(&snap);
        assert!(
            series.contains(
                &"hostwatt_wall_best_power_watts{source=\"plug\",basis=\"measured\"} 60".to_owned()
            ),
            "the counter's slope over the last 15 s: {series:?}"
        );
        assert!(
            series.contains(
                &"hostwatt_wall_power_watts{source=\"plug\",basis=\"measured\"} 71".to_owned()
            ),
            "{series:?}"
        );
    }
}
