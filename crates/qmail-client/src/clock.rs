//! The wall clock the client reads, injected by the caller.
//!
//! The client needs the time only to stamp tells (both tell timestamps, which the beacon
//! compares with its own clock within `tell_skew_s`) and the ignored ping timestamp. It never
//! reads the operating system's clock: the `qmail` command passes a system clock, the
//! simulator a per-host skewed, drifting clock over simulated time, and tests a
//! [`ManualClock`]. Timeouts and backoff use `tokio::time`, which turmoil drives.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of Unix time in seconds.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, as this client believes it to be.
    fn now_unix_s(&self) -> u64;
}

/// A clock that says what it was last told: for tests and for hosts that set the time
/// themselves.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_unix_s: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `now_unix_s`.
    pub fn new(now_unix_s: u64) -> Self {
        Self {
            now_unix_s: AtomicU64::new(now_unix_s),
        }
    }

    /// Sets the time.
    pub fn set_unix_s(&self, now_unix_s: u64) {
        self.now_unix_s.store(now_unix_s, Ordering::SeqCst);
    }

    /// Moves the time forward by `delta_s` (saturating).
    pub fn advance_s(&self, delta_s: u64) {
        let now = self.now_unix_s.load(Ordering::SeqCst);
        self.now_unix_s
            .store(now.saturating_add(delta_s), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_s(&self) -> u64 {
        self.now_unix_s.load(Ordering::SeqCst)
    }
}

/// A clock reading as a 4-byte wire timestamp: the tell and ping fields are u32 seconds, so a
/// clock past 2106 saturates instead of wrapping.
pub fn wire_timestamp_s(clock: &dyn Clock) -> u32 {
    u32::try_from(clock.now_unix_s()).unwrap_or(u32::MAX)
}

impl fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock(now_unix_s = {})", self.now_unix_s())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_700_000_000);
        assert_eq!(clock.now_unix_s(), 1_700_000_000);
        clock.advance_s(5);
        assert_eq!(clock.now_unix_s(), 1_700_000_005);
        clock.set_unix_s(7);
        assert_eq!(clock.now_unix_s(), 7);
        clock.set_unix_s(u64::MAX - 1);
        clock.advance_s(10);
        assert_eq!(clock.now_unix_s(), u64::MAX);
    }

    #[test]
    fn wire_timestamp_saturates() {
        assert_eq!(wire_timestamp_s(&ManualClock::new(42)), 42);
        assert_eq!(
            wire_timestamp_s(&ManualClock::new(u64::from(u32::MAX) + 1)),
            u32::MAX
        );
    }
}
