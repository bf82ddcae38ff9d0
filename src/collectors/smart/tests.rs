//! Collector tests: every shared smartctl capture, the smart-mixed golden case driven round by
//! round, the real smartctl, and substitute smartctl scripts that hang, print garbage or exit
//! with every status bit.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::json::EXIT_BITS;
use super::*;
use crate::host::command::Runner;
use crate::host::root::Root;
use crate::metrics::{SnapshotCollector, exposition};
use crate::testutil::shared_fixture;

/// The exposition of a snapshot as `name{labels}` → value.
fn series(s: &Snapshot) -> BTreeMap<String, f64> {
    let (tx, rx) = watch::channel(None);
    let reg = prometheus::Registry::new();
    reg.register(Box::new(SnapshotCollector::<Snapshot>::new(rx)))
        .unwrap();
    tx.send_replace(Some(Arc::new(s.clone())));
    exposition(&reg)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (sorted_labels(k), v.parse().unwrap())
        })
        .collect()
}

/// `name{b="1",a="2"}` → `name{a="2",b="1"}`, so tests can spell labels alphabetically.
fn sorted_labels(key: &str) -> String {
    let Some((name, rest)) = key.split_once('{') else {
        return key.to_owned();
    };
    let inner = rest.strip_suffix("\"}").unwrap();
    let mut pairs: Vec<&str> = inner.split("\",").collect();
    pairs.sort();
    format!("{name}{{{}\"}}", pairs.join("\","))
}

/// (item, kind) of every fault of a round.
fn fault_kinds(s: &Sample<Snapshot>) -> Vec<(&str, &'static str)> {
    s.faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect()
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no series {key}; have:\n{}", keys(m)))
}

fn keys(m: &BTreeMap<String, f64>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join("\n")
}

