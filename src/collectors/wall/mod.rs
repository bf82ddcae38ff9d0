//! Wall (AC) power: where the watts go, what the wall sees, what it costs.
//!
//! Derived from other collectors' latest snapshots (no hardware access of its own, except
//! `sys/block/*/stat` for disk I/O, which never touches a disk): RAPL for the CPU, the system
//! collector for CPU load. Components are summed to a DC total, taken through the configured PSU
//! curve (`estimate::psu`, `estimate::wall`) to an AC estimate, and calibrated online against a
//! wall meter when one is configured (`estimate::calibrate`). Energy per series, idle power and
//! the calibration persist in `<state_dir>/energy.json`, saved every `persist_interval` and on
//! shutdown, so at most one persist interval is lost on a crash.

mod config;
mod pairing;
mod render;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::hwmon::{self, SensorKind};
use super::smart::{self, advisories::Class as AdviceClass, power::State as SmartState};
use super::{CollectError, Collector, Context, Fault, Sample, meters, rapl, system};
use crate::host::blockstat;
use crate::estimate::align::Timed;
use crate::estimate::calibrate::Calibration;
use crate::estimate::disks;
use crate::estimate::energy::{Accumulator, Idle};
use crate::estimate::wall::{self, Chain, Estimate, Inputs};
use crate::metrics::Latest;
use crate::host::root::Root;
use crate::parse::ParseError;
use crate::state;
pub use config::Config;
pub use render::Snapshot;

/// What survives a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    energy: BTreeMap<String, Accumulator>,
    calibration: Calibration,
    idle_watts: Option<f64>,
}

/// A SMART disk as a power consumer. A disk that has never answered (asleep since hostwatt
/// started) is taken as a 3.5" 7200 rpm drive, the most common sleeper; its standby watts are
/// small either way. "Unknown" state (no I/O seen yet) counts as idle: it is spinning, as far as
/// anyone knows.
fn disk_input(d: &smart::Disk) -> wall::Disk {
    // Some bridges and emulations omit the rotation rate; a drive the advisory table places
    // in a hard-disk class is then taken as a 5400 rpm 3.5" drive, not as an SSD.
    let hdd_class = d.advice.as_ref().is_some_and(|a| {
        matches!(
            a.class,
            AdviceClass::Desktop | AdviceClass::Nas | AdviceClass::Enterprise
        )
    });
    let (model, class) = match &d.data {
        Some(data) => {
            let rpm = data.rotation_rpm.or(hdd_class.then_some(5400));
            (
                data.model.clone().unwrap_or_default(),
                disks::Class::infer(&data.protocol, rpm, None),
            )
        }
        None => (
            String::new(),
            disks::Class::infer(&d.protocol, Some(7200), None),
        ),
    };
    let state = match d.state {
        SmartState::Active => disks::State::Active,
        SmartState::Standby => disks::State::Standby,
        SmartState::Idle | SmartState::Unknown => disks::State::Idle,
    };
    wall::Disk {
        id: d.id.clone(),
        model,
        class,
        state,
    }
}

/// Whether a hwmon power label names a PSU's input power.
fn is_psu_input_label(label: &str) -> bool {
    let l = label.to_ascii_lowercase();
    l == "pin" || l.starts_with("pin ") || l == "power total" || l == "input power"
}

/// The wall collector.
pub struct Wall {
    cfg: Config,
    chain: Chain,
    store: state::Store,
    rapl: Option<Latest<rapl::Snapshot>>,
    hwmon: Option<Latest<hwmon::Snapshot>>,
    smart: Option<Latest<smart::Snapshot>>,
    meters: Option<Latest<meters::Snapshot>>,
    system: Option<Latest<system::Reading>>,
    persisted: Persisted,
    loaded: bool,
    /// Why the saved state could not be used, until the next successful save.
    state_problem: Option<String>,
    idle: Idle,
    last_persist: Option<Instant>,
    last_ios: Option<(Instant, u64)>,
    windows: pairing::Windows,
    counters: pairing::Counters,
    hwmon_history: BTreeMap<String, VecDeque<Timed>>,
    /// The source of `best` last round (energy continuity).
    best_source: Option<String>,
}

impl super::Build for Wall {
    type Inputs = (
        Option<Latest<rapl::Snapshot>>,
        Option<Latest<hwmon::Snapshot>>,
        Option<Latest<smart::Snapshot>>,
        Option<Latest<meters::Snapshot>>,
        Option<Latest<system::Reading>>,
    );

