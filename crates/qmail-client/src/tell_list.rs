//! What a ping or peek returns: [`Poll`], [`PollKind`], [`ReceivedTell`] and the tell-list
//! parser [`parse_tell_list`].
//!
//! A tell list is an 8-byte array header and `tell_count` records with no length prefix;
//! each record's size comes from its own file header (`64 + 32 × stripe_count +
//! manifest_len`, peek page 003), and a legacy v0 record may be followed by the 18-byte
//! recipient footer, which belongs to that record. [`parse_tell_list`] keeps, beside every
//! parsed record, the exact bytes it was parsed from (footer included), because the simulator
//! compares what a beacon stored with what a device received byte for byte.
//!
//! These are plain values below the [`crate::client::Client`]: the extension hooks
//! ([`crate::extension`]) and the observer ([`crate::observer`]) take them, and the client
//! holds both, so they live here rather than in [`crate::receive`] (which sends the polls
//! through the client). `receive` re-exports them.

use qmail_wire::header::Command;
use qmail_wire::response::TellList;
use qmail_wire::tell::TellRecord;
use qmail_wire::{Codec, DecodeError, Reader};

/// Which poll a reply answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollKind {
    /// Long poll (72).
    Ping,
    /// Immediate check (73).
    Peek,
}

impl PollKind {
    /// The command.
    pub const fn command(self) -> Command {
        match self {
            PollKind::Ping => Command::Ping,
            PollKind::Peek => Command::Peek,
        }
    }
}

/// One tell record out of a reply: parsed, and the exact bytes it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedTell {
    /// The parsed record.
    pub record: TellRecord,
    /// Its bytes in the reply (legacy footer included when present).
    pub raw: Vec<u8>,
}

/// What a poll found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// One or more tells (each deleted from the inbox by the beacon).
    Tells(Vec<ReceivedTell>),
    /// A ping's long poll expired without mail (status 17 or 245): poll again.
    TimedOut,
    /// A successful reply with no tells (a peek of an empty inbox; a ping normally parks
    /// instead).
    Empty,
}

impl Poll {
    /// The tells, if any.
    pub fn tells(&self) -> &[ReceivedTell] {
        match self {
            Poll::Tells(tells) => tells,
            Poll::TimedOut | Poll::Empty => &[],
        }
    }
}

/// Parses a decrypted ping/peek payload into its records, each with its raw bytes. Fails on
/// the first record that does not decode, or on bytes after the last record.
pub fn parse_tell_list(payload: &[u8]) -> Result<Vec<ReceivedTell>, DecodeError> {
    let mut reader = Reader::new(payload);
    let tell_count = reader.read_u8("tell_count")?;
    reader.read_u16("total_tells")?;
    reader.read_array::<5>("tell_list.reserved")?;
    let mut tells = Vec::with_capacity(usize::from(tell_count));
    for _ in 0..tell_count {
        let start = reader.offset();
        let record = TellRecord::read(&mut reader)?;
        let raw = payload
            .get(start..reader.offset())
            .expect("the reader only moves forward within the payload")
            .to_vec();
        assert_eq!(raw.len(), record.size_bytes());
        tells.push(ReceivedTell { record, raw });
    }
    reader.expect_empty("TellList")?;
    debug_assert!(TellList::from_bytes(payload).is_ok());
    Ok(tells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::tell::{
        FileHeader, LegacyFooter, ManifestEntry, ServerEntry, FILE_TYPE_BODY,
        MANIFEST_VERSION_LEGACY,
    };
    use std::net::SocketAddrV4;

    fn v1_record(seed: u8, servers: usize, files: usize) -> TellRecord {
        let header = FileHeader {
            email_id: [seed; 16],
            sender_coin_id: 6,
            stripe_count: servers as u8,
            ..FileHeader::default()
        };
        let servers = (0..servers)
            .map(|i| {
                ServerEntry::new(
                    i as u8,
                    0,
                    i as u8,
                    SocketAddrV4::new([10, 0, 0, i as u8].into(), 9000),
                )
            })
            .collect();
        let manifest = (0..files)
            .map(|i| ManifestEntry {
                file_type: if i == 0 {
                    FILE_TYPE_BODY
                } else {
                    0x09u8.wrapping_add(i as u8)
                },
                original_size: 100 + i as u64,
                ..ManifestEntry::default()
            })
            .collect();
        TellRecord::new_v1(header, servers, manifest)
    }

    fn legacy_record(seed: u8, servers: usize, footer: bool) -> TellRecord {
        let header = FileHeader {
            email_id: [seed; 16],
            stripe_count: servers as u8,
            manifest_version: MANIFEST_VERSION_LEGACY,
            version: 2,
            edit_sequence: 9,
            ..FileHeader::default()
        };
        TellRecord {
            file_header: header,
            servers: (0..servers).map(|_| ServerEntry::default()).collect(),
            manifest: Vec::new(),
            manifest_excess: Vec::new(),
            legacy_footer: footer.then_some(LegacyFooter {
                recipient_locker: [0x41; 16],
            }),
        }
    }

    fn payload(records: &[TellRecord]) -> Vec<u8> {
        TellList::new(records.to_vec()).to_bytes()
    }

    #[test]
    fn empty_list() {
        assert_eq!(parse_tell_list(&[0; 8]), Ok(Vec::new()));
    }

    #[test]
    fn mixed_v1_and_legacy_records_keep_their_bytes() {
        let records = vec![
            v1_record(1, 8, 3),
            legacy_record(2, 4, true),
            v1_record(3, 2, 1),
            legacy_record(4, 3, false),
            v1_record(5, 32, 255),
        ];
        let bytes = payload(&records);
        let tells = parse_tell_list(&bytes).expect("valid list");
        assert_eq!(tells.len(), records.len());
        let mut offset = 8;
        for (tell, record) in tells.iter().zip(&records) {
            assert_eq!(&tell.record, record);
            assert_eq!(tell.raw, record.to_bytes());
            assert_eq!(&bytes[offset..offset + tell.raw.len()], tell.raw.as_slice());
            offset += tell.raw.len();
        }
        assert_eq!(offset, bytes.len());
        // The legacy record with a footer is 64 + 4×32 + 18 bytes.
        assert_eq!(tells[1].raw.len(), 64 + 4 * 32 + 18);
        assert_eq!(tells[1].record.edit_sequence(), 0);
    }

    #[test]
    fn record_size_uses_manifest_len() {
        // A reader that advanced by 64 + 32·M alone would land inside the first manifest.
        let records = vec![v1_record(1, 3, 4), v1_record(2, 3, 4)];
        let tells = parse_tell_list(&payload(&records)).expect("valid");
        assert_eq!(tells[1].record.file_header.email_id, [2; 16]);
    }

    #[test]
    fn truncated_and_trailing_bytes_fail() {
        let bytes = payload(&[v1_record(1, 8, 2)]);
        assert!(parse_tell_list(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(parse_tell_list(&longer).is_err());
        let mut more_declared = bytes;
        more_declared[0] = 2;
        assert!(parse_tell_list(&more_declared).is_err());
        assert!(parse_tell_list(&[]).is_err());
    }
}
