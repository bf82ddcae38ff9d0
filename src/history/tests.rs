use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::record::{Recorder, Sources};
use super::store::{FILE, Store};
use super::*;

const DAY0: i64 = 1_790_000_000 - 1_790_000_000 % 86_400;
const BIG: u64 = 1 << 30;

#[test]
fn write_restart_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Buffer::default();
    b.record("wall_watts", DAY0 + 5, 40.0);
    b.record("wall_watts", DAY0 + 7, 50.0);
    {
        let (mut s, note) = Store::open(dir.path()).unwrap();
        assert_eq!(note, None);
        s.write(&b.take(), DAY0 + 10, BIG).unwrap();
        assert_eq!(s.writes, 1);
    }
    let (s, note) = Store::open(dir.path()).unwrap();
    assert_eq!(note, None);
    let rows = s.query("wall_watts", 0, DAY0, DAY0 + 10).unwrap();
    assert_eq!(
        rows,
        [(
            DAY0,
            Agg {
                n: 2,
                min: 40.0,
                max: 50.0,
                sum: 90.0
            }
        )]
    );
    assert_eq!(s.series(), ["wall_watts"]);
}

#[test]
fn tiers_downsample_min_avg_max() {
    let mut b = Buffer::default();
    // one sample every 10 s for two minutes: 1, 2, ..., 12 W
    for i in 0..12 {
        b.record("wall_watts", DAY0 + 10 * i, (i + 1) as f64);
    }
    let ten: Vec<_> = b.range("wall_watts", 0, DAY0, DAY0 + 3600);
    assert_eq!(ten.len(), 12);
    assert_eq!(ten[3], (DAY0 + 30, Agg::one(4.0)));
    let minute = b.range("wall_watts", 1, DAY0, DAY0 + 3600);
    assert_eq!(minute.len(), 2);
    let (t, a) = minute[1];
    assert_eq!(
        (t, a.n, a.min, a.max, a.avg()),
        (DAY0 + 60, 6, 7.0, 12.0, 9.5)
    );
    let hour = b.range("wall_watts", 2, DAY0, DAY0 + 3600);
    assert_eq!(hour.len(), 1);
    assert_eq!(
        (hour[0].1.min, hour[0].1.avg(), hour[0].1.max),
        (1.0, 6.5, 12.0)
    );

    // through the store: the same hour bucket flushed twice (a clock set back re-records
    // 7..12 W), then a restart
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path()).unwrap();
    s.write(&b.take(), DAY0 + 120, BIG).unwrap();
    let mut b2 = Buffer::default();
    for i in 6..12 {
        b2.record("wall_watts", DAY0 + 10 * i, (i + 1) as f64);
    }
    s.write(&b2.take(), DAY0 + 120, BIG).unwrap();
    drop(s);
    let (s, _) = Store::open(dir.path()).unwrap();
    let pts = store::merge(s.query("wall_watts", 2, DAY0, DAY0 + 3600).unwrap(), vec![]);
    // the hour bucket: 1..12 W from the first write, 7..12 W again from the second
    let n = 12.0 + 6.0;
    let mean = (78.0 + 57.0) / n;
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0][1], 1.0);
    assert!((pts[0][2] - mean).abs() < 1e-9, "{}", pts[0][2]);
    assert_eq!(pts[0][3], 12.0);
}

#[test]
fn stored_values_keep_thousandths() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path()).unwrap();
    let mut b = Buffer::default();
    b.record("pool_capacity_ratio:tank", DAY0, 0.8123);
    b.record("disk_temperature_celsius:sda", DAY0, 38.0);
    b.record("wall_watts", DAY0, f64::NAN);
    s.write(&b.take(), DAY0, BIG).unwrap();
    let r = s.query("pool_capacity_ratio:tank", 0, DAY0, DAY0).unwrap();
    assert_eq!(r[0].1.max, 0.812);
    let r = s
        .query("disk_temperature_celsius:sda", 2, DAY0, DAY0)
        .unwrap();
    assert_eq!(r[0].1.avg(), 38.0);
    assert!(
        s.query("wall_watts", 0, DAY0, DAY0).unwrap().is_empty(),
        "NaN not stored"
    );
}

