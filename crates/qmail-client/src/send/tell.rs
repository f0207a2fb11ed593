//! The tell (71): the record a sender builds ([`Client::build_tell`]) and one attempt to send
//! it ([`Client::tell`], [`Client::send_tell_record`]).
//!
//! # The tell record
//!
//! File header: email GUID, sender coin `00 06` and this mailbox, device id, the clock's
//! time, tell type 0, stripe_count M, the email's locker code, total_file_size = original
//! size of the body alone, version 2, manifest v1 with flags footer_removed | crc32_present,
//! the email's edit_sequence, parity_algo 0 (XOR) or 1 (Reed–Solomon). Server entries: stripe
//! index 0..M, stripe type (0 data for indexes below N, 1 parity from N on), RAIDA index, its
//! IPv4-mapped address and port from the directory. A beacon skips its total_file_size
//! estimate for a parity_algo other than 0, so a Reed–Solomon tell is delivered as is.
//! Manifest: the body first (flags bit 0), then the attachments (flags bit 1), each with its
//! original size and CRC-32. The routing header repeats the GUID, the body size and the
//! timestamp. Both timestamps are taken again for every tell attempt, so a retry is not
//! refused for skew.
//!
//! [`Client::build_tell`] and [`Client::send_tell_record`] are public so an adversary can
//! re-send any record (an older revision's, say) in a fresh request.

use qmail_wire::body::TellBody;
use qmail_wire::header::Command;
use qmail_wire::limits::{BODY_SIZE_BYTES_MAX, COIN_ID_CLOUDCOIN};
use qmail_wire::tell::{
    AddressEntry, FileHeader, ManifestEntry, RoutingHeader, ServerEntry, TellRecord,
    FILE_FLAG_ATTACHMENT, FILE_FLAG_BODY, FILE_TYPE_BODY, MANIFEST_FLAG_CRC32_PRESENT,
    PARITY_ALGO_RAID5_XOR, STRIPE_TYPE_DATA, STRIPE_TYPE_PARITY, TELL_TYPE_EMAIL,
};
use qmail_wire::Codec;

use super::Placement;
use crate::client::{expect_status_only, Client, RequestPlan};
use crate::config::Parity;
use crate::error::ClientError;
use crate::identity::{Guid, LockerCode, MailboxId};
use crate::limits::{ATTACHMENTS_PER_EMAIL_MAX, RECIPIENTS_PER_TELL_MAX};
use crate::observer::TellSent;
use crate::stripe;
use crate::transport::Connector;

/// The manifest entry of one file: flags from its type, original size and CRC-32.
pub fn manifest_entry(file_type: u8, bytes: &[u8]) -> ManifestEntry {
    ManifestEntry {
        file_type,
        file_flags: if file_type == FILE_TYPE_BODY {
            FILE_FLAG_BODY
        } else {
            FILE_FLAG_ATTACHMENT
        },
        reserved: [0; 2],
        original_size: bytes.len() as u64,
        crc32: stripe::file_crc32(bytes),
    }
}

/// Everything of a tell record except its timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TellSpec {
    /// The email GUID.
    pub guid: Guid,
    /// File-header byte 57.
    pub edit_sequence: u8,
    /// Where the stripes are.
    pub placement: Placement,
    /// The manifest, body first.
    pub files: Vec<ManifestEntry>,
    /// Whether the manifest CRC-32s are filled in (flag bit 1).
    pub crc32_present: bool,
    /// File-header locker code.
    pub locker_code: LockerCode,
}

/// The routing-header fields a tell request carries beside the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TellRouting {
    /// Routing total_file_size (not validated by beacons).
    pub total_file_size: u32,
    /// Routing client_timestamp, checked against the beacon's clock.
    pub client_timestamp_s: u32,
    /// Reserved beacon-payment locker; zero.
    pub beacon_payment_locker: LockerCode,
}

impl TellRouting {
    /// The routing fields for `record`: its body size and the given timestamp.
    pub fn for_record(record: &TellRecord, client_timestamp_s: u32) -> Self {
        Self {
            total_file_size: record.file_header.total_file_size,
            client_timestamp_s,
            beacon_payment_locker: [0; 16],
        }
    }
}

