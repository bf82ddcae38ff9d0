//! The wall estimate against a real meter protocol: a Shelly Gen2 plug answering on loopback
//! (its documented `Switch.GetStatus` body), read by the meters collector, learned by the
//! wall calibration. Rounds are driven in-process with `at`, no sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hostwatt::app::App;
use hostwatt::collectors::Context;
use hostwatt::config::{self, Overrides};
use hostwatt::host::command::Runner;

use crate::support::{self, Case};

/// The plug's state: (watts now, energy total in Wh).
async fn switch_status(State(plug): State<Arc<Mutex<(f64, f64)>>>) -> String {
    let (w, wh) = *plug.lock().expect("lock");
    format!(
        r#"{{"id":0,"source":"init","output":true,"apower":{w},"voltage":231.2,"current":0.2,"aenergy":{{"total":{wh:.3},"by_minute":[0,0,0],"minute_ts":1700000000}},"temperature":{{"tC":30.1,"tF":86.2}}}}"#
    )
}

#[tokio::test]
async fn calibrates_the_estimate_against_a_shelly_plug() {
    let watts = Arc::new(Mutex::new((0.0, 1234.5)));
    let app_router = Router::new()
        .route("/rpc/Switch.GetStatus", get(switch_status))
        .with_state(watts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app_router).await });

    let root = Case::load("rapl-wrap").build_root();
    let text = format!(
        r#"
[collectors.system]
enabled = false
[collectors.smart]
enabled = false
[collectors.zfs]
enabled = false
[collectors.rapl]
enabled = false
[collectors.wall]
baseline_watts = 30.0
[collectors.wall.psu]
rated_watts = 400
profile = "bronze"

[[meters]]
name = "plug"
kind = "shelly"
url = "http://{addr}"
generation = "gen2"
"#
    );
    let cfg = config::resolve(
        "wall-meter.toml",
        &text,
        &Overrides {
            root: Some(root.path().into()),
            state_dir: Some(root.path().join("state")),
            ..Default::default()
        },
    )
    .expect("config");
    let mut app = App::new(
        &cfg,
        Context {
            root: cfg.root.clone(),
            runner: Runner::system(),
        },
    )
    .expect("app");
    let t0 = Instant::now();
    // DC is the 30 W baseline alone, so the estimate is constant; the plug reads about 60 W
    for i in 0..400u64 {
        {
            let mut plug = watts.lock().expect("lock");
            plug.0 = 60.0 + (i % 7) as f64 * 0.1;
            // the counter advances at the plug's power over the 30 s since the last round
            plug.1 += plug.0 * 30.0 / 3600.0;
        }
        app.sample_all(t0 + Duration::from_secs(30 * i)).await;
    }
    let text = hostwatt::metrics::exposition(&app.registry);
    let v = |series: &str| {
        support::value(&text, series).unwrap_or_else(|| panic!("no {series}\n{text}"))
    };
    assert_eq!(v("hostwatt_meters_up{meter=\"plug\",kind=\"shelly\"}"), 1.0);
    // the counter's slope over the steady readings of the last 120 s (rounds 396-399 read
    // 60.4, 60.5, 60.6, 60.0 W: the load holds within 3 %), to the counter's 1 mWh
    let best = v("hostwatt_wall_best_power_watts{source=\"plug\",basis=\"measured\"}");
    assert!((best - 60.375).abs() < 0.13, "best {best} W");
    // 399 windows between 400 rounds, all steady; every 4th is held back to validate
    assert_eq!(v("hostwatt_wall_calibration_samples_total"), 300.0);
    assert_eq!(v("hostwatt_wall_calibration_trusted"), 1.0);
    let estimate = v("hostwatt_wall_power_watts{source=\"estimate\",basis=\"modelled\"}");
    let calibrated = v("hostwatt_wall_power_watts{source=\"calibrated\",basis=\"calibrated\"}");
    assert!(
        estimate < 55.0,
        "a Bronze curve at 30 W DC says {estimate} W: the model misses the box's extra draw"
    );
    assert!(
        (calibrated - 60.3).abs() < 0.5,
        "calibrated {calibrated} W, meter averages 60.3 W"
    );
    assert!(v("hostwatt_wall_calibration_error_watts") < 1.0);
    assert!(v("hostwatt_wall_energy_joules_total{source=\"plug\"}") > 0.0);
    server.abort();
}

