//! Server state that must survive a restart besides the inboxes and stripes: the locker
//! ledger (what uploads spent) and the state of active protocol extensions.
//!
//! Layout below the data directory:
//!
//! ```text
//! state/ledger.state                 ledger snapshot: lockers differing from provisioning
//! state/ledger.journal               ledger journal: balances written since the snapshot
//! state/extensions/{name}.state      one extension's snapshot (only extensions that keep one)
//! ```
//!
//! Each `.state` file is replaced atomically the way the stores publish: a hidden temp file
//! (`.tmp.PID.TIME.SEQ.…`) created exclusively, written, fsynced, closed, renamed over the
//! final name, then the directory fsynced (always: an acknowledged upload's fee must not come
//! back after a power loss). The journal is appended to in place and fsynced (its creation
//! also fsyncs the directory). Every operation goes through the injected
//! [`Fs`](crate::fs::Fs), so the simulator's disk sees these files too; none is reported as a
//! [`Step`](crate::fs::Step) (the crash hook's step list, which scenarios name, is unchanged).
//!
//! Each file is self-describing, so a torn or foreign file is refused with its path at start,
//! never read as a zero balance or an empty state:
//!
//! | offset | size | field                                          |
//! |--------|------|------------------------------------------------|
//! | 0      | 4    | magic: `QLDG` (ledger) or `QEXT` (extension)    |
//! | 4      | 1    | format version, 1                              |
//! | 5      | 3    | zero                                           |
//! | 8      | 4    | payload length, big-endian                     |
//! | 12     | 4    | CRC-32 (IEEE) of the payload, big-endian       |
//! | 16     | …    | payload                                        |
//!
//! The ledger payload is a list of 24-byte entries, sorted by locker code: the 16-byte code
//! and the balance (u64, big-endian). It holds the lockers whose balance differed from the
//! provisioned one when it was written. An extension's payload is whatever its
//! [`ServerExtension::state`](crate::extension::ServerExtension::state) returned.
//!
//! ## The ledger journal
//!
//! An upload makes its fee durable before it is answered. Rewriting the snapshot for that
//! costs every locker that differs; instead [`StateStore::persist_ledger`] appends the lockers
//! written since the last append (one batch) to `ledger.journal` and fsyncs it: O(lockers
//! written). The journal's header has the state header's shape:
//!
//! | offset | size | field                                          |
//! |--------|------|------------------------------------------------|
//! | 0      | 4    | magic: `QLJR`                                  |
//! | 4      | 1    | format version, 1                              |
//! | 5      | 3    | zero                                           |
//! | 8      | 4    | record size, big-endian: 40                    |
//! | 12     | 4    | CRC-32 (IEEE) of bytes 0..12, big-endian       |
//! | 16     | …    | records, 40 bytes each                         |
//!
//! and each record is:
//!
//! | offset | size | field                                                         |
//! |--------|------|---------------------------------------------------------------|
//! | 0      | 16   | locker code                                                   |
//! | 16     | 8    | balance, big-endian (absolute, so a replay is idempotent)     |
//! | 24     | 8    | batch sequence, big-endian: 1 for the file's first, then +1   |
//! | 32     | 4    | records after this one in its batch, big-endian (0: the last) |
//! | 36     | 4    | CRC-32 (IEEE) of bytes 0..36, big-endian                      |
//!
//! A batch's records are in rising code order. At start the snapshot is read, then the
//! journal's whole batches are replayed over it in file order; the last batch, if torn (it
//! runs past the end of the file, or has a bad record and no later batch follows it), was
//! never acknowledged and is ignored. A bad record that a later batch follows, a bad header or
//! a foreign journal is refused like a bad snapshot. [`StateStore::recover_ledger`] then
//! compacts what it loaded (new snapshot, journal removed), so a run never appends after a
//! torn tail. At run time, once the journal passes
//! [`limits::LEDGER_JOURNAL_COMPACT_SIZE_BYTES`], a persist appends its batch, replaces the
//! snapshot with the lockers differing at that generation and removes the journal; why a crash
//! between those steps loses nothing is argued at [`StateStore::persist_ledger`]. If snapshot
//! replacements keep failing, the journal never grows past
//! [`limits::LEDGER_JOURNAL_SIZE_BYTES_MAX`] (what a load accepts): a persist that would pass
//! it compacts without appending, acknowledging only once the journal's removal is durable.
//! At start the files are the authority for every locker they name that provisioning still
//! lists (a locker no longer provisioned is ignored, with a warning).
//!
//! Writers are serialized by one async lock per file and carry a generation: the ledger's
//! changes are taken under the lock, so a later write always carries a later state, and a
//! writer whose change an earlier writer already made durable writes nothing (group commit).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{io_error, StoreError, StoreIo};
use crate::coins::{LockerCode, LockerLedger};
use crate::fs::FsFile;
use crate::limits;

/// Directory of the state files, below the data directory.
pub const STATE_DIR: &str = "state";
/// The ledger snapshot's file name.
pub const LEDGER_FILE_NAME: &str = "ledger.state";
/// The ledger journal's file name (appends since the snapshot).
pub const LEDGER_JOURNAL_FILE_NAME: &str = "ledger.journal";
/// Directory of the extensions' state files, below [`STATE_DIR`].
pub const EXTENSIONS_DIR: &str = "extensions";
/// Extension of every state file.
pub const STATE_FILE_EXTENSION: &str = "state";

/// Magic of the ledger file.
pub const LEDGER_MAGIC: [u8; 4] = *b"QLDG";
/// Magic of an extension's state file.
pub const EXTENSION_MAGIC: [u8; 4] = *b"QEXT";
/// Current state file format.
pub const STATE_FORMAT_VERSION: u8 = 1;
/// Magic of the ledger journal.
pub const LEDGER_JOURNAL_MAGIC: [u8; 4] = *b"QLJR";
/// Current ledger journal format.
pub const LEDGER_JOURNAL_FORMAT_VERSION: u8 = 1;

const HEADER: usize = limits::STATE_FILE_HEADER_SIZE_BYTES;
const LEDGER_ENTRY: usize = limits::LEDGER_ENTRY_SIZE_BYTES;
const JOURNAL_HEADER: usize = limits::LEDGER_JOURNAL_HEADER_SIZE_BYTES;
const JOURNAL_RECORD: usize = limits::LEDGER_JOURNAL_RECORD_SIZE_BYTES;
const _: () = assert!(HEADER == 4 + 1 + 3 + 4 + 4);
const _: () = assert!(LEDGER_ENTRY == limits::LOCKER_CODE_SIZE_BYTES + 8);
const _: () = assert!(JOURNAL_HEADER == 4 + 1 + 3 + 4 + 4);
const _: () = assert!(JOURNAL_RECORD == limits::LOCKER_CODE_SIZE_BYTES + 8 + 8 + 4 + 4);

/// Whether `name` can name an extension's state file: 1 to
/// [`limits::EXTENSION_NAME_SIZE_BYTES_MAX`] lowercase ASCII letters, digits and `_`.
pub fn extension_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::EXTENSION_NAME_SIZE_BYTES_MAX
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

fn check_extension_name(name: &str, path: PathBuf) -> Result<(), StoreError> {
    if extension_name_is_valid(name) {
        return Ok(());
    }
    Err(StoreError::CorruptState {
        path,
        reason: format!(
            "extension name {name:?} cannot name a state file (1 to {} of a-z, 0-9, _)",
            limits::EXTENSION_NAME_SIZE_BYTES_MAX
        ),
    })
}

/// `magic`'s header and `payload`.
fn encode_state(magic: [u8; 4], payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= limits::STATE_FILE_PAYLOAD_SIZE_BYTES_MAX);
    let payload_len = u32::try_from(payload.len()).expect("bounded by the payload maximum");
    let mut file = Vec::with_capacity(HEADER + payload.len());
    file.extend_from_slice(&magic);
    file.push(STATE_FORMAT_VERSION);
    file.extend_from_slice(&[0; 3]);
    file.extend_from_slice(&payload_len.to_be_bytes());
    file.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    assert_eq!(file.len(), HEADER);
    file.extend_from_slice(payload);
    file
}

/// The payload of a state file with `magic`, or why the file is not one.
fn decode_state(magic: [u8; 4], bytes: &[u8]) -> Result<&[u8], &'static str> {
    let header = bytes
        .get(..HEADER)
        .ok_or("shorter than its header (torn write)")?;
    if header.get(..4) != Some(&magic[..]) {
        return Err("bad magic (not this kind of state file)");
    }
    if header.get(4) != Some(&STATE_FORMAT_VERSION) {
        return Err("unknown format version");
    }
    if header
        .get(5..8)
        .is_some_and(|zero| zero.iter().any(|b| *b != 0))
    {
        return Err("reserved header bytes not zero");
    }
    let word = |offset: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            header.get(offset..offset + 4)?.try_into().ok()?,
        ))
    };
    let payload_len = word(8).ok_or("header")? as usize;
    let crc = word(12).ok_or("header")?;
    let payload = bytes.get(HEADER..).unwrap_or(&[]);
    if payload.len() != payload_len {
        return Err("payload length does not match the header (torn write)");
    }
    if crc32fast::hash(payload) != crc {
        return Err("payload CRC-32 mismatch");
    }
    Ok(payload)
}

