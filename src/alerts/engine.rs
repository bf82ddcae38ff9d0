//! The alert engine in the daemon: a `Collector` named `alerts` whose round gathers the
//! registry (the latest snapshots of every collector, no hardware access), evaluates the rules,
//! advances the book, queues notifications and publishes the current alerts.
//!
//! Notifications go to an optional `mpsc::Sender<Notification>` (the receivers' dispatcher);
//! `try_send` never blocks evaluation, and a full or closed queue counts a drop. The book is
//! saved to `<state_dir>/alerts.json` whenever an alert changes state, and on shutdown.
//!
//! No data is not "cleared": a rule is held (its alerts keep their state, see
//! `book::advance_holding`) while a collector it reads has not finished a good round since
//! start, or its last round failed or found no source (`hostwatt_collector_success` and
//! `hostwatt_collector_available` both 1). A rule reads collector `c` when one of its metrics
//! is `hostwatt_<c>_…` (the prefix rule of `metrics::names`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus::Registry;
use serde::Serialize;
use tokio::sync::mpsc;

use super::book::{self, Book, Timing};
use super::eval::{self, History};
use super::rules::{Config, Rule};
use super::{Alert, Notification, State};
use crate::collectors::{CollectError, Collector, Context, Fault, Sample};
use crate::metrics::{Families, Family, Render};
use crate::parse::ParseError;
use crate::state;

const FIRING: Family = Family::gauge(
    "hostwatt_alerts_firing",
    "1 for each firing alert; labels are the alert name, its severity and the labels of the series that triggered it",
    &["alertname", "severity"],
);
const PENDING: Family = Family::gauge(
    "hostwatt_alerts_pending",
    "1 for each alert whose condition holds but not yet for the rule's for duration; labels as hostwatt_alerts_firing",
    &["alertname", "severity"],
);
const EVALUATIONS: Family = Family::counter(
    "hostwatt_alerts_evaluations_total",
    "Evaluations of the alert rules since hostwatt started",
    &[],
);
const NOTIFICATIONS: Family = Family::counter(
    "hostwatt_alerts_notifications_total",
    "Notifications handed to the receivers (queued) or lost because the queue was full or closed (dropped)",
    &["outcome"],
);
const RULES: Family = Family::gauge(
    "hostwatt_alerts_rules",
    "Alert rules evaluated by the daemon",
    &[],
);

/// What an evaluation publishes: the alerts for `/metrics` and `/api/alerts`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Firing, pending and recently resolved alerts: firing first, then by severity and name.
    pub alerts: Vec<Alert>,
    /// Unix time of the evaluation.
    pub evaluated_at: f64,
    /// Evaluations since start.
    pub evaluations: u64,
    /// Notifications queued since start.
    pub queued: u64,
    /// Notifications dropped since start.
    pub dropped: u64,
    /// Rules evaluated.
    pub rules: usize,
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] =
        &[&FIRING, &PENDING, &EVALUATIONS, &NOTIFICATIONS, &RULES];

    fn render(&self, out: &mut Families) {
        for a in &self.alerts {
            let family = match a.state {
                State::Firing => &FIRING,
                State::Pending => &PENDING,
                State::Resolved => continue,
            };
            let mut labels = vec![
                ("alertname", a.name.as_str()),
                ("severity", a.severity.as_str()),
            ];
            labels.extend(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            out.push_pairs(family, &labels, 1.0);
        }
        out.push(&EVALUATIONS, &[], self.evaluations as f64);
        out.push(&NOTIFICATIONS, &["queued"], self.queued as f64);
        out.push(&NOTIFICATIONS, &["dropped"], self.dropped as f64);
        out.push(&RULES, &[], self.rules as f64);
    }
}

/// The `alerts` collector.
pub struct Engine {
    rules: Vec<Rule>,
    timing: Timing,
    registry: Registry,
    store: state::Store,
    notify: Option<mpsc::Sender<Notification>>,
    book: Book,
    history: History,
    loaded: bool,
    /// Maps the rounds' monotonic `at` to Unix time, so `for` timers follow `at` (tests drive it)
    /// and a wall-clock step does not fire or resolve anything.
    anchor: Option<(Instant, f64)>,
    evaluations: u64,
    queued: u64,
    dropped: u64,
    /// The collectors running beside the engine, whose rounds its rules wait for.
    collectors: Vec<&'static str>,
    /// The families an evaluation reads: the rules' metrics, the collectors' success and
    /// availability, the advisor's findings. Only these are gathered.
    inputs: Vec<&'static str>,
}

