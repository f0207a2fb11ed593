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
//! Each setting is written once, in [`Settings`]'s [`Knobs::visit`]: its key and the values
//! it accepts. That list reads the config file (through `knobs`, so every error names the
//! file, line, column and key), writes it back ([`Settings::to_toml`]), checks values set in
//! code ([`Settings::validate`]), and makes the daemon's flags ([`SettingsOverrides`], one
//! `--kebab-case` flag per key, applied after the file). The `[rate_limit]` table is a
//! [`RateLimit`] with its own two knobs; absent, there is no rate limit.
//!
//! Two knobs are this crate's own, not DECISIONS.md's: `stripe_dir_fsync` (whether an upload
//! syncs the stripe directory after its rename; default on, so an acknowledged stripe survives
//! power loss) and the storage roots `mailbox_root` / `stripe_root` (relative to the server's
//! data directory, and different from each other). The TCP front's bounds (`max_connections`,
//! `max_parked_pings`, `read_timeout_s`, `idle_timeout_s`) are this crate's too: the pages
//! describe none.

mod overrides;

use std::fmt;
use std::path::{Component, Path};

use knobs::{ConfigError, Knob, Knobs, Source, Table, Value, Visitor};

use crate::limits;

pub use overrides::{flag_of, OverrideError, SettingsOverrides, RATE_LIMIT_OFF};

/// When peek/ping remove the tells they return (DECISIONS.md `delete_on_read`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeleteOnRead {
    /// Remove once read into the reply, before it is sent: a reply lost on the wire loses them.
    #[default]
    BeforeReply,
    /// Remove after the reply is written: a crash in between delivers them twice.
    AfterReply,
}

knobs::choice!(DeleteOnRead {
    DeleteOnRead::BeforeReply => "before_reply",
    DeleteOnRead::AfterReply => "after_reply",
});

/// Where the AES-CTR counter of a response starts (DECISIONS.md `response_counter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseCounterSetting {
    /// The counter starts again at block 0.
    #[default]
    Restart,
    /// The counter continues after the request's last block.
    Continue,
}

knobs::choice!(ResponseCounterSetting {
    ResponseCounterSetting::Restart => "restart",
    ResponseCounterSetting::Continue => "continue",
});

/// A per-coin request rate limit: at most `requests_max` requests per `window_s` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests_max: u32,
    /// Window length in seconds.
    pub window_s: u64,
}

impl Knobs for RateLimit {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let requests_max = i64::from(limits::RATE_LIMIT_REQUESTS_MAX);
        let window_s_max = limits::RATE_LIMIT_WINDOW_S_MAX as i64;
        v.knob(Knob::int(
            "requests_max",
            &mut self.requests_max,
            1..=requests_max,
        ));
        v.knob(Knob::int("window_s", &mut self.window_s, 1..=window_s_max));
    }
}

/// The key of the rate-limit table.
pub const RATE_LIMIT_KEY: &str = "rate_limit";

impl RateLimit {
    /// A placeholder every knob refuses (0 is below both ranges), to be filled key by key.
    fn unset() -> RateLimit {
        RateLimit {
            requests_max: 0,
            window_s: 0,
        }
    }

    /// The `[rate_limit]` table: absent is no limit; present, both keys are required.
    fn read(mut table: Table<'_>) -> Result<Option<RateLimit>, ConfigError> {
        if !table.is_present() {
            return Ok(None);
        }
        let mut limit = RateLimit::unset();
        for (name, _) in knobs::print(&mut limit) {
            if !table.contains(&name) {
                return Err(table.error(&name, format!("missing key `{name}`")));
            }
        }
        let names = knobs::read(&mut table, &mut limit)?;
        table.finish(&names)?;
        Ok(Some(limit))
    }
}

/// All server settings. Field names are the config-file keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// When peek/ping delete the tells they return.
    pub delete_on_read: DeleteOnRead,
    /// How long a parked ping waits for a tell before the timeout reply.
    pub ping_timeout_s: u64,
    /// Status byte of the ping timeout reply: 17 (current raidax) or 245
    /// ([`limits::PING_TIMEOUT_STATUSES`]; clients accept both, nothing else).
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
    pub mailbox_root: String,
    /// Directory of the stored stripes, relative to the server's data directory.
    pub stripe_root: String,
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
            mailbox_root: "mailboxes".to_string(),
            stripe_root: "stripes".to_string(),
        }
    }
}

/// A relative path without `.`/`..` components (a storage root below the data directory).
fn relative_dir(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("must not be empty".to_string());
    }
    let all_normal = Path::new(text)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !all_normal {
        return Err(format!(
            "`{text}` must be a relative path without `.`/`..` components"
        ));
    }
    Ok(())
}