/// The ledger payload: the entries of `changed`, in code order.
fn encode_ledger(changed: &[(LockerCode, u64)]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(changed.len() * LEDGER_ENTRY);
    for (code, balance) in changed {
        payload.extend_from_slice(code);
        payload.extend_from_slice(&balance.to_be_bytes());
    }
    assert_eq!(payload.len(), changed.len() * LEDGER_ENTRY);
    payload
}

fn decode_ledger(payload: &[u8]) -> Result<Vec<(LockerCode, u64)>, &'static str> {
    if !payload.len().is_multiple_of(LEDGER_ENTRY) {
        return Err("ledger payload is not a whole number of entries");
    }
    let mut entries: Vec<(LockerCode, u64)> = Vec::with_capacity(payload.len() / LEDGER_ENTRY);
    for entry in payload.chunks_exact(LEDGER_ENTRY) {
        let (code, balance) = entry.split_at(limits::LOCKER_CODE_SIZE_BYTES);
        let code: LockerCode = code.try_into().map_err(|_| "entry")?;
        let balance = u64::from_be_bytes(balance.try_into().map_err(|_| "entry")?);
        if entries.last().is_some_and(|(last, _)| *last >= code) {
            return Err("ledger entries not in strictly rising code order");
        }
        entries.push((code, balance));
    }
    Ok(entries)
}

/// The journal's header: magic, version, zero, record size, CRC-32 of the 12 bytes before.
fn journal_header() -> [u8; JOURNAL_HEADER] {
    let mut header = [0; JOURNAL_HEADER];
    header[..4].copy_from_slice(&LEDGER_JOURNAL_MAGIC);
    header[4] = LEDGER_JOURNAL_FORMAT_VERSION;
    let record_size = u32::try_from(JOURNAL_RECORD).expect("a record is 40 bytes");
    header[8..12].copy_from_slice(&record_size.to_be_bytes());
    let crc = crc32fast::hash(&header[..12]);
    header[12..].copy_from_slice(&crc.to_be_bytes());
    header
}

/// One journal record: a locker's balance as batch `sequence` made it durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JournalRecord {
    code: LockerCode,
    balance: u64,
    /// The batch (append) it belongs to: 1 for the journal's first, then 1 more per batch.
    sequence: u64,
    /// Records after this one in its batch (0: the batch's last).
    after_count: u32,
}

/// Batch `sequence`: one record per entry, in the entries' (code) order.
fn encode_batch(sequence: u64, entries: &[(LockerCode, u64)]) -> Vec<u8> {
    assert!(!entries.is_empty() && entries.len() <= limits::LEDGER_JOURNAL_BATCH_RECORDS_MAX);
    let mut bytes = Vec::with_capacity(entries.len() * JOURNAL_RECORD);
    for (index, (code, balance)) in entries.iter().enumerate() {
        let after_count = u32::try_from(entries.len() - 1 - index).expect("bounded batch");
        let start = bytes.len();
        bytes.extend_from_slice(code);
        bytes.extend_from_slice(&balance.to_be_bytes());
        bytes.extend_from_slice(&sequence.to_be_bytes());
        bytes.extend_from_slice(&after_count.to_be_bytes());
        let crc = crc32fast::hash(&bytes[start..]);
        bytes.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(bytes.len() - start, JOURNAL_RECORD);
    }
    bytes
}

/// The record in `bytes` (one record long), or `None` when its CRC-32 does not match.
fn decode_record(bytes: &[u8]) -> Option<JournalRecord> {
    let bytes: &[u8; JOURNAL_RECORD] = bytes.try_into().ok()?;
    let (body, crc) = bytes.split_at(JOURNAL_RECORD - 4);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return None;
    }
    let (code, rest) = body.split_at(limits::LOCKER_CODE_SIZE_BYTES);
    let word = |range: std::ops::Range<usize>| rest.get(range);
    Some(JournalRecord {
        code: code.try_into().ok()?,
        balance: u64::from_be_bytes(word(0..8)?.try_into().ok()?),
        sequence: u64::from_be_bytes(word(8..16)?.try_into().ok()?),
        after_count: u32::from_be_bytes(word(16..20)?.try_into().ok()?),
    })
}

/// What the journal holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct JournalScan {
    /// Every record of every whole batch, in file order (replay them in this order).
    entries: Vec<(LockerCode, u64)>,
    /// Whole batches.
    batch_count: u64,
    /// Whether bytes after the last whole batch were ignored: a torn, never acknowledged
    /// append (or creation).
    torn: bool,
}

/// Reads a journal, telling a torn tail (ignored) from damage before it (an error).
///
/// The rules: the journal is the header and whole batches; a batch is its records in rising
/// code order, all carrying the batch's sequence (1, 2, 3, … through the file) and counting
/// down the records after them to 0. An append writes one batch and fsyncs it before the
/// upload is answered, and the next batch is only written after that, so only the last batch
/// can be torn. A file shorter than the header (a creation that never became durable), a last
/// batch whose records run past the end of the file, and a batch with a bad record (CRC-32,
/// sequence, position or order) that no later batch follows are such a tail, ignored. A bad
/// record that a later batch follows (a record of a higher sequence with a good CRC-32), a
/// bad header or a foreign file is an error.
fn decode_journal(bytes: &[u8]) -> Result<JournalScan, String> {
    let mut scan = JournalScan::default();
    if bytes.len() > limits::LEDGER_JOURNAL_SIZE_BYTES_MAX {
        return Err(format!(
            "{} bytes, longer than any journal this server writes",
            bytes.len()
        ));
    }
    let Some(header) = bytes.get(..JOURNAL_HEADER) else {
        scan.torn = true;
        return Ok(scan);
    };
    if header.get(..4) != Some(&LEDGER_JOURNAL_MAGIC[..]) {
        return Err("bad magic (not a ledger journal)".to_string());
    }
    if header != journal_header() {
        return Err("unknown format version or damaged header (CRC-32)".to_string());
    }
    // Whether a whole record from `from` on belongs to a batch after `sequence`.
    let later_batch_follows = |from: usize, sequence: u64| {
        bytes
            .get(from..)
            .unwrap_or(&[])
            .chunks_exact(JOURNAL_RECORD)
            .filter_map(decode_record)
            .any(|record| record.sequence > sequence)
    };
    let damaged = |offset: usize, what: &str| {
        format!(
            "record at offset {offset} is damaged ({what}) and a later batch follows it: \
             not a torn append"
        )
    };
    let mut position = JOURNAL_HEADER;
    let mut sequence = 1u64;
    'batches: while position < bytes.len() {
        let first = bytes
            .get(position..position + JOURNAL_RECORD)
            .and_then(decode_record)
            .filter(|record| record.sequence == sequence);
        let Some(first) = first else {
            if later_batch_follows(position + JOURNAL_RECORD, sequence) {
                return Err(damaged(position, "CRC-32 or sequence"));
            }
            scan.torn = true;
            break;
        };
        let after_first = usize::try_from(first.after_count).unwrap_or(usize::MAX);
        let end = after_first
            .checked_add(1)
            .and_then(|count| count.checked_mul(JOURNAL_RECORD))
            .and_then(|len| len.checked_add(position))
            .filter(|end| *end <= bytes.len());
        let Some(end) = end else {
            // The last append did not reach the disk whole.
            scan.torn = true;
            break;
        };
        let batch_start = scan.entries.len();
        for (index, offset) in (position..end).step_by(JOURNAL_RECORD).enumerate() {
            let expected_after = after_first - index;
            let record = bytes
                .get(offset..offset + JOURNAL_RECORD)
                .and_then(decode_record)
                .filter(|record| {
                    record.sequence == sequence
                        && usize::try_from(record.after_count) == Ok(expected_after)
                        && scan.entries[batch_start..]
                            .last()
                            .is_none_or(|(last, _)| *last < record.code)
                });
            let Some(record) = record else {
                if later_batch_follows(offset + JOURNAL_RECORD, sequence) {
                    return Err(damaged(offset, "CRC-32, sequence, position or order"));
                }
                scan.entries.truncate(batch_start);
                scan.torn = true;
                break 'batches;
            };
            scan.entries.push((record.code, record.balance));
        }
        scan.batch_count += 1;
        sequence += 1;
        position = end;
    }
    Ok(scan)
}

/// What loading the ledger found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerLoad {
    /// Provisioned lockers the snapshot and the journal leave at a balance other than the
    /// provisioned one.
    pub restored_count: usize,
    /// Lockers the snapshot or the journal name that provisioning no longer lists (ignored).
    pub unprovisioned_count: usize,
    /// Whether there is a journal file.
    pub journal_found: bool,
    /// Whole batches replayed from the journal.
    pub journal_batch_count: u64,
    /// Whether the journal ended in a torn (never acknowledged) append, ignored.
    pub journal_torn: bool,
}

/// What the ledger's files hold: the snapshot with the journal replayed over it.
#[derive(Debug, Default)]
struct LedgerFiles {
    /// Every locker the snapshot or the journal names, with its last balance there.
    balances: BTreeMap<LockerCode, u64>,
    journal: Option<JournalScan>,
}

