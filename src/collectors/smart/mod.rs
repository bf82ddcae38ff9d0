//! SMART health of every disk, read with smartmontools' `smartctl --json` without ever waking
//! a sleeping disk; plus drive advisories (SMR, drive class, rated duty).
//!
//! Commands (through `Runner`, program name `smartctl`, path from `smartctl` in the config):
//! - `smartctl --scan-open --json`: discovery, with the `-d` type smartctl settled on. Run at
//!   start and when the set of disks in `sys/block` changes (hot-plug), which reading
//!   `sys/block` detects without touching a disk; on a timer only when `rescan_interval` is set.
//!   It opens each device once; with libata that is answered from the kernel's cached IDENTIFY
//!   data, but some USB bridges may wake a disk, so it never runs on a schedule by default.
//! - `smartctl --json -n standby,3 -d <type> -a <device>` per device. `-d` from the scan, so no
//!   autodetection (which can spin a disk up) ever runs on a poll. `-a` rather than `-x`: it has
//!   health, attributes, error-log summary and the self-test log, with fewer commands sent to the
//!   disk (no SCT temperature history, GP logs or device statistics) and fewer USB-bridge errors.
//!   `-n standby,3`: a disk in STANDBY or SLEEP gets only CHECK POWER MODE and smartctl exits 3,
//!   an exit no other run can produce (see `json::STANDBY_EXIT`); it keeps its last values,
//!   marked with their age. smartctl 7.3 (Debian 12) supports `-n MODE,STATUS` for ATA and,
//!   experimentally, SCSI; NVMe ignores `-n` (see `power`).
//!
//! Reads `sys/block/<dev>/stat` through `Root` every `interval` (cheap, never touches the
//! disk). A disk is queried when its `query_interval` (or its `device_intervals` entry) has
//! passed *and* it did I/O since the last query: a SMART read resets some drives' idle timers,
//! so an idle disk is left alone until something else wakes it. A device with no `sys/block`
//! entry (RAID pass-through such as `/dev/bus/0 -d megaraid,N`) cannot be gated and is queried
//! every interval.
//!
//! Each run has `timeout`; a hung one is killed by the Runner, and one that survives SIGKILL (D
//! state) blocks further smartctl runs until it is gone. Due devices run concurrently, one run
//! per device at most, so one hung disk costs a round at most `timeout`, and scrapes never wait:
//! they render the last snapshot.
//!
//! Labels: `disk` is a stable identity, `wwn-0x…` when the disk reports a WWN, else
//! `<model>_<serial>` (like /dev/disk/by-id), hashed to `disk-<16 hex>` with `hide_serial`;
//! until a disk has answered once it is its device basename (`sda`), or node and type for a disk
//! behind a controller (`bus0_megaraid_1`). `/dev/sdX` names change across boots, so `device`
//! is only in `hostwatt_smart_device_info`.
//!
//! A disk is its (device, type) everywhere: the device map, activity gating, query scheduling
//! and labels. One node reaches several disks behind a RAID controller (`/dev/bus/0` with
//! `-d megaraid,1/2/3`, `cciss,N`, `areca,N`, `3ware,N`, `aacraid,H,L,ID`, `sat+megaraid,N`).

pub mod advisories;
pub mod json;
pub mod power;

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{CollectError, Collector, Context, Fault, Sample, blockstat};
use crate::config::Interval;
use crate::host::command::{CommandError, Output, Program};
use crate::host::root::ReadError;
use crate::metrics::{Families, Family, Render};
use advisories::{Advice, Class, Table, glob};
use json::{Data, EXIT_BITS, Report, STANDBY_EXIT, ScanDevice};
use power::{Power, State};

const HINT: &str =
    "smartctl needs root (or CAP_SYS_RAWIO and CAP_SYS_ADMIN for NVMe) to open disks";

