//! Every size, count and range the server's storage and settings layers rely on, in one place.
//!
//! The wire sizes are restated here on purpose: this layer must not depend on `qmail-wire`
//! (tell records and stripes are opaque bytes to it), so it keeps its own copy of the few
//! numbers it needs and ties them together with compile-time asserts. The sources are the
//! protocol pages in `shared/spec/` (tell 002, peek 003, ping 004) and `DECISIONS.md`.

/// Number of RAIDA servers in one cluster; a RAIDA id is an index below this.
pub const RAIDA_COUNT: usize = 25;

/// Size of a file/email GUID.
pub const GUID_SIZE_BYTES: usize = 16;

/// Size of an AN (authenticity number), the AES-128 key of one coin on one RAIDA.
pub const AN_SIZE_BYTES: usize = 16;

/// Size of a locker code (ASCII, NUL padded).
pub const LOCKER_CODE_SIZE_BYTES: usize = 16;

/// Smallest mailbox/coin denomination the tell page accepts (signed byte).
pub const DENOMINATION_MIN: i8 = -8;

/// Largest mailbox/coin denomination the tell page accepts.
pub const DENOMINATION_MAX: i8 = 6;

/// Largest request body the 16-bit `body_size` field can declare, terminator included.
pub const REQUEST_BODY_SIZE_BYTES_MAX: usize = 65_535;

/// Size of the QMail file header at the start of every tell record.
pub const TELL_FILE_HEADER_SIZE_BYTES: usize = 64;

/// Offset of `edit_sequence` inside the file header (tell page, DECISIONS.md).
pub const EDIT_SEQUENCE_OFFSET: usize = 57;

/// Smallest tell request body around the blob: preamble 48, routing header 48, one address
/// entry 32, terminator 2.
pub const TELL_BODY_OVERHEAD_SIZE_BYTES_MIN: usize = 48 + 48 + 32 + 2;

/// Largest tell record (blob) one tell request can carry, and so the largest `.tell` file the
/// server ever writes or accepts when reading one back.
pub const TELL_BLOB_SIZE_BYTES_MAX: usize =
    REQUEST_BODY_SIZE_BYTES_MAX - TELL_BODY_OVERHEAD_SIZE_BYTES_MIN;

/// Reads of one file before a failed integrity check (tell trailer, stripe CRC-32) is
/// believed: the second read tells a transient read error from bytes changed on the disk.
pub const FILE_READ_ATTEMPTS_MAX: u32 = 2;

/// Size of the tell-list array header that precedes the records in a peek/ping reply.
pub const TELL_LIST_HEADER_SIZE_BYTES: usize = 8;

/// Most records one reply can list: `tell_count` is one byte.
pub const TELLS_PER_REPLY_MAX: usize = 255;

/// Largest reply payload the 3-byte response `body_size` can declare, less the terminator.
pub const REPLY_PAYLOAD_SIZE_BYTES_MAX: usize = (1 << 24) - 1 - 2;

/// Smallest reply payload limit that still lets any single tell through, so no tell can be
/// stuck in an inbox forever because it never fits.
pub const REPLY_PAYLOAD_SIZE_BYTES_MIN: usize =
    TELL_LIST_HEADER_SIZE_BYTES + TELL_BLOB_SIZE_BYTES_MAX;

/// Largest stripe one upload can carry (DECISIONS.md: 65,535 − 48 − 38 − 2).
pub const STRIPE_SIZE_BYTES_MAX: usize = REQUEST_BODY_SIZE_BYTES_MAX - 48 - 38 - 2;

/// Size of the fixed header inside every stored stripe file (see `store::stripes`).
pub const STRIPE_FILE_HEADER_SIZE_BYTES: usize = 24;

/// Size of the header of every state file (ledger, extension state; see `store::state`).
pub const STATE_FILE_HEADER_SIZE_BYTES: usize = 16;

/// Size of one ledger entry: locker code and balance (u64).
pub const LEDGER_ENTRY_SIZE_BYTES: usize = LOCKER_CODE_SIZE_BYTES + 8;

/// Largest state-file payload the server writes or reads back.
pub const STATE_FILE_PAYLOAD_SIZE_BYTES_MAX: usize = 64 << 20;

/// Size of the ledger journal's header (`state/ledger.journal`; see `store::state`).
pub const LEDGER_JOURNAL_HEADER_SIZE_BYTES: usize = 16;

/// Size of one ledger journal record: locker code, balance (u64), batch sequence (u64),
/// records after this one in its batch (u32) and CRC-32 (u32).
pub const LEDGER_JOURNAL_RECORD_SIZE_BYTES: usize = LOCKER_CODE_SIZE_BYTES + 8 + 8 + 4 + 4;

/// Once the ledger journal is this long, the next persist compacts it: the snapshot
/// (`state/ledger.state`) is rewritten and the journal removed. 1 MiB is 26,214 records, so
/// an upload pays for a snapshot rewrite (O(lockers)) at most once per 26,214 uploads.
pub const LEDGER_JOURNAL_COMPACT_SIZE_BYTES: usize = 1 << 20;

