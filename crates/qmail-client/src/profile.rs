//! The profile file of the `qmail` command: identity, directory and optional settings in one
//! TOML file.
//!
//! ```toml
//! [identity]
//! denomination = 1
//! serial_number = 1000
//! an = "000102030405060708090a0b0c0d0e0f"   # one AN for every RAIDA, or:
//! # ans = ["…", …]                          # exactly 25, index = RAIDA id
//! upload_locker = "PAYME"                   # 1–16 ASCII characters, or upload_locker_hex
//! fee_locker = "FEES"                       # or fee_locker_hex (32 lowercase hex digits)
//!
//! [directory]
//! raidas = ["127.0.0.1:18000", …]           # exactly 25 IPv4 addresses, index = RAIDA id
//! default_beacon = "serial_mod_25"          # or a RAIDA index 0..=24
//!
//! [[directory.beacon]]                      # explicit beacons, any number
//! denomination = 1
//! serial_number = 1000
//! raida = 3
//!
//! [config]                                  # every key optional; defaults in Config
//! connect_timeout_ms = 5000
//! request_timeout_ms = 10000
//! ping_read_timeout_s = 960
//! retries_max = 3
//! tell_retries_max = 0
//! retry_backoff_ms = 200
//! retry_backoff_max_ms = 5000
//! response_counter = "restart"              # or "continue"
//! data_stripe_count = 7
//! parity_algo = "xor"                       # or "reed_solomon"
//! parity_count = 2                          # reed_solomon only (default 2); N + k <= 25
//! send_policy = "all_stripes"               # or "allow_one_missing_per_file"
//! storage_duration = "month"                # day, week, month, three_months, six_months,
//!                                           # year, permanent
//! concurrency_max = 8
//! device_id = 0
//! ```
//!
//! Unknown keys are refused; every error names the file, the line and the key
//! ([`ProfileError`]). The AN and locker formats are those of the server's provisioning file.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use qmail_wire::body::StorageDuration;
use qmail_wire::crypto::ResponseCounter;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Config, Parity, SendPolicy};
use crate::directory::{BeaconRule, Directory};
use crate::identity::{An, Identity, LockerCode, MailboxId};
use crate::limits::{PROFILE_FILE_SIZE_BYTES_MAX, RAIDA_COUNT, RS_PARITY_STRIPE_COUNT_DEFAULT};
use crate::stripe::DataStripeCount;

/// A parsed profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Who the client is.
    pub identity: Identity,
    /// Where the RAIDAs are.
    pub directory: Directory,
    /// Settings (defaults for keys not given).
    pub config: Config,
}

