//! Wake-ups at absolute times from a Linux timerfd: exactly one wake-up per due time.
//!
//! tokio's timer wheel is coarse at long delays: a 15 s sleep sits on a 4 s level, and the
//! runtime wakes at the level boundary, again to cascade to the millisecond level, and only then
//! fires, three wake-ups per tick (measured with strace, docs/BENCHMARKS.md). A power monitor
//! must not cost power, so the scheduler's watchdog is a timerfd with an absolute CLOCK_MONOTONIC
//! expiry, which the collection thread arms at the deadline of each batch of rounds and disarms
//! when the batch is done: the runtime thread wakes only for a batch that missed its deadline.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as Clock, clock_gettime};
use tokio::io::unix::AsyncFd;

/// A point on the CLOCK_MONOTONIC timeline, the base collectors' due times are offsets from.
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

/// A one-shot timer at `base + offset`, which one thread may arm or disarm while another
/// waits on it (an armed alarm that is disarmed in time never wakes its waiter).
pub struct Alarm {
    base: Base,
    fd: AsyncFd<Fd>,
}

impl Alarm {
    /// An alarm on the runtime's reactor, not armed; must be called inside a tokio runtime.
    pub fn new(base: Base) -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        // `new` is deprecated for fds the caller might close while registered; this one is owned
        // by the `TimerFd` inside and lives exactly as long as the registration, and the
        // replacement `register` is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::new(Fd(fd))?;
        Ok(Self { base, fd })
    }

    /// Arms the alarm at `offset` after the base (it fires at once when that is past), or
    /// disarms it (`None`). Either resets an expiry not yet waited for.
    pub fn set(&self, offset: Option<Duration>) -> io::Result<()> {
        let timer = &self.fd.get_ref().0;
        match offset {
            Some(offset) => {
                let at = self.base.0 + TimeSpec::from_duration(offset);
                timer.set(
                    Expiration::OneShot(at),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
            None => timer.unset(),
        }
        .map_err(io::Error::from)
    }

    /// Waits until the alarm fires.
    pub async fn fired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let read = |fd: &AsyncFd<Fd>| {
                let mut count = [0u8; 8];
                nix::unistd::read(fd.get_ref().0.as_fd(), &mut count).map_err(io::Error::from)
            };
            match guard.try_io(read) {
                Ok(result) => return result.map(drop),
                // disarmed (or re-armed) after it became readable
                Err(_would_block) => continue,
            }
        }
    }

    /// Waits until `offset` after the base (returns at once when that is past).
    pub async fn wait(&self, offset: Duration) -> io::Result<()> {
        self.set(Some(offset))?;
        self.fired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_at_once_for_a_past_time_then_at_each_later_one() {
        let base = Base::now().unwrap();
        let t0 = std::time::Instant::now();
        let a = Alarm::new(base).unwrap();
        a.wait(Duration::ZERO).await.unwrap();
        a.wait(Duration::from_millis(30)).await.unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(30),
            "not before its time"
        );
        // re-armed for a time already past: no stale expiry is needed, it fires by itself
        a.wait(Duration::from_millis(1)).await.unwrap();
    }

    #[tokio::test]
    async fn a_disarmed_alarm_never_fires() {
        let a = Alarm::new(Base::now().unwrap()).unwrap();
        a.set(Some(Duration::from_millis(20))).unwrap();
        a.set(None).unwrap();
        let fired = tokio::time::timeout(Duration::from_millis(200), a.fired()).await;
        assert!(fired.is_err(), "disarmed in time: no wake-up");
    }
}
