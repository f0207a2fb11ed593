//! Client settings: timeouts, retries, the AES response counter, the stripe width, the parity
//! scheme, the send policy and the storage duration, with defaults and validated limits.
//!
//! Every default and bound is a constant in [`crate::limits`]. The settings that DECISIONS.md
//! names keep its names: `response_counter` (`restart` default, `continue`) must match the
//! servers'; `ping_read_timeout` must exceed the servers' `ping_timeout_s` (900 s default) or a
//! parked ping is abandoned before the beacon answers it.

use std::fmt;
use std::time::Duration;

use qmail_wire::body::StorageDuration;
use qmail_wire::crypto::ResponseCounter;

use crate::limits::{
    CONCURRENCY_DEFAULT, CONCURRENCY_MAX, CONNECT_TIMEOUT_MS_DEFAULT,
    DATA_STRIPE_COUNT_PLACEABLE_MAX, PING_READ_TIMEOUT_S_DEFAULT, PING_READ_TIMEOUT_S_MAX,
    RAIDA_COUNT, REQUEST_TIMEOUT_MS_DEFAULT, RETRIES_MAX_DEFAULT, RETRIES_MAX_LIMIT,
    RETRY_BACKOFF_MS_DEFAULT, RETRY_BACKOFF_MS_MAX_DEFAULT, TIMEOUT_MS_MAX,
};
use crate::rs::{self, PARITY_ALGO_REED_SOLOMON};
use crate::stripe::{DataStripeCount, PARITY_ALGO_XOR};

/// The parity scheme of every file a send stripes (the tell file header's `parity_algo`).
///
/// Every stripe of a file goes to its own RAIDA, so N data stripes plus the parity stripes
/// must fit the 25 RAIDAs: N + 1 ≤ 25 for [`Parity::Xor`], N + k ≤ 25 for
/// [`Parity::ReedSolomon`] (checked by [`Config::validate`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Parity {
    /// `parity_algo` 0: one XOR parity stripe; survives one lost stripe per file (default).
    #[default]
    Xor,
    /// `parity_algo` 1 ([`crate::rs`]): `parity_count` Reed–Solomon parity stripes; survives
    /// any `parity_count` lost stripes per file. 1 ≤ `parity_count`, N + `parity_count` ≤ 25.
    ReedSolomon {
        /// k, the parity stripes per file.
        parity_count: u8,
    },
}

impl Parity {
    /// The parity stripes per file: 1 for XOR, k for Reed–Solomon.
    pub const fn parity_stripe_count(self) -> usize {
        match self {
            Parity::Xor => 1,
            Parity::ReedSolomon { parity_count } => parity_count as usize,
        }
    }

    /// The stripes per file with `data_stripe_count` data stripes: N plus the parity stripes.
    pub const fn stripe_count(self, data_stripe_count: DataStripeCount) -> usize {
        data_stripe_count.get() + self.parity_stripe_count()
    }

    /// The tell file header's `parity_algo` for this scheme.
    pub const fn parity_algo(self) -> u8 {
        match self {
            Parity::Xor => PARITY_ALGO_XOR,
            Parity::ReedSolomon { .. } => PARITY_ALGO_REED_SOLOMON,
        }
    }
}

/// When a send may tell the beacons although some stripes could not be stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SendPolicy {
    /// Every stripe of every file must be stored (default).
    #[default]
    AllStripes,
    /// At most one stripe per file may be missing: the recipient rebuilds it from parity, but
    /// the email then survives no further loss.
    AllowOneMissingPerFile,
}

knobs::choice!(SendPolicy {
    SendPolicy::AllStripes => "all_stripes",
    SendPolicy::AllowOneMissingPerFile => "allow_one_missing_per_file",
});

impl SendPolicy {
    /// Most stripes of one file that may be missing when the tell goes out.
    pub const fn missing_per_file_max(self) -> usize {
        match self {
            SendPolicy::AllStripes => 0,
            SendPolicy::AllowOneMissingPerFile => 1,
        }
    }
}

