//! ZFS pools, vdevs, scans, ARC and dataset counters.
//!
//! Runs `zpool` (path from `[collectors.zfs] zpool`) through `Runner`, one command at a time
//! from this collector's task, each with `timeout`:
//! - `zpool version` once, to pick the output format (cached; `zfs-2.3.2-…` → JSON):
//!   - OpenZFS ≥ 2.3: `zpool list -j --json-int` and `zpool status -j --json-int -P -L -p`;
//!   - OpenZFS 0.8–2.2 (Debian 12, TrueNAS, Proxmox): `zpool list -Hp`, `zpool status -P -L -p`;
//!   - no `zpool version` (zfs-fuse, ZoL ≤ 0.7, Solaris-era): `zpool list -H`, `zpool status`,
//!     in human units (`1.81T`, `8%`, `1.83x`).
//!
//!   `-P -L` prints vdevs as resolved device paths (`/dev/sda1`), which map to disks directly.
//! - reads `proc/spl/kstat/zfs/{arcstats,<pool>/state,<pool>/objset-*}` through `Root`.
//!
//! zpool can hang forever on a suspended pool, in D state holding the namespace lock. The
//! `Runner` kills it at the timeout and refuses to start another while it lives; this collector
//! then keeps serving the last good zpool data, with `hostwatt_zfs_zpool_data_age_seconds`
//! telling how old it is (0 when this round's run succeeded), while pool state comes fresh from
//! the kstat `state` file, which needs no zpool. With neither `proc/spl/kstat/zfs` nor a working
//! zpool the host has no ZFS: `Unavailable`.
//!
//! A row, line or pool of zpool's output that cannot be read costs only itself: it becomes an
//! item fault (`zpool/<pool>/<vdev>`, counted in `hostwatt_collector_item_failing` and logged
//! once) and every other row, pool and the `zpool list` data are served. Only output with
//! nothing readable at all (not JSON, garbage) fails the round and keeps the last good data.
//!
//! Units: bytes, ratios 0–1 (`cap 81` → 0.81), Unix timestamps. Error counts of vdevs are
//! gauges, since `zpool clear` resets them. zpool ≤ 2.2 prints scan dates with ctime() in
//! local time: the `Runner` runs it with `TZ=UTC0`, so they are UTC on any host (replayed
//! captures are read as UTC). A pool can show a scrub and a resilver or sequential rebuild at
//! once; the latest of each function is kept, labelled `function`. JSON gives no scan ETA, so
//! it is estimated from the issue rate between two rounds; text output carries zpool's own.

mod disks;
pub mod json;
pub mod kstat;
pub mod list;
pub mod status;
pub mod units;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::config::Interval;
use crate::host::command::{CommandError, Output, Program};
use crate::metrics::{Families, Family, Render};
use crate::parse::ParseError;

