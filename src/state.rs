//! Persistent state under the state directory (`/var/lib/hostwatt/`): one JSON file per
//! subsystem (`energy.json`, `alerts.json`), each in a versioned envelope.
//!
//! Writes are atomic: a temp file beside the target, fsync, rename, fsync of the directory, so a
//! crash leaves either the old or the new file, never half of one. A file that does not parse or
//! has a foreign format/version is renamed aside (`<name>.bad-<unix time>`), reported, and the
//! subsystem starts fresh: never a reason not to start.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Version of every envelope written by this build.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    format: String,
    version: u32,
    data: T,
}

/// What `load` found.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No file yet: first start.
    Missing,
    /// The saved state.
    Ok(T),
    /// The file was unusable; it was moved to `moved_to` (if the rename worked).
    SetAside {
        /// Why it was unusable.
        reason: String,
        /// Where it went.
        moved_to: Option<PathBuf>,
    },
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: saving state failed: {source}")]
pub struct SaveError {
    /// The target file.
    pub path: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Where a subsystem keeps its state: a directory, or nowhere (`hostwatt once` reads and writes
/// no state, so a one-off run never touches the daemon's counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store(Option<PathBuf>);

impl Store {
    /// State in `dir`.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self(Some(dir.into()))
    }

    /// No state: loads find nothing, saves do nothing.
    pub fn none() -> Self {
        Self(None)
    }

    /// `load` from this store.
    pub fn load<T: DeserializeOwned>(&self, name: &str) -> Loaded<T> {
        self.0
            .as_deref()
            .map_or(Loaded::Missing, |dir| load(dir, name))
    }

    /// `save` to this store.
    pub fn save<T: Serialize>(&self, name: &str, data: &T) -> Result<(), SaveError> {
        self.0
            .as_deref()
            .map_or(Ok(()), |dir| save(dir, name, data))
    }
}

impl<T> Loaded<T> {
    /// For `SetAside`, what the subsystem reports: `<reason>; moved to <path>; <then>` (or `left
    /// in place` when the rename failed), `then` saying how it goes on (`starting from zero`).
    /// `None` for `Missing` and `Ok`.
    pub fn set_aside_note(&self, then: &str) -> Option<String> {
        let Self::SetAside { reason, moved_to } = self else {
            return None;
        };
        let moved = moved_to.as_ref().map_or("left in place".into(), |p| {
            format!("moved to {}", p.display())
        });
        Some(format!("{reason}; {moved}; {then}"))
    }
}

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Loads `<dir>/<name>.json`.
pub fn load<T: DeserializeOwned>(dir: &Path, name: &str) -> Loaded<T> {
    let path = file(dir, name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => {
            return Loaded::SetAside {
                reason: e.to_string(),
                moved_to: None,
            };
        }
    };
    let reason = match serde_json::from_slice::<Envelope<T>>(&bytes) {
        Ok(env) if env.format == format!("hostwatt-{name}") && env.version == VERSION => {
            return Loaded::Ok(env.data);
        }
        Ok(env) => format!(
            "foreign state file: format {:?} version {}",
            env.format, env.version
        ),
        Err(e) => format!("corrupt state file: {e}"),
    };
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let aside = dir.join(format!("{name}.json.bad-{unix}"));
    let moved_to = std::fs::rename(&path, &aside).ok().map(|_| aside);
    Loaded::SetAside { reason, moved_to }
}

/// Saves `data` to `<dir>/<name>.json` atomically, creating `dir` if needed.
pub fn save<T: Serialize>(dir: &Path, name: &str, data: &T) -> Result<(), SaveError> {
    let path = file(dir, name);
    let err = |source| SaveError {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let env = Envelope {
        format: format!("hostwatt-{name}"),
        version: VERSION,
        data,
    };
    let bytes = serde_json::to_vec_pretty(&env).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".{name}.json.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err)?;
    // the rename itself is durable only once the directory is synced
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        joules: f64,
    }

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load::<S>(dir.path(), "energy"), Loaded::Missing));
        save(dir.path(), "energy", &S { joules: 1.5 }).unwrap();
        save(dir.path(), "energy", &S { joules: 2.5 }).unwrap();
        assert!(matches!(
            load::<S>(dir.path(), "energy"),
            Loaded::Ok(S { joules: 2.5 })
        ));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["energy.json"], "no temp file left behind");
    }

    #[test]
    fn sets_aside_a_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), "energy", &S { joules: 1.5 }).unwrap();
        let path = dir.path().join("energy.json");
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        match load::<S>(dir.path(), "energy") {
            Loaded::SetAside {
                reason,
                moved_to: Some(p),
            } => {
                assert!(reason.starts_with("corrupt state file"), "{reason}");
                assert!(p.exists() && !path.exists());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(load::<S>(dir.path(), "energy"), Loaded::Missing));
    }

    #[test]
    fn a_failed_save_says_it_was_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap();
        let e = save(&not_a_dir, "energy", &S { joules: 1.0 }).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "{}: saving state failed: ",
                not_a_dir.join("energy.json").display()
            )),
            "{e}"
        );
        let aside: Loaded<S> = Loaded::SetAside {
            reason: "corrupt state file: EOF".into(),
            moved_to: None,
        };
        assert_eq!(
            aside.set_aside_note("starting from zero").as_deref(),
            Some("corrupt state file: EOF; left in place; starting from zero")
        );
        assert_eq!(Loaded::Ok(1).set_aside_note("x"), None);
    }

    #[test]
    fn sets_aside_a_foreign_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("energy.json"),
            r#"{"format":"hostwatt-energy","version":99,"data":{"joules":1}}"#,
        )
        .unwrap();
        let Loaded::SetAside { reason, .. } = load::<S>(dir.path(), "energy") else {
            panic!("not set aside")
        };
        assert_eq!(
            reason,
            "foreign state file: format \"hostwatt-energy\" version 99"
        );
    }
}
