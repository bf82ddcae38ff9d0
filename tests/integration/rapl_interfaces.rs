//! Real-world case `rapl-msr-mmio-no-psys` through the real binary: the package read through MSR
//! and MMIO is one CPU in the wall estimate.

use crate::support;

#[test]
fn once_counts_a_package_read_through_msr_and_mmio_once() {
    let case = support::shared_dir().join("real-world/rapl-msr-mmio-no-psys");
    let dir = tempfile::tempdir().expect("tempdir");
    support::copy_tree(&case, dir.path());
    let sh = |script: &str| {
        std::process::Command::new("sh")
            .arg(case.join(script))
            .arg(dir.path())
            .spawn()
            .expect("run the case's script")
    };
    assert!(sh("setup.sh").wait().expect("setup.sh").success());
    // during.sh moves the counters half-way between `once`'s two rounds, 1 s apart
    let mut during = sh("during.sh");
    let stdout = support::once(&dir.path().join("root"), &case.join("config.toml"), &[]);
    assert!(during.wait().expect("during.sh").success());
    let v = |series: &str| {
        support::value(&stdout, series).unwrap_or_else(|| panic!("no {series} in\n{stdout}"))
    };
    let msr = v(r#"hostwatt_rapl_power_watts{zone="package-0",id="intel-rapl:0"}"#);
    let cpu = v(r#"hostwatt_wall_component_watts{component="cpu",kind="cpu",basis="measured"}"#);
    // the round interval is about, not exactly, 1 s: the CPU is the MSR package's watts, not
    // MSR + MMIO (3.93 + 3.78 = 7.7 W before the fix)
    assert!((cpu - msr).abs() < 1e-9, "cpu {cpu} W, MSR package {msr} W");
    assert!((3.5..4.4).contains(&cpu), "cpu {cpu} W");
    assert_eq!(
        v(
            r#"hostwatt_rapl_zone_counted{zone="package-0",id="intel-rapl-mmio:0",interface="mmio"}"#
        ),
        0.0
    );
    assert_eq!(
        v(r#"hostwatt_rapl_zone_counted{zone="package-0",id="intel-rapl:0",interface="msr"}"#),
        1.0
    );
}