/// Most records in one journal append: one per locker written since the last durable one,
/// so at most one per provisioned locker (a provisioning line is at least 32 bytes).
pub const LEDGER_JOURNAL_BATCH_RECORDS_MAX: usize = PROVISION_FILE_SIZE_BYTES_MAX / 32;

/// Longest ledger journal the server writes or reads back: it stops growing once it passes
/// the compaction size, by at most one append.
pub const LEDGER_JOURNAL_SIZE_BYTES_MAX: usize = LEDGER_JOURNAL_COMPACT_SIZE_BYTES
    + LEDGER_JOURNAL_BATCH_RECORDS_MAX * LEDGER_JOURNAL_RECORD_SIZE_BYTES;

/// Longest extension name that may name a state file (`{name}.state`).
pub const EXTENSION_NAME_SIZE_BYTES_MAX: usize = 32;

/// Largest stored stripe file.
pub const STRIPE_FILE_SIZE_BYTES_MAX: usize = STRIPE_FILE_HEADER_SIZE_BYTES + STRIPE_SIZE_BYTES_MAX;

/// Longest file name most file systems accept (NAME_MAX).
pub const FILE_NAME_SIZE_BYTES_MAX: usize = 255;

/// Length of a published tell file name: `00000000` + 32 hex digits + `.tell`.
pub const TELL_FILE_NAME_SIZE_BYTES: usize = 8 + 2 * GUID_SIZE_BYTES + 5;

/// Longest hidden temp name: `.tmp.` PID(10) `.` TIME(20) `.` SEQ(20) `.` GUID(32), then for
/// a stripe `.` file_type(2), then `.` and the extension (at most 6, `stripe`).
pub const TEMP_FILE_NAME_SIZE_BYTES_MAX: usize = 5 + 10 + 1 + 20 + 1 + 20 + 1 + 32 + 3 + 1 + 6;

/// Length of a stored stripe file name: 32 hex digits + `.` + 2 hex digits + `.stripe`.
pub const STRIPE_FILE_NAME_SIZE_BYTES: usize = 2 * GUID_SIZE_BYTES + 1 + 2 + 7;

/// Most directory entries one scan looks at (after sorting names); a flooded inbox costs a
/// bounded amount of work per request and the rest waits for the next poll.
pub const INBOX_SCAN_FILES_MAX: usize = 4_096;

/// Locks that serialize the polls of one inbox (a mailbox hashes to one of them; two
/// mailboxes sharing a lock only wait for each other's polls).
pub const POLL_LOCK_STRIPES: usize = 64;

/// How often a publish retries the exclusive create of its temp file after a name collision
/// (only possible when a restarted server reuses a PID/TIME/SEQ triple).
pub const TEMP_CREATE_ATTEMPTS_MAX: u32 = 8;

/// Longest accepted `ping_timeout_s` (one day).
pub const PING_TIMEOUT_S_MAX: u64 = 86_400;

/// The status bytes a ping timeout reply may carry (`ping_timeout_status`): 17 (current
/// raidax) and 245; clients accept both, any other byte is not a timeout to them.
pub const PING_TIMEOUT_STATUSES: [i64; 2] = [
    qmail_wire::Status::UdpFrameTimeout.code() as i64,
    qmail_wire::Status::Timeout.code() as i64,
];

/// Largest accepted fee setting (`upload_fee`, `inbox_fee_default`): 2^53, far beyond any
/// locker, and below `i64::MAX` as every knob's range must be.
pub const FEE_MAX: u64 = 1 << 53;

/// Most requests a rate-limit window may allow (`rate_limit.requests_max`).
pub const RATE_LIMIT_REQUESTS_MAX: u32 = u32::MAX;

/// Longest accepted rate-limit window (`rate_limit.window_s`, one day).
pub const RATE_LIMIT_WINDOW_S_MAX: u64 = 86_400;

/// Longest accepted `tell_skew_s` (one day).
pub const TELL_SKEW_S_MAX: u64 = 86_400;

/// Longest accepted `read_timeout_s` (one hour).
pub const READ_TIMEOUT_S_MAX: u64 = 3_600;

/// Most connections a server may be configured to hold.
pub const CONNECTIONS_MAX: usize = 1 << 20;

/// Largest provisioning file the parser accepts.
pub const PROVISION_FILE_SIZE_BYTES_MAX: usize = 64 << 20;

/// Offset of `total_file_size` (4 bytes, big-endian) inside the file header (tell page).
pub const TOTAL_FILE_SIZE_OFFSET: usize = 46;

/// Size of `total_file_size`.
pub const TOTAL_FILE_SIZE_SIZE_BYTES: usize = 4;

/// When the inbox watch holds this many mailbox channels, a subscribe sweeps the ones nobody
/// waits on any more.
pub const WATCHED_MAILBOXES_SWEEP_COUNT: usize = 4_096;

/// When the rate limiter counts this many coins, an admission sweeps the past windows.
pub const RATE_LIMIT_SWEEP_COUNT: usize = 4_096;

