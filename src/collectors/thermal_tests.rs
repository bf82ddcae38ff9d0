use super::*;
use crate::testutil::render_series as render;

#[test]
fn parses_values_and_names() {
    assert_eq!(parse_millicelsius("12376\n"), Ok(12.376));
    assert_eq!(parse_millicelsius("-5000"), Ok(-5.0));
    assert_eq!(
        parse_millicelsius("").unwrap_err().to_string(),
        "thermal temperature, line 1: not an integer: \"\""
    );
    assert_eq!(parse_mode("disabled\n"), Ok(false));
    assert_eq!(
        parse_mode("on").unwrap_err().to_string(),
        "thermal zone mode, line 1: expected enabled or disabled, got \"on\""
    );
    assert_eq!(
        parse_trip_attr("trip_point_0_temp"),
        Some((0, TripAttr::Temp))
    );
    assert_eq!(
        parse_trip_attr("trip_point_11_type"),
        Some((11, TripAttr::Type))
    );
    assert_eq!(
        parse_trip_attr("trip_point_2_hyst"),
        Some((2, TripAttr::Hyst))
    );
    for other in [
        "trip_point__temp",
        "trip_point_x_temp",
        "trip_point_1",
        "temp",
    ] {
        assert_eq!(parse_trip_attr(other), None, "{other}");
    }
}

#[test]
fn reads_the_captured_thermal_tree() {
    // through the class symlinks, restored from the shared copy's flattened link files
    let (_dir, root) = crate::testutil::shared_tree("sysfs/node_exporter");
    let sample = read_thermal(&root).unwrap();
    assert!(sample.faults.is_empty(), "{:?}", sample.faults);
    assert_eq!(
        sample.snapshot,
        Snapshot {
            zones: vec![Zone {
                id: "thermal_zone0".into(),
                kind: "cpu-thermal".into(),
                celsius: Some(12.376),
                enabled: None,
                policy: Some("step_wise".into()),
                trips: Vec::new(),
            }],
            cooling: vec![CoolingDevice {
                id: "cooling_device0".into(),
                kind: "Processor".into(),
                cur_state: Some(0),
                max_state: Some(3),
            }],
        }
    );
    assert_eq!(
        render(&sample.snapshot),
        [
            "hostwatt_thermal_cooling_device_max_state{device=\"cooling_device0\",type=\"Processor\"} 3",
            "hostwatt_thermal_cooling_device_state{device=\"cooling_device0\",type=\"Processor\"} 0",
            "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"cpu-thermal\",policy=\"step_wise\"} 1",
            "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone0\",type=\"cpu-thermal\"} 12.376",
        ]
    );
}

#[test]
fn follows_class_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sys/devices/virtual/thermal/thermal_zone3");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("type"), "x86_pkg_temp\n").unwrap();
    std::fs::write(target.join("temp"), "51000\n").unwrap();
    std::fs::create_dir_all(dir.path().join(BASE)).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/virtual/thermal/thermal_zone3",
        dir.path().join(BASE).join("thermal_zone3"),
    )
    .unwrap();
    let sample = read_thermal(&Root::new(dir.path())).unwrap();
    assert!(sample.faults.is_empty(), "{:?}", sample.faults);
    let z = &sample.snapshot.zones[0];
    assert_eq!(
        (z.id.as_str(), z.kind.as_str(), z.celsius),
        ("thermal_zone3", "x86_pkg_temp", Some(51.0))
    );
}