/// What one [`StateStore::persist_ledger`] needs from the live ledger, taken under its lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerChanges {
    /// The ledger's generation (bumped by every change).
    pub generation: u64,
    /// The lockers written since the last call (see [`LockerLedger::take_written`]), with
    /// their balance now, in code order: what the journal appends.
    pub written: Vec<(LockerCode, u64)>,
    /// When the persist asked for it (it compacts): every locker whose balance differs from
    /// provisioning, in code order, the new snapshot.
    pub differing: Option<Vec<(LockerCode, u64)>>,
}

/// The ledger's durability, under the persist lock.
#[derive(Debug)]
struct LedgerDurability {
    /// The ledger generation last made durable (0: the provisioned ledger, never written).
    generation: u64,
    /// Lockers taken from the ledger whose balance is not durable yet (an append failed):
    /// the next append carries them, with any newer balance.
    undurable: BTreeMap<LockerCode, u64>,
    journal: Journal,
}

/// Where the journal file stands.
#[derive(Debug)]
enum Journal {
    /// No journal file: the next append creates it exclusively and fsyncs the directory.
    Absent,
    /// A journal file whose first `durable_len_bytes` are acknowledged batches (0: none, the
    /// file is one whose creation failed), with no handle open. Bytes after that come from
    /// appends that failed; the next append writes batch `next_sequence` at
    /// `durable_len_bytes` and covers them all, since it carries every locker they carried
    /// (they stay in `undurable` until an append succeeds) and so is at least as long.
    Closed {
        durable_len_bytes: u64,
        next_sequence: u64,
    },
    /// Open for appending batch `next_sequence` at `len_bytes`; every byte before is durable.
    Open {
        file: Box<dyn FsFile>,
        len_bytes: u64,
        next_sequence: u64,
    },
}

impl Journal {
    /// Bytes of acknowledged batches (and header) in the journal file.
    fn durable_len_bytes(&self) -> u64 {
        match self {
            Journal::Absent => 0,
            Journal::Closed {
                durable_len_bytes, ..
            } => *durable_len_bytes,
            Journal::Open { len_bytes, .. } => *len_bytes,
        }
    }
}

/// The durable state of one server; see the module docs.
#[derive(Debug)]
pub struct StateStore {
    io: Arc<StoreIo>,
    dir: PathBuf,
    /// The ledger's durability; its lock serializes the ledger's writers.
    ledger: tokio::sync::Mutex<LedgerDurability>,
    /// Journal length at which a persist compacts
    /// ([`limits::LEDGER_JOURNAL_COMPACT_SIZE_BYTES`]; tests lower it).
    journal_compact_bytes: u64,
    /// Longest journal an append may leave ([`limits::LEDGER_JOURNAL_SIZE_BYTES_MAX`], what a
    /// load accepts; tests lower it).
    journal_size_bytes_max: u64,
    /// Per extension name, the state generation last made durable.
    extensions_persisted: tokio::sync::Mutex<BTreeMap<String, u64>>,
}

impl StateStore {
    /// State files below `dir` (an absolute host path, `{data}/state`).
    pub fn new(io: Arc<StoreIo>, dir: PathBuf) -> StateStore {
        assert!(dir.is_absolute(), "{}", dir.display());
        StateStore {
            io,
            dir,
            ledger: tokio::sync::Mutex::new(LedgerDurability {
                generation: 0,
                undurable: BTreeMap::new(),
                journal: Journal::Absent,
            }),
            journal_compact_bytes: limits::LEDGER_JOURNAL_COMPACT_SIZE_BYTES as u64,
            journal_size_bytes_max: limits::LEDGER_JOURNAL_SIZE_BYTES_MAX as u64,
            extensions_persisted: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The extensions' state directory.
    pub fn extensions_dir(&self) -> PathBuf {
        self.dir.join(EXTENSIONS_DIR)
    }

    /// The same store compacting the ledger journal once it is `bytes` long (tests).
    #[cfg(test)]
    fn with_journal_compact_bytes(self, bytes: u64) -> StateStore {
        StateStore {
            journal_compact_bytes: bytes,
            ..self
        }
    }

    /// The same store refusing appends that would make the journal longer than `bytes`.
    #[cfg(test)]
    fn with_journal_size_bytes_max(self, bytes: u64) -> StateStore {
        StateStore {
            journal_size_bytes_max: bytes,
            ..self
        }
    }

    /// The ledger snapshot file.
    pub fn ledger_path(&self) -> PathBuf {
        self.dir.join(LEDGER_FILE_NAME)
    }

    /// The ledger journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(LEDGER_JOURNAL_FILE_NAME)
    }

    /// The state file of extension `name` (see [`extension_name_is_valid`]).
    pub fn extension_path(&self, name: &str) -> PathBuf {
        self.extensions_dir()
            .join(format!("{name}.{STATE_FILE_EXTENSION}"))
    }

    /// Creates the state directories and syncs their parents (no step is reported).
    pub async fn init(&self) -> Result<(), StoreError> {
        for dir in [self.dir.clone(), self.extensions_dir()] {
            let existed = matches!(self.io.fs().metadata(&dir).await, Ok(meta) if meta.is_dir);
            if existed {
                continue;
            }
            self.io
                .fs()
                .create_dir_all(&dir)
                .await
                .map_err(io_error("create dir", &dir))?;
            if let Some(parent) = dir.parent() {
                self.io
                    .fs()
                    .sync_dir(parent)
                    .await
                    .map_err(io_error("fsync dir", parent))?;
            }
        }
        Ok(())
    }

    /// Reads the ledger's files, if there are any, into `ledger` (the provisioned balances):
    /// the snapshot, then the journal's whole batches replayed over it. Changes nothing on
    /// the disk (see [`StateStore::recover_ledger`] for the start).
    pub async fn load_ledger(&self, ledger: &mut LockerLedger) -> Result<LedgerLoad, StoreError> {
        let files = self.read_ledger().await?;
        Ok(self.apply_ledger(&files, ledger))
    }

    /// [`StateStore::load_ledger`], then, when there is a journal, a compaction of what was
    /// loaded: the snapshot is replaced by it and the journal removed, so this run's appends
    /// start a fresh journal (a torn tail is never appended after). Call once at start,
    /// before any [`StateStore::persist_ledger`].
    ///
    /// A crash in between loses nothing: the new snapshot holds exactly what the old one and
    /// the journal's whole batches give, so replaying that same journal over either gives the
    /// same balances.
    pub async fn recover_ledger(
        &self,
        ledger: &mut LockerLedger,
    ) -> Result<LedgerLoad, StoreError> {
        let mut durability = self.ledger.lock().await;
        let files = self.read_ledger().await?;
        let snapshot: Vec<(LockerCode, u64)> = files
            .balances
            .iter()
            .filter(|(code, balance)| ledger.balance(code) != Some(**balance))
            .map(|(code, balance)| (*code, *balance))
            .collect();
        let load = self.apply_ledger(&files, ledger);
        if files.journal.is_none() {
            return Ok(load);
        }
        assert!(
            matches!(durability.journal, Journal::Absent),
            "the ledger is recovered once, before any persist"
        );
        let bytes = encode_state(LEDGER_MAGIC, &encode_ledger(&snapshot));
        self.replace(&self.dir, LEDGER_FILE_NAME, &bytes).await?;
        self.remove_journal().await?;
        durability.journal = Journal::Absent;
        if load.journal_torn {
            tracing::info!(path = %self.journal_path().display(),
                "ledger journal ended in a torn append (never acknowledged); dropped");
        }
        Ok(load)
    }

    /// Removes the journal (gone already is fine) and fsyncs the state directory.
    async fn remove_journal(&self) -> Result<(), StoreError> {
        let path = self.journal_path();
        match self.io.fs().remove_file(&path).await {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error("remove ledger journal", &path)(error)),
        }
        self.io
            .fs()
            .sync_dir(&self.dir)
            .await
            .map_err(io_error("fsync state dir", &self.dir))
    }

    /// The snapshot and the journal, decoded and merged; a damaged one is an error naming it.
    async fn read_ledger(&self) -> Result<LedgerFiles, StoreError> {
        let mut files = LedgerFiles::default();
        let path = self.ledger_path();
        if let Some(bytes) = self.read_optional(&path).await? {
            let corrupt = |reason: &str| StoreError::CorruptState {
                path: path.clone(),
                reason: reason.to_string(),
            };
            let payload = decode_state(LEDGER_MAGIC, &bytes).map_err(corrupt)?;
            files.balances = decode_ledger(payload)
                .map_err(corrupt)?
                .into_iter()
                .collect();
        }
        let path = self.journal_path();
        if let Some(bytes) = self.read_optional(&path).await? {
            let scan = decode_journal(&bytes).map_err(|reason| StoreError::CorruptState {
                path: path.clone(),
                reason,
            })?;
            files.balances.extend(scan.entries.iter().copied());
            files.journal = Some(scan);
        }
        Ok(files)
    }

