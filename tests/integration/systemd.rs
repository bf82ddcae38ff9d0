//! `systemd/hostwatt.service` under the real `systemd-analyze`: `verify` prints nothing, the
//! offline `security` exposure stays at or under 2.6, and every check the unit fails is explained
//! in `docs/systemd.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

/// The exposure the unit must not exceed (systemd-analyze's 0-10 scale; 2.6 is well inside "OK").
const MAX_EXPOSURE: f64 = 2.6;
const EXEC_START: &str = "ExecStart=/usr/bin/hostwatt run --config /etc/hostwatt/hostwatt.toml";

fn unit_path() -> PathBuf {
    support::manifest_dir().join("systemd/hostwatt.service")
}

fn analyze(args: &[&str], unit: &Path) -> (bool, String, String) {
    let tool = support::require_tool("systemd-analyze", "checking the systemd unit")
        .expect("checked by the caller");
    let out = Command::new(tool)
        .args(args)
        .arg(unit)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .expect("run systemd-analyze");
    let (stdout, stderr) = support::texts(&out);
    (out.status.success(), stdout, stderr)
}

fn have_analyze() -> bool {
    support::require_tool("systemd-analyze", "checking the systemd unit").is_some()
}

/// The unit with `/usr/bin/hostwatt` replaced by the binary under test: `verify` checks that
/// the ExecStart= program exists, and nothing is installed in /usr/bin here.
fn unit_with_built_binary(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(unit_path()).expect("systemd/hostwatt.service");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("ExecStart="))
            .collect::<Vec<_>>(),
        [EXEC_START],
        "the packaged unit runs the packaged binary with the packaged config"
    );
    let built = text.replace(
        "ExecStart=/usr/bin/hostwatt",
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_hostwatt")),
    );
    let path = dir.join("hostwatt.service");
    std::fs::write(&path, built).expect("write unit copy");
    path
}

#[test]
fn unit_verifies_without_a_word() {
    if !have_analyze() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let (ok, stdout, stderr) = analyze(&["verify"], &unit);
    // verify exits 0 on unknown keys and unparsable values: it only warns, so silence is the check
    assert!(
        ok && stdout.is_empty() && stderr.is_empty(),
        "systemd-analyze verify {}:\n{stdout}{stderr}",
        unit.display()
    );
}

#[test]
fn verify_flags_a_bad_directive() {
    // keeps the test above honest: a silent verify is one that would have spoken
    if !have_analyze() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let text = std::fs::read_to_string(&unit).expect("unit copy");
    std::fs::write(
        &unit,
        text.replace("ProtectSystem=strict", "ProtectSystem=stricter"),
    )
    .expect("write");
    let (_, stdout, stderr) = analyze(&["verify"], &unit);
    assert!(
        format!("{stdout}{stderr}").contains("stricter"),
        "verify said: {stdout}{stderr}"
    );
}

/// `(overall exposure, names of the failed checks)` from `systemd-analyze security` output.
fn parse_security(text: &str) -> (f64, Vec<String>) {
    let overall = text
        .lines()
        .find_map(|l| l.strip_prefix("→ Overall exposure level for hostwatt.service: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    let failed = text
        .lines()
        .filter_map(|l| l.strip_prefix("✗ "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    (overall, failed)
}

#[test]
fn unit_exposure_is_at_most_2_6_and_every_relaxation_is_documented() {
    if !have_analyze() {
        return;
    }
    let (_, stdout, stderr) = analyze(&["security", "--offline=true"], &unit_path());
    assert!(
        stderr.is_empty(),
        "systemd-analyze security warned:\n{stderr}"
    );
    let (exposure, failed) = parse_security(&stdout);
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}:\n{stdout}"
    );
    assert!(
        stdout.contains("✓ User=/DynamicUser=") && stdout.contains("✓ NoNewPrivileges="),
        "the daemon runs as its own non-root user with no new privileges:\n{stdout}"
    );
    assert!(!failed.is_empty(), "no failed check parsed from:\n{stdout}");
    let doc_path = support::manifest_dir().join("docs/systemd.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/systemd.md");
    let undocumented: Vec<&String> = failed
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/systemd.md does not explain these relaxed checks: {undocumented:?}"
    );
}

#[test]
fn parses_security_output() {
    let text = "  NAME  DESCRIPTION  EXPOSURE\n\
                ✓ PrivateTmp=   Service has no access   \n\
                ✗ PrivateNetwork=   Service has access to the host's network   0.5\n\
                \n→ Overall exposure level for hostwatt.service: 2.1 OK 🙂\n";
    assert_eq!(
        parse_security(text),
        (2.1, vec!["PrivateNetwork=".to_owned()])
    );
}
