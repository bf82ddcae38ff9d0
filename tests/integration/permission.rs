//! EACCES on `energy_uj` (root-only since Linux 5.10, CVE-2020-8694), through the real binary.
//!
//! Root reads a chmod 000 file anyway (CAP_DAC_OVERRIDE), so as root the binary runs under
//! `setpriv` with uid 0 but every capability dropped: the kernel then really denies the read.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{self, Case};

const DENIED: &str = "sys/class/powercap/intel-rapl:0:2/energy_uj";

#[test]
fn unreadable_energy_uj_is_one_failing_zone_with_one_warning() {
    let root = Case::load("rapl-wrap").build_root();
    let file = root.path().join(DENIED);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("rapl-only.toml");
    std::fs::write(&conf, support::config_enabling_only(&["rapl"])).expect("write config");

    let Some(mut cmd) = unprivileged(env!("CARGO_BIN_EXE_hostwatt")) else {
        return;
    };
    // the premise: the same wrapper really denies the read
    let probe = unprivileged("cat")
        .expect("setpriv found above")
        .arg(&file)
        .output()
        .expect("run cat as a probe");
    assert!(
        !probe.status.success(),
        "chmod 000 did not deny the read: {probe:?}"
    );
    let out = cmd
        .env("NO_COLOR", "1")
        .arg("once")
        .arg("--root")
        .arg(root.path())
        .arg("--config")
        .arg(&conf)
        .output()
        .expect("run hostwatt once");
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    support::lint(&stdout, Some(root.path()));

    let dram = "{zone=\"dram\",id=\"intel-rapl:0:2\"}";
    assert_eq!(
        support::value(&stdout, &format!("hostwatt_rapl_zone_readable{dram}")),
        Some(0.0),
        "{stdout}"
    );
    assert_eq!(
        support::value(
            &stdout,
            "hostwatt_collector_item_failing{collector=\"rapl\",item=\"intel-rapl:0:2\",kind=\"permission\"}"
        ),
        Some(1.0),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("hostwatt_rapl_energy_joules_total{dram}")),
        "an unreadable zone has no energy series:\n{stdout}"
    );
    for zone in [
        "{zone=\"package-0\",id=\"intel-rapl:0\"}",
        "{zone=\"core\",id=\"intel-rapl:0:0\"}",
        "{zone=\"psys\",id=\"intel-rapl:1\"}",
    ] {
        assert_eq!(
            support::value(&stdout, &format!("hostwatt_rapl_zone_readable{zone}")),
            Some(1.0)
        );
        assert!(
            support::value(&stdout, &format!("hostwatt_rapl_energy_joules_total{zone}")).is_some(),
            "{zone} still reports energy:\n{stdout}"
        );
    }
    assert_eq!(
        support::value(&stdout, "hostwatt_collector_success{collector=\"rapl\"}"),
        Some(1.0),
        "one unreadable zone does not fail the round"
    );

    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "exactly one warning over two rounds:\n{stderr}"
    );
    let w = warnings[0];
    for want in ["intel-rapl:0:2", "CVE-2020-8694", "root"] {
        assert!(w.contains(want), "warning lacks {want:?}: {w}");
    }
    assert!(
        !stderr.contains(&root.path().display().to_string()),
        "logs name root-relative paths only:\n{stderr}"
    );
}

/// `program` run so that file permissions apply: directly when not root, else under `setpriv`
/// as uid 0 with no capabilities. `None` (skip) when root and setpriv is missing.
fn unprivileged(program: &str) -> Option<Command> {
    if !support::is_root() {
        return Some(Command::new(program));
    }
    let setpriv = support::require_tool("setpriv", "dropping root's capabilities")?;
    let mut cmd = Command::new(setpriv);
    cmd.args([
        "--reuid=0",
        "--regid=0",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ])
    .arg(program);
    Some(cmd)
}
