//! Every bound the simulator's configuration and checkers rely on, in one place.
//!
//! Protocol facts (counts, offsets, statuses, server bounds) are not restated here: they are
//! taken from their one source — `qmail_wire` for the wire, `raida_server` for the server —
//! narrowed to the types the simulator uses, with compile-time asserts that the narrowing
//! loses nothing. The one exception is the checkers' own reading of the tell page (the 5%
//! `total_file_size` slack), kept apart from the server's code on purpose: a checker that
//! shared the server's arithmetic could not catch a bug in it. The simulator's own bounds
//! follow, and the asserts at the bottom keep all of them consistent.

use qmail_wire::body::StorageDuration;
use qmail_wire::limits as wire;
use qmail_wire::Status;
use raida_server::limits as server;

/// The fixed start of simulated time: 2026-01-01T00:00:00Z as Unix seconds. The world
/// passes it to `turmoil::Builder::epoch`; every host clock is this plus elapsed sim time.
pub const SIM_EPOCH_UNIX_S: i64 = 1_767_225_600;
/// [`SIM_EPOCH_UNIX_S`] in microseconds.
pub const SIM_EPOCH_UNIX_US: i64 = SIM_EPOCH_UNIX_S * US_PER_S_I64;

/// Microseconds in one second.
pub const US_PER_S: u64 = 1_000_000;
/// [`US_PER_S`] as a signed number, for clock arithmetic.
pub const US_PER_S_I64: i64 = 1_000_000;
/// Microseconds in one millisecond.
pub const US_PER_MS: u64 = 1_000;
/// Parts per million: the unit of clock drift.
pub const PPM_PER_UNIT: i64 = 1_000_000;

/// RAIDA servers in a full network (indices 0..=24).
pub const RAIDA_COUNT_MAX: u8 = wire::RAIDA_COUNT as u8;
/// Stripes of one file the tell's file header can describe (`stripe_count` 1..=32).
pub const STRIPE_COUNT_MAX: u8 = wire::STRIPE_COUNT_MAX as u8;
/// Data stripes of one file: one parity stripe must still fit in [`STRIPE_COUNT_MAX`].
pub const DATA_STRIPES_MAX: u8 = STRIPE_COUNT_MAX - 1;
/// Data stripes per file when a scenario does not say (DECISIONS.md: typically 7).
pub const DATA_STRIPES_DEFAULT: u8 = 7;
/// Data stripes one email may draw (`workload.data_stripes_max`): every stripe of a file goes
/// to its own RAIDA, so N plus at least one parity stripe fit the 25 RAIDAs.
pub const DATA_STRIPES_PLACEABLE_MAX: u8 =
    qmail_client::limits::DATA_STRIPE_COUNT_PLACEABLE_MAX as u8;
/// Fewest Reed–Solomon parity stripes the workload draws per email (one would be XOR's
/// strength under another name).
pub const RS_PARITY_STRIPES_MIN: u8 = 2;
/// Most Reed–Solomon parity stripes `workload.rs_parity_max` may ask for.
pub const RS_PARITY_STRIPES_MAX: u8 = 8;
/// Revisions one email may send (`workload.revisions_max`, edits 0..revisions).
pub const REVISIONS_MAX: u8 = 16;
/// Largest stripe one upload request can carry (DECISIONS.md: 65,535 − 48 − 38 − 2).
pub const STRIPE_SIZE_BYTES_MAX: u32 = wire::STRIPE_SIZE_BYTES_MAX as u32;

/// Recipients of one tell (`address_count` is one byte and must be > 0).
pub const RECIPIENTS_MAX: u8 = wire::RECIPIENTS_PER_TELL_MAX as u8;
/// Attachments of one email the workload may generate (file types 0x0A, 0x0B, ...).
pub const ATTACHMENTS_MAX: u8 = 32;
/// Mailboxes one scenario may create.
pub const MAILBOXES_MAX: u32 = 100_000;
/// Devices polling one mailbox.
pub const DEVICES_PER_MAILBOX_MAX: u16 = 64;
/// Client hosts (turmoil cost grows with the cube of the host count; see the turmoil notes).
pub const CLIENT_HOSTS_MAX: u16 = 16;
/// Emails one scenario may send.
pub const EMAILS_MAX: u32 = 1_000_000;
/// Seeds in one scenario's default list.
pub const SEEDS_COUNT_MAX: usize = 100_000;

