//! `delivery_ack`, client half: acknowledges each poll reply in the next poll's preamble and
//! drops records it has already seen.
//!
//! Hazard (simulator invariant `ack_durable`): a ping/peek reply lost on the wire after the
//! beacon deleted its tells loses them. The beacon half (raida-server
//! `extension::delivery_ack`) holds the records of the last reply until the next poll says
//! [`ACK`]; this half sets [`SPEAKS`] on every poll and [`ACK`] on the first attempt of the
//! poll after a reply with records arrived, and drops records seen before, keyed by
//! (GUID, edit_sequence). A legacy beacon ignores preamble byte 31: the client then runs the
//! base protocol (and the dedup is harmless).
//!
//! A retried peek carries `ACK` only on its first attempt: if that attempt reached the beacon
//! and its reply was lost, a retry without `ACK` is answered with the newly held records
//! again, which the dedup drops, and the poll after acknowledges them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use qmail_wire::extension::{Claim, ExtensionSpec};
use qmail_wire::preamble::Preamble;
use qmail_wire::reserved::Structure;

use super::ClientExtension;
use crate::tell_list::{Poll, ReceivedTell};

/// The extension's name in specs, scenarios and the CLI.
pub const NAME: &str = "delivery_ack";

/// Preamble byte 31 bit: the reply to the previous poll arrived.
pub const ACK: u8 = 0x01;

/// Preamble byte 31 bit: this client speaks `delivery_ack`.
pub const SPEAKS: u8 = 0x02;

/// The byte the extension claims: preamble byte 31.
pub const CLAIM: Claim = Claim::new(Structure::Preamble, 31, 1);

/// The client half of the delivery acknowledgement; see the module docs.
#[derive(Debug, Default)]
pub struct DeliveryAck {
    ack_owed: AtomicBool,
    seen: Mutex<BTreeSet<([u8; 16], u8)>>,
}

impl DeliveryAck {
    /// A client half that owes no acknowledgement and has seen nothing.
    pub fn new() -> DeliveryAck {
        DeliveryAck::default()
    }
}

impl ClientExtension for DeliveryAck {
    fn spec(&self) -> ExtensionSpec {
        ExtensionSpec {
            name: NAME,
            claims: vec![CLAIM],
        }
    }

    fn poll_preamble(&self, _beacon: u8, preamble: &mut Preamble) {
        let ack = if self.ack_owed.swap(false, Ordering::SeqCst) {
            ACK
        } else {
            0
        };
        preamble.reserved_byte_31 = SPEAKS | ack;
    }

    fn received(&self, _beacon: u8, tells: Vec<ReceivedTell>) -> Vec<ReceivedTell> {
        let mut seen = self.seen.lock().expect("never held across a panic");
        tells
            .into_iter()
            .filter(|tell| {
                let header = &tell.record.file_header;
                seen.insert((header.email_id, header.edit_sequence))
            })
            .collect()
    }

    fn after_poll(&self, _beacon: u8, poll: &Poll) {
        if matches!(poll, Poll::Tells(_)) {
            self.ack_owed.store(true, Ordering::SeqCst);
        }
    }
}