/// `[collectors.smart]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run smartctl at all. Off by default: it needs root and talks to the disks.
    pub enabled: bool,
    /// How often `sys/block/*/stat` is checked for activity (cheap; never touches a disk).
    pub interval: Interval,
    /// Least time between two SMART reads of one disk; longer than typical spin-down timers.
    pub query_interval: Interval,
    /// Also rerun `--scan-open` this often, besides at start and on hot-plug (default: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescan_interval: Option<Interval>,
    /// Time limit of one smartctl run; a hung one is killed.
    pub timeout: Interval,
    /// Path of smartctl (a bare name is looked up in a fixed PATH).
    pub smartctl: String,
    /// Device globs to query (`/dev/sd*`); empty means every scanned device.
    pub include: Vec<String>,
    /// Device globs never to query; applied after `include`.
    pub exclude: Vec<String>,
    /// Replace serial numbers and WWNs in labels by a hash.
    pub hide_serial: bool,
    /// Per-device `query_interval`: device glob (`/dev/sdb`) or `disk` label → interval.
    pub device_intervals: BTreeMap<String, Interval>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Interval::secs(60),
            query_interval: Interval::secs(30 * 60),
            rescan_interval: None,
            timeout: Interval::secs(30),
            smartctl: "smartctl".to_owned(),
            include: Vec::new(),
            exclude: Vec::new(),
            hide_serial: false,
            device_intervals: BTreeMap::new(),
        }
    }
}

const D: &[&str] = &["disk"];

