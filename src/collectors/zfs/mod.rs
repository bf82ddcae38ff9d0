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
mod model;
mod render;
pub mod status;
pub mod units;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use model::{Pool, PoolStatus, RowError, Scan, ScanFunction, ScanState, Vdev};

use super::{CollectError, Collector, Context, Fault, Sample};
use crate::parse::Interval;
use crate::host::command::{CommandError, Output, Program};
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
    /// (version, format) of zpool, once detected.
    pub zpool: Option<(String, Format)>,
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
    Refused(CommandError),
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
                Ok(out) => return ZpoolRound::Refused(out.exited(&self.program(), args)),
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
        match round {
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
            }
            ZpoolRound::Refused(e) => {
                if kstats.is_none() && self.last.is_none() {
                    let why = format!("no {} and {e}", kstat::BASE);
                    self.absent_since = Some((at, why.clone()));
                    return Err(CollectError::Unavailable(why));
                }
                // it ran and said no: a command fault, not text that failed to parse
                faults.push(Fault {
                    item: "zpool".into(),
                    error: CollectError::Command(e),
                });
            }
            ZpoolRound::Failed(e) => {
                faults.push(Fault {
                    item: "zpool".into(),
                    error: e,
                });
            }
        }
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