/// Families read besides the rules' own metrics: `held` and `{advice}`.
const ALWAYS_READ: [&str; 3] = [
    "hostwatt_collector_success",
    "hostwatt_collector_available",
    crate::advisor::POTENTIAL_FAMILY,
];

/// Whether `metric` is one of collector `name`'s: `hostwatt_<name>_…`, the prefix rule of
/// `metrics::names`.
fn reads(metric: &str, name: &str) -> bool {
    metric
        .strip_prefix("hostwatt_")
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with('_'))
}

/// Collectors whose last round succeeded with a source (`hostwatt_collector_success` and
/// `hostwatt_collector_available` 1); a collector that has not finished a round has neither.
fn collectors_reporting(families: &[prometheus::proto::MetricFamily]) -> Vec<String> {
    let ones = |family: &str| -> Vec<String> {
        families
            .iter()
            .filter(|f| f.name() == family)
            .flat_map(|f| f.get_metric())
            .filter(|m| m.get_gauge().value() == 1.0)
            .flat_map(|m| m.get_label())
            .filter(|l| l.name() == "collector")
            .map(|l| l.value().to_owned())
            .collect()
    };
    let available = ones("hostwatt_collector_available");
    ones("hostwatt_collector_success")
        .into_iter()
        .filter(|c| available.contains(c))
        .collect()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Engine {
    /// An engine evaluating the enabled `rules` over `registry`.
    pub fn new(
        cfg: &Config,
        rules: Vec<Rule>,
        registry: Registry,
        store: state::Store,
        notify: Option<mpsc::Sender<Notification>>,
    ) -> Self {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
        let mut inputs: Vec<&'static str> = rules.iter().flat_map(|r| r.expr.metrics()).collect();
        inputs.extend(ALWAYS_READ);
        inputs.sort_unstable();
        inputs.dedup();
        Self {
            rules,
            inputs,
            timing: Timing {
                repeat_interval: cfg.repeat_interval.0.as_secs_f64(),
                keep_resolved: cfg.keep_resolved.0.as_secs_f64(),
            },
            registry,
            store,
            notify,
            book: Book::default(),
            history: History::default(),
            loaded: false,
            anchor: None,
            evaluations: 0,
            queued: 0,
            dropped: 0,
            collectors: Vec::new(),
        }
    }

    /// Holds the rules that read one of `collectors` (names as in `hostwatt_collector_*`)
    /// until it reports; see the module docs. Without this, no rule is ever held.
    pub fn waiting_for(mut self, collectors: Vec<&'static str>) -> Self {
        self.collectors = collectors;
        self
    }

    /// Names of the rules that read a collector not reporting now.
    fn held(&self, families: &[prometheus::proto::MetricFamily]) -> Vec<&'static str> {
        let reporting = collectors_reporting(families);
        let waiting: Vec<&str> = self
            .collectors
            .iter()
            .copied()
            .filter(|c| !reporting.iter().any(|r| r == c))
            .collect();
        self.rules
            .iter()
            .filter(|r| {
                r.expr
                    .metrics()
                    .iter()
                    .any(|m| waiting.iter().any(|c| reads(m, c)))
            })
            .map(|r| r.name)
            .collect()
    }

    fn unix_at(&mut self, at: Instant) -> f64 {
        let (i, u) = *self.anchor.get_or_insert_with(|| (at, unix_now()));
        match at.checked_duration_since(i) {
            Some(d) => u + d.as_secs_f64(),
            None => u - i.duration_since(at).as_secs_f64(),
        }
    }

    fn load(&mut self, faults: &mut Vec<Fault>) {
        self.loaded = true;
        let loaded = self.store.load::<Book>("alerts");
        if let Some(note) = loaded.set_aside_note("starting with no alerts") {
            faults.push(Fault {
                item: "state:alerts".into(),
                error: CollectError::parse("alerts.json", ParseError::at("state file", 1, note)),
            });
        }
        if let state::Loaded::Ok(book) = loaded {
            self.book = book;
        }
    }

    fn save(&self) -> Result<(), state::SaveError> {
        self.store.save("alerts", &self.book)
    }

    /// One evaluation at unix time `now` over `families`.
    fn evaluate(
        &mut self,
        families: &[prometheus::proto::MetricFamily],
        now: f64,
    ) -> book::Outcome {
        let held = self.held(families);
        let results: Vec<(&Rule, Vec<eval::Observation>)> = self
            .rules
            .iter()
            .map(|r| (r, eval::evaluate(r, families, now, &mut self.history)))
            .collect();
        let mut outcome = book::advance_holding(&mut self.book, &results, &held, now, self.timing);
        // `{advice}` is not a label: it is the advisor's findings, filled in here
        let advice = crate::advisor::advice_summary(families);
        let alerts = self.book.alerts.values_mut().map(|t| &mut t.alert);
        for a in alerts.chain(outcome.notifications.iter_mut().map(|n| &mut n.alert)) {
            a.description = a.description.replace("{advice}", &advice);
        }
        outcome
    }

    fn send(&mut self, notifications: Vec<Notification>) {
        let Some(tx) = &self.notify else {
            return;
        };
        for n in notifications {
            match tx.try_send(n) {
                Ok(()) => self.queued += 1,
                Err(e) => {
                    self.dropped += 1;
                    tracing::warn!(collector = "alerts", error = %e, "notification dropped");
                }
            }
        }
    }

    fn snapshot(&self, now: f64) -> Snapshot {
        let mut alerts: Vec<Alert> = self.book.alerts.values().map(|t| t.alert.clone()).collect();
        let rank = |s: State| match s {
            State::Firing => 0,
            State::Pending => 1,
            State::Resolved => 2,
        };
        alerts.sort_by(|a, b| {
            (
                rank(a.state),
                std::cmp::Reverse(a.severity),
                &a.name,
                &a.labels,
            )
                .cmp(&(
                    rank(b.state),
                    std::cmp::Reverse(b.severity),
                    &b.name,
                    &b.labels,
                ))
        });
        Snapshot {
            alerts,
            evaluated_at: now,
            evaluations: self.evaluations,
            queued: self.queued,
            dropped: self.dropped,
            rules: self.rules.len(),
        }
    }
}

