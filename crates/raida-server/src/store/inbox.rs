//! Mailbox inboxes: where tell (71) publishes `.tell` files and peek (73) / ping (72) read and
//! delete them.
//!
//! Layout (tell page, DECISIONS.md): `{mailbox_root}/{denomination byte as 2 lowercase hex
//! digits}/{serial number}/inbox/00000000{GUID as 32 lowercase hex digits}.tell`, each file
//! one tell record (blob) stored verbatim. Only byte 57 of the blob, `edit_sequence`, means
//! anything here.
//!
//! Publish order: the edit_sequence guard reads any existing `.tell` of the same GUID and
//! skips the delivery when the incoming byte 57 is lower (equal or higher overwrites); then
//! the atomic publish of `store` (temp, write, fsync, close, rename), then the inbox fsync
//! only with `inbox_dir_fsync`. The guard is checked again, with the rename, under a lock, and
//! a delete re-reads a file under that same lock and leaves it if it is no longer the bytes
//! that were delivered: so two concurrent deliveries cannot both pass the guard, and a poll
//! can never delete a newer edit that replaced the tell it returned. (The pages do not say
//! how raidax orders these; "tells are one-shot; once read they are gone" is the rule kept.)
//!
//! Polls of one inbox take its poll lock ([`InboxStore::lock_polls`]) from the scan to the
//! end of the deletion (`delete_on_read = before_reply`), so two devices polling one mailbox
//! at once never both read the same tell: the peek and ping pages, "Multiple devices sharing
//! one mailbox can race; only the first device receives a given tell". Publishes do not take
//! it (a tell published mid-poll waits for the next poll, or replaces a read one, which the
//! delete then leaves).
//!
//! Scan: dotfiles (`.tmp.*` orphans of crashed publishes) and any name that is not exactly a
//! published tell name are ignored; mtimes are mapped through the server clock before the
//! `mtime > since` filter; a missing inbox is an empty one. Items come oldest first (mtime,
//! then name), so what does not fit one reply stays for the next poll.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tell_file::{decode_tell_file, encode_tell_file};
use super::{
    create_dir_durable, io_error, remove_temp, write_synced_temp, Guid, Mailbox, StoreError,
    StoreIo, INBOX_DIR_STEPS, ROOT_DIR_STEPS, TELL_WRITE_STEPS,
};
use crate::clock::US_PER_S;
use crate::fs::Step;
use crate::limits;
use crate::settings::Settings;

/// Prefix of every published tell file name.
pub const TELL_FILE_NAME_PREFIX: &str = "00000000";
/// Extension of every published tell file name.
pub const TELL_FILE_EXTENSION: &str = "tell";

/// The published file name of a tell: `00000000{guid}.tell`.
pub fn tell_file_name(guid: Guid) -> String {
    let name = format!("{TELL_FILE_NAME_PREFIX}{guid}.{TELL_FILE_EXTENSION}");
    assert_eq!(name.len(), limits::TELL_FILE_NAME_SIZE_BYTES);
    name
}

/// The GUID of a published tell file name; `None` for anything else (dotfiles included).
pub fn parse_tell_file_name(name: &str) -> Option<Guid> {
    if name.len() != limits::TELL_FILE_NAME_SIZE_BYTES {
        return None;
    }
    let rest = name.strip_prefix(TELL_FILE_NAME_PREFIX)?;
    let hex = rest.strip_suffix(".tell")?;
    Guid::from_hex(hex)
}

/// The edit_sequence of a tell blob (file-header byte 57); a blob too short to have one (an
/// older record) counts as 0.
pub fn edit_sequence(blob: &[u8]) -> u8 {
    blob.get(limits::EDIT_SEQUENCE_OFFSET).copied().unwrap_or(0)
}

/// What a publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The tell is in the inbox.
    Published,
    /// An existing tell of the same GUID has a higher edit_sequence; nothing was written.
    SkippedOlderEdit {
        /// The existing tell's edit_sequence.
        existing: u8,
        /// The refused tell's edit_sequence.
        incoming: u8,
    },
}

/// One tell read from an inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxItem {
    /// The file name, `00000000{guid}.tell`.
    pub file_name: String,
    /// The full host path of the file.
    pub path: PathBuf,
    /// The GUID from the file name.
    pub guid: Guid,
    /// The file's mtime on the server clock, in microseconds.
    pub mtime_unix_us: u64,
    /// The file's mtime on the server clock, in whole seconds (what `since` compares with).
    pub mtime_unix_s: u64,
    /// The tell record, verbatim.
    pub bytes: Vec<u8>,
}

/// How much one scan may return: what one peek/ping reply can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanBudget {
    /// Most tells.
    pub tells_max: usize,
    /// Most record bytes (the reply payload less its 8-byte array header).
    pub records_bytes_max: usize,
}

impl ScanBudget {
    /// No limit beyond [`limits::INBOX_SCAN_FILES_MAX`].
    pub const UNLIMITED: ScanBudget = ScanBudget {
        tells_max: usize::MAX,
        records_bytes_max: usize::MAX,
    };

    /// The budget of one reply under `settings` (`max_tells_per_reply`, `max_reply_bytes`).
    pub fn from_settings(settings: &Settings) -> ScanBudget {
        ScanBudget {
            tells_max: settings.max_tells_per_reply,
            records_bytes_max: settings
                .max_reply_bytes
                .saturating_sub(limits::TELL_LIST_HEADER_SIZE_BYTES),
        }
    }
}