/// Client settings. See the module docs; every field's default is in [`Config::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bound on one TCP connect. Default 5 s; 1 ms ..= 1 h.
    pub connect_timeout: Duration,
    /// Bound on writing one request, and on each read of its reply (header, then body).
    /// Default 10 s; 1 ms ..= 1 h.
    pub request_timeout: Duration,
    /// Bound on waiting for a ping's reply header: must exceed the beacon's `ping_timeout_s`.
    /// Default 960 s (900 + 60); more than `request_timeout`, at most one day.
    pub ping_read_timeout: Duration,
    /// Retries after the first attempt of an idempotent request (upload, download, peek,
    /// echo), each on a fresh connection. Default 3; at most 16.
    pub retries_max: u32,
    /// Retries of a tell. Default 0: a tell is not idempotent for the recipient (a retry
    /// after a lost reply can deliver the same record twice if a poll read it in between).
    /// At most 16.
    pub tell_retries_max: u32,
    /// First backoff before a retry; doubles per retry. Default 200 ms.
    pub retry_backoff: Duration,
    /// Cap on one backoff. Default 5 s; at least `retry_backoff`.
    pub retry_backoff_max: Duration,
    /// Where a response payload's AES-CTR counter starts; must match the servers'.
    pub response_counter: ResponseCounter,
    /// N, the data stripes per file (plus the parity stripes of [`Config::parity`]). Default
    /// 7; at most 24 with XOR parity, 25 − k with Reed–Solomon, since every stripe goes to a
    /// distinct RAIDA.
    pub data_stripe_count: DataStripeCount,
    /// The parity scheme. Default [`Parity::Xor`]; N + parity stripes ≤ 25 RAIDAs.
    pub parity: Parity,
    /// Whether a send may tell with one stripe per file missing. Default: no.
    pub send_policy: SendPolicy,
    /// How long the storage RAIDAs keep uploaded stripes. Default one month.
    pub storage_duration: StorageDuration,
    /// Requests one send or download keeps in flight. Default 8; 1 ..= 32.
    pub concurrency_max: usize,
    /// File-header byte 23, the sender's device tag (logged by beacons, not enforced).
    pub device_id: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS_DEFAULT),
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS_DEFAULT),
            ping_read_timeout: Duration::from_secs(PING_READ_TIMEOUT_S_DEFAULT),
            retries_max: RETRIES_MAX_DEFAULT,
            tell_retries_max: 0,
            retry_backoff: Duration::from_millis(RETRY_BACKOFF_MS_DEFAULT),
            retry_backoff_max: Duration::from_millis(RETRY_BACKOFF_MS_MAX_DEFAULT),
            response_counter: ResponseCounter::Restart,
            data_stripe_count: DataStripeCount::DEFAULT,
            parity: Parity::Xor,
            send_policy: SendPolicy::AllStripes,
            storage_duration: StorageDuration::Month,
            concurrency_max: CONCURRENCY_DEFAULT,
            device_id: 0,
        }
    }
}

/// A setting outside its limits: names the setting, the value and the allowed range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting's field name.
    pub setting: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "setting `{}`: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn error(setting: &'static str, reason: String) -> ConfigError {
    ConfigError { setting, reason }
}

fn check_timeout(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    let max = Duration::from_millis(TIMEOUT_MS_MAX);
    if value < Duration::from_millis(1) || value > max {
        return Err(error(
            setting,
            format!(
                "{} ms is outside 1..={TIMEOUT_MS_MAX} ms",
                value.as_millis()
            ),
        ));
    }
    Ok(())
}

