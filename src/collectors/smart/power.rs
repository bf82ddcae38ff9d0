//! Which `sys/block` disks a device node reaches, and the power state tracked over time from
//! their I/O (read by `host::blockstat`, which never touches the disk; SMART pass-through
//! commands are not accounted there, so hostwatt's own queries never look like activity).
//!
//! The power state is what we know without waking the disk:
//! - `active`: I/O happened since the last tick, or a query just got an answer (it is spinning);
//! - `idle`: no I/O since the last tick and not seen asleep; it may have spun down since, but
//!   asking would reset some drives' idle timers, so we don't;
//! - `standby`: the last query found it in STANDBY/SLEEP (`-n standby`), and no I/O since;
//! - `unknown`: no `stat` file and no answer yet.
//!
//! Time in standby runs from the query that saw it asleep until the tick that sees I/O; that
//! tick counts one spin-up. For NVMe "standby" does not apply: APST moves the controller
//! between power states on its own in milliseconds, smartctl's `-n` is ignored for NVMe, and a
//! health-log read costs one brief wake-up, so an NVMe device is `active` or `idle` only.

use std::time::Instant;

/// What we know of a disk's power mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// I/O seen since the last tick, or it just answered a query.
    Active,
    /// No I/O since the last tick, not known to be asleep.
    Idle,
    /// Last seen in STANDBY or SLEEP, no I/O since.
    Standby,
    /// Nothing known yet.
    Unknown,
}

impl State {
    /// Every state, in label order, for the state-set metric.
    pub const ALL: [State; 4] = [State::Active, State::Idle, State::Standby, State::Unknown];

    /// The `state` label value.
    pub fn label(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Idle => "idle",
            State::Standby => "standby",
            State::Unknown => "unknown",
        }
    }
}

/// The `sys/block` entries that belong to a device node: `/dev/sda` → `sda`; an NVMe
/// controller `/dev/nvme0` → its namespaces `nvme0n1`, `nvme0n2`…; nothing for nodes with no
/// block device (`/dev/bus/0` behind a RAID controller), which are then never gated.
pub fn block_entries(device: &str, listing: &[String]) -> Vec<String> {
    let base = device.rsplit('/').next().unwrap_or(device);
    if listing.iter().any(|e| e == base) {
        return vec![base.to_owned()];
    }
    let prefix = format!("{base}n");
    listing
        .iter()
        .filter(|e| {
            e.strip_prefix(&prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

/// One disk's power history.
#[derive(Debug, Clone)]
pub struct Power {
    /// Current state.
    pub state: State,
    /// Seconds spent in `Standby` since hostwatt started.
    pub standby_seconds: f64,
    /// Standby → active transitions seen.
    pub spin_ups: u64,
    last_ios: Option<u64>,
    at: Option<Instant>,
}

impl Default for Power {
    fn default() -> Self {
        Self {
            state: State::Unknown,
            standby_seconds: 0.0,
            spin_ups: 0,
            last_ios: None,
            at: None,
        }
    }
}

impl Power {
    fn accrue(&mut self, at: Instant) {
        if let (State::Standby, Some(prev)) = (self.state, self.at) {
            self.standby_seconds += at.saturating_duration_since(prev).as_secs_f64();
        }
        self.at = Some(at);
    }

    /// A tick's I/O reading (`None`: no stat file). Returns whether I/O happened since the
    /// previous reading.
    pub fn observe_io(&mut self, ios: Option<u64>, at: Instant) -> bool {
        self.accrue(at);
        let Some(ios) = ios else {
            return false;
        };
        let moved = self.last_ios.is_some_and(|prev| prev != ios);
        self.last_ios = Some(ios);
        match (moved, self.state) {
            (true, State::Standby) => {
                self.spin_ups += 1;
                self.state = State::Active;
            }
            (true, _) => self.state = State::Active,
            (false, State::Active) => self.state = State::Idle,
            (false, _) => {}
        }
        moved
    }

    /// A query found the disk asleep.
    pub fn observe_standby(&mut self, at: Instant) {
        self.accrue(at);
        self.state = State::Standby;
    }

    /// A query got an answer: the disk is up. A disk seen asleep that answers without any I/O
    /// in between was woken by something outside the block layer; that is a spin-up too.
    pub fn observe_answer(&mut self, at: Instant) {
        self.accrue(at);
        if self.state == State::Standby {
            self.spin_ups += 1;
        }
        self.state = State::Active;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn maps_devices_to_block_entries() {
        let listing: Vec<String> = ["loop0", "nvme0n1", "nvme0n2", "nvme10n1", "sda", "sdaa"]
            .map(String::from)
            .into();
        assert_eq!(block_entries("/dev/sda", &listing), ["sda"]);
        assert_eq!(
            block_entries("/dev/nvme0", &listing),
            ["nvme0n1", "nvme0n2"]
        );
        assert!(block_entries("/dev/bus/0", &listing).is_empty());
    }

    #[test]
    fn tracks_standby_time_and_spin_ups() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut p = Power::default();
        assert!(!p.observe_io(Some(10), s(0)), "first reading has no delta");
        assert_eq!(p.state, State::Unknown);
        assert!(p.observe_io(Some(12), s(60)));
        assert_eq!(p.state, State::Active);
        assert!(!p.observe_io(Some(12), s(120)));
        assert_eq!(p.state, State::Idle);
        p.observe_standby(s(180));
        assert!(!p.observe_io(Some(12), s(240)));
        assert_eq!((p.state, p.standby_seconds), (State::Standby, 60.0));
        assert!(p.observe_io(Some(20), s(300)));
        assert_eq!(
            (p.state, p.standby_seconds, p.spin_ups),
            (State::Active, 120.0, 1)
        );
        p.observe_standby(s(360));
        p.observe_answer(s(420));
        assert_eq!(
            (p.state, p.standby_seconds, p.spin_ups),
            (State::Active, 180.0, 2)
        );
    }
}
