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
//! extensions = ["delivery_ack"]             # client extensions by name (default none);
//!                                           # names: crate::extension::names()
//! ```
//!
//! Unknown keys are refused; every error names the file, the line, the column and the dotted
//! key ([`ProfileError`], a `knobs::ConfigError` as every TOML reader of the workspace writes
//! it). An unknown extension name, the same one twice, or extensions whose reserved-byte
//! claims collide are refused at load. The AN and locker formats are those of the server's
//! provisioning file.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use knobs::Choice;
use qmail_wire::body::StorageDuration;
use qmail_wire::crypto::ResponseCounter;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Config, Parity, SendPolicy};
use crate::directory::{BeaconRule, Directory};
use crate::extension::{self, ClientExtension, ClientExtensions};
use crate::identity::{An, Identity, LockerCode, MailboxId};
use crate::limits::{PROFILE_FILE_SIZE_BYTES_MAX, RAIDA_COUNT, RS_PARITY_STRIPE_COUNT_DEFAULT};
use crate::stripe::DataStripeCount;

/// A parsed profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Who the client is.
    pub identity: Identity,
    /// Where the RAIDAs are.
    pub directory: Directory,
    /// Settings (defaults for keys not given).
    pub config: Config,
    /// The protocol extensions `[config] extensions` turns on (claims checked; empty by
    /// default: the protocol as the pages describe it).
    pub extensions: ClientExtensions,
}

/// Why a profile file was refused. Display names the file, and for its content the line,
/// column and dotted key (`me.toml:12:19: key `config.concurrency_max`: …`).
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
    /// The TOML did not parse, a key is unknown, missing or of the wrong type, or a value is
    /// not acceptable: where and why, as every TOML reader of the workspace reports it.
    Invalid(knobs::ConfigError),
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
            Self::Invalid(error) => write!(f, "{error}"),
        }
    }
}

impl From<knobs::ConfigError> for ProfileError {
    fn from(error: knobs::ConfigError) -> Self {
        Self::Invalid(error)
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
    extensions: Option<Spanned<Vec<Spanned<String>>>>,
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
    source: knobs::Source<'a>,
}

impl Checker<'_> {
    /// An error at `span` about the dotted key `key` (`identity.an`).
    fn invalid(&self, span: Range<usize>, key: &str, reason: impl Into<String>) -> ProfileError {
        ProfileError::Invalid(self.source.error(Some(span), key, reason))
    }

    /// An error about the key `key` of `[config]`.
    fn invalid_config(
        &self,
        span: Range<usize>,
        key: &str,
        reason: impl Into<String>,
    ) -> ProfileError {
        self.invalid(span, &format!("config.{key}"), reason)
    }