impl Config {
    /// Checks every setting against its limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_timeout("connect_timeout", self.connect_timeout)?;
        check_timeout("request_timeout", self.request_timeout)?;
        let ping_max = Duration::from_secs(PING_READ_TIMEOUT_S_MAX);
        if self.ping_read_timeout <= self.request_timeout || self.ping_read_timeout > ping_max {
            return Err(error(
                "ping_read_timeout",
                format!(
                    "{} s must exceed request_timeout ({} ms) and be at most \
                     {PING_READ_TIMEOUT_S_MAX} s",
                    self.ping_read_timeout.as_secs_f64(),
                    self.request_timeout.as_millis()
                ),
            ));
        }
        for (setting, value) in [
            ("retries_max", self.retries_max),
            ("tell_retries_max", self.tell_retries_max),
        ] {
            if value > RETRIES_MAX_LIMIT {
                return Err(error(
                    setting,
                    format!("{value} is more than {RETRIES_MAX_LIMIT}"),
                ));
            }
        }
        check_timeout("retry_backoff", self.retry_backoff)?;
        check_timeout("retry_backoff_max", self.retry_backoff_max)?;
        if self.retry_backoff_max < self.retry_backoff {
            return Err(error(
                "retry_backoff_max",
                format!(
                    "{} ms is less than retry_backoff ({} ms)",
                    self.retry_backoff_max.as_millis(),
                    self.retry_backoff.as_millis()
                ),
            ));
        }
        if self.data_stripe_count.get() > DATA_STRIPE_COUNT_PLACEABLE_MAX {
            return Err(error(
                "data_stripe_count",
                format!(
                    "{} is more than {DATA_STRIPE_COUNT_PLACEABLE_MAX}: the {} stripes of a \
                     file go to distinct RAIDAs",
                    self.data_stripe_count,
                    self.data_stripe_count.stripe_count()
                ),
            ));
        }
        self.check_parity()?;
        if !(1..=CONCURRENCY_MAX).contains(&self.concurrency_max) {
            return Err(error(
                "concurrency_max",
                format!("{} is outside 1..={CONCURRENCY_MAX}", self.concurrency_max),
            ));
        }
        Ok(())
    }

    /// Reed–Solomon's k is at least 1 and N + k fits the 25 RAIDAs (and the code's shape).
    fn check_parity(&self) -> Result<(), ConfigError> {
        let Parity::ReedSolomon { parity_count } = self.parity else {
            return Ok(());
        };
        let data_count = self.data_stripe_count.get();
        let parity_count = usize::from(parity_count);
        if parity_count == 0 || data_count + parity_count > RAIDA_COUNT {
            return Err(error(
                "parity",
                format!(
                    "{data_count} data + {parity_count} Reed-Solomon parity stripes: need at \
                     least 1 parity stripe and at most {RAIDA_COUNT} stripes in all, since the \
                     stripes of a file go to distinct RAIDAs"
                ),
            ));
        }
        rs::check_shape(data_count, parity_count)
            .map_err(|shape| error("parity", shape.to_string()))
    }

    /// The backoff before retry number `retry` (1 for the first retry): `retry_backoff ×
    /// 2^(retry−1)`, capped at `retry_backoff_max`.
    pub fn backoff_before_retry(&self, retry: u32) -> Duration {
        assert!(retry >= 1, "retry numbers start at 1");
        let factor = 1u32.checked_shl(retry - 1).unwrap_or(u32::MAX);
        self.retry_backoff
            .checked_mul(factor)
            .unwrap_or(self.retry_backoff_max)
            .min(self.retry_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.data_stripe_count.get(), 7);
        assert!(config.ping_read_timeout > Duration::from_secs(900));
    }

    #[test]
    fn each_limit_is_named() {
        let cases: Vec<(&str, Config)> = vec![
            (
                "connect_timeout",
                Config {
                    connect_timeout: Duration::ZERO,
                    ..Config::default()
                },
            ),
            (
                "ping_read_timeout",
                Config {
                    ping_read_timeout: Duration::from_secs(5),
                    ..Config::default()
                },
            ),
            (
                "retries_max",
                Config {
                    retries_max: 17,
                    ..Config::default()
                },
            ),
            (
                "retry_backoff_max",
                Config {
                    retry_backoff_max: Duration::from_millis(10),
                    ..Config::default()
                },
            ),
            (
                "data_stripe_count",
                Config {
                    data_stripe_count: DataStripeCount::new(25).expect("stripeable"),
                    ..Config::default()
                },
            ),
            (
                "concurrency_max",
                Config {
                    concurrency_max: 0,
                    ..Config::default()
                },
            ),
        ];
        for (setting, config) in cases {
            let error = config.validate().expect_err(setting);
            assert_eq!(error.setting, setting, "{error}");
        }
    }

    #[test]
    fn reed_solomon_fits_the_raidas() {
        let with = |data_stripe_count: usize, parity_count: u8| Config {
            data_stripe_count: DataStripeCount::new(data_stripe_count).expect("stripeable"),
            parity: Parity::ReedSolomon { parity_count },
            ..Config::default()
        };
        assert_eq!(with(7, 2).validate(), Ok(()));
        assert_eq!(with(23, 2).validate(), Ok(()));
        assert_eq!(with(1, 24).validate(), Ok(()));
        for (n, k) in [(24, 2), (23, 3), (7, 19), (1, 25), (7, 0), (1, 255)] {
            let error = with(n, k).validate().expect_err("N + k > 25 or k = 0");
            assert_eq!(error.setting, "parity", "{error}");
        }
        // N = 24 with XOR parity is fine, but Reed-Solomon needs room for k ≥ 1 more.
        assert_eq!(with(24, 1).validate(), Ok(()));
        assert_eq!(Parity::ReedSolomon { parity_count: 2 }.parity_algo(), 1);
        assert_eq!(Parity::Xor.parity_algo(), 0);
        assert_eq!(
            Parity::ReedSolomon { parity_count: 3 }.stripe_count(DataStripeCount::DEFAULT),
            10
        );
        assert_eq!(Config::default().parity, Parity::Xor);
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let config = Config::default();
        assert_eq!(config.backoff_before_retry(1), Duration::from_millis(200));
        assert_eq!(config.backoff_before_retry(2), Duration::from_millis(400));
        assert_eq!(config.backoff_before_retry(5), Duration::from_millis(3_200));
        assert_eq!(config.backoff_before_retry(6), Duration::from_secs(5));
        assert_eq!(config.backoff_before_retry(40), Duration::from_secs(5));
    }
}
