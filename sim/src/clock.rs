//! Per-host wall clocks over turmoil's single simulated time.
//!
//! turmoil gives every host the same `since_epoch()`; real machines disagree. A
//! [`HostClock`] maps simulated elapsed time (microseconds since [`SIM_EPOCH_UNIX_S`]) to
//! what that host's wall clock reads, in Unix microseconds:
//!
//! ```text
//! host_unix_us(e) = epoch_us + e + offset_us + floor(drift_ppm × e / 1e6) + Σ steps with at ≤ e
//! ```
//!
//! File modification times in turmoil's file system are un-skewed simulated time, so a
//! server that compares an mtime with its own clock (peek's `since_timestamp` filter) must
//! first read the mtime through its clock: [`HostClock::fs_time_to_host_unix_us`].
//! Everything here is a pure function of its inputs. How each host's clock is drawn from
//! the seed is a fault family: [`crate::faults::clock`].

use crate::limits::{PPM_PER_UNIT, SIM_EPOCH_UNIX_S, SIM_EPOCH_UNIX_US, US_PER_S_I64};

/// One jump of a host's clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClockStep {
    /// Simulated elapsed time at which the jump applies, microseconds.
    pub at_sim_us: u64,
    /// Signed size of the jump, microseconds.
    pub delta_us: i64,
}

/// One host's wall clock.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct HostClock {
    /// Constant offset from simulated time, microseconds.
    pub offset_us: i64,
    /// Rate error, parts per million (positive runs fast).
    pub drift_ppm: i64,
    /// Jumps, in non-decreasing `at_sim_us` order.
    pub steps: Vec<ClockStep>,
}

impl HostClock {
    /// A perfect clock: reads the simulated time exactly.
    pub fn ideal() -> Self {
        Self::default()
    }

    /// A clock with these parameters. Steps must be in time order.
    pub fn new(offset_us: i64, drift_ppm: i64, steps: Vec<ClockStep>) -> Self {
        let clock = HostClock {
            offset_us,
            drift_ppm,
            steps,
        };
        assert!(clock.steps_are_ordered(), "clock steps in time order");
        clock
    }

    fn steps_are_ordered(&self) -> bool {
        self.steps
            .windows(2)
            .all(|pair| matches!(pair, [a, b] if a.at_sim_us <= b.at_sim_us))
    }

    /// This host's wall clock at simulated elapsed `elapsed_sim_us`, Unix microseconds.
    pub fn unix_us_at(&self, elapsed_sim_us: u64) -> i64 {
        let elapsed = i64::try_from(elapsed_sim_us).unwrap_or(i64::MAX);
        self.unix_us_at_signed(elapsed)
    }

    /// This host's wall clock at simulated elapsed `elapsed_sim_us`, whole Unix seconds
    /// (rounded down, as a server's `time()` would be).
    pub fn unix_s_at(&self, elapsed_sim_us: u64) -> i64 {
        self.unix_us_at(elapsed_sim_us).div_euclid(US_PER_S_I64)
    }

    /// Reads an un-skewed simulated file time (Unix microseconds, as turmoil's fs reports
    /// mtimes) through this host's clock: the Unix microseconds this host would have
    /// stamped at that instant. Times before the epoch get offset and drift but no steps.
    pub fn fs_time_to_host_unix_us(&self, sim_fs_time_us: i64) -> i64 {
        self.unix_us_at_signed(sim_fs_time_us.saturating_sub(SIM_EPOCH_UNIX_US))
    }

    /// How far this clock is ahead of simulated time at `elapsed_sim_us` (negative: behind).
    pub fn error_us_at(&self, elapsed_sim_us: u64) -> i64 {
        let elapsed = i64::try_from(elapsed_sim_us).unwrap_or(i64::MAX);
        self.unix_us_at(elapsed_sim_us) - SIM_EPOCH_UNIX_US - elapsed
    }

