use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::kept::Walk;
use crate::collectors::rewalk::WALK_EVERY;
use super::*;
use crate::collectors::CollectError;
use crate::host::root::Root;
use crate::metrics::{Families, Render};
use crate::testutil::shared_tree;
use SensorKind::*;
/// A full walk and its round, as the collector's first sample does.
fn read_chips(
    root: &Root,
    exclude: &[String],
    cache: &mut HashMap<String, Cached>,
    at: Instant,
) -> Result<Walk, CollectError> {
    Kept::walk(root, exclude, cache, at).map(|(_, walk)| walk)
}

fn walk(root: &Root) -> Walk {
    let exclude = Config::default().exclude;
    read_chips(root, &exclude, &mut HashMap::new(), Instant::now()).unwrap()
}

fn value(w: &Walk, chip: &str, kind: SensorKind, index: u32) -> f64 {
    sensor(w, chip, kind, index).value
}

fn sensor<'a>(w: &'a Walk, chip: &str, kind: SensorKind, index: u32) -> &'a Sensor {
    let c = w
        .chips
        .iter()
        .find(|c| c.chip == chip)
        .unwrap_or_else(|| panic!("no chip {chip} in {:?}", labels(w)));
    c.sensors
        .iter()
        .find(|s| s.kind == kind && s.index == index)
        .unwrap_or_else(|| panic!("{chip}: no {kind:?}{index} in {:?}", c.sensors))
}

fn labels(w: &Walk) -> Vec<&str> {
    w.chips.iter().map(|c| c.chip.as_str()).collect()
}

fn faults(w: &Walk) -> Vec<(&str, &str)> {
    w.faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect()
}

#[test]
fn splits_attribute_names() {
    assert_eq!(parse_attr_name("temp1_input"), Some((Temp, 1, "input")));
    assert_eq!(
        parse_attr_name("temp1_crit_alarm"),
        Some((Temp, 1, "crit_alarm"))
    );
    assert_eq!(
        parse_attr_name("intrusion0_alarm"),
        Some((Intrusion, 0, "alarm"))
    );
    assert_eq!(parse_attr_name("in0_input"), Some((In, 0, "input")));
    assert_eq!(parse_attr_name("fan10_min"), Some((Fan, 10, "min")));
    assert_eq!(
        parse_attr_name("humidity1_input"),
        Some((Humidity, 1, "input"))
    );
    for not_a_sensor in [
        "",
        "name",
        "pwm1",
        "pwm1_enable",
        "update_interval",
        "temp_input",
        "tempx_input",
        "temp1",
        "temp1_",
        "bogus1_input",
        "temp-1_input",
        "temp99999999999_input",
        "in_foo",
    ] {
        assert_eq!(parse_attr_name(not_a_sensor), None, "{not_a_sensor:?}");
    }
}

#[test]
fn converts_units_once() {
    let close = |kind, text, want: f64| {
        let got = parse_value(kind, text).unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{kind:?} {text:?}: {got} != {want}"
        );
    };
    close(Temp, "55000\n", 55.0);
    close(Temp, "-5500", -5.5);
    close(In, "792", 0.792);
    close(Curr, "5000", 5.0);
    close(Power, "45000000", 45.0);
    close(Energy, "18446744073709551615", 18_446_744_073_709.55);
    close(Humidity, "45500", 0.455);
    close(Freq, "214000000", 214e6);
    close(Fan, "1098", 1098.0);
    close(Intrusion, "1", 1.0);
    assert_eq!(
        parse_value(Temp, "").unwrap_err().to_string(),
        "hwmon value, line 1: not an integer: \"\""
    );
    assert!(parse_value(Temp, "55.0").is_err());
    assert!(parse_value(Energy, "-1").is_err());
    assert_eq!(
        parse_value(Fan, "-5").unwrap_err().to_string(),
        "hwmon value, line 1: impossible fan value -5 (a sensor fault)"
    );
    assert!(parse_value(Power, "-1").is_err());
    // below zero is a real temperature, voltage or current
    close(Temp, "-5000", -5.0);
    close(In, "-12000", -12.0);
    assert_eq!(parse_flag("0\n"), Ok(false));
    assert_eq!(parse_flag("1"), Ok(true));
    assert!(parse_flag("on").is_err());
}

