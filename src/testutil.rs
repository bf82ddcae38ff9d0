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

/// A `Root` at a shared fixture tree such as `sysfs/node_exporter`, read in place. Its
/// symlinks arrive flattened into files: use `shared_tree` where a collector follows links.
pub fn shared_root(rel: &str) -> crate::host::root::Root {
    crate::host::root::Root::new(shared_fixture(rel))
}

/// A copy of a shared fixture tree in a tempdir, with its flattened symlinks restored
/// (`crate::fixture::copy_tree`). Keep the `TempDir` alive while using the root.
pub fn shared_tree(rel: &str) -> (tempfile::TempDir, crate::host::root::Root) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::fixture::copy_tree(&shared_fixture(rel), dir.path()).expect("copy fixture tree");
    let root = crate::host::root::Root::new(dir.path());
    (dir, root)
}
