//! `hostwatt audit` on the two fixture boxes under tests/advisor/: a golden `--json` report
//! each (UPDATE_GOLDEN=1 rewrites them), and the terminal form's totals.

use std::path::PathBuf;

use crate::support;

fn box_dir(name: &str) -> PathBuf {
    support::manifest_dir().join("tests/advisor").join(name)
}

fn audit(name: &str, json: bool) -> (String, String) {
    let dir = box_dir(name);
    let mut cmd = support::hostwatt();
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--log-level")
        .arg("warn")
        .arg("audit");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run hostwatt");
    let (stdout, stderr) = support::texts(&out);
    assert!(
        out.status.success(),
        "hostwatt audit {name}: {:?}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn golden(name: &str) {
    let (got, _) = audit(name, true);
    let path = box_dir(name).join("expected.json");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &got).expect("write expected.json");
        eprintln!("rewrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\ncreate it: UPDATE_GOLDEN=1 cargo test --test integration advisor",
            path.display()
        )
    });
    assert!(
        got == want,
        "{name}: audit --json differs from expected.json (- expected, + got):\n{}",
        support::diff(&want, &got)
    );
}

#[test]
fn golden_audit_untuned() {
    golden("untuned");
}

#[test]
fn golden_audit_tuned() {
    golden("tuned");
}

#[test]
fn audit_text_has_totals_commands_and_sources() {
    let (text, _) = audit("untuned", false);
    let first = text.lines().next().unwrap();
    // 25 W DC through a 500 W Gold curve: 37.6 W at the wall
    assert_eq!(
        first,
        "measured idle 37.6 W (one sample, not known to be idle), findings worth 25.5-49.3 W at the wall"
    );
    assert!(
        text.contains("[warning] pcie-aspm-off (1.8-4.0 W, high confidence)"),
        "{text}"
    );
    assert!(
        text.contains("fix now: echo powersupersave > /sys/module/pcie_aspm/parameters/policy")
    );
    assert!(text.contains("source:  https://github.com/Dasharo/dasharo-issues/issues/828"));
    assert!(text.contains("pkg_cstates: not measurable on this CPU"));
    let (text, _) = audit("tuned", false);
    assert!(
        text.starts_with(
            "measured idle 22.0 W (one sample, not known to be idle), findings worth 0.0-0.0 W"
        ),
        "{text}"
    );
    assert!(text.contains("no findings"));
}
