//! The composition root: a `Registration` that collectors are added to, the registration of
//! `collectors::list!` (each derived collector is handed the `Latest` handles of the collectors
//! it reads, so who reads whom is checked by the compiler), the alert engine after them, and the
//! `App` that owns the registry, the samplers and the context. `App::sample_all` drives rounds in
//! tests and `hostwatt once` (`once`); `daemon` runs, reloads and stops the app; `audit` is
//! `hostwatt audit`'s one-shot app.

pub mod audit;
pub mod daemon;
pub mod once;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use prometheus::Registry;
use tokio::sync::{mpsc, watch};

use crate::alerts::{self, Notification};
use crate::collectors::{self, Collector, Context, Schedule};
use crate::config::Config;
use crate::metrics::selfmon::{self, SelfMetrics};
use crate::metrics::{Family, Latest, Render, SnapshotCollector};
use crate::scheduler::{self, Carried, Driver, Keep, Sampler};

/// What a reload carries from the stopped app to the next, by collector name: `Carried<C>`.
pub type CarriedOver = HashMap<&'static str, Box<dyn Any + Send>>;

/// Collects the enabled collectors into one registry.
pub struct Registration {
    registry: Registry,
    selfm: SelfMetrics,
    samplers: Vec<Box<dyn Sampler>>,
    families: Vec<&'static Family>,
    /// The config key of each collector (see `keys`).
    keys: BTreeMap<String, String>,
    /// The previous app's collectors and channels, on a reload.
    carried: CarriedOver,
}

impl Registration {
    /// Registers `collector`'s families and queues it for sampling on `schedule`; returns its
    /// snapshots, for the collectors that read them and the HTTP front. On a reload, the previous
    /// collector of that name replaces `collector` if it was built from the same config key, and
    /// its snapshot channel is reused either way.
    pub fn add<C: Collector>(
        &mut self,
        schedule: Schedule,
        collector: C,
    ) -> prometheus::Result<Latest<C::Snapshot>> {
        let key = self.keys.get(schedule.name).cloned().unwrap_or_default();
        let carried = self
            .carried
            .remove(schedule.name)
            .and_then(|b| b.downcast::<Carried<C>>().ok());
        let (collector, tx) = match carried {
            Some(c) => match c.collector {
                Some(kept) if c.key == key => (kept, c.tx),
                _ => (collector, c.tx),
            },
            None => (collector, watch::channel(None).0),
        };
        let rx = tx.subscribe();
        self.registry
            .register(Box::new(SnapshotCollector::<C::Snapshot>::new(rx.clone())))?;
        self.families.extend(<C::Snapshot as Render>::FAMILIES);
        self.samplers.push(Box::new(Driver::new(
            key,
            schedule,
            collector,
            tx,
            self.selfm.clone(),
        )));
        Ok(rx)
    }

