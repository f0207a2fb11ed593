//! The event model: what the world records while a run goes on, in simulated time.
//!
//! A run's [`History`] is the only thing the checkers look at. Client-side events say what
//! a client did and saw (emails and tells sent, tells received, downloads); server-side
//! events come from the server's instrumentation (a tell handled, published, skipped or
//! deleted on read); fault events say what the world broke and when. Identifiers are small
//! `Copy` types; byte strings (tell records) are kept whole so the checkers can compare
//! them byte for byte. Everything serializes to JSON with byte arrays as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::{EDIT_SEQUENCE_OFFSET, FILE_HEADER_SIZE_BYTES, TOTAL_FILE_SIZE_OFFSET};

mod fault;
pub use fault::FaultKind;

/// Lowercase hex of a byte string.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    text
}

/// Parses hex (either case). `None` on odd length or a non-hex digit.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some((nibble(*high)? << 4) | nibble(*low)?),
            _ => None,
        })
        .collect()
}

/// The 16-byte GUID of one email (the same GUID names its stored files).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EmailId(pub [u8; 16]);

impl EmailId {
    /// The first 8 hex digits, for compact trace lines.
    pub fn short(&self) -> String {
        hex_encode(self.0.get(..4).unwrap_or(&[]))
    }
}

impl fmt::Display for EmailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for EmailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailId({self})")
    }
}

impl Serialize for EmailId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for EmailId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes =
            hex_decode(&text).ok_or_else(|| serde::de::Error::custom("email id is not hex"))?;
        let id: [u8; 16] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("email id is not 16 bytes"))?;
        Ok(EmailId(id))
    }
}

/// A byte string kept whole (a tell record), serialized as hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes(bytes)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", hex_encode(&self.0))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex_decode(&text)
            .map(Bytes)
            .ok_or_else(|| serde::de::Error::custom("bytes are not hex"))
    }
}

/// A mailbox: the coin (denomination, serial number) that owns an inbox.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct MailboxId {
    /// Signed denomination, −8..=+6.
    pub denom: i8,
    /// Serial number.
    pub sn: u32,
}

impl fmt::Display for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.denom, self.sn)
    }
}

/// A simulated host. Serialized as its turmoil host name (`raida07`, `client02`, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Host {
    /// RAIDA server by index 0..=24.
    Raida(u8),
    /// Client host by index; each runs many mailboxes and devices as tasks.
    Client(u16),
    /// The adversary host that replays and duplicates captured requests.
    Adversary,
    /// The world itself (phase changes, faults that touch no single host).
    World,
}

/// A host's name, spelled into a small buffer: every event of a trace names its host, and
/// going through `fmt` for it (`collect_str`) was 1% of a storm's CPU.
struct HostName {
    bytes: [u8; HostName::SIZE_BYTES_MAX],
    size_bytes: usize,
}

impl HostName {
    /// `"client"` and the five digits of a `u16`.
    const SIZE_BYTES_MAX: usize = 11;

    fn new(prefix: &str) -> Self {
        let mut name = HostName {
            bytes: [0; HostName::SIZE_BYTES_MAX],
            size_bytes: 0,
        };
        name.bytes[..prefix.len()].copy_from_slice(prefix.as_bytes());
        name.size_bytes = prefix.len();
        name
    }

    /// `prefix` then `index` in decimal, at least two digits (`{index:02}`).
    fn indexed(prefix: &str, index: u16) -> Self {
        let mut name = HostName::new(prefix);
        let digit_count = index.checked_ilog10().map_or(1, |log| log + 1).max(2) as usize;
        let mut rest = index;
        for digit in name.bytes[prefix.len()..prefix.len() + digit_count]
            .iter_mut()
            .rev()
        {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        name.size_bytes += digit_count;
        name
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.size_bytes]).expect("host names are ASCII")
    }
}

impl Host {
    fn name(&self) -> HostName {
        match self {
            Host::Raida(index) => HostName::indexed("raida", u16::from(*index)),
            Host::Client(index) => HostName::indexed("client", *index),
            Host::Adversary => HostName::new("adversary"),
            Host::World => HostName::new("world"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().as_str())
    }
}

impl FromStr for Host {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a host name: {text:?}");
        if let Some(index) = text.strip_prefix("raida") {
            return index.parse().map(Host::Raida).map_err(|_| bad());
        }
        if let Some(index) = text.strip_prefix("client") {
            return index.parse().map(Host::Client).map_err(|_| bad());
        }
        match text {
            "adversary" => Ok(Host::Adversary),
            "world" => Ok(Host::World),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Host {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name().as_str())
    }
}

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One file of an email as the sender wrote it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSent {
    /// 0x01 body, 0x0A.. attachments.
    pub file_type: u8,
    /// Original size before striping.
    pub size_bytes: u64,
    /// CRC-32 (IEEE) of the original bytes.
    pub crc32: u32,
}

/// How a device asked its beacon for tells.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollKind {
    /// Long poll (72).
    Ping,
    /// Immediate check (73).
    Peek,
}

impl PollKind {
    /// Stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            PollKind::Ping => "ping",
            PollKind::Peek => "peek",
        }
    }
}

