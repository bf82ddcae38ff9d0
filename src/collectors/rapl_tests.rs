use std::time::Duration;

use super::*;
use proptest::prelude::*;

#[test]
fn counter_wraps_at_max_range() {
    assert_eq!(advance(100, 250, Some(1000)), Some(150));
    assert_eq!(advance(900, 99, Some(999)), Some(199)); // 900..=999 is 100, 0..=99 is 99 more
    assert_eq!(advance(900, 99, None), None);
    assert_eq!(
        advance(1200, 5, Some(1000)),
        None,
        "reading above max is not a wrap"
    );
}

proptest! {
    #[test]
    fn advance_recovers_any_single_wrap(max in 1u64..u64::MAX / 2, prev_frac in 0.0f64..1.0, d_frac in 0.0f64..1.0) {
        let prev = (max as f64 * prev_frac) as u64;
        let d = (max as f64 * d_frac) as u64;
        let now = ((prev as u128 + d as u128) % (max as u128 + 1)) as u64;
        prop_assert_eq!(advance(prev, now, Some(max)), Some(d));
    }
}

#[test]
fn parses_zone_ids() {
    assert_eq!(parse_zone_id("intel-rapl"), Ok(None));
    assert_eq!(parse_zone_id("intel-rapl:0:1"), Ok(Some(())));
    assert_eq!(parse_zone_id("intel-rapl-mmio:0"), Ok(Some(())));
    assert_eq!(
        parse_zone_id("intel-rapl:a").unwrap_err().to_string(),
        "powercap zone id, line 1: malformed zone \"intel-rapl:a\""
    );
}

#[test]
fn claims_only_intel_rapl_control_types() {
    for rapl in ["intel-rapl:0", "intel-rapl-mmio:0:1", "intel-rapl"] {
        assert!(is_rapl(rapl), "{rapl}");
    }
    for other in ["dtpm:0", "dtpm", "idle-injection:0", "arm-scmi:0"] {
        assert!(!is_rapl(other), "{other}");
    }
}

#[test]
fn a_dtpm_tree_is_no_rapl_zone() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("sys/class/powercap/dtpm:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "soc\n").unwrap();
    std::fs::write(zone.join("power_uw"), "1200000\n").unwrap();
    std::fs::create_dir_all(dir.path().join("sys/class/powercap/dtpm")).unwrap();
    let walk = read_zones(&Root::new(dir.path())).unwrap();
    assert!(walk.zones.is_empty(), "{:?}", walk.zones);
    assert!(walk.faults.is_empty(), "{:?}", walk.faults);
    assert!(walk.unreadable.is_empty(), "{:?}", walk.unreadable);
}

fn reading(uj: u64) -> Reading {
    Reading {
        id: "intel-rapl:0".into(),
        name: "package-0".into(),
        energy_uj: uj,
        max_uj: Some(262_143_328_850),
    }
}

#[test]
fn reads_the_captured_powercap_trees() {
    for tree in ["sysfs/node_exporter", "sysfs/kepler"] {
        let walk = read_zones(&crate::testutil::shared_root(tree)).unwrap();
        let pkg = walk
            .zones
            .iter()
            .find(|z| z.id == "intel-rapl:0")
            .expect("package zone");
        assert_eq!(
            (pkg.name.as_str(), pkg.energy_uj, pkg.max_uj),
            ("package-0", 240_422_366_267, Some(262_143_328_850))
        );
        let core = walk
            .zones
            .iter()
            .find(|z| z.id == "intel-rapl:0:0")
            .expect("core zone");
        assert_eq!(
            (core.name.as_str(), core.energy_uj),
            ("core", 118_821_284_256)
        );
    }
    let kepler = read_zones(&crate::testutil::shared_root("sysfs/kepler")).unwrap();
    assert!(kepler.zones.iter().any(|z| z.id == "intel-rapl-mmio:0"));
    let malformed: Vec<_> = kepler
        .faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect();
    assert_eq!(malformed, [("intel-rapl:a", "parse")]);
}

#[test]
fn missing_powercap_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_zones(&Root::new(dir.path())).unwrap_err();
    assert_eq!(err.kind(), "unavailable");
}

