//! `attachment_count`, client half: writes the email's attachment count into file-header
//! byte 59 (the reserved, pass-through tail) and checks it on receipt.
//!
//! Hazard: a record whose manifest lost or gained entries on the way (a buggy or hostile
//! relay, a truncated copy) still decodes when its `manifest_len` was rewritten with it; the
//! recipient has nothing independent to compare with. The count written by the sender is that
//! independent witness: on receipt a record whose byte 59 disagrees with its manifest is
//! dropped and counted ([`AttachmentCount::mismatched_count`]). A record with byte 59 zero
//! (a legacy sender, or an email without attachments) is accepted as is.
//!
//! Mixed networks: the tell page makes legacy beacons refuse nonzero bytes 59–63 with 198, so
//! only clients whose beacons run the beacon half (raida-server
//! `extension::attachment_count`) may run this one.

use std::sync::atomic::{AtomicU64, Ordering};

use qmail_wire::extension::{Claim, ExtensionSpec};
use qmail_wire::reserved::Structure;
use qmail_wire::tell::TellRecord;

use super::ClientExtension;
use crate::tell_list::ReceivedTell;

/// The extension's name in specs, scenarios and the CLI.
pub const NAME: &str = "attachment_count";

/// The byte it claims: file header 59.
pub const CLAIM: Claim = Claim::new(Structure::FileHeader, 59, 1);

/// Index of byte 59 in `FileHeader::reserved` (offsets 59–63).
const RESERVED_INDEX: usize = 0;

/// The client half; counts what it checked.
#[derive(Debug, Default)]
pub struct AttachmentCount {
    checked_count: AtomicU64,
    mismatched_count: AtomicU64,
}

impl AttachmentCount {
    /// A client half that has checked nothing.
    pub fn new() -> AttachmentCount {
        AttachmentCount::default()
    }

    /// Records received with a nonzero count that matched their manifest.
    pub fn checked_count(&self) -> u64 {
        self.checked_count.load(Ordering::SeqCst)
    }

    /// Records dropped because the count disagreed with the manifest.
    pub fn mismatched_count(&self) -> u64 {
        self.mismatched_count.load(Ordering::SeqCst)
    }
}

/// The attachments a record's manifest lists (every entry but the body).
fn manifest_attachments(record: &TellRecord) -> usize {
    record.manifest.len().saturating_sub(1)
}

impl ClientExtension for AttachmentCount {
    fn spec(&self) -> ExtensionSpec {
        ExtensionSpec {
            name: NAME,
            claims: vec![CLAIM],
        }
    }

    fn encode_tell(&self, record: &mut TellRecord) {
        let count =
            u8::try_from(manifest_attachments(record)).expect("a manifest lists at most 255 files");
        record.file_header.reserved[RESERVED_INDEX] = count;
    }

    fn received(&self, _beacon: u8, tells: Vec<ReceivedTell>) -> Vec<ReceivedTell> {
        tells
            .into_iter()
            .filter(|tell| {
                let claimed = tell.record.file_header.reserved[RESERVED_INDEX];
                if claimed == 0 {
                    return true;
                }
                let matches = usize::from(claimed) == manifest_attachments(&tell.record);
                let counter = if matches {
                    &self.checked_count
                } else {
                    &self.mismatched_count
                };
                counter.fetch_add(1, Ordering::SeqCst);
                matches
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::codec::Codec;
    use qmail_wire::tell::{FileHeader, ManifestEntry};

    fn record(files: usize) -> TellRecord {
        let manifest = (0..files)
            .map(|index| ManifestEntry {
                file_type: if index == 0 {
                    1
                } else {
                    0x0A + index as u8 - 1
                },
                ..ManifestEntry::default()
            })
            .collect();
        TellRecord::new_v1(FileHeader::default(), Vec::new(), manifest)
    }

    fn received(record: TellRecord) -> ReceivedTell {
        ReceivedTell {
            raw: Vec::new(),
            record,
        }
    }

    #[test]
    fn the_count_is_written_in_byte_59_and_checked_on_receipt() {
        let extension = AttachmentCount::new();
        let mut sent = record(3);
        extension.encode_tell(&mut sent);
        assert_eq!(CLAIM.read(&sent.file_header.to_bytes()), &[2]);
        let mut truncated = sent.clone();
        truncated.manifest.pop();
        let legacy = record(2);
        let kept = extension.received(
            0,
            vec![
                received(sent.clone()),
                received(truncated),
                received(legacy.clone()),
            ],
        );
        assert_eq!(kept, vec![received(sent), received(legacy)]);
        assert_eq!(
            (extension.checked_count(), extension.mismatched_count()),
            (1, 1)
        );
    }
}
