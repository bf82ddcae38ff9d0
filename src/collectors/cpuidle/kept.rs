//! The cpuidle files that change, kept open between rounds.
//!
//! A full walk opens some ten files per CPU and state (640 × 6 on a 64-CPU server) and most of
//! them never change: names, descriptions, latencies. After a walk, a round reads only the
//! counters and the LPIT residencies, through kept descriptors with pread at offset 0 (sysfs
//! regenerates the text on each such read). `disable` is the user's switch, not a reading: it
//! is read on walks, so a write to it shows within `WALK_EVERY` rounds (384 preads a round
//! fewer on a 64-CPU server). `above`, `below` and `rejected` only explain the residency (the
//! governor's misses): they are read every `EXPLAIN_EVERY`th round, and the last value read is
//! exported in between. The tree is walked again when the set may
//! have changed: the CPU listing differs, an `online` file changed, a kept read failed (ENODEV
//! once a CPU is unplugged), or `Rewalk` says so (`WALK_EVERY` rounds have passed: a driver change
//! can rename states without any CPU coming or going).

use std::io;

use super::walk::{CPU_BASE, GLOBAL, Walk, parse_cpu_dir, read_walk};
use crate::collectors::CollectError;
use crate::collectors::rewalk::Rewalk;
use crate::host::root::{Attr, ReadError, Root};

/// Every how many rounds the explanatory counters (`above`, `below`, `rejected`) are read: 1 min
/// at the default 15 s. Residency, the wall estimate and the advisor need `time` and `usage`
/// every round; the misses are read as rates over minutes, so a counter that lags by up to
/// three rounds loses nothing. They are read on the first round after each walk (a start or a
/// hot-plug gets a delta over one interval at once, not a flat line for a minute) and every
/// `EXPLAIN_EVERY`th round after that: rounds 1, 5, 9, 13, 17 of the 20 between walks, which
/// read them too. Saves 14 of every 20 rounds' 1,152 preads on 64 CPUs × 6 states.
pub(crate) const EXPLAIN_EVERY: u32 = 4;

/// How many of `COUNTER_FILES` (in order) every round reads: `time` and `usage`.
const EVERY_ROUND: usize = 2;

/// Counter files of one state in `C_*` order; `None` where the walk found no such file.
#[derive(Debug)]
struct StateFiles {
    counters: [Option<Attr>; 5],
}

/// The CPUs listed under `sys/devices/system/cpu` and their `online` files as a walk saw them:
/// a cheap test, each round, of whether a CPU came, went, or changed state since.
#[derive(Debug, Default)]
pub(crate) struct CpuSet {
    cpus: Vec<String>,
    /// Every listed CPU's `online` file (cpu0 often has none) with the value seen.
    online: Vec<(Attr, u64)>,
}

impl CpuSet {
    /// Lists the CPUs and opens their `online` files.
    pub(crate) fn open(root: &Root) -> Result<Self, ReadError> {
        let cpus = list_cpus(root).unwrap_or_default();
        let mut online = Vec::new();
        for cpu in &cpus {
            match root.open_attr(format!("{CPU_BASE}/{cpu}/online")) {
                Ok(a) => {
                    let value = a.read_u64()?;
                    online.push((a, value));
                }
                // cpu0 often has none: it cannot go offline
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self { cpus, online })
    }

    /// Whether the listing and every `online` value are as when opened.
    pub(crate) fn unchanged(&self, root: &Root) -> bool {
        list_cpus(root).as_ref() == Some(&self.cpus)
            && self
                .online
                .iter()
                .all(|(a, seen)| a.read_u64().is_ok_and(|v| v == *seen))
    }
}

/// The last full walk, refreshed in place from its kept files.
#[derive(Debug)]
pub(super) struct Kept {
    /// The last walk: its counters and LPIT residencies are refreshed each round.
    pub(super) walk: Walk,
    /// Parallel to `walk.states`, with the CPU set seen; `None` after a walk with faults, so the
    /// next round walks (and reports) again.
    files: Option<(Vec<StateFiles>, CpuSet)>,
    lpi: [Option<Attr>; 2],
    rewalk: Rewalk,
}

const COUNTER_FILES: [&str; 5] = ["time", "usage", "above", "below", "rejected"];

fn open_if(root: &Root, rel: String, present: bool) -> Result<Option<Attr>, ReadError> {
    present.then(|| root.open_attr(rel)).transpose()
}

fn list_cpus(root: &Root) -> Option<Vec<String>> {
    let entries = root.list(CPU_BASE).ok()?;
    Some(
        entries
            .into_iter()
            .filter(|e| parse_cpu_dir(e).is_some())
            .collect(),
    )
}

impl Kept {
    /// Walks the tree (`read_walk`) and opens the files that change.
    pub(super) fn walk(root: &Root) -> Result<Self, CollectError> {
        // listed first: a CPU that comes between the listing and the walk shows as a change
        let cpus = CpuSet::open(root);
        let walk = read_walk(root)?;
        let mut kept = Self {
            walk,
            files: None,
            lpi: [None, None],
            rewalk: Rewalk::default(),
        };
        if kept.walk.faults.is_empty() {
            // a file that cannot be opened now is read, and reported, by the next walk
            kept.files = cpus.and_then(|cpus| Ok((kept.open(root)?, cpus))).ok();
        }
        Ok(kept)
    }

    fn open(&mut self, root: &Root) -> Result<Vec<StateFiles>, ReadError> {
        let mut files = Vec::with_capacity(self.walk.states.len());
        for s in &self.walk.states {
            let dir = format!("{CPU_BASE}/cpu{}/cpuidle/state{}", s.cpu, s.index);
            let mut counters = [None, None, None, None, None];
            for ((slot, file), value) in counters.iter_mut().zip(COUNTER_FILES).zip(s.counters.0) {
                *slot = open_if(root, format!("{dir}/{file}"), value.is_some())?;
            }
            files.push(StateFiles { counters });
        }
        let lpi = [self.walk.lpi_cpu_us, self.walk.lpi_system_us];
        let names = [
            "low_power_idle_cpu_residency_us",
            "low_power_idle_system_residency_us",
        ];
        for ((slot, file), value) in self.lpi.iter_mut().zip(names).zip(lpi) {
            *slot = open_if(root, format!("{GLOBAL}/{file}"), value.is_some())?;
        }
        Ok(files)
    }

    /// Reads the kept files into `walk`; `false` when the tree must be walked again.
    pub(super) fn refresh(&mut self, root: &Root) -> bool {
        let due = self.rewalk.due();
        let Some((files, cpus)) = &self.files else {
            return false;
        };
        if due || !cpus.unchanged(root) {
            return false;
        }
        let read_n = if self.rewalk.rounds() % EXPLAIN_EVERY == 1 {
            COUNTER_FILES.len()
        } else {
            EVERY_ROUND
        };
        let states = self.walk.states.iter_mut().zip(files);
        let read = states.into_iter().try_for_each(|(s, f)| {
            for (slot, attr) in s.counters.0.iter_mut().zip(&f.counters).take(read_n) {
                if let Some(a) = attr {
                    *slot = Some(a.read_u64()?);
                }
            }
            Ok::<_, ReadError>(())
        });
        let lpi = [&mut self.walk.lpi_cpu_us, &mut self.walk.lpi_system_us];
        let read = read.and_then(|()| {
            for (slot, attr) in lpi.into_iter().zip(&self.lpi) {
                if let Some(a) = attr {
                    *slot = Some(a.read_u64()?);
                }
            }
            Ok(())
        });
        // any failure (gone, EIO, garbage): the walk reads it again and reports it as a fault
        read.is_ok()
    }
}
