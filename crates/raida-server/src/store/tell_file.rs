//! The `.tell` file on disk: the tell record verbatim, then an 8-byte integrity trailer.
//!
//! | offset     | size | field                                       |
//! |------------|------|---------------------------------------------|
//! | 0          | N    | the tell record (blob), verbatim            |
//! | N          | 4    | CRC-32 (IEEE) of the record, big-endian     |
//! | N + 4      | 4    | magic `QTC2` (tell file format 2)           |
//!
//! Why: the tell page says a poll returns "the full contents of one .tell file", and the
//! beacon stores the blob verbatim. A disk that returns flipped bits (a silent media error,
//! the simulator's `read_corruption_rate`) would then send a wrong record out as a good one,
//! and the edit_sequence guard and the delete-on-read check would judge wrong bytes. The
//! trailer lets every read prove the record is the one written; the wire never carries it
//! (a poll returns the record, the trailer stripped), so clients see exactly the pages'
//! format. A file without a valid trailer — torn, foreign, or written by a server before
//! format 2 — is not read as a record: [`decode_tell_file`] says why, and the inbox leaves
//! the file where it is (nothing acknowledged is deleted because it could not be read).

use crate::limits;

/// The last four bytes of every format-2 tell file.
pub const TELL_FILE_MAGIC: [u8; 4] = *b"QTC2";
/// Size of the trailer after the record: CRC-32 and magic.
pub const TELL_FILE_TRAILER_SIZE_BYTES: usize = 8;
/// Why a file whose record no longer matches its CRC-32 is corrupt.
pub const TELL_CRC_MISMATCH: &str = "record CRC-32 mismatch (the bytes changed on the disk)";
/// Why a file without the format-2 trailer is not read.
pub const TELL_NO_TRAILER: &str = "no tell file trailer (torn, foreign or an older format)";

const _: () = assert!(TELL_FILE_TRAILER_SIZE_BYTES == 4 + TELL_FILE_MAGIC.len());
const _: () = assert!(limits::TELL_BLOB_SIZE_BYTES_MAX < usize::MAX - TELL_FILE_TRAILER_SIZE_BYTES);

/// The file bytes that store `record`.
pub fn encode_tell_file(record: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(record.len() + TELL_FILE_TRAILER_SIZE_BYTES);
    file.extend_from_slice(record);
    file.extend_from_slice(&crc32fast::hash(record).to_be_bytes());
    file.extend_from_slice(&TELL_FILE_MAGIC);
    debug_assert_eq!(decode_tell_file(&file), Ok(record));
    file
}

/// The record a tell file stores, or why it cannot be trusted.
pub fn decode_tell_file(file: &[u8]) -> Result<&[u8], &'static str> {
    let record_size_bytes = file
        .len()
        .checked_sub(TELL_FILE_TRAILER_SIZE_BYTES)
        .ok_or(TELL_NO_TRAILER)?;
    let (record, trailer) = file.split_at(record_size_bytes);
    let (crc, magic) = trailer.split_at(4);
    if magic != TELL_FILE_MAGIC {
        return Err(TELL_NO_TRAILER);
    }
    let crc = u32::from_be_bytes(crc.try_into().expect("a 4-byte split"));
    if crc32fast::hash(record) != crc {
        return Err(TELL_CRC_MISMATCH);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_every_single_byte_change() {
        let record: Vec<u8> = (0..100u8).collect();
        let file = encode_tell_file(&record);
        assert_eq!(file.len(), record.len() + TELL_FILE_TRAILER_SIZE_BYTES);
        assert_eq!(decode_tell_file(&file), Ok(record.as_slice()));
        for index in 0..file.len() {
            let mut flipped = file.clone();
            flipped[index] ^= 0x10;
            assert!(decode_tell_file(&flipped).is_err(), "byte {index}");
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let file = encode_tell_file(b"a tell record of some length");
        for size_bytes in 0..file.len() {
            assert!(
                decode_tell_file(&file[..size_bytes]).is_err(),
                "{size_bytes}"
            );
        }
    }

    #[test]
    fn a_verbatim_record_without_trailer_is_not_read() {
        assert_eq!(decode_tell_file(&[7u8; 80]), Err(TELL_NO_TRAILER));
        assert_eq!(decode_tell_file(b"QTC2"), Err(TELL_NO_TRAILER));
    }

    #[test]
    fn an_empty_record_has_a_trailer_only() {
        let file = encode_tell_file(b"");
        assert_eq!(file.len(), TELL_FILE_TRAILER_SIZE_BYTES);
        assert_eq!(decode_tell_file(&file), Ok(&[][..]));
    }
}
