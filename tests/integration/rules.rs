//! `hostwatt rules`: the generated Prometheus rules pass `promtool check rules` and the rules
//! unit tests in `tests/rules/hostwatt_test.yml`, follow the config, and read only metrics
//! hostwatt exports.

use std::path::Path;

use crate::support;

/// `hostwatt rules` on `config`, as text.
fn generate(config: &Path) -> String {
    let out = support::hostwatt()
        .arg("rules")
        .arg("--config")
        .arg(config)
        .output()
        .expect("run hostwatt rules");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "hostwatt rules failed: {stderr}");
    stdout
}

/// Runs promtool with `args` in `dir`: (success, everything it printed).
fn promtool(promtool: &Path, dir: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let (o, e) = support::texts(&out);
    (out.status.success(), format!("{o}{e}"))
}

#[test]
fn generated_rules_pass_promtool_check_and_unit_tests() {
    let Some(tool) = support::require_tool("promtool", "checking the generated alerting rules")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = generate(&support::manifest_dir().join("config/hostwatt.example.toml"));
    std::fs::write(dir.path().join("hostwatt.rules.yml"), &rules).expect("write rules");
    let test_file = support::manifest_dir().join("tests/rules/hostwatt_test.yml");
    std::fs::copy(&test_file, dir.path().join("hostwatt_test.yml")).expect("copy rules test");

    let (ok, printed) = promtool(&tool, dir.path(), &["check", "rules", "hostwatt.rules.yml"]);
    let count = hostwatt::alerts::rules::builtin().len();
    assert!(
        ok && printed.contains(&format!("SUCCESS: {count} rules found")),
        "promtool check rules:\n{printed}\n{rules}"
    );
    let (ok, printed) = promtool(&tool, dir.path(), &["test", "rules", "hostwatt_test.yml"]);
    assert!(
        ok,
        "promtool test rules {}:\n{printed}",
        test_file.display()
    );
}

#[test]
fn generated_rules_follow_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hostwatt.toml");
    std::fs::write(
        &config,
        "[alerts.rules.ZfsPoolCapacityHigh]\nthreshold = 0.7\nfor = \"1h\"\nseverity = \"critical\"\n\n\
         [alerts.rules.RaplUnreadable]\nenabled = false\n",
    )
    .expect("write config");
    let rules = generate(&config);
    let block = rules
        .split("      - alert: ")
        .find(|b| b.starts_with("ZfsPoolCapacityHigh\n"))
        .unwrap_or_else(|| panic!("no ZfsPoolCapacityHigh in\n{rules}"));
    assert!(
        block.contains("expr: \"hostwatt_zfs_pool_capacity_ratio > 0.7 or (hostwatt_zfs_pool_capacity_ratio > 0.68 and "),
        "{block}"
    );
    assert!(block.contains("for: 1h\n"), "{block}");
    assert!(block.contains("severity: critical\n"), "{block}");
    assert!(
        !rules.contains("RaplUnreadable"),
        "a disabled rule is left out"
    );
    assert!(rules.contains("      - alert: ZfsPoolCapacityCritical\n"));

    std::fs::write(&config, "[alerts.rules.ZfsPoolFull]\nenabled = false\n").expect("write");
    let out = support::hostwatt()
        .arg("rules")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run hostwatt rules");
    let (_, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(":1: alerts.rules.ZfsPoolFull: unknown rule; known rules: "),
        "{stderr}"
    );
}

/// Template placeholders that are not labels (`alerts::book::fill`, `alerts::promql::template`).
const NOT_LABELS: &[&str] = &[
    "value",
    "value:percent",
    "value:duration",
    "threshold",
    "advice",
];

/// Every rule reads families hostwatt exports, matches only labels they have, and its summary
/// and description name only labels the alert carries (`{disk}`, `{program}`): a renamed family or label fails
/// here, not in a silent rule.
#[test]
fn rules_read_only_exported_metrics_and_labels() {
    use hostwatt::alerts::rules::{Expr, Selector};
    let families = hostwatt::cli::all_families().expect("families");
    let labels_of = |metric: &str| {
        families
            .iter()
            .find(|f| f.name == metric)
            .map(|f| f.labels.to_vec())
    };
    let mut wrong = Vec::new();
    for rule in hostwatt::alerts::rules::builtin() {
        // the alert carries the (left) selector's labels
        let (carried, read): (&Selector, Vec<&Selector>) = match &rule.expr {
            Expr::Compare(s, _) | Expr::Age(s) | Expr::Increased(s) => (s, vec![s]),
            Expr::Both(l, _, r, _) => (l, vec![l, r]),
        };
        for s in read {
            let Some(labels) = labels_of(s.metric) else {
                wrong.push(format!("{}: unknown metric {}", rule.name, s.metric));
                continue;
            };
            for (label, _) in s.matchers {
                if !labels.contains(label) {
                    wrong.push(format!("{}: {} has no label {label}", rule.name, s.metric));
                }
            }
        }
        let carried_labels = labels_of(carried.metric).unwrap_or_default();
        let text = format!("{} {}", rule.summary, rule.description);
        let placeholders = text
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name));
        for name in placeholders.filter(|n| !NOT_LABELS.contains(n)) {
            if !carried_labels.contains(&name) {
                let m = carried.metric;
                wrong.push(format!("{}: {{{name}}} is not a label of {m}", rule.name));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rules that read what hostwatt does not export: {wrong:?}"
    );
}