/// `[collectors.zfs]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Collect ZFS at all.
    pub enabled: bool,
    /// Sampling interval.
    pub interval: Interval,
    /// The zpool program: a bare name (looked up in a fixed PATH) or an absolute path.
    pub zpool: String,
    /// Time limit of each zpool run; a run past it is killed.
    pub timeout: Interval,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(60),
            zpool: "zpool".to_owned(),
            timeout: Interval::secs(30),
        }
    }
}

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
    const ALL: [(Self, &'static str); 4] = [
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

/// Pool states as a state set; an unlisted state printed by zpool is added to it.
const POOL_STATES: &[&str] = &[
    "ONLINE",
    "DEGRADED",
    "FAULTED",
    "OFFLINE",
    "UNAVAIL",
    "REMOVED",
    "SUSPENDED",
];
/// Vdev states (spares add AVAIL/INUSE).
const VDEV_STATES: &[&str] = &[
    "ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED",
];

const POOL_SIZE: Family = Family::gauge(
    "hostwatt_zfs_pool_size_bytes",
    "Pool size (zpool list size)",
    &["pool"],
);
const POOL_ALLOC: Family = Family::gauge(
    "hostwatt_zfs_pool_allocated_bytes",
    "Bytes allocated in the pool (zpool list allocated)",
    &["pool"],
);
const POOL_FREE: Family = Family::gauge(
    "hostwatt_zfs_pool_free_bytes",
    "Bytes free in the pool (zpool list free)",
    &["pool"],
);
const POOL_FRAG: Family = Family::gauge(
    "hostwatt_zfs_pool_fragmentation_ratio",
    "Fragmentation of the pool's free space, 0-1 (zpool list fragmentation)",
    &["pool"],
);
const POOL_CAP: Family = Family::gauge(
    "hostwatt_zfs_pool_capacity_ratio",
    "Allocated share of the pool, 0-1 (zpool list capacity); ZFS slows down past about 0.8",
    &["pool"],
);
const POOL_DEDUP: Family = Family::gauge(
    "hostwatt_zfs_pool_dedup_ratio",
    "Deduplication ratio of the pool (zpool list dedupratio)",
    &["pool"],
);
const POOL_STATE: Family = Family::gauge(
    "hostwatt_zfs_pool_state",
    "Pool state as a state set: 1 on the current state. From the kstat state file when present (fresh even while zpool hangs), else zpool list health",
    &["pool", "state"],
);
const POOL_DATA_ERRORS: Family = Family::gauge(
    "hostwatt_zfs_pool_data_errors",
    "Files or blocks with permanent errors (zpool status: errors: N data errors)",
    &["pool"],
);
const VDEV_STATE: Family = Family::gauge(
    "hostwatt_zfs_vdev_state",
    "Vdev state as a state set: 1 on the current state (zpool status)",
    &["pool", "vdev", "type", "section", "state"],
);
const VDEV_ERRORS: Family = Family::gauge(
    "hostwatt_zfs_vdev_errors",
    "I/O errors of a vdev since import or zpool clear, by kind read/write/checksum (zpool status)",
    &["pool", "vdev", "section", "kind"],
);
const VDEV_DISK: Family = Family::gauge(
    "hostwatt_zfs_vdev_disk_info",
    "Whole disk (kernel name) under a leaf vdev, for joining with SMART data; value 1",
    &["pool", "vdev", "disk"],
);
const SCAN_STATE: Family = Family::gauge(
    "hostwatt_zfs_scan_state",
    "State of the pool's current or last scan of each function (scrub, resilver: a healing resilver or a sequential rebuild) as a state set: 1 on the current state",
    &["pool", "function", "state"],
);
const SCAN_PROGRESS: Family = Family::gauge(
    "hostwatt_zfs_scan_progress_ratio",
    "Fraction of a running scan done, 0-1 (issued / total)",
    &["pool", "function"],
);
const SCAN_SCANNED: Family = Family::gauge(
    "hostwatt_zfs_scan_scanned_bytes",
    "Bytes a running scan has scanned",
    &["pool", "function"],
);
const SCAN_ISSUED: Family = Family::gauge(
    "hostwatt_zfs_scan_issued_bytes",
    "Bytes a running scan has issued (verified or rebuilt)",
    &["pool", "function"],
);
const SCAN_TOTAL: Family = Family::gauge(
    "hostwatt_zfs_scan_total_bytes",
    "Bytes a running scan has to scan",
    &["pool", "function"],
);
const SCAN_ETA: Family = Family::gauge(
    "hostwatt_zfs_scan_eta_seconds",
    "Estimated seconds until a running scan completes: zpool's own estimate from text output; with JSON, remaining bytes over the issue rate between the last two rounds",
    &["pool", "function"],
);
const SCAN_START: Family = Family::gauge(
    "hostwatt_zfs_scan_start_timestamp_seconds",
    "Start of the current or last scan, Unix time",
    &["pool", "function"],
);
const SCAN_END: Family = Family::gauge(
    "hostwatt_zfs_scan_end_timestamp_seconds",
    "End of the last finished or canceled scan, Unix time",
    &["pool", "function"],
);
const SCAN_DURATION: Family = Family::gauge(
    "hostwatt_zfs_scan_duration_seconds",
    "Duration of the last finished scan",
    &["pool", "function"],
);
const SCAN_REPAIRED: Family = Family::gauge(
    "hostwatt_zfs_scan_repaired_bytes",
    "Bytes repaired by a scrub or rebuilt by a resilver",
    &["pool", "function"],
);
const SCAN_ERRORS: Family = Family::gauge(
    "hostwatt_zfs_scan_errors",
    "Errors the last finished scan found",
    &["pool", "function"],
);
const ZPOOL_AGE: Family = Family::gauge(
    "hostwatt_zfs_zpool_data_age_seconds",
    "Age of the zpool list/status data served: 0 when this round's zpool run succeeded, else the time since the last that did (a hung zpool keeps its last good data)",
    &[],
);
const ZPOOL_OK: Family = Family::gauge(
    "hostwatt_zfs_zpool_last_run_success",
    "1 if this round's zpool runs succeeded and their output was used (a row that could not be read is an item fault, the rest is kept), 0 otherwise",
    &[],
);
const ZPOOL_INFO: Family = Family::gauge(
    "hostwatt_zfs_zpool_info",
    "zpool version and the output format used (json, text, legacy); value 1",
    &["version", "format"],
);
const ARC_SIZE: Family = Family::gauge(
    "hostwatt_zfs_arc_size_bytes",
    "Current ARC size (arcstats size)",
    &[],
);
const ARC_TARGET: Family = Family::gauge(
    "hostwatt_zfs_arc_target_bytes",
    "ARC target size (arcstats c)",
    &[],
);
const ARC_MIN: Family = Family::gauge(
    "hostwatt_zfs_arc_min_bytes",
    "ARC minimum target size (arcstats c_min)",
    &[],
);
const ARC_MAX: Family = Family::gauge(
    "hostwatt_zfs_arc_max_bytes",
    "ARC maximum target size (arcstats c_max)",
    &[],
);
const ARC_HITS: Family = Family::counter(
    "hostwatt_zfs_arc_hits_total",
    "ARC hits since module load (arcstats hits)",
    &[],
);
const ARC_MISSES: Family = Family::counter(
    "hostwatt_zfs_arc_misses_total",
    "ARC misses since module load (arcstats misses)",
    &[],
);
const L2_SIZE: Family = Family::gauge(
    "hostwatt_zfs_l2arc_size_bytes",
    "L2ARC size (arcstats l2_size); only with an L2ARC device",
    &[],
);
const L2_HITS: Family = Family::counter(
    "hostwatt_zfs_l2arc_hits_total",
    "L2ARC hits (arcstats l2_hits); only with an L2ARC device",
    &[],
);
const L2_MISSES: Family = Family::counter(
    "hostwatt_zfs_l2arc_misses_total",
    "L2ARC misses (arcstats l2_misses); only with an L2ARC device",
    &[],
);
const DS_READS: Family = Family::counter(
    "hostwatt_zfs_dataset_reads_total",
    "Read operations on a dataset since import (objset kstat reads)",
    &["pool", "dataset"],
);
const DS_WRITES: Family = Family::counter(
    "hostwatt_zfs_dataset_writes_total",
    "Write operations on a dataset since import (objset kstat writes)",
    &["pool", "dataset"],
);
const DS_READ_BYTES: Family = Family::counter(
    "hostwatt_zfs_dataset_read_bytes_total",
    "Bytes read from a dataset since import (objset kstat nread)",
    &["pool", "dataset"],
);
const DS_WRITTEN_BYTES: Family = Family::counter(
    "hostwatt_zfs_dataset_written_bytes_total",
    "Bytes written to a dataset since import (objset kstat nwritten)",
    &["pool", "dataset"],
);

/// Which zpool output format a version supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `-j --json-int` (OpenZFS ≥ 2.3).
    Json,
    /// Tab-separated `-Hp` and `status -P -L -p` (OpenZFS 0.8–2.2).
    Text,
    /// No `zpool version`: default columns in human units.
    Legacy,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
            Self::Legacy => "legacy",
        }
    }

    /// The argv (after `zpool`) of the list and status runs.
    pub fn args(self) -> [&'static [&'static str]; 2] {
        match self {
            Self::Json => [
                &["list", "-j", "--json-int"],
                &["status", "-j", "--json-int", "-P", "-L", "-p"],
            ],
            Self::Text => [&["list", "-Hp"], &["status", "-P", "-L", "-p"]],
            Self::Legacy => [&["list", "-H"], &["status"]],
        }
    }
}

