//! Wiring: a `Registration` that collectors are added to, and the `App` that owns the registry,
//! the samplers and the context. `App::sample_all` drives rounds in tests and `hostwatt once`.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use prometheus::Registry;
use tokio::sync::{mpsc, watch};

use crate::alerts::{self, Notification};
use crate::collectors::{self, Collector, Context};
use crate::config::Config;
use crate::metrics::selfmon::{self, SelfMetrics};
use crate::metrics::{Family, Render, SnapshotCollector};
use crate::scheduler::{self, Carried, Driver, Keep, Sampler};

/// What a reload carries from the stopped app to the next, by collector name: `Carried<C>`.
pub type CarriedOver = HashMap<&'static str, Box<dyn Any + Send>>;

/// Collects the enabled collectors into one registry.
pub struct Registration {
    registry: Registry,
    selfm: SelfMetrics,
    samplers: Vec<Box<dyn Sampler>>,
    families: Vec<&'static Family>,
    /// Snapshot receivers by snapshot type, for collectors that derive from others (wall power).
    published: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    /// The config key of each collector (see `keys`).
    keys: BTreeMap<String, String>,
    /// The previous app's collectors and channels, on a reload.
    carried: CarriedOver,
}

/// The receiving end of a collector's snapshots.
pub type Latest<S> = watch::Receiver<Option<Arc<S>>>;

impl Registration {
    /// Registers `collector`'s families and queues it for sampling. On a reload, the previous
    /// collector of that name replaces `collector` if it was built from the same config key,
    /// and its snapshot channel is reused either way.
    pub fn add<C: Collector>(&mut self, collector: C) -> prometheus::Result<()> {
        let key = self.keys.get(C::NAME).cloned().unwrap_or_default();
        let carried = self
            .carried
            .remove(C::NAME)
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
        self.published
            .insert(TypeId::of::<C::Snapshot>(), Box::new(rx));
        self.samplers.push(Box::new(Driver::new(
            key,
            collector,
            tx,
            self.selfm.clone(),
        )));
        Ok(())
    }

    /// The registry being filled (the alert engine gathers it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The latest snapshots of an already added collector, if it is enabled. A derived
    /// collector is added after the ones it reads.
    pub fn subscribe<S: Render>(&self) -> Option<Latest<S>> {
        self.published
            .get(&TypeId::of::<S>())
            .and_then(|b| b.downcast_ref::<Latest<S>>())
            .cloned()
    }
}

/// A configured hostwatt: registry, samplers and the context they read through.
pub struct App {
    /// What `/metrics` renders.
    pub registry: Registry,
    /// Root and runner.
    pub cx: Context,
    samplers: Vec<Box<dyn Sampler>>,
    families: Vec<&'static Family>,
    alerts: Option<Latest<alerts::task::Snapshot>>,
    advice: Option<Latest<collectors::advisor::Snapshot>>,
    /// When each sampler last ran under `sample_due`.
    last_round: Vec<Option<Instant>>,
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
            published: HashMap::new(),
            keys: keys(cfg),
            carried,
        };
        collectors::register_enabled(cfg, &mut reg)?;
        // evaluates what the collectors above publish: keep it last
        if cfg.alerts.enabled {
            let collectors = reg.samplers.iter().map(|s| s.name()).collect();
            reg.add(
                alerts::task::Engine::new(
                    &cfg.alerts,
                    cfg.alert_rules.clone(),
                    reg.registry.clone(),
                    cfg.store(),
                    notify,
                )
                .waiting_for(collectors),
            )?;
        }
        let alerts = reg.subscribe();
        let advice = reg.subscribe();
        Ok(Self {
            last_round: vec![None; reg.samplers.len()],
            registry: reg.registry,
            cx,
            samplers: reg.samplers,
            families: reg.families,
            alerts,
            advice,
        })
    }

    /// Every family this app can export (self-metrics first).
    pub fn families(&self) -> &[&'static Family] {
        &self.families
    }

    /// The alert engine's latest evaluation, when alerts are enabled.
    pub fn alerts(&self) -> Option<Latest<alerts::task::Snapshot>> {
        self.alerts.clone()
    }

    /// Names of the enabled collectors.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.samplers.iter().map(|s| s.name()).collect()
    }

    /// One round of every collector, in order, at `at`.
    pub async fn sample_all(&mut self, at: Instant) {
        for s in &mut self.samplers {
            s.round(&self.cx, at).await;
        }
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

    /// Starts every collector's background loop. On stop, the collectors named in `keep` are
    /// handed back through the handles.
    pub fn spawn(
        self,
        shutdown: watch::Receiver<bool>,
        keep: Keep,
    ) -> (Registry, Vec<scheduler::Task>) {
        let handles = scheduler::spawn(self.samplers, self.cx, shutdown, keep);
        (self.registry, handles)
    }

    /// What the HTTP server serves from this app.
    pub fn served(&self) -> crate::server::Served {
        crate::server::Served {
            registry: self.registry.clone(),
            alerts: self.alerts.clone(),
            advice: self.advice.clone(),
        }
    }
}

/// Collectors that read other collectors' snapshots: which ones are enabled is part of their key.
const DERIVED: &[&str] = &["storage", "wall"];

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
                n if DERIVED.contains(&n) => serde_json::json!(enabled),
                _ => serde_json::Value::Null,
            };
            (
                name.clone(),
                serde_json::json!([section, common, extra]).to_string(),
            )
        })
        .collect()
}