const _: () = assert!(EDIT_SEQUENCE_OFFSET < TELL_FILE_HEADER_SIZE_BYTES);
const _: () = assert!(TOTAL_FILE_SIZE_OFFSET + TOTAL_FILE_SIZE_SIZE_BYTES <= EDIT_SEQUENCE_OFFSET);
const _: () = assert!(WATCHED_MAILBOXES_SWEEP_COUNT >= 1 && RATE_LIMIT_SWEEP_COUNT >= 1);
// A tell with the most servers (32) and one manifest entry must fit in one request.
const _: () = assert!(TELL_FILE_HEADER_SIZE_BYTES + 32 * 32 + 16 <= TELL_BLOB_SIZE_BYTES_MAX);
const _: () = assert!(TELL_BLOB_SIZE_BYTES_MAX == 65_405);
const _: () = assert!(REPLY_PAYLOAD_SIZE_BYTES_MIN <= REPLY_PAYLOAD_SIZE_BYTES_MAX);
// The default reply limit (1 MiB) sits inside the accepted range.
const _: () = assert!(REPLY_PAYLOAD_SIZE_BYTES_MIN <= 1 << 20);
const _: () = assert!(1 << 20 <= REPLY_PAYLOAD_SIZE_BYTES_MAX);
const _: () = assert!(TELLS_PER_REPLY_MAX == u8::MAX as usize);
const _: () = assert!(POLL_LOCK_STRIPES >= 1 && POLL_LOCK_STRIPES <= 4_096);
const _: () = assert!(STRIPE_SIZE_BYTES_MAX == 65_447);
const _: () = assert!(STRIPE_FILE_SIZE_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(TELL_FILE_NAME_SIZE_BYTES <= FILE_NAME_SIZE_BYTES_MAX);
const _: () = assert!(TEMP_FILE_NAME_SIZE_BYTES_MAX <= FILE_NAME_SIZE_BYTES_MAX);
const _: () = assert!(STRIPE_FILE_NAME_SIZE_BYTES <= FILE_NAME_SIZE_BYTES_MAX);
// A state file's temp name (`.tmp.` PID . TIME . SEQ . name . `state`) fits the temp bound.
const _: () = assert!(
    5 + 10 + 1 + 20 + 1 + 20 + 1 + EXTENSION_NAME_SIZE_BYTES_MAX + 1 + 5
        <= TEMP_FILE_NAME_SIZE_BYTES_MAX
);
const _: () = assert!(STATE_FILE_PAYLOAD_SIZE_BYTES_MAX <= u32::MAX as usize);
// Every provisioned locker fits one ledger file.
const _: () = assert!(
    PROVISION_FILE_SIZE_BYTES_MAX / 32 * LEDGER_ENTRY_SIZE_BYTES
        <= STATE_FILE_PAYLOAD_SIZE_BYTES_MAX
);
// The journal header has the state file header's shape (magic, version, zero, word, CRC).
const _: () = assert!(LEDGER_JOURNAL_HEADER_SIZE_BYTES == STATE_FILE_HEADER_SIZE_BYTES);
// A journal record is a ledger entry plus its batch sequence, batch position and CRC.
const _: () = assert!(LEDGER_JOURNAL_RECORD_SIZE_BYTES == LEDGER_ENTRY_SIZE_BYTES + 8 + 4 + 4);
// The journal takes at least one append before it is compacted, and replaying it at start
// never reads more than a ledger snapshot may hold.
const _: () = assert!(
    LEDGER_JOURNAL_HEADER_SIZE_BYTES + LEDGER_JOURNAL_RECORD_SIZE_BYTES
        <= LEDGER_JOURNAL_COMPACT_SIZE_BYTES
);
const _: () = assert!(LEDGER_JOURNAL_COMPACT_SIZE_BYTES <= STATE_FILE_PAYLOAD_SIZE_BYTES_MAX);
// A record's batch position (records after it, u32) covers the largest batch, and a journal
// of the largest size fits a `u32` length like a state file.
const _: () = assert!(LEDGER_JOURNAL_BATCH_RECORDS_MAX <= u32::MAX as usize);
const _: () = assert!(LEDGER_JOURNAL_SIZE_BYTES_MAX <= u32::MAX as usize);
// The scan bound must never hide a reply's worth of tells.
const _: () = assert!(INBOX_SCAN_FILES_MAX >= TELLS_PER_REPLY_MAX);
const _: () = assert!(TEMP_CREATE_ATTEMPTS_MAX >= 1);
const _: () = assert!(DENOMINATION_MIN < 0 && 0 < DENOMINATION_MAX);
const _: () = assert!(RAIDA_COUNT <= u8::MAX as usize);
const _: () = assert!(PING_TIMEOUT_STATUSES[0] == 17 && PING_TIMEOUT_STATUSES[1] == 245);
const _: () = assert!(FEE_MAX < i64::MAX as u64);
const _: () = assert!(PING_TIMEOUT_S_MAX <= i64::MAX as u64);
const _: () = assert!(READ_TIMEOUT_S_MAX <= i64::MAX as u64);
const _: () = assert!(CONNECTIONS_MAX <= i64::MAX as usize);
