//! `delivery_ack`: ends the loss of tells whose poll reply was lost after delete-on-read.
//!
//! Hazard (simulator invariant `ack_durable`, scenario `loss`): with
//! `delete_on_read = before_reply` the beacon removes the `.tell` files as it builds a
//! ping/peek reply; a reply lost on the wire takes the tells with it.
//!
//! Remedy: the records of the last reply to a mailbox are held by the beacon until the
//! client's next poll acknowledges them. The client says so in preamble byte 31 (reserved,
//! "was device id", ignored by legacy servers):
//!
//! - bit 1 ([`SPEAKS`]): this client speaks `delivery_ack`;
//! - bit 0 ([`ACK`]): the reply to my previous poll arrived.
//!
//! A poll with `SPEAKS` and without `ACK` while records are held is answered with exactly the
//! held records again (the inbox is not touched, so what is newer waits for the next poll); a
//! poll with `ACK` drops the held records and proceeds as usual. The client drops records it
//! has already seen, by (GUID, edit_sequence). A legacy client never sets `SPEAKS`, so its
//! polls run the base protocol; a legacy beacon ignores byte 31, so an upgraded client only
//! loses the guarantee.
//!
//! Limits: one holding area per mailbox, so two devices of one mailbox acknowledge each
//! other's replies (the scenario uses one device per mailbox). The holding area is kept
//! durable (`{data}/state/extensions/delivery_ack.state`, written before the reply of the
//! poll that changed it, restored at start), so a restarted beacon still resends what it
//! held. State format, all integers big-endian: the `speaks` count (u32) and per mailbox
//! denomination (1), serial number (4), flag (1); then the held count (u32) and per mailbox
//! denomination, serial number, record count (u16) and per record GUID (16), mtime µs (8),
//! mtime s (8), file name and path (u16 length + UTF-8 each), record bytes (u32 length +
//! bytes).

use std::collections::BTreeMap;
use std::sync::Mutex;

use qmail_wire::extension::{Claim, ExtensionSpec};
use qmail_wire::reserved::Structure;

use super::{PollContext, ServerExtension};
use crate::store::inbox::InboxItem;
use crate::store::Guid;
use crate::watch::MailboxId;

/// The extension's name in specs, scenarios and the CLI.
pub const NAME: &str = "delivery_ack";

/// Preamble byte 31 bit: the reply to the previous poll arrived.
pub const ACK: u8 = 0x01;

/// Preamble byte 31 bit: the client speaks `delivery_ack`.
pub const SPEAKS: u8 = 0x02;

/// The byte the extension claims: preamble byte 31.
pub const CLAIM: Claim = Claim::new(Structure::Preamble, 31, 1);

/// Per mailbox: the records held, and whether its last poll spoke `delivery_ack`.
#[derive(Debug, Default)]
struct Holding {
    held: BTreeMap<MailboxId, Vec<InboxItem>>,
    speaks: BTreeMap<MailboxId, bool>,
    /// Bumped by every change (the durable-state generation).
    generation: u64,
}

/// The delivery acknowledgement; see the module docs.
#[derive(Debug, Default)]
pub struct DeliveryAck {
    holding: Mutex<Holding>,
}

impl DeliveryAck {
    /// A beacon side holding nothing.
    pub fn new() -> DeliveryAck {
        DeliveryAck::default()
    }

    /// How many records are held for `mailbox`.
    pub fn held_count(&self, mailbox: MailboxId) -> usize {
        let holding = self.holding.lock().expect("never held across a panic");
        holding.held.get(&mailbox).map_or(0, Vec::len)
    }
}

impl ServerExtension for DeliveryAck {
    fn spec(&self) -> ExtensionSpec {
        ExtensionSpec {
            name: NAME,
            claims: vec![CLAIM],
        }
    }

    fn resend(&self, poll: &PollContext) -> Option<Vec<InboxItem>> {
        let byte = poll.preamble_byte_31?;
        let mut holding = self.holding.lock().expect("never held across a panic");
        let speaks = byte & SPEAKS != 0;
        if holding.speaks.insert(poll.mailbox, speaks) != Some(speaks) {
            holding.generation += 1;
        }
        if !speaks || byte & ACK != 0 {
            if holding.held.remove(&poll.mailbox).is_some() {
                holding.generation += 1;
            }
            return None;
        }
        holding
            .held
            .get(&poll.mailbox)
            .filter(|items| !items.is_empty())
            .cloned()
    }