    fn denomination(&self, value: &Spanned<i64>, key: &str) -> Result<i8, ProfileError> {
        match i8::try_from(*value.get_ref()) {
            Ok(denomination) if MailboxId::new(denomination, 0).is_valid() => Ok(denomination),
            _ => Err(self.invalid(
                value.span(),
                key,
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
            (Some(an), None) => Ok([self.an(an, "identity.an")?; RAIDA_COUNT]),
            (None, Some(ans)) => {
                if ans.get_ref().len() != RAIDA_COUNT {
                    return Err(self.invalid(
                        ans.span(),
                        "identity.ans",
                        format!(
                            "expected {RAIDA_COUNT} ANs (one per RAIDA), found {}",
                            ans.get_ref().len()
                        ),
                    ));
                }
                let mut table = [[0u8; 16]; RAIDA_COUNT];
                for (slot, an) in table.iter_mut().zip(ans.get_ref()) {
                    *slot = self.an(an, "identity.ans")?;
                }
                Ok(table)
            }
            _ => Err(self.invalid(
                raw.span(),
                "identity.an",
                "give exactly one of `an` and `ans`",
            )),
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
        let dotted = |key: &str| format!("identity.{key}");
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
                        &dotted(key),
                        "expected 1 to 16 printable ASCII characters",
                    )),
                }
            }
            (None, Some(text)) => match hex_to_bytes::<16>(text.get_ref()) {
                Some(code) if code.iter().any(|byte| *byte != 0) => Ok(code),
                _ => Err(self.invalid(
                    text.span(),
                    &dotted(&hex_key),
                    "expected 32 lowercase hex digits, not all zero",
                )),
            },
            _ => Err(self.invalid(
                table_span,
                &dotted(key),
                format!("give exactly one of `{key}` and `{hex_key}`"),
            )),
        }
    }

    fn identity(&self, raw: &Spanned<RawIdentity>) -> Result<Identity, ProfileError> {
        let identity = raw.get_ref();
        let mailbox = MailboxId::new(
            self.denomination(&identity.denomination, "identity.denomination")?,
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
                "directory.raidas",
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
                        "directory.raidas",
                        format!("`{}` is not an IPv4 address:port", text.get_ref()),
                    ))
                }
            }
        }
        let mut result = Directory::new(addrs)
            .map_err(|error| self.invalid(raidas.span(), "directory.raidas", error.to_string()))?;
        if let Some(rule) = &directory.default_beacon {
            let rule_value = match rule.get_ref() {
                toml::Value::String(text) if text == "serial_mod_25" => BeaconRule::SerialModulo,
                toml::Value::Integer(index) => BeaconRule::Fixed(self.raida_index(
                    &Spanned::new(rule.span(), *index),
                    "directory.default_beacon",
                )?),
                _ => {
                    return Err(self.invalid(
                        rule.span(),
                        "directory.default_beacon",
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
            let mailbox = MailboxId::new(
                self.denomination(&entry.denomination, "directory.beacon.denomination")?,
                entry.serial_number,
            );
            let raida_index = self.raida_index(&entry.raida, "directory.beacon.raida")?;
            if !seen.insert(mailbox) {
                return Err(self.invalid(
                    beacon.span(),
                    "directory.beacon.serial_number",
                    format!("a second beacon for mailbox {mailbox}"),
                ));
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
                    return Err(self.invalid_config(
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
                    self.invalid_config(value.span(), "data_stripe_count", "expected 1..=24")
                })?;
        }
        config.parity = self.parity(raw)?;
        if let Some(value) = &raw.send_policy {
            // The names are SendPolicy's own (`knobs::choice!` in config.rs).
            if !config.send_policy.choose(value.get_ref()) {
                let names: Vec<String> = SendPolicy::default()
                    .names()
                    .iter()
                    .map(|name| format!("{name:?}"))
                    .collect();
                return Err(self.invalid_config(
                    value.span(),
                    "send_policy",
                    format!("expected {}", names.join(" or ")),
                ));
            }
        }
        if let Some(value) = &raw.storage_duration {
            config.storage_duration = storage_duration(value.get_ref()).ok_or_else(|| {
                self.invalid_config(
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
        config
            .validate()
            .map_err(|error| match config_key_span(raw, error.setting) {
                Some((key, span)) => self.invalid_config(span, key, error.reason),
                None => ProfileError::Invalid(self.source.error(None, "config", error.to_string())),
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
                    return Err(self.invalid_config(
                        value.span(),
                        "parity_algo",
                        "expected \"xor\" or \"reed_solomon\"",
                    ))
                }
            },
        };
        match (&raw.parity_count, reed_solomon) {
            (None, false) => Ok(Parity::Xor),
            (Some(value), false) => Err(self.invalid_config(
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
                    .ok_or_else(|| {
                        self.invalid_config(value.span(), "parity_count", "expected 1..=24")
                    })?;
                Ok(Parity::ReedSolomon { parity_count })
            }
        }
    }
}

impl Checker<'_> {
    /// `[config] extensions`: every name known ([`extension::by_name`]), none twice, and the
    /// claims of the set compatible.
    fn extensions(&self, raw: &RawConfig) -> Result<ClientExtensions, ProfileError> {
        let Some(names) = &raw.extensions else {
            return Ok(ClientExtensions::none());
        };
        let mut list: Vec<Arc<dyn ClientExtension>> = Vec::with_capacity(names.get_ref().len());
        let mut seen = BTreeSet::new();
        for name in names.get_ref() {
            let Some(extension) = extension::by_name(name.get_ref()) else {
                return Err(self.invalid_config(
                    name.span(),
                    "extensions",
                    format!(
                        "unknown extension \"{}\"; known: {}",
                        name.get_ref(),
                        extension::names().join(", ")
                    ),
                ));
            };
            if !seen.insert(name.get_ref().as_str()) {
                return Err(self.invalid_config(
                    name.span(),
                    "extensions",
                    format!("extension \"{}\" is listed twice", name.get_ref()),
                ));
            }
            list.push(extension);
        }
        ClientExtensions::new(list)
            .map_err(|error| self.invalid_config(names.span(), "extensions", error.to_string()))
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
fn config_key_span(raw: &RawConfig, setting: &str) -> Option<(&'static str, Range<usize>)> {
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
    given
        .iter()
        .find(|(name, _, _)| *name == setting)
        .or(given.first())
        .map(|(_, key, span)| (*key, span.clone()))
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
        let source = knobs::Source::new(source_name, text);
        let raw: RawProfile = toml::from_str(text).map_err(|error| source.syntax_error(&error))?;
        let checker = Checker { source };
        let raw_config = raw.config.unwrap_or_default();
        Ok(Profile {
            identity: checker.identity(&raw.identity)?,
            directory: checker.directory(&raw.directory)?,
            config: checker.config(&raw_config)?,
            extensions: checker.extensions(&raw_config)?,
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

    #[test]
    fn extensions_are_turned_on_by_name() {
        let none = Profile::parse(&profile_text("", "", ""), "d.toml").expect("valid");
        assert!(none.extensions.is_empty());
        let text = profile_text(
            "",
            "",
            "[config]\nextensions = [\"attachment_count\", \"delivery_ack\"]",
        );
        let both = Profile::parse(&text, "x.toml").expect("valid");
        assert_eq!(
            both.extensions.names(),
            ["attachment_count", "delivery_ack"]
        );
        let text = profile_text(
            "",
            "",
            "[config]\nextensions = [\n  \"delivery_ack\",\n  \"telepathy\",\n]",
        );
        assert_eq!(
            error_of(&text).to_string(),
            "bad.toml:14:3: key `config.extensions`: unknown extension \"telepathy\"; known: \
             delivery_ack, attachment_count"
        );
        let text = profile_text(
            "",
            "",
            "[config]\nextensions = [\"delivery_ack\", \"delivery_ack\"]",
        );
        assert_eq!(
            error_of(&text).to_string(),
            "bad.toml:12:31: key `config.extensions`: extension \"delivery_ack\" is listed twice"
        );
        let text = profile_text("", "", "[config]\nextensions = \"delivery_ack\"");
        assert_names(&error_of(&text), 12, "config.extensions");
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
        assert_names(&error, 7, "identity.colour");
        // Bad AN on line 4.
        let text = profile_text("", "", "").replace("0e0f", "0e0g");
        assert_names(&error_of(&text), 4, "identity.an");
        // Denomination out of range on line 2.
        let text = profile_text("", "", "").replace("denomination = 1", "denomination = 9");
        assert_names(&error_of(&text), 2, "identity.denomination");
        // A RAIDA address that is not IPv4 (line 9).
        let text = profile_text("", "", "").replace("127.0.0.1:18003", "[::1]:5");
        assert_names(&error_of(&text), 9, "directory.raidas");
        // Beacon out of range on line 11.
        let text = profile_text("", "default_beacon = 25", "");
        assert_names(&error_of(&text), 10, "directory.default_beacon");
        // A config value out of its limits (line 12).
        let text = profile_text("", "", "[config]\nconcurrency_max = 0");
        assert_names(&error_of(&text), 12, "config.concurrency_max");
        let text = profile_text("", "", "[config]\nping_read_timeout_s = 5");
        assert_names(&error_of(&text), 12, "config.ping_read_timeout_s");
        let text = profile_text("", "", "[config]\nsend_policy = \"yolo\"");
        assert_names(&error_of(&text), 12, "config.send_policy");
        let text = profile_text("", "", "[config]\nparity_algo = \"raid6\"");
        assert_names(&error_of(&text), 12, "config.parity_algo");
        // parity_count only with Reed-Solomon; N + k beyond the 25 RAIDAs is refused.
        let text = profile_text("", "", "[config]\nparity_count = 2");
        assert_names(&error_of(&text), 12, "config.parity_count");
        let text = profile_text(
            "",
            "",
            "[config]\ndata_stripe_count = 20\nparity_algo = \"reed_solomon\"\nparity_count = 6",
        );
        assert_names(&error_of(&text), 14, "config.parity_count");
        let text = profile_text(
            "",
            "",
            "[config]\ndata_stripe_count = 24\nparity_algo = \"reed_solomon\"",
        );
        assert_names(&error_of(&text), 13, "config.parity_algo");
        // Both locker forms given.
        let text = profile_text(
            "upload_locker_hex = \"00ff00ff00ff00ff00ff00ff00ff00ff\"",
            "",
            "",
        );
        assert!(error_of(&text).to_string().contains("upload_locker"));
        // A missing key is named with its table.
        let text = "[identity]\ndenomination = 1\n";
        let error = error_of(text);
        assert!(matches!(error, ProfileError::Invalid(_)), "{error}");
        assert_eq!(
            error.to_string(),
            "bad.toml:1:1: key `identity.serial_number`: missing field `serial_number`"
        );
    }
}