/// The two phases of a run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Faults are injected; only safety invariants are judged.
    Safety,
    /// Every fault is healed; liveness is judged against the heal bound.
    Healed,
}

/// A request's command, as its header names it (the history's copy of the wire's
/// `qmail_wire::header::Command`, so traces do not depend on that crate's spelling).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireCommand {
    /// Group 0 code 0.
    Echo,
    /// 70: store one stripe.
    Upload,
    /// 71: notify a beacon.
    Tell,
    /// 72: long poll.
    Ping,
    /// 73: immediate check.
    Peek,
    /// 74: fetch one page of a stripe.
    Download,
}

impl WireCommand {
    /// Stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            WireCommand::Echo => "echo",
            WireCommand::Upload => "upload",
            WireCommand::Tell => "tell",
            WireCommand::Ping => "ping",
            WireCommand::Peek => "peek",
            WireCommand::Download => "download",
        }
    }

    /// The history form of a wire command.
    pub const fn from_wire(command: qmail_wire::header::Command) -> WireCommand {
        use qmail_wire::header::Command;
        match command {
            Command::Echo => WireCommand::Echo,
            Command::Upload => WireCommand::Upload,
            Command::Tell => WireCommand::Tell,
            Command::Ping => WireCommand::Ping,
            Command::Peek => WireCommand::Peek,
            Command::Download => WireCommand::Download,
        }
    }

    /// The command a request header's bytes 4 and 5 name, if known.
    pub fn from_header(header: &[u8]) -> Option<WireCommand> {
        let (group, code) = (*header.get(4)?, *header.get(5)?);
        qmail_wire::header::Command::from_group_code(group, code).map(WireCommand::from_wire)
    }
}

/// Where a client's request attempt stopped when no reply header came.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStop {
    /// The connection was refused or never established.
    Connect,
    /// The request was not completely written.
    Write,
    /// The request was written but no whole reply header came back.
    Read,
}

impl RequestStop {
    /// Stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            RequestStop::Connect => "connect",
            RequestStop::Write => "write",
            RequestStop::Read => "read",
        }
    }
}

/// How a server ended one request (its `RequestHandled` outcome).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerOutcome {
    /// A reply was produced (its status is in the event).
    Replied,
    /// A ping parked; its reply comes with `PingResumed` or `PingTimedOut`.
    Parked,
    /// The connection was closed without a reply (rate limit).
    Closed,
}

impl ServerOutcome {
    /// Stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            ServerOutcome::Replied => "replied",
            ServerOutcome::Parked => "parked",
            ServerOutcome::Closed => "closed",
        }
    }
}

/// One tell record named by its key (what a reply carried, without the bytes).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct TellRef {
    /// The email.
    pub email_id: EmailId,
    /// Revision (file-header byte 57).
    pub edit_sequence: u8,
}

