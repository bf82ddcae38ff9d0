//! Metric families declared once as `Family` consts and rendered from collector snapshots.
//!
//! A collector publishes an immutable snapshot; `SnapshotCollector` renders the latest one on
//! each scrape. Swapping whole snapshots means no half-reset vector is ever visible and a vanished
//! device simply drops out. Owned instruments are used only for fixed self-metrics (`selfmon`).

pub mod selfmon;

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use tokio::sync::watch;

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

/// The output of one render: metric families keyed by name.
#[derive(Default)]
pub struct Families {
    allowed: &'static [&'static Family],
    map: BTreeMap<&'static str, MetricFamily>,
}

impl Families {
    /// An empty set that accepts only `allowed` families (checked in debug builds).
    pub fn new(allowed: &'static [&'static Family]) -> Self {
        Self {
            allowed,
            map: BTreeMap::new(),
        }
    }

    /// Adds one series. Label values are given in the family's label order.
    pub fn push(&mut self, family: &'static Family, labels: &[&str], value: f64) {
        debug_assert_eq!(
            labels.len(),
            family.labels.len(),
            "{}: label count",
            family.name
        );
        let pairs: Vec<(&str, &str)> = family
            .labels
            .iter()
            .copied()
            .zip(labels.iter().copied())
            .collect();
        self.push_pairs(family, &pairs, value);
    }

    /// Adds one series with named labels: for families whose label set varies per series
    /// (`hostwatt_alerts_firing` carries the labels of the alert), as Prometheus' own `ALERTS`.
    pub fn push_pairs(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        debug_assert!(
            self.allowed.iter().any(|f| f.name == family.name),
            "{} is not listed in FAMILIES",
            family.name
        );
        let mf = self.map.entry(family.name).or_insert_with(|| {
            let mut mf = MetricFamily::default();
            mf.set_name(family.name.to_owned());
            mf.set_help(family.help.to_owned());
            mf.set_field_type(match family.kind {
                Kind::Counter => MetricType::COUNTER,
                Kind::Gauge => MetricType::GAUGE,
            });
            mf
        });
        let mut m = Metric::default();
        m.set_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut lp = LabelPair::default();
                    lp.set_name((*name).to_owned());
                    lp.set_value((*value).to_owned());
                    lp
                })
                .collect(),
        );
        match family.kind {
            Kind::Counter => {
                let mut c = Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            Kind::Gauge => {
                let mut g = Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        mf.mut_metric().push(m);
    }

    /// Adds a 0/1 gauge.
    pub fn push_bool(&mut self, family: &'static Family, labels: &[&str], value: bool) {
        self.push(family, labels, if value { 1.0 } else { 0.0 });
    }

    /// The rendered families.
    pub fn into_vec(self) -> Vec<MetricFamily> {
        self.map.into_values().collect()
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

/// Renders the latest published snapshot of one collector on every scrape.
pub struct SnapshotCollector<S: Render> {
    descs: Vec<Desc>,
    rx: Latest<S>,
}

impl<S: Render> SnapshotCollector<S> {
    /// A collector reading snapshots from `rx`.
    pub fn new(rx: Latest<S>) -> Self {
        Self {
            descs: S::FAMILIES.iter().map(|f| f.desc()).collect(),
            rx,
        }
    }
}

impl<S: Render> Collector for SnapshotCollector<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Clone the Arc out so the watch lock is not held while rendering.
        let snapshot = self.rx.borrow().clone();
        let mut out = Families::new(S::FAMILIES);
        if let Some(s) = snapshot {
            s.render(&mut out);
        }
        out.into_vec()
    }
}

/// Text exposition (format 0.0.4) of everything in `registry`.
pub fn exposition(registry: &prometheus::Registry) -> String {
    let mut buf = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry.gather(), &mut buf)
        // the encoder rejects only nameless or empty families; gather() drops empty ones and
        // every Family const has a name
        .expect("encoding gathered families into a String cannot fail");
    buf
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