const INFO: Family = Family::gauge(
    "hostwatt_smart_device_info",
    "Identity of a disk seen by smartctl (value 1); device is the current /dev node, which can change across boots",
    &[
        "disk",
        "device",
        "type",
        "protocol",
        "model",
        "family",
        "serial",
        "firmware",
        "rotation_rate",
    ],
);
const CAPACITY: Family = Family::gauge(
    "hostwatt_smart_capacity_bytes",
    "User capacity of the disk",
    D,
);
const PASSED: Family = Family::gauge(
    "hostwatt_smart_health_passed",
    "1 if the disk's overall SMART health self-assessment passed, 0 if it failed",
    D,
);
const TEMPERATURE: Family = Family::gauge(
    "hostwatt_smart_temperature_celsius",
    "Current disk temperature as reported by SMART",
    D,
);
const POWER_ON: Family = Family::counter(
    "hostwatt_smart_power_on_seconds_total",
    "Disk power-on time (SMART power-on hours x 3600, plus minutes where reported)",
    D,
);
const POWER_CYCLES: Family = Family::counter(
    "hostwatt_smart_power_cycles_total",
    "Disk power cycles over its lifetime",
    D,
);
const START_STOP: Family = Family::counter(
    "hostwatt_smart_start_stop_cycles_total",
    "Spindle start/stop cycles (ATA attribute 4, SCSI accumulated start-stop cycles)",
    D,
);
const LOAD_CYCLES: Family = Family::counter(
    "hostwatt_smart_load_cycles_total",
    "Head load/unload cycles (ATA attribute 193, SCSI accumulated load-unload cycles)",
    D,
);
const ATTR: &[&str] = &["disk", "id", "name"];
const ATTR_VALUE: Family = Family::gauge(
    "hostwatt_smart_attribute_value",
    "Normalised value of an ATA SMART attribute (higher is better, vendor scale)",
    ATTR,
);
const ATTR_WORST: Family = Family::gauge(
    "hostwatt_smart_attribute_worst",
    "Worst normalised value an ATA SMART attribute has had",
    ATTR,
);
const ATTR_THRESHOLD: Family = Family::gauge(
    "hostwatt_smart_attribute_threshold",
    "Failure threshold of an ATA SMART attribute; value <= threshold means failing",
    ATTR,
);
const ATTR_RAW: Family = Family::gauge(
    "hostwatt_smart_attribute_raw",
    "Raw value of an ATA SMART attribute as a 48-bit integer (vendor-specific; some ids pack several fields)",
    ATTR,
);
const REALLOCATED: Family = Family::gauge(
    "hostwatt_smart_reallocated_sectors",
    "Reallocated sectors (ATA attribute 5 raw)",
    D,
);
const PENDING: Family = Family::gauge(
    "hostwatt_smart_pending_sectors",
    "Sectors waiting to be remapped (ATA attribute 197 raw)",
    D,
);
const OFFLINE_UNCORRECTABLE: Family = Family::gauge(
    "hostwatt_smart_offline_uncorrectable_sectors",
    "Sectors found uncorrectable by offline scans (ATA attribute 198 raw)",
    D,
);
const CRC_ERRORS: Family = Family::counter(
    "hostwatt_smart_udma_crc_errors_total",
    "Interface CRC errors, usually a cable or backplane problem (ATA attribute 199 raw)",
    D,
);
const NVME_WARNING: Family = Family::gauge(
    "hostwatt_smart_nvme_critical_warning",
    "NVMe critical warning bits of the SMART / health log (1 = set)",
    &["disk", "bit"],
);
/// Names of the NVMe critical warning bits 0–5 (NVMe base spec, SMART / Health log).
const NVME_WARNING_BITS: [&str; 6] = [
    "available_spare",
    "temperature",
    "reliability",
    "read_only",
    "volatile_memory_backup",
    "persistent_memory_read_only",
];
const NVME_USED: Family = Family::gauge(
    "hostwatt_smart_nvme_percentage_used_ratio",
    "Vendor estimate of NVMe endurance used (percentage used / 100; may exceed 1)",
    D,
);
const NVME_SPARE: Family = Family::gauge(
    "hostwatt_smart_nvme_available_spare_ratio",
    "NVMe available spare capacity (percent / 100)",
    D,
);
const NVME_SPARE_THRESHOLD: Family = Family::gauge(
    "hostwatt_smart_nvme_available_spare_threshold_ratio",
    "NVMe available spare threshold below which the controller warns (percent / 100)",
    D,
);
const NVME_MEDIA_ERRORS: Family = Family::counter(
    "hostwatt_smart_nvme_media_errors_total",
    "NVMe unrecovered data integrity errors",
    D,
);
const NVME_UNSAFE: Family = Family::counter(
    "hostwatt_smart_nvme_unsafe_shutdowns_total",
    "NVMe shutdowns without a prior shutdown notification",
    D,
);
const NVME_READ: Family = Family::counter(
    "hostwatt_smart_nvme_read_bytes_total",
    "Bytes read by the host (NVMe data units read x 512000)",
    D,
);
const NVME_WRITTEN: Family = Family::counter(
    "hostwatt_smart_nvme_written_bytes_total",
    "Bytes written by the host (NVMe data units written x 512000)",
    D,
);
const NVME_ERROR_LOG: Family = Family::counter(
    "hostwatt_smart_nvme_error_log_entries_total",
    "NVMe error information log entries over the controller's life",
    D,
);
const SCSI_DEFECTS: Family = Family::gauge(
    "hostwatt_smart_scsi_grown_defects",
    "SCSI grown defect list length",
    D,
);
const SCSI_UNCORRECTED: Family = Family::counter(
    "hostwatt_smart_scsi_uncorrected_errors_total",
    "SCSI uncorrected errors by operation (error counter log)",
    &["disk", "operation"],
);
const SELF_TEST: Family = Family::gauge(
    "hostwatt_smart_self_test_last_passed",
    "1 if the newest completed self-test in the disk's log passed, 0 if it failed",
    D,
);
const EXIT_BIT: Family = Family::gauge(
    "hostwatt_smart_exit_status_bit",
    "Bits of smartctl's exit status on the last run that was not a standby check (smartctl(8) EXIT STATUS)",
    &["disk", "bit"],
);
const DATA_AGE: Family = Family::gauge(
    "hostwatt_smart_data_age_seconds",
    "Age of the disk's SMART values as of the last round (they are kept while the disk sleeps or is idle)",
    D,
);
const POWER_STATE: Family = Family::gauge(
    "hostwatt_smart_power_state",
    "Disk power state as known without waking it: active (I/O or answered), idle (no I/O since the last check), standby (seen asleep, no I/O since), unknown",
    &["disk", "state"],
);
const STANDBY_SECONDS: Family = Family::counter(
    "hostwatt_smart_standby_seconds_total",
    "Time the disk spent in standby since hostwatt started (from the query that saw it asleep to the first I/O after)",
    D,
);
const SPIN_UPS: Family = Family::counter(
    "hostwatt_smart_spin_ups_total",
    "Standby to active transitions observed since hostwatt started",
    D,
);
const RUNS: Family = Family::counter(
    "hostwatt_smart_runs_total",
    "smartctl runs per disk by outcome: data, standby, no_data, garbage, timeout, error",
    &["disk", "outcome"],
);
const SMR: Family = Family::gauge(
    "hostwatt_smart_smr",
    "1 if the disk uses shingled magnetic recording (source: drivedb = smartctl's drive database, table = hostwatt's drives.toml)",
    &["disk", "source"],
);
const CLASS: Family = Family::gauge(
    "hostwatt_smart_drive_class",
    "Drive class from model family and model number (hostwatt's drives.toml)",
    &["disk", "class"],
);
const RATED_DUTY: Family = Family::gauge(
    "hostwatt_smart_rated_duty_ratio",
    "Rated power-on time per year as a fraction of the year (desktop 2400/8760, NAS and enterprise 1)",
    D,
);
const BEYOND_DUTY: Family = Family::gauge(
    "hostwatt_smart_beyond_rated_duty",
    "1 if power-on hours exceed the class's rated hours per year x 5 years (desktop: 12000 h)",
    D,
);