/// Why a profile file was refused. Display: `file:line: key `k`: reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// The file could not be read.
    Io {
        source_name: String,
        message: String,
    },
    /// The file is larger than 1 MiB.
    TooLarge {
        source_name: String,
        size_bytes: usize,
    },
    /// The TOML did not parse, or a key is unknown, missing or of the wrong type.
    Syntax {
        source_name: String,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// A value parsed but is not acceptable.
    Invalid {
        source_name: String,
        line: usize,
        key: String,
        reason: String,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                source_name,
                message,
            } => write!(f, "{source_name}: {message}"),
            Self::TooLarge {
                source_name,
                size_bytes,
            } => write!(
                f,
                "{source_name}: {size_bytes} bytes is larger than {PROFILE_FILE_SIZE_BYTES_MAX}"
            ),
            Self::Syntax {
                source_name,
                line,
                key,
                message,
            } => {
                write!(f, "{source_name}")?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(key) = key {
                    write!(f, ": key `{key}`")?;
                }
                write!(f, ": {message}")
            }
            Self::Invalid {
                source_name,
                line,
                key,
                reason,
            } => write!(f, "{source_name}:{line}: key `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ProfileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    identity: Spanned<RawIdentity>,
    directory: Spanned<RawDirectory>,
    #[serde(default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    denomination: Spanned<i64>,
    serial_number: u32,
    #[serde(default)]
    an: Option<Spanned<String>>,
    #[serde(default)]
    ans: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    upload_locker: Option<Spanned<String>>,
    #[serde(default)]
    upload_locker_hex: Option<Spanned<String>>,
    #[serde(default)]
    fee_locker: Option<Spanned<String>>,
    #[serde(default)]
    fee_locker_hex: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    raidas: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    default_beacon: Option<Spanned<toml::Value>>,
    #[serde(default)]
    beacon: Vec<Spanned<RawBeacon>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBeacon {
    denomination: Spanned<i64>,
    serial_number: u32,
    raida: Spanned<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    connect_timeout_ms: Option<Spanned<u64>>,
    request_timeout_ms: Option<Spanned<u64>>,
    ping_read_timeout_s: Option<Spanned<u64>>,
    retries_max: Option<Spanned<u32>>,
    tell_retries_max: Option<Spanned<u32>>,
    retry_backoff_ms: Option<Spanned<u64>>,
    retry_backoff_max_ms: Option<Spanned<u64>>,
    response_counter: Option<Spanned<String>>,
    data_stripe_count: Option<Spanned<u64>>,
    parity_algo: Option<Spanned<String>>,
    parity_count: Option<Spanned<u64>>,
    send_policy: Option<Spanned<String>>,
    storage_duration: Option<Spanned<String>>,
    concurrency_max: Option<Spanned<u64>>,
    device_id: Option<Spanned<u8>>,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |before| before.iter().filter(|b| **b == b'\n').count())
        + 1
}

/// The key a `key = value` line assigns, if the line has that shape.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let line_text = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = line_text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    bare.then(|| key.to_string())
}

/// The key named in a serde message like "unknown field `x`" or "missing field `x`".
fn key_in_message(message: &str) -> Option<String> {
    let rest = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.split_once(prefix).map(|(_, rest)| rest))?;
    let (key, _) = rest.split_once('`')?;
    Some(key.to_string())
}

fn hex_to_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let value = |digit: u8| match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        };
        *byte = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(bytes)
}