    fn on_read(&self, poll: &PollContext, items: &[InboxItem]) {
        // A parked ping's rescan (no byte) was announced by its ping: held only if it spoke.
        let speaks = poll.preamble_byte_31.map(|byte| byte & SPEAKS != 0);
        let mut holding = self.holding.lock().expect("never held across a panic");
        let speaks =
            speaks.unwrap_or_else(|| holding.speaks.get(&poll.mailbox).copied().unwrap_or(false));
        if speaks && !items.is_empty() {
            holding.held.insert(poll.mailbox, items.to_vec());
            holding.generation += 1;
        }
    }

    fn state_generation(&self) -> u64 {
        self.holding
            .lock()
            .expect("never held across a panic")
            .generation
    }

    fn state(&self) -> Vec<u8> {
        let holding = self.holding.lock().expect("never held across a panic");
        encode(&holding)
    }

    fn restore_state(&self, bytes: &[u8]) -> Result<(), String> {
        let restored = decode(bytes)?;
        *self.holding.lock().expect("never held across a panic") = restored;
        Ok(())
    }
}

fn put_mailbox(bytes: &mut Vec<u8>, mailbox: MailboxId) {
    bytes.push(mailbox.denomination as u8);
    bytes.extend_from_slice(&mailbox.serial_number.to_be_bytes());
}

fn put_text(bytes: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).expect("names and paths are far below 64 KiB");
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

fn encode(holding: &Holding) -> Vec<u8> {
    let mut bytes = Vec::new();
    let count = |len: usize| u32::try_from(len).expect("fewer than 2^32 mailboxes");
    bytes.extend_from_slice(&count(holding.speaks.len()).to_be_bytes());
    for (mailbox, speaks) in &holding.speaks {
        put_mailbox(&mut bytes, *mailbox);
        bytes.push(u8::from(*speaks));
    }
    bytes.extend_from_slice(&count(holding.held.len()).to_be_bytes());
    for (mailbox, items) in &holding.held {
        put_mailbox(&mut bytes, *mailbox);
        let item_count = u16::try_from(items.len()).expect("a reply holds at most 255 tells");
        bytes.extend_from_slice(&item_count.to_be_bytes());
        for item in items {
            bytes.extend_from_slice(&item.guid.0);
            bytes.extend_from_slice(&item.mtime_unix_us.to_be_bytes());
            bytes.extend_from_slice(&item.mtime_unix_s.to_be_bytes());
            put_text(&mut bytes, &item.file_name);
            put_text(&mut bytes, &item.path.to_string_lossy());
            let len = u32::try_from(item.bytes.len()).expect("a record is below 64 KiB");
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&item.bytes);
        }
    }
    bytes
}

/// Reads a state snapshot front to back; every read is bounded by what is left.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        if count > self.rest.len() {
            return Err("state ends early (torn)".to_string());
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?
            .try_into()
            .map_err(|_| "state field".to_string())
    }

    fn mailbox(&mut self) -> Result<MailboxId, String> {
        let [denomination] = self.array::<1>()?;
        Ok(MailboxId {
            denomination: denomination as i8,
            serial_number: u32::from_be_bytes(self.array()?),
        })
    }

    fn text(&mut self) -> Result<String, String> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "text not UTF-8".to_string())
    }
}