/// One disk's state across rounds.
#[derive(Debug)]
struct Device {
    scan: ScanDevice,
    block: Vec<String>,
    power: Power,
    last_query: Option<Instant>,
    ios: Option<u64>,
    ios_at_query: Option<u64>,
    data: Option<Box<Data>>,
    data_at: Option<Instant>,
    exit: Option<u8>,
    runs: BTreeMap<&'static str, u64>,
}

impl Device {
    fn new(scan: ScanDevice, listing: &[String]) -> Self {
        Self {
            block: power::block_entries(&scan.name, listing),
            scan,
            power: Power::default(),
            last_query: None,
            ios: None,
            ios_at_query: None,
            data: None,
            data_at: None,
            exit: None,
            runs: BTreeMap::new(),
        }
    }

    /// The name of the disk until it has answered once: see [`node_name`].
    fn basename(&self) -> String {
        node_name(&self.scan.name, &self.scan.dev_type)
    }
}

/// A disk as smartctl addresses it: device node and `-d` type. Behind a RAID controller one
/// node reaches many disks (`/dev/bus/0` with `megaraid,1`, `megaraid,2`…; `/dev/sg0` with
/// `cciss,N`), so the node alone is not a disk.
type Key = (String, String);

/// `-d` types that address one disk behind a controller (smartctl(8) `-d`): a node with such a
/// type is shared by every disk on that controller.
const TARGET_TYPES: [&str; 8] = [
    "megaraid", "cciss", "areca", "3ware", "aacraid", "hpt", "jmb39x", "sssraid",
];

/// Whether `dev_type` (`megaraid,1`, `sat+megaraid,1`, `cciss,0`, `areca,3/1`) names a disk
/// behind a controller rather than the node's own disk.
pub fn is_target_type(dev_type: &str) -> bool {
    let last = dev_type.rsplit('+').next().unwrap_or(dev_type);
    let base = last.split(',').next().unwrap_or(last);
    TARGET_TYPES.iter().any(|t| base.starts_with(t)) && last.contains(',')
}

/// A disk's name from how it is addressed: the node's basename (`/dev/sda` → `sda`), and for a
/// disk behind a controller the node and type too (`/dev/bus/0`, `megaraid,1` →
/// `bus0_megaraid_1`), so two disks on one node never share a name.
pub fn node_name(device: &str, dev_type: &str) -> String {
    if !is_target_type(dev_type) {
        return device.rsplit('/').next().unwrap_or(device).to_owned();
    }
    let node: String = device
        .strip_prefix("/dev/")
        .unwrap_or(device)
        .chars()
        .filter(|&c| c != '/')
        .collect();
    let target: String = dev_type
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{node}_{target}")
}