#[test]
fn builds_chip_labels_from_name_and_device() {
    let l = |n, d| chip_label(n, d, "hwmon7");
    assert_eq!(l(Some("coretemp"), Some("coretemp.0")), "coretemp.0");
    assert_eq!(l(Some("nvme"), Some("nvme0")), "nvme0");
    assert_eq!(
        l(Some("amdgpu"), Some("0000:03:00.0")),
        "amdgpu-0000:03:00.0"
    );
    assert_eq!(l(Some("asus"), Some("asus-nb-wmi")), "asus-asus-nb-wmi");
    assert_eq!(l(Some("nvme"), Some("nvme")), "nvme-nvme");
    assert_eq!(l(Some("k10temp"), None), "k10temp");
    assert_eq!(l(None, Some("card0")), "card0");
    assert_eq!(l(None, None), "hwmon7");
}

#[test]
fn reads_the_node_exporter_tree() {
    let tree = shared_tree("sysfs/node_exporter").0;
    let w = walk(&Root::new(tree.path()));
    assert_eq!(
        labels(&w),
        [
            "coretemp.0",
            "coretemp.1",
            "applesmc.768",
            "nct6779",
            "hwmon4",
            "bogus",
            "asus-asus-nb-wmi",
            "asus_wmi_sensors-asus-nb-wmi",
            "mt7996_phy0_0-phy0",
            "mt7996_phy0_1-phy0",
            "mt7996_phy0_2-phy0",
        ]
    );
    assert!(w.faults.is_empty(), "{:?}", faults(&w));

    let core0 = sensor(&w, "coretemp.0", Temp, 2);
    assert_eq!(core0.label.as_deref(), Some("Core 0"));
    assert_eq!(
        (core0.value, core0.max, core0.crit),
        (54.0, Some(84.0), Some(100.0))
    );
    assert_eq!(core0.alarms, [("crit_alarm", false)]);
    assert_eq!(value(&w, "coretemp.1", Temp, 5), 50.0);

    // applesmc keeps name and attributes on the platform device, not in hwmon2
    let left = sensor(&w, "applesmc.768", Fan, 1);
    assert_eq!(
        (left.label.as_deref(), left.value),
        (Some("Left side"), 0.0)
    );
    assert_eq!(sensor(&w, "applesmc.768", Fan, 1).min, Some(2160.0));
    assert_eq!(value(&w, "applesmc.768", Fan, 2), 1998.0);

    let nct = "nct6779";
    let fan = sensor(&w, nct, Fan, 2);
    assert_eq!(
        (fan.value, fan.min, fan.label.as_deref()),
        (1098.0, Some(0.0), None)
    );
    let in0 = sensor(&w, nct, In, 0);
    assert_eq!(
        (in0.value, in0.min, in0.max),
        (0.792, Some(0.0), Some(1.744))
    );
    assert_eq!(sensor(&w, nct, In, 1).alarms, [("alarm", true)]);
    assert_eq!(value(&w, nct, Intrusion, 0), 1.0);
    assert_eq!(value(&w, nct, Intrusion, 1), 1.0);
    assert_eq!(sensor(&w, nct, Intrusion, 0).alarms, []);

    // hwmon4: a plain directory without name or device
    assert_eq!(value(&w, "hwmon4", Freq, 1), 214e6);
    assert_eq!(sensor(&w, "hwmon4", Freq, 2).label.as_deref(), Some("mclk"));
    assert_eq!(value(&w, "hwmon4", Temp, 2), 54.0);

    assert_eq!(value(&w, "mt7996_phy0_2-phy0", Temp, 1), 57.0);
    let bogus = w.chips.iter().find(|c| c.chip == "bogus").unwrap();
    assert!(bogus.sensors.is_empty(), "bogus1_* is no sensor type");
}