/// The userland version from `zpool version` (`zfs-2.1.11-1+deb12u1`), and the format it
/// supports. `None` when the output is not an OpenZFS version.
pub fn parse_version(text: &str) -> Option<(String, Format)> {
    let first = text.lines().next()?.trim();
    let v = first.strip_prefix("zfs-")?;
    let mut nums = v.split(|c: char| !c.is_ascii_digit());
    let major: u32 = nums.next()?.parse().ok()?;
    let minor: u32 = nums.next()?.parse().ok()?;
    let format = if (major, minor) >= (2, 3) {
        Format::Json
    } else {
        Format::Text
    };
    Some((v.to_owned(), format))
}

/// One pool's zpool-derived data.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolData {
    /// From `zpool list`.
    pub list: Option<Pool>,
    /// From `zpool status`.
    pub status: Option<PoolStatus>,
    /// (vdev, disk) of leaf vdevs that map to a disk.
    pub disks: Vec<(String, String)>,
}

/// What a ZFS round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Pools by name, from the last good zpool run.
    pub pools: Vec<PoolData>,
    /// kstat pool states (fresh every round).
    pub kstat_states: Vec<(String, String)>,
    /// ARC.
    pub arc: Option<kstat::Arc>,
    /// Dataset counters.
    pub objsets: Vec<kstat::Objset>,
    /// Seconds since the zpool data was fetched; `None` when there never was any.
    pub zpool_age: Option<f64>,
    /// Whether this round's zpool runs succeeded; `None` without zpool.
    pub zpool_ok: Option<bool>,
    /// (version, format) of zpool, once detected.
    pub zpool: Option<(String, Format)>,
}