impl Knobs for Settings {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let ping_timeout_s_max = limits::PING_TIMEOUT_S_MAX as i64;
        let tell_skew_s_max = limits::TELL_SKEW_S_MAX as i64;
        let tells_max = limits::TELLS_PER_REPLY_MAX as i64;
        let reply_bytes_min = limits::REPLY_PAYLOAD_SIZE_BYTES_MIN as i64;
        let reply_bytes_max = limits::REPLY_PAYLOAD_SIZE_BYTES_MAX as i64;
        let fee_max = limits::FEE_MAX as i64;
        let connections_max = limits::CONNECTIONS_MAX as i64;
        let read_timeout_s_max = limits::READ_TIMEOUT_S_MAX as i64;
        v.knob(Knob::choice("delete_on_read", &mut self.delete_on_read));
        v.knob(Knob::int(
            "ping_timeout_s",
            &mut self.ping_timeout_s,
            1..=ping_timeout_s_max,
        ));
        v.knob(Knob::int_of(
            "ping_timeout_status",
            &mut self.ping_timeout_status,
            &limits::PING_TIMEOUT_STATUSES,
        ));
        v.knob(Knob::int(
            "tell_skew_s",
            &mut self.tell_skew_s,
            0..=tell_skew_s_max,
        ));
        v.knob(Knob::int(
            "max_tells_per_reply",
            &mut self.max_tells_per_reply,
            1..=tells_max,
        ));
        v.knob(Knob::int(
            "max_reply_bytes",
            &mut self.max_reply_bytes,
            reply_bytes_min..=reply_bytes_max,
        ));
        v.knob(Knob::int("upload_fee", &mut self.upload_fee, 0..=fee_max));
        v.knob(Knob::int(
            "inbox_fee_default",
            &mut self.inbox_fee_default,
            0..=fee_max,
        ));
        v.knob(Knob::choice("response_counter", &mut self.response_counter));
        v.knob(Knob::bool("inbox_dir_fsync", &mut self.inbox_dir_fsync));
        v.knob(Knob::bool("stripe_dir_fsync", &mut self.stripe_dir_fsync));
        v.knob(Knob::int(
            "max_connections",
            &mut self.max_connections,
            1..=connections_max,
        ));
        v.knob(Knob::int(
            "max_parked_pings",
            &mut self.max_parked_pings,
            1..=connections_max,
        ));
        v.knob(Knob::int(
            "read_timeout_s",
            &mut self.read_timeout_s,
            1..=read_timeout_s_max,
        ));
        v.knob(Knob::int(
            "idle_timeout_s",
            &mut self.idle_timeout_s,
            1..=read_timeout_s_max,
        ));
        v.knob(Knob::text(
            "mailbox_root",
            &mut self.mailbox_root,
            relative_dir,
        ));
        v.knob(Knob::text(
            "stripe_root",
            &mut self.stripe_root,
            relative_dir,
        ));
    }
}

/// Why settings were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The config file: bad TOML, an unknown key, a value of the wrong type or out of range,
    /// or two values that conflict; it names the file, line, column and key.
    Config(ConfigError),
    /// A value set in code (or by a flag) is refused.
    Invalid {
        /// The key (`rate_limit.window_s` inside the rate-limit table).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Config(error) => write!(f, "{error}"),
            SettingsError::Invalid { key, reason } => write!(f, "setting `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Parses a TOML settings file (missing keys take their defaults) and validates it;
    /// `source_name` (usually the path) is named in every error.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Settings, SettingsError> {
        Settings::read(&Source::new(source_name, text)).map_err(SettingsError::Config)
    }

    fn read(source: &Source<'_>) -> Result<Settings, ConfigError> {
        Settings::from_table(source.parse()?)
    }

    /// Reads settings from one TOML table — a config file's root, or the simulator's
    /// `[server]` table of a scenario — and finishes it: absent keys keep their defaults,
    /// `rate_limit` is a sub-table, unknown keys and cross-setting conflicts are errors.
    pub fn from_table(mut table: Table<'_>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        let mut names = knobs::read(&mut table, &mut settings)?;
        settings.rate_limit = RateLimit::read(table.table(RATE_LIMIT_KEY)?)?;
        names.push(RATE_LIMIT_KEY);
        if let Err((key, reason)) = settings.cross_check() {
            return Err(table.error(key, reason));
        }
        table.finish(&names)?;
        Ok(settings)
    }

    /// The checks between settings, which no single knob can make: the key to blame and why.
    fn cross_check(&self) -> Result<(), (&'static str, String)> {
        if self.mailbox_root == self.stripe_root {
            let key = if self.stripe_root == Settings::default().stripe_root {
                "mailbox_root"
            } else {
                "stripe_root"
            };
            let other = if key == "stripe_root" {
                "mailbox_root"
            } else {
                "stripe_root"
            };
            return Err((key, format!("must differ from {other}")));
        }
        Ok(())
    }

    /// Renders these settings as a TOML file that [`Settings::from_toml`] reads back: every
    /// knob in visit order, then the `[rate_limit]` table when there is one.
    pub fn to_toml(&self) -> String {
        let mut text = toml_lines(&mut self.clone());
        if let Some(mut limit) = self.rate_limit {
            text.push_str(&format!("\n[{RATE_LIMIT_KEY}]\n"));
            text.push_str(&toml_lines(&mut limit));
        }
        text
    }

    /// Checks every value against its accepted range, and the settings against each other;
    /// the error names the offending key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key: String, reason: String| SettingsError::Invalid { key, reason };
        knobs::check(&mut self.clone())
            .map_err(|(key, reason)| invalid(key.to_string(), reason))?;
        if let Some(mut limit) = self.rate_limit {
            knobs::check(&mut limit)
                .map_err(|(key, reason)| invalid(format!("{RATE_LIMIT_KEY}.{key}"), reason))?;
        }
        self.cross_check()
            .map_err(|(key, reason)| invalid(key.to_string(), reason))
    }
}