/// What happened.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// A client began sending one revision of an email: its first upload goes out now
    /// (client side). From here on the revision's stripes may overwrite an older revision's
    /// under the same GUID, whether or not its uploads ever complete.
    UploadStarted {
        /// The email.
        email_id: EmailId,
        /// Sender mailbox.
        sender: MailboxId,
        /// Revision (file-header byte 57).
        edit_sequence: u8,
    },
    /// A client finished uploading one revision of an email (client side).
    EmailSent {
        /// The email.
        email_id: EmailId,
        /// Sender mailbox.
        sender: MailboxId,
        /// Revision (file-header byte 57).
        edit_sequence: u8,
        /// Every recipient (To, CC and BCC).
        recipients: Vec<MailboxId>,
        /// Body first, then attachments.
        files: Vec<FileSent>,
    },
    /// A client sent one tell to one beacon (client side; one event per attempt).
    TellSent {
        /// The email.
        email_id: EmailId,
        /// Revision.
        edit_sequence: u8,
        /// Sender mailbox.
        sender: MailboxId,
        /// The beacon RAIDA the tell went to.
        beacon: u8,
        /// Recipients addressed in this tell.
        recipients: Vec<MailboxId>,
        /// The exact record (file header + server entries + manifest) the beacon should store.
        record: Bytes,
        /// The status the client saw; `None` when no reply came.
        status: Option<u8>,
        /// Routing-header client_timestamp (body 72..76).
        routing_timestamp_s: u32,
        /// File-header client_timestamp (record 24..28).
        header_timestamp_s: u32,
        /// The sender's clock when it built the tell, Unix seconds.
        sender_clock_unix_s: i64,
        /// The beacon's clock when it handled the tell, if the world knows it (informational;
        /// `skew_consistency` reads [`EventKind::TellHandled`]).
        beacon_clock_unix_s: Option<i64>,
    },
    /// The beacon finished one tell request and wrote its reply (server side).
    TellHandled {
        /// The beacon.
        beacon: u8,
        /// The beacon's sequence number of this request (pairs with `TellAccepted`).
        request: u64,
        /// The email named in the routing header.
        email_id: EmailId,
        /// Revision (file-header byte 57).
        edit_sequence: u8,
        /// The status it answered.
        status: u8,
        /// Routing-header client_timestamp.
        routing_timestamp_s: u32,
        /// File-header client_timestamp.
        header_timestamp_s: u32,
        /// The beacon's own clock when it compared the timestamps, Unix seconds.
        beacon_clock_unix_s: i64,
        /// The server's reason for a rejection, if any.
        reason: Option<String>,
    },
    /// The beacon published one recipient's tell into its inbox (server side, after rename).
    TellAccepted {
        /// The beacon.
        beacon: u8,
        /// The request that published it.
        request: u64,
        /// Recipient mailbox.
        mailbox: MailboxId,
        /// The email.
        email_id: EmailId,
        /// Revision.
        edit_sequence: u8,
        /// The bytes written to the inbox file.
        record: Bytes,
    },
    /// The edit_sequence guard skipped one recipient (server side).
    TellSkipped {
        /// The beacon.
        beacon: u8,
        /// The request.
        request: u64,
        /// Recipient mailbox.
        mailbox: MailboxId,
        /// The email.
        email_id: EmailId,
        /// Incoming revision.
        edit_sequence: u8,
        /// The newer revision already in the inbox.
        existing_edit_sequence: u8,
    },
    /// A tell file was read into a ping/peek reply and removed (server side).
    TellDeleted {
        /// The beacon.
        beacon: u8,
        /// The poll request whose reply carried it (numbered like `TellHandled`'s).
        request: u64,
        /// Mailbox whose inbox held it.
        mailbox: MailboxId,
        /// The email.
        email_id: EmailId,
        /// Revision.
        edit_sequence: u8,
    },
    /// A client opened a connection for one request attempt (client side; the adversary's
    /// requests too). `request` numbers attempts across the whole run, 1, 2, 3, ...
    RequestStarted {
        /// The run-wide request number (the server's `ServerRequest` names it).
        request: u64,
        /// The RAIDA addressed.
        raida: u8,
    },
    /// A client's request attempt got its reply header, or ended without one (client side).
    RequestDone {
        /// The run-wide request number of its `RequestStarted`.
        request: u64,
        /// The RAIDA addressed.
        raida: u8,
        /// The command its header named; `None` when no header was written.
        command: Option<WireCommand>,
        /// 1 + how many tries directly before it, by the same client task, of the same
        /// command at the same RAIDA, got no reply (the client's retry count as the wire
        /// shows it).
        attempt: u32,
        /// The reply status; `None` when no reply header came.
        status: Option<u8>,
        /// Where the attempt stopped, when no reply header came.
        stopped: Option<RequestStop>,
    },
    /// A RAIDA finished handling one request (server side, its `RequestHandled`).
    ServerRequest {
        /// The RAIDA.
        raida: u8,
        /// Its request number (`boot << 40 | request_id`, like `TellHandled`'s).
        request: u64,
        /// The client's run-wide request number, when the connection is known.
        client_request: Option<u64>,
        /// The command the header named, if known.
        command: Option<WireCommand>,
        /// How it ended.
        outcome: ServerOutcome,
        /// The reply status, when it replied.
        status: Option<u8>,
        /// Handling time the server measured, microseconds.
        execution_us: u32,
    },
    /// A ping found no tells and parked (server side).
    PingParked {
        /// The beacon.
        beacon: u8,
        /// The ping request.
        request: u64,
        /// The inbox waited on.
        mailbox: MailboxId,
    },
    /// A parked ping was woken and answered (server side).
    PingResumed {
        /// The beacon.
        beacon: u8,
        /// The ping request.
        request: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// The status answered (250, or 194 when the rescan failed).
        status: u8,
    },
    /// A parked ping reached its deadline and got the timeout reply (server side).
    PingTimedOut {
        /// The beacon.
        beacon: u8,
        /// The ping request.
        request: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// The status answered.
        status: u8,
    },
    /// A ping or peek reply carried these tells, in reply order (server side).
    TellsRead {
        /// The beacon.
        beacon: u8,
        /// The poll request.
        request: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// Ping or peek.
        via: PollKind,
        /// The records the reply carried, by key.
        tells: Vec<TellRef>,
    },
    /// A RAIDA completed a named file-system step (server side; recorded only when the
    /// run asks for file-system steps, see [`crate::world::recorder::RecordOptions`]).
    FsStep {
        /// The RAIDA.
        raida: u8,
        /// One of `raida_server::fs::Step::NAMES`.
        step: String,
    },
    /// A device got one tell record in a ping or peek reply (client side).
    TellReceived {
        /// The mailbox polled.
        mailbox: MailboxId,
        /// Device index within the mailbox.
        device: u16,
        /// The beacon polled.
        beacon: u8,
        /// The exact record bytes as parsed out of the reply.
        record: Bytes,
        /// Ping or peek.
        via: PollKind,
    },
    /// A poll completed with a reply (client side).
    PollDone {
        /// The mailbox polled.
        mailbox: MailboxId,
        /// Device index.
        device: u16,
        /// The beacon polled.
        beacon: u8,
        /// Ping or peek.
        via: PollKind,
        /// Reply status (250, or a timeout status).
        status: u8,
        /// Tells in the reply.
        tell_count: u16,
    },
    /// A poll failed: no reply, a bad reply, or an error status (client side).
    PollFailed {
        /// The mailbox polled.
        mailbox: MailboxId,
        /// Device index.
        device: u16,
        /// The beacon polled.
        beacon: u8,
        /// Ping or peek.
        via: PollKind,
        /// The status, when a reply came.
        status: Option<u8>,
        /// Why.
        reason: String,
    },
    /// A device reassembled one file and the client accepted it (client side).
    DownloadDone {
        /// The downloading mailbox.
        mailbox: MailboxId,
        /// Device index.
        device: u16,
        /// The email.
        email_id: EmailId,
        /// The file.
        file_type: u8,
        /// Size of the reassembled bytes.
        size_bytes: u64,
        /// CRC-32 of the reassembled bytes.
        crc32: u32,
        /// The stripe index rebuilt from parity, if one was.
        rebuilt_stripe: Option<u8>,
    },
    /// A device gave up downloading one file (client side).
    DownloadFailed {
        /// The downloading mailbox.
        mailbox: MailboxId,
        /// Device index.
        device: u16,
        /// The email.
        email_id: EmailId,
        /// The revision (file-header byte 57) of the record it downloaded from.
        edit_sequence: u8,
        /// The file.
        file_type: u8,
        /// Why.
        reason: String,
    },
    /// The world injected a fault.
    FaultFired {
        /// What broke.
        fault: FaultKind,
        /// Hosts it touched (empty: all).
        hosts: Vec<Host>,
        /// Free-form detail for the trace.
        detail: String,
    },
    /// The end-of-run disk audit found a stripe its RAIDA acknowledged (upload 250) no
    /// longer intact on its disk (server side; intact stripes are not recorded).
    StripeAudited {
        /// The storage RAIDA.
        raida: u8,
        /// The email (file GUID).
        email_id: EmailId,
        /// The file.
        file_type: u8,
        /// `missing`, `corrupt: REASON` or `unreadable: ERROR`.
        outcome: String,
    },
    /// The end-of-run expiry audit found a stripe, intact at the end, that did not expire as
    /// its storage duration says: gone before it, served after it, or its file kept (server
    /// side; stripes that expire correctly are not recorded).
    StripeExpiryAudited {
        /// The storage RAIDA.
        raida: u8,
        /// The email (file GUID).
        email_id: EmailId,
        /// The file.
        file_type: u8,
        /// What went wrong.
        outcome: String,
    },
    /// The run moved to another phase.
    PhaseChange {
        /// The phase entered.
        phase: Phase,
    },
}

