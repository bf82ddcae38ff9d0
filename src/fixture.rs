//! Captured sysfs trees as test roots.
//!
//! sysfs is full of symlinks (`class/hwmon/hwmon0 -> ../../devices/platform/coretemp.0/...`).
//! Some ways of shipping captured trees flatten a symlink into a small regular file holding its
//! target (the trees under `../shared/fixtures` arrive like that). `copy_tree` copies a tree and
//! turns such "link files" back into symlinks, so collectors read a fixture through exactly the
//! code path they use on a live host; production code never sees link files.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Copies `src` into `dst` (created; an existing tree is overlaid), keeping real symlinks and
/// restoring flattened ones: a regular file of one line `../…` whose target exists inside the
/// copied tree becomes a symlink. Copies are made writable (0644). Returns how many link files
/// were restored.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<usize> {
    let mut links = Vec::new();
    copy_dir(src, dst, &mut links)?;
    let top = dst.to_path_buf();
    let mut restored = 0;
    for (path, target) in links {
        let dir = path.parent().unwrap_or(&top);
        if lexical_join(dir, &target)
            .is_some_and(|t| t.starts_with(&top) && fs::symlink_metadata(&t).is_ok())
        {
            fs::remove_file(&path)?;
            std::os::unix::fs::symlink(&target, &path)?;
            restored += 1;
        }
    }
    Ok(restored)
}

fn copy_dir(src: &Path, dst: &Path, links: &mut Vec<(PathBuf, PathBuf)>) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let meta = fs::symlink_metadata(&from)?;
        // an overlay replaces what is there, unless both are directories (then they merge) or
        // both are files: a file is rewritten in place, as sysfs changes a value, so a collector's
        // kept-open descriptor (`Root::open_attr`) reads the new value
        if let Ok(existing) = fs::symlink_metadata(&to)
            && !(existing.is_dir() && meta.is_dir())
            && !(existing.is_file() && meta.is_file())
        {
            if existing.is_dir() {
                fs::remove_dir_all(&to)?
            } else {
                fs::remove_file(&to)?
            }
        }
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if meta.is_dir() {
            copy_dir(&from, &to, links)?;
        } else {
            fs::copy(&from, &to)?;
            // fixtures are often read-only; the copy must be writable for round overlays
            let mut perm = fs::metadata(&to)?.permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
            fs::set_permissions(&to, perm)?;
            if meta.len() < 512
                && let Some(target) = link_target(&fs::read(&from)?)
            {
                links.push((to, target));
            }
        }
    }
    Ok(())
}

/// The target of a flattened link: one line of text starting with `../`.
fn link_target(bytes: &[u8]) -> Option<PathBuf> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end_matches('\n');
    (text.starts_with("../") && !text.contains('\n') && !text.contains('\0'))
        .then(|| PathBuf::from(text))
}

/// `dir/rel` with `..` resolved textually (the target need not exist yet).
fn lexical_join(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_flattened_links_and_keeps_real_ones() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir_all(s.join("devices/coretemp.0/hwmon/hwmon0")).unwrap();
        fs::write(
            s.join("devices/coretemp.0/hwmon/hwmon0/temp1_input"),
            "42000\n",
        )
        .unwrap();
        fs::create_dir_all(s.join("class/hwmon")).unwrap();
        fs::write(
            s.join("class/hwmon/hwmon0"),
            "../../devices/coretemp.0/hwmon/hwmon0",
        )
        .unwrap();
        fs::write(s.join("class/hwmon/dangling"), "../../nowhere").unwrap();
        std::os::unix::fs::symlink("hwmon0", s.join("class/hwmon/real")).unwrap();
        let dst = tempfile::tempdir().unwrap();
        assert_eq!(copy_tree(s, dst.path()).unwrap(), 1);
        let d = dst.path();
        assert!(
            fs::symlink_metadata(d.join("class/hwmon/hwmon0"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(d.join("class/hwmon/hwmon0/temp1_input")).unwrap(),
            "42000\n"
        );
        assert!(
            fs::symlink_metadata(d.join("class/hwmon/dangling"))
                .unwrap()
                .is_file(),
            "a link file leading nowhere stays a file"
        );
        assert!(
            fs::symlink_metadata(d.join("class/hwmon/real"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn an_overlay_rewrites_a_file_in_place_as_sysfs_would() {
        let (base, round) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::write(base.path().join("energy_uj"), "100\n").unwrap();
        fs::write(round.path().join("energy_uj"), "250\n").unwrap();
        let dst = tempfile::tempdir().unwrap();
        copy_tree(base.path(), dst.path()).unwrap();
        let kept = crate::host::root::Root::new(dst.path())
            .open_attr("energy_uj")
            .unwrap();
        assert_eq!(kept.read_u64().unwrap(), 100);
        copy_tree(round.path(), dst.path()).unwrap();
        assert_eq!(
            kept.read_u64().unwrap(),
            250,
            "the kept descriptor sees round 1"
        );
    }

    #[test]
    fn restores_the_links_of_the_shared_node_exporter_tree() {
        let dst = tempfile::tempdir().unwrap();
        copy_tree(
            &crate::testutil::shared_fixture("sysfs/node_exporter"),
            dst.path(),
        )
        .unwrap();
        let temp =
            fs::read_to_string(dst.path().join("sys/class/hwmon/hwmon0/temp1_input")).unwrap();
        assert!(!temp.trim().is_empty());
    }
}
