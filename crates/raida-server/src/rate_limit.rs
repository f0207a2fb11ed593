//! The per-coin request rate limiter the peek page mentions: "The per-coin rate limiter can
//! silently drop excessive requests by closing the connection without a status response."
//!
//! A fixed-window counter per key coin (request header bytes 17–21): windows are aligned to
//! the server clock (`window index = now_s / window_s`), and at most `requests_max` requests
//! of one coin are let through per window; the rest get [`crate::handler::Outcome::Close`].
//! Off unless the setting `rate_limit` is given. Only coins this RAIDA holds are counted (the
//! handler asks after the key-coin lookup), so the table is bounded by the coin table, and it
//! is swept of past windows when it grows past [`limits::RATE_LIMIT_SWEEP_COUNT`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::clock::US_PER_S;
use crate::coins::{Denomination, SerialNumber};
use crate::limits;
use crate::settings::RateLimit;

/// A coin as the limiter keys it: (denomination, serial number).
pub type CoinKey = (Denomination, SerialNumber);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    index: u64,
    count: u32,
}

/// The limiter's state. Lives in the [`crate::env::Env`].
#[derive(Debug)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    windows: Mutex<BTreeMap<CoinKey, Window>>,
}

impl RateLimiter {
    /// A limiter enforcing `limit` (`None`: let everything through).
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        if let Some(limit) = limit {
            assert!(limit.requests_max >= 1 && limit.window_s >= 1, "{limit:?}");
        }
        RateLimiter {
            limit,
            windows: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one request of `coin` at `now_unix_us` (server clock); false when it is over the
    /// limit and must be dropped.
    pub fn admit(&self, coin: CoinKey, now_unix_us: u64) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let index = now_unix_us / US_PER_S / limit.window_s;
        // A poisoned lock means a panic while the table was held: a bug, never an input.
        let mut windows = self.windows.lock().expect("rate limiter lock poisoned");
        if windows.len() >= limits::RATE_LIMIT_SWEEP_COUNT {
            windows.retain(|_, window| window.index >= index);
        }
        let window = windows.entry(coin).or_insert(Window { index, count: 0 });
        if window.index != index {
            *window = Window { index, count: 0 };
        }
        if window.count >= limit.requests_max {
            return false;
        }
        window.count += 1;
        true
    }

    /// Number of coins with a counter.
    pub fn tracked_count(&self) -> usize {
        self.windows
            .lock()
            .expect("rate limiter lock poisoned")
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COIN: CoinKey = (1, 1000);
    const S: u64 = US_PER_S;

    #[test]
    fn off_by_default_lets_everything_through() {
        let limiter = RateLimiter::new(None);
        for n in 0..1000 {
            assert!(limiter.admit(COIN, n));
        }
        assert_eq!(limiter.tracked_count(), 0);
    }

    #[test]
    fn fixed_windows_per_coin() {
        let limiter = RateLimiter::new(Some(RateLimit {
            requests_max: 2,
            window_s: 10,
        }));
        let start = 1_000 * S;
        assert!(limiter.admit(COIN, start));
        assert!(limiter.admit(COIN, start + 9 * S));
        assert!(!limiter.admit(COIN, start + 9 * S), "third in the window");
        assert!(
            limiter.admit((1, 1001), start),
            "another coin has its own count"
        );
        assert!(limiter.admit(COIN, start + 10 * S), "next window");
        assert!(limiter.admit(COIN, start + 19 * S));
        assert!(!limiter.admit(COIN, start + 19 * S));
    }

    #[test]
    fn past_windows_are_swept() {
        let limiter = RateLimiter::new(Some(RateLimit {
            requests_max: 1,
            window_s: 1,
        }));
        for serial_number in 0..limits::RATE_LIMIT_SWEEP_COUNT as u32 {
            assert!(limiter.admit((0, serial_number), 0));
        }
        assert!(limiter.admit(COIN, 5 * S));
        assert_eq!(limiter.tracked_count(), 1);
    }
}