#[test]
fn the_embedded_default_estimates_wall_power_with_an_assumed_psu() {
    // no --config: the embedded default, which has no [collectors.wall.psu] and no [[meters]]
    let root = Case::load("rapl-wrap").build_root();
    let out = support::hostwatt()
        .arg("once")
        .arg("--root")
        .arg(root.path())
        .output()
        .expect("run hostwatt once");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let v = |series: &str| {
        support::value(&stdout, series).unwrap_or_else(|| panic!("no {series}\n{stdout}"))
    };
    // the fixture's counters stand still between the two rounds: psys 0 W, plus the 8 W baseline
    // (and whatever disks this host's smartctl reports), through the assumed Bronze 450 W curve
    let dc = v("hostwatt_wall_dc_watts");
    assert_eq!(
        v("hostwatt_rapl_power_watts{zone=\"psys\",id=\"intel-rapl:1\"}"),
        0.0
    );
    let want = hostwatt::estimate::wall::assumed_chain()
        .estimate(dc)
        .wall_watts;
    let estimate = v("hostwatt_wall_power_watts{source=\"estimate\",basis=\"assumed_psu\"}");
    assert!((estimate - want).abs() < 1e-9, "{estimate} vs {want}");
    assert_eq!(
        v("hostwatt_wall_best_power_watts{source=\"estimate\",basis=\"assumed_psu\"}"),
        estimate
    );
    let lower = v("hostwatt_wall_power_band_watts{bound=\"lower\",basis=\"assumed_psu\"}");
    let upper = v("hostwatt_wall_power_band_watts{bound=\"upper\",basis=\"assumed_psu\"}");
    assert!(
        lower < estimate && estimate < upper,
        "{lower} {estimate} {upper}"
    );

    let out = support::hostwatt()
        .arg("check-config")
        .output()
        .expect("run hostwatt check-config");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    let note = stdout
        .lines()
        .find(|l| l.starts_with("# note: wall power is estimated with an assumed PSU"))
        .unwrap_or_else(|| panic!("no assumption note\n{stdout}"));
    assert!(
        note.contains("because [collectors.wall.psu] is not set"),
        "{note}"
    );
}

/// The issue-15 measurement as a deterministic harness: a CPU power profile drives a RAPL
/// counter in a fixture tree; a loopback Shelly Gen2 plug reports the true wall power (the CPU,
/// 11 W of board the config's 8 W baseline misses, optionally a hidden step) through a measured
/// 500 W Gold SFX-L curve, with its energy counter; rounds run at the default intervals (RAPL
/// and meters 15 s, wall 30 s) on a simulated clock.
mod harness {
    use std::path::Path;

    use hostwatt::estimate::psu::Curve;

    use super::*;

    /// The SFX-L's measured points (Cybenetics, issue 15).
    pub const SFX_POINTS: [(f64, f64); 5] = [
        (10.0, 0.62),
        (20.0, 0.74),
        (40.0, 0.83),
        (60.0, 0.86),
        (100.0, 0.89),
    ];
    pub const BOARD_WATTS: f64 = 11.0;

    pub fn curve() -> Curve {
        Curve::new(500.0, &SFX_POINTS).expect("curve")
    }

    /// CPU watts at second `t`: idle plateaus, a 5-second burst, steps, and a periodic 60 W job.
    pub fn cpu(t: u64) -> f64 {
        match t {
            0..120 => 3.0,
            120..300 => 25.0,
            300..305 => 60.0,
            305..420 => 3.0,
            420..600 => 60.0,
            600..900 => {
                if (t / 90).is_multiple_of(2) {
                    10.0
                } else {
                    40.0
                }
            }
            _ if t % 300 < 20 => 60.0,
            _ => 15.0,
        }
    }

    /// A simulated host: RAPL tree, plug state, and the true wall power per second.
    pub struct Sim {
        pub root: tempfile::TempDir,
        /// Hidden DC step: (from second, watts).
        pub step: Option<(u64, f64)>,
        curve: Curve,
        rapl_uj: f64,
        wall_j: f64,
        pub t: u64,
    }