/// A one-disk snapshot of a parsed report, as the collector would publish it.
fn snapshot_of(report: Report, device: &str) -> Snapshot {
    let mut s = Smart::new(Config::default());
    let scan = ScanDevice {
        name: device.into(),
        dev_type: "sat".into(),
        protocol: "ATA".into(),
        open_error: None,
    };
    let mut d = Device::new(scan, &[]);
    let at = Instant::now();
    let (code, stdout) = match &report {
        Report::Standby { .. } => (STANDBY_EXIT, String::new()),
        Report::NoData { exit, .. } => (i32::from(*exit), String::new()),
        Report::Data { .. } => (0, String::new()),
    };
    match report {
        Report::Data { exit, data } => {
            d.exit = Some(exit);
            d.data = Some(data);
            d.data_at = Some(at);
        }
        _ => {
            let out = Output {
                code: Some(code),
                stdout: stdout.into_bytes(),
                stderr: Vec::new(),
            };
            let _ = s.absorb(&mut d, Ok(out), at);
        }
    }
    s.devices.insert((device.into(), "sat".into()), d);
    s.snapshot(at)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_shared_capture_parses_and_yields_series() {
    let base = shared_fixture("smartctl");
    let mut files = Vec::new();
    walk(&base, &mut files);
    files.sort();
    assert!(files.len() >= 45, "only {} captures found", files.len());
    let (mut data, mut no_data, mut scans) = (0, 0, 0);
    for path in &files {
        let rel = path.strip_prefix(&base).unwrap().display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if value.get("devices").is_some() || rel.contains("scan") {
            let scan = json::parse_scan(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(scan.skipped, [], "{rel}");
            let devs = scan.devices;
            assert!(!devs.is_empty(), "{rel}: scan with no devices");
            scans += 1;
            continue;
        }
        // scrutiny/smart-scsi.json has no smartctl block: it was a successful run
        let exit = value["smartctl"]["exit_status"].as_i64().unwrap_or(0) as i32;
        let report = json::parse_report(&text, exit).unwrap_or_else(|e| panic!("{rel}: {e}"));
        match &report {
            Report::Data { data: d, .. } => {
                data += 1;
                assert!(d.model.is_some(), "{rel}: no model");
                assert!(
                    !d.protocol.is_empty() && !d.dev_type.is_empty(),
                    "{rel}: no device"
                );
            }
            Report::NoData { message, .. } => {
                no_data += 1;
                assert!(message.contains("open"), "{rel}: {message}");
            }
            Report::Standby { .. } => panic!("{rel}: no capture is of a sleeping disk"),
        }
        let m = series(&snapshot_of(report, "/dev/sdx"));
        let health = m.keys().filter(|k| {
            !k.starts_with("hostwatt_smart_device_info")
                && !k.starts_with("hostwatt_smart_power_mode")
                && !k.starts_with("hostwatt_smart_spin_ups")
                && !k.starts_with("hostwatt_smart_standby_seconds")
        });
        assert!(
            health.count() > 0,
            "{rel}: only identity series:\n{}",
            keys(&m)
        );
    }
    assert_eq!((data, no_data, scans), (42, 2, 5), "capture kinds changed");
}

#[test]
fn reads_the_shared_standby_query_of_an_awake_disk() {
    // `-n standby,3` on a disk that is awake: a normal data run (exit 0)
    let text = crate::testutil::shared_text("smartctl/lab-qemu/smart_sda_n.json");
    let Report::Data { exit, data } = json::parse_report(&text, 0).unwrap() else {
        panic!("data expected")
    };
    assert_eq!(exit, 0);
    assert_eq!(data.family.as_deref(), Some("Seagate BarraCuda 3.5 (SMR)"));
    assert_eq!(data.passed, Some(true));
}

fn case_config(case: &Path) -> Config {
    let text = std::fs::read_to_string(case.join("config.toml")).unwrap();
    let file: crate::config::file::File = toml::from_str(&text).unwrap();
    file.collectors.smart
}

#[tokio::test]
async fn golden_case_queries_only_active_disks() {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases/smart-mixed");
    let shared = shared_fixture("");
    // hostwatt_command_runs_total, as the app counts every run
    let runs = crate::metrics::selfmon::SelfMetrics::register(&prometheus::Registry::new())
        .unwrap()
        .command_runs;
    let runner = Runner::load_replay(&case.join("commands.toml"), Some(&shared))
        .unwrap()
        .with_counter(runs.clone());
    let root = tempfile::tempdir().unwrap();
    crate::testutil::overlay(&case.join("root"), root.path());
    let cx = Context {
        root: Root::new(root.path()),
        runner,
    };
    let cfg = case_config(&case);
    assert!(cfg.enabled);
    let mut smart = Smart::new(cfg);
    let t0 = Instant::now();

    let s0 = smart.sample(&cx, t0).await.unwrap();
    let faults = fault_kinds(&s0);
    assert_eq!(faults, [("sdf", "io")], "{:?}", s0.faults);
    let m = series(&s0.snapshot);
    let wd = "wwn-0x50014ee0499602d2";
    let fail = "wwn-0x5000cca37fca81a8";
    let smr = "ST4000DM004-2CV104_ZFN0ABCD";
    let scsi = "SEAGATE_ST373453LC_REDACTED";
    let nvme = "Sabrent_Rocket_4.0_1TB_6D1107091C9583054511";
    let nvme_bad = "SAMSUNG_MZWLL3T2HAJQ-00005_REDACTED";
    let k = |name: &str, disk: &str| format!("hostwatt_smart_{name}{{disk=\"{disk}\"}}");
    // ATA healthy
    assert_eq!(get(&m, &k("health_passed", wd)), 1.0);
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_drive_class{{class=\"nas\",disk=\"{wd}\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_smr{{disk=\"{wd}\",source=\"\"}}")
        ),
        0.0
    );
    // ATA failing
    assert_eq!(get(&m, &k("health_passed", fail)), 0.0);
    assert_eq!(get(&m, &k("reallocated_sectors", fail)), 1975.0);
    assert_eq!(get(&m, &k("pending_sectors", fail)), 8.0);
    assert_eq!(
        get(
            &m,
            &format!(
                "hostwatt_smart_attribute_threshold{{disk=\"{fail}\",id=\"5\",name=\"Reallocated_Sector_Ct\"}}"
            )
        ),
        5.0
    );
    for (bit, set) in [
        ("command_line", 0.0),
        ("open_failed", 0.0),
        ("command_failed", 0.0),
        ("disk_failing", 1.0),
        ("prefail_below_threshold", 1.0),
        ("usage_below_threshold_in_past", 0.0),
        ("error_log_has_errors", 1.0),
        ("self_test_log_has_errors", 1.0),
    ] {
        let key = format!("hostwatt_smart_exit_status_bit{{bit=\"{bit}\",disk=\"{fail}\"}}");
        assert_eq!(get(&m, &key), set, "{key}");
    }
    assert_eq!(
        get(&m, &k("power_on_seconds_total", fail)),
        65592.0 * 3600.0
    );
    assert_eq!(
        get(&m, &k("beyond_rated_duty", fail)),
        1.0,
        "Deskstar at 65k h"
    );
    // SMR
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_smr{{disk=\"{smr}\",source=\"drivedb\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_drive_class{{class=\"desktop\",disk=\"{smr}\"}}")
        ),
        1.0
    );
    // SCSI
    assert_eq!(get(&m, &k("scsi_grown_defects", scsi)), 260.0);
    assert_eq!(
        get(
            &m,
            &format!(
                "hostwatt_smart_scsi_uncorrected_errors_total{{disk=\"{scsi}\",operation=\"write\"}}"
            )
        ),
        535.0
    );
    // NVMe healthy and failing
    assert_eq!(get(&m, &k("nvme_percentage_used_ratio", nvme)), 0.04);
    assert_eq!(
        get(&m, &k("nvme_written_bytes_total", nvme)),
        76_471_882.0 * 512_000.0
    );
    assert_eq!(get(&m, &k("health_passed", nvme_bad)), 0.0);
    assert_eq!(
        get(
            &m,
            &format!(
                "hostwatt_smart_nvme_critical_warning{{bit=\"volatile_memory_backup\",disk=\"{nvme_bad}\"}}"
            )
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_exit_status_bit{{bit=\"disk_failing\",disk=\"{nvme_bad}\"}}")
        ),
        1.0
    );
    // asleep: identity from the scan, no values, standby
    let st = |disk: &str, state: &str| {
        format!("hostwatt_smart_power_mode{{disk=\"{disk}\",state=\"{state}\"}}")
    };
    assert_eq!(get(&m, &st("sde", "standby")), 1.0);
    assert!(!m.contains_key(&k("data_age_seconds", "sde")));
    assert_eq!(
        get(
            &m,
            "hostwatt_smart_device_info{device=\"/dev/sde\",disk=\"sde\",family=\"\",firmware=\"\",model=\"\",protocol=\"ATA\",rotation_rate=\"\",serial=\"\",type=\"sat\"}"
        ),
        1.0
    );
    // open failure: exit bit, no values
    assert_eq!(
        get(
            &m,
            "hostwatt_smart_exit_status_bit{bit=\"open_failed\",disk=\"sdf\"}"
        ),
        1.0
    );
    assert_eq!(get(&m, &st(wd, "active")), 1.0);

    // round 1: sda, sdb, sde, nvme0n1 did I/O
    crate::testutil::overlay(&case.join("rounds/1"), root.path());
    let t1 = t0 + Duration::from_secs(60);
    let s1 = smart.sample(&cx, t1).await.unwrap();
    assert!(s1.faults.is_empty(), "{:?}", s1.faults);
    let m = series(&s1.snapshot);
    // queried again (data of this round) only when the disk did I/O
    for disk in [wd, fail, nvme] {
        assert_eq!(get(&m, &k("data_age_seconds", disk)), 0.0, "{disk} was active");
    }
    for disk in [smr, scsi, nvme_bad] {
        assert_eq!(get(&m, &k("data_age_seconds", disk)), 60.0, "{disk} was idle");
        assert_eq!(get(&m, &st(disk, "idle")), 1.0);
    }
    // the idle failing disk sdf was not retried: no fault this round
    assert_eq!(get(&m, &k("standby_skips_total", "sde")), 2.0);
    assert_eq!(get(&m, &k("standby_skips_total", wd)), 0.0);
    let smartctl = |outcome: &str| {
        runs.with_label_values(&["smartctl", outcome]).get() as f64
    };
    // the scan and 8 disks in round 0, the 3 active disks and sde (asleep again) in round 1;
    // non-zero: sde's two standby exits (3) and the disks with exit status bits set
    assert_eq!((smartctl("ok"), smartctl("nonzero")), (6.0, 7.0));
    assert_eq!(get(&m, &k("spin_ups_total", "sde")), 1.0);
    assert_eq!(get(&m, &k("standby_seconds_total", "sde")), 60.0);
    assert_eq!(get(&m, &st("sde", "standby")), 1.0);
}

/// A substitute smartctl: answers the scan with one SAT disk and each device query from
/// `$dir/mode`: `json` (a shared capture, exit 0), `hang`, `garbage`, or a number N (the failing
/// capture with exit N).
fn fake_smartctl(dir: &Path) -> PathBuf {
    let script = dir.join("smartctl");
    let scan = dir.join("scan.json");
    std::fs::write(
        &scan,
        r#"{"devices":[{"name":"/dev/sda","type":"sat","protocol":"ATA"}]}"#,
    )
    .unwrap();
    let good = shared_fixture("smartctl/smartctl_exporter/WDC_WD20EFRX-68EUZN0_17.json");
    let d = dir.display();
    let body = format!(
        r#"#!/bin/sh
case "$1" in --scan-open) cat {d}/scan.json; exit 0;; esac
mode=$(cat {d}/mode)
case "$mode" in
  json) cat {good}; exit 0;;
  hang) echo $$ > {d}/pid; exec sleep 3600;;
  garbage) echo 'Segmentation fault'; exit 0;;
  *) sed "s/\"exit_status\": 0/\"exit_status\": $mode/" {good}; exit "$mode";;
