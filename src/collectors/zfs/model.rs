//! What the zpool parsers produce, whichever output format they read: a pool's `zpool list` row,
//! its `zpool status` tree and its scan (scrub/resilver) line.

use crate::parse::ParseError;

/// One pool as `zpool list` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// Pool name.
    pub name: String,
    /// `size` in bytes.
    pub size: Option<u64>,
    /// `allocated` bytes.
    pub allocated: Option<u64>,
    /// `free` bytes.
    pub free: Option<u64>,
    /// `fragmentation` of free space, 0–1.
    pub fragmentation: Option<f64>,
    /// `capacity`: allocated / size, 0–1.
    pub capacity: Option<f64>,
    /// `dedupratio`.
    pub dedup: Option<f64>,
    /// `health`: `ONLINE`, `DEGRADED`, `UNAVAIL`, …
    pub health: String,
}

/// One pool as `zpool status` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatus {
    /// Pool name.
    pub name: String,
    /// `state:` line.
    pub state: String,
    /// Every vdev, root first, in printed order.
    pub vdevs: Vec<Vdev>,
    /// The last or current scan of each function (a scrub, a resilver or rebuild), at most one
    /// each, in printed order.
    pub scans: Vec<Scan>,
    /// `errors: N data errors`.
    pub data_errors: Option<u64>,
}

/// A part of zpool's output that could not be read: a table row, a line, a pool. The rest of
/// the output is kept; the collector reports this as an item fault.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// What the part belonged to: `pool/vdev` for a table row, `pool` for a line of its block.
    pub item: String,
    /// Why it could not be read.
    pub error: ParseError,
}

/// A vdev: the root, an interior vdev (mirror, raidz, replacing, spare) or a leaf device.
#[derive(Debug, Clone, PartialEq)]
pub struct Vdev {
    /// As printed (`raidz1-0`, `/dev/sda1`, `wwn-0x…`).
    pub name: String,
    /// Type as the JSON names it: `root`, `mirror`, `raidz`, `replacing`, `spare`, `disk`, `file`.
    pub kind: String,
    /// `data`, `logs`, `cache`, `spares`, `special`, `dedup`.
    pub section: String,
    /// `ONLINE`, `OFFLINE`, `AVAIL`, …
    pub state: String,
    /// Read errors.
    pub read: Option<u64>,
    /// Write errors.
    pub write: Option<u64>,
    /// Checksum errors.
    pub checksum: Option<u64>,
    /// No children.
    pub leaf: bool,
    /// Device path (JSON `path`), when given.
    pub path: Option<String>,
}

/// Scrub or resilver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFunction {
    /// `zpool scrub`.
    Scrub,
    /// Rebuilding a replaced or returning device.
    Resilver,
}

/// Where a scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// In progress.
    Running,
    /// Paused (`zpool scrub -p`).
    Paused,
    /// Completed.
    Finished,
    /// Stopped before completing.
    Canceled,
}

impl ScanState {
    pub(super) const ALL: [(Self, &'static str); 4] = [
        (Self::Running, "running"),
        (Self::Paused, "paused"),
        (Self::Finished, "finished"),
        (Self::Canceled, "canceled"),
    ];
}

/// The current or last scan of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// Scrub or resilver.
    pub function: ScanFunction,
    /// Running, finished, …
    pub state: ScanState,
    /// Start, Unix seconds.
    pub start: Option<i64>,
    /// End (finished or canceled), Unix seconds.
    pub end: Option<i64>,
    /// Duration of a finished scan, seconds.
    pub duration: Option<u64>,
    /// Bytes scanned (metadata walk) so far.
    pub scanned: Option<u64>,
    /// Bytes issued (actually verified/rebuilt) so far.
    pub issued: Option<u64>,
    /// Bytes to scan in total.
    pub total: Option<u64>,
    /// Bytes repaired (scrub) or resilvered.
    pub repaired: Option<u64>,
    /// Errors found.
    pub errors: Option<u64>,
    /// Fraction done, 0–1.
    pub progress: Option<f64>,
    /// Seconds to go.
    pub eta: Option<u64>,
}

impl Scan {
    /// A scan with only its function and state known.
    pub fn new(function: ScanFunction, state: ScanState) -> Self {
        Self {
            function,
            state,
            start: None,
            end: None,
            duration: None,
            scanned: None,
            issued: None,
            total: None,
            repaired: None,
            errors: None,
            progress: None,
            eta: None,
        }
    }
}