#[test]
fn a_failed_read_keeps_the_baseline_and_the_next_read_counts_the_energy_spent_meanwhile() {
    let mut r = Rapl::new(Config::default());
    let t0 = Instant::now();
    r.fold(&[reading(1_000_000)], &[], t0);
    // EIO, or a file caught mid-write: no reading this round
    r.fold(&[], &["intel-rapl:0"], t0 + Duration::from_secs(10));
    let acc = &r.zones["intel-rapl:0"];
    assert_eq!((acc.watts, acc.joules_total), (None, 0.0));
    r.fold(&[reading(101_000_000)], &[], t0 + Duration::from_secs(20));
    let acc = &r.zones["intel-rapl:0"];
    assert!((acc.joules_total - 100.0).abs() < 1e-9, "{}", acc.joules_total);
    assert!((acc.watts.unwrap() - 5.0).abs() < 1e-9, "{:?}", acc.watts);
    // a zone that is gone (neither read nor failed) drops out
    r.fold(&[], &[], t0 + Duration::from_secs(30));
    assert!(r.zones.is_empty());
}

#[test]
fn computes_watts_across_a_wrap_and_skips_a_reset() {
    let mut r = Rapl::new(Config::default());
    let t0 = Instant::now();
    r.fold(&[reading(262_143_000_000)], &[], t0);
    assert_eq!(
        r.zones["intel-rapl:0"].watts, None,
        "no rate on the first round"
    );
    // wraps: 328_850 + 1 + 149_671_149 µJ = 150 J in 10 s
    r.fold(&[reading(149_671_149)], &[], t0 + Duration::from_secs(10));
    let acc = &r.zones["intel-rapl:0"];
    assert!((acc.watts.unwrap() - 15.0).abs() < 1e-9, "{:?}", acc.watts);
    assert!((acc.joules_total - 150.0).abs() < 1e-9);
    // driver reload: back to a small value far from max → a "wrap" of 262 kJ in 10 s is implausible
    r.fold(&[reading(1_000)], &[], t0 + Duration::from_secs(20));
    let acc = &r.zones["intel-rapl:0"];
    assert_eq!((acc.watts, acc.skipped), (None, 1));
    assert!(
        (acc.joules_total - 150.0).abs() < 1e-9,
        "reset adds nothing"
    );
}

fn write_zone(root: &std::path::Path, id: &str, name: &str, uj: u64) {
    let dir = root.join(BASE).join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
    std::fs::write(dir.join("energy_uj"), format!("{uj}\n")).unwrap();
    std::fs::write(dir.join("max_energy_range_uj"), "262143328850\n").unwrap();
}

fn watts_by_id(s: &Snapshot) -> Vec<(&str, Option<f64>)> {
    s.zones.iter().map(|z| (z.id.as_str(), z.watts)).collect()
}

#[tokio::test]
async fn kept_counters_see_new_energy_and_a_new_listing_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    write_zone(dir.path(), "intel-rapl:0", "package-0", 1_000_000);
    let cx = Context {
        root: Root::new(dir.path()),
        runner: crate::host::command::Runner::replay(Vec::new()),
    };
    let mut r = Rapl::new(Config::default());
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    r.sample(&cx, at(0)).await.unwrap();
    assert!(r.kept.is_some(), "a fault-free walk keeps its counters");
    // rewritten in place, as the counter moves: 50 J in 10 s through the kept descriptor
    write_zone(dir.path(), "intel-rapl:0", "package-0", 51_000_000);
    let s = r.sample(&cx, at(10)).await.unwrap().snapshot;
    assert_eq!(watts_by_id(&s), [("intel-rapl:0", Some(5.0))]);
    // a zone appears: walked, and counted from its first reading
    write_zone(dir.path(), "intel-rapl:1", "package-1", 7_000_000);
    write_zone(dir.path(), "intel-rapl:0", "package-0", 71_000_000);
    let s = r.sample(&cx, at(20)).await.unwrap().snapshot;
    assert_eq!(
        watts_by_id(&s),
        [("intel-rapl:0", Some(2.0)), ("intel-rapl:1", None)]
    );
    write_zone(dir.path(), "intel-rapl:1", "package-1", 37_000_000);
    let s = r.sample(&cx, at(30)).await.unwrap().snapshot;
    assert_eq!(
        watts_by_id(&s),
        [("intel-rapl:0", Some(0.0)), ("intel-rapl:1", Some(3.0))]
    );
    // and one goes
    std::fs::remove_dir_all(dir.path().join(BASE).join("intel-rapl:0")).unwrap();
    let s = r.sample(&cx, at(40)).await.unwrap().snapshot;
    assert_eq!(watts_by_id(&s), [("intel-rapl:1", Some(0.0))]);
}