#[test]
fn reads_the_kepler_tree() {
    let tree = shared_tree("sysfs/kepler").0;
    let w = walk(&Root::new(tree.path()));
    assert_eq!(
        labels(&w),
        [
            "k10temp",
            "amdgpu",
            "platform_sensor",
            "card0",
            "test_power_chip",
            "energy_meter",
            "ina226-hwmon_ina226",
            "ina3221-hwmon_voltage_current",
            "ina3221-hwmon_voltage_current_average",
            "ina226-hwmon_voltage_current_no_labels",
        ]
    );
    assert!(w.faults.is_empty(), "{:?}", faults(&w));

    let package = sensor(&w, "k10temp", Power, 1);
    assert_eq!(
        (package.label.as_deref(), package.value),
        (Some("Package"), 45.0)
    );
    assert_eq!(
        value(&w, "amdgpu", Power, 1),
        120.0,
        "input wins over average"
    );
    assert_eq!(value(&w, "platform_sensor", Power, 1), 30.0);
    assert_eq!(value(&w, "card0", Power, 1), 25.0);

    let rails: Vec<_> = w.chips[4]
        .sensors
        .iter()
        .map(|s| s.label.as_deref())
        .collect();
    assert_eq!(
        rails,
        [Some("PSU_Rail_A"), Some("PSU_Rail_B")],
        "power3_enable = 0"
    );

    assert_eq!(value(&w, "energy_meter", Energy, 1), 500.0);
    assert_eq!(value(&w, "ina226-hwmon_ina226", Curr, 1), 5.0);
    assert_eq!(value(&w, "ina226-hwmon_ina226", In, 0), 1.5);
    assert_eq!(value(&w, "ina226-hwmon_ina226", In, 1), 12.0);
    assert_eq!(
        value(&w, "ina3221-hwmon_voltage_current_average", In, 1),
        12.0
    );
    assert_eq!(
        value(&w, "ina3221-hwmon_voltage_current_average", Curr, 1),
        5.0
    );
    let no_label = sensor(&w, "ina226-hwmon_voltage_current_no_labels", In, 0);
    assert_eq!((no_label.value, no_label.label.as_deref()), (5.0, None));
}

fn case_root() -> Root {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/hwmon-faults/root");
    assert!(path.exists(), "missing {}", path.display());
    Root::new(path)
}

#[test]
fn golden_case_faults_one_sensor_and_skips_drivetemp() {
    let w = walk(&case_root());
    assert_eq!(
        labels(&w),
        [
            "coretemp.0",
            "nct6798-nct6775.656",
            "corsairpsu-0003:1B1C:1C05.0001"
        ],
        "drivetemp is excluded by default"
    );
    assert_eq!(faults(&w), [("nct6798-nct6775.656/temp2", "io")]);
    let CollectError::Read(e) = &w.faults[0].error else {
        panic!("{:?}", w.faults[0].error)
    };
    assert_eq!(e.rel_path, "sys/class/hwmon/hwmon1/temp2_input");
    assert_eq!(e.kind(), io::ErrorKind::IsADirectory);

    let nct = "nct6798-nct6775.656";
    let ids: Vec<_> = w.chips[1].sensors.iter().map(Sensor::id).collect();
    assert_eq!(
        ids,
        ["temp1", "fan1", "in0", "intrusion0"],
        "temp3 is disabled"
    );
    assert_eq!(value(&w, nct, Temp, 1), 38.0);
    assert_eq!(value(&w, nct, Fan, 1), 812.0);
    assert_eq!(value(&w, nct, In, 0), 1.032);
    assert_eq!(value(&w, "coretemp.0", Temp, 1), 45.0);

    // what a wall-power estimate would look for
    let snapshot = Snapshot { chips: w.chips };
    let psu: Vec<_> = snapshot
        .sensors(Power)
        .filter(|(c, s)| {
            c.name.as_deref() == Some("corsairpsu") && s.label.as_deref() == Some("power total")
        })
        .map(|(_, s)| s.value)
        .collect();
    assert_eq!(psu, [152.0]);
}

#[test]
fn drivetemp_is_read_only_when_not_excluded() {
    let root = case_root();
    let w = read_chips(&root, &[], &mut HashMap::new(), Instant::now()).unwrap();
    assert_eq!(value(&w, "drivetemp-0:0:0:0", Temp, 1), 34.0);
    let w = read_chips(
        &root,
        &["coretemp.0".into(), "corsairpsu".into()],
        &mut HashMap::new(),
        Instant::now(),
    )
    .unwrap();
    assert_eq!(labels(&w), ["nct6798-nct6775.656", "drivetemp-0:0:0:0"]);
}

