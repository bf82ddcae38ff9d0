//! Tests of the cpuidle walk, the counter arithmetic and the aggregated rounds.

use std::io;
use std::time::Duration;

use super::walk::{HINT, read_walk};
use super::*;
use crate::host::command::Runner;
use crate::host::root::Root;
use crate::testutil::shared_root;
use std::path::{Path, PathBuf};

const CASE: &str = "tests/cases/cpuidle-deep";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE)
}

/// The case's `root/` copied into a fresh tempdir.
fn case_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::testutil::overlay(&case_dir().join("root"), dir.path());
    dir
}

fn cx(path: &Path) -> Context {
    Context {
        root: Root::new(path),
        runner: Runner::replay(Vec::new()),
    }
}

/// Runs round 0 at `t0` and round 1 (after overlaying `rounds/1`) at `t0 + 15 s`.
async fn two_rounds(cfg: Config) -> (Sample<Snapshot>, Sample<Snapshot>) {
    let tree = case_root();
    let cx = cx(tree.path());
    let mut c = Cpuidle::new(cfg);
    let t0 = Instant::now();
    let first = c.sample(&cx, t0).await.unwrap();
    crate::testutil::overlay(&case_dir().join("rounds/1"), tree.path());
    let second = c.sample(&cx, t0 + Duration::from_secs(15)).await.unwrap();
    (first, second)
}

fn state<'a>(snap: &'a Snapshot, name: &str) -> &'a State {
    snap.states
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no state {name} in {:?}", snap.states))
}

#[test]
fn parses_numbered_dir_names() {
    assert_eq!(parse_cpu_dir("cpu0"), Some(0));
    assert_eq!(parse_cpu_dir("cpu127"), Some(127));
    for not_a_cpu in ["cpufreq", "cpuidle", "cpu", "online", "cpu1a", "cpu-1"] {
        assert_eq!(parse_cpu_dir(not_a_cpu), None, "{not_a_cpu}");
    }
    assert_eq!(parse_state_dir("state10"), Some(10));
    assert_eq!(parse_state_dir("state"), None);
    assert_eq!(parse_state_dir("driver"), None);
}

#[test]
fn counters_sum_and_delta_field_wise() {
    let a = Counters([Some(10), Some(2), None, Some(5), Some(0)]);
    let b = Counters([Some(15), Some(3), Some(1), Some(4), Some(0)]);
    assert_eq!(
        a.plus(b),
        Counters([Some(25), Some(5), None, Some(9), Some(0)])
    );
    // below went down 5 → 4: a re-registered CPU, not a negative delta
    assert_eq!(
        b.since(a),
        Counters([Some(5), Some(1), None, None, Some(0)])
    );
    let mut t = Counters([Some(100), None, Some(7), Some(7), Some(7)]);
    t.add_known(b.since(a));
    assert_eq!(t, Counters([Some(105), None, Some(7), Some(7), Some(7)]));
}

#[test]
fn reads_the_captured_firecracker_tree() {
    let walk = read_walk(&shared_root("sysfs/firecracker-epyc")).unwrap();
    assert!(walk.faults.is_empty(), "{:?}", walk.faults);
    assert_eq!(walk.driver.as_deref(), Some("haltpoll"));
    assert_eq!(walk.governor.as_deref(), Some("haltpoll"));
    assert_eq!((walk.lpi_cpu_us, walk.lpi_system_us), (None, None));
    let ids: Vec<_> = walk
        .states
        .iter()
        .map(|s| (s.cpu, s.index, s.name.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (0, 0, "POLL"),
            (0, 1, "haltpoll idle"),
            (1, 0, "POLL"),
            (1, 1, "haltpoll idle")
        ]
    );
    let cpu1 = &walk.states[3];
    assert_eq!(
        cpu1.counters,
        Counters([
            Some(2_157_652_922),
            Some(763_990),
            Some(26),
            Some(0),
            Some(0)
        ])
    );
    assert_eq!(
        (
            cpu1.desc.as_deref(),
            cpu1.latency_us,
            cpu1.residency_us,
            cpu1.disabled
        ),
        (
            Some("default architecture idle"),
            Some(1),
            Some(1),
            Some(false)
        )
    );

    let mut c = Cpuidle::new(Config::default());
    let (states, per_cpu) = c.fold(&walk.states, Instant::now());
    assert!(per_cpu.is_empty(), "per-CPU series are opt-in");
    let halt = &states[1];
    assert_eq!(
        (
            halt.index,
            halt.name.as_str(),
            halt.cpus,
            halt.disabled_cpus
        ),
        (1, "haltpoll idle", 2, Some(0))
    );
    assert_eq!(halt.time_seconds, Some(3_972.428_118)); // 1814775196 + 2157652922 µs
    assert_eq!(
        (halt.entries, halt.above, halt.below),
        (Some(1_242_170), Some(40), Some(0))
    );
    assert_eq!(halt.exit_latency_seconds, Some(1e-6));
    assert_eq!(halt.residency_ratio, None, "no ratio on the first round");
}