/// The `disk` label: WWN, else model + serial, else the device basename; hashed when hidden.
pub fn identity(data: Option<&Data>, basename: &str, hide_serial: bool) -> String {
    let id = data.and_then(|d| match (&d.wwn, &d.model, &d.serial) {
        (Some(wwn), _, _) => Some(format!("wwn-{wwn}")),
        (None, Some(model), Some(serial)) => Some(
            format!("{model}_{serial}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("_"),
        ),
        _ => None,
    });
    match id {
        Some(id) if hide_serial => format!("disk-{:016x}", fnv1a(id.as_bytes())),
        Some(id) => id,
        None => basename.to_owned(),
    }
}

/// FNV-1a 64: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The SMART collector.
#[derive(Debug)]
pub struct Smart {
    cfg: Config,
    program: Program,
    table: Table,
    devices: BTreeMap<Key, Device>,
    scanned_at: Option<Instant>,
    listing: Option<Vec<String>>,
}

impl Smart {
    /// A collector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Self {
            program: Program::new("smartctl", cfg.smartctl.clone()),
            table: Table::embedded(),
            cfg,
            devices: BTreeMap::new(),
            scanned_at: None,
            listing: None,
        }
    }

    fn selected(&self, name: &str) -> bool {
        (self.cfg.include.is_empty() || self.cfg.include.iter().any(|g| glob(g, name)))
            && !self.cfg.exclude.iter().any(|g| glob(g, name))
    }

    fn query_interval(&self, d: &Device) -> Duration {
        let id = identity(d.data.as_deref(), &d.basename(), self.cfg.hide_serial);
        self.cfg
            .device_intervals
            .iter()
            .find(|(pat, _)| glob(pat, &d.scan.name) || glob(pat, &id))
            .map_or(self.cfg.query_interval.0, |(_, i)| i.0)
    }

    async fn scan(&self, cx: &Context) -> Result<Vec<ScanDevice>, CollectError> {
        let args = ["--scan-open".to_owned(), "--json".to_owned()];
        let out = cx
            .runner
            .run(&self.program, &args, self.cfg.timeout.0)
            .await
            .map_err(|e| match e {
                CommandError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                    CollectError::Unavailable(format!("smartctl not found ({})", self.cfg.smartctl))
                }
                e => CollectError::Command(e),
            })?;
        let devices = json::parse_scan(&out.stdout_text())
            .map_err(|e| CollectError::parse("smartctl --scan-open", e))?;
        Ok(devices
            .into_iter()
            .filter(|d| self.selected(&d.name))
            .collect())
    }

    fn merge(&mut self, scanned: Vec<ScanDevice>, listing: &[String]) {
        let mut next = BTreeMap::new();
        for s in scanned {
            let key = (s.name.clone(), s.dev_type.clone());
            let dev = match self.devices.remove(&key) {
                Some(mut d) if d.scan.dev_type == s.dev_type => {
                    d.block = power::block_entries(&s.name, listing);
                    d.scan = s;
                    d
                }
                _ => Device::new(s, listing),
            };
            next.insert(key, dev);
        }
        self.devices = next;
    }

    fn args(d: &Device) -> Vec<String> {
        vec![
            "--json".into(),
            "-n".into(),
            format!("standby,{STANDBY_EXIT}"),
            "-d".into(),
            d.scan.dev_type.clone(),
            "-a".into(),
            d.scan.name.clone(),
        ]
    }

    /// Folds one run's result into the device; returns a fault when it yielded no data.
    fn absorb(
        &self,
        d: &mut Device,
        result: Result<Output, CommandError>,
        at: Instant,
    ) -> Option<Fault> {
        let item = identity(d.data.as_deref(), &d.basename(), self.cfg.hide_serial);
        let mut count = |o: &'static str| *d.runs.entry(o).or_insert(0) += 1;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                count(match e {
                    CommandError::Timeout { .. } | CommandError::StillRunning { .. } => "timeout",
                    _ => "error",
                });
                return Some(Fault {
                    item,
                    error: CollectError::Command(e),
                });
            }
        };
        let Some(code) = out.code else {
            count("error");
            let error = io::Error::other("smartctl was killed by a signal");
            return Some(Fault {
                item,
                error: CollectError::Read(ReadError {
                    rel_path: d.scan.name.clone(),
                    source: error,
                }),
            });
        };
        match json::parse_report(&out.stdout_text(), code) {
            Ok(Report::Standby { .. }) => {
                count("standby");
                d.power.observe_standby(at);
                None
            }
            Ok(Report::NoData { exit, message }) => {
                count("no_data");
                d.exit = Some(exit);
                let error = if message.contains("Permission denied") {
                    CollectError::PermissionDenied {
                        path: d.scan.name.clone(),
                        hint: HINT,
                    }
                } else {
                    CollectError::Read(ReadError {
                        rel_path: d.scan.name.clone(),
                        source: io::Error::other(message),
                    })
                };
                Some(Fault { item, error })
            }
            Ok(Report::Data { exit, data }) => {
                count("data");
                d.exit = Some(exit);
                d.data = Some(data);
                d.data_at = Some(at);
                d.power.observe_answer(at);
                None
            }
            Err(e) => {
                count("garbage");
                Some(Fault {
                    item,
                    error: CollectError::parse(format!("smartctl -a {}", d.scan.name), e),
                })
            }
        }
    }

    fn snapshot(&self, at: Instant) -> Snapshot {
        let mut seen = std::collections::BTreeSet::new();
        let disks = self
            .devices
            .values()
            .map(|d| {
                // one disk reachable twice (/dev/sda and /dev/bus/0 -d megaraid,N) would give
                // duplicate series; the second keeps its device name in the label
                let mut id = identity(d.data.as_deref(), &d.basename(), self.cfg.hide_serial);
                if !seen.insert(id.clone()) {
                    id = format!("{id}-{}", d.basename());
                }
                let data = d.data.as_deref();
                let advice = data.map(|x| {
                    let solid = x.rotation_rpm == Some(0) || x.protocol == "NVMe";
                    self.table.advise(
                        x.model.as_deref(),
                        x.family.as_deref(),
                        solid,
                        x.power_on_seconds,
                    )
                });
                Disk {
                    id,
                    device: d.scan.name.clone(),
                    dev_type: d.scan.dev_type.clone(),
                    block: d.block.clone(),
                    protocol: data
                        .map(|x| x.protocol.clone())
                        .unwrap_or_else(|| d.scan.protocol.clone()),
                    hide_serial: self.cfg.hide_serial,
                    data: d.data.clone(),
                    age_seconds: d
                        .data_at
                        .map(|t| at.saturating_duration_since(t).as_secs_f64()),
                    exit: d.exit,
                    state: d.power.state,
                    standby_seconds: d.power.standby_seconds,
                    spin_ups: d.power.spin_ups,
                    runs: d.runs.iter().map(|(k, v)| (*k, *v)).collect(),
                    advice,
                }
            })
            .collect();
        Snapshot { disks }
    }
}

