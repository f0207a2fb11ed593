//! Hooks through which the simulator (or a UI) watches the client act.
//!
//! Every method of [`ClientObserver`] has a no-op default, so an observer implements only
//! what it records; [`NoopObserver`] records nothing. Hooks are called synchronously from the
//! client's task, in the order things happen, and must not block. They see the exact bytes
//! the simulator compares: the tell record as sent, the tell records as parsed out of a reply.

use qmail_wire::header::Command;

use crate::error::{ClientError, RaidaRef};
use crate::identity::{Guid, MailboxId};
use crate::stripe::StripeFault;
use crate::tell_list::{PollKind, ReceivedTell};

/// One tell attempt, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TellSent {
    /// The beacon RAIDA it went to.
    pub beacon: u8,
    /// The email (routing header email_id).
    pub email_id: Guid,
    /// File-header byte 57.
    pub edit_sequence: u8,
    /// The recipients addressed in this tell.
    pub recipients: Vec<MailboxId>,
    /// The exact record (file header + server entries + manifest) carried by the request.
    pub record: Vec<u8>,
    /// The status the beacon answered; `None` when no valid reply came.
    pub status: Option<u8>,
    /// Routing-header client_timestamp.
    pub routing_timestamp_s: u32,
    /// File-header client_timestamp.
    pub header_timestamp_s: u32,
    /// The sender's clock when it sent the tell.
    pub sender_clock_unix_s: u64,
}

/// One stripe stored on its RAIDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StripeUploaded {
    /// The email.
    pub email_id: Guid,
    /// The file.
    pub file_type: u8,
    /// Stripe index 0..=N.
    pub stripe_index: usize,
    /// Where it went.
    pub raida: RaidaRef,
    /// Its size.
    pub size_bytes: usize,
}

/// One file reassembled without one of its stripes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StripeRebuilt {
    /// The email.
    pub email_id: Guid,
    /// The file.
    pub file_type: u8,
    /// Which stripe was missing or corrupt.
    pub fault: StripeFault,
    /// The RAIDA that should have held it.
    pub raida_index: u8,
}

/// What the client reports as it works. See the module docs.
pub trait ClientObserver: Send + Sync {
    /// A request is about to be written (`attempt` counts from 1).
    fn request_sent(&self, _raida: RaidaRef, _command: Command, _attempt: u32) {}

    /// A reply header arrived with this status.
    fn request_answered(&self, _raida: RaidaRef, _command: Command, _status_code: u8) {}

    /// An attempt failed without a usable reply (I/O, timeout, bad reply).
    fn request_failed(&self, _raida: RaidaRef, _command: Command, _error: &ClientError) {}

    /// A stripe was stored.
    fn stripe_uploaded(&self, _event: &StripeUploaded) {}

    /// A tell attempt finished (answered or not).
    fn tell_sent(&self, _event: &TellSent) {}

    /// A ping or peek reply carried these tells (called only when there is at least one).
    fn tells_received(&self, _beacon: u8, _via: PollKind, _tells: &[ReceivedTell]) {}

    /// A file was rebuilt from parity without one stripe.
    fn stripe_rebuilt(&self, _event: &StripeRebuilt) {}
}

/// The observer that records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopObserver;

impl ClientObserver for NoopObserver {}
