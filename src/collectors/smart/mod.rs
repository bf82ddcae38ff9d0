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
mod render;
pub mod scan;

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::host::blockstat;
use crate::parse::Interval;
use crate::host::command::{CommandError, Output, Program};
use crate::host::root::ReadError;
use advisories::{Advice, Table, glob};
use json::{Data, Report, STANDBY_EXIT, ScanDevice};
use power::{Power, State};

const HINT: &str =
    "smartctl needs root (or CAP_SYS_RAWIO and CAP_SYS_ADMIN for NVMe) to open disks";

/// `[collectors.smart]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run smartctl at all. On by default, as every collector: without smartctl it reports
    /// itself unavailable, and it never wakes a sleeping disk (`-n standby`).
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
    /// Device globs to query (`/dev/sd*`, or node and type as `smartctl --scan` prints them:
    /// `/dev/bus/0 -d megaraid,1`); empty means every scanned device.
    pub include: Vec<String>,
    /// Device globs never to query, in `include`'s forms; applied after `include`.
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
    standby_skips: u64,
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
            standby_skips: 0,
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

    /// A pattern matches the device node (`/dev/sd*`) or the device as `smartctl --scan` prints
    /// it, node and type (`/dev/bus/0 -d megaraid,1`): the only way to pick one disk of several
    /// behind a RAID controller.
    fn selected(&self, d: &ScanDevice) -> bool {
        let scanned = format!("{} -d {}", d.name, d.dev_type);
        let hit = |g: &String| glob(g, &d.name) || glob(g, &scanned);
        (self.cfg.include.is_empty() || self.cfg.include.iter().any(hit))
            && !self.cfg.exclude.iter().any(hit)
    }

    fn query_interval(&self, d: &Device) -> Duration {
        let id = identity(d.data.as_deref(), &d.basename(), self.cfg.hide_serial);
        self.cfg
            .device_intervals
            .iter()
            .find(|(pat, _)| glob(pat, &d.scan.name) || glob(pat, &id))
            .map_or(self.cfg.query_interval.0, |(_, i)| i.0)
    }

    async fn scan(&self, cx: &Context) -> Result<(Vec<ScanDevice>, Vec<Fault>), CollectError> {
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
        let scan = json::parse_scan(&out.stdout_text())
            .map_err(|e| CollectError::parse("smartctl --scan-open", e))?;
        let faults = scan
            .skipped
            .into_iter()
            .map(|e| Fault {
                item: "scan".to_owned(),
                error: CollectError::parse("smartctl --scan-open", e),
            })
            .collect();
        let devices = scan.devices.into_iter().filter(|d| self.selected(d));
        Ok((devices.collect(), faults))
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
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                return Some(Fault {
                    item,
                    error: CollectError::Command(e),
                });
            }
        };
        let Some(code) = out.code else {
            return Some(Fault {
                item,
                error: CollectError::Command(out.exited(&self.program, &Self::args(d))),
            });
        };
        match json::parse_report(&out.stdout_text(), code) {
            Ok(Report::Standby { .. }) => {
                d.standby_skips += 1;
                d.power.observe_standby(at);
                None
            }
            Ok(Report::NoData { exit, message }) => {
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
                d.exit = Some(exit);
                d.data = Some(data);
                d.data_at = Some(at);
                d.power.observe_answer(at);
                None
            }
            Err(e) => Some(Fault {
                item,
                error: CollectError::parse(format!("smartctl -a {}", d.scan.name), e),
            }),
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
                    standby_skips: d.standby_skips,
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
    /// Runs that found the disk in standby and left it asleep (`smartctl -n standby`).
    pub standby_skips: u64,
    /// Advisories (when data is known).
    pub advice: Option<Advice>,
}

impl Collector for Smart {
    type Snapshot = Snapshot;

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
                Ok((scanned, skipped)) => {
                    faults.extend(skipped);
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
