//! Metric families declared once as `Family` consts and rendered from collector snapshots.
//!
//! A collector publishes an immutable snapshot; `SnapshotCollector` renders the latest one once,
//! on the first scrape after it changed, and scrapes until the next snapshot reuse those bytes
//! (`exposition`). Swapping whole snapshots means no half-reset vector is ever visible and a
//! vanished device simply drops out. Owned instruments are used only for fixed self-metrics
//! (`selfmon`).

pub mod exposition;
pub mod families;
pub mod names;
pub mod openmetrics;
pub mod selfmon;

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use tokio::sync::watch;

pub use exposition::{Format, encode};
pub use families::Families;

use exposition::Rendered;

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// Any value.
    Gauge,
}

/// A metric family: name, help, type and label names, declared once per collector.
#[derive(Debug)]
pub struct Family {
    /// Full metric name, `hostwatt_` prefixed.
    pub name: &'static str,
    /// HELP text: what the value is and how a derived value is derived.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Label names, in the order `push` takes values.
    pub labels: &'static [&'static str],
}

impl Family {
    /// A counter family.
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind: Kind::Counter,
            labels,
        }
    }

    /// A gauge family.
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind: Kind::Gauge,
            labels,
        }
    }

    fn desc(&self) -> Desc {
        Desc::new(
            self.name.to_owned(),
            self.help.to_owned(),
            self.labels.iter().map(|l| (*l).to_owned()).collect(),
            Default::default(),
        )
        .expect("family consts are valid metric names")
    }
}

/// A snapshot that renders itself as metric families.
pub trait Render: Send + Sync + 'static {
    /// Every family this snapshot may push; also feeds `--list-metrics`.
    const FAMILIES: &'static [&'static Family];
    /// Pushes this snapshot's series.
    fn render(&self, out: &mut Families);
}

/// The receiving end of a collector's snapshots: `None` before its first good round. What
/// `app::Registration::add` hands back, and what derived collectors and the HTTP front read.
pub type Latest<S> = watch::Receiver<Option<Arc<S>>>;

/// Serves the latest published snapshot of one collector: rendered once per snapshot for
/// scrapes, as protobuf families for other gatherers (the alert engine).
pub struct SnapshotCollector<S: Render> {
    descs: Vec<Desc>,
    rx: Latest<S>,
    /// The snapshot last rendered for a scrape, and its rendering. Only scrapes take this lock;
    /// a round publishing a snapshot never waits for it.
    cache: Mutex<Option<(Arc<S>, Arc<Rendered>)>>,
}

impl<S: Render> SnapshotCollector<S> {
    /// A collector reading snapshots from `rx`.
    pub fn new(rx: Latest<S>) -> Self {
        Self {
            descs: S::FAMILIES.iter().map(|f| f.desc()).collect(),
            rx,
            cache: Mutex::new(None),
        }
    }

    fn rendered(&self, snapshot: Option<Arc<S>>) -> Arc<Rendered> {
        let Some(s) = snapshot else {
            return Arc::new(Rendered::new(Vec::new()));
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, r)) = cache.as_ref()
            && Arc::ptr_eq(cached, &s)
        {
            return r.clone();
        }
        let mut out = Families::new(S::FAMILIES);
        s.render(&mut out);
        let r = Arc::new(Rendered::new(out.into_sorted()));
        *cache = Some((s, r.clone()));
        r
    }
}

impl<S: Render> Collector for SnapshotCollector<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Clone the Arc out so the watch lock is not held while rendering.
        let snapshot = self.rx.borrow().clone();
        if exposition::deposit(|| self.rendered(snapshot.clone())) {
            return Vec::new();
        }
        let only = WANTED.with(|w| w.borrow().clone());
        let mut out = match only {
            Some(names) if !S::FAMILIES.iter().any(|f| names.contains(&f.name)) => {
                return Vec::new();
            }
            Some(names) => Families::only(S::FAMILIES, names),
            None => Families::new(S::FAMILIES),
        };
        if let Some(s) = snapshot {
            s.render(&mut out);
        }
        out.into_vec()
    }
}

thread_local! {
    /// Set while `gather_only` gathers: the family names it asks for.
    static WANTED: RefCell<Option<Vec<&'static str>>> = const { RefCell::new(None) };
}

