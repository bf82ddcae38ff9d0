//! The exposition of a ZFS round: metric families and `Render for Snapshot`. Pool and vdev
//! states are state sets; an unlisted state zpool prints is added rather than dropped.

use super::{ScanFunction, ScanState, Snapshot};
use crate::metrics::{Families, Family, Render};

/// Pool states as a state set; an unlisted state printed by zpool is added to it.
pub(super) const POOL_STATES: &[&str] = &[
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
