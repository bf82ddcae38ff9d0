//! The PMU description from fixture trees in the kernel's sysfs format (values of
//! arch/x86/events/intel/cstate.c and msr.c), the share and seconds arithmetic as pure
//! functions, every "cannot read" reason, and the real `perf_event_open`: its refusal of a PMU
//! type the kernel does not have, and a real count from the `msr` PMU's TSC where there is one.

use std::io;
use std::time::{Duration, Instant};

use super::perf::{open, open_all};
use super::*;
use crate::host::command::Runner;
use crate::testutil::text_tree as tree;

/// An Alder Lake desktop's two PMUs as sysfs shows them, with `pmu_type` for cstate_pkg and
/// `msr_type` for msr (types are handed out at boot).
fn intel(pmu_type: &str, msr_type: &str) -> Vec<(String, String)> {
    let mut files = vec![
        (format!("{PMU}/type"), pmu_type.to_owned()),
        (format!("{PMU}/cpumask"), "0".to_owned()),
        (format!("{PMU}/format/event"), "config:0-63".to_owned()),
        (format!("{MSR_PMU}/type"), msr_type.to_owned()),
        (format!("{MSR_PMU}/format/event"), "config:0-63".to_owned()),
        (format!("{MSR_PMU}/events/tsc"), "event=0x00".to_owned()),
        (format!("{MSR_PMU}/events/aperf"), "event=0x01".to_owned()),
        (
            "sys/devices/system/cpu/cpu0/topology/physical_package_id".to_owned(),
            "0".to_owned(),
        ),
    ];
    for (n, code) in [(2, 0), (3, 1), (6, 2), (7, 3), (8, 4), (9, 5), (10, 6)] {
        files.push((
            format!("{PMU}/events/c{n}-residency"),
            format!("event=0x{code:02x}"),
        ));
    }
    files
}

#[test]
fn formats_events_and_cpulists_parse_as_the_kernel_writes_them() {
    assert_eq!(
        parse_format("config:0-63\n").unwrap(),
        FormatField { lo: 0, hi: 63 }
    );
    assert_eq!(
        parse_format("config:21").unwrap(),
        FormatField { lo: 21, hi: 21 }
    );
    assert!(parse_format("config1:0-7").is_err());
    assert!(parse_format("config:8-3").is_err());
    let mut f = BTreeMap::new();
    f.insert("event".to_owned(), FormatField { lo: 0, hi: 7 });
    f.insert("umask".to_owned(), FormatField { lo: 8, hi: 15 });
    f.insert("edge".to_owned(), FormatField { lo: 18, hi: 18 });
    assert_eq!(encode("event=0x02", &f).unwrap(), 0x02);
    assert_eq!(encode("event=0x3c,umask=0x1,edge", &f).unwrap(), 0x4_013c);
    assert!(encode("event=0x100", &f).is_err(), "9 bits in an 8-bit field");
    assert!(encode("cmask=1", &f).is_err(), "no such format");
    assert_eq!(parse_cpulist("0\n").unwrap(), [0]);
    assert_eq!(parse_cpulist("0,8").unwrap(), [0, 8]);
    assert_eq!(parse_cpulist("0-2,16").unwrap(), [0, 1, 2, 16]);
    assert!(parse_cpulist("0-x").is_err());
    assert_eq!(state_name("c10-residency").as_deref(), Some("pc10"));
    assert_eq!(state_name("c6-residency.scale"), None);
    assert_eq!(depth("pc10"), 10);
}

#[test]
fn reads_the_intel_description_through_the_root() {
    let (_d, root) = tree(&intel("15", "10"));
    let pmu = read_pmu(&root, PMU).unwrap().unwrap();
    assert_eq!((pmu.ty, pmu.cpus.as_slice()), (15, &[0][..]));
    assert_eq!(
        pmu.events,
        [
            ("c10-residency".to_owned(), 6),
            ("c2-residency".to_owned(), 0),
            ("c3-residency".to_owned(), 1),
            ("c6-residency".to_owned(), 2),
            ("c7-residency".to_owned(), 3),
            ("c8-residency".to_owned(), 4),
            ("c9-residency".to_owned(), 5),
        ]
    );
    let msr = read_pmu(&root, MSR_PMU).unwrap().unwrap();
    assert_eq!(msr.events[1], ("tsc".to_owned(), 0));
    let (_d, empty) = tree::<&str, &str>(&[]);
    assert_eq!(read_pmu(&empty, PMU).unwrap(), None);
}

fn counts(package: &str, tsc: u64, states: &[(&str, u64)]) -> Counts {
    Counts {
        package: package.into(),
        tsc,
        states: states.iter().map(|(s, c)| ((*s).into(), *c)).collect(),
    }
}