#[test]
fn ages_out_per_tier() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path()).unwrap();
    let mut b = Buffer::default();
    b.record("wall_watts", DAY0, 10.0);
    s.write(&b.take(), DAY0, BIG).unwrap();
    // two days later the 10 s bucket is gone, the 1 min and 1 h ones stay
    b.record("wall_watts", DAY0 + 2 * 86_400, 20.0);
    s.write(&b.take(), DAY0 + 2 * 86_400, BIG).unwrap();
    assert!(s.query("wall_watts", 0, DAY0, DAY0).unwrap().is_empty());
    assert_eq!(s.query("wall_watts", 1, DAY0, DAY0).unwrap().len(), 1);
    assert_eq!(s.query("wall_watts", 2, DAY0, DAY0).unwrap().len(), 1);
}

#[test]
fn size_cap_prunes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path()).unwrap();
    let hours = 24 * 60;
    let mut b = Buffer::default();
    for h in 0..hours {
        for d in 0..8 {
            b.record(
                &format!("disk_temperature_celsius:d{d}"),
                DAY0 + h * 3600,
                30.0 + (h % 7) as f64,
            );
        }
    }
    s.write(&b.take(), DAY0 + hours * 3600, BIG).unwrap();
    let full = s.used_bytes().unwrap();
    let cap = full / 2;
    // one more sample pushes the store over the cap
    b.record("wall_watts", DAY0 + hours * 3600, 1.0);
    s.write(&b.take(), DAY0 + hours * 3600, cap).unwrap();
    assert!(
        s.used_bytes().unwrap() <= cap,
        "{} > {cap}",
        s.used_bytes().unwrap()
    );
    assert!(
        s.file_bytes() <= cap + 64 * 1024,
        "freed pages returned: {}",
        s.file_bytes()
    );
    let kept = s
        .query("disk_temperature_celsius:d0", 2, DAY0, DAY0 + hours * 3600)
        .unwrap();
    assert!(!kept.is_empty() && kept.len() < hours as usize);
    // the newest hours survive, the first one does not
    assert_eq!(kept.last().unwrap().0, DAY0 + (hours - 1) * 3600);
    assert!(kept[0].0 > DAY0);
    assert_eq!(
        s.query("wall_watts", 2, DAY0, DAY0 + hours * 3600)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn corrupt_store_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(FILE),
        b"this is not an sqlite database, just text, long enough to look like a header ........",
    )
    .unwrap();
    let (mut s, note) = Store::open(dir.path()).unwrap();
    let note = note.unwrap();
    assert!(note.contains("moved to"), "{note}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("history.sqlite.bad-")),
        "{names:?}"
    );
    let mut b = Buffer::default();
    b.record("wall_watts", DAY0, 1.0);
    s.write(&b.take(), DAY0, BIG).unwrap();
    assert_eq!(s.writes, 1);
}

#[test]
fn foreign_sqlite_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(dir.path().join(FILE)).unwrap();
    c.execute_batch("CREATE TABLE other (x INTEGER)").unwrap();
    drop(c);
    let (_, note) = Store::open(dir.path()).unwrap();
    assert!(note.unwrap().starts_with("foreign history store"));
}

#[test]
fn picks_the_finest_tier_that_holds_the_range() {
    let now = DAY0 + 100 * 86_400;
    assert_eq!(pick_tier(now - 3600, now, now), 0);
    assert_eq!(pick_tier(now - 86_400, now, now), 1);
    assert_eq!(pick_tier(now - 7 * 86_400, now, now), 2);
    assert_eq!(pick_tier(now - 365 * 86_400, now, now), 2);
    // an hour two days ago is no longer in the 10 s tier
    assert_eq!(pick_tier(now - 2 * 86_400, now - 2 * 86_400 + 3600, now), 1);
}

#[test]
fn flush_policy_waits_for_the_interval_and_for_data() {
    let t0 = Instant::now();
    let mut p = FlushPolicy::new(Duration::from_secs(900), t0);
    assert!(!p.due(true, t0 + Duration::from_secs(899)));
    assert!(
        !p.due(false, t0 + Duration::from_secs(900)),
        "nothing to write"
    );
    assert!(p.due(true, t0 + Duration::from_secs(901)));
    assert!(!p.due(true, t0 + Duration::from_secs(1000)));
    assert!(p.due(true, t0 + Duration::from_secs(1801)));
}