esac
"#,
        good = good.display()
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("root/sys/block/sda")).unwrap();
    set_ios(dir, 100);
    script
}

fn set_ios(dir: &Path, reads: u64) {
    std::fs::write(
        dir.join("root/sys/block/sda/stat"),
        format!("{reads} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"),
    )
    .unwrap();
}

fn fake_setup(mode: &str) -> (tempfile::TempDir, Smart, Context) {
    let dir = tempfile::tempdir().unwrap();
    let script = fake_smartctl(dir.path());
    std::fs::write(dir.path().join("mode"), mode).unwrap();
    let cfg = Config {
        enabled: true,
        interval: Interval::secs(1),
        query_interval: Interval::secs(1),
        timeout: Interval::secs(1),
        smartctl: script.display().to_string(),
        ..Config::default()
    };
    let cx = Context {
        root: Root::new(dir.path().join("root")),
        runner: Runner::system(),
    };
    (dir, Smart::new(cfg), cx)
}

const WD: &str = "wwn-0x50014ee0499602d2";

#[tokio::test]
async fn hung_smartctl_times_out_is_killed_and_keeps_last_data() {
    let (dir, mut smart, cx) = fake_setup("json");
    let t0 = Instant::now();
    let s = smart.sample(&cx, t0).await.unwrap();
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    std::fs::write(dir.path().join("mode"), "hang").unwrap();
    set_ios(dir.path(), 200);
    let t1 = t0 + Duration::from_secs(10);
    let s = smart.sample(&cx, t1).await.unwrap();
    let faults = fault_kinds(&s);
    assert_eq!(faults, [(WD, "timeout")]);
    let m = series(&s.snapshot);
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_health_passed{{disk=\"{WD}\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_data_age_seconds{{disk=\"{WD}\"}}")
        ),
        10.0
    );
    // the hung child was SIGKILLed (it is `exec sleep`, so its pid is the child's)
    let pid: u32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        crate::testutil::wait_until_gone(pid).await,
        "hung smartctl {pid} still alive"
    );
    // no I/O since the timed-out run: the next round does not start another one
    let s = smart
        .sample(&cx, t1 + Duration::from_secs(10))
        .await
        .unwrap();
    // (a run would have timed out again: a fault)
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    let m = series(&s.snapshot);
    assert_eq!(
        get(
            &m,
            &format!("hostwatt_smart_data_age_seconds{{disk=\"{WD}\"}}")
        ),
        20.0
    );
}

