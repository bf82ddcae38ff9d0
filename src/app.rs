//! Wiring: a `Registration` that collectors are added to, and the `App` that owns the registry,
//! the samplers and the context. `App::sample_all` drives rounds in tests and `hostwatt once`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use prometheus::Registry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::alerts::{self, Notification};
use crate::collectors::{self, Collector, Context};
use crate::config::Config;
use crate::metrics::selfmon::{self, SelfMetrics};
use crate::metrics::{Family, Render, SnapshotCollector};
use crate::scheduler::{self, Driver, Sampler};

/// Collects the enabled collectors into one registry.
pub struct Registration {
    registry: Registry,
    selfm: SelfMetrics,
    samplers: Vec<Box<dyn Sampler>>,
    families: Vec<&'static Family>,
    /// Snapshot receivers by snapshot type, for collectors that derive from others (wall power).
    published: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

/// The receiving end of a collector's snapshots.
pub type Latest<S> = watch::Receiver<Option<Arc<S>>>;

impl Registration {
    /// Registers `collector`'s families and queues it for sampling.
    pub fn add<C: Collector>(&mut self, collector: C) -> prometheus::Result<()> {
        let (tx, rx) = watch::channel(None);
        self.registry
            .register(Box::new(SnapshotCollector::<C::Snapshot>::new(rx.clone())))?;
        self.families.extend(<C::Snapshot as Render>::FAMILIES);
        self.published
            .insert(TypeId::of::<C::Snapshot>(), Box::new(rx));
        self.samplers
            .push(Box::new(Driver::new(collector, tx, self.selfm.clone())));
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
        };
        collectors::register_enabled(cfg, &mut reg)?;
        // evaluates what the collectors above publish: keep it last
        if cfg.alerts.enabled {
            reg.add(alerts::task::Engine::new(
                &cfg.alerts,
                cfg.alert_rules.clone(),
                reg.registry.clone(),
                cfg.store(),
                notify,
            ))?;
        }
        let alerts = reg.subscribe();
        let page = crate::page::Sources::register(cfg, &mut reg, alerts.clone())?;
        Ok(Self {
            registry: reg.registry,
            cx,
            samplers: reg.samplers,
            families: reg.families,
            alerts,
            page,
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

    /// The history store, when history is on.
    pub fn history(&self) -> Option<crate::history::History> {
        self.page.history.clone()
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

    /// Starts every collector's background loop.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> (Registry, Vec<JoinHandle<()>>) {
        let handles = scheduler::spawn(self.samplers, self.cx, shutdown);
        (self.registry, handles)
    }

    /// What the HTTP server serves from this app.
    pub fn served(&self) -> crate::server::Served {
        crate::server::Served {
            registry: self.registry.clone(),
            alerts: self.alerts.clone(),
            page: self.page.clone(),
        }
    }
}
