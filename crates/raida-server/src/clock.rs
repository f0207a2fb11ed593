//! The server's notion of "now", injected so the simulator can skew and drift it per host.
//!
//! Two things need a clock: the protocol checks (tell timestamps, stripe expiry, execution
//! time) and the peek `since_timestamp` filter, which compares file mtimes. A file system
//! reports mtimes on its own clock; in the simulator that is turmoil's un-skewed simulated
//! time while the host clock adds an offset and a drift, so the server must map every mtime
//! through [`Clock::fs_time_to_unix_us`] before comparing it with anything.
//!
//! [`SystemClock`] is for the real daemon only and is the one place in this crate that reads
//! the machine clock. [`ManualClock`] is for tests.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds in one second.
pub const US_PER_S: u64 = 1_000_000;

/// A source of Unix time in microseconds, and the map from file-system times onto it.
pub trait Clock: Send + Sync + Debug {
    /// This server's current Unix time in microseconds.
    fn now_unix_us(&self) -> u64;

    /// Maps a file time, as the file system reports it, onto this server's clock.
    fn fs_time_to_unix_us(&self, fs_time: SystemTime) -> u64;

    /// This server's current Unix time in whole seconds.
    fn now_unix_s(&self) -> u64 {
        self.now_unix_us() / US_PER_S
    }
}

/// Microseconds from the Unix epoch to `time`; times before the epoch count as 0.
pub fn system_time_to_unix_us(time: SystemTime) -> u64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(elapsed) => u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// The machine clock. REAL DAEMON ONLY: simulated code must never construct this.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one sanctioned `SystemTime::now` in this crate: the real daemon's clock.
    #[allow(clippy::disallowed_methods)]
    fn now_unix_us(&self) -> u64 {
        system_time_to_unix_us(SystemTime::now())
    }

    fn fs_time_to_unix_us(&self, fs_time: SystemTime) -> u64 {
        // The real file system stamps mtimes with this same machine clock.
        system_time_to_unix_us(fs_time)
    }
}

/// A settable clock for tests. Clones share the same time.
///
/// `fs_offset_us` is added to file times before they are compared, to model a server whose
/// clock differs from the file system's (as a skewed simulated host does).
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now_unix_us: Arc<AtomicU64>,
    fs_offset_us: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `now_unix_us`, with file times taken as they are.
    pub fn new(now_unix_us: u64) -> ManualClock {
        ManualClock {
            now_unix_us: Arc::new(AtomicU64::new(now_unix_us)),
            fs_offset_us: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Sets the current time.
    pub fn set_unix_us(&self, now_unix_us: u64) {
        self.now_unix_us.store(now_unix_us, Ordering::SeqCst);
    }

    /// Moves the current time forward.
    pub fn advance_us(&self, delta_us: u64) {
        self.now_unix_us.fetch_add(delta_us, Ordering::SeqCst);
    }

    /// Sets the offset added to every file time this clock maps.
    pub fn set_fs_offset_us(&self, fs_offset_us: i64) {
        self.fs_offset_us.store(fs_offset_us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_us(&self) -> u64 {
        self.now_unix_us.load(Ordering::SeqCst)
    }

    fn fs_time_to_unix_us(&self, fs_time: SystemTime) -> u64 {
        let fs_unix_us = system_time_to_unix_us(fs_time);
        let offset_us = self.fs_offset_us.load(Ordering::SeqCst);
        fs_unix_us.saturating_add_signed(offset_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_is_shared_between_clones() {
        let clock = ManualClock::new(5 * US_PER_S);
        let clone = clock.clone();
        clock.advance_us(US_PER_S);
        assert_eq!(clone.now_unix_us(), 6 * US_PER_S);
        assert_eq!(clone.now_unix_s(), 6);
        clone.set_unix_us(1);
        assert_eq!(clock.now_unix_us(), 1);
    }

    #[test]
    fn manual_clock_maps_fs_times_through_its_offset() {
        let clock = ManualClock::new(0);
        let fs_time = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(clock.fs_time_to_unix_us(fs_time), 100 * US_PER_S);
        clock.set_fs_offset_us(-(40 * US_PER_S as i64));
        assert_eq!(clock.fs_time_to_unix_us(fs_time), 60 * US_PER_S);
        clock.set_fs_offset_us(-(400 * US_PER_S as i64));
        assert_eq!(
            clock.fs_time_to_unix_us(fs_time),
            0,
            "saturates at the epoch"
        );
    }

    #[test]
    fn pre_epoch_times_count_as_zero() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(system_time_to_unix_us(before), 0);
        assert_eq!(SystemClock.fs_time_to_unix_us(before), 0);
    }
}