    fn unix_us_at_signed(&self, elapsed_us: i64) -> i64 {
        let drift_us = (i128::from(self.drift_ppm) * i128::from(elapsed_us))
            .div_euclid(i128::from(PPM_PER_UNIT));
        let steps_us: i64 = self
            .steps
            .iter()
            .filter(|step| elapsed_us >= 0 && step.at_sim_us <= elapsed_us.unsigned_abs())
            .map(|step| step.delta_us)
            .sum();
        let total = i128::from(SIM_EPOCH_UNIX_US)
            + i128::from(elapsed_us)
            + i128::from(self.offset_us)
            + drift_us
            + i128::from(steps_us);
        i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
    }
}

/// The epoch as whole Unix seconds (for `turmoil::Builder::epoch`).
pub const fn epoch_unix_s() -> i64 {
    SIM_EPOCH_UNIX_S
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::US_PER_S;

    #[test]
    fn epoch_is_2026_new_year_utc() {
        // 56 years of which 14 leap years (1972..=2024), in days, times 86,400 s.
        assert_eq!(epoch_unix_s(), (56 * 365 + 14) * 86_400);
    }

    #[test]
    fn ideal_clock_reads_sim_time() {
        let clock = HostClock::ideal();
        assert_eq!(clock.unix_us_at(0), SIM_EPOCH_UNIX_US);
        assert_eq!(clock.unix_us_at(1_500_000), SIM_EPOCH_UNIX_US + 1_500_000);
        assert_eq!(clock.unix_s_at(1_999_999), SIM_EPOCH_UNIX_S + 1);
        assert_eq!(clock.error_us_at(77), 0);
    }

    #[test]
    fn offset_drift_and_steps_add_up() {
        let clock = HostClock {
            offset_us: -5 * US_PER_S_I64,
            drift_ppm: 100,
            steps: vec![
                ClockStep {
                    at_sim_us: 10 * US_PER_S,
                    delta_us: 90 * US_PER_S_I64,
                },
                ClockStep {
                    at_sim_us: 20 * US_PER_S,
                    delta_us: -30 * US_PER_S_I64,
                },
            ],
        };
        // At 1,000 s: −5 s offset, +0.1 s drift, +90 − 30 s steps.
        let at = 1_000 * US_PER_S;
        let expected = SIM_EPOCH_UNIX_US + 1_000_000_000 - 5_000_000 + 100_000 + 60_000_000;
        assert_eq!(clock.unix_us_at(at), expected);
        // A step applies from its instant on, not before. Across that microsecond: 1 µs
        // of time, the 90 s step, and the drift's floor moving from 999 to 1000 µs.
        let just_before = clock.unix_us_at(10 * US_PER_S - 1);
        let at_step = clock.unix_us_at(10 * US_PER_S);
        assert_eq!(at_step - just_before, 90 * US_PER_S_I64 + 1 + 1);
        assert_eq!(clock.error_us_at(at), -5_000_000 + 100_000 + 60_000_000);
    }

    #[test]
    fn negative_drift_rounds_down() {
        let clock = HostClock {
            drift_ppm: -1,
            ..HostClock::ideal()
        };
        // −1 ppm over 1 µs is −0.000001 µs: floor gives −1.
        assert_eq!(clock.unix_us_at(1), SIM_EPOCH_UNIX_US);
        assert_eq!(clock.unix_us_at(1_000_000), SIM_EPOCH_UNIX_US + 999_999);
    }

    #[test]
    fn fs_time_is_read_through_the_host_clock() {
        let clock = HostClock {
            offset_us: 61 * US_PER_S_I64,
            drift_ppm: 0,
            steps: vec![ClockStep {
                at_sim_us: 5 * US_PER_S,
                delta_us: -US_PER_S_I64,
            }],
        };
        let mtime = SIM_EPOCH_UNIX_US + 7 * US_PER_S_I64;
        assert_eq!(
            clock.fs_time_to_host_unix_us(mtime),
            mtime + 60 * US_PER_S_I64
        );
        assert_eq!(
            clock.fs_time_to_host_unix_us(mtime),
            clock.unix_us_at(7 * US_PER_S)
        );
        // Before the epoch no step applies.
        let early = SIM_EPOCH_UNIX_US - US_PER_S_I64;
        assert_eq!(
            clock.fs_time_to_host_unix_us(early),
            early + 61 * US_PER_S_I64
        );
    }
}
