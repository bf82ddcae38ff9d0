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

async fn switch_status(State(watts): State<Arc<Mutex<f64>>>) -> String {
    let w = *watts.lock().expect("lock");
    format!(
        r#"{{"id":0,"source":"init","output":true,"apower":{w},"voltage":231.2,"current":0.2,"aenergy":{{"total":1234.5,"by_minute":[0,0,0],"minute_ts":1700000000}},"temperature":{{"tC":30.1,"tF":86.2}}}}"#
    )
}

#[tokio::test]
async fn calibrates_the_estimate_against_a_shelly_plug() {
    let watts = Arc::new(Mutex::new(0.0));
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
        *watts.lock().expect("lock") = 60.0 + (i % 7) as f64 * 0.1;
        app.sample_all(t0 + Duration::from_secs(30 * i)).await;
    }
    let text = hostwatt::metrics::exposition(&app.registry);
    let v = |series: &str| {
        support::value(&text, series).unwrap_or_else(|| panic!("no {series}\n{text}"))
    };
    assert_eq!(v("hostwatt_meter_up{meter=\"plug\",kind=\"shelly\"}"), 1.0);
    assert_eq!(
        v("hostwatt_wall_best_power_watts{source=\"plug\",basis=\"measured\"}"),
        60.0 + (399 % 7) as f64 * 0.1
    );
    assert_eq!(v("hostwatt_wall_calibration_samples_total"), 400.0);
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
