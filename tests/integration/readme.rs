//! The README's metrics table is `hostwatt list-metrics`, verbatim.

use crate::support;

const BEGIN: &str = "<!-- metrics:begin -->\n";
const END: &str = "<!-- metrics:end -->";

#[test]
fn readme_metrics_table_matches_list_metrics() {
    let table = support::list_metrics_table();
    let path = support::manifest_dir().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let inside = readme
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(inside, _)| inside)
        .unwrap_or_else(|| panic!("README.md lacks {BEGIN:?} ... {END:?}"));
    assert!(
        inside == table,
        "README.md metrics table is stale (- README, + list-metrics):\n{}\n\
         regenerate: replace the lines between the markers with `cargo run -q -- list-metrics`",
        support::diff(inside, &table)
    );
}