fn wall_source(watts: f64) -> (watch::Sender<Option<Arc<wall::Snapshot>>>, Sources) {
    let snap = wall::Snapshot {
        best: Some((watts, "estimate".into(), "modelled")),
        ..Default::default()
    };
    let (tx, rx) = watch::channel(Some(Arc::new(snap)));
    (
        tx,
        Sources {
            wall: Some(rx),
            ..Default::default()
        },
    )
}

use crate::collectors::wall;

#[tokio::test]
async fn recorder_writes_only_at_the_flush_interval_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let history = History::open(dir.path(), BIG);
    let (tx, sources) = wall_source(42.0);
    let mut rec = Recorder::new(&cfg, history.clone(), sources);
    let t0 = Instant::now();
    // 10 s rounds for 20 min: one flush at 15 min
    for i in 0..120u64 {
        rec.record_at(DAY0 + 10 * i as i64, t0 + Duration::from_secs(10 * i));
    }
    // a query is answered after the writes sent before it
    let a = history
        .query("wall_watts", DAY0, DAY0 + 1200, DAY0 + 1200)
        .await;
    assert_eq!(history.stats().writes, 1);
    assert_eq!(a.step_seconds, 10);
    assert_eq!(a.points.len(), 120, "stored and buffered merged");
    assert_eq!(a.points[5], [(DAY0 + 50) as f64, 42.0, 42.0, 42.0]);
    // the source disappears: the buffered minutes are written once at the next interval,
    // then nothing
    tx.send_replace(None);
    let snap = rec.record_at(DAY0 + 1800, t0 + Duration::from_secs(1800));
    let _ = history.series().await;
    assert_eq!(history.stats().writes, 2, "the 5 buffered minutes, once");
    rec.record_at(DAY0 + 2700, t0 + Duration::from_secs(2700));
    let snap2 = rec.record_at(DAY0 + 3700, t0 + Duration::from_secs(3700));
    let _ = history.series().await;
    assert_eq!(
        history.stats().writes,
        2,
        "nothing changed, nothing written"
    );
    assert_eq!(snap.buffered, 0);
    assert_eq!(snap2.stats.last_flush, Some((DAY0 + 1800) as f64));
    // shutdown: close, reopen, read back
    tx.send_replace(Some(Arc::new(wall::Snapshot {
        best: Some((50.0, "estimate".into(), "modelled")),
        ..Default::default()
    })));
    rec.record_at(DAY0 + 3710, t0 + Duration::from_secs(3710));
    crate::collectors::Collector::finish(&mut rec);
    history.closed().await;
    let reopened = History::open(dir.path(), BIG);
    let a = reopened
        .query("wall_watts", DAY0, DAY0 + 3710, DAY0 + 3710)
        .await;
    assert_eq!(a.points.len(), 121);
    assert_eq!(a.points.last().unwrap()[3], 50.0);
    assert_eq!(reopened.series().await, ["wall_watts"]);
}

/// A simulated series: value at Unix time t.
type Signal = Box<dyn Fn(i64) -> f64>;

/// A cheap deterministic noise in [-1, 1].
fn noise(i: i64, seed: i64) -> f64 {
    (((i * 7919 + seed * 104_729) % 2001) - 1000) as f64 / 1000.0
}