#[tokio::test]
async fn aggregates_the_deep_idle_case_over_two_rounds() {
    let (first, second) = two_rounds(Config::default()).await;
    assert!(first.faults.is_empty() && second.faults.is_empty());
    let s0 = &first.snapshot;
    assert_eq!(s0.driver.as_deref(), Some("intel_idle"));
    assert_eq!(s0.governor.as_deref(), Some("menu"));
    assert_eq!(s0.lpi_cpu_seconds, Some(1_234.567_89));
    assert_eq!(s0.lpi_system_seconds, Some(987.654_321));
    let names: Vec<_> = s0
        .states
        .iter()
        .map(|s| (s.index, s.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [(0, "POLL"), (1, "C1"), (2, "C1E"), (3, "C6"), (4, "C10")]
    );
    let c6 = state(s0, "C6");
    assert_eq!(c6.desc, "MWAIT 0x20");
    assert_eq!(
        (c6.exit_latency_seconds, c6.target_residency_seconds),
        (Some(170e-6), Some(500e-6))
    );
    // cpu3 is offline: three CPUs, not four
    assert_eq!((c6.cpus, c6.disabled_cpus), (3, Some(0)));
    assert_eq!(c6.time_seconds, Some(1_245.677_9));
    assert!(s0.states.iter().all(|s| s.residency_ratio.is_none()));
    assert_eq!(
        state(s0, "POLL").disabled_cpus,
        Some(1),
        "cpu2 disabled POLL"
    );

    let s1 = &second.snapshot;
    assert_eq!(s1.lpi_cpu_seconds, Some(1_245.067_89));
    assert_eq!(s1.lpi_system_seconds, Some(995.154_321));
    let got: Vec<_> = s1
        .states
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.time_seconds,
                s.entries,
                s.above,
                s.below,
                s.rejected,
                s.residency_ratio,
            )
        })
        .collect();
    // ratio = Σ Δtime / (15 s × 3 CPUs), e.g. C10: (9 + 6 + 12) s / 45 s
    #[rustfmt::skip]
    assert_eq!(got, [
        ("POLL", Some(2.232_999), Some(19_713), Some(0), Some(2_339), Some(0), Some(0.001)),
        ("C1", Some(8.134_566), Some(41_455), Some(51), Some(11_955), Some(0), Some(0.02)),
        ("C1E", Some(137.928_9), Some(484_733), Some(7_594), Some(39_353), Some(0), Some(0.05)),
        ("C6", Some(1_254.677_9), Some(936_955), Some(128_277), Some(18_720), Some(0), Some(0.2)),
        ("C10", Some(7_430.702_48), Some(665_154), Some(76_196), Some(0), Some(60), Some(0.6)),
    ]);
}

#[tokio::test]
async fn per_cpu_series_are_opt_in() {
    let cfg = Config {
        per_cpu: true,
        ..Config::default()
    };
    let (_, second) = two_rounds(cfg).await;
    let s = &second.snapshot;
    assert_eq!(s.per_cpu.len(), 15, "3 online CPUs x 5 states");
    let cpu2_c10 = s
        .per_cpu
        .iter()
        .find(|c| c.cpu == 2 && c.name == "C10")
        .unwrap();
    assert_eq!(cpu2_c10.residency_ratio, Some(0.8)); // 12 s of 15
    assert_eq!(cpu2_c10.counters.0[C_TIME], Some(2_613_234_567));
    let cpu2_poll = s
        .per_cpu
        .iter()
        .find(|c| c.cpu == 2 && c.name == "POLL")
        .unwrap();
    assert_eq!(
        (cpu2_poll.disabled, cpu2_poll.residency_ratio),
        (Some(true), Some(0.0))
    );

    let text = crate::testutil::render_series(s).join("\n") + "\n";
    for line in [
        "hostwatt_cpuidle_state_residency_ratio{state=\"state4\",name=\"C10\"} 0.6\n",
        "hostwatt_cpuidle_cpu_state_residency_ratio{cpu=\"2\",state=\"state4\",name=\"C10\"} 0.8\n",
        "hostwatt_cpuidle_state_info{state=\"state3\",name=\"C6\",desc=\"MWAIT 0x20\"} 1\n",
        "hostwatt_cpuidle_driver_info{driver=\"intel_idle\",governor=\"menu\"} 1\n",
        "hostwatt_cpuidle_state_disabled_cpus{state=\"state0\",name=\"POLL\"} 1\n",
        "hostwatt_cpuidle_cpu_state_disabled{cpu=\"2\",state=\"state0\",name=\"POLL\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("cpu=\"3\""), "offline cpu3 has no series");
}

