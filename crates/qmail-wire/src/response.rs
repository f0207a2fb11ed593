//! The decrypted response payloads, without the `3E 3E` terminator.
//!
//! Only two commands answer with a payload: ping and peek send a [`TellList`] (peek page 003,
//! "Tell-list payload"), download sends a [`DownloadPage`] (DECISIONS.md, "Download"). Every
//! other reply, and every error, is the response header alone with body size 0.
//!
//! A tell list is an 8-byte array header (tell_count u8, total_tells u16, reserved 5) followed
//! by `tell_count` records with no length prefix; each record's size comes from its own file
//! header (`64 + 32 × stripe_count + manifest_len`, plus an 18-byte footer after a legacy v0
//! record when one follows, see [`crate::tell`]). An empty successful peek is 8 zero bytes.

use crate::codec::{put_u16, put_u32, Codec, Reader};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::limits::{
    PAGE_HEADER_SIZE_BYTES, PAGE_SIZE_BYTES, TELLS_PER_REPLY_MAX, TELL_ARRAY_HEADER_SIZE_BYTES,
};
use crate::tell::TellRecord;

/// Download page header byte 1.
pub const PAGE_VERSION: u8 = 0x02;
/// Download page header byte 2: the only page size, 256 KiB.
pub const BYTES_PER_PAGE_CODE_256_KIB: u8 = 0;

/// The ping/peek success payload. `tell_count` (byte 0) is `records.len()`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TellList {
    /// 1–2: zero-filled by current servers.
    pub total_tells: u16,
    /// 3–7: reserved, zero-filled.
    pub reserved: [u8; 5],
    /// The records, each the verbatim content of one `.tell` file.
    pub records: Vec<TellRecord>,
}

impl TellList {
    /// A list of these records with zero `total_tells` and reserved bytes.
    pub fn new(records: Vec<TellRecord>) -> Self {
        assert!(records.len() <= TELLS_PER_REPLY_MAX);
        Self {
            total_tells: 0,
            reserved: [0; 5],
            records,
        }
    }

    /// Encoded size in bytes.
    pub fn size_bytes(&self) -> usize {
        TELL_ARRAY_HEADER_SIZE_BYTES
            + self
                .records
                .iter()
                .map(TellRecord::size_bytes)
                .sum::<usize>()
    }
}

impl Codec for TellList {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(
            self.records.len() <= TELLS_PER_REPLY_MAX,
            "tell_count is one byte"
        );
        out.reserve(self.size_bytes());
        let start = out.len();
        out.push(self.records.len() as u8);
        put_u16(out, self.total_tells);
        out.extend_from_slice(&self.reserved);
        for record in &self.records {
            record.encode(out);
        }
        assert_eq!(out.len() - start, self.size_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tell_count = r.read_u8("tell_count")?;
        let total_tells = r.read_u16("total_tells")?;
        let reserved = r.read_array("tell_list.reserved")?;
        let mut records = Vec::with_capacity(usize::from(tell_count));
        for _ in 0..tell_count {
            records.push(TellRecord::read(r)?);
        }
        Ok(Self {
            total_tells,
            reserved,
            records,
        })
    }
}

/// The download reply payload: an 8-byte page header then the page bytes. The header's data
/// length (bytes 4–7) is `data.len()`; a page shorter than 256 KiB is the last.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DownloadPage {
    /// 0: the requested file type.
    pub file_type: u8,
    /// 1: [`PAGE_VERSION`].
    pub version: u8,
    /// 2: [`BYTES_PER_PAGE_CODE_256_KIB`].
    pub bytes_per_page_code: u8,
    /// 3: low byte of the page number.
    pub page_number_low: u8,
    /// 8…: at most [`PAGE_SIZE_BYTES`] bytes of the stored stripe.
    pub data: Vec<u8>,
}

impl DownloadPage {
    /// Body offset of the data length field.
    pub const DATA_LENGTH_OFFSET: usize = 4;

    /// A page as the server sends it: version 2, page-size code 0.
    pub fn new(file_type: u8, page_number: u32, data: Vec<u8>) -> Self {
        assert!(data.len() <= PAGE_SIZE_BYTES);
        Self {
            file_type,
            version: PAGE_VERSION,
            bytes_per_page_code: BYTES_PER_PAGE_CODE_256_KIB,
            page_number_low: page_number.to_be_bytes()[3],
            data,
        }
    }

    /// Whether this is the file's last page (shorter than a full page).
    pub fn is_last(&self) -> bool {
        self.data.len() < PAGE_SIZE_BYTES
    }
}