/// The whole retention of every tier for a 24-disk NAS (90 series: wall, DC, loss, idle, energy,
/// 4 other components, per disk its watts, temperature and power mode, 3 pools, 6 C-states),
/// with noisy power and steady disks. Slow in a debug build, so run by hand:
/// `cargo test --release --lib two_years_of_24_disks -- --ignored --nocapture`
/// (result in docs/BENCHMARKS.md).
#[test]
#[ignore]
fn two_years_of_24_disks_fit_the_default_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path()).unwrap();
    let now = DAY0 + 2 * 365 * 86_400;
    let mut series: Vec<(String, Signal)> = Vec::new();
    for (k, name) in [
        "wall_watts",
        "dc_watts",
        "psu_loss_watts",
        "component_watts:cpu",
        "component_watts:dram",
    ]
    .into_iter()
    .enumerate()
    {
        series.push((
            name.into(),
            Box::new(move |t| 40.0 + 5.0 * noise(t, k as i64)),
        ));
    }
    for name in [
        "idle_watts",
        "component_watts:fans",
        "component_watts:baseline",
    ] {
        series.push((name.into(), Box::new(|t| 30.0 + (t / 86_400 % 3) as f64)));
    }
    series.push((
        "energy_today_joules".into(),
        Box::new(|t| (t % 86_400) as f64 * 45.0),
    ));
    for d in 0..24i64 {
        // spins up for an hour twice a day, sleeps otherwise
        let mode = move |t: i64| {
            if (t + d * 600) % 43_200 < 3600 {
                2.0
            } else {
                0.0
            }
        };
        series.push((format!("disk_power_mode:d{d}"), Box::new(mode)));
        series.push((
            format!("component_watts:disk:d{d}"),
            Box::new(move |t| if mode(t) > 0.0 { 5.1 } else { 0.8 }),
        ));
        series.push((
            format!("disk_temperature_celsius:d{d}"),
            Box::new(move |t| 30.0 + ((t / 1800 + d) % 8) as f64),
        ));
    }
    for p in 0..3 {
        series.push((
            format!("pool_capacity_ratio:p{p}"),
            Box::new(move |t| 0.5 + (t - DAY0) as f64 / 1e10 + p as f64 / 10.0),
        ));
    }
    for c in 0..6 {
        series.push((
            format!("cpuidle_residency_ratio:C{c}"),
            Box::new(move |t| (0.15 + 0.1 * noise(t, c)).max(0.0)),
        ));
    }
    let mut buckets = 0;
    for (tier, spec) in TIERS.iter().enumerate() {
        let mut rows = Vec::new();
        for (name, f) in &series {
            let mut t = now - spec.keep;
            t -= t.rem_euclid(spec.step);
            while t < now {
                // one 10 s sample per bucket of the finest tier; coarser buckets span a range
                let samples = spec.step / 10;
                let (lo, hi, mid) = (f(t), f(t + spec.step - 10), f(t + spec.step / 2));
                let (min, max) = (lo.min(hi).min(mid), lo.max(hi).max(mid));
                rows.push(Row {
                    series: name.clone(),
                    tier: tier as u8,
                    t,
                    agg: Agg {
                        n: samples as u64,
                        min,
                        max,
                        sum: mid * samples as f64,
                    },
                });
                t += spec.step;
            }
        }
        buckets += rows.len();
        s.write(&rows, now, BIG).unwrap();
    }
    let used = s.used_bytes().unwrap();
    eprintln!(
        "MEASURE {} series, {buckets} buckets: {used} bytes used, {} bytes file, {:.1} B/bucket",
        series.len(),
        s.file_bytes(),
        used as f64 / buckets as f64
    );
    assert!(used <= 50_000_000, "{used} bytes");
}

#[tokio::test]
async fn a_clock_set_back_merges_into_past_buckets_and_keeps_the_flush_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(dir.path(), BIG);
    let (_tx, sources) = wall_source(30.0);
    let mut rec = Recorder::new(&Config::default(), history.clone(), sources);
    let t0 = Instant::now();
    rec.record_at(DAY0 + 3600, t0);
    // NTP sets the clock back an hour: the sample joins the bucket of an hour earlier...
    rec.record_at(DAY0 + 5, t0 + Duration::from_secs(10));
    // ...and the flush still comes 15 min of monotonic time after the start, not an hour later
    rec.record_at(DAY0 + 900, t0 + Duration::from_secs(900));
    let a = history
        .query("wall_watts", DAY0, DAY0 + 3600, DAY0 + 3600)
        .await;
    assert_eq!(history.stats().writes, 1);
    let ts: Vec<f64> = a.points.iter().map(|p| p[0]).collect();
    assert_eq!(ts, [DAY0 as f64, (DAY0 + 900) as f64, (DAY0 + 3600) as f64]);
}