#[test]
fn renders_every_series_once() {
    let tree = shared_tree("sysfs/node_exporter").0;
    let mut chips = walk(&Root::new(tree.path())).chips;
    let kepler = shared_tree("sysfs/kepler").0;
    chips.extend(walk(&Root::new(kepler.path())).chips);
    let mut out = Families::new(Snapshot::FAMILIES);
    Snapshot { chips }.render(&mut out);
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for mf in out.into_vec() {
        for m in mf.get_metric() {
            let labels: Vec<_> = m
                .get_label()
                .iter()
                .map(|l| format!("{}={:?}", l.name(), l.value()))
                .collect();
            let series = format!("{}{{{}}}", mf.name(), labels.join(","));
            assert!(seen.insert(series.clone()), "duplicate series {series}");
            let v = if mf.get_field_type() == prometheus::proto::MetricType::COUNTER {
                m.get_counter().value()
            } else {
                m.get_gauge().value()
            };
            lines.push(format!("{series} {v}"));
        }
    }
    for want in [
        r#"hostwatt_hwmon_temperature_celsius{chip="coretemp.0",sensor="temp1",label="Physical id 0"} 55"#,
        r#"hostwatt_hwmon_temperature_crit_celsius{chip="coretemp.1",sensor="temp1",label="Physical id 0"} 100"#,
        r#"hostwatt_hwmon_fan_rpm{chip="nct6779",sensor="fan2",label=""} 1098"#,
        r#"hostwatt_hwmon_sensor_alarm{chip="nct6779",sensor="in1",label="",alarm="alarm"} 1"#,
        r#"hostwatt_hwmon_intrusion_alarm{chip="nct6779",sensor="intrusion0",label=""} 1"#,
        r#"hostwatt_hwmon_power_watts{chip="amdgpu",sensor="power1",label="GPU"} 120"#,
        r#"hostwatt_hwmon_energy_joules_total{chip="energy_meter",sensor="energy1",label="Total"} 500"#,
        r#"hostwatt_hwmon_frequency_hertz{chip="hwmon4",sensor="freq1",label="sclk"} 214000000"#,
        r#"hostwatt_hwmon_chip_info{chip="applesmc.768",name="applesmc",device="applesmc.768"} 1"#,
        r#"hostwatt_hwmon_chip_info{chip="card0",name="",device="card0"} 1"#,
    ] {
        assert!(lines.iter().any(|l| l == want), "missing {want}");
    }
}

#[test]
fn missing_hwmon_class_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_chips(
        &Root::new(dir.path()),
        &[],
        &mut HashMap::new(),
        Instant::now(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "unavailable");
}

#[test]
fn a_chip_gone_mid_walk_is_one_read_fault() {
    // listed in class/hwmon, but its device directory is already gone (driver unbound)
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join(BASE);
    std::fs::create_dir_all(&class).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/platform/gone/hwmon/hwmon0",
        class.join("hwmon0"),
    )
    .unwrap();
    std::fs::create_dir(class.join("hwmon1")).unwrap();
    std::fs::write(class.join("hwmon1/temp1_input"), "21000\n").unwrap();
    let w = walk(&Root::new(dir.path()));
    assert_eq!(faults(&w), [("hwmon0", "io")]);
    assert_eq!(value(&w, "hwmon1", Temp, 1), 21.0);
}

/// A tree of one `ina226` that refreshes once a minute, its power in `value_file` at 2 W; the
/// chip directory, to change files in.
fn ina226_tree(value_file: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let chip = dir.path().join(BASE).join("hwmon0");
    std::fs::create_dir_all(&chip).unwrap();
    for (f, v) in [
        ("name", "ina226\n"),
        ("update_interval", "60000\n"),
        (value_file, "2000000\n"),
    ] {
        std::fs::write(chip.join(f), v).unwrap();
    }
    (dir, chip)
}

#[test]
fn does_not_reread_a_chip_before_its_update_interval() {
    // no power1_input: the average is the value
    let (dir, chip) = ina226_tree("power1_average");
    let write = |f: &str, v: &str| std::fs::write(chip.join(f), v).unwrap();
    let root = Root::new(dir.path());
    let mut cache = HashMap::new();
    let t0 = Instant::now();
    let at = |secs| t0 + Duration::from_secs(secs);
    let power = |w: Walk| value(&w, "ina226", Power, 1);
    assert_eq!(
        power(read_chips(&root, &[], &mut cache, at(0)).unwrap()),
        2.0
    );
    write("power1_average", "3000000\n");
    assert_eq!(
        power(read_chips(&root, &[], &mut cache, at(15)).unwrap()),
        2.0,
        "reused"
    );
    assert_eq!(
        power(read_chips(&root, &[], &mut cache, at(60)).unwrap()),
        3.0,
        "due again"
    );
    std::fs::remove_file(chip.join("update_interval")).unwrap();
    write("power1_average", "4000000\n");
    assert_eq!(
        power(read_chips(&root, &[], &mut cache, at(61)).unwrap()),
        4.0,
        "no interval: every round"
    );
}