/// Simulation tick bounds, milliseconds.
pub const TICK_MS_MIN: u32 = 1;
/// See [`TICK_MS_MIN`].
pub const TICK_MS_MAX: u32 = 1_000;
/// Longest safety phase, seconds (one simulated day).
pub const DURATION_S_MAX: u32 = 86_400;
/// Longest healed-phase bound, seconds.
pub const HEAL_S_MAX: u32 = 86_400;
/// turmoil's pending-connect capacity per listener, bounds.
pub const TCP_CAPACITY_MIN: u32 = 1;
/// See [`TCP_CAPACITY_MIN`].
pub const TCP_CAPACITY_MAX: u32 = 1 << 20;

/// Largest per-host clock offset a scenario may ask for, seconds.
pub const CLOCK_SKEW_S_MAX: u32 = 86_400;
/// Largest per-host clock drift a scenario may ask for, parts per million.
pub const CLOCK_DRIFT_PPM_MAX: u32 = 100_000;
/// Smallest magnitude of one generated clock step, seconds.
pub const CLOCK_STEP_S_MIN: u32 = 30;
/// Largest magnitude of one generated clock step, seconds: three tell windows, so most
/// steps jump across the 60-second timestamp window.
pub const CLOCK_STEP_S_MAX: u32 = 180;
/// Largest one-way link latency, milliseconds.
pub const LATENCY_MS_MAX: u32 = 60_000;
/// Largest crash rate, crashes per host per simulated minute.
pub const CRASH_RATE_PER_HOST_PER_MIN_MAX: f64 = 60.0;
/// Largest malformed-request rate, requests per simulated minute across the network.
pub const MALFORMED_REQUESTS_PER_MIN_MAX: f64 = 6_000.0;
/// How old a malformed stale tell's timestamps are, seconds: a day, far outside any tell
/// window a scenario sets.
pub const MALFORMED_STALE_S: u32 = 86_400;

/// How long the simulated clients ask the RAIDAs to keep each stripe (upload
/// `storage_duration`): the end-of-run expiry audit reads every stripe this long after now.
pub const SIM_STORAGE_DURATION: StorageDuration = StorageDuration::Month;
/// The expiry audit reads a stripe this long before and after its expected expiry, seconds
/// (three days): wider than the longest run, drift included, plus a clock step, so the
/// server's clock at upload time cannot move the expiry past either read.
pub const EXPIRY_AUDIT_MARGIN_S: u64 = 3 * 86_400;

/// Server setting bounds (DECISIONS.md names and defaults).
pub const TELL_SKEW_S_DEFAULT: u32 = wire::TELL_SKEW_S_DEFAULT as u32;

/// Tell status codes the checkers reason about.
pub const STATUS_SUCCESS: u8 = Status::Success.code();
/// Field validation failed, including a timestamp outside the window.
pub const STATUS_INVALID_PARAMETER: u8 = Status::InvalidParameter.code();

/// Tell record (file header) layout facts used by the checkers.
pub const FILE_HEADER_SIZE_BYTES: usize = wire::FILE_HEADER_SIZE_BYTES;
/// `total_file_size` occupies file-header bytes 46..50 (big-endian u32).
pub const TOTAL_FILE_SIZE_OFFSET: usize = server::TOTAL_FILE_SIZE_OFFSET;
/// End (exclusive) of `total_file_size`.
pub const TOTAL_FILE_SIZE_END: usize = TOTAL_FILE_SIZE_OFFSET + server::TOTAL_FILE_SIZE_SIZE_BYTES;
/// `edit_sequence` is file-header byte 57.
pub const EDIT_SEQUENCE_OFFSET: usize = server::EDIT_SEQUENCE_OFFSET;
/// The beacon overwrites `total_file_size` only when the sender's value is more than this
/// many percent below its estimate (the tell page; the checkers' own reading, see above).
pub const TOTAL_FILE_SIZE_SLACK_PERCENT: u64 = 5;

