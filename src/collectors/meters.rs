//! Wall-power meters: every `[[meters]]` entry read each round through `crate::meters`.
//!
//! All meters are read concurrently, each bounded by `timeout`, so one dead plug delays the round
//! by at most `timeout` and never hides the others: a failed meter is a `Fault` (logged on
//! transitions by the scheduler), `hostwatt_meters_up 0`, no power series (unknown is not 0) and
//! `hostwatt_meters_errors_total{error}` + 1. With no meters configured the collector is
//! `Unavailable`, which is normal. A Shelly with `generation = "auto"` is asked once which API it
//! speaks; the answer is kept for the daemon's lifetime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::parse::Interval;
use crate::estimate::align::Timed;
use crate::meters::{self, Kind, Meter, MeterError, Reading, Source, shelly};
use crate::metrics::{Families, Family, Render};

/// `[collectors.meters]`. The meters themselves are the top-level `[[meters]]` array.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Read the configured meters at all.
    pub enabled: bool,
    /// How often to read every meter.
    pub interval: Interval,
    /// Time limit for one meter's reading (connect, request, answer).
    pub timeout: Interval,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(15),
            timeout: Interval::secs(5),
        }
    }
}

const POWER: Family = Family::gauge(
    "hostwatt_meters_power_watts",
    "Active power measured by a wall-power meter (smart plug, UPS, BMC) at its last reading",
    &["meter", "kind"],
);
const ENERGY: Family = Family::counter(
    "hostwatt_meters_device_energy_joules_total",
    "The meter device's own energy total, converted to joules; resets when the device resets it",
    &["meter", "kind"],
);
const UP: Family = Family::gauge(
    "hostwatt_meters_up",
    "1 if the meter's last reading succeeded, 0 if it failed",
    &["meter", "kind"],
);
const ERRORS: Family = Family::counter(
    "hostwatt_meters_errors_total",
    "Failed meter readings since hostwatt started, by error (timeout, connect, http, auth, protocol, parse, unsupported, device, command)",
    &["meter", "kind", "error"],
);
const INFO: Family = Family::gauge(
    "hostwatt_meters_info",
    "How a meter's watts were obtained (method: apower, ups.realpower, ups.load*ups.realpower.nominal, dcmi...); value 1",
    &["meter", "kind", "method"],
);

/// One meter's state after a round.
#[derive(Debug, Clone)]
pub struct State {
    /// The meter's configured name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// This round's reading, or `None` when it failed.
    pub reading: Option<Reading>,
    /// This round's error kind (`MeterError::kind`), when it failed.
    pub error: Option<&'static str>,
    /// Failed readings since start, by error kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Successful readings of the last `HISTORY`, oldest first, with the time each was taken
    /// (this round's included): what the wall calibration averages over an estimate's window.
    pub history: Vec<Timed>,
}

/// How far back `State::history` reaches.
pub const HISTORY: Duration = Duration::from_secs(600);

/// What a meters round publishes: one `State` per configured meter, in config order.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every configured meter.
    pub meters: Vec<State>,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[&POWER, &ENERGY, &UP, &ERRORS, &INFO];
    fn render(&self, out: &mut Families) {
        for m in &self.meters {
            let labels = [m.name.as_str(), m.kind.as_str()];
            out.push_bool(&UP, &labels, m.reading.is_some());
            if let Some(r) = &m.reading {
                out.push(&POWER, &labels, r.watts);
                if let Some(j) = r.energy_joules {
                    out.push(&ENERGY, &labels, j);
                }
                out.push(&INFO, &[&m.name, m.kind.as_str(), r.method], 1.0);
            }
            for (error, n) in &m.errors {
                out.push(&ERRORS, &[&m.name, m.kind.as_str(), error], *n as f64);
            }
        }
    }
}

/// The meters collector.
#[derive(Debug)]
pub struct Meters {
    cfg: Config,
    /// Config order; a Shelly's `auto` generation is replaced once detected.
    meters: Vec<Arc<Meter>>,
    errors: Vec<BTreeMap<&'static str, u64>>,
    history: Vec<std::collections::VecDeque<Timed>>,
}

