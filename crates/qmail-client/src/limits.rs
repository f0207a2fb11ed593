//! Limits of the QMail client, with the compile-time checks that tie them together.
//!
//! Every bound the client enforces on user input (how many stripes, how large a file) lives
//! here, so that a reader sees all of them at once and the `const` asserts below keep them
//! consistent with each other and with the wire format.

/// Fewest data stripes a file can be cut into (the parity stripe comes on top).
pub const DATA_STRIPE_COUNT_MIN: usize = 1;

/// Most data stripes a file can be cut into: the tell's `stripe_count` is at most 32, and one
/// of those is the parity stripe.
pub const DATA_STRIPE_COUNT_MAX: usize = 31;

/// Data stripes used when the user does not choose: 8 servers, one of them holding parity.
pub const DATA_STRIPE_COUNT_DEFAULT: usize = 7;

/// Parity stripes per file under `parity_algo` 0 (RAID-5 XOR).
pub const PARITY_STRIPE_COUNT: usize = 1;

/// Most stripes (data plus parity) of one file: the tell file header's `stripe_count` bound.
pub const STRIPE_COUNT_MAX: usize = DATA_STRIPE_COUNT_MAX + PARITY_STRIPE_COUNT;

/// Largest stripe one upload (command 70) can carry: a request body is at most 65,535 bytes
/// (its size is a u16), of which 48 are the preamble, 38 the upload fields (GUID 16, locker
/// code 16, file type 1, storage duration 1, data length 4) and 2 the terminator.
///
/// Must equal `qmail_wire::limits::STRIPE_SIZE_BYTES_MAX`; the lead adds the cross-crate
/// compile-time assert once the wire crate has landed.
pub const STRIPE_SIZE_BYTES_MAX: u64 = 65_447;

/// Largest file the client can send: every data stripe full, at the widest stripe set.
pub const FILE_SIZE_BYTES_MAX: u64 = DATA_STRIPE_COUNT_MAX as u64 * STRIPE_SIZE_BYTES_MAX;

const _: () = assert!(DATA_STRIPE_COUNT_MIN >= 1);
const _: () = assert!(DATA_STRIPE_COUNT_MIN <= DATA_STRIPE_COUNT_DEFAULT);
const _: () = assert!(DATA_STRIPE_COUNT_DEFAULT <= DATA_STRIPE_COUNT_MAX);
// The tell file header bounds stripe_count to 1..=32.
const _: () = assert!(STRIPE_COUNT_MAX <= 32);
// A data stripe count must fit the u8 the client keeps it in.
const _: () = assert!(DATA_STRIPE_COUNT_MAX <= u8::MAX as usize);
// The striping kernels pad a row of one bit per data stripe to a 32-bit lane.
const _: () = assert!(DATA_STRIPE_COUNT_MAX <= 32);
const _: () = assert!(STRIPE_SIZE_BYTES_MAX == 65_535 - 48 - 38 - 2);
// The tell's total_file_size (u32) can hold the size of any file the client sends.
const _: () = assert!(FILE_SIZE_BYTES_MAX <= u32::MAX as u64);
// The upload's data_length (u32) can hold any stripe.
const _: () = assert!(STRIPE_SIZE_BYTES_MAX <= u32::MAX as u64);

// ---------------------------------------------------------------------------------------------
// Reed–Solomon striping (`parity_algo` 1, module `rs`): N data stripes plus k parity stripes.
// ---------------------------------------------------------------------------------------------

/// Fewest parity stripes under `parity_algo` 1 (Reed–Solomon over GF(2^8)).
pub const RS_PARITY_STRIPE_COUNT_MIN: usize = 1;

/// Most stripes (N data plus k parity) under `parity_algo` 1: the tell's `stripe_count` bound.
pub const RS_STRIPE_COUNT_MAX: usize = STRIPE_COUNT_MAX;

/// Most parity stripes under `parity_algo` 1: every stripe but the one data stripe a file
/// needs at least. Any given N allows k up to `RS_STRIPE_COUNT_MAX - N`.
pub const RS_PARITY_STRIPE_COUNT_MAX: usize = RS_STRIPE_COUNT_MAX - DATA_STRIPE_COUNT_MIN;

