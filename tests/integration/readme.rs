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

/// The ```` ```sh runnable ```` blocks of README.md and docs/*.md: (file, line, script).
fn runnable_blocks() -> Vec<(String, usize, String)> {
    let root = support::manifest_dir();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        let mut open: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            match &mut open {
                None if t == "```sh runnable" => open = Some((i + 1, String::new())),
                Some((at, script)) if t == "```" => {
                    blocks.push((name.clone(), *at, std::mem::take(script)));
                    open = None;
                }
                Some((_, script)) => {
                    script.push_str(t);
                    script.push('\n');
                }
                None => {}
            }
        }
    }
    blocks
}

/// Every block marked runnable runs, from the checkout, with this build's `hostwatt` first on
/// PATH, and exits 0 under `set -euo pipefail`. A block whose program is missing is SKIPPED
/// (a failure under HOSTWATT_REQUIRE_TOOLS=1).
#[test]
fn every_runnable_docs_command_runs() {
    let blocks = runnable_blocks();
    let names: Vec<String> = blocks.iter().map(|(f, l, _)| format!("{f}:{l}")).collect();
    // README's root example, install.md's bcrypt line, systemd.md's offline security check
    assert!(blocks.len() >= 3, "{names:?}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_hostwatt"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    'block: for (file, line, script) in blocks {
        for program in script
            .lines()
            .flat_map(|l| l.split('|'))
            .filter_map(|seg| seg.split_whitespace().next())
        {
            let builtin = ["printf", "echo", "cd", "export", "test"].contains(&program);
            let found = std::env::split_paths(&path).any(|d| d.join(program).is_file());
            if !builtin && !found {
                support::skipped(
                    &format!("the docs command at {file}:{line}"),
                    &format!("{program} not found on PATH"),
                    "run scripts/install-test-deps (as root) to install it",
                );
                continue 'block;
            }
        }
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(support::manifest_dir())
            .env("PATH", &path)
            .output()
            .expect("bash");
        let (stdout, stderr) = support::texts(&out);
        assert!(
            out.status.success(),
            "{file}:{line} failed ({}):\n{script}\n{stdout}{stderr}",
            out.status
        );
        assert!(
            !stdout.trim().is_empty(),
            "{file}:{line} printed nothing:\n{script}"
        );
    }
}

/// The docs' examples name alerts that exist, and the RAPL alert's advice is docs/systemd.md's.
#[test]
fn docs_name_real_alerts_and_give_the_systemd_md_fix() {
    let rules = hostwatt::alerts::rules::builtin();
    let example = hostwatt::config::EMBEDDED;
    let named: Vec<&str> = example
        .split("\"name\": \"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .collect();
    assert!(!named.is_empty(), "the webhook example names no alert");
    for name in named {
        assert!(
            rules.iter().any(|r| r.name == name),
            "the example config's webhook body names {name:?}, which is no built-in rule"
        );
    }
    let rapl = rules
        .iter()
        .find(|r| r.name == "RaplUnreadable")
        .expect("RaplUnreadable");
    let systemd_md = std::fs::read_to_string(support::manifest_dir().join("docs/systemd.md"))
        .expect("docs/systemd.md");
    let rapl_row = systemd_md
        .lines()
        .find(|l| l.starts_with("| RAPL"))
        .expect("systemd.md's RAPL row");
    assert!(rapl_row.contains("CAP_DAC_READ_SEARCH"), "{rapl_row}");
    assert!(
        rapl.description.contains("CAP_DAC_READ_SEARCH")
            && rapl.description.contains("docs/systemd.md")
            && !rapl.description.contains("group-readable"),
        "RaplUnreadable's advice differs from docs/systemd.md: {}",
        rapl.description
    );
}

/// Every flag `hostwatt --help` lists is in the README's "Command line" section: the section a
/// newcomer reads lacked `--shared-fixtures`, which its own replay example needs.
#[test]
fn readme_command_line_section_names_every_flag() {
    let out = support::hostwatt()
        .arg("--help")
        .output()
        .expect("hostwatt --help");
    let (help, _) = support::texts(&out);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(','))
        .filter(|w| !matches!(*w, "--help" | "--version"))
        .collect();
    assert!(flags.len() >= 8, "{help}");
    let readme = std::fs::read_to_string(support::manifest_dir().join("README.md")).unwrap();
    let section = readme
        .split_once("\n## Command line\n")
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .expect("README.md has a Command line section");
    for flag in flags {
        assert!(
            section.contains(&format!("\n{flag} ")),
            "README.md's Command line section lacks {flag}"
        );
    }
}