/// Runs one of a real-world case's scripts on `dir` (a copy of the case folder).
#[allow(clippy::disallowed_methods)] // the case's own script, not a program hostwatt runs
fn run_case_script(case: &std::path::Path, script: &str, dir: &std::path::Path) {
    let status = std::process::Command::new("sh")
        .arg(case.join(script))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{script}: {status}");
}

/// Real-world case `rapl-msr-mmio-no-psys`: package-0 through MSR (3.93 W) and MMIO
/// (3.78 W) is one CPU. Counters moved by the case's setup.sh and during.sh on a copy.
#[tokio::test]
async fn one_package_through_msr_and_mmio_is_counted_once() {
    let case = crate::testutil::shared_fixture("real-world/rapl-msr-mmio-no-psys");
    let dir = tempfile::tempdir().unwrap();
    crate::testutil::overlay(&case, dir.path());
    run_case_script(&case, "setup.sh", dir.path());
    let cx = Context {
        root: Root::new(dir.path().join("root")),
        runner: crate::host::command::Runner::replay(Vec::new()),
    };
    let mut rapl = Rapl::new(Config::default());
    let t0 = Instant::now();
    rapl.sample(&cx, t0).await.unwrap();
    run_case_script(&case, "during.sh", dir.path());
    let s = rapl.sample(&cx, t0 + Duration::from_secs(1)).await.unwrap();
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    let got: Vec<(&str, &str, &str, bool, f64)> = s
        .snapshot
        .zones
        .iter()
        .map(|z| {
            let w = (z.watts.unwrap() * 1000.0).round() / 1000.0;
            (
                z.id.as_str(),
                z.name.as_str(),
                z.interface.as_str(),
                z.counted,
                w,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("intel-rapl-mmio:0", "package-0", "mmio", false, 3.78),
            ("intel-rapl:0", "package-0", "msr", true, 3.93),
            ("intel-rapl:0:0", "core", "msr", true, 0.84),
            ("intel-rapl:0:1", "uncore", "msr", true, 0.21),
        ]
    );
    let counted: Vec<(String, f64)> = s
        .snapshot
        .zones
        .iter()
        .filter(|z| z.counted)
        .map(|z| (z.name.clone(), z.watts.unwrap()))
        .collect();
    let (watts, rule) = crate::estimate::wall::cpu_watts(&counted).unwrap();
    assert_eq!(rule, "package+dram");
    assert!((watts - 3.93).abs() < 1e-9, "{watts}");
    let series = crate::testutil::render_series(&s.snapshot);
    for line in [
        "hostwatt_rapl_zone_counted{zone=\"package-0\",id=\"intel-rapl-mmio:0\",interface=\"mmio\"} 0",
        "hostwatt_rapl_zone_counted{zone=\"package-0\",id=\"intel-rapl:0\",interface=\"msr\"} 1",
    ] {
        assert!(
            series.iter().any(|l| l == line),
            "{line} not in {series:#?}"
        );
    }
}

#[test]
fn mmio_counts_when_msr_lacks_the_domain() {
    let mut r = Rapl::new(Config::default());
    let at = Instant::now();
    let z = |id: &str, name: &str| Reading {
        id: id.into(),
        name: name.into(),
        energy_uj: 0,
        max_uj: None,
    };
    r.fold(
        &[
            z("intel-rapl:0", "package-0"),
            z("intel-rapl:0:0", "core"),
            z("intel-rapl-mmio:0", "package-0"),
            z("intel-rapl-mmio:0:0", "core"),
            z("intel-rapl-mmio:1", "package-1"),
            z("intel-rapl:1", "psys"),
        ],
        &[],
        at,
    );
    let d = r.domains();
    let counted: Vec<(&str, bool)> = d
        .iter()
        .map(|(id, (i, dom))| (id.as_str(), counted(i, dom, d.values())))
        .collect();
    assert_eq!(
        counted,
        [
            ("intel-rapl-mmio:0", false),
            ("intel-rapl-mmio:0:0", false),
            ("intel-rapl-mmio:1", true),
            ("intel-rapl:0", true),
            ("intel-rapl:0:0", true),
            ("intel-rapl:1", true),
        ]
    );
}
