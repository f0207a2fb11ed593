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
//! other's replies (the scenario uses one device per mailbox); the holding area lives in
//! memory, so a beacon crash loses what it holds, as the base protocol would.

use std::collections::BTreeMap;
use std::sync::Mutex;

use qmail_wire::extension::{Claim, ExtensionSpec};
use qmail_wire::reserved::Structure;

use super::{PollContext, ServerExtension};
use crate::store::inbox::InboxItem;
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
        holding.speaks.insert(poll.mailbox, speaks);
        if !speaks || byte & ACK != 0 {
            holding.held.remove(&poll.mailbox);
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
        }
    }
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