    /// Sets the provisioned lockers `files` names in `ledger`.
    fn apply_ledger(&self, files: &LedgerFiles, ledger: &mut LockerLedger) -> LedgerLoad {
        let mut load = LedgerLoad {
            journal_found: files.journal.is_some(),
            journal_batch_count: files.journal.as_ref().map_or(0, |scan| scan.batch_count),
            journal_torn: files.journal.as_ref().is_some_and(|scan| scan.torn),
            ..LedgerLoad::default()
        };
        for (code, balance) in &files.balances {
            match ledger.balance(code) {
                Some(provisioned) => {
                    if provisioned != *balance {
                        ledger.insert(*code, *balance);
                        load.restored_count += 1;
                    }
                }
                None => load.unprovisioned_count += 1,
            }
        }
        if load.unprovisioned_count > 0 {
            tracing::warn!(path = %self.ledger_path().display(), count = load.unprovisioned_count,
                "ledger names lockers provisioning no longer lists; ignored");
        }
        load
    }

    /// Makes the ledger durable up to the generation `changes` returns: under the ledger
    /// lock, `changes(compact)` takes from the live ledger its generation, the lockers
    /// written since the last call and, when `compact` is true, every locker that differs
    /// from provisioning. Returns whether anything was written.
    ///
    /// The written lockers (with any an earlier failed append left) are appended to the
    /// journal as one batch and fsynced (the first append also creates the journal and
    /// fsyncs the directory): O(lockers written), not O(lockers that differ). A writer whose
    /// change an earlier writer already made durable writes nothing (group commit).
    ///
    /// Once the journal has passed [`limits::LEDGER_JOURNAL_COMPACT_SIZE_BYTES`] the persist
    /// also compacts, in this order:
    ///
    /// 1. the batch is appended and fsynced: the journal now covers generation G;
    /// 2. the snapshot is replaced by the lockers differing at G (temp, fsync, rename, dir
    ///    fsync);
    /// 3. the journal is closed, removed and the directory fsynced.
    ///
    /// A crash (or a failure) between any two of these loses nothing and brings nothing
    /// back. Before 1 ends, G is not acknowledged. Between 1 and 2 the old snapshot plus the
    /// journal give G, as after any append. Between 2 and 3, or after 3 with the removal
    /// not yet durable, the snapshot at G plus a journal that covers G give G again: each
    /// locker the journal names ends at its balance in the journal's last batch naming it,
    /// which is its balance at G (a locker written after that batch is in a later one), the
    /// balance the snapshot holds; a locker it does not name keeps the snapshot's. After 3,
    /// the snapshot alone gives G. A failed 2 or 3 is logged and retried by a later persist:
    /// G is durable either way.
    pub async fn persist_ledger(
        &self,
        changes: impl FnOnce(bool) -> LedgerChanges,
    ) -> Result<bool, StoreError> {
        let mut durability = self.ledger.lock().await;
        let compact = durability.journal.durable_len_bytes() >= self.journal_compact_bytes;
        let LedgerChanges {
            generation,
            written,
            differing,
        } = changes(compact);
        debug_assert!(
            generation > durability.generation || written.is_empty(),
            "a durable generation was written again"
        );
        durability.undurable.extend(written);
        if durability.undurable.is_empty() {
            durability.generation = durability.generation.max(generation);
            return Ok(false);
        }
        let batch: Vec<(LockerCode, u64)> = durability
            .undurable
            .iter()
            .map(|(code, balance)| (*code, *balance))
            .collect();
        let durability = &mut *durability;
        let appended_bytes = (batch.len() * JOURNAL_RECORD) as u64;
        let journal_len_bytes = durability.journal.durable_len_bytes();
        if journal_len_bytes + appended_bytes > self.journal_size_bytes_max {
            if let Some(differing) = differing.as_ref().filter(|_| compact) {
                self.compact_full(&mut durability.journal, differing)
                    .await?;
                durability.undurable.clear();
                durability.generation = durability.generation.max(generation);
                return Ok(true);
            }
        }
        self.append(&mut durability.journal, &batch).await?;
        durability.undurable.clear();
        durability.generation = durability.generation.max(generation);
        if let Some(differing) = differing.filter(|_| compact) {
            self.compact(&mut durability.journal, &differing).await;
        }
        Ok(true)
    }

    /// Appends `batch` to the journal and makes it durable; see [`Journal`] for what a
    /// failure leaves.
    async fn append(
        &self,
        journal: &mut Journal,
        batch: &[(LockerCode, u64)],
    ) -> Result<(), StoreError> {
        let path = self.journal_path();
        let fs = self.io.fs();
        // Compactions that keep failing (a full disk) let the journal grow; never write one
        // that a load would refuse: the upload fails (and refunds) instead.
        let durable_len_bytes = journal.durable_len_bytes();
        let header_bytes = if durable_len_bytes == 0 {
            JOURNAL_HEADER
        } else {
            0
        };
        let appended_bytes = (header_bytes + batch.len() * JOURNAL_RECORD) as u64;
        if durable_len_bytes + appended_bytes > self.journal_size_bytes_max {
            let full = io::Error::new(
                io::ErrorKind::StorageFull,
                "the ledger journal is at its largest and could not be compacted",
            );
            return Err(io_error("append to ledger journal", &path)(full));
        }
        let (mut file, offset, sequence) = match std::mem::replace(journal, Journal::Absent) {
            Journal::Open {
                file,
                len_bytes,
                next_sequence,
            } => (file, len_bytes, next_sequence),
            Journal::Closed {
                durable_len_bytes,
                next_sequence,
            } => match fs.open_write(&path, durable_len_bytes).await {
                Ok(file) => (file, durable_len_bytes, next_sequence),
                Err(error) => {
                    *journal = Journal::Closed {
                        durable_len_bytes,
                        next_sequence,
                    };
                    return Err(io_error("open ledger journal", &path)(error));
                }
            },
            Journal::Absent => match fs.create_new(&path).await {
                Ok(file) => (file, 0, 1),
                Err(error) => return Err(io_error("create ledger journal", &path)(error)),
            },
        };
        let mut bytes = Vec::with_capacity(JOURNAL_HEADER + batch.len() * JOURNAL_RECORD);
        if offset == 0 {
            bytes.extend_from_slice(&journal_header());
        }
        bytes.extend_from_slice(&encode_batch(sequence, batch));
        let written = async {
            file.write_all(&bytes)
                .await
                .map_err(io_error("write ledger journal", &path))?;
            file.sync_all()
                .await
                .map_err(io_error("fsync ledger journal", &path))?;
            if offset == 0 {
                // The journal's directory entry is new (or not known durable): fsync it too.
                fs.sync_dir(&self.dir)
                    .await
                    .map_err(io_error("fsync state dir", &self.dir))?;
            }
            Ok(())
        }
        .await;
        match written {
            Ok(()) => {
                *journal = Journal::Open {
                    file,
                    len_bytes: offset + bytes.len() as u64,
                    next_sequence: sequence + 1,
                };
                Ok(())
            }
            Err(error) => {
                // What reached the disk past `offset` is unknown: the next append rewrites it.
                if let Err(close_error) = file.close().await {
                    tracing::warn!(path = %path.display(), error = %close_error,
                        "could not close the ledger journal");
                }
                *journal = Journal::Closed {
                    durable_len_bytes: offset,
                    next_sequence: sequence,
                };
                Err(error)
            }
        }
    }

    /// The compaction of a journal too long to take one more batch (snapshot replacements
    /// kept failing): the snapshot is replaced by the lockers `differing` at generation G
    /// without appending first, then the journal is removed and the directory fsynced, and
    /// only then is G acknowledged. A crash before that loses nothing acknowledged: the
    /// journal covers the last acknowledged generation G' ≤ G, so replaying it over either
    /// snapshot leaves each locker it names at its balance at G' or later; a failed step
    /// returns the error and the batch stays pending. (A removal that did not reach the disk
    /// would bring back balances of G' over the acknowledged G, hence no acknowledgement
    /// before the directory fsync.)
    async fn compact_full(
        &self,
        journal: &mut Journal,
        differing: &[(LockerCode, u64)],
    ) -> Result<(), StoreError> {
        let bytes = encode_state(LEDGER_MAGIC, &encode_ledger(differing));
        self.replace(&self.dir, LEDGER_FILE_NAME, &bytes).await?;
        let path = self.journal_path();
        let durable_len_bytes = journal.durable_len_bytes();
        let next_sequence = match std::mem::replace(journal, Journal::Absent) {
            Journal::Open {
                file,
                next_sequence,
                ..
            } => {
                if let Err(error) = file.close().await {
                    tracing::warn!(path = %path.display(), %error,
                        "could not close the ledger journal");
                }
                Some(next_sequence)
            }
            Journal::Closed { next_sequence, .. } => Some(next_sequence),
            Journal::Absent => None,
        };
        if let Err(error) = self.io.fs().remove_file(&path).await {
            if let Some(next_sequence) = next_sequence {
                *journal = Journal::Closed {
                    durable_len_bytes,
                    next_sequence,
                };
            }
            return Err(io_error("remove ledger journal", &path)(error));
        }
        self.io
            .fs()
            .sync_dir(&self.dir)
            .await
            .map_err(io_error("fsync state dir", &self.dir))
    }