    impl Sim {
        pub fn new(step: Option<(u64, f64)>) -> Self {
            let root = tempfile::tempdir().expect("tempdir");
            let zone = root.path().join("sys/class/powercap/intel-rapl:0");
            std::fs::create_dir_all(&zone).expect("mkdir");
            std::fs::write(zone.join("name"), "package-0\n").expect("name");
            std::fs::write(zone.join("enabled"), "1\n").expect("enabled");
            std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").expect("max");
            let sim = Self {
                root,
                step,
                curve: curve(),
                rapl_uj: 0.0,
                wall_j: 0.0,
                t: 0,
            };
            sim.write_rapl();
            sim
        }

        fn write_rapl(&self) {
            let path = self
                .root
                .path()
                .join("sys/class/powercap/intel-rapl:0/energy_uj");
            std::fs::write(path, format!("{}\n", self.rapl_uj as u64)).expect("energy_uj");
        }

        /// True wall watts during second `t`.
        pub fn wall(&self, t: u64) -> f64 {
            let hidden = self
                .step
                .filter(|(from, _)| t >= *from)
                .map_or(0.0, |s| s.1);
            self.curve.input_watts(cpu(t) + BOARD_WATTS + hidden)
        }

        /// Mean true wall watts over seconds `[from, to)`.
        pub fn wall_mean(&self, from: u64, to: u64) -> f64 {
            (from..to).map(|t| self.wall(t)).sum::<f64>() / (to - from) as f64
        }

        /// Runs the host to second `to`.
        pub fn advance(&mut self, to: u64) {
            while self.t < to {
                self.rapl_uj += cpu(self.t) * 1e6;
                self.wall_j += self.wall(self.t);
                self.t += 1;
            }
            self.write_rapl();
        }

        /// The plug's counter, joules, as its Wh total with 3 decimals reads.
        pub fn plug_joules(&self) -> f64 {
            (self.wall_j / 3.6).round() * 3.6
        }
    }

    #[derive(Default)]
    pub struct Plug {
        pub watts: f64,
        pub joules: f64,
        pub down: bool,
        /// Answers without `aenergy`, as a meter without an energy counter (NUT, IPMI) would.
        pub no_counter: bool,
    }