/// The variant of an [`EventKind`] without its fields: what [`History::of_kinds`] selects.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[allow(missing_docs)] // One per `EventKind` variant, named alike.
pub enum Kind {
    UploadStarted,
    EmailSent,
    TellSent,
    TellHandled,
    TellAccepted,
    TellSkipped,
    TellDeleted,
    TellReceived,
    PollDone,
    PollFailed,
    DownloadDone,
    DownloadFailed,
    RequestStarted,
    RequestDone,
    ServerRequest,
    PingParked,
    PingResumed,
    PingTimedOut,
    TellsRead,
    FsStep,
    FaultFired,
    StripeAudited,
    StripeExpiryAudited,
    PhaseChange,
}

impl Kind {
    /// The kinds [`EventKind::client_mailbox`] answers for.
    pub const CLIENT_MAILBOX: [Kind; 5] = [
        Kind::TellReceived,
        Kind::PollDone,
        Kind::PollFailed,
        Kind::DownloadDone,
        Kind::DownloadFailed,
    ];

    /// Stable snake_case name of the event (the trace's command column).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::UploadStarted => "upload_started",
            Kind::EmailSent => "email_sent",
            Kind::TellSent => "tell_sent",
            Kind::TellHandled => "tell_handled",
            Kind::TellAccepted => "tell_accepted",
            Kind::TellSkipped => "tell_skipped",
            Kind::TellDeleted => "tell_deleted",
            Kind::TellReceived => "tell_received",
            Kind::PollDone => "poll_done",
            Kind::PollFailed => "poll_failed",
            Kind::DownloadDone => "download_done",
            Kind::DownloadFailed => "download_failed",
            Kind::RequestStarted => "request_started",
            Kind::RequestDone => "request_done",
            Kind::ServerRequest => "server_request",
            Kind::PingParked => "ping_parked",
            Kind::PingResumed => "ping_resumed",
            Kind::PingTimedOut => "ping_timed_out",
            Kind::TellsRead => "tells_read",
            Kind::FsStep => "fs_step",
            Kind::FaultFired => "fault",
            Kind::StripeAudited => "stripe_audited",
            Kind::StripeExpiryAudited => "stripe_expiry_audited",
            Kind::PhaseChange => "phase",
        }
    }
}

