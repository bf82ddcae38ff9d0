//! `Root`: the host's filesystem root that every sysfs/procfs read goes through.
//!
//! `/` in production, `/host` in a container, a fixture tree in tests. Kernel paths are spelled
//! relative to it (`"sys/class/powercap"`), because `Path::join` with an absolute path silently
//! replaces the base. Reads are single and bounded: pseudo-files lie about their size, and some
//! hwmon drivers return EAGAIN forever, so there is no retry loop.

use std::cell::RefCell;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Largest pseudo-file we read. sysfs attributes are at most one page.
const READ_LIMIT: u64 = 64 * 1024;

/// The path a thread is reading right now, visible to another thread: when a collector's round
/// misses its deadline, the scheduler names the file it is stuck on (a FIFO, a hung I2C
/// sensor) instead of only the collector.
#[derive(Debug, Clone, Default)]
pub struct ReadWatch(Arc<Mutex<Option<String>>>);

thread_local! {
    static WATCH: RefCell<Option<ReadWatch>> = const { RefCell::new(None) };
}

impl ReadWatch {
    /// Reports the reads of the calling thread to this watch from now on.
    pub fn install(&self) {
        WATCH.with(|w| *w.borrow_mut() = Some(self.clone()));
    }

    /// The root-relative path being read, if a read is in progress.
    pub fn current(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, path: Option<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = path;
    }
}

/// Runs `f`, a blocking access to `rel`, with `rel` shown on this thread's watch meanwhile.
fn watched<T>(rel: &Path, f: impl FnOnce() -> T) -> T {
    let watch = WATCH.with(|w| w.borrow().clone());
    let Some(watch) = watch else { return f() };
    watch.set(Some(rel.to_string_lossy().into_owned()));
    let out = f();
    watch.set(None);
    out
}

/// A failed read under the root. `rel_path` never contains the root itself.
#[derive(Debug, thiserror::Error)]
#[error("{rel_path}: {source}")]
pub struct ReadError {
    /// Path relative to the root, as used in labels and logs.
    pub rel_path: String,
    /// The underlying I/O error (ENOENT, EACCES, EIO, ENODATA, ...).
    #[source]
    pub source: io::Error,
}

impl ReadError {
    /// The I/O error kind, for mapping to a `CollectError`.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// The filesystem root the collectors read through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    /// A root at `base` (`/` for the live host).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// The base directory of this root.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Absolute path of a root-relative path.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        self.base.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// The root-relative form of a path under this root (for labels and logs).
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    fn err(&self, rel: &Path, source: io::Error) -> ReadError {
        ReadError {
            rel_path: rel.to_string_lossy().into_owned(),
            source,
        }
    }

    /// Reads a whole small file as bytes, in one bounded read.
    pub fn read_bytes(&self, rel: impl AsRef<Path>) -> Result<Vec<u8>, ReadError> {
        let rel = rel.as_ref();
        let mut buf = Vec::with_capacity(128);
        watched(rel, || {
            fs::File::open(self.path(rel)).and_then(|f| f.take(READ_LIMIT).read_to_end(&mut buf))
        })
        .map_err(|e| self.err(rel, e))?;
        Ok(buf)
    }

    /// Reads a small text file, trimmed of surrounding whitespace.
    pub fn read_trimmed(&self, rel: impl AsRef<Path>) -> Result<String, ReadError> {
        let bytes = self.read_bytes(rel)?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }

    /// Reads a file whose content is one unsigned decimal integer.
    pub fn read_u64(&self, rel: impl AsRef<Path>) -> Result<u64, ReadError> {
        let rel = rel.as_ref();
        let text = self.read_trimmed(rel)?;
        text.parse::<u64>().map_err(|_| {
            self.err(
                rel,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an integer: {text:?}"),
                ),
            )
        })
    }

    /// Reads a file if it exists: `Ok(None)` when it does not.
    pub fn read_optional(&self, rel: impl AsRef<Path>) -> Result<Option<String>, ReadError> {
        match self.read_trimmed(rel) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Names of the entries of a directory, sorted so output is stable.
    pub fn list(&self, rel: impl AsRef<Path>) -> Result<Vec<String>, ReadError> {
        let rel = rel.as_ref();
        let mut names: Vec<String> = watched(rel, || {
            fs::read_dir(self.path(rel)).map(|dir| {
                dir.filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
        })
        .map_err(|e| self.err(rel, e))?;
        names.sort_by(|a, b| natural_cmp(a, b));
        Ok(names)
    }

    /// Whether a root-relative path exists (follows symlinks).
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.path(rel).exists()
    }

    /// The final component of a symlink's resolved target, e.g. `coretemp.0` for a hwmon
    /// `device` link. A relative link is resolved textually so fixture trees work anywhere.
    pub fn link_name(&self, rel: impl AsRef<Path>) -> Option<String> {
        let target = fs::read_link(self.path(rel)).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    /// The resolved target of a symlink, as a path relative to the root, for following
    /// links inside a fixture tree without leaving it.
    pub fn canonical_rel(&self, rel: impl AsRef<Path>) -> Option<String> {
        let base = fs::canonicalize(&self.base).ok()?;
        let full = fs::canonicalize(self.path(rel)).ok()?;
        full.strip_prefix(&base)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
}

/// Orders `cpu2` before `cpu10` and `state9` before `state10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> (&str, Option<u64>) {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head, tail.parse().ok())
    }
    let (ha, na) = split(a);
    let (hb, nb) = split(b);
    ha.cmp(hb).then(na.cmp(&nb)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_absolute_paths_under_the_root() {
        let root = Root::new("/tmp/x");
        assert_eq!(root.path("/sys/class"), PathBuf::from("/tmp/x/sys/class"));
        assert_eq!(root.path("sys/class"), PathBuf::from("/tmp/x/sys/class"));
        assert_eq!(root.rel(Path::new("/tmp/x/sys/class")), "sys/class");
    }

    #[test]
    fn sorts_numbered_names_naturally() {
        let mut v = vec!["cpu10", "cpu2", "cpu1", "cpufreq"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["cpu1", "cpu2", "cpu10", "cpufreq"]);
    }

    #[test]
    fn reports_missing_file_relative_to_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::new(dir.path());
        let err = root.read_u64("sys/nothing").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().starts_with("sys/nothing: "), "{err}");
        assert!(!err.to_string().contains(&*dir.path().to_string_lossy()));
        assert_eq!(root.read_optional("sys/nothing").unwrap(), None);
    }

    #[test]
    fn a_watch_shows_the_read_in_progress_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("v"), "1\n").expect("write");
        let watch = ReadWatch::default();
        watch.install();
        let root = Root::new(dir.path());
        let seen = watched(Path::new("sys/x"), || watch.current());
        assert_eq!(seen.as_deref(), Some("sys/x"));
        assert_eq!(root.read_u64("v").unwrap(), 1);
        assert_eq!(watch.current(), None, "cleared once the read returned");
    }

    #[test]
    fn rejects_non_integer_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("v"), "12a\n").expect("write");
        let err = Root::new(dir.path()).read_u64("v").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