impl super::Build for Meters {
    type Inputs = ();

    /// Its section, and the `[[meters]]` it reads.
    fn build(setup: &super::Setup<'_>, (): ()) -> Self {
        Self::new(setup.collectors.meters.clone(), setup.meters.to_vec())
    }
}

impl Meters {
    /// A collector reading `meters` with `cfg`.
    pub fn new(cfg: Config, meters: Vec<Meter>) -> Self {
        Self {
            cfg,
            errors: vec![BTreeMap::new(); meters.len()],
            history: vec![std::collections::VecDeque::new(); meters.len()],
            meters: meters.into_iter().map(Arc::new).collect(),
        }
    }

    /// The meters in config order, with any Shelly generation detected so far filled in.
    pub fn meters(&self) -> impl Iterator<Item = &Meter> {
        self.meters.iter().map(|m| m.as_ref())
    }
}

/// Reads one meter; returns the meter with its Shelly generation resolved when it was detected.
async fn read_one(
    meter: Arc<Meter>,
    runner: crate::host::command::Runner,
    timeout: Duration,
) -> (Result<Reading, MeterError>, Option<Arc<Meter>>) {
    if let Source::Shelly(cfg) = &meter.source
        && cfg.generation == shelly::Generation::Auto
    {
        let detected = tokio::time::timeout(timeout, shelly::detect(&cfg.url))
            .await
            .unwrap_or(Err(MeterError::Timeout { after: timeout }));
        return match detected {
            Ok(generation) => {
                let resolved = Arc::new(Meter {
                    name: meter.name.clone(),
                    source: Source::Shelly(shelly::with_generation(cfg, generation)),
                });
                (
                    meters::read(&resolved.source, &runner, timeout).await,
                    Some(resolved),
                )
            }
            Err(e) => (Err(e), None),
        };
    }
    (meters::read(&meter.source, &runner, timeout).await, None)
}

impl Collector for Meters {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        if self.meters.is_empty() {
            return Err(CollectError::Unavailable("no [[meters]] configured".into()));
        }
        let timeout = self.cfg.timeout.0;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, meter) in self.meters.iter().enumerate() {
            let (meter, runner) = (Arc::clone(meter), cx.runner.clone());
            tasks.spawn(async move { (i, read_one(meter, runner, timeout).await) });
        }
        let mut results: Vec<Option<Result<Reading, MeterError>>> =
            (0..self.meters.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (i, (result, resolved)) = joined.expect("meter reads do not panic");
            if let Some(resolved) = resolved {
                self.meters[i] = resolved;
            }
            results[i] = Some(result);
        }
        let mut faults = Vec::new();
        let mut states = Vec::with_capacity(self.meters.len());
        for (((meter, errors), history), result) in self
            .meters
            .iter()
            .zip(&mut self.errors)
            .zip(&mut self.history)
            .zip(results)
        {
            let result = result.expect("every spawned read is joined");
            while history
                .front()
                .is_some_and(|r| at.saturating_duration_since(r.at) > HISTORY)
            {
                history.pop_front();
            }
            let (reading, error) = match result {
                Ok(r) => {
                    history.push_back(Timed {
                        at,
                        watts: r.watts,
                        energy_joules: r.energy_joules,
                    });
                    (Some(r), None)
                }
                Err(e) => {
                    let kind = e.kind();
                    *errors.entry(kind).or_default() += 1;
                    faults.push(Fault {
                        item: meter.name.clone(),
                        error: CollectError::Meter(e),
                    });
                    (None, Some(kind))
                }
            };
            states.push(State {
                name: meter.name.clone(),
                kind: meter.source.kind(),
                reading,
                error,
                errors: errors.clone(),
                history: history.iter().copied().collect(),
            });
        }
        Ok(Sample {
            snapshot: Snapshot { meters: states },
            faults,
        })
    }
}