impl Codec for DownloadPage {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(
            self.data.len() <= PAGE_SIZE_BYTES,
            "a download page holds at most 256 KiB"
        );
        out.reserve(PAGE_HEADER_SIZE_BYTES + self.data.len());
        let start = out.len();
        out.push(self.file_type);
        out.push(self.version);
        out.push(self.bytes_per_page_code);
        out.push(self.page_number_low);
        put_u32(out, self.data.len() as u32);
        out.extend_from_slice(&self.data);
        assert_eq!(out.len() - start, PAGE_HEADER_SIZE_BYTES + self.data.len());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let file_type = r.read_u8("page.file_type")?;
        let version = r.read_u8("page.version")?;
        let bytes_per_page_code = r.read_u8("page.bytes_per_page")?;
        let page_number_low = r.read_u8("page.page_number")?;
        let data_length_offset = r.offset();
        let data_length = r.read_u32("page.data_length")?;
        if data_length as usize > PAGE_SIZE_BYTES {
            return Err(DecodeError::new(
                "page.data_length",
                data_length_offset,
                DecodeErrorKind::LengthOutOfRange {
                    value: u64::from(data_length),
                    min: 0,
                    max: PAGE_SIZE_BYTES as u64,
                },
            ));
        }
        let data = r.take("page.data", data_length as usize)?.to_vec();
        Ok(Self {
            file_type,
            version,
            bytes_per_page_code,
            page_number_low,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tell::{
        FileHeader, LegacyFooter, ManifestEntry, ServerEntry, FILE_TYPE_BODY,
        MANIFEST_VERSION_LEGACY,
    };

    fn record(servers: u8, files: u8, email: u8) -> TellRecord {
        let header = FileHeader {
            email_id: [email; 16],
            ..FileHeader::default()
        };
        let servers = (0..servers)
            .map(|i| ServerEntry {
                stripe_index: i,
                ..ServerEntry::default()
            })
            .collect();
        let manifest = (0..files)
            .map(|i| ManifestEntry {
                file_type: if i == 0 { FILE_TYPE_BODY } else { 0x0A + i - 1 },
                original_size: 100 + u64::from(i),
                ..ManifestEntry::default()
            })
            .collect();
        TellRecord::new_v1(header, servers, manifest)
    }

    #[test]
    fn empty_list_is_eight_zero_bytes() {
        let bytes = TellList::default().to_bytes();
        assert_eq!(bytes, [0u8; 8]);
        assert_eq!(TellList::from_bytes(&bytes).unwrap(), TellList::default());
    }

    #[test]
    fn list_of_records_round_trips() {
        let list = TellList::new(vec![record(8, 2, 1), record(1, 1, 2), record(32, 5, 3)]);
        let bytes = list.to_bytes();
        assert_eq!(bytes[0], 3);
        assert_eq!(
            bytes.len(),
            8 + (64 + 8 * 32 + 32) + (64 + 32 + 16) + (64 + 32 * 32 + 80)
        );
        assert_eq!(TellList::from_bytes(&bytes).unwrap(), list);
    }

    /// A reader that advances by `64 + 32 × stripe_count` alone (the mistake the peek and ping
    /// pages warn about) lands inside the first record's manifest; the real reader does not.
    #[test]
    fn ignoring_manifest_len_misparses_the_next_record() {
        let first = record(2, 2, 0xA1);
        let second = record(3, 1, 0xB2);
        let list = TellList::new(vec![first.clone(), second.clone()]);
        let bytes = list.to_bytes();

        fn naive_record_sizes(payload: &[u8]) -> Vec<(usize, [u8; 16])> {
            let count = payload[0] as usize;
            let mut at = 8;
            let mut seen = Vec::new();
            for _ in 0..count {
                let header = FileHeader::from_bytes(&payload[at..at + 64]).unwrap();
                seen.push((at, header.email_id));
                at += 64 + 32 * header.stripe_count as usize;
            }
            seen
        }
        let naive = naive_record_sizes(&bytes);
        assert_eq!(naive[0].1, [0xA1; 16]);
        // The naive second "record" starts inside the first record's manifest.
        assert_eq!(naive[1].0, 8 + 64 + 2 * 32);
        assert_ne!(naive[1].1, [0xB2; 16]);

        let parsed = TellList::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.records, vec![first, second]);
    }

    #[test]
    fn legacy_record_footer_is_skipped_before_the_next_record() {
        let mut legacy = record(2, 0, 0xC3);
        legacy.file_header.manifest_version = MANIFEST_VERSION_LEGACY;
        legacy.file_header.file_entry_size = 0;
        legacy.legacy_footer = Some(LegacyFooter {
            recipient_locker: [0x42; 16],
        });
        let next = record(1, 1, 0xD4);
        let list = TellList::new(vec![legacy.clone(), next.clone()]);
        let bytes = list.to_bytes();
        assert_eq!(bytes.len(), 8 + 64 + 64 + 18 + 64 + 32 + 16);
        let parsed = TellList::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.records, vec![legacy, next]);
    }

    #[test]
    fn list_reserved_bytes_are_kept() {
        let mut list = TellList::new(vec![record(1, 1, 1)]);
        list.total_tells = 0x0102;
        list.reserved = [3, 4, 5, 6, 7];
        let bytes = list.to_bytes();
        assert_eq!(&bytes[..8], &[1, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(TellList::from_bytes(&bytes).unwrap(), list);
    }

    #[test]
    fn download_page_layout() {
        let page = DownloadPage::new(0x0A, 0x0102, vec![1, 2, 3]);
        let bytes = page.to_bytes();
        assert_eq!(bytes, [0x0A, 0x02, 0x00, 0x02, 0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(DownloadPage::from_bytes(&bytes).unwrap(), page);
        assert!(page.is_last());
        assert!(!DownloadPage::new(1, 0, vec![0; PAGE_SIZE_BYTES]).is_last());
    }

    #[test]
    fn oversized_page_length_is_rejected_before_reading() {
        let mut bytes = DownloadPage::new(1, 0, Vec::new()).to_bytes();
        bytes[4..8].copy_from_slice(&(PAGE_SIZE_BYTES as u32 + 1).to_be_bytes());
        let error = DownloadPage::from_bytes(&bytes).unwrap_err();
        assert_eq!(error.field, "page.data_length");
        assert!(matches!(
            error.kind,
            DecodeErrorKind::LengthOutOfRange { .. }
        ));
    }
}
