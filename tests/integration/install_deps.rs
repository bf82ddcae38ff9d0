//! scripts/install-test-deps decides against fake dpkg status files (`DPKG_STATUS`, `--dry-run`:
//! nothing is installed) and refuses saved `apt-get -s` output that removes a package: the
//! checks that keep the test command from replacing a NAS's OpenZFS with zfs-fuse.

#![allow(clippy::unwrap_used)] // helpers of a test module

use std::process::{Command, Output};

use crate::support;

fn script(status: &str, args: &[&str]) -> Output {
    script_env(status, args, &[])
}

/// `script` with extra environment (the seams APT_SOURCES, OPENZFS_PROBES). Both default to
/// paths that do not exist, so the host's own kernel module does not decide and its apt
/// sources are never touched.
fn script_env(status: &str, args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("status");
    std::fs::write(&file, status).unwrap();
    Command::new(support::manifest_dir().join("scripts/install-test-deps"))
        .args(args)
        .env("DPKG_STATUS", &file)
        .env("OPENZFS_PROBES", dir.path().join("absent"))
        // a test never edits the host's apt sources, whatever path the script takes
        .env("APT_SOURCES", dir.path().join("no-sources"))
        .envs(env.iter().copied())
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

/// `--add-contrib` on a copy of a source list: (status, stdout, stderr, the file afterwards).
fn add_contrib(list: &str) -> (Option<i32>, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sources.list");
    std::fs::write(&file, list).unwrap();
    let out = script(NO_ZFS, &["--add-contrib", file.to_str().unwrap()]);
    let (stdout, stderr) = support::texts(&out);
    let after = std::fs::read_to_string(&file).unwrap();
    (out.status.code(), stdout, stderr, after)
}

// Debian 12's installer writes `main non-free-firmware`: the old edit matched only a line ending
// in `main`, changed nothing, said it had, and apt then could not find zfs-fuse.
const BOOKWORM_LIST: &str = "deb http://deb.debian.org/debian/ bookworm main non-free-firmware\n\
    deb http://security.debian.org/debian-security bookworm-security main non-free-firmware\n";
const BOOKWORM_DEB822: &str = "Types: deb\nURIs: http://deb.debian.org/debian\n\
    Suites: bookworm bookworm-updates\nComponents: main non-free-firmware\n";

#[test]
fn contrib_is_added_after_main_whatever_follows_it() {
    let (code, stdout, _, after) = add_contrib(BOOKWORM_LIST);
    assert_eq!(code, Some(0));
    assert_eq!(
        after,
        "deb http://deb.debian.org/debian/ bookworm main contrib non-free-firmware\n\
         deb http://security.debian.org/debian-security bookworm-security main contrib non-free-firmware\n"
    );
    assert!(stdout.contains("added the contrib component"), "{stdout}");
    let (code, _, _, after) = add_contrib(BOOKWORM_DEB822);
    assert_eq!(code, Some(0));
    assert!(
        after.contains("\nComponents: main contrib non-free-firmware\n"),
        "{after}"
    );
    // already there: nothing changed, nothing said
    let (code, stdout, _, after) = add_contrib(&BOOKWORM_DEB822.replace("main", "main contrib"));
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
    assert!(after.contains("Components: main contrib non-free-firmware"));
}

#[test]
fn a_list_contrib_cannot_be_added_to_is_an_error_not_a_claim() {
    let (code, stdout, stderr, _) =
        add_contrib("deb http://deb.debian.org/debian/ bookworm non-free\n");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("added"), "{stdout}");
    assert!(stderr.contains("could not add contrib to"), "{stderr}");
}

#[test]
fn the_dry_run_names_the_source_list_it_would_change() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("sources.list");
    std::fs::write(&list, BOOKWORM_LIST).unwrap();
    let out = script_env(NO_ZFS, &["--dry-run"], &[("APT_SOURCES", &list)]);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "would change: {}: add the contrib component",
            list.display()
        )),
        "{stdout}"
    );
    // a dry run changes nothing
    assert_eq!(std::fs::read_to_string(&list).unwrap(), BOOKWORM_LIST);
}

#[test]
fn openzfs_outside_a_package_gets_no_zfs_fuse() {
    // OpenZFS built from source: no zfsutils-linux in dpkg, but its module is loaded (or its
    // zpool is in /usr/local); dpkg would overwrite an unpackaged /usr/sbin/zpool
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("sys-module-zfs");
    std::fs::create_dir(&module).unwrap();
    let out = script_env(NO_ZFS, &["--dry-run"], &[("OPENZFS_PROBES", &module)]);
    let plan = would_install(&out);
    assert!(!plan.iter().any(|p| p == "zfs-fuse"), "{plan:?}");
    let (stdout, _) = support::texts(&out);
    assert!(
        stdout.contains(&format!(
            "zfs: OpenZFS is here outside a Debian package ({} exists): zfs-fuse (which would conflict with it) is not installed",
            module.display()
        )),
        "{stdout}"
    );
}

#[test]
fn both_scripts_answer_help_with_their_usage_and_change_nothing() {
    // a newcomer's first try; it used to be "unknown argument --help" (exit 2)
    for (name, flag) in [
        ("scripts/test", "--no-install"),
        ("scripts/install-test-deps", "--dry-run"),
    ] {
        let out = Command::new(support::manifest_dir().join(name))
            .arg("--help")
            .env("HOSTWATT_INSTALL_LOG", "/nonexistent/log")
            .output()
            .unwrap();
        let (stdout, stderr) = support::texts(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert!(
            stdout.contains(&format!("Usage: {name} [")) && stdout.contains(flag),
            "{name}: {stdout}"
        );
        assert!(
            !stdout.contains("#!") && !stdout.contains("set -"),
            "{stdout}"
        );
    }
}

#[test]
fn a_host_without_apt_installs_nothing_and_says_so() {
    // a Fedora or Arch box: only the tools the script itself uses are on PATH, no apt-get
    let bin = tempfile::tempdir().unwrap();
    for tool in ["bash", "awk", "id", "grep", "sed"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = script_env(NO_ZFS, &[], &[("PATH", bin.path())]);
    let (stdout, stderr) = support::texts(&out);
    // 3 is "nothing installed": scripts/test goes on and SKIPs what needs a missing tool
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stderr.contains("no apt-get (not Debian or Ubuntu): installing nothing (")
            && stderr.contains("zfs-fuse missing; install them with your package manager)"),
        "{stderr}"
    );
}