/// Parity stripes a caller picks when it has no reason to choose: 7 data + 2 parity survive
/// any two lost servers with 9 of the 25 RAIDAs.
pub const RS_PARITY_STRIPE_COUNT_DEFAULT: usize = 2;

/// Elements of GF(2^8), the field the Reed–Solomon code works in. The Cauchy matrix behind it
/// needs N + k distinct elements, one per stripe.
pub const GF_ELEMENT_COUNT: usize = 256;

const _: () = assert!(RS_PARITY_STRIPE_COUNT_MIN >= 1);
const _: () = assert!(RS_PARITY_STRIPE_COUNT_MIN <= RS_PARITY_STRIPE_COUNT_DEFAULT);
const _: () = assert!(RS_PARITY_STRIPE_COUNT_DEFAULT <= RS_PARITY_STRIPE_COUNT_MAX);
// The smallest file shape (one data stripe) can take every allowed parity count.
const _: () = assert!(DATA_STRIPE_COUNT_MIN + RS_PARITY_STRIPE_COUNT_MAX <= RS_STRIPE_COUNT_MAX);
// The widest data stripe count still takes at least one parity stripe.
const _: () = assert!(DATA_STRIPE_COUNT_MAX + RS_PARITY_STRIPE_COUNT_MIN <= RS_STRIPE_COUNT_MAX);
// N + k fits the tell's stripe_count (1..=32) and the field has an element per stripe.
const _: () = assert!(RS_STRIPE_COUNT_MAX <= qmail_wire::limits::STRIPE_COUNT_MAX);
const _: () = assert!(RS_STRIPE_COUNT_MAX <= GF_ELEMENT_COUNT);
const _: () = assert!(GF_ELEMENT_COUNT == u8::MAX as usize + 1);
// The default shape can be placed on distinct RAIDAs.
const _: () = assert!(DATA_STRIPE_COUNT_DEFAULT + RS_PARITY_STRIPE_COUNT_DEFAULT <= RAIDA_COUNT);

// ---------------------------------------------------------------------------------------------
// Network, retries and placement: the bounds `Config` is validated against.
// ---------------------------------------------------------------------------------------------

/// Number of RAIDA servers, indices 0–24. A directory names exactly this many.
pub const RAIDA_COUNT: usize = 25;

/// Most data stripes the sender can place: every stripe of a file goes to a distinct RAIDA
/// (one RAIDA keeps one stripe per (GUID, file_type)), so N + 1 ≤ 25.
pub const DATA_STRIPE_COUNT_PLACEABLE_MAX: usize = RAIDA_COUNT - PARITY_STRIPE_COUNT;

/// Default bound on one TCP connect.
pub const CONNECT_TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// Default bound on writing one request and on each read of its reply (header, then body).
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// Largest connect or request timeout a config may set (one hour).
pub const TIMEOUT_MS_MAX: u64 = 3_600_000;

/// The server's default long-poll timeout (`ping_timeout_s`, DECISIONS.md).
pub const SERVER_PING_TIMEOUT_S_DEFAULT: u64 = 900;

/// Margin by which the client's ping read timeout exceeds the server's long poll, so that a
/// parked ping is answered (250, 17 or 245) before the client gives up on the connection.
pub const PING_READ_TIMEOUT_MARGIN_S: u64 = 60;

/// Default bound on waiting for a ping's reply header.
pub const PING_READ_TIMEOUT_S_DEFAULT: u64 =
    SERVER_PING_TIMEOUT_S_DEFAULT + PING_READ_TIMEOUT_MARGIN_S;

/// Largest ping read timeout a config may set (one day).
pub const PING_READ_TIMEOUT_S_MAX: u64 = 86_400;

/// Default retries (after the first attempt) of an idempotent request: upload, download,
/// peek, echo. Each retry uses a fresh connection, nonce and challenge.
pub const RETRIES_MAX_DEFAULT: u32 = 3;

/// Most retries a config may set for one request.
pub const RETRIES_MAX_LIMIT: u32 = 16;

/// Default first backoff before a retry; it doubles per retry up to the backoff maximum.
pub const RETRY_BACKOFF_MS_DEFAULT: u64 = 200;

