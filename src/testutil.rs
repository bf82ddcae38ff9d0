//! Test helpers shared by the unit tests: locating fixtures.

use std::path::PathBuf;

/// `../shared/fixtures/<rel>` beside the crate. CI always has it; a missing fixture is a failure,
/// not a skip, so this panics with the path.
pub fn shared_fixture(rel: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(rel);
    assert!(
        path.exists(),
        "missing shared fixture {} (is ../shared beside the checkout?)",
        path.display()
    );
    path
}

/// The text of a shared fixture file.
pub fn shared_text(rel: &str) -> String {
    let path = shared_fixture(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `Root` at a shared fixture tree such as `sysfs/node_exporter`.
pub fn shared_root(rel: &str) -> crate::host::root::Root {
    crate::host::root::Root::new(shared_fixture(rel))
}

/// A copy of a shared fixture tree in a tempdir, with its symlinks as real symlinks.
///
/// The installed fixture set stores each symlink as a regular file holding the link's target
/// (`sysfs/node_exporter/sys/class/hwmon/hwmon0` contains
/// `../../devices/platform/coretemp.0/hwmon/hwmon0`), although SOURCES.md says links are kept.
/// Code that follows links the way the kernel's sysfs needs them back, so such a file (one line,
/// a relative path made of `..` and names, whose target exists in the tree) becomes a symlink
/// again; real symlinks are copied as symlinks. Everything else is copied byte for byte.
pub fn shared_tree_with_links(rel: &str) -> tempfile::TempDir {
    let src = shared_fixture(rel);
    let dst = tempfile::tempdir().expect("tempdir");
    copy_restoring_links(&src, dst.path());
    dst
}

fn copy_restoring_links(src: &std::path::Path, dst: &std::path::Path) {
    use std::fs;
    use std::os::unix::fs::symlink;
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let meta = fs::symlink_metadata(&from).expect("metadata");
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(&from).expect("read_link"), &to).expect("symlink");
        } else if meta.is_dir() {
            fs::create_dir(&to).expect("create_dir");
            copy_restoring_links(&from, &to);
        } else if let Some(target) = flattened_link(&from) {
            symlink(target, &to).expect("symlink");
        } else {
            fs::copy(&from, &to).expect("copy");
        }
    }
}

/// The target a flattened symlink file stands for, if `file` is one.
fn flattened_link(file: &std::path::Path) -> Option<String> {
    use std::path::Component;
    let text = std::fs::read_to_string(file).ok()?;
    let looks_like_link = text.starts_with("..")
        && !text.contains(char::is_whitespace)
        && std::path::Path::new(&text)
            .components()
            .all(|c| matches!(c, Component::ParentDir | Component::Normal(_)));
    let parent = file.parent()?;
    (looks_like_link && parent.join(&text).exists()).then_some(text)
}