#[test]
fn a_failing_zone_is_a_fault_alone() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join(BASE);
    let z0 = base.join("thermal_zone0");
    let z1 = base.join("thermal_zone1");
    std::fs::create_dir_all(&z0).unwrap();
    std::fs::write(z0.join("type"), "acpitz\n").unwrap();
    // a directory where a file should be: reading it fails with EISDIR, as close to an ACPI
    // zone's EIO as a plain tree (read by root) gets
    std::fs::create_dir_all(z0.join("temp")).unwrap();
    std::fs::write(z0.join("trip_point_0_temp"), "105000\n").unwrap();
    std::fs::write(z0.join("trip_point_0_type"), "critical\n").unwrap();
    std::fs::create_dir_all(&z1).unwrap();
    std::fs::write(z1.join("type"), "x86_pkg_temp\n").unwrap();
    std::fs::write(z1.join("temp"), "48000\n").unwrap();
    std::fs::write(z1.join("mode"), "enabled\n").unwrap();
    let sample = read_thermal(&Root::new(dir.path())).unwrap();
    let faults: Vec<_> = sample
        .faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect();
    assert_eq!(faults, [("thermal_zone0", "io")]);
    assert!(
        sample.faults[0]
            .error
            .to_string()
            .starts_with("sys/class/thermal/thermal_zone0/temp: "),
        "{}",
        sample.faults[0].error
    );
    assert_eq!(
        render(&sample.snapshot),
        [
            "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 105",
            "hostwatt_thermal_zone_enabled{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 1",
            "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"acpitz\",policy=\"\"} 1",
            "hostwatt_thermal_zone_info{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",policy=\"\"} 1",
            "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 48",
        ]
    );
}

#[test]
fn no_or_empty_thermal_class_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    assert_eq!(read_thermal(&root).unwrap_err().kind(), "unavailable");
    std::fs::create_dir_all(dir.path().join(BASE)).unwrap();
    assert_eq!(read_thermal(&root).unwrap_err().kind(), "unavailable");
    // an entry that is not a directory is present but broken: one fault, not "unavailable"
    std::fs::write(dir.path().join(BASE).join("thermal_zone5"), "x\n").unwrap();
    let sample = read_thermal(&root).unwrap();
    let faults: Vec<_> = sample
        .faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect();
    assert_eq!(faults, [("thermal_zone5", "io")]);
    assert_eq!(sample.snapshot, Snapshot::default());
}

/// A zone with one trip point and a cooling device, written as sysfs lays them out.
fn write_zone(base: &std::path::Path, n: u32, milli: i64, state: u64) {
    let z = base.join(format!("thermal_zone{n}"));
    std::fs::create_dir_all(&z).unwrap();
    std::fs::write(z.join("type"), "acpitz\n").unwrap();
    std::fs::write(z.join("temp"), format!("{milli}\n")).unwrap();
    std::fs::write(z.join("trip_point_0_temp"), "95000\n").unwrap();
    std::fs::write(z.join("trip_point_0_type"), "critical\n").unwrap();
    let d = base.join(format!("cooling_device{n}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("type"), "Fan\n").unwrap();
    std::fs::write(d.join("cur_state"), format!("{state}\n")).unwrap();
    std::fs::write(d.join("max_state"), "3\n").unwrap();
}

/// (zone, °C) and (cooling device, state) of a snapshot.
type Readings<'a> = (Vec<(&'a str, Option<f64>)>, Vec<(&'a str, Option<u64>)>);

fn temps_and_states(s: &Snapshot) -> Readings<'_> {
    (
        s.zones.iter().map(|z| (z.id.as_str(), z.celsius)).collect(),
        s.cooling.iter().map(|d| (d.id.as_str(), d.cur_state)).collect(),
    )
}

#[test]
fn kept_files_see_new_values_and_a_new_listing_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join(BASE);
    write_zone(&base, 0, 40_000, 0);
    let root = Root::new(dir.path());
    let mut t = Thermal::new(Config::default());
    let first = t.round(&root).unwrap().snapshot;
    assert_eq!(
        temps_and_states(&first),
        (vec![("thermal_zone0", Some(40.0))], vec![("cooling_device0", Some(0))])
    );
    assert!(t.kept.is_some(), "a fault-free walk keeps its files");
    // rewritten in place, as sysfs regenerates a value: the kept descriptors see it
    std::fs::write(base.join("thermal_zone0/temp"), "41500\n").unwrap();
    std::fs::write(base.join("cooling_device0/cur_state"), "2\n").unwrap();
    let second = t.round(&root).unwrap();
    assert!(second.faults.is_empty());
    assert_eq!(
        temps_and_states(&second.snapshot),
        (vec![("thermal_zone0", Some(41.5))], vec![("cooling_device0", Some(2))])
    );
    assert_eq!(second.snapshot.zones[0].trips, first.zones[0].trips);
    // a zone and a device appear: the listing differs, so the class is walked again
    write_zone(&base, 1, -5_000, 1);
    let third = t.round(&root).unwrap().snapshot;
    assert_eq!(
        temps_and_states(&third),
        (
            vec![("thermal_zone0", Some(41.5)), ("thermal_zone1", Some(-5.0))],
            vec![("cooling_device0", Some(2)), ("cooling_device1", Some(1))]
        )
    );
    assert_eq!(third.zones[1].trips[0].celsius, Some(95.0));
    // and go again
    std::fs::remove_dir_all(base.join("thermal_zone0")).unwrap();
    std::fs::remove_dir_all(base.join("cooling_device1")).unwrap();
    let fourth = t.round(&root).unwrap().snapshot;
    assert_eq!(
        temps_and_states(&fourth),
        (vec![("thermal_zone1", Some(-5.0))], vec![("cooling_device0", Some(2))])
    );
}