fn reading(cpu: u32, time_us: u64) -> StateReading {
    StateReading {
        cpu,
        index: 1,
        name: "C6".into(),
        desc: None,
        latency_us: Some(85),
        residency_us: Some(200),
        disabled: None,
        counters: Counters([Some(time_us), Some(time_us / 100), None, None, None]),
    }
}

#[test]
fn aggregate_counters_survive_a_cpu_going_offline() {
    let mut c = Cpuidle::new(Config::default());
    let t0 = Instant::now();
    let (s, _) = c.fold(&[reading(0, 1_000_000), reading(1, 3_000_000)], t0);
    assert_eq!(s[0].time_seconds, Some(4.0));
    // cpu1 goes offline; cpu0 idles 5 of 10 s
    let (s, _) = c.fold(&[reading(0, 6_000_000)], t0 + Duration::from_secs(10));
    assert_eq!(
        (
            s[0].time_seconds,
            s[0].cpus,
            s[0].residency_ratio,
            s[0].above
        ),
        (Some(9.0), 1, Some(0.5), None)
    );
    // cpu1 comes back with its old counter: its time before now is not added again, and a
    // long idle that ended in this interval (lag) is capped at the interval
    let (s, _) = c.fold(
        &[reading(0, 26_000_000), reading(1, 3_000_000)],
        t0 + Duration::from_secs(20),
    );
    assert_eq!(
        (s[0].time_seconds, s[0].cpus, s[0].residency_ratio),
        (Some(29.0), 2, Some(1.0))
    );
}

#[test]
fn missing_cpu_dir_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        read_walk(&Root::new(dir.path())).unwrap_err().kind(),
        "unavailable"
    );
    // node_exporter's capture has CPUs, but no cpuidle driver
    let err = read_walk(&shared_root("sysfs/node_exporter")).unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
}

#[test]
fn a_garbage_state_is_a_fault_and_the_others_stay() {
    let tree = case_root();
    let bad = "sys/devices/system/cpu/cpu1/cpuidle/state3/time";
    std::fs::write(tree.path().join(bad), "12x\n").unwrap();
    let walk = read_walk(&Root::new(tree.path())).unwrap();
    assert_eq!(walk.states.len(), 14);
    let faults: Vec<_> = walk
        .faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.to_string()))
        .collect();
    assert_eq!(
        faults,
        [(
            "cpu1/state3",
            format!("{bad}: cpuidle time, line 1: not an unsigned integer: \"12x\"")
        )]
    );
}

#[test]
fn eacces_maps_to_permission_denied() {
    let err = crate::host::root::ReadError {
        rel_path: "sys/devices/system/cpu/cpu0/cpuidle/state1/time".to_owned(),
        source: io::Error::from(io::ErrorKind::PermissionDenied),
    };
    assert_eq!(CollectError::from_read(err, HINT).kind(), "permission");
}

#[tokio::test]
async fn samples_the_live_host_without_parse_errors() {
    let mut c = Cpuidle::new(Config::default());
    let live = Path::new("/sys/devices/system/cpu/cpu0/cpuidle").exists();
    match c.sample(&cx(Path::new("/")), Instant::now()).await {
        Ok(sample) => {
            assert!(
                sample.snapshot.states.iter().any(|s| !s.name.is_empty()),
                "{:?}",
                sample.snapshot
            );
            assert!(sample.faults.iter().all(|f| f.error.kind() != "parse"));
        }
        Err(e) => {
            assert!(!live, "cpu0 has cpuidle, yet: {e}");
            assert_eq!(e.kind(), "unavailable", "{e}");
        }
    }
}

