use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::sync::watch;

use super::*;
use crate::metrics::{Families, Family, Render, SnapshotCollector};

const A: Family = Family::gauge(
    "hostwatt_a_celsius",
    "A \"quoted\"\nhelp \\ text",
    &["chip", "x"],
);
const C: Family = Family::counter("hostwatt_c_joules_total", "C", &[]);
const D: Family = Family::gauge("hostwatt_d", "D", &["y"]);
const FIRING: Family = Family::gauge("hostwatt_e_firing", "varying labels", &[]);

/// A value and a count of this snapshot's renders.
struct One(f64, Arc<AtomicUsize>);

fn one(value: f64) -> Arc<One> {
    Arc::new(One(value, Arc::default()))
}

impl Render for One {
    const FAMILIES: &'static [&'static Family] = &[&A, &C];
    fn render(&self, out: &mut Families) {
        self.1.fetch_add(1, Ordering::Relaxed);
        out.push(&A, &["nct\"6798\"", "b\\c\nd"], self.0);
        out.push(&A, &["ab", "c"], f64::NAN);
        out.push(&A, &["a", "bc"], f64::INFINITY);
        out.push(&A, &["a", "bc"], -0.5);
        out.push(&A, &["", "z"], f64::NEG_INFINITY);
        out.push(&C, &[], 1e21);
    }
}

struct Two;
impl Render for Two {
    const FAMILIES: &'static [&'static Family] = &[&D, &FIRING];
    fn render(&self, out: &mut Families) {
        out.push(&D, &["2"], 2.0);
        out.push(&D, &["10"], 10.0);
        out.push_pairs(&FIRING, &[("alertname", "X"), ("sev", "crit")], 1.0);
        out.push_pairs(&FIRING, &[("alertname", "Y")], 1.0);
        out.push_pairs(&FIRING, &[], 0.0);
    }
}

/// A registry where the families of two snapshot collectors and an owned instrument
/// (`hostwatt_b`) interleave by name.
fn registry() -> (Registry, watch::Sender<Option<Arc<One>>>) {
    let r = Registry::new();
    let owned = IntGaugeVec::new(Opts::new("hostwatt_b", "owned"), &["k"]).unwrap();
    owned.with_label_values(&["v"]).set(3);
    r.register(Box::new(owned)).unwrap();
    let (tx1, rx1) = watch::channel(Some(one(1.5)));
    r.register(Box::new(SnapshotCollector::new(rx1))).unwrap();
    let (_tx2, rx2) = watch::channel(Some(Arc::new(Two)));
    r.register(Box::new(SnapshotCollector::new(rx2))).unwrap();
    (r, tx1)
}

/// What the prometheus crate's own gather and encoders make of the same registry.
fn oracle(r: &Registry, format: Format) -> String {
    let families = r.gather();
    match format {
        Format::Text => prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap(),
        Format::OpenMetrics => crate::metrics::openmetrics::encode(&families),
    }
}

fn inflate(gz: &[u8]) -> String {
    // GzDecoder reads one member only: equality below also proves the body is a single member
    let mut back = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut back)
        .unwrap();
    back
}

#[test]
fn cached_bytes_equal_what_gather_and_the_encoders_make() {
    let (r, _tx) = registry();
    for format in [Format::Text, Format::OpenMetrics] {
        let ours = String::from_utf8(encode(&r, format, false)).unwrap();
        assert_eq!(ours, oracle(&r, format), "{format:?}");
    }
    let text = String::from_utf8(encode(&r, Format::Text, false)).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        samples,
        [
            r#"hostwatt_a_celsius{chip="",x="z"} -inf"#,
            r#"hostwatt_a_celsius{chip="a",x="bc"} inf"#,
            r#"hostwatt_a_celsius{chip="a",x="bc"} -0.5"#,
            r#"hostwatt_a_celsius{chip="ab",x="c"} NaN"#,
            r#"hostwatt_a_celsius{chip="nct\"6798\"",x="b\\c\nd"} 1.5"#,
            r#"hostwatt_b{k="v"} 3"#,
            "hostwatt_c_joules_total 1000000000000000000000",
            r#"hostwatt_d{y="10"} 10"#,
            r#"hostwatt_d{y="2"} 2"#,
            "hostwatt_e_firing 0",
            r#"hostwatt_e_firing{alertname="Y"} 1"#,
            r#"hostwatt_e_firing{alertname="X",sev="crit"} 1"#,
        ]
    );
}

#[test]
fn gzip_inflates_to_the_plain_body_before_and_after_a_change() {
    let (r, tx) = registry();
    for value in [1.5, 1.5, 7.25] {
        tx.send_replace(Some(one(value)));
        for format in [Format::Text, Format::OpenMetrics] {
            let plain = String::from_utf8(encode(&r, format, false)).unwrap();
            assert!(plain.contains(&format!("}} {value}\n")), "{plain}");
            let zipped = encode(&r, format, true);
            assert_eq!(inflate(&zipped), plain, "{format:?} after {value}");
            // again, from the cached segments
            assert_eq!(inflate(&encode(&r, format, true)), plain);
        }
    }
}

#[test]
fn a_snapshot_is_rendered_once_however_often_it_is_scraped() {
    let (r, tx) = registry();
    let first = one(1.0);
    tx.send_replace(Some(first.clone()));
    for _ in 0..5 {
        encode(&r, Format::Text, true);
        encode(&r, Format::OpenMetrics, false);
    }
    // the alert engine's gather renders protobuf families, outside the cache
    r.gather();
    assert_eq!(first.1.load(Ordering::Relaxed), 2);
    let second = one(2.0);
    tx.send_replace(Some(second.clone()));
    encode(&r, Format::Text, false);
    encode(&r, Format::Text, true);
    assert_eq!(second.1.load(Ordering::Relaxed), 1);
    assert_eq!(first.1.load(Ordering::Relaxed), 2);
}
