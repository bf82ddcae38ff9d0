//! The Debian package as `cargo deb` would build it from `[package.metadata.deb]`: every asset
//! exists in the repository, every doc is shipped, the unit and maintainer scripts are where
//! cargo-deb looks, the scripts are valid sh, and the user they create is the unit's `User=`.
//! (Building the .deb needs cargo-deb, too slow to install in CI; docs/install.md shows how.)

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support;

fn deb_metadata() -> toml::Table {
    let text =
        std::fs::read_to_string(support::manifest_dir().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("Cargo.toml parses");
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]")
        .clone()
}

fn str_at<'a>(v: &'a toml::Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

#[test]
fn deb_assets_exist_and_land_where_documented() {
    let deb = deb_metadata();
    let root = support::manifest_dir();
    let mut dests = BTreeSet::new();
    for asset in deb["assets"].as_array().expect("assets") {
        let [src, dest, mode] = asset
            .as_array()
            .map(|a| a.as_slice())
            .and_then(|a| <&[toml::Value; 3]>::try_from(a).ok())
            .unwrap_or_else(|| panic!("asset is not [src, dest, mode]: {asset}"));
        let (src, dest, mode) = (
            str_at(src, "source"),
            str_at(dest, "destination"),
            str_at(mode, "mode"),
        );
        assert!(matches!(mode, "644" | "755"), "{src}: mode {mode}");
        let sources = if src.starts_with("target/release/") {
            // built by cargo deb itself: it must be this crate's binary
            assert_eq!(src, "target/release/hostwatt");
            vec![src.to_owned()]
        } else if let Some((dir, suffix)) = src.split_once("/*") {
            // cargo-deb's globs; only `dir/*suffix` is used here
            let mut found: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap_or_else(|e| panic!("asset {src}: {e}"))
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .map(|n| format!("{dir}/{n}"))
                .collect();
            found.sort();
            assert!(!found.is_empty(), "asset {src} matches nothing");
            found
        } else {
            assert!(
                root.join(src).is_file(),
                "asset {src} is not in the repository"
            );
            vec![src.to_owned()]
        };
        for src in sources {
            let dest = if dest.ends_with('/') {
                format!("{dest}{}", src.rsplit('/').next().unwrap_or(&src))
            } else {
                dest.to_owned()
            };
            dests.insert(dest);
        }
    }
    for want in [
        "usr/bin/hostwatt",
        "etc/hostwatt/hostwatt.toml",
        "usr/share/hostwatt/grafana/hostwatt.json",
        "usr/share/doc/hostwatt/install.md",
        "usr/share/doc/hostwatt/systemd.md",
    ] {
        assert!(dests.contains(want), "the package lacks {want}: {dests:?}");
    }
    for doc in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let name = doc.expect("docs entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            dests.contains(&format!("usr/share/doc/hostwatt/{name}")),
            "docs/{name} is not shipped in the package"
        );
    }
    for conf in deb["conf-files"].as_array().expect("conf-files") {
        let conf = str_at(conf, "conf-file");
        let rel = conf.strip_prefix('/').expect("conf-files are absolute");
        assert!(dests.contains(rel), "conf-file {conf} is not an asset");
    }
    // the unit says where its doc is
    let unit = std::fs::read_to_string(root.join("systemd/hostwatt.service")).expect("unit");
    assert!(
        unit.contains("Documentation=file:/usr/share/doc/hostwatt/systemd.md"),
        "the unit's Documentation= points into the package"
    );
}

#[test]
fn deb_unit_and_maintainer_scripts_are_where_cargo_deb_looks() {
    let deb = deb_metadata();
    let root = support::manifest_dir();
    let units = &deb["systemd-units"];
    let dir = str_at(&units["unit-scripts"], "unit-scripts");
    let name = str_at(&units["unit-name"], "unit-name");
    let unit_path = root.join(dir).join(format!("{name}.service"));
    let unit = std::fs::read_to_string(&unit_path)
        .unwrap_or_else(|e| panic!("{}: {e}", unit_path.display()));
    let user = unit
        .lines()
        .find_map(|l| l.strip_prefix("User="))
        .expect("the unit names its User=");

    let scripts = root.join(str_at(&deb["maintainer-scripts"], "maintainer-scripts"));
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&scripts).expect("maintainer scripts dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("script");
        assert!(text.starts_with("#!/bin/sh\n"), "{name}: not a sh script");
        assert!(
            text.contains("\n#DEBHELPER#\n"),
            "{name}: cargo-deb inserts the systemd enable/start snippets at #DEBHELPER#"
        );
        let mode = std::fs::metadata(&path).expect("mode").permissions().mode();
        assert!(mode & 0o111 != 0, "{name} is not executable");
        let out = Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("sh -n");
        assert!(out.status.success(), "{name}: {}", support::texts(&out).1);
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["postinst", "postrm"]);
    let postinst = std::fs::read_to_string(scripts.join("postinst")).expect("postinst");
    assert!(
        postinst.contains(&format!(
            "--gecos \"hostwatt power and health monitoring\" {user}"
        )) && postinst.contains(&format!("addgroup --system --quiet {user}")),
        "postinst creates the unit's user {user}"
    );
}