#[tokio::test]
async fn kept_files_notice_a_cpu_going_offline_and_a_bad_counter() {
    let tree = case_root();
    let cx = cx(tree.path());
    let cpu = |n: u32, rel: &str| {
        tree.path()
            .join(format!("sys/devices/system/cpu/cpu{n}/{rel}"))
    };
    let mut c = Cpuidle::new(Config::default());
    let t0 = Instant::now();
    let at = |n: u64| t0 + Duration::from_secs(15 * n);
    let first = c.sample(&cx, at(0)).await.unwrap();
    assert_eq!(state(&first.snapshot, "C6").cpus, 3);
    // read through the kept descriptors
    std::fs::write(cpu(1, "cpuidle/state3/usage"), "400000\n").unwrap();
    let second = c.sample(&cx, at(1)).await.unwrap();
    let before = first.snapshot.states[3].entries.unwrap();
    assert_eq!(
        state(&second.snapshot, "C6").entries,
        Some(before + 400_000 - 301_234)
    );
    std::fs::write(cpu(2, "online"), "0\n").unwrap();
    let third = c.sample(&cx, at(2)).await.unwrap();
    assert_eq!(state(&third.snapshot, "C6").cpus, 2, "cpu2 went offline");
    // garbage in a kept counter: the tree is walked again and the state reported
    std::fs::write(cpu(1, "cpuidle/state3/usage"), "12x\n").unwrap();
    let fourth = c.sample(&cx, at(3)).await.unwrap();
    let faults: Vec<_> = fourth
        .faults
        .iter()
        .map(|f| (f.item.as_str(), f.error.kind().as_str()))
        .collect();
    assert_eq!(faults, [("cpu1/state3", "parse")]);
    assert_eq!(state(&fourth.snapshot, "C6").cpus, 1);
}

#[tokio::test]
async fn a_written_disable_switch_shows_by_the_periodic_walk() {
    let tree = case_root();
    let cx = cx(tree.path());
    let mut c = Cpuidle::new(Config::default());
    let t0 = Instant::now();
    let first = c.sample(&cx, t0).await.unwrap();
    assert_eq!(state(&first.snapshot, "C6").disabled_cpus, Some(0));
    let disable = "sys/devices/system/cpu/cpu1/cpuidle/state3/disable";
    std::fs::write(tree.path().join(disable), "1\n").unwrap();
    let seen: Vec<Option<u32>> = c6_disabled_by_round(&mut c, &cx, t0).await;
    // the switch is not a reading: kept rounds serve the walk's value until WALK_EVERY rounds
    assert_eq!(seen.first(), Some(&Some(0)));
    assert_eq!(seen.last(), Some(&Some(1)));
}

/// `WALK_EVERY` rounds 15 s apart after `t0`: C6's `disabled_cpus` in each.
async fn c6_disabled_by_round(c: &mut Cpuidle, cx: &Context, t0: Instant) -> Vec<Option<u32>> {
    let mut seen = Vec::new();
    for n in 1..=crate::collectors::rewalk::WALK_EVERY {
        let at = t0 + Duration::from_secs(15 * u64::from(n));
        seen.push(state(&c.sample(cx, at).await.unwrap().snapshot, "C6").disabled_cpus);
    }
    seen
}

#[tokio::test]
async fn time_shows_each_round_and_the_governor_misses_every_explain_round() {
    use super::kept::EXPLAIN_EVERY;
    let tree = case_root();
    let cx = cx(tree.path());
    let state3 = tree.path().join("sys/devices/system/cpu/cpu1/cpuidle/state3");
    let mut c = Cpuidle::new(Config::default());
    let t0 = Instant::now();
    let at = |n: u32| t0 + Duration::from_secs(15 * u64::from(n));
    c.sample(&cx, at(0)).await.unwrap(); // the walk
    // the first kept round reads every counter (a delta of the misses right after a walk)
    let first = state(&c.sample(&cx, at(1)).await.unwrap().snapshot, "C6").clone();
    // cpu1: 5 s more in C6, 1,000 more entries too deep, 100 too shallow
    std::fs::write(state3.join("time"), "406234567\n").unwrap();
    std::fs::write(state3.join("above"), "41123\n").unwrap();
    std::fs::write(state3.join("below"), "5532\n").unwrap();
    let mut seen = Vec::new();
    for n in 2..=1 + EXPLAIN_EVERY {
        let s = state(&c.sample(&cx, at(n)).await.unwrap().snapshot, "C6").clone();
        let dtime = s.time_seconds.unwrap() - first.time_seconds.unwrap();
        let dabove = s.above.unwrap() - first.above.unwrap();
        let dbelow = s.below.unwrap() - first.below.unwrap();
        seen.push(((dtime * 1e6).round() as u64, dabove, dbelow));
    }
    // `time` the next round; `above`/`below` keep the last value read for EXPLAIN_EVERY rounds
    let mut want = vec![(5_000_000, 0, 0); EXPLAIN_EVERY as usize - 1];
    want.push((5_000_000, 1_000, 100));
    assert_eq!(seen, want);
}