/// Default cap on one backoff.
pub const RETRY_BACKOFF_MS_MAX_DEFAULT: u64 = 5_000;

/// Default number of requests one send or download keeps in flight at once.
pub const CONCURRENCY_DEFAULT: usize = 8;

/// Most requests in flight at once: turmoil panics past 64 pending connects to one listener
/// (`tcp_capacity`), and a client never needs more than one per stripe of a file set.
pub const CONCURRENCY_MAX: usize = 32;

/// First attachment `file_type` (0x0A); attachments count up from here to 0xFF.
pub const FILE_TYPE_ATTACHMENT_FIRST: u8 = 0x0A;

/// Most attachments one email can carry: file types 0x0A..=0xFF.
pub const ATTACHMENTS_PER_EMAIL_MAX: usize = (u8::MAX - FILE_TYPE_ATTACHMENT_FIRST) as usize + 1;

/// Most recipients one tell request names (`address_count` is one byte); a beacon with more
/// recipients gets several tells.
pub const RECIPIENTS_PER_TELL_MAX: usize = u8::MAX as usize;

/// Largest profile (identity + directory + config) TOML file the client reads.
pub const PROFILE_FILE_SIZE_BYTES_MAX: usize = 1 << 20;

/// Largest download page the client accepts (the server's fixed 256 KiB page).
pub const PAGE_SIZE_BYTES: usize = 262_144;

const _: () = assert!(RAIDA_COUNT == qmail_wire::limits::RAIDA_COUNT);
const _: () = assert!(STRIPE_SIZE_BYTES_MAX == qmail_wire::limits::STRIPE_SIZE_BYTES_MAX as u64);
const _: () = assert!(PAGE_SIZE_BYTES == qmail_wire::limits::PAGE_SIZE_BYTES);
const _: () = assert!(STRIPE_COUNT_MAX == qmail_wire::limits::STRIPE_COUNT_MAX);
const _: () = assert!(DATA_STRIPE_COUNT_DEFAULT <= DATA_STRIPE_COUNT_PLACEABLE_MAX);
const _: () = assert!(DATA_STRIPE_COUNT_PLACEABLE_MAX <= DATA_STRIPE_COUNT_MAX);
// A whole stripe always fits one download page, so a stripe is one page (the last).
const _: () = assert!(STRIPE_SIZE_BYTES_MAX < PAGE_SIZE_BYTES as u64);
const _: () = assert!(PING_READ_TIMEOUT_S_DEFAULT > SERVER_PING_TIMEOUT_S_DEFAULT);
const _: () = assert!(PING_READ_TIMEOUT_S_DEFAULT <= PING_READ_TIMEOUT_S_MAX);
const _: () = assert!(REQUEST_TIMEOUT_MS_DEFAULT / 1000 < PING_READ_TIMEOUT_S_DEFAULT);
const _: () = assert!(CONNECT_TIMEOUT_MS_DEFAULT <= TIMEOUT_MS_MAX);
const _: () = assert!(REQUEST_TIMEOUT_MS_DEFAULT <= TIMEOUT_MS_MAX);
const _: () = assert!(RETRIES_MAX_DEFAULT <= RETRIES_MAX_LIMIT);
const _: () = assert!(RETRY_BACKOFF_MS_DEFAULT <= RETRY_BACKOFF_MS_MAX_DEFAULT);
const _: () = assert!(CONCURRENCY_DEFAULT >= 1 && CONCURRENCY_DEFAULT <= CONCURRENCY_MAX);
const _: () = assert!(CONCURRENCY_MAX < 64);
// Body plus attachments fit the manifest's one-byte file_count.
const _: () = assert!(ATTACHMENTS_PER_EMAIL_MAX < qmail_wire::limits::FILES_PER_MANIFEST_MAX);
const _: () = assert!(FILE_TYPE_ATTACHMENT_FIRST == qmail_wire::tell::FILE_TYPE_ATTACHMENT_FIRST);
const _: () = assert!(RECIPIENTS_PER_TELL_MAX == qmail_wire::limits::RECIPIENTS_PER_TELL_MAX);