impl Collector for Engine {
    type Snapshot = Snapshot;

    async fn sample(
        &mut self,
        _cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut faults = Vec::new();
        if !self.loaded {
            self.load(&mut faults);
        }
        let now = self.unix_at(at);
        let mut families = crate::metrics::gather_only(&self.registry, &self.inputs);
        // the engine's own output is not an input
        families.retain(|f| !f.name().starts_with("hostwatt_alert"));
        let outcome = self.evaluate(&families, now);
        self.evaluations += 1;
        for n in &outcome.notifications {
            tracing::info!(collector = "alerts", alert = %n.alert.fingerprint(), reason = ?n.reason, summary = %n.alert.summary, "alert");
        }
        self.send(outcome.notifications);
        if outcome.changed
            && let Err(e) = self.save()
        {
            faults.push(Fault {
                item: "state:alerts".into(),
                error: e.into(),
            });
        }
        Ok(Sample {
            snapshot: self.snapshot(now),
            faults,
        })
    }

    fn finish(&mut self) {
        if self.loaded
            && let Err(e) = self.save()
        {
            tracing::warn!(collector = "alerts", error = %e, "could not save alert state on shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::Reason;
    use crate::alerts::rules::builtin;
    use crate::metrics::SnapshotCollector;
    use std::sync::Arc;
    use tokio::sync::watch;

    const CAP: Family = Family::gauge("hostwatt_zfs_pool_capacity_ratio", "c", &["pool"]);

    struct Pools(f64);
    impl Render for Pools {
        const FAMILIES: &'static [&'static Family] = &[&CAP];
        fn render(&self, out: &mut Families) {
            out.push(&CAP, &["tank"], self.0);
        }
    }

    /// An engine over `registry`, with a `Pools` collector registered in it.
    fn setup_in(
        registry: Registry,
        dir: &std::path::Path,
        notify: Option<mpsc::Sender<Notification>>,
    ) -> (Engine, watch::Sender<Option<Arc<Pools>>>) {
        let (tx, rx) = watch::channel(None);
        registry
            .register(Box::new(SnapshotCollector::<Pools>::new(rx)))
            .unwrap();
        let cfg: Config = toml::from_str("[rules.ZfsPoolCapacityHigh]\nfor = \"1m\"\n").unwrap();
        let engine = Engine::new(
            &cfg,
            cfg.rules().unwrap(),
            registry,
            crate::state::Store::dir(dir),
            notify,
        );
        (engine, tx)
    }

    fn setup(
        dir: &std::path::Path,
        notify: Option<mpsc::Sender<Notification>>,
    ) -> (Engine, watch::Sender<Option<Arc<Pools>>>) {
        setup_in(Registry::new(), dir, notify)
    }

    fn cx() -> Context {
        Context {
            root: crate::host::root::Root::new("/nonexistent"),
            runner: crate::host::command::Runner::replay(Vec::new()),
        }
    }

    #[tokio::test]
    async fn idle_power_alert_lists_the_advisor_findings() {
        const IDLE: Family = Family::gauge("hostwatt_wall_idle_power_watts", "i", &[]);
        const ADVICE: Family =
            Family::gauge("hostwatt_advisor_finding_potential_watts", "a", &["id"]);
        struct Idle;
        impl Render for Idle {
            const FAMILIES: &'static [&'static Family] = &[&IDLE, &ADVICE];
            fn render(&self, out: &mut Families) {
                out.push(&IDLE, &[], 62.0);
                out.push(&ADVICE, &["sata-alpm-off"], 3.04);
                out.push(&ADVICE, &["pcie-aspm-off"], 4.0);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let (tx, rx) = watch::channel(Some(Arc::new(Idle)));
        registry
            .register(Box::new(SnapshotCollector::<Idle>::new(rx)))
            .unwrap();
        let cfg: Config = toml::from_str("").unwrap();
        let mut e = Engine::new(
            &cfg,
            cfg.rules().unwrap(),
            registry,
            crate::state::Store::dir(dir.path()),
            None,
        );
        let s = e.sample(&cx(), Instant::now()).await.unwrap();
        let a = s
            .snapshot
            .alerts
            .iter()
            .find(|a| a.name == "HostIdlePowerHigh")
            .unwrap();
        assert!(
            a.description.contains("findings that explain it: pcie-aspm-off up to 4.0 W; sata-alpm-off up to 3.0 W. Commands"),
            "{}",
            a.description
        );
        drop(tx);
    }

    #[tokio::test]
    async fn evaluates_the_registry_notifies_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let (ntx, mut nrx) = mpsc::channel(1);
        let (mut e, tx) = setup(dir.path(), Some(ntx));
        assert_eq!(e.rules.len(), builtin().len());
        tx.send_replace(Some(Arc::new(Pools(0.85))));
        let t0 = Instant::now();
        let s = e.sample(&cx(), t0).await.unwrap();
        assert!(s.faults.is_empty());
        assert_eq!(s.snapshot.alerts[0].state, State::Pending);
        let s = e.sample(&cx(), t0 + Duration::from_secs(60)).await.unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        let n = nrx.try_recv().unwrap();
        assert_eq!(
            (n.alert.name.as_str(), n.reason),
            ("ZfsPoolCapacityHigh", Reason::Firing)
        );
        let text = crate::testutil::render_series(&s.snapshot).join("\n");
        assert!(text.contains("hostwatt_alerts_firing{alertname=\"ZfsPoolCapacityHigh\",severity=\"warning\",pool=\"tank\"} 1"), "{text}");
        assert!(
            text.contains("hostwatt_alerts_notifications_total{outcome=\"queued\"} 1"),
            "{text}"
        );

        tx.send_replace(Some(Arc::new(Pools(0.5))));
        let s = e
            .sample(&cx(), t0 + Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Resolved);
        assert_eq!((s.snapshot.queued, s.snapshot.dropped), (2, 0));

        // the queue (size 1) still holds the Resolved: the next Firing is dropped, evaluation goes on
        tx.send_replace(Some(Arc::new(Pools(0.9))));
        e.sample(&cx(), t0 + Duration::from_secs(180))
            .await
            .unwrap();
        let s = e
            .sample(&cx(), t0 + Duration::from_secs(240))
            .await
            .unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        assert_eq!((s.snapshot.queued, s.snapshot.dropped), (2, 1));

        // a restart with the alert still firing: persisted state, no second Firing
        e.finish();
        assert!(dir.path().join("alerts.json").is_file());
        let (ntx, mut nrx) = mpsc::channel(8);
        let (mut e2, tx2) = setup(dir.path(), Some(ntx));
        tx2.send_replace(Some(Arc::new(Pools(0.9))));
        let s = e2.sample(&cx(), Instant::now()).await.unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        assert!(nrx.try_recv().is_err(), "no notification after the restart");
    }

    /// A state directory that cannot be written: the load is set aside (a parse fault) and the
    /// save after the alert fires is a write fault, not a read.
    #[tokio::test]
    async fn a_failed_save_is_a_write_fault() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap();
        let (mut e, tx) = setup(&not_a_dir, None);
        tx.send_replace(Some(Arc::new(Pools(0.9))));
        let s = e.sample(&cx(), Instant::now()).await.unwrap();
        let kinds: Vec<(&str, &str)> = s
            .faults
            .iter()
            .map(|f| (f.item.as_str(), f.error.kind().as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("state:alerts", "parse"), ("state:alerts", "write")]
        );
        assert!(
            matches!(s.faults[1].error, CollectError::Write(_)),
            "{:?}",
            s.faults[1].error
        );
    }

    #[tokio::test]
    async fn a_corrupt_state_file_is_a_fault_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alerts.json"), "{").unwrap();
        let (mut e, _tx) = setup(dir.path(), None);
        let s = e.sample(&cx(), Instant::now()).await.unwrap();
        assert_eq!(s.faults.len(), 1);
        assert_eq!(s.faults[0].item, "state:alerts");
        assert!(s.snapshot.alerts.is_empty());
    }

    #[tokio::test]
    async fn a_restart_holds_alerts_until_their_collector_reports() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, tx) = setup(dir.path(), None);
        tx.send_replace(Some(Arc::new(Pools(0.9))));
        let t0 = Instant::now();
        e.sample(&cx(), t0).await.unwrap();
        let s = e.sample(&cx(), t0 + Duration::from_secs(60)).await.unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        e.finish();

