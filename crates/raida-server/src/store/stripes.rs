//! Uploaded stripes, keyed by (GUID, file_type): one RAIDA holds one stripe of a given file
//! (DECISIONS.md "Upload"), and a repeated upload of the same key replaces it, so retries are
//! idempotent.
//!
//! Each stripe is one file `{stripe_root}/{GUID hex}.{file_type as 2 hex digits}.stripe`,
//! written by the atomic publish of `store` and, with `stripe_dir_fsync`, made durable by a
//! directory fsync. The file starts with a fixed 24-byte header so the expiry travels with
//! the data and a torn, foreign or decayed file is reported as corrupt, never returned as a
//! stripe:
//!
//! | offset | size | field                                                        |
//! |--------|------|--------------------------------------------------------------|
//! | 0      | 4    | magic `QSTR`                                                 |
//! | 4      | 1    | format version: 3 (1 and 2 still read)                       |
//! | 5      | 3    | zero                                                         |
//! | 8      | 8    | expires_at, Unix seconds, big-endian; `u64::MAX` = permanent |
//! | 16     | 4    | data length, big-endian                                      |
//! | 20     | 4    | CRC-32 (IEEE), big-endian, of bytes 0..20 and the data (3), of |
//! |        |      | the data only (2); zero (1)                                  |
//!
//! Format 3 covers the header too: with format 2 a read that flipped a bit of `expires_at`
//! (the simulator's `read_corruption_rate`) decoded as a good file whose expiry had passed,
//! and the read that found it "expired" removed an acknowledged stripe.
//!
//! The CRC lives only in the stored file, never on the wire: a read whose data does not match
//! it ([`StoreError::CorruptStripe`], "data CRC-32 mismatch") is a stripe this server no
//! longer holds, which download answers as missing (202), so a flipped bit on the disk can
//! never go out as a good stripe; the client rebuilds that stripe from parity.
//!
//! A stripe whose expiry has passed on the server clock (`now >= expires_at`) is absent; the
//! read that finds it removes it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    create_dir_durable, hex_byte, io_error, remove_temp, write_synced_temp, Guid, StoreError,
    StoreIo, ROOT_DIR_STEPS, STRIPE_WRITE_STEPS,
};
use crate::fs::Step;
use crate::limits;

/// First bytes of every stripe file.
pub const STRIPE_MAGIC: [u8; 4] = *b"QSTR";
/// Current stripe file format: the CRC-32 covers the header and the data.
pub const STRIPE_FORMAT_VERSION: u8 = 3;
/// The format whose CRC-32 covers the data only (read, never written).
pub const STRIPE_FORMAT_VERSION_DATA_CRC: u8 = 2;
/// The first stripe file format (no CRC; read, never written).
pub const STRIPE_FORMAT_VERSION_NO_CRC: u8 = 1;
/// `expires_at` of a permanent stripe.
pub const EXPIRES_NEVER: u64 = u64::MAX;
/// Extension of stripe files.
pub const STRIPE_FILE_EXTENSION: &str = "stripe";

/// The reason a stripe file whose data no longer matches its CRC-32 is corrupt.
pub const STRIPE_CRC_MISMATCH: &str = "CRC-32 mismatch (the file decayed on the disk)";

/// Header bytes the format-3 CRC-32 covers (all but the CRC field itself).
const CRC_COVERED_HEADER: usize = 20;

/// The CRC-32 a stripe file of `version` stores for `header` and `data`.
fn stripe_crc(version: u8, header: &[u8], data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if version == STRIPE_FORMAT_VERSION {
        hasher.update(header.get(..CRC_COVERED_HEADER).unwrap_or(&[]));
    }
    hasher.update(data);
    hasher.finalize()
}

const HEADER: usize = limits::STRIPE_FILE_HEADER_SIZE_BYTES;
const _: () = assert!(HEADER == 4 + 1 + 3 + 8 + 4 + 4);

/// The file name of a stripe: `{guid}.{file_type:02x}.stripe`.
pub fn stripe_file_name(guid: Guid, file_type: u8) -> String {
    let name = stripe_file_name_ascii(guid, file_type);
    std::str::from_utf8(&name)
        .expect("hex digits, dots and the extension are ASCII")
        .to_string()
}