/// One tell sent to one beacon, finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TellOutcome {
    /// The beacon.
    pub beacon: u8,
    /// Recipients named.
    pub recipients: Vec<MailboxId>,
    /// The record bytes of the last attempt.
    pub record: Vec<u8>,
    /// Attempts made.
    pub attempts: u32,
    /// Ok when the beacon answered 250.
    pub result: Result<(), ClientError>,
}

impl TellOutcome {
    /// The outcome of a tell that never went out (its record could not be built).
    pub(crate) fn refused(
        beacon: u8,
        recipients: &[AddressEntry],
        attempts: u32,
        error: ClientError,
    ) -> Self {
        Self {
            beacon,
            recipients: mailboxes_of(recipients),
            record: Vec::new(),
            attempts,
            result: Err(error),
        }
    }

    /// The status the beacon answered last: 250, an error status, or `None` with no reply.
    pub fn status(&self) -> Option<u8> {
        match &self.result {
            Ok(()) => Some(qmail_wire::Status::Success.code()),
            Err(error) => error.status_code(),
        }
    }
}

impl<C: Connector> Client<C> {
    /// The tell record of `spec`, stamped `client_timestamp_s`. See the module docs.
    pub fn build_tell(
        &self,
        spec: &TellSpec,
        client_timestamp_s: u32,
    ) -> Result<TellRecord, ClientError> {
        let invalid = |reason: String| Err(ClientError::InvalidInput { reason });
        let Some(body) = spec.files.first() else {
            return invalid("a tell manifest lists at least the body".to_string());
        };
        if body.file_type != FILE_TYPE_BODY {
            return invalid(format!(
                "the first manifest entry is file type {:#04x}, not the body 0x01",
                body.file_type
            ));
        }
        if spec.files.len() > 1 + ATTACHMENTS_PER_EMAIL_MAX {
            return invalid(format!(
                "{} files do not fit one manifest",
                spec.files.len()
            ));
        }
        let Ok(total_file_size) = u32::try_from(body.original_size) else {
            return invalid(format!(
                "body of {} bytes does not fit total_file_size",
                body.original_size
            ));
        };
        let data_stripe_count = spec.placement.data_stripe_count();
        let mut servers = Vec::with_capacity(spec.placement.raidas().len());
        for (stripe_index, &raida_index) in spec.placement.raidas().iter().enumerate() {
            let addr = self
                .directory()
                .addr_v4(raida_index)
                .expect("placements hold RAIDA indexes 0..=24");
            let stripe_type = if stripe_index >= data_stripe_count.get() {
                STRIPE_TYPE_PARITY
            } else {
                STRIPE_TYPE_DATA
            };
            let stripe_index = u8::try_from(stripe_index).expect("at most 25 stripes");
            servers.push(ServerEntry::new(
                stripe_index,
                stripe_type,
                raida_index,
                addr,
            ));
        }
        let mailbox = self.identity().mailbox;
        let file_header = FileHeader {
            email_id: spec.guid,
            sender_coin_id: COIN_ID_CLOUDCOIN,
            sender_denomination: mailbox.denomination,
            sender_serial_number: mailbox.serial_number,
            sender_device_id: self.config().device_id,
            client_timestamp_s,
            tell_type: TELL_TYPE_EMAIL,
            locker_code: spec.locker_code,
            total_file_size,
            manifest_flags: if spec.crc32_present {
                MANIFEST_FLAG_CRC32_PRESENT
            } else {
                0
            },
            edit_sequence: spec.edit_sequence,
            parity_algo: spec.placement.parity().parity_algo(),
            ..FileHeader::default()
        };
        assert!(
            spec.placement.parity() != Parity::Xor
                || file_header.parity_algo == PARITY_ALGO_RAID5_XOR
        );
        let mut files = spec.files.clone();
        if !spec.crc32_present {
            files.iter_mut().for_each(|entry| entry.crc32 = 0);
        }
        let mut record = TellRecord::new_v1(file_header, servers, files);
        self.extensions().encode_tell(&mut record);
        Ok(record)
    }