/// What a SMART round publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every scanned disk.
    pub disks: Vec<Disk>,
}

/// One disk's exported values.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The `disk` label.
    pub id: String,
    /// Current device node.
    pub device: String,
    /// `-d` type.
    pub dev_type: String,
    /// Kernel disk names (`sys/block` entries) the device node reaches: `sda`, an NVMe
    /// controller's namespaces; none for a RAID pass-through node such as `/dev/bus/0`.
    pub block: Vec<String>,
    /// Protocol.
    pub protocol: String,
    /// Whether the serial is hidden in `_info`.
    pub hide_serial: bool,
    /// Last SMART values, if any run ever returned data.
    pub data: Option<Box<Data>>,
    /// Age of `data` at the round.
    pub age_seconds: Option<f64>,
    /// Exit status of the last non-standby run.
    pub exit: Option<u8>,
    /// Power state.
    pub state: State,
    /// Seconds in standby.
    pub standby_seconds: f64,
    /// Spin-ups seen.
    pub spin_ups: u64,
    /// Runs by outcome.
    pub runs: Vec<(&'static str, u64)>,
    /// Advisories (when data is known).
    pub advice: Option<Advice>,
}

fn opt(out: &mut Families, family: &'static Family, labels: &[&str], v: Option<f64>) {
    if let Some(v) = v {
        out.push(family, labels, v);
    }
}

fn num(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

impl Render for Snapshot {
    const FAMILIES: &'static [&'static Family] = &[
        &INFO,
        &CAPACITY,
        &PASSED,
        &TEMPERATURE,
        &POWER_ON,
        &POWER_CYCLES,
        &START_STOP,
        &LOAD_CYCLES,
        &ATTR_VALUE,
        &ATTR_WORST,
        &ATTR_THRESHOLD,
        &ATTR_RAW,
        &REALLOCATED,
        &PENDING,
        &OFFLINE_UNCORRECTABLE,
        &CRC_ERRORS,
        &NVME_WARNING,
        &NVME_USED,
        &NVME_SPARE,
        &NVME_SPARE_THRESHOLD,
        &NVME_MEDIA_ERRORS,
        &NVME_UNSAFE,
        &NVME_READ,
        &NVME_WRITTEN,
        &NVME_ERROR_LOG,
        &SCSI_DEFECTS,
        &SCSI_UNCORRECTED,
        &SELF_TEST,
        &EXIT_BIT,
        &DATA_AGE,
        &POWER_STATE,
        &STANDBY_SECONDS,
        &SPIN_UPS,
        &RUNS,
        &SMR,
        &CLASS,
        &RATED_DUTY,
        &BEYOND_DUTY,
    ];

    fn render(&self, out: &mut Families) {
        for disk in &self.disks {
            disk.render(out);
        }
    }
}