    /// `[collectors.wall]` was validated by `config::resolve`, so its chain builds; the state
    /// goes to the setup's store.
    fn build(setup: &super::Setup<'_>, (rapl, hwmon, smart, meters, system): Self::Inputs) -> Self {
        let cfg = setup.collectors.wall.clone();
        let store = setup.store.clone();
        let chain = cfg.chain_or_assumed();
        let idle = Idle::new(
            cfg.idle_window.0,
            cfg.idle_cpu_busy_below,
            cfg.idle_disk_iops_below,
        );
        Self {
            cfg,
            chain,
            store,
            rapl,
            hwmon,
            smart,
            meters,
            system,
            persisted: Persisted::default(),
            loaded: false,
            state_problem: None,
            idle,
            last_persist: None,
            last_ios: None,
            windows: pairing::Windows::default(),
            counters: pairing::Counters::default(),
            hwmon_history: BTreeMap::new(),
            best_source: None,
        }
    }
}

impl Wall {
    /// The DC inputs, and whether they are complete: RAPL zones that exist but have no rate
    /// yet (their first round) would make the CPU look free, so such a round is not integrated.
    fn inputs(&self) -> (Inputs, bool) {
        let mut inputs = Inputs::default();
        let mut complete = true;
        if let Some(snap) = self.rapl.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.rapl = snap
                .zones
                .iter()
                .filter(|z| z.counted)
                .filter_map(|z| z.watts.map(|w| (z.name.clone(), w)))
                .collect();
            complete &= snap.zones.is_empty() || !inputs.rapl.is_empty();
        }
        if let Some(snap) = self.hwmon.as_ref().and_then(|rx| rx.borrow().clone()) {
            for (chip, sensor) in snap.sensors(SensorKind::Power) {
                if chip
                    .name
                    .as_ref()
                    .is_some_and(|n| self.cfg.hwmon_chips.contains(n))
                {
                    inputs
                        .hwmon
                        .push((chip.chip.clone(), sensor.id(), sensor.value));
                }
            }
            inputs.fans_spinning = snap
                .sensors(SensorKind::Fan)
                .filter(|(_, s)| s.value > 0.0)
                .count();
        }
        if let Some(snap) = self.smart.as_ref().and_then(|rx| rx.borrow().clone()) {
            inputs.disks = snap.disks.iter().map(disk_input).collect();
        }
        (inputs, complete)
    }

    /// Wall meters up this round, in config order, then PSUs that report their input power
    /// through hwmon (PMBus `pin`, corsair-psu `power total`, named `hwmon:<chip>`). The first
    /// one is what the calibration learns from.
    fn meters_now(&mut self, at: Instant) -> Vec<MeterNow> {
        let mut out = Vec::new();
        if let Some(snap) = self.meters.as_ref().and_then(|rx| rx.borrow().clone()) {
            for m in &snap.meters {
                // a running host draws watts: a meter that reads (nearly) none measures
                // something else (an outlet switched off, a UPS below its resolution), and as
                // best power or a calibration target it would be nonsense
                let reads_a_host = m.history.last().is_some_and(|r| r.watts >= MIN_HOST_WATTS);
                if m.reading.is_some() && reads_a_host {
                    out.push(MeterNow {
                        name: m.name.clone(),
                        history: m.history.clone(),
                    });
                }
            }
        }
        let Some(snap) = self.hwmon.as_ref().and_then(|rx| rx.borrow().clone()) else {
            return out;
        };
        for (c, s) in snap
            .sensors(SensorKind::Power)
            .filter(|(_, s)| s.label.as_deref().is_some_and(is_psu_input_label))
        {
            let name = format!("hwmon:{}", c.chip);
            let history = self.hwmon_history.entry(name.clone()).or_default();
            history.push_back(Timed {
                at,
                watts: s.value,
                energy_joules: None,
            });
            while history
                .front()
                .is_some_and(|r| at.saturating_duration_since(r.at) > meters::HISTORY)
            {
                history.pop_front();
            }
            out.push(MeterNow {
                name,
                history: history.iter().copied().collect(),
            });
        }
        out
    }

    fn cpu_busy(&self) -> Option<f64> {
        self.system
            .as_ref()
            .and_then(|rx| rx.borrow().clone())
            .map(|r| f64::from(r.cpu_busy_ratio))
    }

    /// Loads the saved state once. A file set aside stays reported (`state_problem`) until the
    /// state has been saved again, so the fault is visible for a whole persist interval, not
    /// for one round.
    fn load_state(&mut self) {
        self.loaded = true;
        match self.store.load::<Persisted>("energy") {
            state::Loaded::Missing => {}
            state::Loaded::Ok(p) => {
                self.idle.idle_watts = p.idle_watts;
                self.persisted = p;
            }
            state::Loaded::SetAside { reason, moved_to } => {
                let moved = moved_to.map_or("left in place".into(), |p| {
                    format!("moved to {}", p.display())
                });
                self.state_problem = Some(format!("{reason}; {moved}; starting from zero"));
            }
        }
    }

    fn save_state(&mut self) -> Result<(), state::SaveError> {
        self.persisted.idle_watts = self.idle.idle_watts;
        self.store.save("energy", &self.persisted)
    }

    fn round(&mut self, root: &Root, at: Instant) -> Snapshot {
        let meters = self.meters_now(at);
        let (inputs, complete) = self.inputs();
        let components = wall::components(
            &inputs,
            self.cfg.baseline_watts,
            self.cfg.fan_watts,
            &self.cfg.disk_models,
        );
        let dc: f64 = components.iter().map(|c| c.watts).sum();
        let estimate = Some(self.chain.estimate(dc));
        let estimate_basis = self.chain.basis.label();
        let band = Some(self.chain.band(dc, self.cfg.baseline_watts));
        let cpu: f64 = components
            .iter()
            .filter(|c| c.kind == "cpu")
            .map(|c| c.watts)
            .sum();
        let rapl = self.rapl.as_ref().and_then(|rx| rx.borrow().clone());
        let chain = &self.chain;
        self.windows.record(rapl.as_deref(), dc - cpu, at, |w| {
            chain.estimate(w).wall_watts
        });
        let cal = &mut self.persisted.calibration;
        if let Some(m) = meters.first() {
            for pair in self.windows.pair(&m.history, at) {
                if self.cfg.calibrate {
                    cal.observe(pair);
                }
            }
        }
        let calibrated = estimate
            .filter(|_| cal.samples > 0)
            .map(|e| cal.apply(e.wall_watts));
        let best = match (meters.first(), calibrated, &estimate) {
            (Some(m), _, _) => Some((m.power(), m.name.clone(), "measured")),
            (None, Some(w), _) if cal.trusted() => Some((w, "calibrated".to_owned(), "calibrated")),
            (None, _, Some(e)) => Some((e.wall_watts, "estimate".to_owned(), estimate_basis)),
            (None, _, None) => None,
        };
        self.integrate(at, &meters, &best, estimate.filter(|_| complete));
        let ios = blockstat::read_disk_ios(root);
        let iops = match (self.last_ios, ios) {
            (Some((t, prev)), Some(now)) if at > t => {
                Some(now.saturating_sub(prev) as f64 / at.duration_since(t).as_secs_f64())
            }
            _ => None,
        };
        self.last_ios = ios.map(|n| (at, n));
        let idle = self
            .idle
            .update(at, self.cpu_busy(), iops, best.as_ref().map(|b| b.0));
        let live: Vec<&str> = meters
            .iter()
            .map(|m| m.name.as_str())
            .chain(estimate.filter(|_| complete).map(|_| "estimate"))
            .chain(best.as_ref().map(|_| "best"))
            .collect();
        Snapshot {
            components,
            estimate,
            estimate_basis,
            band,
            calibrated,
            calibration: (self.persisted.calibration.samples > 0)
                .then(|| self.persisted.calibration.clone()),
            meters: meters.iter().map(|m| (m.name.clone(), m.watts())).collect(),
            best,
            live: self.meters.clone(),
            energy: self
                .persisted
                .energy
                .iter()
                .filter(|(s, _)| live.contains(&s.as_str()))
                .map(|(s, a)| (s.clone(), a.clone()))
                .collect(),
            idle,
            idle_watts: self.idle.idle_watts,
            price: self
                .cfg
                .price_per_kwh
                .map(|p| (p, self.cfg.currency.clone())),
        }
    }

    /// Adds this round to the energy counters. A meter with an energy counter adds the
    /// counter's deltas (resets handled in `Counters`), so hostwatt's total matches the
    /// device's; one without is integrated from its readings. `best` follows the meter's
    /// counter while that meter stays the best source; the first delta after an outage is not
    /// added to `best`, whose estimate already covered the gap.
    fn integrate(
        &mut self,
        at: Instant,
        meters: &[MeterNow],
        best: &Option<(f64, String, &'static str)>,
        estimate: Option<Estimate>,
    ) {
        let now = chrono::Local::now();
        let (day, month) = (
            now.format("%Y-%m-%d").to_string(),
            now.format("%Y-%m").to_string(),
        );
        let max_gap = self.cfg.interval.0 * 3;
        let energy = &mut self.persisted.energy;
        for (source, acc) in energy.iter_mut() {
            let live = source == "best"
                || (source == "estimate" && estimate.is_some())
                || meters.iter().any(|m| &m.name == source);
            if !live {
                // a meter that went away: do not bridge its gap with watts later (its energy
                // counter, kept in `counters`, does count the gap when it is back)
                acc.break_segment();
            }
        }
        let mut best_joules = None;
        for m in meters {
            let newest = m
                .history
                .last()
                .expect("meters_now keeps meters with readings");
            let acc = energy.entry(m.name.clone()).or_default();
            match self.counters.advance(&m.name, newest) {
                Some(joules) => {
                    acc.add_joules(joules, m.watts(), at, &day, &month);
                    if best.as_ref().is_some_and(|b| b.1 == m.name) {
                        best_joules = Some(joules);
                    }
                }
                None => acc.add(m.watts(), at, &day, &month, max_gap),
            }
        }
        if let Some(e) = estimate {
            energy.entry("estimate".into()).or_default().add(
                e.wall_watts,
                at,
                &day,
                &month,
                max_gap,
            );
        }
        let best_source = best.as_ref().map(|b| b.1.clone());
        let continuing = best_source.is_some() && best_source == self.best_source;
        if let Some((w, _, basis)) = best {
            let acc = energy.entry("best".into()).or_default();
            match best_joules {
                Some(j) if continuing => acc.add_joules(j, *w, at, &day, &month),
                // back from an outage: the estimate's trapezoid closes the gap
                Some(_) => acc.add(*w, at, &day, &month, max_gap),
                None if estimate.is_some() || *basis == "measured" => {
                    acc.add(*w, at, &day, &month, max_gap)
                }
                None => acc.break_segment(),
            }
        }
        self.best_source = best_source;
    }
}