impl EventKind {
    /// Stable snake_case name of the event (the trace's command column).
    pub const fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The variant, without its fields.
    pub const fn kind(&self) -> Kind {
        match self {
            EventKind::UploadStarted { .. } => Kind::UploadStarted,
            EventKind::EmailSent { .. } => Kind::EmailSent,
            EventKind::TellSent { .. } => Kind::TellSent,
            EventKind::TellHandled { .. } => Kind::TellHandled,
            EventKind::TellAccepted { .. } => Kind::TellAccepted,
            EventKind::TellSkipped { .. } => Kind::TellSkipped,
            EventKind::TellDeleted { .. } => Kind::TellDeleted,
            EventKind::TellReceived { .. } => Kind::TellReceived,
            EventKind::PollDone { .. } => Kind::PollDone,
            EventKind::PollFailed { .. } => Kind::PollFailed,
            EventKind::DownloadDone { .. } => Kind::DownloadDone,
            EventKind::DownloadFailed { .. } => Kind::DownloadFailed,
            EventKind::RequestStarted { .. } => Kind::RequestStarted,
            EventKind::RequestDone { .. } => Kind::RequestDone,
            EventKind::ServerRequest { .. } => Kind::ServerRequest,
            EventKind::PingParked { .. } => Kind::PingParked,
            EventKind::PingResumed { .. } => Kind::PingResumed,
            EventKind::PingTimedOut { .. } => Kind::PingTimedOut,
            EventKind::TellsRead { .. } => Kind::TellsRead,
            EventKind::FsStep { .. } => Kind::FsStep,
            EventKind::FaultFired { .. } => Kind::FaultFired,
            EventKind::StripeAudited { .. } => Kind::StripeAudited,
            EventKind::StripeExpiryAudited { .. } => Kind::StripeExpiryAudited,
            EventKind::PhaseChange { .. } => Kind::PhaseChange,
        }
    }

    /// The mailbox a client-side poll or download event is about.
    pub const fn client_mailbox(&self) -> Option<MailboxId> {
        match self {
            EventKind::TellReceived { mailbox, .. }
            | EventKind::PollDone { mailbox, .. }
            | EventKind::PollFailed { mailbox, .. }
            | EventKind::DownloadDone { mailbox, .. }
            | EventKind::DownloadFailed { mailbox, .. } => Some(*mailbox),
            _ => None,
        }
    }
}

/// One event at one simulated instant on one host.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Simulated microseconds since the run's epoch (un-skewed).
    pub at_sim_us: u64,
    /// Where it happened.
    pub host: Host,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The email id and edit_sequence a tell record names, read from its file header
/// (bytes 0..16 and 57). `None` when the record is shorter than a file header.
pub fn tell_key(record: &[u8]) -> Option<(EmailId, u8)> {
    if record.len() < FILE_HEADER_SIZE_BYTES {
        return None;
    }
    let id: [u8; 16] = record.get(..16)?.try_into().ok()?;
    let edit_sequence = *record.get(EDIT_SEQUENCE_OFFSET)?;
    Some((EmailId(id), edit_sequence))
}

/// The record's file-header `total_file_size` (bytes 46..50, big-endian).
pub fn tell_total_file_size(record: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = record
        .get(TOTAL_FILE_SIZE_OFFSET..TOTAL_FILE_SIZE_OFFSET + 4)?
        .try_into()
        .ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Why a list of events is not a history.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HistoryError {
    /// Event `index` (0-based) is older than the one before it.
    TimeWentBackwards {
        /// Index of the offending event.
        index: usize,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::TimeWentBackwards { index } => {
                write!(f, "event {index} is older than the event before it")
            }
        }
    }
}

impl std::error::Error for HistoryError {}

/// Everything that happened in one run, in non-decreasing simulated time.
///
/// Beside the events it keeps each one's [`Kind`], one byte per event: a checker that needs
/// a few rare kinds ([`History::of_kinds`]) scans those bytes and reads only the events it
/// selects, instead of streaming every event through the cache (a storm's history is
/// ~90 MB, and a full pass over it costs ~10 ms).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct History {
    events: Vec<Event>,
    /// `kinds[i]` is `events[i].kind.kind()`.
    kinds: Vec<Kind>,
}

impl Serialize for History {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.events.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Event>::deserialize(deserializer).map(History::indexed)
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty history with room for `event_count` events.
    pub fn with_capacity(event_count: usize) -> Self {
        Self {
            events: Vec::with_capacity(event_count),
            kinds: Vec::with_capacity(event_count),
        }
    }

    /// `events` as they are, with their kinds.
    fn indexed(events: Vec<Event>) -> Self {
        let kinds = events.iter().map(|event| event.kind.kind()).collect();
        Self { events, kinds }
    }

    /// Appends one event. Time never goes backwards: the world appends in simulation order,
    /// so an older timestamp is a bug in the world and panics.
    pub fn push(&mut self, event: Event) {
        let last_us = self.end_us();
        assert!(
            event.at_sim_us >= last_us,
            "history time went backwards: {} after {}",
            event.at_sim_us,
            last_us
        );
        self.kinds.push(event.kind.kind());
        self.events.push(event);
        debug_assert_eq!(self.kinds.len(), self.events.len());
    }

    /// Appends `kind` at `at_sim_us` on `host`.
    pub fn record(&mut self, at_sim_us: u64, host: Host, kind: EventKind) {
        self.push(Event {
            at_sim_us,
            host,
            kind,
        });
    }