/// World timing (the harness and the simulated clients). A crashed RAIDA stays down for a
/// seeded time in this range, seconds, before the world restarts it.
pub const CRASH_DOWNTIME_S_MIN: u32 = 1;
/// See [`CRASH_DOWNTIME_S_MIN`].
pub const CRASH_DOWNTIME_S_MAX: u32 = 10;
/// A partition lasts a seeded time in this range, seconds, before the world repairs it.
pub const PARTITION_S_MIN: u32 = 2;
/// See [`PARTITION_S_MIN`].
pub const PARTITION_S_MAX: u32 = 15;
/// A lost or corrupted stripe is damaged within this many seconds of being stored.
pub const STRIPE_FAULT_DELAY_S_MAX: u32 = 5;
/// Largest occurrence count a crash-at-step plan is armed at (geometric draws are capped).
pub const CRASH_STEP_OCCURRENCE_MAX: u64 = 1_000_000;
/// A revision is sent this many seconds after the revision before it, bounds.
pub const REVISION_DELAY_S_MIN: u32 = 1;
/// See [`REVISION_DELAY_S_MIN`].
pub const REVISION_DELAY_S_MAX: u32 = 10;
/// The adversary replays a captured tell this many seconds after it was sent, at least; at
/// most `faults.replay_delay_s_max`.
pub const REPLAY_DELAY_S_MIN: u32 = 1;
/// `faults.replay_delay_s_max` when a scenario does not say: under the default tell window,
/// so every replay passes the timestamp check (a scenario sets more to send stale replays
/// the beacon must refuse with 198).
pub const REPLAY_DELAY_S_MAX_DEFAULT: u32 = 45;
/// Largest `faults.replay_delay_s_max`: five default tell windows.
pub const REPLAY_DELAY_S_LIMIT: u32 = 300;
/// A split-timestamp tell's routing timestamp differs from its file-header timestamp by at
/// most this many tell windows (`faults.timestamp_split_fraction`).
pub const TIMESTAMP_SPLIT_WINDOWS_MAX: u32 = 2;
/// A revision burst sends each revision at most this long after the one before, milliseconds.
pub const REVISION_BURST_MS_MAX: u32 = 1_000;
/// Bounds of `workload.device_outage_s_min` and `device_outage_s_max`, seconds.
pub const DEVICE_OUTAGE_S_LIMIT: u32 = 3_600;
/// Largest `workload.device_slow_factor`: how many times longer a slow device pauses.
pub const DEVICE_SLOW_FACTOR_MAX: u32 = 20;
/// A peek device polls again after a seeded pause in this range, milliseconds.
pub const PEEK_INTERVAL_MS_MIN: u32 = 500;
/// See [`PEEK_INTERVAL_MS_MIN`].
pub const PEEK_INTERVAL_MS_MAX: u32 = 3_000;
/// A device pauses this long after a failed poll before the next one, milliseconds.
pub const POLL_FAILURE_BACKOFF_MS: u32 = 1_000;
/// A device retries a failed download after this many seconds.
pub const DOWNLOAD_RETRY_S: u32 = 5;
/// Downloads of one file a device attempts before it gives up for good.
pub const DOWNLOAD_ATTEMPTS_MAX: u32 = 64;
/// A download attempt begun in the safety phase may end (and fail) this long after the
/// heal; `exact_reassembly` still excuses such a failure by the faults before the heal.
/// A real failure repeats every `DOWNLOAD_RETRY_S` and is judged once past this grace.
pub const HEAL_DOWNLOAD_GRACE_S: u32 = 30;
/// The history's room reserved before a run: events per email and per device (storm seed 0
/// records 467 per email, storm-10k 337). Reserved, not touched: an untouched page costs no
/// memory, and a history that outgrows it grows as before. Grown by doubling, storm's
/// 700,000 events (90 MB) were copied ~20 times into fresh pages (4% of a storm seed's
/// profile on huge pages; 2.7% less CPU over 14 alternated pairs once reserved).
pub const HISTORY_EVENTS_PER_EMAIL_HINT: usize = 512;
/// See [`HISTORY_EVENTS_PER_EMAIL_HINT`].
pub const HISTORY_EVENTS_PER_DEVICE_HINT: usize = 64;
/// The most events reserved up front: 4 Mi events, 512 MiB of address space at 128 bytes
/// each (storm-10k's 3.4 million fit).
pub const HISTORY_EVENTS_RESERVED_MAX: usize = 1 << 22;
/// How often each RAIDA's disk-maintenance task looks for work, milliseconds.
pub const MAINTENANCE_POLL_MS: u32 = 50;
/// How often the healed phase checks whether every expected delivery is done, milliseconds.
pub const QUIESCENCE_CHECK_MS: u32 = 1_000;
/// The client's ping read timeout exceeds the beacon's ping timeout by this much, seconds.
pub const PING_READ_MARGIN_S: u32 = 30;
/// Balance of every simulated locker: never the limiting factor.
pub const LOCKER_BALANCE: u64 = 1 << 40;
/// Request and reply headers are this long on the wire.
pub const WIRE_HEADER_SIZE_BYTES: usize = wire::HEADER_SIZE_BYTES;
/// Request header bytes 22..24: the body size, big-endian (the server's framing offset).
pub const REQUEST_BODY_SIZE_OFFSET: usize = raida_server::front::BODY_SIZE_OFFSET;
/// `ping_wake`: a parked ping must answer a tell accepted into its inbox within this long,
/// seconds (on a healed network; one wake-up and one rescan), plus one tick of the slowest
/// allowed turmoil clock ([`PING_WAKE_BOUND_US`]).
pub const PING_WAKE_S: u32 = 2;
/// [`PING_WAKE_S`] plus the longest tick, microseconds.
pub const PING_WAKE_BOUND_US: u64 = PING_WAKE_S as u64 * US_PER_S + TICK_MS_MAX as u64 * US_PER_MS;

