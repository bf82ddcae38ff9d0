//! `Root`: the host's filesystem root that every sysfs/procfs read goes through.
//!
//! `/` in production, `/host` in a container, a fixture tree in tests. Kernel paths are spelled
//! relative to it (`"sys/class/powercap"`), because `Path::join` with an absolute path silently
//! replaces the base. Reads are single and bounded: pseudo-files lie about their size, and some
//! hwmon drivers return EAGAIN forever, so there is no retry loop.

use std::cell::RefCell;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Largest pseudo-file we read. sysfs attributes are at most one page.
const READ_LIMIT: u64 = 64 * 1024;

/// The path a thread is reading right now, visible to another thread: when a collector's round
/// misses its deadline, the scheduler names the file it is stuck on (a FIFO, a hung I2C
/// sensor) instead of only the collector.
#[derive(Debug, Clone, Default)]
pub struct ReadWatch(Arc<Mutex<Option<Arc<str>>>>);

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
            .as_deref()
            .map(str::to_owned)
    }

    fn set(&self, path: Option<Arc<str>>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = path;
    }
}

/// Runs `f`, a blocking access to `rel`, with `rel` shown on this thread's watch meanwhile.
fn watched<T>(rel: &Path, f: impl FnOnce() -> T) -> T {
    watched_as(|| rel.to_string_lossy().into(), f)
}

/// `watched` with the path made only when a watch is installed (a kept attribute shares its own).
fn watched_as<T>(rel: impl FnOnce() -> Arc<str>, f: impl FnOnce() -> T) -> T {
    let watch = WATCH.with(|w| w.borrow().clone());
    let Some(watch) = watch else { return f() };
    watch.set(Some(rel()));
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

    /// Whether the item behind the file went away: ENOENT, or ENODEV, which a kept-open sysfs
    /// attribute returns once its device is unregistered (hot-unplug, module unload).
    pub fn is_gone(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
            || self.source.raw_os_error() == Some(nix::errno::Errno::ENODEV as i32)
    }
}

/// Largest attribute `Attr` reads: sysfs shows at most one page.
const ATTR_LIMIT: usize = 4096;

/// A kept-open attribute file, read with `pread` at offset 0.
///
/// sysfs regenerates an attribute's text on every read at offset 0, so a value that changes
/// (an energy counter, a residency time) is read without open and close: about a tenth of the
/// cost. Open one per changing attribute; a read failing with `ReadError::is_gone` means the
/// item was removed and the set should be listed again.
#[derive(Debug)]
pub struct Attr {
    file: fs::File,
    rel: Arc<str>,
}

impl Attr {
    /// The current value's bytes, read into `buf` from offset 0 (at most one page).
    pub fn read_at0<'b>(&self, buf: &'b mut [u8; ATTR_LIMIT]) -> Result<&'b [u8], ReadError> {
        let len = self.read_into(buf)?;
        Ok(&buf[..len])
    }

    /// The current value's bytes handed to `f`: into a small buffer first, as nearly every
    /// attribute is a number or a word (zeroing a page per read cost more than the read), and
    /// into a page when it fills that.
    fn read_small<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Result<T, ReadError> {
        let mut small = [0; 64];
        let len = self.read_into(&mut small)?;
        if len < small.len() {
            return Ok(f(&small[..len]));
        }
        let mut page = [0; ATTR_LIMIT];
        let len = self.read_into(&mut page)?;
        Ok(f(&page[..len]))
    }

    /// Reads from offset 0 until `buf` is full or the end; the length read.
    fn read_into(&self, buf: &mut [u8]) -> Result<usize, ReadError> {
        let mut len = 0;
        // sysfs answers in one read, and a regular file (a fixture) short of the end only at
        // the end: a short read is the whole value. Reading on to a 0 would double the reads,
        // and on sysfs each pread at another offset runs the attribute's show() again.
        let read = watched_as(
            || self.rel.clone(),
            || {
                while len < buf.len() {
                    match self.file.read_at(&mut buf[len..], len as u64) {
                        Ok(0) => break,
                        Ok(n) if n < buf.len() - len => {
                            len += n;
                            break;
                        }
                        Ok(n) => len += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            },
        );
        read.map_err(|source| ReadError {
            rel_path: self.rel.to_string(),
            source,
        })?;
        Ok(len)
    }

    /// The current value as one unsigned decimal integer, as `Root::read_u64` reads it.
    pub fn read_u64(&self) -> Result<u64, ReadError> {
        self.read_str(|text| {
            text.parse::<u64>().map_err(|_| ReadError {
                rel_path: self.rel.to_string(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an integer: {text:?}"),
                ),
            })
        })?
    }

    /// The current value's text, trimmed, handed to `parse` (no allocation for UTF-8 text).
    pub fn read_str<T>(&self, parse: impl FnOnce(&str) -> T) -> Result<T, ReadError> {
        self.read_small(|bytes| parse(String::from_utf8_lossy(bytes).trim()))
    }

    /// The root-relative path this attribute was opened at.
    pub fn rel(&self) -> &str {
        &self.rel
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

    /// Opens an attribute to be read again and again (`Attr::read_at0`).
    pub fn open_attr(&self, rel: impl AsRef<Path>) -> Result<Attr, ReadError> {
        let rel = rel.as_ref();
        let file = watched(rel, || fs::File::open(self.path(rel))).map_err(|e| self.err(rel, e))?;
        Ok(Attr {
            file,
            rel: rel.to_string_lossy().into(),
        })
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
    fn a_kept_attribute_reads_the_current_value_each_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("energy_uj");
        std::fs::write(&path, "123456789\n").expect("write");
        let root = Root::new(dir.path());
        let attr = root.open_attr("energy_uj").expect("open");
        assert_eq!(attr.read_u64().unwrap(), 123_456_789);
        // rewritten in place, as a fixture tree changes a value between rounds
        std::fs::write(&path, "7\n").expect("write");
        assert_eq!(attr.read_u64().unwrap(), 7);
        std::fs::write(&path, "x7\n").expect("write");
        let err = attr.read_u64().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.rel_path, "energy_uj");
        let gone = root.open_attr("nothing").unwrap_err();
        assert!(gone.is_gone());
        assert_eq!(gone.rel_path, "nothing");
        let enodev = ReadError {
            rel_path: "x".into(),
            source: io::Error::from_raw_os_error(nix::errno::Errno::ENODEV as i32),
        };
        assert!(enodev.is_gone());
        assert!(!err.is_gone());
        // a kept read shows on the thread's watch like any other
        let watch = ReadWatch::default();
        watch.install();
        assert_eq!(attr.read_u64().unwrap_err().rel_path, "energy_uj");
        assert_eq!(watch.current(), None, "cleared once the read returned");
    }

    #[test]
    fn a_kept_attribute_longer_than_the_small_buffer_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("available_governors");
        let long: String = ('a'..='z').cycle().take(80).collect();
        for text in [&long[..63], &long[..64], &long] {
            std::fs::write(&path, format!("{text}\n")).expect("write");
            let attr = Root::new(dir.path()).open_attr("available_governors");
            let got = attr.expect("open").read_str(str::to_owned).unwrap();
            assert_eq!(got, text);
        }
        let digits = "9".repeat(70);
        std::fs::write(&path, &digits).expect("write");
        let attr = Root::new(dir.path()).open_attr("available_governors");
        let err = attr.expect("open").read_u64().unwrap_err();
        assert!(err.to_string().contains(&digits), "{err}");
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