fn state_set(
    out: &mut Families,
    family: &'static Family,
    prefix: &[&str],
    known: &[&str],
    current: &str,
) {
    let mut states: Vec<&str> = known.to_vec();
    if !states.contains(&current) {
        states.push(current);
    }
    for s in states {
        let mut labels = prefix.to_vec();
        labels.push(s);
        out.push_bool(family, &labels, s == current);
    }
}

impl PoolData {
    /// The pool's name, from whichever command answered.
    pub fn name(&self) -> &str {
        self.list
            .as_ref()
            .map(|l| l.name.as_str())
            .or(self.status.as_ref().map(|s| s.name.as_str()))
            .unwrap_or_default()
    }
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &POOL_SIZE,
        &POOL_ALLOC,
        &POOL_FREE,
        &POOL_FRAG,
        &POOL_CAP,
        &POOL_DEDUP,
        &POOL_STATE,
        &POOL_DATA_ERRORS,
        &VDEV_STATE,
        &VDEV_ERRORS,
        &VDEV_DISK,
        &SCAN_STATE,
        &SCAN_PROGRESS,
        &SCAN_SCANNED,
        &SCAN_ISSUED,
        &SCAN_TOTAL,
        &SCAN_ETA,
        &SCAN_START,
        &SCAN_END,
        &SCAN_DURATION,
        &SCAN_REPAIRED,
        &SCAN_ERRORS,
        &ZPOOL_AGE,
        &ZPOOL_OK,
        &ZPOOL_INFO,
        &ARC_SIZE,
        &ARC_TARGET,
        &ARC_MIN,
        &ARC_MAX,
        &ARC_HITS,
        &ARC_MISSES,
        &L2_SIZE,
        &L2_HITS,
        &L2_MISSES,
        &DS_READS,
        &DS_WRITES,
        &DS_READ_BYTES,
        &DS_WRITTEN_BYTES,
    ];

    fn render(&self, out: &mut Families) {
        let opt = |out: &mut Families, f: &'static Family, l: &[&str], v: Option<f64>| {
            if let Some(v) = v {
                out.push(f, l, v);
            }
        };
        let u = |v: Option<u64>| v.map(|v| v as f64);
        for p in &self.pools {
            let name = p.name();
            let l = [name];
            if let Some(list) = &p.list {
                opt(out, &POOL_SIZE, &l, u(list.size));
                opt(out, &POOL_ALLOC, &l, u(list.allocated));
                opt(out, &POOL_FREE, &l, u(list.free));
                opt(out, &POOL_FRAG, &l, list.fragmentation);
                opt(out, &POOL_CAP, &l, list.capacity);
                opt(out, &POOL_DEDUP, &l, list.dedup);
            }
            let kstat_state = self.kstat_states.iter().find(|(n, _)| n == name);
            let health = p
                .list
                .as_ref()
                .map(|l| l.health.as_str())
                .or(p.status.as_ref().map(|s| s.state.as_str()));
            if let (None, Some(h)) = (kstat_state, health) {
                state_set(out, &POOL_STATE, &l, POOL_STATES, h);
            }
            let Some(st) = &p.status else { continue };
            opt(out, &POOL_DATA_ERRORS, &l, u(st.data_errors));
            for v in &st.vdevs {
                state_set(
                    out,
                    &VDEV_STATE,
                    &[name, &v.name, &v.kind, &v.section],
                    VDEV_STATES,
                    &v.state,
                );
                for (kind, n) in [
                    ("read", v.read),
                    ("write", v.write),
                    ("checksum", v.checksum),
                ] {
                    opt(out, &VDEV_ERRORS, &[name, &v.name, &v.section, kind], u(n));
                }
            }
            for (vdev, disk) in &p.disks {
                out.push(&VDEV_DISK, &[name, vdev, disk], 1.0);
            }
            for s in &st.scans {
                let function = match s.function {
                    ScanFunction::Scrub => "scrub",
                    ScanFunction::Resilver => "resilver",
                };
                let l = [name, function];
                for (state, label) in ScanState::ALL {
                    out.push_bool(&SCAN_STATE, &[name, function, label], s.state == state);
                }
                opt(out, &SCAN_PROGRESS, &l, s.progress);
                opt(out, &SCAN_SCANNED, &l, u(s.scanned));
                opt(out, &SCAN_ISSUED, &l, u(s.issued));
                opt(out, &SCAN_TOTAL, &l, u(s.total));
                opt(out, &SCAN_ETA, &l, u(s.eta));
                opt(out, &SCAN_START, &l, s.start.map(|t| t as f64));
                opt(out, &SCAN_END, &l, s.end.map(|t| t as f64));
                opt(out, &SCAN_DURATION, &l, u(s.duration));
                opt(out, &SCAN_REPAIRED, &l, u(s.repaired));
                opt(out, &SCAN_ERRORS, &l, u(s.errors));
            }
        }
        for (pool, state) in &self.kstat_states {
            state_set(out, &POOL_STATE, &[pool], POOL_STATES, state);
        }
        opt(out, &ZPOOL_AGE, &[], self.zpool_age);
        if let Some(ok) = self.zpool_ok {
            out.push_bool(&ZPOOL_OK, &[], ok);
        }
        if let Some((version, format)) = &self.zpool {
            out.push(&ZPOOL_INFO, &[version, format.name()], 1.0);
        }
        if let Some(a) = &self.arc {
            opt(out, &ARC_SIZE, &[], u(a.size));
            opt(out, &ARC_TARGET, &[], u(a.target));
            opt(out, &ARC_MIN, &[], u(a.min));
            opt(out, &ARC_MAX, &[], u(a.max));
            opt(out, &ARC_HITS, &[], u(a.hits));
            opt(out, &ARC_MISSES, &[], u(a.misses));
            opt(out, &L2_SIZE, &[], u(a.l2_size));
            opt(out, &L2_HITS, &[], u(a.l2_hits));
            opt(out, &L2_MISSES, &[], u(a.l2_misses));
        }
        for o in &self.objsets {
            let l = [o.pool.as_str(), o.dataset.as_str()];
            opt(out, &DS_READS, &l, u(o.reads));
            opt(out, &DS_WRITES, &l, u(o.writes));
            opt(out, &DS_READ_BYTES, &l, u(o.nread));
            opt(out, &DS_WRITTEN_BYTES, &l, u(o.nwritten));
        }
    }
}