/// Turns spans into [`ProfileError::Invalid`] for one file.
struct Checker<'a> {
    text: &'a str,
    source_name: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, span: Range<usize>, key: &str, reason: impl Into<String>) -> ProfileError {
        ProfileError::Invalid {
            source_name: self.source_name.to_string(),
            line: line_of(self.text, span.start),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn denomination(&self, value: &Spanned<i64>) -> Result<i8, ProfileError> {
        match i8::try_from(*value.get_ref()) {
            Ok(denomination) if MailboxId::new(denomination, 0).is_valid() => Ok(denomination),
            _ => Err(self.invalid(
                value.span(),
                "denomination",
                format!("{} is outside -8..=6", value.get_ref()),
            )),
        }
    }

    fn an(&self, value: &Spanned<String>, key: &str) -> Result<An, ProfileError> {
        hex_to_bytes(value.get_ref())
            .ok_or_else(|| self.invalid(value.span(), key, "expected 32 lowercase hex digits"))
    }

    fn ans(&self, raw: &Spanned<RawIdentity>) -> Result<[An; RAIDA_COUNT], ProfileError> {
        let identity = raw.get_ref();
        match (&identity.an, &identity.ans) {
            (Some(an), None) => Ok([self.an(an, "an")?; RAIDA_COUNT]),
            (None, Some(ans)) => {
                if ans.get_ref().len() != RAIDA_COUNT {
                    return Err(self.invalid(
                        ans.span(),
                        "ans",
                        format!(
                            "expected {RAIDA_COUNT} ANs (one per RAIDA), found {}",
                            ans.get_ref().len()
                        ),
                    ));
                }
                let mut table = [[0u8; 16]; RAIDA_COUNT];
                for (slot, an) in table.iter_mut().zip(ans.get_ref()) {
                    *slot = self.an(an, "ans")?;
                }
                Ok(table)
            }
            _ => Err(self.invalid(raw.span(), "an", "give exactly one of `an` and `ans`")),
        }
    }

    fn locker(
        &self,
        table_span: Range<usize>,
        key: &str,
        ascii: &Option<Spanned<String>>,
        hex: &Option<Spanned<String>>,
    ) -> Result<LockerCode, ProfileError> {
        let hex_key = format!("{key}_hex");
        match (ascii, hex) {
            (Some(text), None) => {
                let printable = text
                    .get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_graphic() || b == b' ');
                match qmail_wire::tell::locker_from_ascii(text.get_ref()) {
                    Some(code) if printable && !text.get_ref().is_empty() => Ok(code),
                    _ => Err(self.invalid(
                        text.span(),
                        key,
                        "expected 1 to 16 printable ASCII characters",
                    )),
                }
            }
            (None, Some(text)) => match hex_to_bytes::<16>(text.get_ref()) {
                Some(code) if code.iter().any(|byte| *byte != 0) => Ok(code),
                _ => Err(self.invalid(
                    text.span(),
                    &hex_key,
                    "expected 32 lowercase hex digits, not all zero",
                )),
            },
            _ => Err(self.invalid(
                table_span,
                key,
                format!("give exactly one of `{key}` and `{hex_key}`"),
            )),
        }
    }

    fn identity(&self, raw: &Spanned<RawIdentity>) -> Result<Identity, ProfileError> {
        let identity = raw.get_ref();
        let mailbox = MailboxId::new(
            self.denomination(&identity.denomination)?,
            identity.serial_number,
        );
        let ans = self.ans(raw)?;
        let upload = self.locker(
            raw.span(),
            "upload_locker",
            &identity.upload_locker,
            &identity.upload_locker_hex,
        )?;
        let fee = self.locker(
            raw.span(),
            "fee_locker",
            &identity.fee_locker,
            &identity.fee_locker_hex,
        )?;
        Identity::new(mailbox, ans, upload, fee)
            .map_err(|error| self.invalid(raw.span(), "identity", error.to_string()))
    }

    fn raida_index(&self, value: &Spanned<i64>, key: &str) -> Result<u8, ProfileError> {
        match u8::try_from(*value.get_ref()) {
            Ok(index) if usize::from(index) < RAIDA_COUNT => Ok(index),
            _ => Err(self.invalid(
                value.span(),
                key,
                format!("RAIDA index {} is outside 0..=24", value.get_ref()),
            )),
        }
    }

    fn directory(&self, raw: &Spanned<RawDirectory>) -> Result<Directory, ProfileError> {
        let directory = raw.get_ref();
        let raidas = &directory.raidas;
        if raidas.get_ref().len() != RAIDA_COUNT {
            return Err(self.invalid(
                raidas.span(),
                "raidas",
                format!(
                    "expected {RAIDA_COUNT} addresses, found {}",
                    raidas.get_ref().len()
                ),
            ));
        }
        let mut addrs = Vec::with_capacity(RAIDA_COUNT);
        for text in raidas.get_ref() {
            match text.get_ref().parse::<SocketAddr>() {
                Ok(addr @ SocketAddr::V4(_)) => addrs.push(addr),
                _ => {
                    return Err(self.invalid(
                        text.span(),
                        "raidas",
                        format!("`{}` is not an IPv4 address:port", text.get_ref()),
                    ))
                }
            }
        }
        let mut result = Directory::new(addrs)
            .map_err(|error| self.invalid(raidas.span(), "raidas", error.to_string()))?;
        if let Some(rule) = &directory.default_beacon {
            let rule_value = match rule.get_ref() {
                toml::Value::String(text) if text == "serial_mod_25" => BeaconRule::SerialModulo,
                toml::Value::Integer(index) => BeaconRule::Fixed(
                    self.raida_index(&Spanned::new(rule.span(), *index), "default_beacon")?,
                ),
                _ => {
                    return Err(self.invalid(
                        rule.span(),
                        "default_beacon",
                        "expected \"serial_mod_25\" or a RAIDA index 0..=24",
                    ))
                }
            };
            result
                .set_default_rule(rule_value)
                .expect("the index was checked");
        }
        let mut seen = BTreeSet::new();
        for beacon in &directory.beacon {
            let entry = beacon.get_ref();
            let mailbox =
                MailboxId::new(self.denomination(&entry.denomination)?, entry.serial_number);
            let raida_index = self.raida_index(&entry.raida, "raida")?;
            if !seen.insert(mailbox) {
                return Err(self.invalid(beacon.span(), "serial_number", "duplicate beacon"));
            }
            result
                .set_beacon(mailbox, raida_index)
                .expect("the index was checked");
        }
        Ok(result)
    }

    fn config(&self, raw: &RawConfig) -> Result<Config, ProfileError> {
        let mut config = Config::default();
        let ms = |value: &Spanned<u64>| Duration::from_millis(*value.get_ref());
        if let Some(value) = &raw.connect_timeout_ms {
            config.connect_timeout = ms(value);
        }
        if let Some(value) = &raw.request_timeout_ms {
            config.request_timeout = ms(value);
        }
        if let Some(value) = &raw.ping_read_timeout_s {
            config.ping_read_timeout = Duration::from_secs(*value.get_ref());
        }
        if let Some(value) = &raw.retries_max {
            config.retries_max = *value.get_ref();
        }
        if let Some(value) = &raw.tell_retries_max {
            config.tell_retries_max = *value.get_ref();
        }
        if let Some(value) = &raw.retry_backoff_ms {
            config.retry_backoff = ms(value);
        }
        if let Some(value) = &raw.retry_backoff_max_ms {
            config.retry_backoff_max = ms(value);
        }
        if let Some(value) = &raw.response_counter {
            config.response_counter = match value.get_ref().as_str() {
                "restart" => ResponseCounter::Restart,
                "continue" => ResponseCounter::Continue,
                _ => {
                    return Err(self.invalid(
                        value.span(),
                        "response_counter",
                        "expected \"restart\" or \"continue\"",
                    ))
                }
            };
        }
        if let Some(value) = &raw.data_stripe_count {
            config.data_stripe_count = usize::try_from(*value.get_ref())
                .ok()
                .and_then(|count| DataStripeCount::new(count).ok())
                .ok_or_else(|| {
                    self.invalid(value.span(), "data_stripe_count", "expected 1..=24")
                })?;
        }
        config.parity = self.parity(raw)?;
        if let Some(value) = &raw.send_policy {
            config.send_policy = match value.get_ref().as_str() {
                "all_stripes" => SendPolicy::AllStripes,
                "allow_one_missing_per_file" => SendPolicy::AllowOneMissingPerFile,
                _ => {
                    return Err(self.invalid(
                        value.span(),
                        "send_policy",
                        "expected \"all_stripes\" or \"allow_one_missing_per_file\"",
                    ))
                }
            };
        }
        if let Some(value) = &raw.storage_duration {
            config.storage_duration = storage_duration(value.get_ref()).ok_or_else(|| {
                self.invalid(
                    value.span(),
                    "storage_duration",
                    "expected day, week, month, three_months, six_months, year or permanent",
                )
            })?;
        }
        if let Some(value) = &raw.concurrency_max {
            config.concurrency_max = usize::try_from(*value.get_ref()).unwrap_or(usize::MAX);
        }
        if let Some(value) = &raw.device_id {
            config.device_id = *value.get_ref();
        }
        config.validate().map_err(|error| {
            let (key, span) = config_key_span(raw, error.setting);
            self.invalid(span, key, error.reason)
        })?;
        Ok(config)
    }

    /// `parity_algo` (`"xor"` default, or "reed_solomon") and `parity_count` (Reed–Solomon
    /// only, default 2); the N + k bound is [`Config::validate`]'s.
    fn parity(&self, raw: &RawConfig) -> Result<Parity, ProfileError> {
        let reed_solomon = match &raw.parity_algo {
            None => false,
            Some(value) => match value.get_ref().as_str() {
                "xor" => false,
                "reed_solomon" => true,
                _ => {
                    return Err(self.invalid(
                        value.span(),
                        "parity_algo",
                        "expected \"xor\" or \"reed_solomon\"",
                    ))
                }
            },
        };
        match (&raw.parity_count, reed_solomon) {
            (None, false) => Ok(Parity::Xor),
            (Some(value), false) => Err(self.invalid(
                value.span(),
                "parity_count",
                "needs parity_algo = \"reed_solomon\" (XOR has one parity stripe)",
            )),
            (None, true) => Ok(Parity::ReedSolomon {
                parity_count: RS_PARITY_STRIPE_COUNT_DEFAULT as u8,
            }),
            (Some(value), true) => {
                let parity_count = u8::try_from(*value.get_ref())
                    .ok()
                    .filter(|count| usize::from(*count) < RAIDA_COUNT && *count >= 1)
                    .ok_or_else(|| self.invalid(value.span(), "parity_count", "expected 1..=24"))?;
                Ok(Parity::ReedSolomon { parity_count })
            }
        }
    }
}