    async fn status(State(plug): State<Arc<Mutex<Plug>>>) -> axum::response::Response {
        use axum::response::IntoResponse;
        let p = plug.lock().expect("lock");
        if p.down {
            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if p.no_counter {
            return format!(r#"{{"id":0,"output":true,"apower":{:.1}}}"#, p.watts).into_response();
        }
        format!(
            r#"{{"id":0,"source":"init","output":true,"apower":{:.1},"voltage":231.2,"current":0.2,"aenergy":{{"total":{:.3},"by_minute":[0,0,0],"minute_ts":1700000000}},"temperature":{{"tC":30.1,"tF":86.2}}}}"#,
            p.watts,
            p.joules / 3600.0
        )
        .into_response()
    }

    pub async fn plug() -> (Arc<Mutex<Plug>>, std::net::SocketAddr) {
        let plug = Arc::new(Mutex::new(Plug::default()));
        let router = Router::new()
            .route("/rpc/Switch.GetStatus", get(status))
            .with_state(plug.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (plug, addr)
    }

    /// Only RAPL, meters and wall, at their default intervals.
    pub fn app(root: &Path, psu: &str, meter: Option<std::net::SocketAddr>) -> App {
        let mut text = String::new();
        for c in [
            "system", "smart", "zfs", "hwmon", "cpuidle", "cpufreq", "edac", "thermal", "storage",
        ] {
            text.push_str(&format!("[collectors.{c}]\nenabled = false\n"));
        }
        text.push_str(&format!(
            "[collectors.wall]\nbaseline_watts = 8.0\n[collectors.wall.psu]\n{psu}\n"
        ));
        if let Some(addr) = meter {
            text.push_str(&format!(
                "[[meters]]\nname = \"plug\"\nkind = \"shelly\"\nurl = \"http://{addr}\"\ngeneration = \"gen2\"\n"
            ));
        }
        let cfg = config::resolve(
            "harness.toml",
            &text,
            &Overrides {
                root: Some(root.into()),
                state_dir: Some(root.join("state")),
                ..Default::default()
            },
        )
        .expect("config");
        App::new(
            &cfg,
            Context {
                root: cfg.root.clone(),
                runner: Runner::system(),
            },
        )
        .expect("app")
    }
}

/// Within ±2 % or ±1 W, whichever is larger.
fn close(got: f64, truth: f64) -> bool {
    (got - truth).abs() <= (0.02 * truth).max(1.0)
}

#[tokio::test]
async fn calibrated_estimate_follows_the_true_wall_power_at_default_intervals() {
    follows_the_true_wall_power(true).await;
}

#[tokio::test]
async fn without_a_counter_the_calibration_learns_from_readings_around_each_window() {
    follows_the_true_wall_power(false).await;
}

async fn follows_the_true_wall_power(counter: bool) {
    // a hidden 6 W DC step at 20 minutes, a meter outage from 36 to 40 minutes
    let (step_at, outage) = (1200, 2160..2400);
    let mut sim = harness::Sim::new(Some((step_at, 6.0)));
    let (plug, addr) = harness::plug().await;
    plug.lock().expect("lock").no_counter = !counter;
    let mut app = harness::app(
        sim.root.path(),
        "rated_watts = 500\nprofile = \"gold\"",
        Some(addr),
    );
    let t0 = Instant::now();
    let mut first_counter = None;
    let mut best_source_in_outage = Vec::new();
    let (mut worst, mut last_miss) = (0.0f64, None);
    for t in (0..=2700u64).step_by(15) {
        sim.advance(t);
        {
            let mut p = plug.lock().expect("lock");
            p.watts = sim.wall(t.saturating_sub(1));
            p.joules = sim.plug_joules();
            p.down = outage.contains(&t);
        }
        app.sample_due(t0 + Duration::from_secs(t)).await;
        if !t.is_multiple_of(30) {
            continue; // the wall collector runs every 30 s
        }
        let text = hostwatt::metrics::exposition(&app.registry);
        let v = |series: &str| support::value(&text, series);
        if first_counter.is_none() {
            first_counter =
                v("hostwatt_meters_device_energy_joules_total{meter=\"plug\",kind=\"shelly\"}")
                    .map(|j| (t, j));
        }
        if t < 30 {
            continue;
        }
        if let Some(gain) = v("hostwatt_wall_calibration_gain") {
            assert!((0.75..=1.35).contains(&gain), "t={t}: gain {gain}");
        }
        // the estimate averages RAPL's last 15 s: so does the truth it is held to
        let truth = sim.wall_mean(t - 15, t);
        let calibrated = v("hostwatt_wall_power_watts{source=\"calibrated\",basis=\"calibrated\"}");
        if let Some(c) = calibrated {
            let ratio = (c - truth).abs() / truth;
            if !close(c, truth) {
                last_miss = Some(t); // the last round outside ±2 %/1 W
            }
            if (600..step_at).contains(&t) || t >= step_at + 900 {
                worst = worst.max(ratio);
            }
        }
        let settled = (600..step_at).contains(&t) || t >= step_at + 900;
        if settled {
            let c = calibrated.unwrap_or_else(|| panic!("t={t}: no calibrated series\n{text}"));
            assert!(close(c, truth), "t={t}: calibrated {c} W, true {truth} W");
        }
        if outage.contains(&t) {
            let best =
                v("hostwatt_wall_best_power_watts{source=\"calibrated\",basis=\"calibrated\"}");
            best_source_in_outage.push(best.is_some());
            if let Some(b) = best {
                assert!(
                    close(b, truth),
                    "t={t}: best {b} W during the outage, true {truth} W"
                );
            }
        }
    }
    assert!(
        best_source_in_outage.iter().all(|b| *b),
        "the trusted calibrated estimate stands in for the meter: {best_source_in_outage:?}"
    );
    let text = hostwatt::metrics::exposition(&app.registry);
    let v = |series: &str| {
        support::value(&text, series).unwrap_or_else(|| panic!("no {series}\n{text}"))
    };
    assert_eq!(v("hostwatt_wall_calibration_trusted"), 1.0);
    assert_eq!(v("hostwatt_wall_calibration_drifting"), 0.0);
    let err = v("hostwatt_wall_calibration_error_ratio");
    assert!(err < 0.02, "reported error {err}");
    if !counter {
        eprintln!(
            "harness without a counter: worst calibrated error from 10 min on, outside the 15 min after the step: {:.2} %; inside ±2 %/1 W for good {} s after the step; reported error {:.2} %",
            worst * 100.0,
            last_miss.map_or(0, |m: u64| m + 30).saturating_sub(step_at),
            err * 100.0
        );
        return;
    }
    // best energy against the plug's own counter, from the first wall round that saw it
    let (_, first) = first_counter.expect("the counter was seen");
    let counted =
        v("hostwatt_meters_device_energy_joules_total{meter=\"plug\",kind=\"shelly\"}") - first;
    let best = v("hostwatt_wall_energy_joules_total{source=\"best\"}");
    assert!(
        ((best - counted) / counted).abs() < 0.005,
        "best {best} J, plug counted {counted} J"
    );
    // the numbers docs/wall-power.md quotes (cargo test --test integration wall_meter -- --nocapture)
    eprintln!(
        "harness: worst calibrated error from 10 min on, outside the 15 min after the step: {:.2} %; inside ±2 %/1 W for good {} s after the 6 W step; reported error {:.2} %; best energy vs counter {:+.3} %",
        worst * 100.0,
        last_miss.map_or(0, |m: u64| m + 30).saturating_sub(step_at),
        err * 100.0,
        (best - counted) / counted * 100.0
    );
    let plug_energy = v("hostwatt_wall_energy_joules_total{source=\"plug\"}");
    assert!(
        (plug_energy - counted).abs() < 1e-6 * counted,
        "the plug's series is its counter: {plug_energy} vs {counted}"
    );
}

#[tokio::test]
async fn a_meter_that_reads_zero_watts_is_neither_best_nor_learned_from() {
    // the plug answers, but reads 0 W and counts nothing: it switches another outlet
    let mut sim = harness::Sim::new(None);
    let (plug, addr) = harness::plug().await;
    let mut app = harness::app(
        sim.root.path(),
        "rated_watts = 500\nprofile = \"gold\"",
        Some(addr),
    );
    let t0 = Instant::now();
    for t in (0..=600u64).step_by(15) {
        sim.advance(t);
        app.sample_due(t0 + Duration::from_secs(t)).await;
    }
    assert_eq!(plug.lock().expect("lock").watts, 0.0);
    let text = hostwatt::metrics::exposition(&app.registry);
    let v = |series: &str| support::value(&text, series);
    assert_eq!(
        v("hostwatt_meters_up{meter=\"plug\",kind=\"shelly\"}"),
        Some(1.0)
    );
    assert_eq!(
        v("hostwatt_wall_best_power_watts{source=\"plug\",basis=\"measured\"}"),
        None
    );
    let best = v("hostwatt_wall_best_power_watts{source=\"estimate\",basis=\"modelled\"}");
    let truth = sim.wall_mean(585, 600);
    assert!(
        best.is_some_and(|b| (b - truth).abs() < 0.2 * truth),
        "best {best:?} W, true {truth} W"
    );
    assert_eq!(
        v("hostwatt_wall_calibration_samples_total").unwrap_or(0.0),
        0.0
    );
}

#[tokio::test]
async fn without_a_meter_the_band_covers_the_true_wall_power() {
    let mut sim = harness::Sim::new(None);
    let points = harness::SFX_POINTS
        .iter()
        .map(|(w, e)| format!("{{ load_watts = {w}, efficiency = {e} }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut app = harness::app(
        sim.root.path(),
        &format!("rated_watts = 500\npoints = [{points}]"),
        None,
    );
    let t0 = Instant::now();
    let mut checked = 0;
    for t in (0..=1500u64).step_by(15) {
        sim.advance(t);
        app.sample_due(t0 + Duration::from_secs(t)).await;
        if !t.is_multiple_of(30) || t < 30 {
            continue;
        }
        let text = hostwatt::metrics::exposition(&app.registry);
        let v = |series: &str| {
            support::value(&text, series).unwrap_or_else(|| panic!("t={t}: no {series}\n{text}"))
        };
        let truth = sim.wall_mean(t - 15, t);
        let lower = v("hostwatt_wall_power_band_watts{bound=\"lower\",basis=\"modelled\"}");
        let upper = v("hostwatt_wall_power_band_watts{bound=\"upper\",basis=\"modelled\"}");
        assert!(
            lower <= truth && truth <= upper,
            "t={t}: {lower} <= {truth} <= {upper}"
        );
        let estimate = v("hostwatt_wall_best_power_watts{source=\"estimate\",basis=\"modelled\"}");
        assert!(
            estimate < truth,
            "t={t}: the 3 W of unseen board make it read low"
        );
        checked += 1;
    }
    assert_eq!(checked, 50);
}