    /// Steps 2 and 3 of a compaction (see [`StateStore::persist_ledger`]): the journal, open,
    /// covers the generation whose `differing` lockers are given.
    async fn compact(&self, journal: &mut Journal, differing: &[(LockerCode, u64)]) {
        let bytes = encode_state(LEDGER_MAGIC, &encode_ledger(differing));
        if let Err(error) = self.replace(&self.dir, LEDGER_FILE_NAME, &bytes).await {
            tracing::warn!(%error, "ledger compaction could not replace the snapshot; \
                the journal keeps growing until a later persist compacts");
            return;
        }
        let Journal::Open {
            file,
            len_bytes,
            next_sequence,
        } = std::mem::replace(journal, Journal::Absent)
        else {
            unreachable!("a compaction follows a successful append");
        };
        let path = self.journal_path();
        if let Err(error) = file.close().await {
            tracing::warn!(path = %path.display(), %error, "could not close the ledger journal");
        }
        if let Err(error) = self.io.fs().remove_file(&path).await {
            // Still whole and durable, and covered by the snapshot: keep appending to it.
            tracing::warn!(path = %path.display(), %error,
                "ledger compaction could not remove the journal");
            *journal = Journal::Closed {
                durable_len_bytes: len_bytes,
                next_sequence,
            };
            return;
        }
        if let Err(error) = self.io.fs().sync_dir(&self.dir).await {
            // The journal may come back after a crash: it covers the snapshot, so it gives
            // the snapshot's balances again. The next append creates a new one.
            tracing::warn!(dir = %self.dir.display(), %error,
                "ledger compaction could not fsync the journal's removal");
        }
    }

    /// The saved state of extension `name`, if there is a file.
    pub async fn load_extension(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.extension_path(name);
        check_extension_name(name, path.clone())?;
        let Some(bytes) = self.read_optional(&path).await? else {
            return Ok(None);
        };
        let payload =
            decode_state(EXTENSION_MAGIC, &bytes).map_err(|reason| StoreError::CorruptState {
                path: path.clone(),
                reason: reason.to_string(),
            })?;
        Ok(Some(payload.to_vec()))
    }

    /// Records that extension `name`'s state of `generation` is the one on disk (after a
    /// load), so it is not written again until it changes.
    pub async fn extension_loaded(&self, name: &str, generation: u64) {
        let mut persisted = self.extensions_persisted.lock().await;
        persisted.insert(name.to_string(), generation);
    }

    /// Makes extension `name`'s state durable: under its lock, nothing is written when
    /// `generation()` is already durable, else `state()` is written. Returns whether a file
    /// was written.
    pub async fn persist_extension(
        &self,
        name: &str,
        generation: impl FnOnce() -> u64,
        state: impl FnOnce() -> Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut persisted = self.extensions_persisted.lock().await;
        let generation = generation();
        let durable = persisted.get(name).copied().unwrap_or(0);
        if generation <= durable {
            return Ok(false);
        }
        check_extension_name(name, self.extension_path(name))?;
        let payload = state();
        if payload.len() > limits::STATE_FILE_PAYLOAD_SIZE_BYTES_MAX {
            return Err(StoreError::CorruptState {
                path: self.extension_path(name),
                reason: format!("state of {} bytes is too large to keep", payload.len()),
            });
        }
        let bytes = encode_state(EXTENSION_MAGIC, &payload);
        let file_name = format!("{name}.{STATE_FILE_EXTENSION}");
        self.replace(&self.extensions_dir(), &file_name, &bytes)
            .await?;
        persisted.insert(name.to_string(), generation);
        Ok(true)
    }