const _: () = assert!(DATA_STRIPES_DEFAULT >= 1 && DATA_STRIPES_DEFAULT <= DATA_STRIPES_MAX);
const _: () = assert!(DATA_STRIPES_DEFAULT < RAIDA_COUNT_MAX);
const _: () = assert!((DATA_STRIPES_MAX as u16) < STRIPE_COUNT_MAX as u16);
const _: () = assert!(TOTAL_FILE_SIZE_END <= FILE_HEADER_SIZE_BYTES);
const _: () = assert!(EDIT_SEQUENCE_OFFSET < FILE_HEADER_SIZE_BYTES);
const _: () = assert!(TOTAL_FILE_SIZE_END <= EDIT_SEQUENCE_OFFSET);
const _: () = assert!(CLOCK_STEP_S_MIN <= CLOCK_STEP_S_MAX);
const _: () = assert!(CLOCK_STEP_S_MAX > TELL_SKEW_S_DEFAULT);
const _: () = assert!(MALFORMED_STALE_S > 10 * TELL_SKEW_S_DEFAULT);
const _: () = assert!(MALFORMED_REQUESTS_PER_MIN_MAX > 0.0);
// The narrowed protocol facts lose nothing.
const _: () = assert!(wire::RAIDA_COUNT <= u8::MAX as usize);
const _: () = assert!(wire::STRIPE_COUNT_MAX <= u8::MAX as usize);
const _: () = assert!(wire::STRIPE_SIZE_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(wire::RECIPIENTS_PER_TELL_MAX <= u8::MAX as usize);
const _: () = assert!(wire::TELL_SKEW_S_DEFAULT <= u32::MAX as u64);
// The server and the wire agree where both state a fact.
const _: () = assert!(server::RAIDA_COUNT == wire::RAIDA_COUNT);
const _: () = assert!(server::TELL_FILE_HEADER_SIZE_BYTES == wire::FILE_HEADER_SIZE_BYTES);
const _: () = assert!(server::STRIPE_SIZE_BYTES_MAX == wire::STRIPE_SIZE_BYTES_MAX);
const _: () = assert!(TICK_MS_MIN <= TICK_MS_MAX);
const _: () = assert!(TCP_CAPACITY_MIN <= TCP_CAPACITY_MAX);
const _: () = assert!(SIM_EPOCH_UNIX_S > 0);
// Elapsed sim time of a whole run (safety + healed) in µs fits an i64 with room for drift.
const _: () =
    assert!(((DURATION_S_MAX as u64 + HEAL_S_MAX as u64) * US_PER_S) < (i64::MAX as u64) / 4);
// The expiry audit's margin covers the longest run at the fastest drift plus a clock step,
// and both of its reads fall inside the storage duration's reach (after now).
const _: () = assert!(
    (DURATION_S_MAX as u64 + HEAL_S_MAX as u64) * (1_000_000 + CLOCK_DRIFT_PPM_MAX as u64)
        / 1_000_000
        + (CLOCK_STEP_S_MAX as u64)
        < EXPIRY_AUDIT_MARGIN_S
);
const _: () = assert!(match SIM_STORAGE_DURATION.duration_s() {
    Some(duration_s) => duration_s > EXPIRY_AUDIT_MARGIN_S,
    None => false,
});
const _: () = assert!(CRASH_DOWNTIME_S_MIN >= 1 && CRASH_DOWNTIME_S_MIN <= CRASH_DOWNTIME_S_MAX);
const _: () = assert!(PARTITION_S_MIN >= 1 && PARTITION_S_MIN <= PARTITION_S_MAX);
const _: () = assert!(REVISION_DELAY_S_MIN >= 1 && REVISION_DELAY_S_MIN <= REVISION_DELAY_S_MAX);
const _: () = assert!(REPLAY_DELAY_S_MIN <= REPLAY_DELAY_S_MAX_DEFAULT);
const _: () = assert!(REPLAY_DELAY_S_MAX_DEFAULT <= REPLAY_DELAY_S_LIMIT);
// The default keeps every replay inside the default window; the limit reaches far past it.
const _: () = assert!(REPLAY_DELAY_S_MAX_DEFAULT < TELL_SKEW_S_DEFAULT);
const _: () = assert!(REPLAY_DELAY_S_LIMIT > 2 * TELL_SKEW_S_DEFAULT);
const _: () = assert!(TIMESTAMP_SPLIT_WINDOWS_MAX >= 1);
const _: () =
    assert!(REVISION_BURST_MS_MAX as u64 * US_PER_MS <= REVISION_DELAY_S_MIN as u64 * US_PER_S);
const _: () = assert!(DATA_STRIPES_DEFAULT <= DATA_STRIPES_PLACEABLE_MAX);
const _: () = assert!(DATA_STRIPES_PLACEABLE_MAX <= DATA_STRIPES_MAX);
const _: () = assert!(RS_PARITY_STRIPES_MIN >= 2 && RS_PARITY_STRIPES_MIN <= RS_PARITY_STRIPES_MAX);
const _: () =
    assert!(RS_PARITY_STRIPES_MAX as usize <= qmail_client::limits::RS_PARITY_STRIPE_COUNT_MAX);
// The narrowest email still places the most parity stripes.
const _: () = assert!(RS_PARITY_STRIPES_MAX < RAIDA_COUNT_MAX);
// Edits 0..REVISIONS_MAX fit edit_sequence (one byte).
const _: () = assert!(REVISIONS_MAX >= 2 && (REVISIONS_MAX as u16) <= u8::MAX as u16 + 1);
const _: () = assert!(DEVICE_SLOW_FACTOR_MAX >= 1 && DEVICE_OUTAGE_S_LIMIT >= 1);
const _: () = assert!(PEEK_INTERVAL_MS_MIN >= 1 && PEEK_INTERVAL_MS_MIN <= PEEK_INTERVAL_MS_MAX);
const _: () = assert!(CRASH_STEP_OCCURRENCE_MAX >= 1);
const _: () = assert!(DOWNLOAD_ATTEMPTS_MAX >= 1 && DOWNLOAD_RETRY_S >= 1);
// A persistent download failure outlives the grace by many retries.
const _: () = assert!(HEAL_DOWNLOAD_GRACE_S < DOWNLOAD_ATTEMPTS_MAX * DOWNLOAD_RETRY_S / 2);
const _: () = assert!(MAINTENANCE_POLL_MS >= 1 && QUIESCENCE_CHECK_MS >= 1);
const _: () = assert!(REQUEST_BODY_SIZE_OFFSET + 2 <= WIRE_HEADER_SIZE_BYTES);
const _: () = assert!(PING_WAKE_S >= 1 && PING_WAKE_BOUND_US > PING_WAKE_S as u64 * US_PER_S);
const _: () = assert!(HISTORY_EVENTS_PER_EMAIL_HINT >= 1 && HISTORY_EVENTS_RESERVED_MAX >= 1);
