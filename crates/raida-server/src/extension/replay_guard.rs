//! `replay_guard`: stops an older (or the same) edit_sequence from reaching a recipient after
//! a newer one was consumed.
//!
//! Hazard (simulator invariants `revision_order` and `one_shot`, scenario `replay`): the
//! beacon's edit_sequence guard compares an incoming tell only with the `.tell` file still in
//! the inbox. Once a device has read — and so deleted — revision 1, a replayed or duplicated
//! revision 0 (or 1) finds nothing to compare with and is published and delivered again.
//!
//! Remedy: the beacon remembers, per (mailbox, GUID), the highest edit_sequence it has handed
//! to a poll, and refuses to publish a tell of that GUID to that mailbox whose edit_sequence
//! is not above it. The guard is beacon-local and claims no wire byte, so it works the same
//! with legacy clients and legacy senders (nothing they send changes meaning).
//!
//! Limits: the record is kept durable (`{data}/state/extensions/replay_guard.state`, written
//! before the reply of the poll that grew it, restored at start), so a restarted beacon still
//! refuses the replays; it grows by one entry per email read, bounded by
//! [`ReplayGuard::entries_max`] (the oldest GUIDs are forgotten first). State format: one
//! 22-byte entry per (mailbox, GUID), oldest read first: denomination (1), serial number
//! (4, big-endian), GUID (16), highest consumed edit_sequence (1).

use std::collections::BTreeMap;
use std::sync::Mutex;

use qmail_wire::extension::ExtensionSpec;

use super::{PollContext, PublishContext, PublishVerdict, ServerExtension};
use crate::store::inbox::{edit_sequence, InboxItem};
use crate::store::Guid;
use crate::watch::MailboxId;

/// The extension's name in specs, scenarios and the CLI.
pub const NAME: &str = "replay_guard";

/// Most (mailbox, GUID) records kept.
const ENTRIES_MAX: usize = 1 << 16;

/// Size of one record in the state snapshot.
const STATE_ENTRY_SIZE_BYTES: usize = 1 + 4 + 16 + 1;

const _: () = assert!(
    ENTRIES_MAX * STATE_ENTRY_SIZE_BYTES <= crate::limits::STATE_FILE_PAYLOAD_SIZE_BYTES_MAX
);

/// Highest consumed edit_sequence per (mailbox, GUID), with the read order to forget by.
#[derive(Debug, Default)]
struct Consumed {
    highest: BTreeMap<(MailboxId, Guid), (u8, u64)>,
    read_order: BTreeMap<u64, (MailboxId, Guid)>,
    next_read_index: u64,
    /// Bumped by every change (the durable-state generation).
    generation: u64,
}

/// The replay guard; see the module docs.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    consumed: Mutex<Consumed>,
}

impl ReplayGuard {
    /// A guard that has seen no reads.
    pub fn new() -> ReplayGuard {
        ReplayGuard::default()
    }

    /// Most (mailbox, GUID) records kept.
    pub const fn entries_max() -> usize {
        ENTRIES_MAX
    }

    /// The highest edit_sequence of `guid` handed to a poll of `mailbox`, if any.
    pub fn consumed(&self, mailbox: MailboxId, guid: Guid) -> Option<u8> {
        let consumed = self.consumed.lock().expect("never held across a panic");
        consumed
            .highest
            .get(&(mailbox, guid))
            .map(|(edit, _)| *edit)
    }

    fn record(&self, mailbox: MailboxId, guid: Guid, edit: u8) {
        let mut consumed = self.consumed.lock().expect("never held across a panic");
        consumed.insert(mailbox, guid, edit);
    }
}

impl Consumed {
    fn insert(&mut self, mailbox: MailboxId, guid: Guid, edit: u8) {
        let consumed = self;
        consumed.generation += 1;
        let read_index = consumed.next_read_index;
        consumed.next_read_index += 1;
        let previous = consumed.highest.get(&(mailbox, guid)).copied();
        let highest = previous.map_or(edit, |(old, _)| old.max(edit));
        if let Some((_, old_index)) = previous {
            consumed.read_order.remove(&old_index);
        }
        consumed
            .highest
            .insert((mailbox, guid), (highest, read_index));
        consumed.read_order.insert(read_index, (mailbox, guid));
        while consumed.highest.len() > ENTRIES_MAX {
            let Some((_, oldest)) = consumed.read_order.pop_first() else {
                break;
            };
            consumed.highest.remove(&oldest);
        }
        assert_eq!(consumed.highest.len(), consumed.read_order.len());
    }

    /// The records, oldest read first.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.read_order.len() * STATE_ENTRY_SIZE_BYTES);
        for key in self.read_order.values() {
            let (edit, _) = *self
                .highest
                .get(key)
                .expect("read_order and highest hold the same keys");
            let (mailbox, guid) = key;
            bytes.push(mailbox.denomination as u8);
            bytes.extend_from_slice(&mailbox.serial_number.to_be_bytes());
            bytes.extend_from_slice(&guid.0);
            bytes.push(edit);
        }
        assert_eq!(bytes.len(), self.read_order.len() * STATE_ENTRY_SIZE_BYTES);
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Consumed, String> {
        if !bytes.len().is_multiple_of(STATE_ENTRY_SIZE_BYTES) {
            return Err(format!(
                "{} bytes is not a whole number of {STATE_ENTRY_SIZE_BYTES}-byte records",
                bytes.len()
            ));
        }
        let count = bytes.len() / STATE_ENTRY_SIZE_BYTES;
        if count > ENTRIES_MAX {
            return Err(format!("{count} records, more than the {ENTRIES_MAX} kept"));
        }
        let mut consumed = Consumed::default();
        for entry in bytes.chunks_exact(STATE_ENTRY_SIZE_BYTES) {
            let (&denomination, rest) = entry.split_first().ok_or("record")?;
            let (serial, rest) = rest.split_at(4);
            let (guid, edit) = rest.split_at(16);
            let mailbox = MailboxId {
                denomination: denomination as i8,
                serial_number: u32::from_be_bytes(serial.try_into().map_err(|_| "record")?),
            };
            let guid = Guid(guid.try_into().map_err(|_| "record")?);
            let edit = *edit.first().ok_or("record")?;
            if consumed.highest.contains_key(&(mailbox, guid)) {
                return Err("a (mailbox, GUID) recorded twice".to_string());
            }
            consumed.insert(mailbox, guid, edit);
        }
        consumed.generation = 0;
        Ok(consumed)
    }
}