#[tokio::test]
async fn samples_the_golden_case_through_the_collector() {
    let cx = Context {
        root: case_root(),
        runner: crate::host::command::Runner::replay(Vec::new()),
    };
    let mut c = Hwmon::new(Config::default());
    let t0 = Instant::now();
    let sample = c.sample(&cx, t0).await.unwrap();
    assert_eq!(sample.faults.len(), 1);
    // the nct chip updates every second, but a chip read with a fault is not reused:
    // its fault is reported again rather than hidden behind a cached reading
    let again = c
        .sample(&cx, t0 + Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(again.faults.len(), 1);
    assert_eq!(again.snapshot, sample.snapshot);
    let (chip, s) = sample.snapshot.sensors(Curr).next().unwrap();
    assert_eq!(
        (chip.chip.as_str(), s.value),
        ("corsairpsu-0003:1B1C:1C05.0001", 0.72)
    );
    assert_eq!(c.cfg.interval.0, Duration::from_secs(15));
}

/// The golden case's tree copied where a test may change it, and its collector context.
fn changing_case() -> (tempfile::TempDir, Context) {
    let tree = tempfile::tempdir().unwrap();
    crate::testutil::overlay(&case_root().path(""), tree.path());
    let cx = Context {
        root: Root::new(tree.path()),
        runner: crate::host::command::Runner::replay(Vec::new()),
    };
    (tree, cx)
}

const CORETEMP: &str = "sys/devices/platform/coretemp.0/hwmon/hwmon0";
const PSU: &str = "corsairpsu-0003:1B1C:1C05.0001";

fn temp1(s: &Snapshot) -> (f64, Option<&str>, Vec<(&'static str, bool)>) {
    let (_, t) = s
        .sensors(Temp)
        .find(|(c, s)| c.chip == "coretemp.0" && s.index == 1)
        .unwrap();
    (t.value, t.label.as_deref(), t.alarms.clone())
}

#[tokio::test]
async fn kept_rounds_read_new_values_and_the_next_walk_new_labels() {
    let (tree, cx) = changing_case();
    let write = |f: &str, v: &str| std::fs::write(tree.path().join(CORETEMP).join(f), v).unwrap();
    let mut c = Hwmon::new(Config::default());
    let t0 = Instant::now();
    let first = c.sample(&cx, t0).await.unwrap().snapshot;
    assert_eq!(
        temp1(&first),
        (45.0, Some("Package id 0"), vec![("crit_alarm", false)])
    );
    // rewritten in place, as sysfs regenerates a value: read through the kept descriptors
    write("temp1_input", "47500\n");
    write("temp1_crit_alarm", "1\n");
    write("temp1_label", "Package id 1\n");
    write("temp1_max", "90000\n");
    let second = c.sample(&cx, t0).await.unwrap().snapshot;
    assert_eq!(
        temp1(&second),
        (47.5, Some("Package id 0"), vec![("crit_alarm", true)]),
        "a label is static until the next walk"
    );
    assert_eq!(second.chip("coretemp.0").unwrap().sensors[0].max, Some(80.0));
    // the first sample walked; rounds 1 .. WALK_EVERY - 1 are kept, round WALK_EVERY walks
    for _ in 2..WALK_EVERY {
        let s = c.sample(&cx, t0).await.unwrap().snapshot;
        assert_eq!(temp1(&s).1, Some("Package id 0"));
    }
    let walked = c.sample(&cx, t0).await.unwrap().snapshot;
    assert_eq!(temp1(&walked).1, Some("Package id 1"));
    assert_eq!(walked.chip("coretemp.0").unwrap().sensors[0].max, Some(90.0));
}

#[tokio::test]
async fn a_chip_removed_or_added_is_seen_by_the_next_round() {
    let (tree, cx) = changing_case();
    let mut c = Hwmon::new(Config::default());
    let t0 = Instant::now();
    let labels = |s: &Snapshot| -> Vec<String> { s.chips.iter().map(|c| c.chip.clone()).collect() };
    let first = c.sample(&cx, t0).await.unwrap();
    assert_eq!(labels(&first.snapshot), ["coretemp.0", "nct6798-nct6775.656", PSU]);
    // the PSU's driver unbound: its class entry and its directory go
    let class = tree.path().join(BASE);
    let psu_dir = std::fs::canonicalize(class.join("hwmon3")).unwrap();
    std::fs::remove_file(class.join("hwmon3")).unwrap();
    std::fs::remove_dir_all(psu_dir).unwrap();
    let gone = c.sample(&cx, t0).await.unwrap();
    assert_eq!(labels(&gone.snapshot), ["coretemp.0", "nct6798-nct6775.656"]);
    assert_eq!(gone.faults.len(), 1, "still only nct's temp2: {:?}", gone.faults);
    // a chip loaded later: a plain directory, as some drivers register it
    std::fs::create_dir(class.join("hwmon4")).unwrap();
    std::fs::write(class.join("hwmon4/name"), "jc42\n").unwrap();
    std::fs::write(class.join("hwmon4/temp1_input"), "31250\n").unwrap();
    let added = c.sample(&cx, t0).await.unwrap();
    assert_eq!(
        labels(&added.snapshot),
        ["coretemp.0", "nct6798-nct6775.656", "jc42"]
    );
    let (_, jc42) = added.snapshot.sensors(Temp).find(|(c, _)| c.chip == "jc42").unwrap();
    assert_eq!(jc42.value, 31.25);
    // and its value is read through a kept descriptor from then on
    std::fs::write(class.join("hwmon4/temp1_input"), "32000\n").unwrap();
    let kept = c.sample(&cx, t0).await.unwrap().snapshot;
    assert_eq!(kept.sensors(Temp).find(|(c, _)| c.chip == "jc42").unwrap().1.value, 32.0);
}

#[tokio::test]
async fn a_sensor_that_fails_a_kept_read_is_its_own_fault_for_that_round() {
    let (tree, cx) = changing_case();
    let psu = tree
        .path()
        .join(BASE)
        .join("hwmon3");
    let mut c = Hwmon::new(Config::default());
    let t0 = Instant::now();
    let count = |s: &Sample<Snapshot>| s.snapshot.chips.iter().map(|c| c.sensors.len()).sum::<usize>();
    let first = c.sample(&cx, t0).await.unwrap();
    let sensors = count(&first);
    // a driver answering garbage for one input (a torn bus read)
    std::fs::write(psu.join("power1_input"), "busy\n").unwrap();
    std::fs::write(psu.join("power2_input"), "96000000\n").unwrap();
    let bad = c.sample(&cx, t0).await.unwrap();
    let faults: Vec<_> = bad.faults.iter().map(|f| (f.item.as_str(), f.error.kind().as_str())).collect();
    assert_eq!(
        faults,
        [("nct6798-nct6775.656/temp2", "io"), (&*format!("{PSU}/power1"), "parse")]
    );
    assert_eq!(count(&bad), sensors - 1, "only power1 is missing");
    let power = |s: &Sample<Snapshot>, i: u32| {
        s.snapshot.sensors(Power).find(|(_, p)| p.index == i).map(|(_, p)| p.value)
    };
    assert_eq!((power(&bad, 1), power(&bad, 2)), (None, Some(96.0)));
    std::fs::write(psu.join("power1_input"), "150000000\n").unwrap();
    let back = c.sample(&cx, t0).await.unwrap();
    assert_eq!(back.faults.len(), 1);
    assert_eq!((power(&back, 1), count(&back)), (Some(150.0), sensors));
}

#[tokio::test]
async fn kept_rounds_keep_to_a_chips_update_interval() {
    let (dir, chip) = ina226_tree("power1_input");
    let write = |f: &str, v: &str| std::fs::write(chip.join(f), v).unwrap();
    let cx = Context {
        root: Root::new(dir.path()),
        runner: crate::host::command::Runner::replay(Vec::new()),
    };
    let mut c = Hwmon::new(Config::default());
    let t0 = Instant::now();
    let mut power = async |secs| {
        let s = c.sample(&cx, t0 + Duration::from_secs(secs)).await.unwrap();
        s.snapshot.sensors(Power).next().unwrap().1.value
    };
    assert_eq!(power(0).await, 2.0);
    write("power1_input", "3000000\n");
    assert_eq!(power(15).await, 2.0, "reused: the chip refreshes once a minute");
    assert_eq!(power(60).await, 3.0, "due again, read through the kept file");
}