/// [`stripe_file_name`] on the stack. Built by hand: every stripe read, write and audit
/// names its file (`format!` was 1% of storm's CPU, and a `String` per name an allocation).
fn stripe_file_name_ascii(guid: Guid, file_type: u8) -> [u8; limits::STRIPE_FILE_NAME_SIZE_BYTES] {
    const GUID_END: usize = 2 * limits::GUID_SIZE_BYTES;
    const TYPE_END: usize = GUID_END + 1 + 2;
    const _: () =
        assert!(TYPE_END + 1 + STRIPE_FILE_EXTENSION.len() == limits::STRIPE_FILE_NAME_SIZE_BYTES);
    let mut name = [b'.'; limits::STRIPE_FILE_NAME_SIZE_BYTES];
    name[..GUID_END].copy_from_slice(&guid.hex());
    name[GUID_END + 1..TYPE_END].copy_from_slice(&hex_byte(file_type));
    name[TYPE_END + 1..].copy_from_slice(STRIPE_FILE_EXTENSION.as_bytes());
    name
}

/// Appends `{guid}.{file_type:02x}`: a stripe file's name without its extension.
fn push_stripe_stem(name: &mut String, guid: Guid, file_type: u8) {
    name.push_str(std::str::from_utf8(&guid.hex()).expect("hex digits are ASCII"));
    name.push('.');
    name.push_str(std::str::from_utf8(&hex_byte(file_type)).expect("hex digits are ASCII"));
}

/// Header and data of one stripe file.
fn encode_stripe(data: &[u8], expires_at_unix_s: u64) -> Vec<u8> {
    assert!(data.len() <= limits::STRIPE_SIZE_BYTES_MAX);
    let data_len = u32::try_from(data.len()).expect("bounded by STRIPE_SIZE_BYTES_MAX");
    let mut file = Vec::with_capacity(HEADER + data.len());
    file.extend_from_slice(&STRIPE_MAGIC);
    file.push(STRIPE_FORMAT_VERSION);
    file.extend_from_slice(&[0; 3]);
    file.extend_from_slice(&expires_at_unix_s.to_be_bytes());
    file.extend_from_slice(&data_len.to_be_bytes());
    let crc = stripe_crc(STRIPE_FORMAT_VERSION, &file, data);
    file.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(file.len(), HEADER);
    file.extend_from_slice(data);
    file
}

/// Recomputes the CRC-32 of a (tampered) format-2 or -3 stripe file in place, so the server
/// reads it as intact. For fault injection only: the simulator's lying-RAIDA fault flips a
/// data byte and reseals, so the wrong bytes go out as a good stripe and the client must
/// find the lie by the file's CRC. Returns false (and changes nothing) for any other file.
pub fn reseal_stripe_file(file: &mut [u8]) -> bool {
    let version = file.get(4).copied().unwrap_or(0);
    if file.len() < HEADER
        || field::<4>(file, 0) != Some(STRIPE_MAGIC)
        || !matches!(
            version,
            STRIPE_FORMAT_VERSION | STRIPE_FORMAT_VERSION_DATA_CRC
        )
    {
        return false;
    }
    let crc = stripe_crc(version, &file[..HEADER], &file[HEADER..]);
    file[20..24].copy_from_slice(&crc.to_be_bytes());
    true
}

/// A decoded stripe file.
#[derive(Debug, PartialEq, Eq)]
struct StripeFile<'a> {
    expires_at_unix_s: u64,
    data: &'a [u8],
}

fn field<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes.get(offset..offset + N)?.try_into().ok()
}

