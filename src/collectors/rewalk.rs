//! When a collector that keeps descriptors open between rounds walks its tree again anyway.
//!
//! cpuidle, cpufreq and hwmon walk their sysfs tree once, keep the files that change open and
//! pread them each round. Each also walks again on its own signs of change (a CPU or chip came or
//! went, a kept read failed); `Rewalk` is the one sign they share: every `WALK_EVERY` rounds,
//! because some changes leave no sign (a driver renaming idle states, a hwmon label or limit set
//! by hand with `sensors -s`).

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