/// Joins `zpool list` and `zpool status` per pool.
pub fn join(list: Vec<Pool>, status: Vec<PoolStatus>) -> Vec<PoolData> {
    let mut out: Vec<PoolData> = list
        .into_iter()
        .map(|l| PoolData {
            list: Some(l),
            status: None,
            disks: Vec::new(),
        })
        .collect();
    for s in status {
        match out
            .iter_mut()
            .find(|p| p.list.as_ref().is_some_and(|l| l.name == s.name))
        {
            Some(p) => p.status = Some(s),
            None => out.push(PoolData {
                list: None,
                status: Some(s),
                disks: Vec::new(),
            }),
        }
    }
    out
}

/// The list and status outputs of one round, read.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Every pool, with every row that could be read.
    pub pools: Vec<PoolData>,
    /// (command, part) of each part that could not be read.
    pub errors: Vec<(String, RowError)>,
}

/// Parses the list and status outputs of `format`. Only output that is unreadable as a whole
/// (not JSON) is an `Err`; a row, line or pool that cannot be read lands in `errors` and the
/// rest is kept.
pub fn parse_outputs(
    format: Format,
    list: &str,
    status: &str,
) -> Result<Parsed, (String, ParseError)> {
    let [la, sa] = format.args();
    let cmd = |a: &[&str]| format!("zpool {}", a.join(" "));
    let (mut le, mut se) = (Vec::new(), Vec::new());
    let (l, s) = match format {
        Format::Json => (
            json::parse_list_json(list, &mut le).map_err(|e| (cmd(la), e))?,
            json::parse_status_json(status, &mut se).map_err(|e| (cmd(sa), e))?,
        ),
        Format::Text | Format::Legacy => (
            list::parse_list(list, None, &mut le),
            status::parse_status(status, &mut se),
        ),
    };
    if l.is_empty() && s.is_empty() {
        // nothing at all was readable: garbage, not a host without pools
        if let Some(e) = le.first().or(se.first()) {
            let c = if le.is_empty() { sa } else { la };
            return Err((cmd(c), e.error.clone()));
        }
    }
    let errors = (le.into_iter().map(|e| (cmd(la), e)))
        .chain(se.into_iter().map(|e| (cmd(sa), e)))
        .collect();
    Ok(Parsed {
        pools: join(l, s),
        errors,
    })
}