impl Disk {
    fn render(&self, out: &mut Families) {
        let id = self.id.as_str();
        let l = [id];
        let data = self.data.as_deref();
        let s = |f: fn(&Data) -> Option<&String>| data.and_then(f).map_or("", String::as_str);
        let rotation = data
            .and_then(|d| d.rotation_rpm)
            .map(|r| r.to_string())
            .unwrap_or_default();
        let serial = if self.hide_serial {
            ""
        } else {
            s(|d| d.serial.as_ref())
        };
        out.push(
            &INFO,
            &[
                id,
                &self.device,
                &self.dev_type,
                &self.protocol,
                s(|d| d.model.as_ref()),
                s(|d| d.family.as_ref()),
                serial,
                s(|d| d.firmware.as_ref()),
                &rotation,
            ],
            1.0,
        );
        for st in State::ALL {
            out.push_bool(&POWER_STATE, &[id, st.label()], st == self.state);
        }
        out.push(&STANDBY_SECONDS, &l, self.standby_seconds);
        out.push(&SPIN_UPS, &l, self.spin_ups as f64);
        for (outcome, n) in &self.runs {
            out.push(&RUNS, &[id, outcome], *n as f64);
        }
        if let Some(exit) = self.exit {
            for (bit, name) in EXIT_BITS.iter().enumerate() {
                out.push_bool(&EXIT_BIT, &[id, name], exit & (1 << bit) != 0);
            }
        }
        opt(out, &DATA_AGE, &l, self.age_seconds);
        if let Some(a) = &self.advice {
            out.push_bool(
                &SMR,
                &[id, a.smr_source.unwrap_or("")],
                a.smr_source.is_some(),
            );
            for c in Class::ALL {
                out.push_bool(&CLASS, &[id, c.label()], c == a.class);
            }
            opt(out, &RATED_DUTY, &l, a.rated_duty_ratio);
            if let Some(b) = a.beyond_rated_duty {
                out.push_bool(&BEYOND_DUTY, &l, b);
            }
        }
        let Some(d) = data else {
            return;
        };
        opt(out, &CAPACITY, &l, num(d.capacity_bytes));
        if let Some(p) = d.passed {
            out.push_bool(&PASSED, &l, p);
        }
        opt(out, &TEMPERATURE, &l, d.temperature_celsius);
        opt(out, &POWER_ON, &l, d.power_on_seconds);
        opt(out, &POWER_CYCLES, &l, num(d.power_cycles));
        opt(out, &START_STOP, &l, num(d.start_stop_cycles));
        opt(out, &LOAD_CYCLES, &l, num(d.load_cycles));
        for a in &d.attributes {
            let idl = a.id.to_string();
            let labels = [id, idl.as_str(), a.name.as_str()];
            out.push(&ATTR_VALUE, &labels, a.value as f64);
            out.push(&ATTR_WORST, &labels, a.worst as f64);
            out.push(&ATTR_THRESHOLD, &labels, a.thresh as f64);
            out.push(&ATTR_RAW, &labels, a.raw as f64);
        }
        opt(out, &REALLOCATED, &l, num(d.raw(5)));
        opt(out, &PENDING, &l, num(d.raw(197)));
        opt(out, &OFFLINE_UNCORRECTABLE, &l, num(d.raw(198)));
        opt(out, &CRC_ERRORS, &l, num(d.raw(199)));
        if let Some(n) = &d.nvme {
            if let Some(w) = n.critical_warning {
                for (bit, name) in NVME_WARNING_BITS.iter().enumerate() {
                    out.push_bool(&NVME_WARNING, &[id, name], w & (1 << bit) != 0);
                }
            }
            opt(out, &NVME_USED, &l, n.percentage_used_ratio);
            opt(out, &NVME_SPARE, &l, n.available_spare_ratio);
            opt(
                out,
                &NVME_SPARE_THRESHOLD,
                &l,
                n.available_spare_threshold_ratio,
            );
            opt(out, &NVME_MEDIA_ERRORS, &l, num(n.media_errors));
            opt(out, &NVME_UNSAFE, &l, num(n.unsafe_shutdowns));
            opt(out, &NVME_READ, &l, n.read_bytes);
            opt(out, &NVME_WRITTEN, &l, n.written_bytes);
            opt(out, &NVME_ERROR_LOG, &l, num(n.error_log_entries));
        }
        opt(out, &SCSI_DEFECTS, &l, num(d.scsi_grown_defects));
        for (op, n) in &d.scsi_uncorrected {
            out.push(&SCSI_UNCORRECTED, &[id, op], *n as f64);
        }
        if let Some(p) = d.self_test_passed {
            out.push_bool(&SELF_TEST, &l, p);
        }
    }
}

