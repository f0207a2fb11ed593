//! Durable server state on a file system: mailbox inboxes of `.tell` files ([`inbox`]),
//! uploaded stripes ([`stripes`]), the locker ledger and extension state ([`state`]), and the
//! start-up sweep of temp files a killed server left behind ([`cleanup`]).
//!
//! Both stores write the same way, the tell page's atomic publish: a hidden temp file
//! `.tmp.{PID}.{TIME}.{SEQ}.{name}` created exclusively, written, fsynced, closed, renamed to
//! its final name, then (only if the setting asks) the directory fsynced. The close comes
//! before the rename and the fsync before both; that order also steps around the two turmoil
//! 0.7.2 defects in `shared/notes/turmoil-0.7.md` (data lost when a file is renamed before
//! its `sync_all`; `sync_all` failing on a handle whose file was renamed).
//!
//! Every file operation goes through the injected [`Fs`] and is reported, once it succeeded,
//! to the injected [`StepHook`] as a named [`Step`]. Failed operations report nothing.

pub mod cleanup;
pub mod inbox;
pub mod state;
pub mod stripes;
pub mod tell_file;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::Clock;
use crate::fs::{Fs, Step, StepHook};
use crate::limits;

/// A 16-byte file/email GUID. Shown and stored as 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(pub [u8; limits::GUID_SIZE_BYTES]);

impl Guid {
    /// Parses exactly 32 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<Guid> {
        let bytes = hex_to_bytes::<{ limits::GUID_SIZE_BYTES }>(text)?;
        Some(Guid(bytes))
    }
}

impl Guid {
    /// The 32 lowercase hex digits, as ASCII bytes.
    pub fn hex(&self) -> [u8; 2 * limits::GUID_SIZE_BYTES] {
        let mut text = [0_u8; 2 * limits::GUID_SIZE_BYTES];
        for (pair, byte) in text.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&hex_byte(byte));
        }
        text
    }
}

/// `byte` as two lowercase hex digits (ASCII).
pub(crate) fn hex_byte(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 0x0f)],
    ]
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every file name the stores build starts here: one `write_str`, not 16 `write!`s.
        f.write_str(std::str::from_utf8(&self.hex()).expect("hex digits are ASCII"))
    }
}

/// A mailbox: the coin (denomination, serial number) that owns an inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mailbox {
    /// Signed denomination.
    pub denomination: i8,
    /// Serial number.
    pub serial_number: u32,
}

impl Mailbox {
    /// The inbox directory below the mailbox root:
    /// `{denomination as 2 lowercase hex digits of its byte}/{serial number}/inbox`.
    pub fn inbox_rel_path(&self) -> PathBuf {
        let denomination_byte = self.denomination as u8;
        PathBuf::from(format!("{denomination_byte:02x}"))
            .join(self.serial_number.to_string())
            .join("inbox")
    }
}