/// The ZFS collector. Holds the detected zpool format and the last good zpool data.
#[derive(Debug)]
pub struct Zfs {
    cfg: Config,
    zpool: Option<(String, Format)>,
    /// Last good zpool data and when it was fetched.
    last: Option<(Vec<PoolData>, Instant)>,
    /// When zpool last said ZFS is absent (no kstat either): it is asked again only after
    /// `ABSENT_RECHECK`, or as soon as the kstat directory appears (module loaded).
    absent_since: Option<(Instant, String)>,
}

/// How long a host found without ZFS goes before zpool is asked again. Starting a process every
/// round on a host that has no ZFS costs wake-ups for nothing.
const ABSENT_RECHECK: Duration = Duration::from_secs(3600);

/// How a zpool round went.
enum ZpoolRound {
    /// Parsed, with the parts that could not be read.
    Ok(Parsed),
    /// zpool is not installed.
    Missing(CommandError),
    /// zpool ran but said it cannot work (no ZFS module, no zfs-fuse daemon).
    Refused(String),
    /// Timeout, stuck child, garbage.
    Failed(CollectError),
}

impl Zfs {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            zpool: None,
            last: None,
            absent_since: None,
        }
    }

    fn program(&self) -> Program {
        Program::new("zpool", &self.cfg.zpool)
    }

    async fn run(&self, cx: &Context, args: &[&str]) -> Result<Output, CommandError> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        cx.runner
            .run(&self.program(), &args, self.cfg.timeout.0)
            .await
    }

    async fn zpool_round(&mut self, cx: &Context) -> ZpoolRound {
        let mut format = self.zpool.as_ref().map(|z| z.1);
        if format.is_none() {
            match self.run(cx, &["version"]).await {
                Ok(out) => match parse_version(&out.stdout_text()) {
                    // OpenZFS prints its userland version even when the module is not loaded
                    Some(v) => {
                        format = Some(v.1);
                        self.zpool = Some(v);
                    }
                    // zfs-fuse and ZoL <= 0.7 have no "version" subcommand: remembered; any
                    // other failure is retried next round
                    None => {
                        if is_usage_error(&out) {
                            self.zpool = Some(("unknown".into(), Format::Legacy));
                        }
                        format = Some(Format::Legacy);
                    }
                },
                Err(e @ CommandError::Spawn { .. }) => return ZpoolRound::Missing(e),
                Err(e) => return ZpoolRound::Failed(e.into()),
            }
        }
        let format = format.unwrap_or(Format::Legacy);
        let [la, sa] = format.args();
        let mut texts = Vec::with_capacity(2);
        for args in [la, sa] {
            match self.run(cx, args).await {
                Ok(out) if out.code == Some(0) => texts.push(out.stdout_text()),
                Ok(out) => {
                    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                    return ZpoolRound::Refused(format!(
                        "zpool {} exited {:?}: {msg}",
                        args.join(" "),
                        out.code
                    ));
                }
                Err(e @ CommandError::Spawn { .. }) => return ZpoolRound::Missing(e),
                Err(e) => return ZpoolRound::Failed(e.into()),
            }
        }
        match parse_outputs(format, &texts[0], &texts[1]) {
            Ok(parsed) => ZpoolRound::Ok(parsed),
            Err((cmd, e)) => ZpoolRound::Failed(CollectError::parse(cmd, e)),
        }
    }
}