impl Collector for Smart {
    type Snapshot = Snapshot;
    const NAME: &'static str = "smart";

    fn interval(&self) -> Duration {
        self.cfg.interval.0
    }

    async fn sample(
        &mut self,
        cx: &Context,
        at: Instant,
    ) -> Result<Sample<Snapshot>, CollectError> {
        let mut faults = Vec::new();
        // whole physical disks only: the coming and going of loop devices of snaps, zvols or
        // device-mapper is not a hot-plug
        let listing = blockstat::list_disks(&cx.root);
        let rescan = match self.scanned_at {
            None => true,
            Some(t) => {
                self.cfg
                    .rescan_interval
                    .is_some_and(|every| at.saturating_duration_since(t) >= every.0)
                    || listing != self.listing
            }
        };
        if rescan {
            match self.scan(cx).await {
                Ok(scanned) => {
                    self.merge(scanned, listing.as_deref().unwrap_or(&[]));
                    self.scanned_at = Some(at);
                    self.listing = listing;
                }
                Err(e) if self.scanned_at.is_none() => return Err(e),
                Err(error) => {
                    // keep the known devices; try again next interval, not every tick
                    self.scanned_at = Some(at);
                    faults.push(Fault {
                        item: "scan".to_owned(),
                        error,
                    });
                }
            }
        }

        let mut due = Vec::new();
        for d in self.devices.values_mut() {
            if !d.block.is_empty() {
                match blockstat::read_ios(&cx.root, &d.block) {
                    Ok(n) => d.ios = n,
                    Err(e) => {
                        d.ios = None;
                        faults.push(Fault {
                            item: d.basename(),
                            error: CollectError::from_read(e, HINT),
                        });
                    }
                }
            }
            d.power.observe_io(d.ios, at);
        }
        for (key, d) in &self.devices {
            let is_due = match d.last_query {
                None => true,
                Some(last) => {
                    let waited = at.saturating_duration_since(last) >= self.query_interval(d);
                    // gated on activity when there is a stat file; an unreadable one is not
                    // activity
                    let active = d.block.is_empty() || (d.ios.is_some() && d.ios != d.ios_at_query);
                    waited && active
                }
            };
            if is_due {
                due.push(key.clone());
            }
        }

        let mut runs = JoinSet::new();
        for key in due {
            let Some(d) = self.devices.get(&key) else {
                continue;
            };
            let args = Self::args(d);
            let runner = cx.runner.clone();
            let program = self.program.clone();
            let limit = self.cfg.timeout.0;
            runs.spawn(async move {
                let result = runner.run(&program, &args, limit).await;
                (key, result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = runs.join_next().await {
            // a panicking run is a bug in the runner; its device is simply not updated
            if let Ok(r) = joined {
                results.push(r);
            }
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, result) in results {
            let Some(mut d) = self.devices.remove(&key) else {
                continue;
            };
            d.last_query = Some(at);
            d.ios_at_query = d.ios;
            if let Some(f) = self.absorb(&mut d, result, at) {
                faults.push(f);
            }
            self.devices.insert(key, d);
        }
        Ok(Sample {
            snapshot: self.snapshot(at),
            faults,
        })
    }
}

#[cfg(test)]
mod tests;