/// Lowercase hex digits of `bytes`.
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Parses exactly `2 * N` lowercase hex digits.
pub fn hex_to_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let high = lower_hex_value(*pair.first()?)?;
        let low = lower_hex_value(*pair.get(1)?)?;
        *byte = (high << 4) | low;
    }
    Some(bytes)
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// A file-system operation failed.
    Io {
        /// What the store was doing.
        operation: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The file system's error.
        source: io::Error,
    },
    /// A tell blob shorter than its 64-byte file header.
    BlobTooShort {
        /// The blob's size.
        size_bytes: usize,
    },
    /// A tell blob larger than any tell request can carry.
    BlobTooLong {
        /// The blob's size.
        size_bytes: usize,
    },
    /// A stripe larger than any upload can carry.
    StripeTooLong {
        /// The stripe's size.
        size_bytes: usize,
    },
    /// A stored stripe file is torn or is not a stripe file.
    CorruptStripe {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `.tell` file does not read back as a good record (see [`tell_file`]).
    CorruptTell {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Every temp name tried was taken.
    TempNamesExhausted {
        /// The directory the temp file was to go in.
        dir: PathBuf,
    },
    /// A state file (ledger, extension state) is torn, foreign or refused by its reader.
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io {
                operation,
                path,
                source,
            } => write!(f, "{operation} {}: {source}", path.display()),
            StoreError::BlobTooShort { size_bytes } => {
                write!(
                    f,
                    "tell blob of {size_bytes} bytes is shorter than its header"
                )
            }
            StoreError::BlobTooLong { size_bytes } => {
                write!(f, "tell blob of {size_bytes} bytes is too long")
            }
            StoreError::StripeTooLong { size_bytes } => {
                write!(f, "stripe of {size_bytes} bytes is too long")
            }
            StoreError::CorruptStripe { path, reason } => {
                write!(f, "corrupt stripe file {}: {reason}", path.display())
            }
            StoreError::CorruptTell { path, reason } => {
                write!(f, "corrupt tell file {}: {reason}", path.display())
            }
            StoreError::TempNamesExhausted { dir } => {
                write!(f, "no free temp name in {}", dir.display())
            }
            StoreError::CorruptState { path, reason } => write!(
                f,
                "state file {}: {reason}; the server does not start on state it cannot \
                 trust (restore the file from a backup, or remove it to fall back to the \
                 provisioned balances)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

/// The injected I/O a store works through, shared by both stores of one server.
#[derive(Debug)]
pub struct StoreIo {
    fs: Arc<dyn Fs>,
    hook: Arc<dyn StepHook>,
    clock: Arc<dyn Clock>,
    process_id: u32,
    temp_seq: AtomicU64,
}

impl StoreIo {
    /// Store I/O through `fs`, reporting to `hook`, naming temp files with `process_id` (the
    /// real PID; in the simulator any per-boot number) and `clock`'s time.
    pub fn new(
        fs: Arc<dyn Fs>,
        hook: Arc<dyn StepHook>,
        clock: Arc<dyn Clock>,
        process_id: u32,
    ) -> StoreIo {
        StoreIo {
            fs,
            hook,
            clock,
            process_id,
            temp_seq: AtomicU64::new(0),
        }
    }

    /// The file system.
    pub fn fs(&self) -> &dyn Fs {
        self.fs.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    async fn reached(&self, step: Step, path: &Path) {
        self.hook.reached(step, path).await;
    }

    /// A fresh hidden temp name `.tmp.{PID}.{TIME}.{SEQ}.{stem}.{extension}`.
    fn temp_name(&self, stem: &str, extension: &str) -> String {
        let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        let time_us = self.clock.now_unix_us();
        let name = format!(
            ".tmp.{}.{time_us}.{seq}.{stem}.{extension}",
            self.process_id
        );
        assert!(
            name.len() <= limits::TEMP_FILE_NAME_SIZE_BYTES_MAX,
            "{name}"
        );
        name
    }
}

/// The steps one kind of atomic write reports.
#[derive(Clone, Copy, Debug)]
struct WriteSteps {
    temp_created: Step,
    temp_written: Step,
    temp_synced: Step,
    temp_closed: Step,
    temp_removed: Step,
}

const TELL_WRITE_STEPS: WriteSteps = WriteSteps {
    temp_created: Step::TellTempCreated,
    temp_written: Step::TellTempWritten,
    temp_synced: Step::TellTempSynced,
    temp_closed: Step::TellTempClosed,
    temp_removed: Step::TellTempRemoved,
};

const STRIPE_WRITE_STEPS: WriteSteps = WriteSteps {
    temp_created: Step::StripeTempCreated,
    temp_written: Step::StripeTempWritten,
    temp_synced: Step::StripeTempSynced,
    temp_closed: Step::StripeTempClosed,
    temp_removed: Step::StripeTempRemoved,
};

/// Writes `bytes` to a new hidden temp file in `dir`: exclusive create, write, fsync, close.
/// Returns the temp path, ready to be renamed. On failure the temp file is removed.
async fn write_synced_temp(
    io: &StoreIo,
    steps: WriteSteps,
    dir: &Path,
    stem: &str,
    extension: &str,
    bytes: &[u8],
) -> Result<PathBuf, StoreError> {
    let (temp_path, mut file) = create_temp(io, steps, dir, stem, extension).await?;
    let written = async {
        file.write_all(bytes)
            .await
            .map_err(io_error("write temp", &temp_path))?;
        io.reached(steps.temp_written, &temp_path).await;
        file.sync_all()
            .await
            .map_err(io_error("fsync temp", &temp_path))?;
        io.reached(steps.temp_synced, &temp_path).await;
        Ok::<(), StoreError>(())
    }
    .await;
    let closed = file
        .close()
        .await
        .map_err(io_error("close temp", &temp_path));
    let result = written.and(closed);
    match result {
        Ok(()) => {
            io.reached(steps.temp_closed, &temp_path).await;
            Ok(temp_path)
        }
        Err(error) => {
            remove_temp(io, steps, &temp_path).await;
            Err(error)
        }
    }
}

async fn create_temp(
    io: &StoreIo,
    steps: WriteSteps,
    dir: &Path,
    stem: &str,
    extension: &str,
) -> Result<(PathBuf, Box<dyn crate::fs::FsFile>), StoreError> {
    for _ in 0..limits::TEMP_CREATE_ATTEMPTS_MAX {
        let temp_path = dir.join(io.temp_name(stem, extension));
        match io.fs.create_new(&temp_path).await {
            Ok(file) => {
                io.reached(steps.temp_created, &temp_path).await;
                return Ok((temp_path, file));
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(io_error("create temp", &temp_path)(error)),
        }
    }
    Err(StoreError::TempNamesExhausted {
        dir: dir.to_path_buf(),
    })
}

/// Best-effort removal of a temp file a failed or skipped write leaves behind; a leftover
/// is harmless (scans ignore dotfiles), so a failure here is only logged.
async fn remove_temp(io: &StoreIo, steps: WriteSteps, temp_path: &Path) {
    match io.fs.remove_file(temp_path).await {
        Ok(()) => io.reached(steps.temp_removed, temp_path).await,
        Err(error) => {
            tracing::warn!(path = %temp_path.display(), %error, "could not remove temp file")
        }
    }
}

/// The steps one kind of directory creation reports.
#[derive(Clone, Copy, Debug)]
struct DirSteps {
    statted: Step,
    created: Step,
    synced: Step,
}

const ROOT_DIR_STEPS: DirSteps = DirSteps {
    statted: Step::RootStatted,
    created: Step::RootDirCreated,
    synced: Step::RootDirSynced,
};

const INBOX_DIR_STEPS: DirSteps = DirSteps {
    statted: Step::InboxStatted,
    created: Step::InboxDirCreated,
    synced: Step::InboxDirSynced,
};

/// Whether `path` is an existing directory (`NotFound` is false; other errors are errors).
async fn dir_exists(io: &StoreIo, steps: DirSteps, path: &Path) -> Result<bool, StoreError> {
    match io.fs.metadata(path).await {
        Ok(meta) => {
            io.reached(steps.statted, path).await;
            Ok(meta.is_dir)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error("stat dir", path)(error)),
    }
}

/// Creates `dir` and its missing parents. With `dir_fsync`, then syncs every directory that
/// gained an entry (the deepest existing ancestor down to `dir`'s parent), so the new
/// directories survive a power loss.
async fn create_dir_durable(
    io: &StoreIo,
    steps: DirSteps,
    dir: &Path,
    dir_fsync: bool,
) -> Result<(), StoreError> {
    if dir_exists(io, steps, dir).await? {
        return Ok(());
    }
    let mut existing_ancestor = dir.parent();
    while let Some(ancestor) = existing_ancestor {
        if ancestor.as_os_str().is_empty() || dir_exists(io, steps, ancestor).await? {
            break;
        }
        existing_ancestor = ancestor.parent();
    }
    io.fs
        .create_dir_all(dir)
        .await
        .map_err(io_error("create dir", dir))?;
    io.reached(steps.created, dir).await;
    if !dir_fsync {
        return Ok(());
    }
    let mut gained_entries: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|ancestor| Some(*ancestor) != existing_ancestor)
        .filter(|ancestor| !ancestor.as_os_str().is_empty())
        .collect();
    if let Some(ancestor) = existing_ancestor.filter(|a| !a.as_os_str().is_empty()) {
        gained_entries.push(ancestor);
    }
    for parent in gained_entries.into_iter().rev() {
        io.fs
            .sync_dir(parent)
            .await
            .map_err(io_error("fsync dir", parent))?;
        io.reached(steps.synced, parent).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_hex_round_trip() {
        let guid = Guid([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        let text = guid.to_string();
        assert_eq!(text, "00112233445566778899aabbccddeeff");
        assert_eq!(Guid::from_hex(&text), Some(guid));
        assert_eq!(Guid::from_hex(&text.to_uppercase()), None);
        assert_eq!(Guid::from_hex("00"), None);
        assert_eq!(bytes_to_hex(&guid.0), text);
    }

    #[test]
    fn mailbox_path_uses_the_denomination_byte() {
        let mailbox = Mailbox {
            denomination: -1,
            serial_number: 1000,
        };
        assert_eq!(mailbox.inbox_rel_path(), PathBuf::from("ff/1000/inbox"));
        let mailbox = Mailbox {
            denomination: 6,
            serial_number: 7,
        };
        assert_eq!(mailbox.inbox_rel_path(), PathBuf::from("06/7/inbox"));
    }
}