    /// The registry being filled (the alert engine gathers it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Builds the registration of the collectors in `collectors::list!`, and `Handles`.
macro_rules! wire {
    ($($name:ident: $ty:ident $([$($input:ident),*])?),* $(,)?) => {
        /// The snapshots of every collector, `None` when it is off: what derived collectors and
        /// the HTTP front read.
        pub struct Handles {
            $(
                #[doc = concat!("`", stringify!($name), "`'s snapshots.")]
                pub $name: Option<Latest<<collectors::$name::$ty as Collector>::Snapshot>>,
            )*
        }

        /// Adds the enabled collectors of `cfg` to `reg` in list order; a derived collector
        /// gets the handles of the ones it reads.
        fn register_enabled(cfg: &Config, reg: &mut Registration) -> prometheus::Result<Handles> {
            let setup = cfg.setup();
            $(
                let $name = if cfg.collectors.$name.enabled {
                    let schedule = Schedule {
                        name: stringify!($name),
                        every: cfg.collectors.$name.interval.0,
                    };
                    Some(reg.add(schedule, wire!(@build cfg, setup, $name, $ty $([$($input),*])?))?)
                } else {
                    None
                };
            )*
            Ok(Handles { $($name),* })
        }
    };
    (@build $cfg:ident, $setup:ident, $name:ident, $ty:ident) => {
        collectors::$name::$ty::new($cfg.collectors.$name.clone())
    };
    (@build $cfg:ident, $setup:ident, $name:ident, $ty:ident [$($input:ident),*]) => {
        <collectors::$name::$ty as collectors::Build>::build(&$setup, ($($input.clone(),)*))
    };
}
// `Handles` and `register_enabled` for every entry of the one list: `storage: Storage [smart,
// zfs]` there becomes `Storage::build(&setup, (smart.clone(), zfs.clone()))` here, with `smart` and
// `zfs` the handles registered above it, so an input listed below its reader does not compile.
collectors::list!(wire);

/// A configured hostwatt: registry, samplers and the context they read through.
pub struct App {
    /// What `/metrics` renders.
    pub registry: Registry,
    /// Root and runner.
    pub cx: Context,
    samplers: Vec<Box<dyn Sampler>>,
    families: Vec<&'static Family>,
    alerts: Option<Latest<alerts::engine::Snapshot>>,
    advice: Option<Latest<collectors::advisor::Snapshot>>,
    /// When each sampler last ran under `sample_due`.
    last_round: Vec<Option<Instant>>,
    page: crate::page::Sources,
}

impl App {
    /// Builds the enabled collectors of `cfg`. Fails only on a descriptor clash, which is a bug.
    pub fn new(cfg: &Config, cx: Context) -> prometheus::Result<Self> {
        Self::with_notifier(cfg, cx, None)
    }

    /// As `new`, with alert notifications queued to `notify` (the receivers' dispatcher).
    pub fn with_notifier(
        cfg: &Config,
        cx: Context,
        notify: Option<mpsc::Sender<Notification>>,
    ) -> prometheus::Result<Self> {
        Self::reloaded(cfg, cx, notify, CarriedOver::new())
    }

    /// As `with_notifier`, taking over what the previous app handed back (`Running::stop`).
    pub fn reloaded(
        cfg: &Config,
        cx: Context,
        notify: Option<mpsc::Sender<Notification>>,
        carried: CarriedOver,
    ) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let selfm = SelfMetrics::register(&registry)?;
        let cx = Context {
            root: cx.root,
            runner: cx.runner.with_counter(selfm.command_runs.clone()),
        };
        let mut reg = Registration {
            registry,
            selfm,
            samplers: Vec::new(),
            families: selfmon::FAMILIES.to_vec(),
            keys: keys(cfg),
            carried,
        };
        let handles = register_enabled(cfg, &mut reg)?;
        // evaluates what the collectors above publish: keep it last
        let alerts = if cfg.alerts.enabled {
            let collectors = reg.samplers.iter().map(|s| s.name()).collect();
            let schedule = Schedule {
                name: "alerts",
                every: cfg.alerts.evaluation_interval.0,
            };
            Some(
                reg.add(
                    schedule,
                    alerts::engine::Engine::new(
                        &cfg.alerts,
                        cfg.alert_rules.clone(),
                        reg.registry.clone(),
                        cfg.store(),
                        notify,
                    )
                    .waiting_for(collectors),
                )?,
            )
        } else {
            None
        };
        // the status page and its history read the collectors' latest snapshots
        let latest = crate::history::record::Sources {
            wall: handles.wall.clone(),
            smart: handles.smart.clone(),
            zfs: handles.zfs.clone(),
            cpuidle: handles.cpuidle.clone(),
        };
        let history = (cfg.history.enabled && cfg.persist).then(|| {
            crate::history::History::open(
                &cfg.state_dir,
                cfg.history.max_size_mb.saturating_mul(1_000_000),
            )
        });
        if let Some(h) = &history {
            let schedule = Schedule {
                name: "history",
                every: cfg.history.interval.0,
            };
            reg.add(
                schedule,
                crate::history::record::Recorder::new(&cfg.history, h.clone(), latest.clone()),
            )?;
        }
        let advice = handles.advisor;
        let page = crate::page::Sources {
            latest,
            alerts: alerts.clone(),
            advice: advice.clone(),
            history,
        };
        Ok(Self {
            last_round: vec![None; reg.samplers.len()],
            registry: reg.registry,
            cx,
            samplers: reg.samplers,
            families: reg.families,
            alerts,
            advice,
            page,
        })
    }