#[test]
fn shares_divide_by_the_tsc_of_the_same_package() {
    let prev = [
        counts("0", 1_000, &[("pc2", 0), ("pc6", 0)]),
        counts("1", 5_000, &[("pc2", 100)]),
    ];
    let now = [
        counts("0", 1_000 + 2_000_000_000, &[("pc2", 200_000_000), ("pc6", 1_400_000_000)]),
        // package 1's pc2 counter went back (reopened): no share this round
        counts("1", 5_000 + 1_000_000, &[("pc2", 50)]),
    ];
    let s = shares(&prev, &now);
    let got: Vec<_> = s.iter().map(|((p, st), v)| (p.as_str(), st.as_str(), *v)).collect();
    assert_eq!(got, [("0", "pc2", 0.1), ("0", "pc6", 0.7)]);
    // a TSC that did not move gives nothing
    assert!(shares(&now[..1], &now[..1]).is_empty());
}

#[test]
fn seconds_are_the_share_times_the_round_and_accumulate() {
    let mut c = CstatePkg::new(Config::default());
    let t0 = Instant::now();
    c.advance(vec![counts("0", 0, &[("pc2", 0), ("pc8", 0)])], t0);
    assert_eq!(c.snap.observed_secs, 0.0);
    assert!(c.snap.mean_shares().is_empty(), "one round has no share");
    // 10 s at a 3 GHz TSC: 1 s in PC2, 8 s in PC8
    c.advance(
        vec![counts("0", 30_000_000_000, &[("pc2", 3_000_000_000), ("pc8", 24_000_000_000)])],
        t0 + Duration::from_secs(10),
    );
    // 20 s more, all in PC8
    c.advance(
        vec![counts("0", 90_000_000_000, &[("pc2", 3_000_000_000), ("pc8", 84_000_000_000)])],
        t0 + Duration::from_secs(30),
    );
    let secs: Vec<_> = c.snap.seconds.values().copied().collect();
    assert_eq!(secs, [1.0, 28.0]);
    assert_eq!(c.snap.observed_secs, 30.0);
    let shares = c.snap.mean_shares();
    assert_eq!(shares[0].0, "pc2");
    assert!((shares[1].1 - 28.0 / 30.0).abs() < 1e-12, "{shares:?}");
    let text = crate::testutil::render_series(&c.snap).join("\n");
    for line in [
        "hostwatt_cstate_pkg_residency_seconds_total{package=\"0\",state=\"pc8\"} 28",
        "hostwatt_cstate_pkg_observed_seconds_total 30",
        "hostwatt_cstate_pkg_residency_ratio{package=\"0\",state=\"pc8\"} 1",
        "hostwatt_cstate_pkg_measurable{reason=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[test]
fn each_reason_it_cannot_count_is_named() {
    // no cstate_pkg PMU (AMD desktop, a VM): not measurable on this CPU
    let (_d, root) = tree::<&str, &str>(&[]);
    let why = open_all(&root).err().unwrap();
    assert_eq!(why, Unmeasurable::NoPmu);
    assert!(why.text().starts_with("not measurable on this CPU"));
    // the PMU but no msr/tsc to divide by
    let files: Vec<_> = intel("15", "10")
        .into_iter()
        .filter(|(p, _)| !p.starts_with(MSR_PMU))
        .collect();
    let (_d, root) = tree(&files);
    assert_eq!(open_all(&root).err().unwrap(), Unmeasurable::NoTsc);
    // a description that does not parse
    let mut files = intel("15", "10");
    files.push((format!("{PMU}/format/event"), "config:0-64".to_owned()));
    let (_d, root) = tree(&files);
    let why = open_all(&root).err().unwrap();
    assert_eq!(why.code(), "bad_description");
    assert!(why.text().contains("format/event"), "{}", why.text());

    // what the kernel's refusals mean (errno values of perf_event_open(2))
    let eacces = io::Error::from_raw_os_error(13);
    let eperm = io::Error::from_raw_os_error(1);
    let paranoid = classify_open_error(&eacces, "cstate_pkg/c6-residency/", Some(2));
    assert_eq!(paranoid, Unmeasurable::Paranoid(Some(2)));
    let text = paranoid.text();
    assert!(
        text.contains("perf_event_paranoid = 2")
            && text.contains("CAP_PERFMON")
            && text.contains("sysctl kernel.perf_event_paranoid=0"),
        "{text}"
    );
    assert_eq!(
        classify_open_error(&eacces, "x", Some(-1)).code(),
        "permission_denied",
        "paranoid allows it: something else refused"
    );
    let seccomp = classify_open_error(&eperm, "x", Some(2));
    assert_eq!(seccomp.code(), "permission_denied");
    assert!(seccomp.text().contains("SystemCallFilter"));
    assert_eq!(
        Unmeasurable::from_code("perf_event_paranoid", Some(3)),
        Some(Unmeasurable::Paranoid(Some(3)))
    );
    assert_eq!(Unmeasurable::from_code("ok", None), None);
}

/// Whether this process may open system-wide counters: CAP_SYS_ADMIN (bit 21) or CAP_PERFMON
/// (bit 38) in its effective set (`CapEff` of /proc/self/status), or perf_event_paranoid <= 0.
fn is_privileged() -> bool {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim().to_owned();
            u64::from_str_radix(&hex, 16).ok()
        })
        .unwrap_or(0);
    caps & (1 << 21 | 1 << 38) != 0
        || std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .is_ok_and(|p| p.trim().parse::<i64>().is_ok_and(|p| p <= 0))
}