        // restart: the registry has the collectors' self-metrics but zfs has no round yet
        let registry = Registry::new();
        let selfm = crate::metrics::selfmon::SelfMetrics::register(&registry).unwrap();
        let (ntx, mut nrx) = mpsc::channel(8);
        let (e2, ptx) = setup_in(registry, dir.path(), Some(ntx));
        let mut e2 = e2.waiting_for(vec!["zfs", "smart"]);
        let t1 = Instant::now();
        let s = e2.sample(&cx(), t1).await.unwrap();
        assert_eq!(
            s.snapshot.alerts[0].state,
            State::Firing,
            "no data is not cleared"
        );
        // a failed first round is no data either
        selfm.success.with_label_values(&["zfs"]).set(0);
        selfm.available.with_label_values(&["zfs"]).set(1);
        let s = e2.sample(&cx(), t1 + Duration::from_secs(5)).await.unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        assert!(
            nrx.try_recv().is_err(),
            "nothing sent while zfs had no data"
        );

        // zfs reports, still full: still firing, still nothing sent
        selfm.success.with_label_values(&["zfs"]).set(1);
        ptx.send_replace(Some(Arc::new(Pools(0.9))));
        let s = e2
            .sample(&cx(), t1 + Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Firing);
        assert!(nrx.try_recv().is_err());
        // the pool really emptied: now it resolves, once
        ptx.send_replace(Some(Arc::new(Pools(0.5))));
        let s = e2
            .sample(&cx(), t1 + Duration::from_secs(15))
            .await
            .unwrap();
        assert_eq!(s.snapshot.alerts[0].state, State::Resolved);
        assert_eq!(nrx.try_recv().unwrap().reason, Reason::Resolved);
    }

    #[test]
    fn rules_read_collectors_by_metric_prefix() {
        assert!(reads("hostwatt_smart_temperature_celsius", "smart"));
        assert!(reads("hostwatt_meters_power_watts", "meters"));
        assert!(!reads("hostwatt_smartx_y", "smart"));
        assert!(!reads("hostwatt_collector_success", "smart"));
        assert!(!reads("node_smart_x", "smart"));
    }
}