impl ServerExtension for ReplayGuard {
    fn spec(&self) -> ExtensionSpec {
        ExtensionSpec {
            name: NAME,
            claims: Vec::new(),
        }
    }

    fn before_publish(&self, publish: &PublishContext<'_>) -> PublishVerdict {
        match self.consumed(publish.mailbox, publish.guid) {
            Some(consumed) if publish.edit_sequence <= consumed => PublishVerdict::Refuse,
            _ => PublishVerdict::Publish,
        }
    }

    fn on_read(&self, poll: &PollContext, items: &[InboxItem]) {
        for item in items {
            self.record(poll.mailbox, item.guid, edit_sequence(&item.bytes));
        }
    }

    fn state_generation(&self) -> u64 {
        let consumed = self.consumed.lock().expect("never held across a panic");
        consumed.generation
    }

    fn state(&self) -> Vec<u8> {
        let consumed = self.consumed.lock().expect("never held across a panic");
        consumed.encode()
    }

    fn restore_state(&self, bytes: &[u8]) -> Result<(), String> {
        let restored = Consumed::decode(bytes)?;
        let mut consumed = self.consumed.lock().expect("never held across a panic");
        *consumed = restored;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Mailbox;
    use std::path::PathBuf;

    const BOB: Mailbox = Mailbox {
        denomination: 1,
        serial_number: 7,
    };

    fn item(guid: u8, edit: u8) -> InboxItem {
        let mut bytes = vec![0; 128];
        bytes[crate::limits::EDIT_SEQUENCE_OFFSET] = edit;
        InboxItem {
            file_name: "f".to_string(),
            path: PathBuf::from("/f"),
            guid: Guid([guid; 16]),
            mtime_unix_us: 0,
            mtime_unix_s: 0,
            bytes,
        }
    }

    fn verdict(guard: &ReplayGuard, mailbox: Mailbox, guid: u8, edit: u8) -> PublishVerdict {
        guard.before_publish(&PublishContext {
            raida_id: 0,
            mailbox,
            guid: Guid([guid; 16]),
            edit_sequence: edit,
            record: &[],
        })
    }

    #[test]
    fn an_old_or_equal_edit_after_a_read_is_refused_a_newer_one_passes() {
        let guard = ReplayGuard::new();
        let poll = PollContext {
            raida_id: 0,
            mailbox: BOB,
            preamble_byte_31: Some(0),
        };
        assert_eq!(verdict(&guard, BOB, 1, 0), PublishVerdict::Publish);
        guard.on_read(&poll, &[item(1, 1)]);
        assert_eq!(guard.consumed(BOB, Guid([1; 16])), Some(1));
        assert_eq!(verdict(&guard, BOB, 1, 0), PublishVerdict::Refuse);
        assert_eq!(verdict(&guard, BOB, 1, 1), PublishVerdict::Refuse);
        assert_eq!(verdict(&guard, BOB, 1, 2), PublishVerdict::Publish);
        // Another GUID, another mailbox: untouched.
        assert_eq!(verdict(&guard, BOB, 2, 0), PublishVerdict::Publish);
        let carol = Mailbox {
            denomination: 1,
            serial_number: 8,
        };
        assert_eq!(verdict(&guard, carol, 1, 0), PublishVerdict::Publish);
        // A lower read never lowers the record.
        guard.on_read(&poll, &[item(1, 0)]);
        assert_eq!(guard.consumed(BOB, Guid([1; 16])), Some(1));
    }

    #[test]
    fn the_record_survives_a_restart_through_its_state() {
        let guard = ReplayGuard::new();
        assert_eq!(guard.state_generation(), 0);
        let poll = PollContext {
            raida_id: 0,
            mailbox: BOB,
            preamble_byte_31: Some(0),
        };
        guard.on_read(&poll, &[item(1, 3), item(2, 0)]);
        assert_eq!(guard.state_generation(), 2);
        let bytes = guard.state();
        assert_eq!(bytes.len(), 2 * STATE_ENTRY_SIZE_BYTES);
        let restarted = ReplayGuard::new();
        restarted.restore_state(&bytes).expect("restores");
        assert_eq!(restarted.consumed(BOB, Guid([1; 16])), Some(3));
        assert_eq!(verdict(&restarted, BOB, 1, 3), PublishVerdict::Refuse);
        assert_eq!(verdict(&restarted, BOB, 2, 0), PublishVerdict::Refuse);
        assert_eq!(restarted.state(), bytes, "same records, same order");
        assert!(restarted.restore_state(&bytes[..5]).is_err());
        let twice = [
            &bytes[..STATE_ENTRY_SIZE_BYTES],
            &bytes[..STATE_ENTRY_SIZE_BYTES],
        ]
        .concat();
        assert!(restarted.restore_state(&twice).is_err());
    }
}
