//! `[server]`: overrides of the RAIDA servers' settings (DECISIONS.md); an unset key keeps
//! the server's default.

use knobs::Table;

use crate::limits::{
    MAX_REPLY_BYTES_MAX, MAX_REPLY_BYTES_MIN, MAX_TELLS_PER_REPLY_MAX, PING_TIMEOUT_STATUSES,
    PING_TIMEOUT_S_MAX, TELL_SKEW_S_DEFAULT, TELL_SKEW_S_MAX,
};

/// Server setting `delete_on_read` (DECISIONS.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeleteOnRead {
    /// Remove files once read into the reply, before sending it (server default).
    BeforeReply,
    /// Remove them after the reply is written.
    AfterReply,
}

/// Server setting `response_counter` (DECISIONS.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResponseCounter {
    /// The AES-CTR counter restarts at block 0 for the response (server default).
    Restart,
    /// It continues after the request's last block.
    Continue,
}

/// `[server]`: overrides of the server's Settings; `None` keeps the server default.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ServerSettings {
    /// `delete_on_read` (server default before_reply).
    pub delete_on_read: Option<DeleteOnRead>,
    /// `ping_timeout_s` (default 900).
    pub ping_timeout_s: Option<u32>,
    /// `ping_timeout_status` (default 17; 17 or 245).
    pub ping_timeout_status: Option<u8>,
    /// `tell_skew_s` (default 60).
    pub tell_skew_s: Option<u32>,
    /// `max_tells_per_reply` (default 255).
    pub max_tells_per_reply: Option<u16>,
    /// `max_reply_bytes` (default 1 MiB).
    pub max_reply_bytes: Option<u32>,
    /// `upload_fee` (default 1).
    pub upload_fee: Option<u64>,
    /// Per-mailbox `inbox_fee` (default 0).
    pub inbox_fee: Option<u64>,
    /// Whether publishing a tell fsyncs the inbox directory after the rename.
    pub inbox_dir_fsync: Option<bool>,
    /// `response_counter` (default restart).
    pub response_counter: Option<ResponseCounter>,
}

/// The keys `[server]` takes.
const KEYS: &[&str] = &[
    "delete_on_read",
    "ping_timeout_s",
    "ping_timeout_status",
    "tell_skew_s",
    "max_tells_per_reply",
    "max_reply_bytes",
    "upload_fee",
    "inbox_fee",
    "inbox_dir_fsync",
    "response_counter",
];

fn narrow<T: TryFrom<i64>>(value: Option<i64>) -> Option<T> {
    value.and_then(|value| T::try_from(value).ok())
}

impl ServerSettings {
    /// The timestamp window the server will use.
    pub fn tell_skew_s_or_default(&self) -> u32 {
        self.tell_skew_s.unwrap_or(TELL_SKEW_S_DEFAULT)
    }

    /// Reads `[server]`.
    pub(super) fn read(mut table: Table<'_>) -> Result<ServerSettings, knobs::ConfigError> {
        let delete_on_read = match table.string("delete_on_read")?.as_deref() {
            None => None,
            Some("before_reply") => Some(DeleteOnRead::BeforeReply),
            Some("after_reply") => Some(DeleteOnRead::AfterReply),
            Some(other) => {
                let message = format!("{other:?} is not one of \"before_reply\", \"after_reply\"");
                return Err(table.error("delete_on_read", message));
            }
        };
        let response_counter = match table.string("response_counter")?.as_deref() {
            None => None,
            Some("restart") => Some(ResponseCounter::Restart),
            Some("continue") => Some(ResponseCounter::Continue),
            Some(other) => {
                let message = format!("{other:?} is not one of \"restart\", \"continue\"");
                return Err(table.error("response_counter", message));
            }
        };
        let ping_timeout_status = table.int("ping_timeout_status", 0, 255)?;
        if let Some(status) = ping_timeout_status {
            if !PING_TIMEOUT_STATUSES
                .iter()
                .any(|s| i64::from(*s) == status)
            {
                let message = format!("{status} is not one of {PING_TIMEOUT_STATUSES:?}");
                return Err(table.error("ping_timeout_status", message));
            }
        }
        let settings = ServerSettings {
            delete_on_read,
            ping_timeout_s: narrow(table.int(
                "ping_timeout_s",
                1,
                i64::from(PING_TIMEOUT_S_MAX),
            )?),
            ping_timeout_status: narrow(ping_timeout_status),
            tell_skew_s: narrow(table.int("tell_skew_s", 0, i64::from(TELL_SKEW_S_MAX))?),
            max_tells_per_reply: narrow(table.int(
                "max_tells_per_reply",
                1,
                i64::from(MAX_TELLS_PER_REPLY_MAX),
            )?),
            max_reply_bytes: narrow(table.int(
                "max_reply_bytes",
                i64::from(MAX_REPLY_BYTES_MIN),
                i64::from(MAX_REPLY_BYTES_MAX),
            )?),
            upload_fee: narrow(table.int("upload_fee", 0, i64::MAX)?),
            inbox_fee: narrow(table.int("inbox_fee", 0, i64::MAX)?),
            inbox_dir_fsync: table.bool("inbox_dir_fsync")?,
            response_counter,
        };
        table.finish(KEYS)?;
        Ok(settings)
    }

    /// Every key as `(server.key, value or "default")`.
    pub fn parameters(&self) -> Vec<(String, String)> {
        fn or_default<T: ToString>(value: Option<T>) -> String {
            value.map_or_else(|| "default".to_string(), |v| v.to_string())
        }
        let quoted = |name: &str| format!("{name:?}");
        let delete_on_read = self.delete_on_read.map(|v| match v {
            DeleteOnRead::BeforeReply => quoted("before_reply"),
            DeleteOnRead::AfterReply => quoted("after_reply"),
        });
        let response_counter = self.response_counter.map(|v| match v {
            ResponseCounter::Restart => quoted("restart"),
            ResponseCounter::Continue => quoted("continue"),
        });
        [
            ("delete_on_read", or_default(delete_on_read)),
            ("ping_timeout_s", or_default(self.ping_timeout_s)),
            ("ping_timeout_status", or_default(self.ping_timeout_status)),
            ("tell_skew_s", self.tell_skew_s_or_default().to_string()),
            ("max_tells_per_reply", or_default(self.max_tells_per_reply)),
            ("max_reply_bytes", or_default(self.max_reply_bytes)),
            ("upload_fee", or_default(self.upload_fee)),
            ("inbox_fee", or_default(self.inbox_fee)),
            ("inbox_dir_fsync", or_default(self.inbox_dir_fsync)),
            ("response_counter", or_default(response_counter)),
        ]
        .into_iter()
        .map(|(key, value)| (format!("server.{key}"), value))
        .collect()
    }
}
