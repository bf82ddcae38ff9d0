//! Periodic wake-ups from a Linux timerfd: exactly one wake-up per tick.
//!
//! tokio's timer wheel is coarse at long delays: a 15 s sleep sits on a 4 s level, and the
//! runtime wakes at the level boundary, again to cascade to the millisecond level, and only then
//! fires, three wake-ups per tick (measured with strace, docs/BENCHMARKS.md). A power monitor
//! must not cost power, so every collector ticks on its own timerfd with an absolute
//! CLOCK_MONOTONIC expiry shared by all collectors: the kernel fires them together, and the
//! runtime wakes once per due time.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as Clock, clock_gettime};
use tokio::io::unix::AsyncFd;

/// A point on the CLOCK_MONOTONIC timeline, the base collectors' ticks are aligned on.
#[derive(Debug, Clone, Copy)]
pub struct Base(TimeSpec);

impl Base {
    /// Now.
    pub fn now() -> io::Result<Self> {
        clock_gettime(Clock::CLOCK_MONOTONIC)
            .map(Base)
            .map_err(io::Error::from)
    }
}

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Ticks at `base`, `base + every`, `base + 2·every`, … A tick missed while the owner was busy
/// is not repeated: the next `tick` returns at once, then the schedule goes on from `base`.
pub struct Ticker {
    fd: AsyncFd<Fd>,
}

impl Ticker {
    /// A ticker on the runtime's reactor; must be called inside a tokio runtime.
    pub fn new(base: Base, every: Duration) -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let expiration = Expiration::IntervalDelayed(base.0, TimeSpec::from_duration(every));
        fd.set(expiration, TimerSetTimeFlags::TFD_TIMER_ABSTIME)
            .map_err(io::Error::from)?;
        // `new` is deprecated for fds the caller might close while registered; this one is owned
        // by the `TimerFd` inside and lives exactly as long as the registration, and the
        // replacement `register` is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::new(Fd(fd))?;
        Ok(Self { fd })
    }

    /// Waits for the next tick (at once when one is already due). Returns how many ticks
    /// expired since the last call: reading the count resets it, so missed ticks become one.
    pub async fn tick(&mut self) -> io::Result<u64> {
        loop {
            let mut guard = self.fd.readable().await?;
            let read = |fd: &AsyncFd<Fd>| {
                let mut count = [0u8; 8];
                nix::unistd::read(fd.get_ref().0.as_fd(), &mut count).map_err(io::Error::from)?;
                Ok(u64::from_ne_bytes(count))
            };
            match guard.try_io(read) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_for_a_past_base_then_counts_each_period() {
        let mut t = Ticker::new(Base::now().unwrap(), Duration::from_millis(10)).unwrap();
        assert!(t.tick().await.unwrap() >= 1, "the base itself is due");
        assert!(t.tick().await.unwrap() >= 1);
    }

    #[tokio::test]
    async fn collapses_missed_ticks_into_one_wake_up() {
        let mut t = Ticker::new(Base::now().unwrap(), Duration::from_millis(5)).unwrap();
        // busy for ten periods: one tick call sees them all at once, not ten wake-ups
        std::thread::sleep(Duration::from_millis(50));
        let missed = t.tick().await.unwrap();
        assert!(missed >= 10, "{missed} expirations in one read");
    }
}
