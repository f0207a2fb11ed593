//! Server state that must survive a restart besides the inboxes and stripes: the locker
//! ledger (what uploads spent) and the state of active protocol extensions.
//!
//! Layout below the data directory:
//!
//! ```text
//! state/ledger.state                 every locker whose balance differs from provisioning
//! state/extensions/{name}.state      one extension's snapshot (only extensions that keep one)
//! ```
//!
//! Each file is replaced atomically the way the stores publish: a hidden temp file
//! (`.tmp.PID.TIME.SEQ.…`) created exclusively, written, fsynced, closed, renamed over the
//! final name, then the directory fsynced (always: an acknowledged upload's fee must not come
//! back after a power loss). Every operation goes through the injected [`Fs`](crate::fs::Fs),
//! so the simulator's disk sees these files too; none is reported as a [`Step`](crate::fs::Step)
//! (the crash hook's step list, which scenarios name, is unchanged).
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
//! and the balance (u64, big-endian). It holds the lockers whose balance differs from the
//! provisioned one; at start it is the authority for every locker it names that provisioning
//! still lists (a locker no longer provisioned is ignored, with a warning). An extension's
//! payload is whatever its [`ServerExtension::state`](crate::extension::ServerExtension::state)
//! returned.
//!
//! Writers are serialized by one async lock per file and carry a generation: the snapshot is
//! taken under the lock, so a later write always carries a later state, and a writer whose
//! change an earlier writer already made durable writes nothing (group commit).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{io_error, StoreError, StoreIo};
use crate::coins::{LockerCode, LockerLedger};
use crate::limits;

/// Directory of the state files, below the data directory.
pub const STATE_DIR: &str = "state";
/// The ledger's file name.
pub const LEDGER_FILE_NAME: &str = "ledger.state";
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

const HEADER: usize = limits::STATE_FILE_HEADER_SIZE_BYTES;
const LEDGER_ENTRY: usize = limits::LEDGER_ENTRY_SIZE_BYTES;
const _: () = assert!(HEADER == 4 + 1 + 3 + 4 + 4);
const _: () = assert!(LEDGER_ENTRY == limits::LOCKER_CODE_SIZE_BYTES + 8);

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

/// What loading the ledger found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerLoad {
    /// Lockers whose balance came from the ledger file.
    pub restored_count: usize,
    /// Entries for lockers provisioning no longer lists (ignored).
    pub unprovisioned_count: usize,
}

/// The durable state of one server; see the module docs.
#[derive(Debug)]
pub struct StateStore {
    io: Arc<StoreIo>,
    dir: PathBuf,
    /// The ledger generation last made durable (0: the provisioned ledger, never written).
    ledger_persisted: tokio::sync::Mutex<u64>,
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
            ledger_persisted: tokio::sync::Mutex::new(0),
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

    /// The ledger file.
    pub fn ledger_path(&self) -> PathBuf {
        self.dir.join(LEDGER_FILE_NAME)
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

    /// Reads the ledger file, if there is one, into `ledger` (the provisioned balances).
    pub async fn load_ledger(&self, ledger: &mut LockerLedger) -> Result<LedgerLoad, StoreError> {
        let path = self.ledger_path();
        let Some(bytes) = self.read_optional(&path).await? else {
            return Ok(LedgerLoad::default());
        };
        let corrupt = |reason: &str| StoreError::CorruptState {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let payload = decode_state(LEDGER_MAGIC, &bytes).map_err(corrupt)?;
        let entries = decode_ledger(payload).map_err(corrupt)?;
        let mut load = LedgerLoad::default();
        for (code, balance) in entries {
            if ledger.balance(&code).is_some() {
                ledger.insert(code, balance);
                load.restored_count += 1;
            } else {
                load.unprovisioned_count += 1;
            }
        }
        if load.unprovisioned_count > 0 {
            tracing::warn!(path = %path.display(), count = load.unprovisioned_count,
                "ledger names lockers provisioning no longer lists; ignored");
        }
        Ok(load)
    }

    /// Makes the ledger durable up to the generation `snapshot` returns: under the ledger
    /// lock, `snapshot()` gives (generation, the lockers whose balance differs from
    /// provisioning); nothing is written when that generation is already durable. Returns
    /// whether a file was written.
    pub async fn persist_ledger(
        &self,
        snapshot: impl FnOnce() -> (u64, Vec<(LockerCode, u64)>),
    ) -> Result<bool, StoreError> {
        let mut persisted = self.ledger_persisted.lock().await;
        let (generation, changed) = snapshot();
        if generation <= *persisted {
            return Ok(false);
        }
        let bytes = encode_state(LEDGER_MAGIC, &encode_ledger(&changed));
        self.replace(&self.dir, LEDGER_FILE_NAME, &bytes).await?;
        *persisted = generation;
        Ok(true)
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
            .persist_ledger(|| (1, changed.clone()))
            .await
            .expect("write"));
        assert!(
            !store
                .persist_ledger(|| (1, Vec::new()))
                .await
                .expect("skip"),
            "generation 1 is durable already"
        );
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "ledger and extensions dir, no temp: {names:?}"
        );

        let again = store_on(Arc::new(RealFs), dir.path());
        let mut ledger = provisioned();
        let load = again.load_ledger(&mut ledger).await.expect("load");
        assert_eq!(
            load,
            LedgerLoad {
                restored_count: 1,
                unprovisioned_count: 1
            }
        );
        assert_eq!(ledger.balance(&code("A")), Some(7));
        assert_eq!(ledger.balance(&code("B")), Some(20));
        assert_eq!(ledger.balance(&code("GONE")), None);
    }

    #[tokio::test]
    async fn a_torn_or_garbage_ledger_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_on(Arc::new(RealFs), dir.path());
        store.init().await.expect("init");
        store
            .persist_ledger(|| (1, vec![(code("A"), 7)]))
            .await
            .expect("write");
        let path = store.ledger_path();
        let whole = std::fs::read(&path).expect("read");
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
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_old_file_and_retries_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faulty = Arc::new(FaultyFs::new(Arc::new(RealFs)));
        let store = store_on(faulty.clone(), dir.path());
        store.init().await.expect("init");
        store
            .persist_ledger(|| (1, vec![(code("A"), 9)]))
            .await
            .expect("write");
        for op in [FsOp::Write, FsOp::Sync, FsOp::Rename, FsOp::SyncDir] {
            faulty.inject(Fault::on(op).error(io::ErrorKind::StorageFull).times(1));
            let result = store.persist_ledger(|| (2, vec![(code("A"), 8)])).await;
            assert!(result.is_err(), "{op:?}");
            faulty.heal();
        }
        let mut ledger = provisioned();
        store.load_ledger(&mut ledger).await.expect("load");
        // Only a failed directory fsync can leave the rename in place.
        assert!(matches!(ledger.balance(&code("A")), Some(9) | Some(8)));
        assert!(store
            .persist_ledger(|| (2, vec![(code("A"), 8)]))
            .await
            .expect("retried"));
        let mut ledger = provisioned();
        store.load_ledger(&mut ledger).await.expect("load");
        assert_eq!(ledger.balance(&code("A")), Some(8));
        let leftovers = std::fs::read_dir(store.dir())
            .expect("list")
            .filter(|entry| {
                entry
                    .as_ref()
                    .map(|e| e.file_name().to_string_lossy().starts_with(".tmp."))
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(leftovers, 0, "failed writes remove their temp files");
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