fn decode_stripe(bytes: &[u8]) -> Result<StripeFile<'_>, &'static str> {
    let header = bytes.get(..HEADER).ok_or("shorter than its header")?;
    if field::<4>(header, 0) != Some(STRIPE_MAGIC) {
        return Err("bad magic");
    }
    let version = header.get(4).copied();
    let (version, has_crc) = match version {
        Some(version @ (STRIPE_FORMAT_VERSION | STRIPE_FORMAT_VERSION_DATA_CRC)) => (version, true),
        Some(version @ STRIPE_FORMAT_VERSION_NO_CRC) => (version, false),
        _ => return Err("unknown format version"),
    };
    let crc_field = field::<4>(header, 20).ok_or("header")?;
    let reserved_zero = header
        .get(5..8)
        .into_iter()
        .flatten()
        .chain(crc_field.iter().filter(|_| !has_crc));
    if reserved_zero.into_iter().any(|byte| *byte != 0) {
        return Err("reserved header bytes not zero");
    }
    let expires_at_unix_s = u64::from_be_bytes(field::<8>(header, 8).ok_or("header")?);
    let data_len = u32::from_be_bytes(field::<4>(header, 16).ok_or("header")?) as usize;
    if data_len > limits::STRIPE_SIZE_BYTES_MAX {
        return Err("data length above the stripe maximum");
    }
    let data = bytes.get(HEADER..).unwrap_or(&[]);
    if data.len() != data_len {
        return Err("data length does not match the header (torn write)");
    }
    if has_crc && stripe_crc(version, header, data) != u32::from_be_bytes(crc_field) {
        return Err(STRIPE_CRC_MISMATCH);
    }
    Ok(StripeFile {
        expires_at_unix_s,
        data,
    })
}

fn is_expired(expires_at_unix_s: u64, now_unix_s: u64) -> bool {
    expires_at_unix_s != EXPIRES_NEVER && now_unix_s >= expires_at_unix_s
}

/// The stripes of one server.
#[derive(Debug)]
pub struct StripeStore {
    io: Arc<StoreIo>,
    dir: PathBuf,
    dir_fsync: bool,
}

impl StripeStore {
    /// Stripes in `dir` (an absolute host path), syncing it after each write when
    /// `dir_fsync` (`stripe_dir_fsync`) is set.
    pub fn new(io: Arc<StoreIo>, dir: PathBuf, dir_fsync: bool) -> StripeStore {
        assert!(dir.is_absolute(), "{}", dir.display());
        StripeStore { io, dir, dir_fsync }
    }

    /// The stripe directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the stripe (guid, file_type) lives.
    pub fn stripe_path(&self, guid: Guid, file_type: u8) -> PathBuf {
        let name = stripe_file_name_ascii(guid, file_type);
        let name =
            std::str::from_utf8(&name).expect("hex digits, dots and the extension are ASCII");
        let mut path = PathBuf::with_capacity(self.dir.as_os_str().len() + 1 + name.len());
        path.push(&self.dir);
        path.push(name);
        path
    }

    /// Creates the stripe directory (durably with `dir_fsync`).
    pub async fn init(&self) -> Result<(), StoreError> {
        create_dir_durable(&self.io, ROOT_DIR_STEPS, &self.dir, self.dir_fsync).await
    }

    /// Stores `data` as the stripe (guid, file_type), replacing any earlier one; it expires
    /// at `expires_at_unix_s` (`None`: permanent).
    pub async fn put(
        &self,
        guid: Guid,
        file_type: u8,
        data: &[u8],
        expires_at_unix_s: Option<u64>,
    ) -> Result<(), StoreError> {
        if data.len() > limits::STRIPE_SIZE_BYTES_MAX {
            return Err(StoreError::StripeTooLong {
                size_bytes: data.len(),
            });
        }
        let file = encode_stripe(data, expires_at_unix_s.unwrap_or(EXPIRES_NEVER));
        let final_path = self.stripe_path(guid, file_type);
        let mut stem = String::with_capacity(limits::STRIPE_FILE_NAME_SIZE_BYTES);
        push_stripe_stem(&mut stem, guid, file_type);
        let temp_path = write_synced_temp(
            &self.io,
            STRIPE_WRITE_STEPS,
            &self.dir,
            &stem,
            STRIPE_FILE_EXTENSION,
            &file,
        )
        .await?;
        if let Err(error) = self.io.fs().rename(&temp_path, &final_path).await {
            remove_temp(&self.io, STRIPE_WRITE_STEPS, &temp_path).await;
            return Err(io_error("rename stripe", &final_path)(error));
        }
        self.io.reached(Step::StripeRenamed, &final_path).await;
        self.sync_dir_if_asked(Step::StripeDirSynced).await
    }