#[test]
fn the_kernel_refuses_a_pmu_type_it_does_not_have() {
    // a real perf_event_open with the type of a described but absent PMU: the kernel answers
    // ENOENT (no PMU of that type), or EACCES before looking when this process may not open
    // system-wide counters
    let (_d, root) = tree(&intel("4000", "4001"));
    let why = open_all(&root).err().unwrap();
    if is_privileged() {
        assert_eq!(why.code(), "open_failed", "{why:?}");
        let text = why.text();
        assert!(
            text.contains("cstate_pkg/c10-residency/ (type 4000, config 0x6) on cpu 0")
                && text.contains("No such file or directory"),
            "{text}"
        );
    } else {
        assert_eq!(why.code(), "perf_event_paranoid", "{why:?}");
    }
}

#[test]
fn the_msr_tsc_counter_opens_and_counts_on_this_host() {
    // the same open and read as the residency counters, on the PMU a VM has too
    let root = Root::new("/");
    let Some(msr) = read_pmu(&root, MSR_PMU).unwrap() else {
        assert!(!std::path::Path::new("/sys/bus/event_source/devices/msr").exists());
        return;
    };
    let tsc = msr.events.iter().find(|(n, _)| n == "tsc").unwrap().1;
    match open(msr.ty, tsc, 0) {
        Ok(mut c) => {
            let a = c.read().unwrap();
            let b = c.read().unwrap();
            assert!(b > a, "the TSC moves between two reads: {a} then {b}");
        }
        Err(e) => {
            assert!(!is_privileged(), "privileged and refused: {e}");
            assert_eq!(classify_open_error(&e, "msr/tsc/", Some(2)).code(), "perf_event_paranoid");
        }
    }
}

#[tokio::test]
async fn a_cpu_without_the_pmu_is_unavailable_and_a_refusal_is_a_fault_with_its_reason() {
    // the firecracker VM capture has an AMD EPYC and no cstate_pkg PMU
    let cx = Context {
        root: crate::testutil::shared_root("sysfs/firecracker-epyc"),
        runner: Runner::replay(Vec::new()),
    };
    let mut c = CstatePkg::new(Config::default());
    let err = c.sample(&cx, Instant::now()).await.err().unwrap();
    assert_eq!(err.kind(), "unavailable");
    assert!(err.to_string().contains("not measurable on this CPU"), "{err}");
    // a PMU whose msr/tsc is missing: the round succeeds with the reason and one fault
    let files: Vec<_> = intel("15", "10")
        .into_iter()
        .filter(|(p, _)| !p.starts_with(MSR_PMU))
        .collect();
    let (_d, root) = tree(&files);
    let cx = Context {
        root,
        runner: Runner::replay(Vec::new()),
    };
    let s = c.sample(&cx, Instant::now()).await.unwrap();
    assert_eq!(s.snapshot.unmeasurable, Some(Unmeasurable::NoTsc));
    assert_eq!(
        (s.faults[0].item.as_str(), s.faults[0].error.kind().as_str()),
        ("counters", "unavailable")
    );
    assert_eq!(
        crate::testutil::render_series(&s.snapshot),
        ["hostwatt_cstate_pkg_measurable{reason=\"no_tsc\"} 0"]
    );
    assert_eq!(
        s.snapshot.summary(false).unmeasurable.as_deref(),
        Some(Unmeasurable::NoTsc.text().as_str())
    );
    assert_eq!(
        Unmeasurable::Paranoid(Some(2)).fault().kind(),
        "permission",
        "a refusal the hint fixes"
    );
}