    /// Every family this app can export (self-metrics first).
    pub fn families(&self) -> &[&'static Family] {
        &self.families
    }

    /// The alert engine's latest evaluation, when alerts are enabled.
    pub fn alerts(&self) -> Option<Latest<alerts::engine::Snapshot>> {
        self.alerts.clone()
    }

    /// The history store, when history is on.
    pub fn history(&self) -> Option<crate::history::History> {
        self.page.history.clone()
    }

    /// Names of the enabled collectors.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.samplers.iter().map(|s| s.name()).collect()
    }

    /// The enabled collectors' intervals.
    pub fn intervals(&self) -> Vec<std::time::Duration> {
        self.samplers.iter().map(|s| s.interval()).collect()
    }

    /// One round of every collector, in order, at `at`.
    pub async fn sample_all(&mut self, at: Instant) {
        for s in &mut self.samplers {
            s.round(&self.cx, at).await;
        }
    }

    /// Name and interval of each collector, in the order `sample_all` runs them.
    pub fn collectors(&self) -> Vec<(&'static str, Duration)> {
        self.samplers
            .iter()
            .map(|s| (s.name(), s.interval()))
            .collect()
    }

    /// One round of the `i`th collector of `collectors` at `at` (the benchmark's cost of each
    /// collector alone).
    pub async fn sample_one(&mut self, i: usize, at: Instant) {
        self.samplers[i].round(&self.cx, at).await;
    }

    /// One round of every collector whose interval has elapsed since its last round under
    /// this method (all of them the first time), in order, at `at`: the daemon's schedule on a
    /// simulated clock, so tests run hours of rounds in seconds.
    pub async fn sample_due(&mut self, at: Instant) {
        for (s, last) in self.samplers.iter_mut().zip(&mut self.last_round) {
            if last.is_none_or(|l| at.saturating_duration_since(l) >= s.interval()) {
                s.round(&self.cx, at).await;
                *last = Some(at);
            }
        }
    }

    /// Starts the collectors' schedule. On stop, the collectors named in `keep` are handed
    /// back through the task; the ones with a slot in `stuck` (what the previous app's stop
    /// left stuck) wait for it.
    pub fn spawn(
        self,
        shutdown: watch::Receiver<bool>,
        keep: Keep,
        stuck: Vec<std::sync::Arc<scheduler::Slot>>,
    ) -> (Registry, scheduler::Task) {
        let task = scheduler::spawn(self.samplers, self.cx, shutdown, keep, stuck);
        (self.registry, task)
    }

    /// What the HTTP server serves from this app.
    pub fn served(&self) -> crate::server::Served {
        crate::server::Served {
            registry: self.registry.clone(),
            alerts: self.alerts.clone(),
            advice: self.advice.clone(),
            page: self.page.clone(),
        }
    }
}

/// What each collector is built from, as a string per collector name: its `[collectors.NAME]`
/// section, the root and state directory, the meters for `meters`, and the set of enabled
/// collectors for the derived ones. A reload keeps a collector whose key did not change. The
/// alert engine has no key: it holds the registry it evaluates, so it is always rebuilt (its
/// state goes through `alerts.json`).
pub fn keys(cfg: &Config) -> BTreeMap<String, String> {
    let sections = match serde_json::to_value(&cfg.collectors) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return BTreeMap::new(),
    };
    let enabled: Vec<&String> = sections
        .iter()
        .filter(|(_, v)| v.get("enabled") == Some(&serde_json::Value::Bool(true)))
        .map(|(name, _)| name)
        .collect();
    let common = serde_json::json!([cfg.root.base(), cfg.state_dir, cfg.persist]);
    sections
        .iter()
        .map(|(name, section)| {
            let extra = match name.as_str() {
                "meters" => serde_json::to_value(&cfg.meters).unwrap_or_default(),
                // which ones are enabled is part of a derived collector's key
                n if collectors::INPUTS
                    .iter()
                    .any(|(c, inputs)| *c == n && !inputs.is_empty()) =>
                {
                    serde_json::json!(enabled)
                }
                _ => serde_json::Value::Null,
            };
            (
                name.clone(),
                serde_json::json!([section, common, extra]).to_string(),
            )
        })
        .collect()
}