    /// The data of the stripe (guid, file_type), `None` if there is none or it has expired by
    /// `now_unix_s` (an expired stripe is removed).
    pub async fn get(
        &self,
        guid: Guid,
        file_type: u8,
        now_unix_s: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.stripe_path(guid, file_type);
        let Some((expires_at_unix_s, data)) = self.read_checked(&path).await? else {
            return Ok(None);
        };
        if is_expired(expires_at_unix_s, now_unix_s) {
            self.remove_expired(&path).await?;
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// The data length of the stripe (guid, file_type), as [`StripeStore::get`] would return
    /// it (the beacon's `total_file_size` estimate uses the body stripe's length).
    pub async fn len_bytes(
        &self,
        guid: Guid,
        file_type: u8,
        now_unix_s: u64,
    ) -> Result<Option<u64>, StoreError> {
        let data = self.get(guid, file_type, now_unix_s).await?;
        Ok(data.map(|data| data.len() as u64))
    }

    /// The expiry and data of the stripe file at `path`, `None` if there is none. A file that
    /// does not decode (CRC-32 mismatch, torn) is read once more, since a transient read error
    /// clears and bytes changed on the disk do not; if it still does not decode it is
    /// [`StoreError::CorruptStripe`].
    async fn read_checked(&self, path: &Path) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut attempt_count = 0;
        loop {
            attempt_count += 1;
            let Some(mut bytes) = self.read_file(path).await? else {
                return Ok(None);
            };
            let reason = match decode_stripe(&bytes) {
                Ok(stripe) => {
                    if attempt_count > 1 {
                        probe::hit(&crate::probes::STRIPE_REREAD_GOOD);
                    }
                    let expires_at_unix_s = stripe.expires_at_unix_s;
                    // The data is the rest of the file: cut the header off in place.
                    bytes.drain(..HEADER);
                    return Ok(Some((expires_at_unix_s, bytes)));
                }
                Err(reason) => reason,
            };
            if attempt_count >= limits::FILE_READ_ATTEMPTS_MAX {
                return Err(StoreError::CorruptStripe {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            tracing::warn!(path = %path.display(), reason, "stripe file failed its check; reading it again");
        }
    }

    async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match self.io.fs().read(path).await {
            Ok(bytes) => {
                self.io.reached(Step::StripeRead, path).await;
                Ok(Some(bytes))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("read stripe", path)(error)),
        }
    }

    async fn remove_expired(&self, path: &Path) -> Result<(), StoreError> {
        match self.io.fs().remove_file(path).await {
            Ok(()) => {
                self.io.reached(Step::StripeDeleted, path).await;
                self.sync_dir_if_asked(Step::StripeDeleteDirSynced).await
            }
            // Another request removed it first.
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error("remove expired stripe", path)(error)),
        }
    }

    async fn sync_dir_if_asked(&self, step: Step) -> Result<(), StoreError> {
        if !self.dir_fsync {
            return Ok(());
        }
        self.io
            .fs()
            .sync_dir(&self.dir)
            .await
            .map_err(io_error("fsync stripe dir", &self.dir))?;
        self.io.reached(step, &self.dir).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resealed_tampered_stripe_reads_as_intact() {
        let mut file = encode_stripe(b"0123456789", EXPIRES_NEVER);
        file[HEADER + 3] ^= 0x01;
        assert_eq!(decode_stripe(&file), Err(STRIPE_CRC_MISMATCH));
        assert!(reseal_stripe_file(&mut file));
        assert_eq!(decode_stripe(&file).map(|f| f.data), Ok(&b"0122456789"[..]));
        assert!(!reseal_stripe_file(&mut file[..10]));
    }

    #[test]
    fn stripe_names_spell_guid_type_and_extension() {
        let guid = Guid([
            0x00, 0x01, 0x0a, 0x10, 0x7f, 0x80, 0xa5, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
            0xde, 0xf0,
        ]);
        for file_type in [0x00, 0x07, 0x0a, 0x10, 0xff] {
            assert_eq!(
                stripe_file_name(guid, file_type),
                format!("{guid}.{file_type:02x}.stripe")
            );
        }
        assert_eq!(
            stripe_file_name(guid, 0x0b),
            "00010a107f80a5ff123456789abcdef0.0b.stripe"
        );
        let f = fixture();
        assert_eq!(
            f.store.stripe_path(guid, 0x0b),
            f.store
                .dir()
                .join("00010a107f80a5ff123456789abcdef0.0b.stripe")
        );
    }
    use crate::clock::ManualClock;
    use crate::fs::{NoopHook, RealFs};
    use proptest::prelude::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: StripeStore,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = Arc::new(StoreIo::new(
            Arc::new(RealFs),
            Arc::new(NoopHook),
            Arc::new(ManualClock::new(1)),
            7,
        ));
        let store = StripeStore::new(io, dir.path().join("stripes"), true);
        Fixture { _dir: dir, store }
    }

    const GUID: Guid = Guid([0x5a; 16]);

    #[tokio::test]
    async fn put_get_replace() {
        let f = fixture();
        f.store.init().await.expect("init");
        assert_eq!(f.store.get(GUID, 1, 0).await.expect("get"), None);
        f.store
            .put(GUID, 1, b"body stripe", None)
            .await
            .expect("put");
        f.store
            .put(GUID, 0x0a, b"attachment", None)
            .await
            .expect("put");
        assert_eq!(
            f.store.get(GUID, 1, 0).await.expect("get").as_deref(),
            Some(&b"body stripe"[..])
        );
        f.store.put(GUID, 1, b"retry", None).await.expect("replace");
        assert_eq!(
            f.store.get(GUID, 1, 0).await.expect("get").as_deref(),
            Some(&b"retry"[..])
        );
        assert_eq!(f.store.len_bytes(GUID, 1, 0).await.expect("len"), Some(5));
        assert_eq!(
            f.store.len_bytes(GUID, 0x0a, 0).await.expect("len"),
            Some(10)
        );
        assert_eq!(f.store.len_bytes(GUID, 2, 0).await.expect("len"), None);
        let names: Vec<_> = std::fs::read_dir(f.store.dir())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp files left: {names:?}");
        let empty = Guid([1; 16]);
        f.store
            .put(empty, 1, b"", Some(10))
            .await
            .expect("empty stripe");
        assert_eq!(
            f.store.get(empty, 1, 9).await.expect("get"),
            Some(Vec::new())
        );
    }

    #[tokio::test]
    async fn expired_stripes_are_absent_and_removed() {
        let f = fixture();
        f.store.init().await.expect("init");
        f.store
            .put(GUID, 1, b"short lived", Some(100))
            .await
            .expect("put");
        assert!(f.store.get(GUID, 1, 99).await.expect("get").is_some());
        assert_eq!(f.store.len_bytes(GUID, 1, 100).await.expect("len"), None);
        assert!(!f.store.stripe_path(GUID, 1).exists(), "removed on expiry");
        f.store.put(GUID, 1, b"forever", None).await.expect("put");
        assert!(f
            .store
            .get(GUID, 1, u64::MAX - 1)
            .await
            .expect("get")
            .is_some());
    }

    #[tokio::test]
    async fn torn_or_foreign_files_are_errors() {
        let f = fixture();
        f.store.init().await.expect("init");
        f.store
            .put(GUID, 1, b"0123456789", None)
            .await
            .expect("put");
        let path = f.store.stripe_path(GUID, 1);
        let whole = std::fs::read(&path).expect("read");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (whole[..whole.len() - 1].to_vec(), "torn"),
            (whole[..10].to_vec(), "shorter than its header"),
            ([&whole[..], b"x"].concat(), "trailing byte"),
            ([b"XSTR", &whole[4..]].concat(), "bad magic"),
            (Vec::new(), "empty"),
        ];
        for (bytes, case) in cases {
            std::fs::write(&path, &bytes).expect("write");
            let result = f.store.get(GUID, 1, 0).await;
            assert!(
                matches!(result, Err(StoreError::CorruptStripe { .. })),
                "{case}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_flipped_expiry_is_corrupt_never_an_expired_stripe_to_remove() {
        let f = fixture();
        f.store.init().await.expect("init");
        f.store
            .put(GUID, 1, b"0123456789", None)
            .await
            .expect("put");
        let path = f.store.stripe_path(GUID, 1);
        let whole = std::fs::read(&path).expect("read");
        // expires_at is bytes 8..16; permanent is all ones: any flip makes it a past time.
        let mut flipped = whole.clone();
        flipped[8] ^= 0x80;
        std::fs::write(&path, &flipped).expect("write");
        let result = f.store.get(GUID, 1, 1_700_000_000).await;
        assert!(
            matches!(result, Err(StoreError::CorruptStripe { .. })),
            "{result:?}"
        );
        assert!(
            path.exists(),
            "an acknowledged stripe is never removed on a flipped read"
        );
        // A format-2 file (CRC of the data only) still reads.
        let mut version_2 = whole.clone();
        version_2[4] = STRIPE_FORMAT_VERSION_DATA_CRC;
        version_2[20..24].copy_from_slice(&crc32fast::hash(b"0123456789").to_be_bytes());
        std::fs::write(&path, &version_2).expect("write");
        assert_eq!(
            f.store.get(GUID, 1, 0).await.expect("v2").as_deref(),
            Some(&b"0123456789"[..])
        );
    }

    #[tokio::test]
    async fn a_flipped_data_byte_is_corrupt_and_a_version_1_file_still_reads() {
        let f = fixture();
        f.store.init().await.expect("init");
        f.store
            .put(GUID, 1, b"0123456789", None)
            .await
            .expect("put");
        let path = f.store.stripe_path(GUID, 1);
        let whole = std::fs::read(&path).expect("read");
        assert_eq!(whole[4], STRIPE_FORMAT_VERSION);
        let mut covered = whole[..20].to_vec();
        covered.extend_from_slice(b"0123456789");
        assert_eq!(&whole[20..24], &crc32fast::hash(&covered).to_be_bytes());
        let mut flipped = whole.clone();
        flipped[HEADER + 3] ^= 0x01;
        std::fs::write(&path, &flipped).expect("write");
        let result = f.store.get(GUID, 1, 0).await;
        assert!(
            matches!(result, Err(StoreError::CorruptStripe { reason, .. }) if reason == STRIPE_CRC_MISMATCH),
            "{result:?}"
        );
        let mut crc_flipped = whole.clone();
        crc_flipped[21] ^= 0x80;
        std::fs::write(&path, &crc_flipped).expect("write");
        assert!(
            f.store.get(GUID, 1, 0).await.is_err(),
            "the CRC itself decayed"
        );
        // A file written before the CRC (version 1, zero bytes 20..24) still reads.
        let mut version_1 = whole.clone();
        version_1[4] = STRIPE_FORMAT_VERSION_NO_CRC;
        version_1[20..24].copy_from_slice(&[0; 4]);
        std::fs::write(&path, &version_1).expect("write");
        assert_eq!(
            f.store.get(GUID, 1, 0).await.expect("v1").as_deref(),
            Some(&b"0123456789"[..])
        );
        version_1[22] = 1;
        std::fs::write(&path, &version_1).expect("write");
        assert!(
            f.store.get(GUID, 1, 0).await.is_err(),
            "v1 reserved bytes stay zero"
        );
    }

    #[tokio::test]
    async fn oversized_stripe_is_refused() {
        let f = fixture();
        f.store.init().await.expect("init");
        let data = vec![0; limits::STRIPE_SIZE_BYTES_MAX + 1];
        let result = f.store.put(GUID, 1, &data, None).await;
        assert!(matches!(result, Err(StoreError::StripeTooLong { .. })));
        let largest = vec![1; limits::STRIPE_SIZE_BYTES_MAX];
        f.store
            .put(GUID, 1, &largest, None)
            .await
            .expect("largest stripe");
        assert_eq!(f.store.get(GUID, 1, 0).await.expect("get"), Some(largest));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn stripe_file_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2048),
                                  expires in any::<u64>()) {
            let file = encode_stripe(&data, expires);
            let decoded = decode_stripe(&file).expect("decodes");
            prop_assert_eq!(decoded.data, &data[..]);
            prop_assert_eq!(decoded.expires_at_unix_s, expires);
            prop_assert!(decode_stripe(&file[..file.len() - 1]).is_err());
        }
    }
}
