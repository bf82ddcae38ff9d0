//! One golden `/metrics` per case folder (`tests/cases/<case>/`), in process: no port, no sleep,
//! the two rounds driven by `at`. `UPDATE_GOLDEN=1 cargo test --test integration golden` rewrites
//! the `expected.prom` files; review the diff line by line before committing.
//!
//! Adding a case: create `tests/cases/<case>/` with `README.md` (what it covers, where the data
//! came from), `config.toml` (`[collectors.NAME] enabled = true` for each collector the case
//! exercises; `Case::config_text` turns every other one off), and any of `case.toml`
//! (`tree = "sysfs/..."` under ../shared/fixtures), `root/`, `rounds/1/`, `commands.toml`; add
//! the case to `golden!` below (`-` becomes `_`), then run with `UPDATE_GOLDEN=1`.

use crate::support::{self, Case, WALL_CLOCK};

macro_rules! golden {
    ($($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                check(stringify!($case)).await
            }
        )+
        /// Every case with a test, as folder names.
        const CASES: &[&str] = &[$(stringify!($case)),+];
    };
}

golden!(
    node_exporter,
    kepler,
    firecracker_epyc,
    rapl_wrap,
    hwmon_faults,
    cpuidle_deep,
    cstate_no_pmu,
    edac_ecc,
    smart_mixed,
    zfs_degraded,
    zfs_scrubbing,
    zfs_resilvering,
    nas_smr_pool,
    advisor_untuned,
    advisor_tuned,
    powercap_dtpm
);

/// Asserts the wall-clock families are there before they are stripped: build info, a duration
/// for every enabled collector, and a last-success time for every collector whose last round
/// succeeded with its source present.
fn assert_wall_clock_present(text: &str, collectors: &[&str]) {
    assert!(
        text.contains("\nhostwatt_build_info{version=\""),
        "no hostwatt_build_info:\n{text}"
    );
    for c in collectors {
        let series = |name: &str| format!("{name}{{collector=\"{c}\"}}");
        let has = |name: &str| {
            text.lines()
                .any(|l| l.starts_with(&format!("{} ", series(name))))
        };
        assert!(
            has("hostwatt_collector_duration_seconds"),
            "no duration for {c}"
        );
        let ok = support::value(text, &series("hostwatt_collector_success")) == Some(1.0)
            && support::value(text, &series("hostwatt_collector_available")) == Some(1.0);
        assert_eq!(
            has("hostwatt_collector_last_success_timestamp_seconds"),
            ok,
            "last success time of {c} (success and available: {ok})"
        );
    }
}

async fn check(name: &str) {
    let case = Case::load(name);
    let (app, root) = case.run().await;
    let full = hostwatt::metrics::exposition(&app.registry);
    support::lint(&full, Some(root.path()));
    assert_wall_clock_present(&full, &app.collector_names());
    let got = support::strip_wall_clock(&full);
    assert!(
        WALL_CLOCK.iter().all(|f| !got.contains(f)),
        "strip left a wall-clock family"
    );
    let path = case.dir.join("expected.prom");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("rewrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\ncreate it: UPDATE_GOLDEN=1 cargo test --test integration golden",
            path.display()
        )
    });
    assert!(
        got == want,
        "{}: /metrics differs from expected.prom (- expected, + got):\n{}\n\
         if intended: UPDATE_GOLDEN=1 cargo test --test integration golden, then review git diff",
        case.name,
        support::diff(&want, &got)
    );
}

#[test]
fn every_case_folder_has_a_golden_test() {
    let listed: Vec<String> = CASES.iter().map(|c| c.replace('_', "-")).collect();
    let missing: Vec<String> = support::case_names()
        .into_iter()
        .filter(|c| !listed.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "case folders without a golden! entry in tests/integration/golden.rs: {missing:?}"
    );
    for case in support::case_names() {
        for file in ["README.md", "config.toml"] {
            let path = support::cases_dir().join(&case).join(file);
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}

#[test]
fn diff_shows_changed_lines_with_context() {
    let want = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
    let got = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
    assert_eq!(
        support::diff(want, got),
        "   ...\n   b\n   c\n   d\n-  e\n+  E\n   f\n   g\n   h\n   i\n+  j\n"
    );
}

#[test]
fn lint_reports_each_broken_convention() {
    let text = "# HELP hostwatt_x_total X\n# TYPE hostwatt_x_total counter\n\
                hostwatt_x_total{path=\"/tmp/r00t/sys\"} 1\nhostwatt_x_total{path=\"/tmp/r00t/sys\"} 2\n\
                # HELP hostwatt_y Y\n# TYPE hostwatt_y counter\nhostwatt_y NaN\nother_z 1\n";
    let err =
        std::panic::catch_unwind(|| support::lint(text, Some(std::path::Path::new("/tmp/r00t"))))
            .expect_err("lint must fail");
    let msg = err.downcast_ref::<String>().expect("panic message").clone();
    for want in [
        "line 3: contains the root path /tmp/r00t",
        "line 4: duplicate series hostwatt_x_total{path=\"/tmp/r00t/sys\"}",
        "line 6: counter hostwatt_y does not end in _total",
        "line 7: NaN in hostwatt_y",
        "line 8: other_z lacks the hostwatt_ prefix",
        "line 8: sample of other_z without HELP/TYPE",
    ] {
        assert!(msg.contains(want), "lint output lacks {want:?}:\n{msg}");
    }
}