    async fn read_optional(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match self.io.fs().read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("read state file", path)(error)),
        }
    }

    /// Replaces `dir/file_name` with `bytes`: temp, write, fsync, close, rename, dir fsync.
    /// On failure the temp file is removed (best effort) and the old file is untouched.
    async fn replace(&self, dir: &Path, file_name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (stem, extension) = file_name
            .rsplit_once('.')
            .expect("state file names have an extension");
        let temp_path = self.write_temp(dir, stem, extension, bytes).await?;
        let final_path = dir.join(file_name);
        if let Err(error) = self.io.fs().rename(&temp_path, &final_path).await {
            self.remove_temp(&temp_path).await;
            return Err(io_error("rename state file", &final_path)(error));
        }
        self.io
            .fs()
            .sync_dir(dir)
            .await
            .map_err(io_error("fsync state dir", dir))
    }

    async fn write_temp(
        &self,
        dir: &Path,
        stem: &str,
        extension: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, StoreError> {
        let mut created = None;
        for _ in 0..limits::TEMP_CREATE_ATTEMPTS_MAX {
            let temp_path = dir.join(self.io.temp_name(stem, extension));
            match self.io.fs().create_new(&temp_path).await {
                Ok(file) => {
                    created = Some((temp_path, file));
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(io_error("create temp", &temp_path)(error)),
            }
        }
        let Some((temp_path, mut file)) = created else {
            return Err(StoreError::TempNamesExhausted {
                dir: dir.to_path_buf(),
            });
        };
        let written = async {
            file.write_all(bytes)
                .await
                .map_err(io_error("write temp", &temp_path))?;
            file.sync_all()
                .await
                .map_err(io_error("fsync temp", &temp_path))
        }
        .await;
        let closed = file
            .close()
            .await
            .map_err(io_error("close temp", &temp_path));
        match written.and(closed) {
            Ok(()) => Ok(temp_path),
            Err(error) => {
                self.remove_temp(&temp_path).await;
                Err(error)
            }
        }
    }

    async fn remove_temp(&self, temp_path: &Path) {
        if let Err(error) = self.io.fs().remove_file(temp_path).await {
            tracing::warn!(path = %temp_path.display(), %error, "could not remove temp file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::coins::locker_code_from_ascii;
    use crate::fs::{Fault, FaultyFs, FsOp, NoopHook, RealFs};
    use proptest::prelude::*;

    fn store_on(fs: Arc<dyn crate::fs::Fs>, dir: &Path) -> StateStore {
        let io = Arc::new(StoreIo::new(
            fs,
            Arc::new(NoopHook),
            Arc::new(ManualClock::new(5)),
            9,
        ));
        StateStore::new(io, dir.join(STATE_DIR))
    }

    fn code(text: &str) -> LockerCode {
        locker_code_from_ascii(text).expect("code")
    }

    fn provisioned() -> LockerLedger {
        let mut ledger = LockerLedger::new();
        ledger.insert(code("A"), 10);
        ledger.insert(code("B"), 20);
        ledger
    }

    fn written(generation: u64, written: Vec<(LockerCode, u64)>) -> LedgerChanges {
        LedgerChanges {
            generation,
            written,
            differing: None,
        }
    }

    /// A live ledger as `Env` keeps it: provisioning as the baseline, a generation per change.
    struct Live {
        ledger: LockerLedger,
        generation: u64,
    }

    impl Live {
        fn new(provisioned: &LockerLedger) -> Live {
            let mut ledger = provisioned.clone();
            ledger.mark_baseline();
            Live {
                ledger,
                generation: 0,
            }
        }

        /// A restarted server: `store` recovers the ledger into the provisioned balances.
        async fn recovered(store: &StateStore, provisioned: &LockerLedger) -> (Live, LedgerLoad) {
            let mut live = Live::new(provisioned);
            let load = store
                .recover_ledger(&mut live.ledger)
                .await
                .expect("recover");
            live.ledger.take_written();
            (live, load)
        }

        fn change(&mut self, change: impl FnOnce(&mut LockerLedger)) {
            self.generation += 1;
            change(&mut self.ledger);
        }

        async fn persist(&mut self, store: &StateStore) -> Result<bool, StoreError> {
            let (ledger, generation) = (&mut self.ledger, self.generation);
            store
                .persist_ledger(|compact| LedgerChanges {
                    generation,
                    written: ledger.take_written(),
                    differing: compact.then(|| ledger.differing()),
                })
                .await
        }
    }

    /// What a fresh store on `dir` reads into the provisioned balances.
    async fn read_back(dir: &Path, provisioned: &LockerLedger) -> LockerLedger {
        let mut ledger = provisioned.clone();
        store_on(Arc::new(RealFs), dir)
            .load_ledger(&mut ledger)
            .await
            .expect("load");
        ledger
    }

    fn journal_len(store: &StateStore) -> Option<u64> {
        std::fs::metadata(store.journal_path())
            .ok()
            .map(|meta| meta.len())
    }

    fn eight_lockers() -> (LockerLedger, Vec<LockerCode>) {
        let codes: Vec<LockerCode> = (0..8).map(|n| code(&format!("L{n}"))).collect();
        let mut ledger = LockerLedger::new();
        for code in &codes {
            ledger.insert(*code, 1_000);
        }
        (ledger, codes)
    }

    #[tokio::test]
    async fn the_ledger_survives_a_new_store_and_is_written_once_per_generation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_on(Arc::new(RealFs), dir.path());
        store.init().await.expect("init");
        let mut fresh = provisioned();
        assert_eq!(
            store.load_ledger(&mut fresh).await.expect("load"),
            LedgerLoad::default()
        );
        let changed = vec![(code("A"), 7), (code("GONE"), 1)];
        assert!(store
            .persist_ledger(|_| written(1, changed.clone()))
            .await
            .expect("write"));
        assert!(
            !store
                .persist_ledger(|_| written(1, Vec::new()))
                .await
                .expect("skip"),
            "generation 1 is durable already"
        );
        let mut names: Vec<_> = std::fs::read_dir(store.dir())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["extensions", LEDGER_JOURNAL_FILE_NAME],
            "an append goes to the journal; no snapshot, no temp file"
        );
        assert_eq!(
            journal_len(&store),
            Some((JOURNAL_HEADER + 2 * JOURNAL_RECORD) as u64)
        );

        let again = store_on(Arc::new(RealFs), dir.path());
        let mut ledger = provisioned();
        let load = again.load_ledger(&mut ledger).await.expect("load");
        assert_eq!(
            load,
            LedgerLoad {
                restored_count: 1,
                unprovisioned_count: 1,
                journal_found: true,
                journal_batch_count: 1,
                journal_torn: false,
            }
        );
        assert_eq!(ledger.balance(&code("A")), Some(7));
        assert_eq!(ledger.balance(&code("B")), Some(20));
        assert_eq!(ledger.balance(&code("GONE")), None);
    }

    #[tokio::test]
    async fn many_persists_round_trip_through_the_journal_compactions_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bound = (JOURNAL_HEADER + 6 * JOURNAL_RECORD) as u64;
        let open = || store_on(Arc::new(RealFs), dir.path()).with_journal_compact_bytes(bound);
        let (provisioned, codes) = eight_lockers();
        let mut store = open();
        store.init().await.expect("init");
        let (mut live, _) = Live::recovered(&store, &provisioned).await;
        let (mut compactions, mut restarts) = (0, 0);
        for round in 0..160usize {
            let (first, second) = (codes[round * 5 % 8], codes[(round * 3 + 1) % 8]);
            live.change(|ledger| {
                ledger.spend(&first, 1 + round as u64 % 3).expect("spend");
                if round % 4 == 0 {
                    assert!(ledger.credit(&second, 2));
                }
                if round % 7 == 0 {
                    // Back to the provisioned balance: the journal must record it too.
                    ledger.insert(first, 1_000);
                }
            });
            assert!(live.persist(&store).await.expect("persist"), "{round}");
            match journal_len(&store) {
                None => compactions += 1,
                Some(len) => assert!(len < bound + 3 * JOURNAL_RECORD as u64, "{len}"),
            }
            assert_eq!(
                read_back(dir.path(), &provisioned).await,
                live.ledger,
                "round {round}"
            );
            if round % 23 == 22 {
                // A restart: the new store recovers what the old one made durable.
                drop(store);
                store = open();
                let (restarted, load) = Live::recovered(&store, &provisioned).await;
                assert_eq!(restarted.ledger, live.ledger, "restart after round {round}");
                assert_eq!(load.journal_found, journal_len(&open()).is_none());
                assert_eq!(journal_len(&store), None, "the start compacted the journal");
                live = restarted;
                restarts += 1;
            }
        }
        assert!(compactions >= 10, "{compactions} compactions");
        assert_eq!(restarts, 6);
        // The snapshot alone holds what differs from provisioning, as before the journal.
        let snapshot = std::fs::read(store.ledger_path()).expect("snapshot");
        let entries =
            decode_ledger(decode_state(LEDGER_MAGIC, &snapshot).expect("state")).expect("entries");
        assert!(entries
            .iter()
            .all(|(code, balance)| provisioned.balance(code) != Some(*balance)));
    }

    #[tokio::test]
    async fn a_torn_tail_is_ignored_and_appends_after_the_restart_stay_readable() {
        let provisioned = provisioned();
        let (a, b) = (code("A"), code("B"));
        let tears = [
            (1, None),
            (39, None),
            (40, None),
            (41, None),
            (79, None),
            (0, Some(20)),
            (0, Some(60)),
            (30, Some(20)),
        ];
        for (cut, flip) in tears {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = store_on(Arc::new(RealFs), dir.path());
            store.init().await.expect("init");
            let mut live = Live::recovered(&store, &provisioned).await.0;
            live.change(|ledger| ledger.spend(&a, 1).expect("spend"));
            live.persist(&store).await.expect("persist");
            live.change(|ledger| ledger.spend(&b, 1).expect("spend"));
            live.persist(&store).await.expect("persist");
            let acknowledged = live.ledger.clone();
            // The last batch (two records) is the one a crash tears.
            live.change(|ledger| {
                ledger.spend(&a, 1).expect("spend");
                ledger.spend(&b, 1).expect("spend");
            });
            live.persist(&store).await.expect("persist");
            drop(store);
            let path = dir.path().join(STATE_DIR).join(LEDGER_JOURNAL_FILE_NAME);
            let mut bytes = std::fs::read(&path).expect("journal");
            let last_batch = bytes.len() - 2 * JOURNAL_RECORD;
            if let Some(offset) = flip {
                bytes[last_batch + offset] ^= 0x10;
            }
            bytes.truncate(bytes.len() - cut);
            std::fs::write(&path, &bytes).expect("tear");
            let what = format!("cut {cut}, flip {flip:?}");

            let store = store_on(Arc::new(RealFs), dir.path());
            let (mut live, load) = Live::recovered(&store, &provisioned).await;
            assert!(load.journal_torn, "{what}");
            assert_eq!(load.journal_batch_count, 2, "{what}");
            assert_eq!(
                live.ledger, acknowledged,
                "{what}: the torn batch is not read"
            );
            // Appends after the restart start a fresh journal; nothing torn is left inside.
            live.change(|ledger| ledger.spend(&a, 5).expect("spend"));
            live.persist(&store).await.expect("persist");
            live.change(|ledger| ledger.spend(&b, 5).expect("spend"));
            live.persist(&store).await.expect("persist");
            let mut read = provisioned.clone();
            let load = store_on(Arc::new(RealFs), dir.path())
                .load_ledger(&mut read)
                .await
                .expect(&what);
            assert!(!load.journal_torn, "{what}");
            assert_eq!(load.journal_batch_count, 2, "{what}");
            assert_eq!(read, live.ledger, "{what}");
            assert_eq!(read.balance(&a), Some(10 - 1 - 5), "{what}");
        }
    }

    #[tokio::test]
    async fn a_damaged_journal_before_its_last_batch_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_on(Arc::new(RealFs), dir.path());
        store.init().await.expect("init");
        for (generation, balance) in [(1, 9), (2, 8), (3, 7)] {
            store
                .persist_ledger(|_| written(generation, vec![(code("A"), balance)]))
                .await
                .expect("persist");
        }
        let path = store.journal_path();
        let whole = std::fs::read(&path).expect("read");
        let record = |n: usize| JOURNAL_HEADER + n * JOURNAL_RECORD;
        let mut flipped = whole.clone();
        flipped[record(0) + 17] ^= 1;
        let mut second_flipped = whole.clone();
        second_flipped[record(1) + 3] ^= 1;
        let mut swapped = whole.clone();
        swapped[record(0)..record(1)].copy_from_slice(&whole[record(1)..record(2)]);
        let mut versioned = whole.clone();
        versioned[4] = 2;
        let mut long = whole.clone();
        long.extend_from_slice(&encode_batch(4, &[(code("A"), 6)]));
        long.extend_from_slice(&encode_batch(5, &[(code("A"), 5)]));
        let mut unsorted = journal_header().to_vec();
        unsorted.extend_from_slice(&encode_batch(1, &[(code("B"), 1), (code("A"), 1)]));
        unsorted.extend_from_slice(&encode_batch(2, &[(code("A"), 2)]));
        let mut foreign = encode_state(LEDGER_MAGIC, &encode_ledger(&[(code("A"), 1)]));
        foreign.extend_from_slice(&[0; JOURNAL_RECORD]);
        for (bytes, reason) in [
            (
                flipped,
                "offset 16 is damaged (CRC-32 or sequence) and a later batch",
            ),
            (second_flipped, "offset 56 is damaged"),
            (swapped, "offset 16 is damaged"),
            (versioned, "version"),
            (b"garbage garbage garbage".to_vec(), "magic"),
            (foreign, "magic"),
            (unsorted, "order"),
        ] {
            std::fs::write(&path, &bytes).expect("write");
            let error = store_on(Arc::new(RealFs), dir.path())
                .recover_ledger(&mut provisioned())
                .await
                .expect_err(reason);
            let text = error.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(reason), "{reason}: {text}");
            assert_eq!(std::fs::read(&path).expect("read"), bytes, "left as it was");
        }
        // The same file, whole, reads (and extends) fine.
        std::fs::write(&path, &long).expect("write");
        let mut ledger = provisioned();
        store.load_ledger(&mut ledger).await.expect("whole");
        assert_eq!(ledger.balance(&code("A")), Some(5));
    }

    #[tokio::test]
    async fn a_torn_or_garbage_snapshot_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_on(Arc::new(RealFs), dir.path());
        store.init().await.expect("init");
        let path = store.ledger_path();
        let whole = encode_state(LEDGER_MAGIC, &encode_ledger(&[(code("A"), 7)]));
        let mut flipped = whole.clone();
        flipped[HEADER + 20] ^= 1;
        let mut unsorted = encode_ledger(&[(code("B"), 1), (code("A"), 2)]);
        unsorted = encode_state(LEDGER_MAGIC, &unsorted);
        for (bytes, reason) in [
            (whole[..whole.len() - 3].to_vec(), "torn"),
            (whole[..5].to_vec(), "torn"),
            (b"garbage garbage garbage".to_vec(), "magic"),
            (flipped, "CRC"),
            (unsorted, "order"),
            (encode_state(LEDGER_MAGIC, &[1, 2, 3]), "whole number"),
        ] {
            std::fs::write(&path, &bytes).expect("write");
            let error = store
                .load_ledger(&mut provisioned())
                .await
                .expect_err(reason);
            let text = error.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(reason), "{reason}: {text}");
        }
        std::fs::write(&path, &whole).expect("write");
        let mut ledger = provisioned();
        store.load_ledger(&mut ledger).await.expect("whole");
        assert_eq!(ledger.balance(&code("A")), Some(7));
    }

    #[tokio::test]
    async fn failed_appends_are_written_over_and_never_leave_garbage_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faulty = Arc::new(FaultyFs::new(Arc::new(RealFs)));
        let store = store_on(faulty.clone(), dir.path());
        store.init().await.expect("init");
        let (a, b, c) = (code("A"), code("B"), code("C"));
        let mut provisioned = provisioned();
        provisioned.insert(c, 30);
        let mut live = Live::recovered(&store, &provisioned).await.0;
        let mut acknowledged = live.ledger.clone();
        let mut attempted = Vec::new();
        // Creation (create, dir fsync), appends on the open journal (write, fsync) and after
        // a failure (open, write, fsync): each fails once; every second round a persist then
        // succeeds, writing over what the failed ones left.
        let faults = [
            FsOp::Create,
            FsOp::SyncDir,
            FsOp::Write,
            FsOp::Sync,
            FsOp::Sync,
            FsOp::OpenWrite,
            FsOp::Write,
            FsOp::Sync,
        ];
        for (round, op) in faults.into_iter().enumerate() {
            let locker = [a, b, c][round % 3];
            faulty.inject(Fault::on(op).error(io::ErrorKind::StorageFull).times(1));
            live.change(|ledger| ledger.spend(&locker, 1).expect("spend"));
            attempted.push(live.ledger.clone());
            let failed = live.persist(&store).await;
            assert!(failed.is_err(), "{round} {op:?}");
            faulty.heal();
            let mut read = provisioned.clone();
            store
                .load_ledger(&mut read)
                .await
                .expect("readable after a failure");
            // A write whose fsync failed may still be seen; nothing else.
            assert!(
                read == acknowledged || attempted.contains(&read),
                "{round} {op:?}: what was acknowledged or attempted since"
            );
            if round % 2 == 1 {
                // The next append carries every locker the failed one did, and more.
                live.change(|ledger| ledger.spend(&c, 1).expect("spend"));
                assert!(live.persist(&store).await.expect("retried"), "{round}");
                acknowledged = live.ledger.clone();
                attempted.clear();
                assert_eq!(
                    read_back(dir.path(), &provisioned).await,
                    acknowledged,
                    "{round}"
                );
            }
        }
        let load = Live::recovered(&store_on(Arc::new(RealFs), dir.path()), &provisioned)
            .await
            .1;
        assert!(!load.journal_torn, "no garbage left at the end either");
        assert_eq!(read_back(dir.path(), &provisioned).await, acknowledged);
        assert_eq!(acknowledged.balance(&c), Some(30 - 4 - 2));
    }

    #[tokio::test]
    async fn a_failed_compaction_keeps_the_acknowledged_balance_and_retries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faulty = Arc::new(FaultyFs::new(Arc::new(RealFs)));
        let bound = (JOURNAL_HEADER + JOURNAL_RECORD) as u64;
        let store = store_on(faulty.clone(), dir.path()).with_journal_compact_bytes(bound);
        store.init().await.expect("init");
        let provisioned = provisioned();
        let mut live = Live::recovered(&store, &provisioned).await.0;
        live.change(|ledger| ledger.spend(&code("A"), 1).expect("spend"));
        live.persist(&store).await.expect("first append");
        for (op, journal_kept) in [
            (FsOp::Create, true),
            (FsOp::Rename, true),
            (FsOp::Remove, true),
            (FsOp::SyncDir, false),
        ] {
            let part = if op == FsOp::Remove || op == FsOp::SyncDir && journal_kept {
                LEDGER_JOURNAL_FILE_NAME
            } else {
                ""
            };
            // The snapshot's own dir fsync comes first; fail the journal removal's.
            let after = u64::from(op == FsOp::SyncDir);
            faulty.inject(Fault::on(op).path_contains(part).after(after).times(1));
            live.change(|ledger| ledger.spend(&code("A"), 1).expect("spend"));
            assert!(
                live.persist(&store).await.expect("durable anyway"),
                "{op:?}"
            );
            faulty.heal();
            assert_eq!(journal_len(&store).is_some(), journal_kept, "{op:?}");
            assert_eq!(
                read_back(dir.path(), &provisioned).await,
                live.ledger,
                "{op:?}"
            );
        }
        assert!(store.ledger_path().exists());
        let (restarted, _) =
            Live::recovered(&store_on(Arc::new(RealFs), dir.path()), &provisioned).await;
        assert_eq!(restarted.ledger, live.ledger);
        assert_eq!(live.ledger.balance(&code("A")), Some(5));
    }

    #[tokio::test]
    async fn extension_state_round_trips_per_generation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_on(Arc::new(RealFs), dir.path());
        store.init().await.expect("init");
        assert_eq!(store.load_extension("guard").await.expect("none"), None);
        assert!(!store
            .persist_extension(
                "guard",
                || 0,
                || unreachable!("generation 0 is never written")
            )
            .await
            .expect("nothing"));
        assert!(store
            .persist_extension("guard", || 3, || b"abc".to_vec())
            .await
            .expect("written"));
        let again = store_on(Arc::new(RealFs), dir.path());
        assert_eq!(
            again.load_extension("guard").await.expect("load"),
            Some(b"abc".to_vec())
        );
        std::fs::write(again.extension_path("guard"), b"QEXT\x01").expect("torn");
        let error = again.load_extension("guard").await.expect_err("torn");
        assert!(error.to_string().contains("guard.state"), "{error}");
    }

    #[tokio::test]
    async fn a_journal_that_cannot_be_compacted_stops_at_its_largest_and_stays_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faulty = Arc::new(FaultyFs::new(Arc::new(RealFs)));
        let largest = (JOURNAL_HEADER + 3 * JOURNAL_RECORD) as u64;
        let store = store_on(faulty.clone(), dir.path())
            .with_journal_compact_bytes((JOURNAL_HEADER + JOURNAL_RECORD) as u64)
            .with_journal_size_bytes_max(largest);
        store.init().await.expect("init");
        let provisioned = provisioned();
        let mut live = Live::recovered(&store, &provisioned).await.0;
        // Every snapshot replacement fails: the journal cannot be compacted.
        faulty.inject(Fault::on(FsOp::Rename).error(io::ErrorKind::StorageFull));
        for _ in 0..3 {
            live.change(|ledger| ledger.spend(&code("A"), 1).expect("spend"));
            assert!(live.persist(&store).await.expect("appended"));
        }
        assert_eq!(journal_len(&store), Some(largest));
        let acknowledged = live.ledger.clone();
        live.change(|ledger| ledger.spend(&code("B"), 1).expect("spend"));
        let error = live
            .persist(&store)
            .await
            .expect_err("full, and no compaction");
        assert!(error.to_string().contains("rename state file"), "{error}");
        assert_eq!(journal_len(&store), Some(largest), "never past its largest");
        assert_eq!(read_back(dir.path(), &provisioned).await, acknowledged);
        // Once the snapshot can be replaced, the full journal is compacted without an append.
        faulty.heal();
        faulty.inject(Fault::on(FsOp::Remove).times(1));
        assert!(live.persist(&store).await.is_err(), "the removal failed");
        assert_eq!(journal_len(&store), Some(largest));
        assert_eq!(read_back(dir.path(), &provisioned).await, live.ledger);
        assert!(live.persist(&store).await.expect("compacted"));
        assert_eq!(journal_len(&store), None);
        assert_eq!(read_back(dir.path(), &provisioned).await, live.ledger);
        live.change(|ledger| ledger.spend(&code("A"), 1).expect("spend"));
        assert!(live.persist(&store).await.expect("a fresh journal"));
        assert_eq!(read_back(dir.path(), &provisioned).await, live.ledger);
    }

    /// Power loss at every file-system call of a run of persists and compactions, on
    /// turmoil's disk (pending writes and directory entries dropped, torn at 8-byte blocks).
    mod power_loss {
        use super::*;
        use crate::fs::{FileMeta, Fs, FsFuture, SimFs};
        use std::cell::RefCell;
        use std::ffi::OsString;
        use std::rc::Rc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::time::{Duration, UNIX_EPOCH};

        const HOST: &str = "raida";
        const ROUNDS: u64 = 8;

        /// Counts every call; parks the `park_at`-th forever (0: never), so the harness can
        /// cut the power with that call not yet made.
        #[derive(Debug, Default)]
        struct Gate {
            calls: AtomicU64,
            park_at: AtomicU64,
            parked: AtomicBool,
        }

        impl Gate {
            async fn pass(&self) {
                let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                if call == self.park_at.load(Ordering::SeqCst) {
                    self.parked.store(true, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
            }
        }

        #[derive(Debug)]
        struct ParkingFs {
            gate: Arc<Gate>,
        }

        #[derive(Debug)]
        struct ParkingFile {
            inner: Box<dyn FsFile>,
            gate: Arc<Gate>,
        }

        impl FsFile for ParkingFile {
            fn write_all<'a>(&'a mut self, bytes: &'a [u8]) -> FsFuture<'a, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    self.inner.write_all(bytes).await
                })
            }

            fn sync_all(&mut self) -> FsFuture<'_, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    self.inner.sync_all().await
                })
            }

            fn close(self: Box<Self>) -> FsFuture<'static, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    self.inner.close().await
                })
            }
        }

        impl ParkingFs {
            fn wrap(&self, inner: Box<dyn FsFile>) -> Box<dyn FsFile> {
                Box::new(ParkingFile {
                    inner,
                    gate: self.gate.clone(),
                })
            }
        }

        impl Fs for ParkingFs {
            fn create_dir_all<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.create_dir_all(path).await
                })
            }

            fn create_new<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Box<dyn FsFile>> {
                Box::pin(async move {
                    self.gate.pass().await;
                    Ok(self.wrap(SimFs.create_new(path).await?))
                })
            }

            fn open_write<'a>(
                &'a self,
                path: &'a Path,
                offset_bytes: u64,
            ) -> FsFuture<'a, Box<dyn FsFile>> {
                Box::pin(async move {
                    self.gate.pass().await;
                    Ok(self.wrap(SimFs.open_write(path, offset_bytes).await?))
                })
            }

            fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> FsFuture<'a, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.rename(from, to).await
                })
            }

            fn sync_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.sync_dir(path).await
                })
            }

            fn read<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<u8>> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.read(path).await
                })
            }

            fn read_dir<'a>(&'a self, path: &'a Path) -> FsFuture<'a, Vec<OsString>> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.read_dir(path).await
                })
            }

            fn metadata<'a>(&'a self, path: &'a Path) -> FsFuture<'a, FileMeta> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.metadata(path).await
                })
            }

            fn remove_file<'a>(&'a self, path: &'a Path) -> FsFuture<'a, ()> {
                Box::pin(async move {
                    self.gate.pass().await;
                    SimFs.remove_file(path).await
                })
            }
        }

        /// What the host saw.
        #[derive(Debug, Default)]
        struct Seen {
            /// The ledger the last acknowledged persist made durable.
            acknowledged: Option<LockerLedger>,
            /// The ledger of the persist under way, if one was.
            in_flight: Option<LockerLedger>,
            /// The first run's calls, when it ended.
            calls_total: Option<u64>,
            /// What the restarted host recovered.
            recovered: Option<LockerLedger>,
            /// After the restart: (live ledger after one more persist, what the disk gives).
            after_restart: Option<(LockerLedger, LockerLedger)>,
        }

        fn provisioned() -> LockerLedger {
            let mut ledger = LockerLedger::new();
            ledger.insert(code("A"), 100);
            ledger.insert(code("B"), 100);
            ledger.insert(code("C"), 100);
            ledger
        }

        fn store(gate: &Arc<Gate>, boot: u32, largest: u64) -> StateStore {
            let fs = Arc::new(ParkingFs { gate: gate.clone() });
            let io = Arc::new(StoreIo::new(
                fs,
                Arc::new(NoopHook),
                Arc::new(ManualClock::new(5)),
                boot,
            ));
            let bound = (JOURNAL_HEADER + 2 * JOURNAL_RECORD) as u64;
            StateStore::new(io, PathBuf::from("/raida").join(STATE_DIR))
                .with_journal_compact_bytes(bound)
                .with_journal_size_bytes_max(largest)
        }

        async fn first_run(store: &StateStore, gate: &Gate, seen: &RefCell<Seen>) {
            let (mut live, _) = Live::recovered(store, &provisioned()).await;
            for round in 0..ROUNDS {
                live.change(|ledger| {
                    ledger.spend(&code("A"), 1).expect("spend");
                    if round % 3 == 0 {
                        ledger.spend(&code("B"), 2).expect("spend");
                    }
                    if round == 5 {
                        assert!(ledger.credit(&code("A"), 6), "back to provisioning");
                    }
                });
                seen.borrow_mut().in_flight = Some(live.ledger.clone());
                live.persist(store).await.expect("persist");
                let mut seen = seen.borrow_mut();
                seen.acknowledged = seen.in_flight.take();
            }
            seen.borrow_mut().calls_total = Some(gate.calls.load(Ordering::SeqCst));
        }

        async fn second_run(store: &StateStore, seen: &RefCell<Seen>) {
            let (mut live, _) = Live::recovered(store, &provisioned()).await;
            seen.borrow_mut().recovered = Some(live.ledger.clone());
            live.change(|ledger| ledger.spend(&code("C"), 1).expect("spend"));
            live.persist(store)
                .await
                .expect("persist after the restart");
            let mut read = provisioned();
            store
                .load_ledger(&mut read)
                .await
                .expect("load after the restart");
            seen.borrow_mut().after_restart = Some((live.ledger, read));
        }

        /// Runs the persists with journals of at most `largest` bytes, cutting the power
        /// before call `park_at` (0: never), and restarts.
        fn run(park_at: u64, largest: u64) -> Seen {
            let mut builder = turmoil::Builder::new();
            builder
                .rng_seed(park_at)
                .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
                .simulation_duration(Duration::from_secs(60));
            builder.fs().block_size(8);
            let mut sim = builder.build();
            let gate = Arc::new(Gate::default());
            gate.park_at.store(park_at, Ordering::SeqCst);
            let seen = Rc::new(RefCell::new(Seen::default()));
            let boots = Rc::new(RefCell::new(0u32));
            {
                let (gate, seen, boots) = (gate.clone(), seen.clone(), boots.clone());
                sim.host(HOST, move || {
                    *boots.borrow_mut() += 1;
                    let boot = *boots.borrow();
                    let (gate, seen) = (gate.clone(), seen.clone());
                    async move {
                        let store = store(&gate, boot, largest);
                        store.init().await.expect("init");
                        if boot == 1 {
                            first_run(&store, &gate, &seen).await;
                        } else {
                            second_run(&store, &seen).await;
                        }
                        std::future::pending::<()>().await;
                        Ok(())
                    }
                });
            }
            let step_until = |sim: &mut turmoil::Sim<'_>, done: &dyn Fn() -> bool| {
                for _ in 0..1_000 {
                    sim.step().expect("sim step");
                    if done() {
                        return;
                    }
                }
                panic!("the host did not finish");
            };
            step_until(&mut sim, &|| {
                gate.parked.load(Ordering::SeqCst) || seen.borrow().calls_total.is_some()
            });
            if gate.parked.load(Ordering::SeqCst) {
                sim.crash(HOST);
                gate.park_at.store(0, Ordering::SeqCst);
                sim.bounce(HOST);
                step_until(&mut sim, &|| seen.borrow().after_restart.is_some());
                assert_eq!(*boots.borrow(), 2);
            }
            let seen = std::mem::take(&mut *seen.borrow_mut());
            seen
        }

        #[test]
        fn a_power_loss_at_any_call_loses_no_acknowledged_balance() {
            // Compactions after an append, and (a journal too short for a two-locker batch
            // past the compaction size) compactions of a full journal without one.
            let largest = limits::LEDGER_JOURNAL_SIZE_BYTES_MAX as u64;
            let full = (JOURNAL_HEADER + 3 * JOURNAL_RECORD) as u64;
            for largest in [largest, full] {
                power_loss_at_every_call(largest);
            }
        }

        fn power_loss_at_every_call(largest: u64) {
            let calls_total = run(0, largest).calls_total.expect("the first run ends");
            assert!(calls_total > 40, "{calls_total} calls");
            for park_at in 1..=calls_total {
                let seen = run(park_at, largest);
                let recovered = seen.recovered.expect("restarted");
                let acknowledged = seen.acknowledged.unwrap_or_else(provisioned);
                assert!(
                    recovered == acknowledged || seen.in_flight.as_ref() == Some(&recovered),
                    "power lost before call {park_at}: recovered {recovered:?}, acknowledged \
                     {acknowledged:?}, in flight {:?}",
                    seen.in_flight
                );
                let (live, read) = seen.after_restart.expect("persisted after the restart");
                assert_eq!(read, live, "power lost before call {park_at}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn state_files_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let file = encode_state(EXTENSION_MAGIC, &payload);
            prop_assert_eq!(decode_state(EXTENSION_MAGIC, &file).expect("decodes"), &payload[..]);
            prop_assert!(decode_state(LEDGER_MAGIC, &file).is_err());
            prop_assert!(decode_state(EXTENSION_MAGIC, &file[..file.len() - 1]).is_err());
        }
    }
}