#[test]
fn a_written_trip_point_shows_by_the_periodic_walk() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join(BASE);
    write_zone(&base, 0, 40_000, 0);
    let root = Root::new(dir.path());
    let mut t = Thermal::new(Config::default());
    t.round(&root).unwrap();
    std::fs::write(base.join("thermal_zone0/trip_point_0_temp"), "90000\n").unwrap();
    let trips: Vec<Option<f64>> = (0..crate::collectors::rewalk::WALK_EVERY)
        .map(|_| t.round(&root).unwrap().snapshot.zones[0].trips[0].celsius)
        .collect();
    // kept rounds serve the walk's trip point until WALK_EVERY rounds passed
    assert_eq!(trips.first(), Some(&Some(95.0)));
    assert_eq!(trips.last(), Some(&Some(90.0)));
}

#[test]
fn a_walk_with_faults_keeps_nothing_and_the_next_round_walks_again() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join(BASE);
    write_zone(&base, 0, 40_000, 0);
    std::fs::write(base.join("thermal_zone0/temp"), "hot\n").unwrap();
    let root = Root::new(dir.path());
    let mut t = Thermal::new(Config::default());
    let first = t.round(&root).unwrap();
    assert_eq!(first.faults.len(), 1);
    assert!(t.kept.is_none());
    std::fs::write(base.join("thermal_zone0/temp"), "39000\n").unwrap();
    let second = t.round(&root).unwrap();
    assert!(second.faults.is_empty());
    assert_eq!(second.snapshot.zones[0].celsius, Some(39.0));
}

#[test]
fn reads_the_edac_ecc_case_tree() {
    let root = Root::new(crate::testutil::case_dir("edac-ecc").join("root"));
    let sample = read_thermal(&root).unwrap();
    assert!(sample.faults.is_empty(), "{:?}", sample.faults);
    assert_eq!(
        render(&sample.snapshot),
        [
            "hostwatt_thermal_cooling_device_max_state{device=\"cooling_device0\",type=\"Processor\"} 3",
            "hostwatt_thermal_cooling_device_state{device=\"cooling_device0\",type=\"Processor\"} 0",
            "hostwatt_thermal_trip_point_hysteresis_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 0",
            "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\",trip=\"0\",trip_type=\"critical\"} 105",
            "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",trip=\"0\",trip_type=\"passive\"} 0",
            "hostwatt_thermal_trip_point_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",trip=\"1\",trip_type=\"passive\"} 0",
            "hostwatt_thermal_zone_enabled{zone=\"thermal_zone0\",type=\"acpitz\"} 1",
            "hostwatt_thermal_zone_enabled{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 1",
            "hostwatt_thermal_zone_info{zone=\"thermal_zone0\",type=\"acpitz\",policy=\"step_wise\"} 1",
            "hostwatt_thermal_zone_info{zone=\"thermal_zone1\",type=\"x86_pkg_temp\",policy=\"step_wise\"} 1",
            "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone0\",type=\"acpitz\"} 27.8",
            "hostwatt_thermal_zone_temperature_celsius{zone=\"thermal_zone1\",type=\"x86_pkg_temp\"} 47",
        ]
    );
}
