//! `grafana/hostwatt.json`: valid JSON, unique panel ids, a grid without overlaps, every query
//! through the templated data source and filtered by `$instance`, every label it matches, groups
//! by or shows a label of the families it reads, and every `hostwatt_*` name it
//! queries listed by `hostwatt list-metrics` and present in some golden `expected.prom`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use crate::support;

/// Families the dashboard queries that come from branches not merged yet. The test fails once
/// one of them is listed by `hostwatt list-metrics`: then it moves out of here.
const AWAITING_MERGE: &[&str] = &[];

/// Families that `list-metrics` knows but no golden case can produce: the test fails once a golden
/// has one of them. The system collector reads the live host only (goldens disable it), and idle
/// power is learned over many idle rounds, not a case's two.
const NOT_IN_GOLDENS: &[&str] = &[
    "hostwatt_system_cpu_busy_ratio",
    "hostwatt_wall_idle_power_watts",
    "hostwatt_wall_idle_cost_per_year",
];

fn dashboard() -> Value {
    let path = support::manifest_dir().join("grafana/hostwatt.json");
    let text = std::fs::read_to_string(&path).expect("grafana/hostwatt.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested panels included.
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

fn exprs(dash: &Value) -> Vec<(String, String)> {
    panels(dash)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or("").to_owned()))
        })
        .collect()
}

/// Each `hostwatt_*` metric name in a PromQL expression, with the selector text that follows it.
fn selectors(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("hostwatt_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let after = &tail[end..];
        let matchers = match after.strip_prefix('{') {
            Some(m) => m.split('}').next().unwrap_or("").to_owned(),
            None => String::new(),
        };
        out.push((name.to_owned(), matchers));
        rest = &tail[end..];
    }
    out
}

fn list_metrics() -> BTreeSet<String> {
    support::list_metrics_table()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

fn golden_names() -> HashSet<String> {
    let mut names = HashSet::new();
    for case in support::case_names() {
        let path = support::cases_dir().join(&case).join("expected.prom");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            if let Some(name) = line.split_whitespace().nth(2) {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn dashboard_panels_have_unique_ids_and_a_clean_grid() {
    let dash = dashboard();
    assert_eq!(dash["schemaVersion"], 39);
    assert_eq!(dash["uid"], "hostwatt");
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["DS_PROMETHEUS", "instance"]);
    let mut ids = HashSet::new();
    let mut cells: HashSet<(u64, u64)> = HashSet::new();
    for p in panels(&dash) {
        let title = p["title"].as_str().expect("every panel has a title");
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: duplicate panel id {id}");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{title} overlaps another panel at {cx},{cy}"
                );
            }
        }
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            assert!(
                p["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{title}: no query"
            );
            assert!(
                p["description"].as_str().is_some_and(|d| d.len() > 20),
                "{title}: say what the panel shows"
            );
        }
    }
    assert!(ids.len() > 20, "only {} panels", ids.len());
}

#[test]
fn every_query_is_filtered_by_the_instance_variable() {
    for (title, expr) in exprs(&dashboard()) {
        let found = selectors(&expr);
        assert!(
            !found.is_empty(),
            "{title}: {expr} queries no hostwatt metric"
        );
        for (name, matchers) in found {
            assert!(
                matchers.contains("instance=~\"$instance\""),
                "{title}: {name} is not filtered by instance=~\"$instance\" in {expr}"
            );
        }
    }
}

#[test]
fn every_dashboard_metric_exists() {
    let listed = list_metrics();
    let goldens = golden_names();
    let queried: BTreeSet<String> = exprs(&dashboard())
        .iter()
        .flat_map(|(_, e)| selectors(e))
        .map(|(name, _)| name)
        .collect();
    for wanted in [
        "hostwatt_wall_best_power_watts",
        "hostwatt_wall_component_watts",
        "hostwatt_wall_idle_cost_per_year",
        "hostwatt_cpuidle_state_residency_ratio",
        "hostwatt_smart_power_mode",
        "hostwatt_zfs_pool_capacity_ratio",
        "hostwatt_alerts_firing",
        "hostwatt_collector_success",
    ] {
        assert!(queried.contains(wanted), "the dashboard lost {wanted}");
    }
    for name in AWAITING_MERGE {
        assert!(
            !listed.contains(*name),
            "{name} is listed by list-metrics now: remove it from AWAITING_MERGE"
        );
    }
    for name in NOT_IN_GOLDENS {
        assert!(
            !goldens.contains(*name),
            "{name} is in a golden now: remove it from NOT_IN_GOLDENS"
        );
    }
    let unknown: Vec<&String> = queried
        .iter()
        .filter(|n| !listed.contains(*n) && !AWAITING_MERGE.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries families hostwatt does not have: {unknown:?}"
    );
    let unseen: Vec<&String> = queried
        .iter()
        .filter(|n| listed.contains(*n))
        .filter(|n| !goldens.contains(*n) && !NOT_IN_GOLDENS.contains(&n.as_str()))
        .collect();
    assert!(
        unseen.is_empty(),
        "queried families that no golden expected.prom contains: {unseen:?}"
    );
}