    /// Tell (71), one attempt: sends `record` to RAIDA `beacon` for `recipients`. Ok when the
    /// beacon answers 250. Refuses (as input errors) what cannot be carried: no recipients or
    /// more than 255, no server entries or more than 255, a legacy footer, a body over 65,535
    /// bytes.
    pub async fn tell(
        &self,
        beacon: u8,
        recipients: &[AddressEntry],
        record: &TellRecord,
        routing: &TellRouting,
    ) -> Result<(), ClientError> {
        check_tell_shape(recipients, record)?;
        let raida = self.raida(beacon)?;
        let plan = RequestPlan {
            raida,
            command: Command::Tell,
            retries_max: 0,
            read_header_timeout: self.config().request_timeout,
        };
        let reply = self
            .request(plan, |challenge| {
                let routing_header = RoutingHeader {
                    email_id: record.file_header.email_id,
                    total_file_size: routing.total_file_size,
                    reserved_1: [0; 4],
                    client_timestamp_s: routing.client_timestamp_s,
                    tell_type: TELL_TYPE_EMAIL,
                    address_count: 0,
                    server_count: 0,
                    beacon_payment_locker: routing.beacon_payment_locker,
                    reserved_2: 0,
                };
                TellBody::new(
                    self.preamble(beacon, challenge),
                    routing_header,
                    recipients.to_vec(),
                    record.clone(),
                )
                .to_bytes()
            })
            .await?;
        expect_status_only(plan, &reply)
    }

    /// One tell attempt, reported to the observer as [`TellSent`] with the exact record
    /// bytes: the piece a replay adversary re-sends an old record through.
    pub async fn send_tell_record(
        &self,
        beacon: u8,
        recipients: &[AddressEntry],
        record: &TellRecord,
        routing: &TellRouting,
    ) -> TellOutcome {
        let sender_clock_unix_s = self.clock().now_unix_s();
        let mut record_bytes = Vec::with_capacity(record.size_bytes());
        let shape = check_tell_shape(recipients, record);
        if shape.is_ok() {
            record.encode_in_tell(&mut record_bytes);
        }
        let result = match shape {
            Ok(()) => self.tell(beacon, recipients, record, routing).await,
            Err(error) => Err(error),
        };
        let outcome = TellOutcome {
            beacon,
            recipients: mailboxes_of(recipients),
            record: record_bytes,
            attempts: 1,
            result,
        };
        self.observer().tell_sent(&TellSent {
            beacon,
            email_id: record.file_header.email_id,
            edit_sequence: record.file_header.edit_sequence,
            recipients: outcome.recipients.clone(),
            record: outcome.record.clone(),
            status: outcome.status(),
            routing_timestamp_s: routing.client_timestamp_s,
            header_timestamp_s: record.file_header.client_timestamp_s,
            sender_clock_unix_s,
        });
        outcome
    }
}

/// What [`TellBody`] can carry: 1..=255 recipients and server entries, no legacy footer, a
/// body of at most 65,535 bytes.
fn check_tell_shape(recipients: &[AddressEntry], record: &TellRecord) -> Result<(), ClientError> {
    let invalid = |reason: String| Err(ClientError::InvalidInput { reason });
    if !(1..=RECIPIENTS_PER_TELL_MAX).contains(&recipients.len()) {
        return invalid(format!(
            "a tell names 1..={RECIPIENTS_PER_TELL_MAX} recipients, not {}",
            recipients.len()
        ));
    }
    if !(1..=usize::from(u8::MAX)).contains(&record.servers.len()) {
        return invalid(format!(
            "a tell carries 1..=255 server entries, not {}",
            record.servers.len()
        ));
    }
    if record.legacy_footer.is_some() {
        return invalid("a tell request carries no legacy footer".to_string());
    }
    if record.manifest_size_bytes() != usize::from(record.file_header.manifest_len)
        || record.manifest_excess.len() >= qmail_wire::limits::MANIFEST_ENTRY_SIZE_BYTES
    {
        return invalid("the manifest entries do not fill manifest_len".to_string());
    }
    let body_size_bytes = qmail_wire::limits::PREAMBLE_SIZE_BYTES
        + qmail_wire::limits::ROUTING_HEADER_SIZE_BYTES
        + recipients.len() * AddressEntry::SIZE_BYTES
        + record.size_bytes()
        + qmail_wire::limits::TERMINATOR_SIZE_BYTES;
    if body_size_bytes > BODY_SIZE_BYTES_MAX {
        return invalid(format!(
            "a tell body of {body_size_bytes} bytes exceeds {BODY_SIZE_BYTES_MAX}"
        ));
    }
    Ok(())
}

/// The mailboxes of tell address entries, in order.
fn mailboxes_of(recipients: &[AddressEntry]) -> Vec<MailboxId> {
    recipients
        .iter()
        .map(|entry| MailboxId::new(entry.denomination, entry.serial_number))
        .collect()
}
