//! Wall (AC) power: where the watts go, what the wall sees, what it costs.
//!
//! Derived from other collectors' latest snapshots (no hardware access of its own, except
//! `sys/block/*/stat` for disk I/O, which never touches a disk): RAPL for the CPU, the system
//! collector for CPU load. Components are summed to a DC total, taken through the configured PSU
//! curve (`estimate::psu`, `estimate::wall`) to an AC estimate, and calibrated online against a
//! wall meter when one is configured (`estimate::calibrate`). Energy per series, idle power and
//! the calibration persist in `<state_dir>/energy.json`, saved every `persist_interval` and on
//! shutdown, so at most one persist interval is lost on a crash.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::hwmon::{self, SensorKind};
use super::smart::{self, advisories::Class as AdviceClass, power::State as SmartState};
use super::{CollectError, Collector, Context, Fault, Sample, blockstat, meters, rapl, system};
use crate::config::Interval;
use crate::estimate::calibrate::Calibration;
use crate::estimate::disks::{self, ModelOverride};
use crate::estimate::energy::{Accumulator, HOURS_PER_YEAR, Idle, kwh};
use crate::estimate::wall::{self, Chain, Component, Estimate, Inputs, PsuConfig};
use crate::host::root::Root;
use crate::metrics::Latest;
use crate::metrics::{Families, Family, Render};
use crate::parse::ParseError;
use crate::state;

/// `[collectors.wall]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Estimate wall power at all.
    pub enabled: bool,
    /// How often to recompute and integrate energy.
    pub interval: Interval,
    /// Board, RAM, chipset, NICs: DC watts no sensor sees (calibration refines it).
    pub baseline_watts: f64,
    /// DC watts per spinning fan.
    pub fan_watts: f64,
    /// hwmon chips whose power sensors are separate DC consumers (discrete GPUs).
    pub hwmon_chips: Vec<String>,
    /// The PSU; without it there is a DC breakdown but no wall estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psu: Option<PsuConfig>,
    /// An external AC brick in front of a picoPSU (`psu` is then the picoPSU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brick: Option<PsuConfig>,
    /// Per-model disk watts overriding the class defaults.
    pub disk_models: Vec<ModelOverride>,
    /// Electricity price per kWh; cost series appear when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_kwh: Option<f64>,
    /// Currency label of the cost series.
    pub currency: String,
    /// The host counts as idle below this CPU busy ratio...
    pub idle_cpu_busy_below: f64,
    /// ...and below this many disk operations per second...
    pub idle_disk_iops_below: f64,
    /// ...held for this long.
    pub idle_window: Interval,
    /// How often energy counters and calibration are saved.
    pub persist_interval: Interval,
    /// Learn a correction of the estimate from a wall meter.
    pub calibrate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(30),
            baseline_watts: 8.0,
            fan_watts: 0.5,
            hwmon_chips: vec!["amdgpu".into(), "nouveau".into(), "radeon".into()],
            psu: None,
            brick: None,
            disk_models: Vec::new(),
            price_per_kwh: None,
            currency: "EUR".into(),
            idle_cpu_busy_below: 0.10,
            idle_disk_iops_below: 5.0,
            idle_window: Interval::secs(300),
            persist_interval: Interval::secs(300),
            calibrate: true,
        }
    }
}

impl Config {
    /// The conversion chain; the error is (key under `collectors.wall`, message).
    pub fn chain(&self) -> Result<Option<Chain>, (String, String)> {
        let Some(psu) = &self.psu else {
            return Ok(None);
        };
        let psu = psu.curve().map_err(|(k, m)| (format!("psu.{k}"), m))?;
        let brick = match &self.brick {
            Some(b) => Some(b.curve().map_err(|(k, m)| (format!("brick.{k}"), m))?),
            None => None,
        };
        Ok(Some(Chain { psu, brick }))
    }
}

/// What survives a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    energy: BTreeMap<String, Accumulator>,
    calibration: Calibration,
    idle_watts: Option<f64>,
}

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
const BEST: Family = Family::gauge(
    "hostwatt_wall_best_power_watts",
    "The best available wall power: a meter when one is up, else the calibrated estimate, else the estimate",
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
    "Fitted gain of the calibration: wall = offset + gain x estimate",
    &[],
);
const CAL_ERR: Family = Family::gauge(
    "hostwatt_wall_calibration_error_watts",
    "Rolling mean absolute error of the calibrated estimate against the meter",
    &[],
);
const CAL_ERR_RATIO: Family = Family::gauge(
    "hostwatt_wall_calibration_error_ratio",
    "Rolling mean absolute error of the calibrated estimate relative to the meter",
    &[],
);
const CAL_SAMPLES: Family = Family::counter(
    "hostwatt_wall_calibration_samples_total",
    "Estimate/meter pairs the calibration has learned from",
    &[],
);

