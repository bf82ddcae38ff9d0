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