/// What a delete did with each item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Files removed.
    pub removed_count: usize,
    /// Files already gone (another poll took them).
    pub already_gone_count: usize,
    /// Files left because a newer publish replaced them since they were read.
    pub replaced_count: usize,
    /// Files left because they no longer read back as a good record.
    pub unreadable_count: usize,
    /// Files left because the file system failed their re-read or removal.
    pub failed_count: usize,
}

/// What a delete did with one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteFate {
    /// The file held the delivered bytes and was removed.
    Removed,
    /// The file was already gone (another poll took it).
    AlreadyGone,
    /// A newer publish replaced the file since it was read; it was left for the next poll.
    Replaced,
    /// The file no longer reads back as a good record (its trailer fails twice): it cannot be
    /// proved to be the delivered one, so it was left where it is.
    Unreadable,
    /// The file system failed the re-read or the removal; the file stays for the next poll.
    Failed,
}

/// The inboxes of one server.
#[derive(Debug)]
pub struct InboxStore {
    io: Arc<StoreIo>,
    mailbox_root: PathBuf,
    dir_fsync: bool,
    /// Held across the guard re-check and the rename, and across a delete's check and remove.
    publish_lock: tokio::sync::Mutex<()>,
    /// Poll locks, [`limits::POLL_LOCK_STRIPES`] of them; a mailbox uses
    /// [`poll_lock_index`]'s.
    poll_locks: Vec<tokio::sync::Mutex<()>>,
}