/// What a wall round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// DC consumers.
    pub components: Vec<Component>,
    /// Through the PSU, when one is configured.
    pub estimate: Option<Estimate>,
    /// Calibrated estimate, once the calibration has seen a sample.
    pub calibrated: Option<f64>,
    /// The calibration, once it has seen a sample.
    pub calibration: Option<Calibration>,
    /// Meter readings: (name, watts).
    pub meters: Vec<(String, f64)>,
    /// The headline value: (watts, source, basis).
    pub best: Option<(f64, String, &'static str)>,
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
            out.push(&POWER, &["estimate", "modelled"], e.wall_watts);
        }
        if let Some(w) = self.calibrated {
            out.push(&POWER, &["calibrated", "calibrated"], w);
        }
        for (name, w) in &self.meters {
            out.push(&POWER, &[name, "measured"], *w);
        }
        if let Some((w, source, basis)) = &self.best {
            out.push(&BEST, &[source, basis], *w);
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
        }
    }
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
    chain: Option<Chain>,
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
    /// goes to the config's store.
    fn build(
        hostwatt: &crate::config::Config,
        (rapl, hwmon, smart, meters, system): Self::Inputs,
    ) -> Self {
        let cfg = hostwatt.collectors.wall.clone();
        let store = hostwatt.store();
        let chain = cfg.chain().ok().flatten();
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

    /// Configured wall meters that answered this round, in config order (the first one is what
    /// the calibration learns from).
    fn configured_meters(&self) -> Vec<(String, f64)> {
        let Some(snap) = self.meters.as_ref().and_then(|rx| rx.borrow().clone()) else {
            return Vec::new();
        };
        snap.meters
            .iter()
            .filter_map(|m| m.reading.as_ref().map(|r| (m.name.clone(), r.watts)))
            .collect()
    }

    /// Wall meters found in hwmon: PSUs that report their input power (PMBus `pin`, corsair-psu
    /// `power total`), named `hwmon:<chip>`.
    fn hwmon_meters(&self) -> Vec<(String, f64)> {
        let Some(snap) = self.hwmon.as_ref().and_then(|rx| rx.borrow().clone()) else {
            return Vec::new();
        };
        snap.sensors(SensorKind::Power)
            .filter(|(_, s)| s.label.as_deref().is_some_and(is_psu_input_label))
            .map(|(c, s)| (format!("hwmon:{}", c.chip), s.value))
            .collect()
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
        let mut meters = self.configured_meters();
        meters.extend(self.hwmon_meters());
        let (inputs, complete) = self.inputs();
        let components = wall::components(
            &inputs,
            self.cfg.baseline_watts,
            self.cfg.fan_watts,
            &self.cfg.disk_models,
        );
        let dc: f64 = components.iter().map(|c| c.watts).sum();
        let estimate = self.chain.as_ref().map(|c| c.estimate(dc));
        let cal = &mut self.persisted.calibration;
        if let (true, true, Some(e), Some((_, measured))) =
            (self.cfg.calibrate, complete, &estimate, meters.first())
        {
            cal.update(e.wall_watts, *measured);
        }
        let calibrated = estimate
            .filter(|_| cal.samples > 0)
            .map(|e| cal.apply(e.wall_watts));
        let best = match (meters.first(), calibrated, &estimate) {
            (Some((name, w)), _, _) => Some((*w, name.clone(), "measured")),
            (None, Some(w), _) => Some((w, "calibrated".to_owned(), "calibrated")),
            (None, None, Some(e)) => Some((e.wall_watts, "estimate".to_owned(), "modelled")),
            (None, None, None) => None,
        };
        let now = chrono::Local::now();
        let (day, month) = (
            now.format("%Y-%m-%d").to_string(),
            now.format("%Y-%m").to_string(),
        );
        let max_gap = self.cfg.interval.0 * 3;
        let mut series: Vec<(String, f64)> = meters.clone();
        if let (Some(e), true) = (&estimate, complete) {
            series.push(("estimate".into(), e.wall_watts));
        }
        if let Some((w, _, basis)) = &best
            && (complete || *basis == "measured")
        {
            series.push(("best".into(), *w));
        }
        for (source, acc) in self.persisted.energy.iter_mut() {
            if !series.iter().any(|(s, _)| s == source) {
                acc.break_segment(); // a meter that went away: do not bridge its gap later
            }
        }
        for (source, w) in &series {
            self.persisted
                .energy
                .entry(source.clone())
                .or_default()
                .add(*w, at, &day, &month, max_gap);
        }
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
        Snapshot {
            components,
            estimate,
            calibrated,
            calibration: (self.persisted.calibration.samples > 0)
                .then(|| self.persisted.calibration.clone()),
            meters,
            best,
            energy: self
                .persisted
                .energy
                .iter()
                .filter(|(s, _)| series.iter().any(|(x, _)| x == *s))
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
}

impl Collector for Wall {
    type Snapshot = Snapshot;
    const NAME: &'static str = "wall";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

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
            tracing::warn!(collector = Self::NAME, error = %e, "could not save energy state on shutdown");
        }
    }
}
