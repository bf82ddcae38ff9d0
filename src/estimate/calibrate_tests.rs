use super::*;

/// Deterministic noise in [-1, 1) (xorshift), so the test is repeatable.
fn noise(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn pair(estimate: f64, measured: f64) -> Pair {
    Pair {
        estimate,
        measured,
        seconds: 30.0,
        steady: true,
        exact: true,
    }
}

#[test]
fn converges_on_a_synthetic_trace_with_known_offset_and_noise() {
    // The true box: 8 W the model does not see, and a PSU 4 % worse than its curve says.
    let (true_offset, true_gain) = (8.0, 1.04);
    let mut cal = Calibration::default();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..3000 {
        // a NAS: mostly idle around 30 W, sometimes busy up to 120 W
        let estimate = if i % 10 < 7 {
            30.0 + 5.0 * noise(&mut rng)
        } else {
            75.0 + 45.0 * noise(&mut rng)
        };
        let measured = true_offset + true_gain * estimate + 0.5 * noise(&mut rng);
        cal.observe(pair(estimate, measured));
    }
    let [offset, gain] = cal.theta;
    assert!((offset - true_offset).abs() < 0.5, "offset {offset}");
    assert!((gain - true_gain).abs() < 0.01, "gain {gain}");
    let mae = cal.mae_watts.unwrap();
    assert!(
        mae < 0.5,
        "mae {mae}: noise is uniform ±0.5 W, so the mean error is about 0.25 W"
    );
    assert!(cal.trusted());
    assert_eq!(cal.held_back, 3000 / HOLD_BACK);
    assert_eq!(cal.samples, 3000 - 3000 / HOLD_BACK);
}

#[test]
fn uncalibrated_is_the_identity() {
    let cal = Calibration::default();
    assert_eq!(cal.apply(42.0), 42.0);
    assert!(!cal.trusted());
}

#[test]
fn one_burst_cannot_drive_the_gain_out_of_its_bounds() {
    // issue 15: one 60 W job paired with an idle meter reading gave a negative gain
    let mut cal = Calibration::default();
    cal.observe(pair(25.0, 30.0));
    cal.observe(pair(75.0, 4.0));
    cal.observe(pair(25.0, 200.0));
    for _ in 0..50 {
        cal.observe(pair(75.0, 0.0));
    }
    let [offset, gain] = cal.theta;
    assert!((GAIN.0..=GAIN.1).contains(&gain), "gain {gain}");
    assert!(
        (OFFSET_WATTS.0..=OFFSET_WATTS.1).contains(&offset),
        "offset {offset}"
    );
}

#[test]
fn unsteady_pairs_are_not_learned() {
    let mut cal = Calibration::default();
    let used = cal.observe(Pair {
        steady: false,
        ..pair(40.0, 60.0)
    });
    assert_eq!(used, Use::Skipped);
    assert_eq!(cal.theta, [0.0, 1.0]);
    assert_eq!(cal.mae_watts, Some(20.0), "the error still counts");
}

#[test]
fn a_calibration_worse_than_none_is_not_trusted() {
    let mut cal = Calibration {
        theta: [10.0, 1.0],
        p: [[1e-6, 0.0], [0.0, 1e-9]], // certain of a wrong offset
        ..Calibration::default()
    };
    for _ in 0..4 * HOLD_BACK {
        cal.observe(pair(30.0, 30.0));
    }
    assert_eq!(cal.held_back, 4);
    assert!(!cal.trusted(), "{cal:?}");
}

#[test]
fn follows_a_hidden_step_within_minutes_and_flags_long_disagreement() {
    let mut cal = Calibration::default();
    for i in 0..200u32 {
        let e = if i.is_multiple_of(2) { 30.0 } else { 70.0 };
        cal.observe(pair(e, 4.0 + 1.02 * e));
    }
    // +6 W DC behind the PSU: about +7 W at the wall, at every load
    let mut caught_up = None;
    for i in 0..40u32 {
        let e = if i.is_multiple_of(2) { 30.0 } else { 70.0 };
        let truth = 11.0 + 1.02 * e;
        cal.observe(pair(e, truth));
        if caught_up.is_none() && (cal.apply(e) - truth).abs() < 1.0 {
            caught_up = Some(i);
        }
    }
    let rounds = caught_up.expect("never caught up");
    assert!(rounds * 30 <= 600, "caught up after {rounds} pairs of 30 s");
    assert!(!cal.drifting());
    // a meter that reads 20 W more for good, while the model cannot follow (outside bounds)
    let mut cal = Calibration::default();
    for _ in 0..30 {
        cal.observe(Pair {
            steady: false,
            ..pair(30.0, 90.0)
        });
    }
    assert!(cal.drifting(), "{}", cal.disagree_seconds);
}

#[test]
fn constant_load_does_not_wind_up() {
    let mut cal = Calibration::default();
    for _ in 0..100_000 {
        cal.observe(pair(30.0, 38.0));
    }
    assert!(cal.p[1][1] <= 0.01 + 1e-12, "gain variance {:?}", cal.p);
    assert!((cal.apply(30.0) - 38.0).abs() < 0.05);
}

#[test]
fn reads_the_state_of_an_older_version() {
    let old = r#"{"theta":[3.0,1.1],"p":[[1.0,0.0],[0.0,0.001]],"samples":12,"mae_watts":0.4,"mae_ratio":0.01}"#;
    let cal: Calibration = serde_json::from_str(old).unwrap();
    assert_eq!((cal.theta, cal.samples, cal.held_back), ([3.0, 1.1], 12, 0));
    assert!(!cal.trusted(), "not validated yet");
}