    /// Builds a history from events (e.g. read back from a trace), rejecting time that
    /// goes backwards.
    pub fn from_events(events: Vec<Event>) -> Result<Self, HistoryError> {
        let backwards = events
            .windows(2)
            .position(|pair| matches!(pair, [a, b] if a.at_sim_us > b.at_sim_us));
        if let Some(index) = backwards {
            return Err(HistoryError::TimeWentBackwards { index: index + 1 });
        }
        Ok(Self::indexed(events))
    }

    /// Every event, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events of the given kinds, oldest first: what `events()` filtered by kind gives,
    /// reading only the selected events.
    pub fn of_kinds<'a>(&'a self, kinds: &'a [Kind]) -> impl Iterator<Item = &'a Event> + 'a {
        self.kinds
            .iter()
            .zip(&self.events)
            .filter(move |(kind, _)| kinds.contains(kind))
            .map(|(_, event)| event)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True before the first event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Time of the last event (0 when empty).
    pub fn end_us(&self) -> u64 {
        self.events.last().map_or(0, |event| event.at_sim_us)
    }

    /// When the healed phase began, if it did.
    pub fn healed_at_us(&self) -> Option<u64> {
        self.of_kinds(&[Kind::PhaseChange])
            .find_map(|event| match event.kind {
                EventKind::PhaseChange {
                    phase: Phase::Healed,
                } => Some(event.at_sim_us),
                _ => None,
            })
    }

    /// Every fault event with its kind and hosts.
    pub fn faults(&self) -> impl Iterator<Item = (&Event, &FaultKind, &[Host])> {
        self.of_kinds(&[Kind::FaultFired])
            .filter_map(|event| match &event.kind {
                EventKind::FaultFired { fault, hosts, .. } => {
                    Some((event, fault, hosts.as_slice()))
                }
                _ => None,
            })
    }

    /// The files of every sent revision of `email_id`, as (edit_sequence, files).
    pub fn sent_revisions(&self, email_id: EmailId) -> impl Iterator<Item = (u8, &[FileSent])> {
        self.of_kinds(&[Kind::EmailSent])
            .filter_map(move |event| match &event.kind {
                EventKind::EmailSent {
                    email_id: id,
                    edit_sequence,
                    files,
                    ..
                } if *id == email_id => Some((*edit_sequence, files.as_slice())),
                _ => None,
            })
    }