fn storage_duration(name: &str) -> Option<StorageDuration> {
    Some(match name {
        "day" => StorageDuration::Day,
        "week" => StorageDuration::Week,
        "month" => StorageDuration::Month,
        "three_months" => StorageDuration::ThreeMonths,
        "six_months" => StorageDuration::SixMonths,
        "year" => StorageDuration::Year,
        "permanent" => StorageDuration::Permanent,
        _ => return None,
    })
}

/// The TOML key and span of the value behind a [`Config`] field that failed validation
/// (the first key given when the failure involves two, such as ping vs request timeout).
fn config_key_span(raw: &RawConfig, setting: &str) -> (&'static str, Range<usize>) {
    let u64_span = |value: &Option<Spanned<u64>>| value.as_ref().map(Spanned::span);
    let u32_span = |value: &Option<Spanned<u32>>| value.as_ref().map(Spanned::span);
    let string_span = |value: &Option<Spanned<String>>| value.as_ref().map(Spanned::span);
    let candidates: [(&str, &'static str, Option<Range<usize>>); 11] = [
        (
            "connect_timeout",
            "connect_timeout_ms",
            u64_span(&raw.connect_timeout_ms),
        ),
        (
            "request_timeout",
            "request_timeout_ms",
            u64_span(&raw.request_timeout_ms),
        ),
        (
            "ping_read_timeout",
            "ping_read_timeout_s",
            u64_span(&raw.ping_read_timeout_s),
        ),
        ("retries_max", "retries_max", u32_span(&raw.retries_max)),
        (
            "tell_retries_max",
            "tell_retries_max",
            u32_span(&raw.tell_retries_max),
        ),
        (
            "retry_backoff",
            "retry_backoff_ms",
            u64_span(&raw.retry_backoff_ms),
        ),
        (
            "retry_backoff_max",
            "retry_backoff_max_ms",
            u64_span(&raw.retry_backoff_max_ms),
        ),
        (
            "concurrency_max",
            "concurrency_max",
            u64_span(&raw.concurrency_max),
        ),
        (
            "data_stripe_count",
            "data_stripe_count",
            u64_span(&raw.data_stripe_count),
        ),
        ("parity", "parity_count", u64_span(&raw.parity_count)),
        ("parity", "parity_algo", string_span(&raw.parity_algo)),
    ];
    let given: Vec<(&str, &'static str, Range<usize>)> = candidates
        .into_iter()
        .filter_map(|(name, key, span)| span.map(|span| (name, key, span)))
        .collect();
    let found = given
        .iter()
        .find(|(name, _, _)| *name == setting)
        .or(given.first())
        .map(|(_, key, span)| (*key, span.clone()));
    found.unwrap_or(("config", 0..0))
}

impl Profile {
    /// Parses and checks a profile; `source_name` (usually its path) is named in every error.
    pub fn parse(text: &str, source_name: &str) -> Result<Profile, ProfileError> {
        if text.len() > PROFILE_FILE_SIZE_BYTES_MAX {
            return Err(ProfileError::TooLarge {
                source_name: source_name.to_string(),
                size_bytes: text.len(),
            });
        }
        let raw: RawProfile = toml::from_str(text).map_err(|error| {
            let line = error.span().map(|span| line_of(text, span.start));
            let key = key_in_message(error.message())
                .or_else(|| line.and_then(|line| key_on_line(text, line)));
            ProfileError::Syntax {
                source_name: source_name.to_string(),
                line,
                key,
                message: error.message().to_string(),
            }
        })?;
        let checker = Checker { text, source_name };
        Ok(Profile {
            identity: checker.identity(&raw.identity)?,
            directory: checker.directory(&raw.directory)?,
            config: checker.config(&raw.config.unwrap_or_default())?,
        })
    }

    /// Reads and parses the profile at `path` (for the `qmail` command; the simulator builds
    /// its clients in memory).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ProfileError::Io {
            source_name: source_name.clone(),
            message: error.to_string(),
        })?;
        Profile::parse(&text, &source_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raidas_line() -> String {
        let addrs: Vec<String> = (0..25)
            .map(|i| format!("\"127.0.0.1:{}\"", 18_000 + i))
            .collect();
        format!("raidas = [{}]", addrs.join(", "))
    }

    fn profile_text(extra_identity: &str, extra_directory: &str, config: &str) -> String {
        format!(
            "[identity]\n\
             denomination = 1\n\
             serial_number = 1000\n\
             an = \"000102030405060708090a0b0c0d0e0f\"\n\
             upload_locker = \"PAYME\"\n\
             fee_locker_hex = \"00ff00ff00ff00ff00ff00ff00ff00ff\"\n\
             {extra_identity}\n\
             [directory]\n\
             {}\n\
             {extra_directory}\n\
             {config}\n",
            raidas_line()
        )
    }

    #[test]
    fn full_profile_parses() {
        let text = profile_text(
            "",
            "default_beacon = 7\n\
             [[directory.beacon]]\n\
             denomination = -2\n\
             serial_number = 5\n\
             raida = 24\n",
            "[config]\n\
             request_timeout_ms = 2500\n\
             response_counter = \"continue\"\n\
             data_stripe_count = 4\n\
             send_policy = \"allow_one_missing_per_file\"\n\
             storage_duration = \"permanent\"\n",
        );
        let profile = Profile::parse(&text, "me.toml").expect("valid");
        assert_eq!(profile.identity.mailbox, MailboxId::new(1, 1000));
        assert_eq!(profile.identity.ans[24][15], 0x0f);
        assert_eq!(&profile.identity.upload_locker_code[..6], b"PAYME\0");
        assert_eq!(profile.identity.fee_locker_code[1], 0xff);
        assert_eq!(profile.directory.beacon_of(MailboxId::new(-2, 5)), 24);
        assert_eq!(profile.directory.beacon_of(MailboxId::new(1, 1000)), 7);
        assert_eq!(profile.config.request_timeout, Duration::from_millis(2500));
        assert_eq!(profile.config.response_counter, ResponseCounter::Continue);
        assert_eq!(profile.config.data_stripe_count.get(), 4);
        assert_eq!(
            profile.config.send_policy,
            SendPolicy::AllowOneMissingPerFile
        );
        assert_eq!(profile.config.storage_duration, StorageDuration::Permanent);
        let rs_text = profile_text(
            "",
            "",
            "[config]\nparity_algo = \"reed_solomon\"\nparity_count = 3\n",
        );
        let rs = Profile::parse(&rs_text, "rs.toml").expect("valid");
        assert_eq!(rs.config.parity, Parity::ReedSolomon { parity_count: 3 });
        let rs_text = profile_text("", "", "[config]\nparity_algo = \"reed_solomon\"\n");
        let rs = Profile::parse(&rs_text, "rs.toml").expect("valid");
        assert_eq!(rs.config.parity, Parity::ReedSolomon { parity_count: 2 });
        let defaults = Profile::parse(&profile_text("", "", ""), "d.toml").expect("valid");
        assert_eq!(defaults.config, Config::default());
        assert_eq!(defaults.directory.default_rule(), BeaconRule::SerialModulo);
    }

    fn error_of(text: &str) -> ProfileError {
        Profile::parse(text, "bad.toml").expect_err("invalid")
    }

    fn assert_names(error: &ProfileError, line: usize, key: &str) {
        let text = error.to_string();
        assert!(text.starts_with(&format!("bad.toml:{line}:")), "{text}");
        assert!(text.contains(&format!("key `{key}`")), "{text}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        // Unknown key in [identity] (line 7).
        let error = error_of(&profile_text("colour = \"blue\"", "", ""));
        assert_names(&error, 7, "colour");
        // Bad AN on line 4.
        let text = profile_text("", "", "").replace("0e0f", "0e0g");
        assert_names(&error_of(&text), 4, "an");
        // Denomination out of range on line 2.
        let text = profile_text("", "", "").replace("denomination = 1", "denomination = 9");
        assert_names(&error_of(&text), 2, "denomination");
        // A RAIDA address that is not IPv4 (line 9).
        let text = profile_text("", "", "").replace("127.0.0.1:18003", "[::1]:5");
        assert_names(&error_of(&text), 9, "raidas");
        // Beacon out of range on line 11.
        let text = profile_text("", "default_beacon = 25", "");
        assert_names(&error_of(&text), 10, "default_beacon");
        // A config value out of its limits (line 12).
        let text = profile_text("", "", "[config]\nconcurrency_max = 0");
        assert_names(&error_of(&text), 12, "concurrency_max");
        let text = profile_text("", "", "[config]\nping_read_timeout_s = 5");
        assert_names(&error_of(&text), 12, "ping_read_timeout_s");
        let text = profile_text("", "", "[config]\nsend_policy = \"yolo\"");
        assert_names(&error_of(&text), 12, "send_policy");
        let text = profile_text("", "", "[config]\nparity_algo = \"raid6\"");
        assert_names(&error_of(&text), 12, "parity_algo");
        // parity_count only with Reed-Solomon; N + k beyond the 25 RAIDAs is refused.
        let text = profile_text("", "", "[config]\nparity_count = 2");
        assert_names(&error_of(&text), 12, "parity_count");
        let text = profile_text(
            "",
            "",
            "[config]\ndata_stripe_count = 20\nparity_algo = \"reed_solomon\"\nparity_count = 6",
        );
        assert_names(&error_of(&text), 14, "parity_count");
        let text = profile_text(
            "",
            "",
            "[config]\ndata_stripe_count = 24\nparity_algo = \"reed_solomon\"",
        );
        assert_names(&error_of(&text), 13, "parity_algo");
        // Both locker forms given.
        let text = profile_text(
            "upload_locker_hex = \"00ff00ff00ff00ff00ff00ff00ff00ff\"",
            "",
            "",
        );
        assert!(error_of(&text).to_string().contains("upload_locker"));
        // Missing [directory] table entirely.
        let text = "[identity]\ndenomination = 1\n";
        assert!(matches!(error_of(text), ProfileError::Syntax { .. }));
    }
}