/// Below this a meter is not measuring this running host (see `meters_now`).
const MIN_HOST_WATTS: f64 = 1.0;

/// A meter that is up, with its recent readings.
struct MeterNow {
    name: String,
    /// Oldest first; never empty.
    history: Vec<Timed>,
}

impl MeterNow {
    /// The newest reading's watts.
    fn watts(&self) -> f64 {
        self.history.last().map_or(0.0, |r| r.watts)
    }

    /// Power now as the best figure: the counter's slope between the two newest readings.
    fn power(&self) -> f64 {
        pairing::power_between_readings(&self.history).unwrap_or(0.0)
    }
}

impl Collector for Wall {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut faults = Vec::new();
        if !self.loaded {
            self.load_state();
        }
        let snapshot = self.round(&cx.root, at);
        // The first save comes one persist interval after start (and on shutdown), so a
        // `hostwatt once` or a short test run never writes the state directory.
        if let Some(problem) = &self.state_problem {
            let error = CollectError::parse(
                "energy.json",
                ParseError::at("state file", 1, problem.clone()),
            );
            faults.push(Fault {
                item: "state:energy".into(),
                error,
            });
        }
        let since = *self.last_persist.get_or_insert(at);
        let due = at.saturating_duration_since(since) >= self.cfg.persist_interval.0;
        if due {
            match self.save_state() {
                Ok(()) => {
                    self.last_persist = Some(at);
                    self.state_problem = None;
                }
                Err(e) => faults.push(Fault {
                    item: "state:energy".into(),
                    error: CollectError::Read(crate::host::root::ReadError {
                        rel_path: e.path,
                        source: e.source,
                    }),
                }),
            }
        }
        Ok(Sample { snapshot, faults })
    }

    fn finish(&mut self) {
        if self.loaded
            && let Err(e) = self.save_state()
        {
            tracing::warn!(collector = "wall", error = %e, "could not save energy state on shutdown");
        }
    }
}