fn decode(bytes: &[u8]) -> Result<Holding, String> {
    let mut reader = Reader { rest: bytes };
    let mut holding = Holding::default();
    let speaks_count = u32::from_be_bytes(reader.array()?);
    for _ in 0..speaks_count {
        let mailbox = reader.mailbox()?;
        let [flag] = reader.array::<1>()?;
        holding.speaks.insert(mailbox, flag != 0);
    }
    let held_count = u32::from_be_bytes(reader.array()?);
    for _ in 0..held_count {
        let mailbox = reader.mailbox()?;
        let item_count = u16::from_be_bytes(reader.array()?);
        let mut items = Vec::new();
        for _ in 0..item_count {
            let guid = Guid(reader.array()?);
            let mtime_unix_us = u64::from_be_bytes(reader.array()?);
            let mtime_unix_s = u64::from_be_bytes(reader.array()?);
            let file_name = reader.text()?;
            let path = std::path::PathBuf::from(reader.text()?);
            let len = u32::from_be_bytes(reader.array()?) as usize;
            let record = reader.take(len)?.to_vec();
            items.push(InboxItem {
                file_name,
                path,
                guid,
                mtime_unix_us,
                mtime_unix_s,
                bytes: record,
            });
        }
        holding.held.insert(mailbox, items);
    }
    if !reader.rest.is_empty() {
        return Err(format!("{} bytes after the state", reader.rest.len()));
    }
    Ok(holding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Guid, Mailbox};
    use std::path::PathBuf;

    const BOB: Mailbox = Mailbox {
        denomination: 1,
        serial_number: 7,
    };

    fn item(guid: u8) -> InboxItem {
        InboxItem {
            file_name: "f".to_string(),
            path: PathBuf::from("/f"),
            guid: Guid([guid; 16]),
            mtime_unix_us: 0,
            mtime_unix_s: 0,
            bytes: vec![guid; 64],
        }
    }

    fn poll(byte: Option<u8>) -> PollContext {
        PollContext {
            raida_id: 0,
            mailbox: BOB,
            preamble_byte_31: byte,
        }
    }

    #[test]
    fn unacknowledged_records_are_sent_again_until_acknowledged() {
        let ack = DeliveryAck::new();
        assert_eq!(ack.resend(&poll(Some(SPEAKS))), None);
        ack.on_read(&poll(Some(SPEAKS)), &[item(1)]);
        // The reply was lost: the next poll carries no ACK and gets the same record.
        assert_eq!(ack.resend(&poll(Some(SPEAKS))), Some(vec![item(1)]));
        // The reply arrived: ACK drops it.
        assert_eq!(ack.resend(&poll(Some(SPEAKS | ACK))), None);
        assert_eq!(ack.held_count(BOB), 0);
    }

    #[test]
    fn held_records_survive_a_restart_through_the_state() {
        let ack = DeliveryAck::new();
        assert_eq!(ack.state_generation(), 0);
        assert_eq!(ack.resend(&poll(Some(SPEAKS))), None);
        ack.on_read(&poll(Some(SPEAKS)), &[item(1), item(2)]);
        let generation = ack.state_generation();
        assert!(generation >= 2);
        assert_eq!(
            ack.resend(&poll(Some(SPEAKS))),
            Some(vec![item(1), item(2)])
        );
        assert_eq!(
            ack.state_generation(),
            generation,
            "a resend changes nothing"
        );
        let bytes = ack.state();
        let restarted = DeliveryAck::new();
        restarted.restore_state(&bytes).expect("restores");
        assert_eq!(
            restarted.resend(&poll(Some(SPEAKS))),
            Some(vec![item(1), item(2)])
        );
        assert_eq!(restarted.state(), bytes);
        for cut in [1, 4, bytes.len() - 1] {
            assert!(
                restarted.restore_state(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(restarted
            .restore_state(&[bytes.as_slice(), &[0]].concat())
            .is_err());
    }

    #[test]
    fn a_legacy_client_gets_the_base_protocol() {
        let ack = DeliveryAck::new();
        ack.on_read(&poll(Some(0)), &[item(1)]);
        assert_eq!(ack.held_count(BOB), 0);
        assert_eq!(ack.resend(&poll(Some(0))), None);
    }

    #[test]
    fn a_parked_ping_rescan_holds_when_the_ping_spoke() {
        let ack = DeliveryAck::new();
        ack.on_read(&poll(None), &[item(1)]);
        assert_eq!(ack.held_count(BOB), 0, "no ping spoke for this mailbox");
        assert_eq!(ack.resend(&poll(Some(SPEAKS | ACK))), None);
        ack.on_read(&poll(None), &[item(2)]);
        assert_eq!(ack.resend(&poll(Some(SPEAKS))), Some(vec![item(2)]));
    }
}
