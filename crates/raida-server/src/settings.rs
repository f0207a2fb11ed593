//! Server settings: every behaviour the protocol pages leave open, as a named knob.
//!
//! The names and defaults are the ones `shared/spec/DECISIONS.md` gives, so the simulator can
//! try both sides of every choice and a config file reads like that document. A config file
//! is TOML with exactly these snake_case keys; an unknown key is an error, never ignored.
//!
//! ```toml
//! delete_on_read = "after_reply"
//! ping_timeout_s = 60
//! inbox_dir_fsync = true
//! [rate_limit]
//! requests_max = 100
//! window_s = 10
//! ```
//!
//! Two knobs are this crate's own, not DECISIONS.md's: `stripe_dir_fsync` (whether an upload
//! syncs the stripe directory after its rename; default on, so an acknowledged stripe survives
//! power loss) and the storage roots `mailbox_root` / `stripe_root` (relative to the server's
//! data directory). The TCP front's bounds (`max_connections`, `max_parked_pings`,
//! `read_timeout_s`, `idle_timeout_s`) are this crate's too: the pages describe none.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::limits;

/// When peek/ping remove the tells they return (DECISIONS.md `delete_on_read`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOnRead {
    /// Remove once read into the reply, before it is sent: a reply lost on the wire loses them.
    #[default]
    BeforeReply,
    /// Remove after the reply is written: a crash in between delivers them twice.
    AfterReply,
}

/// Where the AES-CTR counter of a response starts (DECISIONS.md `response_counter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCounterSetting {
    /// The counter starts again at block 0.
    #[default]
    Restart,
    /// The counter continues after the request's last block.
    Continue,
}

/// A per-coin request rate limit: at most `requests_max` requests per `window_s` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests_max: u32,
    /// Window length in seconds.
    pub window_s: u64,
}

/// All server settings. Field names are the config-file keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// When peek/ping delete the tells they return.
    pub delete_on_read: DeleteOnRead,
    /// How long a parked ping waits for a tell before the timeout reply.
    pub ping_timeout_s: u64,
    /// Status byte of the ping timeout reply (17 in current raidax; clients accept 17 and 245).
    pub ping_timeout_status: u8,
    /// Accepted difference between a tell's timestamps and the server clock, in seconds.
    pub tell_skew_s: u64,
    /// Most tells one peek/ping reply lists (the count is one byte).
    pub max_tells_per_reply: usize,
    /// Most bytes of tell-list payload (array header + records) in one reply.
    pub max_reply_bytes: usize,
    /// Amount an upload spends from its locker.
    pub upload_fee: u64,
    /// Inbox fee of a mailbox that has no fee record (0: the tell page's permissive rule).
    pub inbox_fee_default: u64,
    /// Where the response's AES-CTR counter starts.
    pub response_counter: ResponseCounterSetting,
    /// Whether a tell publish syncs the inbox directory after its rename (the tell page
    /// describes none, so off by default: a power loss can drop an acknowledged tell).
    pub inbox_dir_fsync: bool,
    /// Whether an upload syncs the stripe directory after its rename (this crate's choice).
    pub stripe_dir_fsync: bool,
    /// Optional per-coin rate limit; over-limit requests are dropped without a reply.
    pub rate_limit: Option<RateLimit>,
    /// Most open client connections.
    pub max_connections: usize,
    /// Most pings parked at once.
    pub max_parked_pings: usize,
    /// How long the server waits for the rest of a request, in seconds.
    pub read_timeout_s: u64,
    /// How long an open connection may sit between requests (no byte of a next request)
    /// before the front closes it, in seconds. A parked ping is not idle: it waits up to
    /// `ping_timeout_s`.
    pub idle_timeout_s: u64,
    /// Directory of the mailboxes, relative to the server's data directory.
    pub mailbox_root: PathBuf,
    /// Directory of the stored stripes, relative to the server's data directory.
    pub stripe_root: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delete_on_read: DeleteOnRead::BeforeReply,
            ping_timeout_s: 900,
            ping_timeout_status: 17,
            tell_skew_s: 60,
            max_tells_per_reply: 255,
            max_reply_bytes: 1 << 20,
            upload_fee: 1,
            inbox_fee_default: 0,
            response_counter: ResponseCounterSetting::Restart,
            inbox_dir_fsync: false,
            stripe_dir_fsync: true,
            rate_limit: None,
            max_connections: 1024,
            max_parked_pings: 4096,
            read_timeout_s: 30,
            idle_timeout_s: 60,
            mailbox_root: PathBuf::from("mailboxes"),
            stripe_root: PathBuf::from("stripes"),
        }
    }
}