/// Each family's label names from `hostwatt list-metrics`, with the `instance` and `job` labels
/// Prometheus adds at scrape.
fn labels_by_family() -> BTreeMap<String, BTreeSet<String>> {
    support::list_metrics_table()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once("` | ")?;
            let labels = rest.split(" | ").nth(1)?;
            let mut set: BTreeSet<String> = labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            set.extend(["instance".to_owned(), "job".to_owned()]);
            Some((name.to_owned(), set))
        })
        .collect()
}

/// The label names a selector's matchers test: `a="x", b=~"y"` gives `a`, `b`.
fn matcher_labels(matchers: &str) -> Vec<String> {
    matchers
        .split(',')
        .filter_map(|m| {
            let name: String = m
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// A renamed label (`state`, `outcome`, `disk`) leaves the metric name valid and the panel
/// empty: every matcher, `by (...)` label and `{{label}}` of a legend must be a label of a family
/// the query reads.
#[test]
fn every_dashboard_label_is_a_label_of_its_families() {
    let labels = labels_by_family();
    let mut wrong = Vec::new();
    for p in panels(&dashboard()) {
        let title = p["title"].as_str().unwrap_or("?");
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or("");
            let found = selectors(expr);
            let mut read = BTreeSet::new();
            for (name, matchers) in &found {
                let Some(have) = labels.get(name) else {
                    continue; // every_dashboard_metric_exists reports it
                };
                read.extend(have.iter().cloned());
                for l in matcher_labels(matchers) {
                    if !have.contains(&l) {
                        wrong.push(format!("{title}: {name} has no label {l}"));
                    }
                }
            }
            let grouped = expr
                .replace(" by(", " by (")
                .split(" by (")
                .skip(1)
                .filter_map(|g| g.split_once(')').map(|(inside, _)| inside))
                .flat_map(|inside| inside.split(',').map(|l| l.trim().to_owned()))
                .collect::<Vec<_>>();
            let legend = t["legendFormat"].as_str().unwrap_or("");
            let shown = legend.split("{{").skip(1).filter_map(|l| {
                l.split_once("}}")
                    .map(|(inside, _)| inside.trim().to_owned())
            });
            for l in grouped.into_iter().chain(shown).filter(|l| !l.is_empty()) {
                if !read.contains(&l) && !expr.contains(&format!("\"{l}\"")) {
                    wrong.push(format!("{title}: {l} is not a label of what {expr} reads"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn matcher_labels_reads_each_matcher() {
    assert_eq!(
        matcher_labels("instance=~\"$instance\", state = \"standby\",outcome!=\"ok\""),
        ["instance", "state", "outcome"]
    );
}

#[test]
fn finds_selectors_in_promql() {
    assert_eq!(
        selectors("time() - hostwatt_a_seconds{instance=~\"$instance\"} / hostwatt_b"),
        [
            (
                "hostwatt_a_seconds".to_owned(),
                "instance=~\"$instance\"".to_owned()
            ),
            ("hostwatt_b".to_owned(), String::new()),
        ]
    );
}

#[test]
fn every_query_is_valid_promql() {
    // promtool has no "check this expression"; a rules file of recording rules gets every
    // expression through the real PromQL parser
    let Some(promtool) = support::require_tool("promtool", "parsing the dashboard's PromQL") else {
        return;
    };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs(&dashboard()).iter().enumerate() {
        let expr = expr
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m");
        let quoted = serde_json::to_string(&expr).expect("a string serialises");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard.rules.yml");
    std::fs::write(&path, &rules).expect("write rules");
    let out = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("run promtool check rules");
    let (stdout, stderr) = support::texts(&out);
    assert!(
        out.status.success(),
        "promtool check rules on the dashboard's queries:\n{stdout}{stderr}\n{rules}"
    );
}
