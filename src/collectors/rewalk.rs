//! When a collector that keeps descriptors open between rounds walks its tree again anyway.
//!
//! cpuidle, cpufreq, hwmon, thermal and RAPL walk their sysfs tree once, keep the files that
//! change open and pread them each round. Each also walks again on its own signs of change (a CPU
//! or chip came or went, a kept read failed); `Rewalk` is the one sign they share: every
//! `WALK_EVERY` rounds, because some changes leave no sign (a driver renaming idle states, a hwmon
//! label or limit set by hand with `sensors -s`). `DirRewalk` adds the listing test for the
//! collectors whose items are one directory's entries.

use crate::host::root::Root;

/// Rounds since a walk after which the next round walks again: the first walk plus 19 kept
/// rounds, i.e. 5 minutes at a 15 s interval before a silent change shows.
pub(crate) const WALK_EVERY: u32 = 20;

/// Counts the rounds served from kept files since the last walk. A new one (at each walk) starts
/// at zero.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewalk {
    rounds: u32,
}

impl Rewalk {
    /// Counts one round after the walk; `true` when it is the `WALK_EVERY`th, which must walk.
    pub(crate) fn due(&mut self) -> bool {
        self.rounds = self.rounds.saturating_add(1);
        self.rounds >= WALK_EVERY
    }

    /// Rounds counted since the walk: 1 on the first round after it.
    pub(crate) fn rounds(&self) -> u32 {
        self.rounds
    }
}

/// `Rewalk` for collectors whose items are the entries of one directory (thermal zones, powercap
/// zones): the kept attributes may serve a round until `WALK_EVERY` rounds after the walk (names,
/// limits and trip points change only with a driver or a user's write), or until the listing of
/// the items' directory differs from the one taken just before the walk (an item came or went). A kept read that fails (`ENODEV` once
/// the item is unregistered, EIO) is the caller's third reason to walk.
#[derive(Debug)]
pub(crate) struct DirRewalk {
    dir: &'static str,
    listing: Vec<String>,
    rewalk: Rewalk,
}

impl DirRewalk {
    /// Lists `dir` now; call it before the walk, so an item that comes during the walk shows as
    /// a change. An unlistable `dir` lists as empty, and then differs once it lists again.
    pub(crate) fn before_walk(root: &Root, dir: &'static str) -> Self {
        Self {
            dir,
            listing: root.list(dir).unwrap_or_default(),
            rewalk: Rewalk::default(),
        }
    }

    /// Counts a round; whether the kept attributes may serve it.
    pub(crate) fn may_serve(&mut self, root: &Root) -> bool {
        !self.rewalk.due() && root.list(self.dir).is_ok_and(|l| l == self.listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twentieth_round_after_a_walk_walks() {
        let mut r = Rewalk::default();
        let due: Vec<bool> = (1..=WALK_EVERY).map(|_| r.due()).collect();
        assert_eq!(due.iter().filter(|d| !**d).count(), 19, "{due:?}");
        assert_eq!(due.last(), Some(&true));
        assert!(r.due(), "still due until the walk replaces it");
    }
}