/// zpool rejected `version` as an unknown subcommand (`unrecognized command 'version'` and its
/// usage text), as zfs-fuse and ZoL <= 0.7 do.
fn is_usage_error(out: &Output) -> bool {
    let all = format!(
        "{}{}",
        out.stdout_text(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.code != Some(0) && (all.contains("unrecognized command") || all.contains("usage:"))
}

/// ETA of a running JSON scan from the issue rate between two observations.
fn estimate_eta(prev: Option<&Scan>, now: &mut Scan, dt: f64) {
    if now.eta.is_some() || now.state != ScanState::Running || dt <= 0.0 {
        return;
    }
    let Some(p) = prev.filter(|p| p.function == now.function && p.start == now.start) else {
        return;
    };
    let (Some(a), Some(b), Some(total)) = (p.issued, now.issued, now.total) else {
        return;
    };
    if b > a {
        let rate = (b - a) as f64 / dt;
        now.eta = Some((total.saturating_sub(b) as f64 / rate).round() as u64);
    }
}

impl Collector for Zfs {
    type Snapshot = Snapshot;
    const NAME: &'static str = "zfs";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut faults = Vec::new();
        let kstats = kstat::read_kstats(&cx.root, &mut faults)?;
        if let (None, Some((since, why))) = (&kstats, &self.absent_since)
            && at.saturating_duration_since(*since) < ABSENT_RECHECK
        {
            return Err(CollectError::Unavailable(why.clone()));
        }
        self.absent_since = None;
        let round = self.zpool_round(cx).await;
        let zpool_ok = match round {
            ZpoolRound::Ok(Parsed { mut pools, errors }) => {
                for (cmd, e) in errors {
                    faults.push(Fault {
                        item: format!("zpool/{}", e.item),
                        error: CollectError::Parse {
                            path: cmd,
                            source: e.error,
                        },
                    });
                }
                for p in &mut pools {
                    let prev = self.last.as_ref().and_then(|(l, t)| {
                        let old = l.iter().find(|o| {
                            o.status.as_ref().map(|s| &s.name) == p.status.as_ref().map(|s| &s.name)
                        })?;
                        Some((
                            old.status.as_ref()?.scans.clone(),
                            at.saturating_duration_since(*t).as_secs_f64(),
                        ))
                    });
                    if let Some(st) = p.status.as_mut() {
                        if let Some((old, dt)) = &prev {
                            for scan in &mut st.scans {
                                let before = old.iter().find(|s| s.function == scan.function);
                                estimate_eta(before, scan, *dt);
                            }
                        }
                        p.disks = st
                            .vdevs
                            .iter()
                            .filter(|v| v.leaf && v.kind == "disk")
                            .filter_map(|v| {
                                disks::disk_of(&cx.root, v.path.as_deref().unwrap_or(&v.name))
                                    .map(|d| (v.name.clone(), d))
                            })
                            .collect();
                    }
                }
                self.last = Some((pools, at));
                Some(true)
            }
            ZpoolRound::Missing(e) => {
                if kstats.is_none() {
                    let why = format!("no {} and {e}", kstat::BASE);
                    self.absent_since = Some((at, why.clone()));
                    return Err(CollectError::Unavailable(why));
                }
                faults.push(Fault {
                    item: "zpool".into(),
                    error: e.into(),
                });
                None
            }
            ZpoolRound::Refused(msg) => {
                if kstats.is_none() && self.last.is_none() {
                    let why = format!("no {} and {msg}", kstat::BASE);
                    self.absent_since = Some((at, why.clone()));
                    return Err(CollectError::Unavailable(why));
                }
                faults.push(Fault {
                    item: "zpool".into(),
                    error: CollectError::Parse {
                        path: "zpool".into(),
                        source: ParseError::at("zpool", 1, msg),
                    },
                });
                Some(false)
            }
            ZpoolRound::Failed(e) => {
                faults.push(Fault {
                    item: "zpool".into(),
                    error: e,
                });
                Some(false)
            }
        };
        let kstats = kstats.unwrap_or_default();
        let (pools, zpool_age) = match &self.last {
            Some((pools, t)) => (
                pools.clone(),
                Some(at.saturating_duration_since(*t).as_secs_f64()),
            ),
            None => (Vec::new(), None),
        };
        Ok(Sample {
            snapshot: Snapshot {
                pools,
                kstat_states: kstats.states.into_iter().collect(),
                arc: kstats.arc,
                objsets: kstats.objsets,
                zpool_age,
                zpool_ok,
                zpool: self.zpool.clone(),
            },
            faults,
        })
    }
}

#[cfg(test)]
mod real_world_tests;
#[cfg(test)]
mod tests;
