//! The hwmon walk, and the rounds between walks that read only the files that change.
//!
//! A walk lists `sys/class/hwmon`, resolves each chip's `device` link, reads names, labels,
//! limits and `_enable`, and opens each channel's value, alarm and fault files; on the 12-chip
//! bench tree that is ~300 opens and 12 `canonicalize`s. A round after it lists `sys/class/hwmon`
//! once and preads the kept files. The tree is walked again when the listing differs (a chip came
//! or went), a kept read is gone (ENODEV once a driver is unbound), the last walk had a fault (so
//! it is read, and reported, again), or `Rewalk` says so (`WALK_EVERY` rounds have passed: a
//! label or limit changed by hand). A value that fails to read otherwise (EIO, EAGAIN, garbage) is that
//! sensor's fault for the round and is read again the next.

use std::collections::HashMap;
use std::time::Instant;

use super::channels::{KeptChip, open_chip};
use super::chips::discover;
use super::{BASE, Chip, HINT, Sensor};
use crate::collectors::rewalk::Rewalk;
use crate::collectors::{CollectError, Fault};
use crate::host::root::Root;

/// Last fault-free readings of a chip, reused until its `update_interval` has passed.
#[derive(Debug, Clone)]
pub(super) struct Cached {
    at: Instant,
    sensors: Vec<Sensor>,
}

/// One round: the chips read (or reused) and the faults.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub(super) chips: Vec<Chip>,
    pub(super) faults: Vec<Fault>,
}

/// The last walk, with the files that change kept open.
#[derive(Debug)]
pub(super) struct Kept {
    /// The `sys/class/hwmon` listing the walk saw.
    entries: Vec<String>,
    /// The chips not excluded, in listing order.
    chips: Vec<KeptChip>,
    /// Whether the walk was fault-free: if not, the next round walks again.
    complete: bool,
    rewalk: Rewalk,
}

impl Kept {
    /// Walks every chip not in `exclude` and reads a round from it (see `round` for `cache`).
    pub(super) fn walk(
        root: &Root,
        exclude: &[String],
        cache: &mut HashMap<String, Cached>,
        at: Instant,
    ) -> Result<(Self, Walk), CollectError> {
        let found = discover(root)?;
        let mut faults = found.faults;
        let excluded = |name: Option<&String>, label: &String| {
            exclude.iter().any(|x| Some(x) == name || x == label)
        };
        let mut chips = Vec::new();
        for c in found.chips.iter().filter(|c| !excluded(c.name.as_ref(), &c.label)) {
            let (chip, chip_faults) = open_chip(root, c);
            faults.extend(chip_faults);
            chips.push(chip);
        }
        let mut kept = Self {
            entries: found.entries,
            chips,
            complete: faults.is_empty(),
            rewalk: Rewalk::default(),
        };
        let (mut walk, gone) = kept.read(cache, at);
        kept.complete &= !gone;
        faults.append(&mut walk.faults);
        walk.faults = faults;
        Ok((kept, walk))
    }

    /// A round from the kept files, reusing `cache` entries younger than their chip's
    /// `update_interval` and refreshing `cache`; `None` when the tree must be walked again.
    pub(super) fn round(
        &mut self,
        root: &Root,
        cache: &mut HashMap<String, Cached>,
        at: Instant,
    ) -> Option<Walk> {
        let due = self.rewalk.due();
        if !self.complete
            || due
            || root.list(BASE).ok().as_ref() != Some(&self.entries)
        {
            return None;
        }
        let (walk, gone) = self.read(cache, at);
        (!gone).then_some(walk)
    }

    /// Reads every kept chip; a chip whose files are gone is one fault for the chip, and `true`.
    fn read(&self, cache: &mut HashMap<String, Cached>, at: Instant) -> (Walk, bool) {
        let mut walk = Walk::default();
        let mut gone = false;
        let mut fresh = HashMap::new();
        for k in &self.chips {
            let label = &k.chip.chip;
            let reusable = cache.remove(label).filter(|prev| {
                k.update_interval
                    .is_some_and(|every| at.saturating_duration_since(prev.at) < every)
            });
            let sensors = match reusable {
                Some(prev) => {
                    let sensors = prev.sensors.clone();
                    fresh.insert(label.clone(), prev);
                    sensors
                }
                None => match k.read() {
                    Ok((sensors, faults)) => {
                        if k.update_interval.is_some() && faults.is_empty() {
                            let cached = Cached {
                                at,
                                sensors: sensors.clone(),
                            };
                            fresh.insert(label.clone(), cached);
                        }
                        walk.faults.extend(faults);
                        sensors
                    }
                    Err(e) => {
                        gone = true;
                        let error = CollectError::from_read(e, HINT);
                        walk.faults.push(Fault {
                            item: label.clone(),
                            error,
                        });
                        Vec::new()
                    }
                },
            };
            walk.chips.push(Chip {
                sensors,
                ..k.chip.clone()
            });
        }
        // chips that vanished, have no update_interval or had a fault leave the cache
        *cache = fresh;
        (walk, gone)
    }
}