/// Why a settings file or value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The TOML did not parse or named an unknown key / a value of the wrong type.
    Parse {
        /// Name of the file (or other source) the text came from.
        source_name: String,
        /// 1-based line of the offending text, when the parser knows it.
        line: Option<usize>,
        /// The key on that line, when there is one.
        key: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A value parsed but is out of range.
    Invalid {
        /// The config key holding the bad value.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Parse {
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
            SettingsError::Invalid { key, reason } => write!(f, "setting `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for SettingsError {}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn check_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
    if value < min || value > max {
        return Err(invalid(key, format!("{value} is outside {min}..={max}")));
    }
    Ok(())
}

fn check_relative_dir(key: &'static str, path: &Path) -> Result<(), SettingsError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    let all_normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !all_normal {
        return Err(invalid(
            key,
            format!(
                "`{}` must be a relative path without `.`/`..` components",
                path.display()
            ),
        ));
    }
    Ok(())
}

impl Settings {
    /// Parses a TOML settings file (missing keys take their defaults) and validates it.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Settings, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|error| {
            let location = crate::provision::toml_error_location(text, &error);
            SettingsError::Parse {
                source_name: source_name.to_string(),
                line: location.line,
                key: location.key,
                message: error.message().to_string(),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Renders these settings as a TOML file that [`Settings::from_toml`] reads back.
    pub fn to_toml(&self) -> String {
        match toml::to_string(self) {
            Ok(text) => text,
            // Every field is a plain scalar, table or path of UTF-8 text; failing here is a bug.
            Err(error) => panic!("settings always serialize: {error}"),
        }
    }

    /// Checks every value against its accepted range; the error names the offending key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_range(
            "ping_timeout_s",
            self.ping_timeout_s,
            1,
            limits::PING_TIMEOUT_S_MAX,
        )?;
        if self.ping_timeout_status == 250 {
            return Err(invalid(
                "ping_timeout_status",
                "250 is STATUS_SUCCESS, not a timeout",
            ));
        }
        check_range("tell_skew_s", self.tell_skew_s, 0, limits::TELL_SKEW_S_MAX)?;
        check_range(
            "max_tells_per_reply",
            self.max_tells_per_reply as u64,
            1,
            limits::TELLS_PER_REPLY_MAX as u64,
        )?;
        check_range(
            "max_reply_bytes",
            self.max_reply_bytes as u64,
            limits::REPLY_PAYLOAD_SIZE_BYTES_MIN as u64,
            limits::REPLY_PAYLOAD_SIZE_BYTES_MAX as u64,
        )?;
        if let Some(rate_limit) = &self.rate_limit {
            if rate_limit.requests_max == 0 {
                return Err(invalid("rate_limit.requests_max", "must be at least 1"));
            }
            check_range("rate_limit.window_s", rate_limit.window_s, 1, 86_400)?;
        }
        check_range(
            "max_connections",
            self.max_connections as u64,
            1,
            limits::CONNECTIONS_MAX as u64,
        )?;
        check_range(
            "max_parked_pings",
            self.max_parked_pings as u64,
            1,
            limits::CONNECTIONS_MAX as u64,
        )?;
        check_range(
            "read_timeout_s",
            self.read_timeout_s,
            1,
            limits::READ_TIMEOUT_S_MAX,
        )?;
        check_range(
            "idle_timeout_s",
            self.idle_timeout_s,
            1,
            limits::READ_TIMEOUT_S_MAX,
        )?;
        check_relative_dir("mailbox_root", &self.mailbox_root)?;
        check_relative_dir("stripe_root", &self.stripe_root)?;
        if self.mailbox_root == self.stripe_root {
            return Err(invalid("stripe_root", "must differ from mailbox_root"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let settings = Settings::default();
        assert_eq!(settings.delete_on_read, DeleteOnRead::BeforeReply);
        assert_eq!(settings.ping_timeout_s, 900);
        assert_eq!(settings.ping_timeout_status, 17);
        assert_eq!(settings.tell_skew_s, 60);
        assert_eq!(settings.max_tells_per_reply, 255);
        assert_eq!(settings.max_reply_bytes, 1_048_576);
        assert_eq!(settings.upload_fee, 1);
        assert_eq!(settings.inbox_fee_default, 0);
        assert_eq!(settings.response_counter, ResponseCounterSetting::Restart);
        assert!(!settings.inbox_dir_fsync);
        assert_eq!(settings.rate_limit, None);
        assert_eq!(settings.mailbox_root, PathBuf::from("mailboxes"));
        settings.validate().expect("defaults are valid");
    }

    #[test]
    fn empty_file_gives_defaults() {
        let settings = Settings::from_toml("", "empty.toml").expect("parses");
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn keys_use_decisions_names() {
        let text = "delete_on_read = \"after_reply\"\nresponse_counter = \"continue\"\n\
                    inbox_dir_fsync = true\n[rate_limit]\nrequests_max = 5\nwindow_s = 2\n";
        let settings = Settings::from_toml(text, "s.toml").expect("parses");
        assert_eq!(settings.delete_on_read, DeleteOnRead::AfterReply);
        assert_eq!(settings.response_counter, ResponseCounterSetting::Continue);
        assert!(settings.inbox_dir_fsync);
        assert_eq!(
            settings.rate_limit,
            Some(RateLimit {
                requests_max: 5,
                window_s: 2
            })
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let settings = Settings {
            delete_on_read: DeleteOnRead::AfterReply,
            rate_limit: Some(RateLimit {
                requests_max: 3,
                window_s: 9,
            }),
            ..Settings::default()
        };
        let back = Settings::from_toml(&settings.to_toml(), "rt.toml").expect("parses");
        assert_eq!(back, settings);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = "ping_timeout_s = 10\nping_timeout = 5\n";
        let error = Settings::from_toml(text, "bad.toml").expect_err("unknown key");
        match &error {
            SettingsError::Parse { line, key, .. } => {
                assert_eq!(*line, Some(2));
                assert_eq!(key.as_deref(), Some("ping_timeout"));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(error.to_string().starts_with("bad.toml:2"), "{error}");
    }

    #[test]
    fn wrong_type_is_named_with_its_line() {
        let text = "\n\ntell_skew_s = \"sixty\"\n";
        let error = Settings::from_toml(text, "bad.toml").expect_err("wrong type");
        match error {
            SettingsError::Parse { line, key, .. } => {
                assert_eq!(line, Some(3));
                assert_eq!(key.as_deref(), Some("tell_skew_s"));
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn validate_names_the_bad_key() {
        let cases: Vec<(Settings, &str)> = vec![
            (
                Settings {
                    ping_timeout_s: 0,
                    ..Settings::default()
                },
                "ping_timeout_s",
            ),
            (
                Settings {
                    ping_timeout_status: 250,
                    ..Settings::default()
                },
                "ping_timeout_status",
            ),
            (
                Settings {
                    max_tells_per_reply: 256,
                    ..Settings::default()
                },
                "max_tells_per_reply",
            ),
            (
                Settings {
                    max_reply_bytes: 100,
                    ..Settings::default()
                },
                "max_reply_bytes",
            ),
            (
                Settings {
                    rate_limit: Some(RateLimit {
                        requests_max: 0,
                        window_s: 1,
                    }),
                    ..Settings::default()
                },
                "rate_limit.requests_max",
            ),
            (
                Settings {
                    mailbox_root: PathBuf::from("../escape"),
                    ..Settings::default()
                },
                "mailbox_root",
            ),
            (
                Settings {
                    stripe_root: PathBuf::from("/abs"),
                    ..Settings::default()
                },
                "stripe_root",
            ),
            (
                Settings {
                    read_timeout_s: 0,
                    ..Settings::default()
                },
                "read_timeout_s",
            ),
            (
                Settings {
                    idle_timeout_s: 0,
                    ..Settings::default()
                },
                "idle_timeout_s",
            ),
        ];
        for (settings, expected_key) in cases {
            match settings.validate() {
                Err(SettingsError::Invalid { key, .. }) => assert_eq!(key, expected_key),
                other => panic!("{expected_key}: unexpected {other:?}"),
            }
        }
    }
}