    /// Distinct stripe indices of one file lost or corrupted at or before `until_us`.
    pub fn stripes_damaged(&self, email_id: EmailId, file_type: u8, until_us: u64) -> usize {
        let mut indices: Vec<u8> = self
            .faults()
            .filter(|(event, _, _)| event.at_sim_us <= until_us)
            .filter_map(|(_, fault, _)| match fault {
                FaultKind::StripeLost {
                    email_id: id,
                    file_type: kind,
                    stripe_index,
                }
                | FaultKind::StripeCorrupted {
                    email_id: id,
                    file_type: kind,
                    stripe_index,
                } if *id == email_id && *kind == file_type => Some(*stripe_index),
                _ => None,
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        indices.len()
    }

    /// Hosts that ran client-side events for `mailbox` (its devices' hosts).
    pub fn hosts_of_mailbox(&self, mailbox: MailboxId) -> Vec<Host> {
        let mut hosts: Vec<Host> = self
            .of_kinds(&Kind::CLIENT_MAILBOX)
            .filter(|event| event.kind.client_mailbox() == Some(mailbox))
            .map(|event| event.host)
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn email(n: u8) -> EmailId {
        EmailId([n; 16])
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x3e];
        assert_eq!(hex_encode(&bytes), "007f80ff3e");
        assert_eq!(hex_decode("007F80ff3e").as_deref(), Some(&bytes[..]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn host_names_round_trip() {
        for host in [
            Host::Raida(7),
            Host::Client(12),
            Host::Adversary,
            Host::World,
        ] {
            assert_eq!(host.to_string().parse::<Host>(), Ok(host));
        }
        assert_eq!(Host::Raida(7).to_string(), "raida07");
        // Spelled by hand as `{index:02}` would: every width, both ends.
        for index in [
            0u16,
            1,
            9,
            10,
            99,
            100,
            255,
            999,
            1000,
            9999,
            10000,
            u16::MAX,
        ] {
            assert_eq!(Host::Client(index).to_string(), format!("client{index:02}"));
            if let Ok(index) = u8::try_from(index) {
                assert_eq!(Host::Raida(index).to_string(), format!("raida{index:02}"));
            }
            let json = serde_json::to_string(&Host::Client(index)).expect("serializes");
            assert_eq!(json, format!("\"client{index:02}\""));
        }
        assert!("raidaX".parse::<Host>().is_err());
        assert!("server1".parse::<Host>().is_err());
    }

    #[test]
    fn events_serialize_to_json_with_hex_and_back() {
        let event = Event {
            at_sim_us: 1_500_000,
            host: Host::Client(1),
            kind: EventKind::TellReceived {
                mailbox: MailboxId { denom: 1, sn: 42 },
                device: 2,
                beacon: 7,
                record: Bytes(vec![0xde, 0xad]),
                via: PollKind::Ping,
            },
        };
        let json = serde_json::to_string(&event).expect("serializes");
        assert!(json.contains("\"record\":\"dead\""), "{json}");
        assert!(json.contains("\"event\":\"tell_received\""), "{json}");
        assert!(json.contains("\"host\":\"client01\""), "{json}");
        let back: Event = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, event);

        let fault = Event {
            at_sim_us: 3,
            host: Host::World,
            kind: EventKind::FaultFired {
                fault: FaultKind::StripeLost {
                    email_id: email(0xab),
                    file_type: 1,
                    stripe_index: 3,
                },
                hosts: vec![Host::Raida(3)],
                detail: String::new(),
            },
        };
        let json = serde_json::to_string(&fault).expect("serializes");
        assert!(json.contains(&"ab".repeat(16)), "{json}");
        let back: Event = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, fault);
    }

    /// One event of every kind, in time order (the match in `kind` is exhaustive, so a new
    /// variant fails to compile until it is added there; this list is what the index tests
    /// read).
    pub(crate) fn one_of_every_kind() -> Vec<EventKind> {
        let (mailbox, email_id) = (MailboxId { denom: 1, sn: 2 }, email(3));
        let record = Bytes(vec![1, 2]);
        vec![
            EventKind::UploadStarted {
                email_id,
                sender: mailbox,
                edit_sequence: 0,
            },
            EventKind::EmailSent {
                email_id,
                sender: mailbox,
                edit_sequence: 0,
                recipients: vec![mailbox],
                files: vec![FileSent {
                    file_type: 1,
                    size_bytes: 2,
                    crc32: 3,
                }],
            },
            EventKind::TellSent {
                email_id,
                edit_sequence: 0,
                sender: mailbox,
                beacon: 1,
                recipients: vec![mailbox],
                record: record.clone(),
                status: Some(250),
                routing_timestamp_s: 1,
                header_timestamp_s: 1,
                sender_clock_unix_s: 1,
                beacon_clock_unix_s: None,
            },
            EventKind::TellHandled {
                beacon: 1,
                request: 1,
                email_id,
                edit_sequence: 0,
                status: 250,
                routing_timestamp_s: 1,
                header_timestamp_s: 1,
                beacon_clock_unix_s: 1,
                reason: None,
            },
            EventKind::TellAccepted {
                beacon: 1,
                request: 1,
                mailbox,
                email_id,
                edit_sequence: 0,
                record: record.clone(),
            },
            EventKind::TellSkipped {
                beacon: 1,
                request: 1,
                mailbox,
                email_id,
                edit_sequence: 0,
                existing_edit_sequence: 1,
            },
            EventKind::TellDeleted {
                beacon: 1,
                request: 1,
                mailbox,
                email_id,
                edit_sequence: 0,
            },
            EventKind::TellReceived {
                mailbox,
                device: 0,
                beacon: 1,
                record,
                via: PollKind::Ping,
            },
            EventKind::PollDone {
                mailbox,
                device: 0,
                beacon: 1,
                via: PollKind::Peek,
                status: 250,
                tell_count: 1,
            },
            EventKind::PollFailed {
                mailbox,
                device: 0,
                beacon: 1,
                via: PollKind::Peek,
                status: None,
                reason: String::new(),
            },
            EventKind::DownloadDone {
                mailbox,
                device: 0,
                email_id,
                file_type: 1,
                size_bytes: 2,
                crc32: 3,
                rebuilt_stripe: None,
            },
            EventKind::DownloadFailed {
                mailbox,
                device: 0,
                email_id,
                edit_sequence: 0,
                file_type: 1,
                reason: String::new(),
            },
            EventKind::RequestStarted {
                request: 1,
                raida: 1,
            },
            EventKind::RequestDone {
                request: 1,
                raida: 1,
                command: Some(WireCommand::Upload),
                attempt: 1,
                status: Some(250),
                stopped: Some(RequestStop::Read),
            },
            EventKind::ServerRequest {
                raida: 1,
                request: 1,
                client_request: None,
                command: None,
                outcome: ServerOutcome::Replied,
                status: None,
                execution_us: 0,
            },
            EventKind::PingParked {
                beacon: 1,
                request: 1,
                mailbox,
            },
            EventKind::PingResumed {
                beacon: 1,
                request: 1,
                mailbox,
                status: 250,
            },
            EventKind::PingTimedOut {
                beacon: 1,
                request: 1,
                mailbox,
                status: 250,
            },
            EventKind::TellsRead {
                beacon: 1,
                request: 1,
                mailbox,
                via: PollKind::Ping,
                tells: vec![TellRef {
                    email_id,
                    edit_sequence: 0,
                }],
            },
            EventKind::FsStep {
                raida: 1,
                step: String::new(),
            },
            EventKind::FaultFired {
                fault: FaultKind::Heal,
                hosts: vec![],
                detail: String::new(),
            },
            EventKind::StripeAudited {
                raida: 1,
                email_id,
                file_type: 1,
                outcome: String::new(),
            },
            EventKind::StripeExpiryAudited {
                raida: 1,
                email_id,
                file_type: 1,
                outcome: String::new(),
            },
            EventKind::PhaseChange {
                phase: Phase::Safety,
            },
        ]
    }

    /// The history of `one_of_every_kind`, each kind twice and interleaved.
    fn every_kind_twice() -> History {
        let kinds = one_of_every_kind();
        let mut history = History::new();
        for (at, kind) in kinds.iter().chain(&kinds).enumerate() {
            history.record(at as u64, Host::World, kind.clone());
        }
        history
    }

    #[test]
    fn every_variant_has_its_own_kind() {
        let kinds: Vec<Kind> = one_of_every_kind().iter().map(EventKind::kind).collect();
        let distinct: std::collections::BTreeSet<Kind> = kinds.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            kinds.len(),
            "two variants share a kind: {kinds:?}"
        );
        let names: std::collections::BTreeSet<&str> =
            kinds.iter().map(|kind| kind.name()).collect();
        assert_eq!(names.len(), kinds.len(), "two kinds share a name");
    }

    #[test]
    fn of_kinds_selects_exactly_those_events_in_order() {
        let history = every_kind_twice();
        for selected in [
            vec![Kind::TellSent],
            vec![Kind::PhaseChange, Kind::UploadStarted],
            vec![Kind::DownloadDone, Kind::DownloadFailed, Kind::FaultFired],
            vec![],
        ] {
            let by_index: Vec<&Event> = history.of_kinds(&selected).collect();
            let by_scan: Vec<&Event> = history
                .events()
                .iter()
                .filter(|event| selected.iter().any(|kind| kind.name() == event.kind.name()))
                .collect();
            assert_eq!(by_index, by_scan, "{selected:?}");
            assert_eq!(by_index.len(), 2 * selected.len(), "{selected:?}");
        }
        // A history read back (deserialized or built from events) is indexed alike.
        let json = serde_json::to_string(&history).expect("serializes");
        let back: History = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, history);
        let rebuilt = History::from_events(history.events().to_vec()).expect("in order");
        assert_eq!(rebuilt.of_kinds(&[Kind::TellSent]).count(), 2);
        assert_eq!(rebuilt, history);
    }

    #[test]
    fn client_mailbox_kinds_are_the_kinds_with_a_client_mailbox() {
        for kind in one_of_every_kind() {
            assert_eq!(
                kind.client_mailbox().is_some(),
                Kind::CLIENT_MAILBOX.contains(&kind.kind()),
                "{}",
                kind.name()
            );
        }
    }

    #[test]
    fn tell_key_reads_header_fields() {
        let mut record = vec![0u8; FILE_HEADER_SIZE_BYTES];
        record[..16].copy_from_slice(&[9; 16]);
        record[EDIT_SEQUENCE_OFFSET] = 4;
        record[46..50].copy_from_slice(&1234u32.to_be_bytes());
        assert_eq!(tell_key(&record), Some((email(9), 4)));
        assert_eq!(tell_total_file_size(&record), Some(1234));
        assert_eq!(tell_key(&record[..63]), None);
        assert_eq!(tell_total_file_size(&record[..49]), None);
    }

    #[test]
    #[should_panic(expected = "history time went backwards")]
    fn push_rejects_time_going_backwards() {
        let mut history = History::new();
        let phase = EventKind::PhaseChange {
            phase: Phase::Safety,
        };
        history.record(10, Host::World, phase.clone());
        history.record(9, Host::World, phase);
    }

    #[test]
    fn queries_find_phase_stripes_and_hosts() {
        let mut history = History::new();
        let mailbox = MailboxId { denom: 0, sn: 5 };
        for (at, index) in [(1, 2u8), (2, 2), (3, 4)] {
            history.record(
                at,
                Host::World,
                EventKind::FaultFired {
                    fault: FaultKind::StripeCorrupted {
                        email_id: email(1),
                        file_type: 1,
                        stripe_index: index,
                    },
                    hosts: vec![],
                    detail: String::new(),
                },
            );
        }
        history.record(
            4,
            Host::Client(3),
            EventKind::PollFailed {
                mailbox,
                device: 0,
                beacon: 1,
                via: PollKind::Peek,
                status: None,
                reason: "timeout".into(),
            },
        );
        history.record(
            5,
            Host::World,
            EventKind::PhaseChange {
                phase: Phase::Healed,
            },
        );
        assert_eq!(history.stripes_damaged(email(1), 1, 2), 1);
        assert_eq!(history.stripes_damaged(email(1), 1, 9), 2);
        assert_eq!(history.stripes_damaged(email(1), 10, 9), 0);
        assert_eq!(history.hosts_of_mailbox(mailbox), vec![Host::Client(3)]);
        assert_eq!(history.healed_at_us(), Some(5));
        assert_eq!(history.end_us(), 5);
        assert_eq!(
            History::from_events(history.events().iter().rev().cloned().collect()),
            Err(HistoryError::TimeWentBackwards { index: 1 })
        );
    }
}