/// The families of `registry` named in `names`, as protobuf (what the alert engine evaluates).
/// A snapshot collector with none of them does not render at all: on a 64-CPU host most series
/// (C-states, frequencies, sensors) are read by no rule.
pub fn gather_only(registry: &prometheus::Registry, names: &[&'static str]) -> Vec<MetricFamily> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            WANTED.with(|w| w.borrow_mut().take());
        }
    }
    WANTED.with(|w| *w.borrow_mut() = Some(names.to_vec()));
    let reset = Reset;
    let mut families = registry.gather();
    drop(reset);
    families.retain(|f| names.contains(&f.name()));
    families
}

/// Text exposition (format 0.0.4) of everything in `registry`.
pub fn exposition(registry: &prometheus::Registry) -> String {
    String::from_utf8(encode(registry, Format::Text, false))
        .expect("the exposition is built from strings")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Family = Family::gauge("hostwatt_test_a", "A test gauge", &["x"]);
    const B: Family = Family::counter("hostwatt_test_b_total", "A test counter", &[]);

    struct Snap(f64);
    impl Render for Snap {
        const FAMILIES: &'static [&'static Family] = &[&A, &B];
        fn render(&self, out: &mut Families) {
            out.push(&A, &["two"], self.0);
            out.push(&A, &["one"], 1.0);
            out.push(&B, &[], 7.0);
        }
    }

    #[test]
    fn renders_latest_snapshot_sorted() {
        let (tx, rx) = watch::channel(None);
        let reg = prometheus::Registry::new();
        reg.register(Box::new(SnapshotCollector::<Snap>::new(rx)))
            .unwrap();
        assert_eq!(exposition(&reg), "", "nothing published yet");
        tx.send_replace(Some(Arc::new(Snap(2.5))));
        assert_eq!(
            exposition(&reg),
            "# HELP hostwatt_test_a A test gauge\n# TYPE hostwatt_test_a gauge\n\
             hostwatt_test_a{x=\"one\"} 1\nhostwatt_test_a{x=\"two\"} 2.5\n\
             # HELP hostwatt_test_b_total A test counter\n# TYPE hostwatt_test_b_total counter\n\
             hostwatt_test_b_total 7\n"
        );
    }

    #[test]
    fn gather_only_renders_and_returns_the_named_families_alone() {
        static RENDERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        const C: Family = Family::gauge("hostwatt_test_c", "Another test gauge", &[]);
        struct Other;
        impl Render for Other {
            const FAMILIES: &'static [&'static Family] = &[&C];
            fn render(&self, out: &mut Families) {
                RENDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                out.push(&C, &[], 3.0);
            }
        }
        let reg = prometheus::Registry::new();
        let (_tx, rx) = watch::channel(Some(Arc::new(Snap(2.5))));
        reg.register(Box::new(SnapshotCollector::<Snap>::new(rx)))
            .unwrap();
        let (_tx2, rx2) = watch::channel(Some(Arc::new(Other)));
        reg.register(Box::new(SnapshotCollector::<Other>::new(rx2)))
            .unwrap();
        let owned = prometheus::IntCounter::new("hostwatt_test_owned_total", "owned").unwrap();
        reg.register(Box::new(owned.clone())).unwrap();

        let got = gather_only(
            &reg,
            &["hostwatt_test_b_total", "hostwatt_test_owned_total"],
        );
        let names: Vec<&str> = got.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            ["hostwatt_test_b_total", "hostwatt_test_owned_total"]
        );
        assert_eq!(got[0].get_metric()[0].get_counter().value(), 7.0);
        assert_eq!(RENDERS.load(std::sync::atomic::Ordering::Relaxed), 0);
        // outside gather_only, everything is gathered again
        assert_eq!(reg.gather().len(), 4);
        assert_eq!(RENDERS.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn rejects_a_second_registration_of_the_same_families() {
        let reg = prometheus::Registry::new();
        let (_tx, rx) = watch::channel(None);
        reg.register(Box::new(SnapshotCollector::<Snap>::new(rx.clone())))
            .unwrap();
        assert!(
            reg.register(Box::new(SnapshotCollector::<Snap>::new(rx)))
                .is_err()
        );
    }
}
