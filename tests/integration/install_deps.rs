//! scripts/install-test-deps decides against fake dpkg status files (`DPKG_STATUS`, `--dry-run`:
//! nothing is installed) and refuses saved `apt-get -s` output that removes a package: the
//! checks that keep the test command from replacing a NAS's OpenZFS with zfs-fuse.

#![allow(clippy::unwrap_used)] // helpers of a test module

use std::process::{Command, Output};

use crate::support;

fn script(status: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("status");
    std::fs::write(&file, status).unwrap();
    Command::new(support::manifest_dir().join("scripts/install-test-deps"))
        .args(args)
        .env("DPKG_STATUS", &file)
        .env_remove("HOSTWATT_INSTALL_LOG")
        .output()
        .unwrap()
}

/// The packages of the `would install:` line.
fn would_install(out: &Output) -> Vec<String> {
    let (stdout, stderr) = support::texts(out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("install-test-deps: would install: "))
        .unwrap_or_else(|| panic!("no plan in {stdout}"));
    line.split(' ').map(str::to_owned).collect()
}

const OPENZFS: &str = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\n\n\
    Package: zfsutils-linux\nStatus: install ok installed\nVersion: 2.1.11-1+deb12u1\n";
const NO_ZFS: &str = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\n\n\
    Package: zfsutils-linux\nStatus: deinstall ok config-files\nVersion: 2.1.11-1+deb12u1\n";

#[test]
fn host_with_openzfs_gets_no_zfs_fuse() {
    let out = script(OPENZFS, &["--dry-run"]);
    let plan = would_install(&out);
    assert!(!plan.iter().any(|p| p == "zfs-fuse"), "{plan:?}");
    let (stdout, _) = support::texts(&out);
    assert!(
        stdout.contains("zfs: zfsutils-linux is installed")
            && stdout.contains("zfs-fuse (which conflicts with it) is not installed"),
        "{stdout}"
    );
}

#[test]
fn host_without_zfs_gets_zfs_fuse() {
    // zfsutils-linux removed with its config files left: not installed
    let out = script(NO_ZFS, &["--dry-run"]);
    assert!(
        would_install(&out).iter().any(|p| p == "zfs-fuse"),
        "{out:?}"
    );
}

const SIMULATION: &str = "NOTE: This is only a simulation!\n\
    Inst zfs-fuse (0.7.0-25+b1 Debian:12.8/stable [amd64])\n\
    Inst libc6 [2.36-9+deb12u7] (2.36-9+deb12u14 Debian:12.8/stable [amd64])\n\
    Conf zfs-fuse (0.7.0-25+b1 Debian:12.8/stable [amd64])\n";

fn check_simulation(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sim");
    std::fs::write(&file, text).unwrap();
    script(NO_ZFS, &["--check-simulation", file.to_str().unwrap()])
}

#[test]
fn an_install_that_removes_a_package_is_refused() {
    let removing = SIMULATION.replace(
        "Inst zfs-fuse",
        "Remv zfsutils-linux [2.1.11-1+deb12u1] [libzfs4linux:amd64 ]\nInst zfs-fuse",
    );
    let out = check_simulation(&removing);
    let (stdout, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("refusing: installing the test tools would remove zfsutils-linux"),
        "{stderr}"
    );
}

#[test]
fn an_install_lists_each_package_and_upgrade() {
    let out = check_simulation(SIMULATION);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "install: zfs-fuse 0.7.0-25+b1\nupgrade: libc6 2.36-9+deb12u7 -> 2.36-9+deb12u14\n"
    );
}