#[tokio::test]
async fn garbage_output_is_a_parse_fault() {
    let (_dir, mut smart, cx) = fake_setup("garbage");
    let s = smart.sample(&cx, Instant::now()).await.unwrap();
    let faults = fault_kinds(&s);
    assert_eq!(faults, [("sda", "parse")]);
    let m = series(&s.snapshot);
    assert!(
        !m.keys().any(|k| k.starts_with("hostwatt_smart_data_age_seconds")),
        "no data from garbage: {m:?}"
    );
}

#[tokio::test]
async fn every_exit_status_bit_is_decoded() {
    for bit in 0..8u32 {
        let code = 1u32 << bit;
        let (_dir, mut smart, cx) = fake_setup(&code.to_string());
        let s = smart.sample(&cx, Instant::now()).await.unwrap();
        let m = series(&s.snapshot);
        // bits 0-1: no data; the disk keeps its scan name
        let disk = if bit < 2 { "sda" } else { WD };
        for (b, name) in EXIT_BITS.iter().enumerate() {
            let key = format!("hostwatt_smart_exit_status_bit{{bit=\"{name}\",disk=\"{disk}\"}}");
            assert_eq!(
                get(&m, &key),
                if b as u32 == bit { 1.0 } else { 0.0 },
                "{key}"
            );
        }
        let has_data = m.contains_key(&format!("hostwatt_smart_health_passed{{disk=\"{WD}\"}}"));
        assert_eq!(has_data, bit >= 2, "bit {bit}");
        assert_eq!(
            s.faults.len(),
            usize::from(bit < 2),
            "bit {bit}: {:?}",
            s.faults
        );
    }
    // 3 is the -n standby STATUS: asleep, not a failure
    let (_dir, mut smart, cx) = fake_setup("3");
    let s = smart.sample(&cx, Instant::now()).await.unwrap();
    assert!(s.faults.is_empty());
    let m = series(&s.snapshot);
    assert_eq!(
        get(
            &m,
            "hostwatt_smart_power_mode{disk=\"sda\",state=\"standby\"}"
        ),
        1.0
    );
}