/// `key = value` lines of every knob, values written as TOML.
fn toml_lines(knobs: &mut dyn Knobs) -> String {
    struct Writer(String);
    impl Visitor for Writer {
        fn knob(&mut self, knob: Knob<'_>) {
            let value = match &knob.value {
                Value::Choice(choice) => toml::Value::from(choice.name()).to_string(),
                Value::Text { slot, .. } => toml::Value::from(slot.as_str()).to_string(),
                Value::Names { slot, .. } => toml::Value::from((**slot).clone()).to_string(),
                _ => knob.render(),
            };
            self.0.push_str(&format!("{} = {value}\n", knob.name));
        }
    }
    let mut writer = Writer(String::new());
    knobs.visit(&mut writer);
    writer.0
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
        assert_eq!(settings.mailbox_root, "mailboxes");
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
                    inbox_dir_fsync = true\nping_timeout_status = 245\n\
                    [rate_limit]\nrequests_max = 5\nwindow_s = 2\n";
        let settings = Settings::from_toml(text, "s.toml").expect("parses");
        assert_eq!(settings.delete_on_read, DeleteOnRead::AfterReply);
        assert_eq!(settings.response_counter, ResponseCounterSetting::Continue);
        assert!(settings.inbox_dir_fsync);
        assert_eq!(settings.ping_timeout_status, 245);
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
            ping_timeout_status: 245,
            stripe_root: "data/stripes \"x\"".to_string(),
            rate_limit: Some(RateLimit {
                requests_max: 3,
                window_s: 9,
            }),
            ..Settings::default()
        };
        let text = settings.to_toml();
        let back = Settings::from_toml(&text, "rt.toml").expect(&text);
        assert_eq!(back, settings);
        let plain = Settings::default().to_toml();
        assert!(!plain.contains("rate_limit"), "{plain}");
        assert!(
            plain.starts_with("delete_on_read = \"before_reply\"\n"),
            "{plain}"
        );
    }

    fn error_of(text: &str) -> String {
        Settings::from_toml(text, "bad.toml")
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn file_errors_name_file_line_column_and_key() {
        let cases = [
            (
                "ping_timeout_s = 10\nping_timeout = 5\n",
                "bad.toml:2:1: key `ping_timeout`: unknown key `ping_timeout`; known keys: \
                 delete_on_read, ping_timeout_s, ping_timeout_status, tell_skew_s, \
                 max_tells_per_reply, max_reply_bytes, upload_fee, inbox_fee_default, \
                 response_counter, inbox_dir_fsync, stripe_dir_fsync, max_connections, \
                 max_parked_pings, read_timeout_s, idle_timeout_s, mailbox_root, stripe_root, \
                 rate_limit",
            ),
            (
                "\n\ntell_skew_s = \"sixty\"\n",
                "bad.toml:3:15: key `tell_skew_s`: expected an integer, found a string",
            ),
            (
                "ping_timeout_status = 99\n",
                "bad.toml:1:23: key `ping_timeout_status`: 99 is not one of 17, 245",
            ),
            (
                "ping_timeout_status = 250\n",
                "bad.toml:1:23: key `ping_timeout_status`: 250 is not one of 17, 245",
            ),
            (
                "ping_timeout_s = 0\n",
                "bad.toml:1:18: key `ping_timeout_s`: 0 is out of range 1..=86400",
            ),
            (
                "tell_skew_s = 86401\n",
                "bad.toml:1:15: key `tell_skew_s`: 86401 is out of range 0..=86400",
            ),
            (
                "max_tells_per_reply = 256\n",
                "bad.toml:1:23: key `max_tells_per_reply`: 256 is out of range 1..=255",
            ),
            (
                "max_reply_bytes = 100\n",
                "bad.toml:1:19: key `max_reply_bytes`: 100 is out of range 65413..=16777213",
            ),
            (
                "upload_fee = -1\n",
                "bad.toml:1:14: key `upload_fee`: -1 is out of range 0..=9007199254740992",
            ),
            (
                "inbox_fee_default = -2\n",
                "bad.toml:1:21: key `inbox_fee_default`: -2 is out of range \
                 0..=9007199254740992",
            ),
            (
                "delete_on_read = \"sometimes\"\n",
                "bad.toml:1:18: key `delete_on_read`: \"sometimes\" is not one of \
                 \"before_reply\", \"after_reply\"",
            ),
            (
                "response_counter = \"again\"\n",
                "bad.toml:1:20: key `response_counter`: \"again\" is not one of \"restart\", \
                 \"continue\"",
            ),
            (
                "inbox_dir_fsync = 1\n",
                "bad.toml:1:19: key `inbox_dir_fsync`: expected a boolean, found an integer",
            ),
            (
                "max_connections = 0\n",
                "bad.toml:1:19: key `max_connections`: 0 is out of range 1..=1048576",
            ),
            (
                "max_parked_pings = 1048577\n",
                "bad.toml:1:20: key `max_parked_pings`: 1048577 is out of range 1..=1048576",
            ),
            (
                "read_timeout_s = 0\n",
                "bad.toml:1:18: key `read_timeout_s`: 0 is out of range 1..=3600",
            ),
            (
                "idle_timeout_s = 3601\n",
                "bad.toml:1:18: key `idle_timeout_s`: 3601 is out of range 1..=3600",
            ),
            (
                "mailbox_root = \"../escape\"\n",
                "bad.toml:1:16: key `mailbox_root`: `../escape` must be a relative path \
                 without `.`/`..` components",
            ),
            (
                "stripe_root = \"\"\n",
                "bad.toml:1:15: key `stripe_root`: must not be empty",
            ),
            (
                "mailbox_root = \"m\"\nstripe_root = \"m\"\n",
                "bad.toml:2:15: key `stripe_root`: must differ from mailbox_root",
            ),
            (
                "mailbox_root = \"stripes\"\n",
                "bad.toml:1:16: key `mailbox_root`: must differ from stripe_root",
            ),
            (
                "[rate_limit]\nrequests_max = 0\nwindow_s = 1\n",
                "bad.toml:2:16: key `rate_limit.requests_max`: 0 is out of range \
                 1..=4294967295",
            ),
            (
                "[rate_limit]\nrequests_max = 1\nwindow_s = 86401\n",
                "bad.toml:3:12: key `rate_limit.window_s`: 86401 is out of range 1..=86400",
            ),
            (
                "[rate_limit]\nrequests_max = 1\nwindow_s = 1\nburst = 2\n",
                "bad.toml:4:1: key `rate_limit.burst`: unknown key `burst`; known keys: \
                 requests_max, window_s",
            ),
            ("x = = 1\n", "bad.toml:1:5: "),
        ];
        for (text, expected) in cases {
            let error = error_of(text);
            assert!(
                error.starts_with(expected),
                "{text:?}\n got {error}\nwant {expected}"
            );
        }
        let missing = error_of("[rate_limit]\nrequests_max = 5\n");
        assert!(
            missing.starts_with("bad.toml:1:")
                && missing.ends_with("key `rate_limit.window_s`: missing key `window_s`"),
            "{missing}"
        );
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
                    ping_timeout_status: 99,
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
                    upload_fee: u64::MAX,
                    ..Settings::default()
                },
                "upload_fee",
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
                    mailbox_root: "../escape".to_string(),
                    ..Settings::default()
                },
                "mailbox_root",
            ),
            (
                Settings {
                    stripe_root: "/abs".to_string(),
                    ..Settings::default()
                },
                "stripe_root",
            ),
            (
                Settings {
                    stripe_root: "mailboxes".to_string(),
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

    #[test]
    fn the_ping_timeout_statuses_are_the_ones_clients_take_for_a_timeout() {
        for code in 0..=u8::MAX {
            let listed = limits::PING_TIMEOUT_STATUSES.contains(&i64::from(code));
            let timeout = qmail_wire::Status::from_code(code).is_some_and(|s| s.is_ping_timeout());
            assert_eq!(listed, timeout, "status {code}");
        }
    }
}
