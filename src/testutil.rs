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

/// Whether `pid` is gone (or a zombie) within about two seconds. SIGKILL is asynchronous, so a
/// killed child may linger for a moment.
pub async fn wait_until_gone(pid: u32) -> bool {
    for _ in 0..100 {
        if !crate::host::command::process_alive(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// A copy of a shared fixture tree in a tempdir, with its flattened symlinks restored
/// (`crate::fixture::copy_tree`). Keep the `TempDir` alive while using the root.
pub fn shared_tree(rel: &str) -> (tempfile::TempDir, crate::host::root::Root) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::fixture::copy_tree(&shared_fixture(rel), dir.path()).expect("copy fixture tree");
    let root = crate::host::root::Root::new(dir.path());
    (dir, root)
}

/// The series lines (no `# HELP`/`# TYPE`) of one snapshot in text exposition, sorted by family.
pub fn render_series<S: crate::metrics::Render>(snapshot: &S) -> Vec<String> {
    let mut out = crate::metrics::Families::new(S::FAMILIES);
    snapshot.render(&mut out);
    let mut buf = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&out.into_vec(), &mut buf)
        .expect("encoding into a String cannot fail");
    buf.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A project-owned golden-case folder, `tests/cases/<name>`.
pub fn case_dir(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name);
    assert!(path.is_dir(), "missing case {}", path.display());
    path
}

/// Copies the tree at `src` onto `dst` (`crate::fixture::copy_tree`): builds a case's root for a
/// later round (`root/` then `rounds/N/`) in a temporary directory.
pub fn overlay(src: &std::path::Path, dst: &std::path::Path) {
    crate::fixture::copy_tree(src, dst)
        .unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), dst.display()));
}

/// A temporary tree of `(root-relative path, content)` files, each content ending in a newline
/// as sysfs and procfs print them, and a `Root` at it.
pub fn text_tree<P: AsRef<str>, T: AsRef<str>>(
    files: &[(P, T)],
) -> (tempfile::TempDir, crate::host::root::Root) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let p = dir.path().join(rel.as_ref());
        std::fs::create_dir_all(p.parent().expect("a file under the root")).expect("mkdir");
        std::fs::write(p, format!("{}\n", text.as_ref())).expect("write fixture file");
    }
    let root = crate::host::root::Root::new(dir.path());
    (dir, root)
}
