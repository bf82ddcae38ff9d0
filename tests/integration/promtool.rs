//! `promtool check metrics` prints nothing for every golden: the real Prometheus linter, on
//! top of our own lint (`support::lint`).

use crate::support;

#[test]
fn promtool_accepts_every_golden() {
    let Some(promtool) = support::require_tool("promtool", "checking every expected.prom") else {
        return;
    };
    let mut checked = 0;
    for case in support::case_names() {
        let path = support::cases_dir().join(&case).join("expected.prom");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (ok, printed) = support::promtool_check(&promtool, &text);
        assert!(
            ok && printed.is_empty(),
            "promtool check metrics < {}:\n{printed}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "no golden cases found");
}

#[test]
fn promtool_flags_a_counter_without_total() {
    // keeps the test above honest: a silent promtool is one that would have spoken
    let Some(promtool) = support::require_tool("promtool", "checking its own lint") else {
        return;
    };
    let (_, printed) = support::promtool_check(
        &promtool,
        "# HELP hostwatt_x_joules X\n# TYPE hostwatt_x_joules counter\nhostwatt_x_joules 1\n",
    );
    assert!(printed.contains("_total"), "promtool said: {printed:?}");
}