fn require_tools() -> bool {
    std::env::var_os("HOSTWATT_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

fn installed_smartctl() -> Option<&'static str> {
    ["/usr/sbin/smartctl", "/usr/bin/smartctl", "/sbin/smartctl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[tokio::test]
async fn real_smartctl_scan_and_failure_parse() {
    let Some(path) = installed_smartctl() else {
        assert!(
            !require_tools(),
            "HOSTWATT_REQUIRE_TOOLS=1 but smartctl is missing"
        );
        eprintln!("skipped: smartctl is not installed");
        return;
    };
    let prog = Program::new("smartctl", path);
    let runner = Runner::system();
    let limit = Duration::from_secs(30);
    let out = runner
        .run(&prog, &["--scan-open".into(), "--json".into()], limit)
        .await
        .unwrap();
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let devices = json::parse_scan(&out.stdout_text()).unwrap().devices;
    eprintln!("smartctl --scan-open found {} device(s)", devices.len());
    // a node that is not a disk: what the installed version prints for a failure
    let args: Vec<String> = ["--json", "-a", "/dev/null"].map(String::from).into();
    let out = runner.run(&prog, &args, limit).await.unwrap();
    let code = out.code.unwrap();
    assert_ne!(code & 0b11, 0, "exit {code} has no no-data bit");
    match json::parse_report(&out.stdout_text(), code).unwrap() {
        Report::NoData { message, .. } => assert!(message.contains("/dev/null"), "{message}"),
        other => panic!("expected no data, got {other:?}"),
    }
    // the full collector on this host: a clean round, whatever disks it has
    let cfg = Config {
        enabled: true,
        smartctl: path.into(),
        ..Config::default()
    };
    let cx = Context {
        root: Root::new("/"),
        runner,
    };
    let s = Smart::new(cfg).sample(&cx, Instant::now()).await.unwrap();
    assert_eq!(s.snapshot.disks.len(), devices.len());
}

#[tokio::test]
async fn missing_smartctl_is_unavailable() {
    let cfg = Config {
        enabled: true,
        smartctl: "/nonexistent/smartctl".into(),
        ..Config::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let cx = Context {
        root: Root::new(dir.path()),
        runner: Runner::system(),
    };
    let err = Smart::new(cfg)
        .sample(&cx, Instant::now())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable");
}

#[test]
fn identity_prefers_wwn_and_hides_serials() {
    let d = Data {
        model: Some("WDC  WUH721816ALE6L4".into()),
        serial: Some("2CG1ABCD".into()),
        ..Data::default()
    };
    assert_eq!(
        identity(Some(&d), "sdx", false),
        "WDC_WUH721816ALE6L4_2CG1ABCD"
    );
    let hidden = identity(Some(&d), "sdx", true);
    assert!(
        hidden.starts_with("disk-") && hidden.len() == 21,
        "{hidden}"
    );
    assert!(!hidden.contains("2CG1ABCD"));
    assert_eq!(hidden, identity(Some(&d), "sdy", true), "stable");
    assert_eq!(identity(None, "sdx", true), "sdx");
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
}

#[test]
fn filters_devices_and_picks_per_device_intervals() {
    let mut cfg = Config {
        include: vec!["/dev/sd*".into()],
        exclude: vec!["/dev/sdz".into()],
        ..Config::default()
    };
    cfg.device_intervals
        .insert("/dev/sdb".into(), Interval::secs(7200));
    let s = Smart::new(cfg);
    let scanned = |name: &str| ScanDevice {
        name: name.into(),
        dev_type: "sat".into(),
        protocol: "ATA".into(),
        open_error: None,
    };
    assert!(s.selected(&scanned("/dev/sda")));
    assert!(!s.selected(&scanned("/dev/sdz")));
    assert!(!s.selected(&scanned("/dev/nvme0")));
    let dev = |name: &str| Device::new(scanned(name), &[]);
    assert_eq!(
        s.query_interval(&dev("/dev/sdb")),
        Duration::from_secs(7200)
    );
    assert_eq!(
        s.query_interval(&dev("/dev/sda")),
        Duration::from_secs(1800)
    );
}

#[test]
fn a_disk_seen_twice_gets_distinct_labels() {
    let text =
        crate::testutil::shared_text("smartctl/smartctl_exporter/WDC_WD20EFRX-68EUZN0_17.json");
    let mut s = Smart::new(Config::default());
    for name in ["/dev/sda", "/dev/bus/0"] {
        let scan = ScanDevice {
            name: name.into(),
            dev_type: "sat".into(),
            protocol: "ATA".into(),
            open_error: None,
        };
        let mut d = Device::new(scan, &[]);
        let out = Output {
            code: Some(0),
            stdout: text.clone().into_bytes(),
            stderr: Vec::new(),
        };
        assert!(s.absorb(&mut d, Ok(out), Instant::now()).is_none());
        s.devices.insert((name.into(), "sat".into()), d);
    }
    let ids: Vec<String> = s
        .snapshot(Instant::now())
        .disks
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, [WD.to_owned(), format!("{WD}-sda")]);
}

/// Real-world case `smart-megaraid-three-disks` (smartctl 7.1): three SAS disks that are all
/// `/dev/bus/0`, told apart only by `-d megaraid,N`, read in place through its commands.toml.
#[tokio::test]
async fn three_disks_behind_one_megaraid_node_are_three_disks() {
    let case = shared_fixture("real-world/smart-megaraid-three-disks");
    let cx = Context {
        // no sys/block: RAID pass-through nodes cannot be gated and are queried every round
        root: Root::new(&case),
        runner: Runner::load_replay(&case.join("commands.toml"), None).unwrap(),
    };
    let mut smart = Smart::new(case_config(&case));
    let t0 = Instant::now();
    let s0 = smart.sample(&cx, t0).await.unwrap();
    assert!(s0.faults.is_empty(), "{:?}", s0.faults);
    let s1 = smart
        .sample(&cx, t0 + Duration::from_secs(2))
        .await
        .unwrap();
    assert!(s1.faults.is_empty(), "{:?}", s1.faults);
    let m = series(&s1.snapshot);
    let k = |name: &str, disk: &str| format!("hostwatt_smart_{name}{{disk=\"{disk}\"}}");
    for (n, celsius) in [(1, 31.0), (2, 30.0), (3, 29.0)] {
        let disk = format!("TOSHIBA_MG08SCA16TEY_FAKESERIAL000{n}");
        assert_eq!(get(&m, &k("temperature_celsius", &disk)), celsius, "{disk}");
        assert_eq!(get(&m, &k("health_passed", &disk)), 1.0, "{disk}");
        assert_eq!(get(&m, &k("scsi_grown_defects", &disk)), 0.0, "{disk}");
        assert_eq!(
            get(&m, &k("capacity_bytes", &disk)),
            16_000_900_661_248.0,
            "{disk}"
        );
        for op in ["read", "verify", "write"] {
            let key = format!(
                "hostwatt_smart_scsi_uncorrected_errors_total{{disk=\"{disk}\",operation=\"{op}\"}}"
            );
            assert_eq!(get(&m, &key), 0.0, "{key}");
        }
        let info = format!(
            "hostwatt_smart_device_info{{device=\"/dev/bus/0\",disk=\"{disk}\",family=\"\",firmware=\"EJ08\",model=\"TOSHIBA MG08SCA16TEY\",protocol=\"SCSI\",rotation_rate=\"7200\",serial=\"FAKESERIAL000{n}\",type=\"megaraid,{n}\"}}"
        );
        assert_eq!(get(&m, &info), 1.0, "{info}");
        // queried again in the second round: RAID pass-through nodes are not gated on I/O
        assert_eq!(get(&m, &k("data_age_seconds", &disk)), 0.0, "{disk}");
    }
    assert_eq!(s1.snapshot.disks.len(), 3);
}

/// The disks of the megaraid case that one round of `smart` with `include`/`exclude` queries.
async fn megaraid_selected(include: &[&str], exclude: &[&str]) -> Vec<String> {
    let case = shared_fixture("real-world/smart-megaraid-three-disks");
    let cx = Context {
        root: Root::new(&case),
        runner: Runner::load_replay(&case.join("commands.toml"), None).unwrap(),
    };
    let cfg = Config {
        include: include.iter().map(|&g| g.to_owned()).collect(),
        exclude: exclude.iter().map(|&g| g.to_owned()).collect(),
        ..case_config(&case)
    };
    let s = Smart::new(cfg).sample(&cx, Instant::now()).await.unwrap();
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    s.snapshot
        .disks
        .iter()
        .map(|d| d.dev_type.clone())
        .collect()
}

/// Issue 8 §5 follow-up: one disk behind a RAID controller is picked by node and type, spelt as
/// `smartctl --scan` prints it.
#[tokio::test]
async fn include_and_exclude_match_node_and_type() {
    assert_eq!(
        megaraid_selected(&["/dev/bus/0 -d megaraid,2"], &[]).await,
        ["megaraid,2"]
    );
    assert_eq!(
        megaraid_selected(&[], &["/dev/bus/0 -d megaraid,3"]).await,
        ["megaraid,1", "megaraid,2"]
    );
    assert_eq!(
        megaraid_selected(&["/dev/bus/0"], &["* -d megaraid,1"]).await,
        ["megaraid,2", "megaraid,3"]
    );
    assert_eq!(
        megaraid_selected(&["/dev/sd*"], &[]).await,
        Vec::<String>::new()
    );
}

/// One scan entry that does not read (no `name`, a `type` that is a number) is one item fault;
/// the disks listed around it are all kept and queried.
#[tokio::test]
async fn an_odd_scan_entry_is_an_item_fault_and_keeps_the_other_disks() {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::from(
        r#"[[command]]
argv = ["smartctl", "--scan-open", "--json"]
stdout = '{"devices": [{"name": "/dev/bus/0", "type": "megaraid,1", "protocol": "SCSI"}, {"info_name": "odd", "type": "megaraid,9"}, {"name": "/dev/bus/0", "type": 7}, {"name": "/dev/bus/0", "type": "megaraid,3", "protocol": "SCSI"}]}'
"#,
    );
    for n in [1, 3] {
        toml.push_str(&format!(
            "[[command]]\nargv = [\"smartctl\", \"--json\", \"-n\", \"standby,3\", \"-d\", \"megaraid,{n}\", \"-a\", \"/dev/bus/0\"]\nstdout_file = \"shared:real-world/smart-megaraid-three-disks/megaraid_{n}.json\"\n"
        ));
    }
    std::fs::write(dir.path().join("commands.toml"), toml).unwrap();
    let cx = Context {
        root: Root::new(dir.path()),
        runner: Runner::load_replay(&dir.path().join("commands.toml"), Some(&shared_fixture("")))
            .unwrap(),
    };
    let mut smart = Smart::new(Config::default());
    let s = smart.sample(&cx, Instant::now()).await.unwrap();
    assert_eq!(fault_kinds(&s), [("scan", "parse"), ("scan", "parse")]);
    let errors: Vec<String> = s.faults.iter().map(|f| f.error.to_string()).collect();
    assert!(errors[0].contains("devices[1]"), "{errors:?}");
    assert!(errors[1].contains("devices[2] (/dev/bus/0)"), "{errors:?}");
    let m = series(&s.snapshot);
    for (n, celsius) in [(1, 31.0), (3, 29.0)] {
        let key = format!(
            "hostwatt_smart_temperature_celsius{{disk=\"TOSHIBA_MG08SCA16TEY_FAKESERIAL000{n}\"}}"
        );
        assert_eq!(get(&m, &key), celsius, "{key}");
    }
    assert_eq!(s.snapshot.disks.len(), 2);
}

#[test]
fn disks_behind_a_controller_are_named_by_node_and_type() {
    for (device, dev_type, name) in [
        ("/dev/sda", "sat", "sda"),
        ("/dev/nvme0", "nvme", "nvme0"),
        ("/dev/sda", "sat,12", "sda"),
        ("/dev/bus/0", "megaraid,1", "bus0_megaraid_1"),
        ("/dev/bus/0", "sat+megaraid,2", "bus0_sat_megaraid_2"),
        ("/dev/sg0", "cciss,3", "sg0_cciss_3"),
        ("/dev/sg2", "areca,3/1", "sg2_areca_3_1"),
        ("/dev/twa0", "3ware,0", "twa0_3ware_0"),
        ("/dev/sda", "aacraid,0,0,1", "sda_aacraid_0_0_1"),
    ] {
        assert_eq!(node_name(device, dev_type), name, "{device} {dev_type}");
    }
    assert!(is_target_type("sat+megaraid,0") && !is_target_type("sat,auto"));
}