impl InboxStore {
    /// Inboxes below `mailbox_root` (an absolute host path), syncing directories only when
    /// `dir_fsync` (`inbox_dir_fsync`) is set.
    pub fn new(io: Arc<StoreIo>, mailbox_root: PathBuf, dir_fsync: bool) -> InboxStore {
        assert!(mailbox_root.is_absolute(), "{}", mailbox_root.display());
        InboxStore {
            io,
            mailbox_root,
            dir_fsync,
            publish_lock: tokio::sync::Mutex::new(()),
            poll_locks: (0..limits::POLL_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// Waits for `mailbox`'s poll lock: hold it from a poll's scan until the tells it read
    /// are deleted, so no other poll of the inbox reads them meanwhile.
    pub async fn lock_polls(&self, mailbox: Mailbox) -> tokio::sync::MutexGuard<'_, ()> {
        let lock = self
            .poll_locks
            .get(poll_lock_index(mailbox))
            .expect("the index is below POLL_LOCK_STRIPES");
        lock.lock().await
    }

    /// The mailbox root.
    pub fn mailbox_root(&self) -> &Path {
        &self.mailbox_root
    }

    /// The inbox directory of `mailbox`.
    pub fn inbox_dir(&self, mailbox: Mailbox) -> PathBuf {
        self.mailbox_root.join(mailbox.inbox_rel_path())
    }

    /// Where the tell of `guid` lives in `mailbox`'s inbox.
    pub fn tell_path(&self, mailbox: Mailbox, guid: Guid) -> PathBuf {
        self.inbox_dir(mailbox).join(tell_file_name(guid))
    }

    /// Creates the mailbox root (durably with `dir_fsync`).
    pub async fn init(&self) -> Result<(), StoreError> {
        create_dir_durable(&self.io, ROOT_DIR_STEPS, &self.mailbox_root, self.dir_fsync).await
    }

    /// Creates `mailbox`'s inbox if it is missing (ping does this before parking) and returns
    /// its path.
    pub async fn ensure_inbox(&self, mailbox: Mailbox) -> Result<PathBuf, StoreError> {
        let dir = self.inbox_dir(mailbox);
        create_dir_durable(&self.io, INBOX_DIR_STEPS, &dir, self.dir_fsync).await?;
        Ok(dir)
    }

    /// Delivers one tell record to `mailbox`'s inbox (see the module doc for the order).
    pub async fn publish_tell(
        &self,
        mailbox: Mailbox,
        guid: Guid,
        blob: &[u8],
    ) -> Result<PublishOutcome, StoreError> {
        check_blob_size(blob.len())?;
        let dir = self.ensure_inbox(mailbox).await?;
        let final_path = dir.join(tell_file_name(guid));
        let incoming = edit_sequence(blob);
        let guard = self
            .existing_edit_sequence(&final_path, Step::TellGuardRead)
            .await?;
        if let Some(outcome) = guard_outcome(guard, incoming) {
            return Ok(outcome);
        }
        let stem = guid.to_string();
        let temp_path = write_synced_temp(
            &self.io,
            TELL_WRITE_STEPS,
            &dir,
            &stem,
            TELL_FILE_EXTENSION,
            &encode_tell_file(blob),
        )
        .await?;
        let outcome = self.rename_guarded(&temp_path, &final_path, incoming).await;
        if !matches!(outcome, Ok(PublishOutcome::Published)) {
            remove_temp(&self.io, TELL_WRITE_STEPS, &temp_path).await;
            return outcome;
        }
        if self.dir_fsync {
            self.io
                .fs()
                .sync_dir(&dir)
                .await
                .map_err(io_error("fsync inbox", &dir))?;
            self.io.reached(Step::TellDirSynced, &dir).await;
        }
        Ok(PublishOutcome::Published)
    }

    /// Re-checks the guard and renames the temp file over the final name, under the lock.
    async fn rename_guarded(
        &self,
        temp_path: &Path,
        final_path: &Path,
        incoming: u8,
    ) -> Result<PublishOutcome, StoreError> {
        let _locked = self.publish_lock.lock().await;
        let guard = self
            .existing_edit_sequence(final_path, Step::TellGuardRechecked)
            .await?;
        if let Some(outcome) = guard_outcome(guard, incoming) {
            probe::hit(&crate::probes::TELL_GUARD_SKIP_RECHECKED);
            return Ok(outcome);
        }
        self.io
            .fs()
            .rename(temp_path, final_path)
            .await
            .map_err(io_error("rename temp", final_path))?;
        if let Some(existing) = guard {
            probe::hit(if incoming > existing {
                &crate::probes::TELL_GUARD_OVERWRITE_NEWER
            } else {
                &crate::probes::TELL_GUARD_OVERWRITE_EQUAL
            });
        }
        self.io.reached(Step::TellRenamed, final_path).await;
        Ok(PublishOutcome::Published)
    }

    /// The edit_sequence of the tell at `path`, `None` if there is none. A file that does not
    /// read back as a good record is an error: the guard cannot judge it, and overwriting it
    /// could roll back a newer revision.
    async fn existing_edit_sequence(
        &self,
        path: &Path,
        step: Step,
    ) -> Result<Option<u8>, StoreError> {
        let record = self.read_record(path, step, "read existing tell").await?;
        Ok(record.map(|record| edit_sequence(&record)))
    }

    /// The record the tell file at `path` stores, `None` if there is no file. A file failing
    /// its trailer is read once more (a transient read error clears), then reported corrupt;
    /// `step` is reached after each read.
    async fn read_record(
        &self,
        path: &Path,
        step: Step,
        operation: &'static str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut attempt_count = 0;
        let mut failed_check = false;
        loop {
            attempt_count += 1;
            let file = match self.io.fs().read(path).await {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(io_error(operation, path)(error)),
            };
            self.io.reached(step, path).await;
            let reason = match decode_tell_file(&file) {
                Ok(record) => {
                    if failed_check {
                        probe::hit(&crate::probes::INBOX_REREAD_GOOD);
                    }
                    return Ok(Some(record.to_vec()));
                }
                Err(reason) => reason,
            };
            failed_check = true;
            probe::hit(&crate::probes::INBOX_CORRUPT_READ);
            if attempt_count >= limits::FILE_READ_ATTEMPTS_MAX {
                return Err(StoreError::CorruptTell {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            tracing::warn!(path = %path.display(), reason, "tell file failed its check; reading it again");
        }
    }

    /// The tells in `mailbox`'s inbox with mtime (on the server clock, in seconds) above
    /// `since_mtime_s` (all of them for `None`), oldest first, as many as fit `budget`.
    pub async fn scan(
        &self,
        mailbox: Mailbox,
        since_mtime_s: Option<u64>,
        budget: ScanBudget,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let dir = self.inbox_dir(mailbox);
        let names = match self.io.fs().read_dir(&dir).await {
            Ok(names) => names,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("list inbox", &dir)(error)),
        };
        self.io.reached(Step::InboxListed, &dir).await;
        let mut candidates = Vec::new();
        for (file_name, guid) in tell_names(names) {
            let path = dir.join(&file_name);
            let Some(mtime_unix_us) = self.mtime_unix_us(&path).await else {
                continue;
            };
            let mtime_unix_s = mtime_unix_us / US_PER_S;
            if since_mtime_s.is_some_and(|since| mtime_unix_s <= since) {
                continue;
            }
            candidates.push((mtime_unix_us, file_name, path, guid));
        }
        candidates.sort();
        let mut items: Vec<InboxItem> = Vec::new();
        let mut records_bytes = 0usize;
        for (mtime_unix_us, file_name, path, guid) in candidates {
            if items.len() >= budget.tells_max {
                probe::hit(&crate::probes::REPLY_TELLS_CAPPED);
                break;
            }
            let Some(bytes) = self.read_tell(&path).await else {
                continue;
            };
            if records_bytes.saturating_add(bytes.len()) > budget.records_bytes_max {
                probe::hit(&crate::probes::REPLY_BYTES_CAPPED);
                break;
            }
            records_bytes += bytes.len();
            items.push(InboxItem {
                file_name,
                path,
                guid,
                mtime_unix_us,
                mtime_unix_s: mtime_unix_us / US_PER_S,
                bytes,
            });
        }
        Ok(items)
    }

    /// The mtime of one tell on the server clock; `None` (skip it) when it vanished or could
    /// not be examined (it stays for a later poll).
    async fn mtime_unix_us(&self, path: &Path) -> Option<u64> {
        match self.io.fs().metadata(path).await {
            Ok(meta) => {
                self.io.reached(Step::TellStatted, path).await;
                Some(self.io.clock().fs_time_to_unix_us(meta.modified))
            }
            Err(error) => {
                skip_unreadable(path, &error);
                None
            }
        }
    }

    /// One tell's record; `None` (skip it, it stays for a later poll) when it vanished, could
    /// not be read, fails its trailer or cannot be a tell record by its size.
    async fn read_tell(&self, path: &Path) -> Option<Vec<u8>> {
        let record = match self.read_record(path, Step::TellRead, "read tell").await {
            Ok(record) => record?,
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "skipping a tell that cannot be read");
                return None;
            }
        };
        if check_blob_size(record.len()).is_err() {
            tracing::warn!(path = %path.display(), size_bytes = record.len(),
                "skipping .tell file whose size no tell record has");
            return None;
        }
        Some(record)
    }

    /// Removes delivered tells from `mailbox`'s inbox, each only if it still holds the bytes
    /// that were delivered; then syncs the inbox with `dir_fsync`. A file the disk fails on
    /// is left ([`DeleteFate::Failed`]) and the rest are still tried; only the final
    /// directory fsync's failure is an error.
    pub async fn delete(
        &self,
        mailbox: Mailbox,
        items: &[InboxItem],
    ) -> Result<DeleteReport, StoreError> {
        let (report, _fates) = self.delete_itemized(mailbox, items).await?;
        Ok(report)
    }

    /// [`InboxStore::delete`], also saying what happened to each item (same order as
    /// `items`), so an auditor knows exactly which tells left the inbox.
    pub async fn delete_itemized(
        &self,
        mailbox: Mailbox,
        items: &[InboxItem],
    ) -> Result<(DeleteReport, Vec<DeleteFate>), StoreError> {
        let dir = self.inbox_dir(mailbox);
        let mut report = DeleteReport::default();
        let mut fates = Vec::with_capacity(items.len());
        for item in items {
            assert_eq!(
                item.path.parent(),
                Some(dir.as_path()),
                "item of another inbox"
            );
            // One file the disk fails on does not keep the others: each is tried.
            let fate = self.delete_one(item).await.unwrap_or_else(|error| {
                tracing::warn!(path = %item.path.display(), %error, "delivered tell not deleted");
                DeleteFate::Failed
            });
            match fate {
                DeleteFate::Removed => report.removed_count += 1,
                DeleteFate::AlreadyGone => report.already_gone_count += 1,
                DeleteFate::Replaced => report.replaced_count += 1,
                DeleteFate::Unreadable => report.unreadable_count += 1,
                DeleteFate::Failed => report.failed_count += 1,
            }
            fates.push(fate);
        }
        assert_eq!(fates.len(), items.len());
        if self.dir_fsync && report.removed_count > 0 {
            self.io
                .fs()
                .sync_dir(&dir)
                .await
                .map_err(io_error("fsync inbox", &dir))?;
            self.io.reached(Step::TellDeleteDirSynced, &dir).await;
        }
        Ok((report, fates))
    }

    async fn delete_one(&self, item: &InboxItem) -> Result<DeleteFate, StoreError> {
        let _locked = self.publish_lock.lock().await;
        let step = Step::TellDeleteChecked;
        let current = match self.read_record(&item.path, step, "re-read tell").await {
            Ok(Some(current)) => current,
            Ok(None) => return Ok(DeleteFate::AlreadyGone),
            Err(StoreError::CorruptTell { path, reason }) => {
                tracing::error!(path = %path.display(), reason, "delivered tell no longer reads back; kept");
                return Ok(DeleteFate::Unreadable);
            }
            Err(error) => return Err(error),
        };
        if current != item.bytes {
            return Ok(DeleteFate::Replaced);
        }
        match self.io.fs().remove_file(&item.path).await {
            Ok(()) => {
                self.io.reached(Step::TellDeleted, &item.path).await;
                Ok(DeleteFate::Removed)
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(DeleteFate::AlreadyGone),
            Err(error) => Err(io_error("remove tell", &item.path)(error)),
        }
    }
}

/// The poll lock of `mailbox`: its serial number and denomination, mixed, modulo
/// [`limits::POLL_LOCK_STRIPES`].
fn poll_lock_index(mailbox: Mailbox) -> usize {
    let denomination = u64::from(mailbox.denomination.to_ne_bytes()[0]);
    let mixed = u64::from(mailbox.serial_number)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(denomination);
    let stripes = limits::POLL_LOCK_STRIPES as u64;
    usize::try_from(mixed % stripes).expect("below POLL_LOCK_STRIPES")
}

fn check_blob_size(size_bytes: usize) -> Result<(), StoreError> {
    if size_bytes < limits::TELL_FILE_HEADER_SIZE_BYTES {
        return Err(StoreError::BlobTooShort { size_bytes });
    }
    if size_bytes > limits::TELL_BLOB_SIZE_BYTES_MAX {
        return Err(StoreError::BlobTooLong { size_bytes });
    }
    Ok(())
}

/// The edit_sequence guard: skip when the incoming edit is older than the existing one.
fn guard_outcome(existing: Option<u8>, incoming: u8) -> Option<PublishOutcome> {
    let existing = existing?;
    (incoming < existing).then_some(PublishOutcome::SkippedOlderEdit { existing, incoming })
}

/// The published tell names among `names` (already sorted), at most
/// [`limits::INBOX_SCAN_FILES_MAX`] of them.
fn tell_names(names: Vec<std::ffi::OsString>) -> Vec<(String, Guid)> {
    names
        .into_iter()
        .filter_map(|name| {
            let name = name.into_string().ok()?;
            if name.starts_with(".tmp.") {
                probe::hit(&crate::probes::INBOX_TEMP_FILE_SEEN);
            }
            let guid = parse_tell_file_name(&name)?;
            Some((name, guid))
        })
        .take(limits::INBOX_SCAN_FILES_MAX)
        .collect()
}

fn skip_unreadable(path: &Path, error: &io::Error) {
    if error.kind() != io::ErrorKind::NotFound {
        tracing::warn!(path = %path.display(), %error, "skipping unreadable .tell file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::fs::{BoxFuture, Fault, FaultyFs, Fs, FsOp, NoopHook, RealFs, StepHook};
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    /// Records every step with the path it touched.
    #[derive(Debug, Default)]
    struct RecordingHook {
        steps: Mutex<Vec<(Step, PathBuf)>>,
    }

    impl RecordingHook {
        fn take(&self) -> Vec<(Step, PathBuf)> {
            std::mem::take(&mut *self.steps.lock().expect("lock"))
        }
    }

    impl StepHook for RecordingHook {
        fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
            self.steps
                .lock()
                .expect("lock")
                .push((step, host_path.to_path_buf()));
            crate::fs::GoOn::boxed()
        }
    }

    const MAILBOX: Mailbox = Mailbox {
        denomination: 1,
        serial_number: 1000,
    };

    #[test]
    fn poll_locks_spread_consecutive_mailboxes() {
        let indexes: BTreeSet<usize> = (0..limits::POLL_LOCK_STRIPES as u32)
            .map(|index| {
                poll_lock_index(Mailbox {
                    denomination: -3,
                    serial_number: 1000 + index,
                })
            })
            .collect();
        assert_eq!(indexes.len(), limits::POLL_LOCK_STRIPES, "one lock each");
        assert!(indexes
            .iter()
            .all(|index| *index < limits::POLL_LOCK_STRIPES));
        assert_eq!(poll_lock_index(MAILBOX), poll_lock_index(MAILBOX));
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        clock: ManualClock,
        store: InboxStore,
    }

    fn fixture() -> Fixture {
        fixture_with(true)
    }

    fn fixture_with(dir_fsync: bool) -> Fixture {
        fixture_hooked(dir_fsync, Arc::new(NoopHook))
    }

    fn fixture_hooked(dir_fsync: bool, hook: Arc<dyn StepHook>) -> Fixture {
        fixture_on(Arc::new(RealFs), dir_fsync, hook)
    }

    fn fixture_on(fs: Arc<dyn Fs>, dir_fsync: bool, hook: Arc<dyn StepHook>) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(1_700_000_000 * US_PER_S);
        let io = Arc::new(StoreIo::new(fs, hook, Arc::new(clock.clone()), 4242));
        let store = InboxStore::new(io, dir.path().join("mailboxes"), dir_fsync);
        Fixture {
            _dir: dir,
            clock,
            store,
        }
    }

    fn guid(n: u8) -> Guid {
        Guid([n; 16])
    }

    fn blob(edit: u8, fill: u8, size_bytes: usize) -> Vec<u8> {
        let mut blob = vec![fill; size_bytes];
        blob[limits::EDIT_SEQUENCE_OFFSET] = edit;
        blob
    }

    #[test]
    fn tell_names_round_trip_and_reject_others() {
        let name = tell_file_name(guid(0xab));
        assert_eq!(name, format!("00000000{}.tell", "ab".repeat(16)));
        assert_eq!(parse_tell_file_name(&name), Some(guid(0xab)));
        for other in [
            format!(".tmp.1.2.3.{}.tell", "ab".repeat(16)),
            format!("00000000{}.tel", "ab".repeat(16)),
            format!("00000001{}.tell", "ab".repeat(16)),
            format!("00000000{}.tell", "AB".repeat(16)),
            "notes.txt".to_string(),
        ] {
            assert_eq!(parse_tell_file_name(&other), None, "{other}");
        }
    }

    #[test]
    fn edit_sequence_of_short_blob_is_zero() {
        assert_eq!(edit_sequence(&[1; 57]), 0);
        assert_eq!(edit_sequence(&blob(9, 0, 64)), 9);
    }

    #[tokio::test]
    async fn publish_then_scan_returns_the_blob() {
        let f = fixture();
        f.store.init().await.expect("init");
        let tell = blob(0, 7, 64 + 32 + 16);
        let outcome = f.store.publish_tell(MAILBOX, guid(1), &tell).await;
        assert_eq!(outcome.expect("publish"), PublishOutcome::Published);
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].bytes, tell);
        assert_eq!(items[0].guid, guid(1));
        assert_eq!(items[0].file_name, tell_file_name(guid(1)));
        assert_eq!(items[0].path, f.store.tell_path(MAILBOX, guid(1)));
        let inbox = f.store.inbox_dir(MAILBOX);
        assert!(
            inbox.ends_with("mailboxes/01/1000/inbox"),
            "{}",
            inbox.display()
        );
        let names: Vec<_> = std::fs::read_dir(&inbox)
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file left behind: {names:?}");
    }

    #[tokio::test]
    async fn publish_refuses_blobs_of_impossible_size() {
        let f = fixture();
        let short = f.store.publish_tell(MAILBOX, guid(1), &[0; 63]).await;
        assert!(matches!(
            short,
            Err(StoreError::BlobTooShort { size_bytes: 63 })
        ));
        let long = vec![0; limits::TELL_BLOB_SIZE_BYTES_MAX + 1];
        let long = f.store.publish_tell(MAILBOX, guid(1), &long).await;
        assert!(matches!(long, Err(StoreError::BlobTooLong { .. })));
    }

    /// A fixture whose reads of `.tell` files flip a byte on the calls `rule` picks.
    fn fixture_flipping(rule: impl FnOnce(Fault) -> Fault) -> Fixture {
        let faulty = FaultyFs::new(Arc::new(RealFs));
        faulty.inject(rule(
            Fault::on(FsOp::Read).path_contains(".tell").flip_byte(),
        ));
        fixture_on(Arc::new(faulty), true, Arc::new(NoopHook))
    }

    #[tokio::test]
    async fn a_read_flipped_once_is_read_again_and_delivered_whole() {
        let f = fixture_flipping(|rule| rule.times(1));
        let record = blob(0, 7, 100);
        f.store
            .publish_tell(MAILBOX, guid(1), &record)
            .await
            .expect("publish");
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].bytes, record, "the second read is the good one");
    }

    #[tokio::test]
    async fn a_tell_that_never_reads_back_is_skipped_and_kept() {
        let f = fixture_flipping(|rule| rule);
        let record = blob(0, 7, 100);
        f.store
            .publish_tell(MAILBOX, guid(1), &record)
            .await
            .expect("publish");
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items, vec![], "never sent out as a good record");
        let path = f.store.tell_path(MAILBOX, guid(1));
        assert_eq!(
            std::fs::read(path).expect("kept"),
            encode_tell_file(&record)
        );
    }

    #[tokio::test]
    async fn the_guard_refuses_to_judge_a_tell_it_cannot_read() {
        // Reads only happen for the guard here: the first publish finds no file.
        let f = fixture_flipping(|rule| rule);
        let older = blob(5, 1, 100);
        f.store
            .publish_tell(MAILBOX, guid(2), &older)
            .await
            .expect("first");
        let outcome = f
            .store
            .publish_tell(MAILBOX, guid(2), &blob(6, 2, 100))
            .await;
        assert!(
            matches!(outcome, Err(StoreError::CorruptTell { .. })),
            "{outcome:?}"
        );
        let path = f.store.tell_path(MAILBOX, guid(2));
        assert_eq!(std::fs::read(path).expect("kept"), encode_tell_file(&older));
    }

    #[tokio::test]
    async fn a_delivered_tell_that_no_longer_reads_back_is_kept() {
        // The publish's two guard reads (no file yet) and the scan's read are good; both of
        // the delete's re-reads are flipped.
        let f = fixture_flipping(|rule| rule.after(3));
        let record = blob(0, 7, 100);
        f.store
            .publish_tell(MAILBOX, guid(3), &record)
            .await
            .expect("publish");
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 1);
        let (report, fates) = f
            .store
            .delete_itemized(MAILBOX, &items)
            .await
            .expect("delete");
        assert_eq!(fates, vec![DeleteFate::Unreadable]);
        assert_eq!(report.unreadable_count, 1);
        assert!(f.store.tell_path(MAILBOX, guid(3)).exists());
    }

    #[tokio::test]
    async fn a_delete_the_disk_fails_keeps_that_tell_and_deletes_the_rest() {
        let faulty = FaultyFs::new(Arc::new(RealFs));
        let f = fixture_on(Arc::new(faulty.clone()), true, Arc::new(NoopHook));
        for n in 1..=3 {
            let record = blob(0, n, 100);
            f.store
                .publish_tell(MAILBOX, guid(n), &record)
                .await
                .expect("publish");
        }
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 3);
        let second = tell_file_name(guid(2));
        faulty.inject(Fault::on(FsOp::Remove).path_contains(&second));
        let (report, fates) = f
            .store
            .delete_itemized(MAILBOX, &items)
            .await
            .expect("delete");
        let by_guid: Vec<(Guid, DeleteFate)> =
            items.iter().map(|item| item.guid).zip(fates).collect();
        assert!(
            by_guid.contains(&(guid(2), DeleteFate::Failed)),
            "{by_guid:?}"
        );
        assert_eq!((report.removed_count, report.failed_count), (2, 1));
        assert!(
            f.store.tell_path(MAILBOX, guid(2)).exists(),
            "kept for the next poll"
        );
        assert!(
            !f.store.tell_path(MAILBOX, guid(3)).exists(),
            "the one after it went"
        );
    }

    #[tokio::test]
    async fn edit_sequence_guard() {
        let f = fixture();
        let first = blob(5, 1, 100);
        f.store
            .publish_tell(MAILBOX, guid(2), &first)
            .await
            .expect("first");
        let older = blob(4, 2, 100);
        let outcome = f.store.publish_tell(MAILBOX, guid(2), &older).await;
        assert_eq!(
            outcome.expect("older"),
            PublishOutcome::SkippedOlderEdit {
                existing: 5,
                incoming: 4
            }
        );
        let path = f.store.tell_path(MAILBOX, guid(2));
        assert_eq!(
            std::fs::read(&path).expect("read"),
            encode_tell_file(&first),
            "older edit skipped"
        );
        let equal = blob(5, 3, 120);
        let outcome = f.store.publish_tell(MAILBOX, guid(2), &equal).await;
        assert_eq!(outcome.expect("equal"), PublishOutcome::Published);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            encode_tell_file(&equal),
            "equal overwrites"
        );
        let newer = blob(6, 4, 90);
        let outcome = f.store.publish_tell(MAILBOX, guid(2), &newer).await;
        assert_eq!(outcome.expect("newer"), PublishOutcome::Published);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            encode_tell_file(&newer),
            "newer overwrites"
        );
        let inbox_entries = std::fs::read_dir(f.store.inbox_dir(MAILBOX))
            .expect("list")
            .count();
        assert_eq!(inbox_entries, 1, "skips and overwrites leave no temp files");
    }

    #[tokio::test]
    async fn scan_ignores_orphans_and_foreign_names() {
        let f = fixture();
        let tell = blob(0, 9, 64);
        f.store
            .publish_tell(MAILBOX, guid(3), &tell)
            .await
            .expect("publish");
        let inbox = f.store.inbox_dir(MAILBOX);
        let orphan = format!(".tmp.1.2.3.{}.tell", guid(4));
        std::fs::write(inbox.join(orphan), blob(0, 1, 64)).expect("orphan");
        std::fs::write(inbox.join("readme.txt"), b"hi").expect("foreign");
        std::fs::write(inbox.join(format!("{}.tell", guid(5))), blob(0, 1, 64)).expect("x");
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        let guids: Vec<Guid> = items.iter().map(|item| item.guid).collect();
        assert_eq!(guids, vec![guid(3)]);
    }

    #[tokio::test]
    async fn scan_of_missing_inbox_is_empty_and_ensure_creates_it() {
        let f = fixture();
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert!(items.is_empty());
        let dir = f.store.ensure_inbox(MAILBOX).await.expect("ensure");
        assert!(dir.is_dir());
        f.store.ensure_inbox(MAILBOX).await.expect("ensure twice");
    }

    #[tokio::test]
    async fn mtime_filter_goes_through_the_server_clock() {
        let f = fixture();
        f.store
            .publish_tell(MAILBOX, guid(6), &blob(0, 6, 64))
            .await
            .expect("publish");
        let path = f.store.tell_path(MAILBOX, guid(6));
        let fs_mtime = std::fs::metadata(&path)
            .expect("meta")
            .modified()
            .expect("mtime");
        let fs_mtime_s = f.clock.fs_time_to_unix_us(fs_mtime) / US_PER_S;
        let scan = |since| f.store.scan(MAILBOX, since, ScanBudget::UNLIMITED);
        assert_eq!(scan(Some(fs_mtime_s - 1)).await.expect("scan").len(), 1);
        assert_eq!(
            scan(Some(fs_mtime_s)).await.expect("scan").len(),
            0,
            "strictly newer"
        );
        assert_eq!(scan(Some(0)).await.expect("scan").len(), 1);
        // A server clock one hour ahead of the file system sees the file one hour later.
        f.clock.set_fs_offset_us(3_600 * US_PER_S as i64);
        let items = scan(Some(fs_mtime_s + 3_599)).await.expect("scan");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].mtime_unix_s, fs_mtime_s + 3_600);
        assert_eq!(scan(Some(fs_mtime_s + 3_600)).await.expect("scan").len(), 0);
    }

    // Sets real files' mtimes relative to the machine clock that stamped them.
    #[allow(clippy::disallowed_methods)]
    #[tokio::test]
    async fn scan_orders_by_mtime_then_name_and_respects_the_budget() {
        let f = fixture();
        for n in [3u8, 1, 2] {
            f.store
                .publish_tell(MAILBOX, guid(n), &blob(0, n, 100))
                .await
                .expect("publish");
        }
        // Make the mtimes distinct and opposite to name order.
        for (n, age_s) in [(1u8, 10u64), (2, 30), (3, 20)] {
            let path = f.store.tell_path(MAILBOX, guid(n));
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            let mtime = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
            file.set_modified(mtime).expect("set mtime");
        }
        let all = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        let order: Vec<Guid> = all.iter().map(|item| item.guid).collect();
        assert_eq!(order, vec![guid(2), guid(3), guid(1)]);
        let two = ScanBudget {
            tells_max: 2,
            records_bytes_max: usize::MAX,
        };
        assert_eq!(
            f.store.scan(MAILBOX, None, two).await.expect("scan").len(),
            2
        );
        let bytes = ScanBudget {
            tells_max: 255,
            records_bytes_max: 250,
        };
        let fitted = f.store.scan(MAILBOX, None, bytes).await.expect("scan");
        assert_eq!(fitted.len(), 2, "third record would exceed 250 bytes");
        assert_eq!(fitted[0].guid, guid(2), "oldest first, the rest waits");
    }

    #[tokio::test]
    async fn delete_removes_only_what_was_delivered() {
        let f = fixture();
        f.store
            .publish_tell(MAILBOX, guid(7), &blob(0, 1, 64))
            .await
            .expect("publish");
        f.store
            .publish_tell(MAILBOX, guid(8), &blob(0, 2, 64))
            .await
            .expect("publish");
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 2);
        // A newer edit of guid 8 arrives between the read and the delete.
        let newer = blob(1, 3, 64);
        f.store
            .publish_tell(MAILBOX, guid(8), &newer)
            .await
            .expect("edit");
        let report = f.store.delete(MAILBOX, &items).await.expect("delete");
        assert_eq!(
            report,
            DeleteReport {
                removed_count: 1,
                already_gone_count: 0,
                replaced_count: 1,
                ..DeleteReport::default()
            }
        );
        let left = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].bytes, newer);
        let again = f.store.delete(MAILBOX, &items[..1]).await.expect("delete");
        assert_eq!(again.already_gone_count, 1);
    }

    #[tokio::test]
    async fn delete_itemized_reports_each_fate_in_order() {
        let f = fixture();
        for n in [10u8, 11, 12] {
            f.store
                .publish_tell(MAILBOX, guid(n), &blob(0, n, 64))
                .await
                .expect("publish");
        }
        let items = f
            .store
            .scan(MAILBOX, None, ScanBudget::UNLIMITED)
            .await
            .expect("scan");
        assert_eq!(items.len(), 3);
        std::fs::remove_file(&items[0].path).expect("taken by another poll");
        f.store
            .publish_tell(MAILBOX, items[2].guid, &blob(1, 9, 64))
            .await
            .expect("newer edit");
        let (report, fates) = f
            .store
            .delete_itemized(MAILBOX, &items)
            .await
            .expect("delete");
        assert_eq!(
            fates,
            vec![
                DeleteFate::AlreadyGone,
                DeleteFate::Removed,
                DeleteFate::Replaced
            ]
        );
        assert_eq!(
            report,
            DeleteReport {
                removed_count: 1,
                already_gone_count: 1,
                replaced_count: 1,
                ..DeleteReport::default()
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_scans_never_see_a_partial_tell() {
        // No directory fsync: the publishes are then mostly blob writes, which is where a
        // non-atomic publish would show a reader a partial tell.
        let f = fixture_with(false);
        f.store.init().await.expect("init");
        let store = Arc::new(f.store);
        let mut published = BTreeSet::new();
        let mut blobs = Vec::new();
        for n in 0..200u16 {
            // Eight GUIDs, each rewritten with rising edits and sizes up to 64 KiB, so reads
            // race renames over existing files as well as fresh ones.
            let guid_index = (n % 8) as u8;
            let size_bytes =
                64 + (usize::from(n) * 7_919) % (limits::TELL_BLOB_SIZE_BYTES_MAX - 64);
            let mut tell = blob((n / 8) as u8, 0, size_bytes);
            for (index, byte) in tell.iter_mut().enumerate().skip(64) {
                *byte = (index as u8) ^ (n as u8);
            }
            published.insert(tell.clone());
            blobs.push((guid(guid_index), tell));
        }
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let store = store.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut scan_count = 0u32;
                loop {
                    // Read the flag first so the last scan starts after the last publish.
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                    let items = store
                        .scan(MAILBOX, None, ScanBudget::UNLIMITED)
                        .await
                        .expect("scan");
                    scan_count += 1;
                    seen.extend(items.into_iter().map(|item| item.bytes));
                    if finished {
                        return (seen, scan_count);
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        for (guid, tell) in &blobs {
            store
                .publish_tell(MAILBOX, *guid, tell)
                .await
                .expect("publish");
            tokio::task::yield_now().await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let (seen, scan_count) = reader.await.expect("reader");
        assert!(scan_count > 1, "the reader raced the publisher");
        let last_edits: BTreeSet<&Vec<u8>> =
            blobs[blobs.len() - 8..].iter().map(|(_, b)| b).collect();
        let final_scan: BTreeSet<&Vec<u8>> = seen[seen.len() - 8..].iter().collect();
        assert_eq!(
            final_scan, last_edits,
            "the last scan sees every GUID's last edit"
        );
        for bytes in &seen {
            assert!(
                published.contains(bytes),
                "partial or foreign tell of {} bytes",
                bytes.len()
            );
        }
    }

    #[tokio::test]
    async fn publish_reports_every_step_in_order() {
        for dir_fsync in [true, false] {
            let hook = Arc::new(RecordingHook::default());
            let f = fixture_hooked(dir_fsync, hook.clone());
            f.store.init().await.expect("init");
            hook.take();
            let root = f.store.mailbox_root().to_path_buf();
            let inbox = f.store.inbox_dir(MAILBOX);
            let tell = f.store.tell_path(MAILBOX, guid(9));
            f.store
                .publish_tell(MAILBOX, guid(9), &blob(0, 9, 64))
                .await
                .expect("first");
            let first = hook.take();
            let temp = first
                .iter()
                .find(|(step, _)| *step == Step::TellTempCreated)
                .map(|(_, path)| path.clone())
                .expect("a temp file was created");
            assert!(
                temp.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(".tmp.4242.") && n.ends_with(&format!(".{}.tell", guid(9)))
                }),
                "{}",
                temp.display()
            );
            let mut expected = vec![
                (Step::InboxStatted, root.clone()),
                (Step::InboxDirCreated, inbox.clone()),
            ];
            if dir_fsync {
                // Every directory that gained an entry, top down.
                expected.push((Step::InboxDirSynced, root.clone()));
                expected.push((Step::InboxDirSynced, root.join("01")));
                expected.push((Step::InboxDirSynced, root.join("01/1000")));
            }
            let temp_steps = [
                Step::TellTempCreated,
                Step::TellTempWritten,
                Step::TellTempSynced,
                Step::TellTempClosed,
            ];
            let mut first_expected = expected.clone();
            first_expected.extend(temp_steps.iter().map(|step| (*step, temp.clone())));
            first_expected.push((Step::TellRenamed, tell.clone()));
            if dir_fsync {
                first_expected.push((Step::TellDirSynced, inbox.clone()));
            }
            assert_eq!(
                first, first_expected,
                "first publish, dir_fsync {dir_fsync}"
            );

            f.store
                .publish_tell(MAILBOX, guid(9), &blob(1, 9, 64))
                .await
                .expect("edit");
            let second: Vec<Step> = hook.take().into_iter().map(|(step, _)| step).collect();
            let mut second_expected = vec![Step::InboxStatted, Step::TellGuardRead];
            second_expected.extend(temp_steps);
            second_expected.extend([Step::TellGuardRechecked, Step::TellRenamed]);
            if dir_fsync {
                second_expected.push(Step::TellDirSynced);
            }
            assert_eq!(second, second_expected, "overwrite, dir_fsync {dir_fsync}");

            let outcome = f
                .store
                .publish_tell(MAILBOX, guid(9), &blob(0, 9, 64))
                .await;
            assert!(matches!(
                outcome,
                Ok(PublishOutcome::SkippedOlderEdit { .. })
            ));
            let skipped: Vec<Step> = hook.take().into_iter().map(|(step, _)| step).collect();
            assert_eq!(
                skipped,
                vec![Step::InboxStatted, Step::TellGuardRead],
                "nothing written"
            );
        }
    }
}
