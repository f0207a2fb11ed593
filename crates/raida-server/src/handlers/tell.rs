//! Tell (71, tell page 002): publish one `.tell` per recipient into this beacon's inboxes.
//!
//! Order after the shared checks (the body-size formula
//! `48 + 48 + 32R + 64 + 32M + manifest_len + 2` with R, M ≥ 1, else 16, before any field):
//!
//! 1. Preamble: 40, 8, 200.
//! 2. Every field rule of `qmail_wire::validate::check_tell`, in the page's order: 198 (file
//!    header bytes an active extension claims are read as zero here, so an upgraded beacon
//!    accepts its extensions' bytes and stores them verbatim).
//! 3. Each recipient in address order:
//!    a. static checks (denomination −8…+6, coin id `00 06`, non-empty locker key): skip;
//!    the mailbox must be a coin this RAIDA holds, else skip (this crate's rule; the page
//!    lists no such check, but ping and peek of a coin the RAIDA does not hold answer 8, so
//!    a `.tell` in that inbox could never be read: refusing it lets the sender hear 18
//!    instead of a 250 for mail nobody can receive);
//!    b. the inbox fee (fee record of the mailbox, `inbox_fee_default` when it has none — 0,
//!    the page's permissive rule): the locker must hold at least the fee; it is not spent;
//!    c. the record to store, computed once for the tell: the bytes after the address entries,
//!    verbatim, except that when this RAIDA holds the body stripe (file_type 0x01) of the
//!    GUID, the claimed file-header `total_file_size` more than 5% below
//!    `stripe bytes × (stripe_count − 1)` is overwritten with that estimate (only bytes
//!    46–49; skipped for an unknown parity_algo or stripe_count 1; never a rejection);
//!    d. the active extensions' `before_publish` (none by default; a refusal skips the
//!    recipient);
//!    e. the atomic publish with its edit_sequence guard (an existing `.tell` of the GUID with a
//!    higher byte 57 skips the recipient; equal or higher incoming overwrites);
//!    f. after the rename, the inbox watch is notified so parked pings wake.
//! 4. 250 when at least one recipient's inbox got the tell; 18 when none did — including a
//!    tell whose only recipient was skipped by the guard (DECISIONS.md), and recipients whose
//!    publish failed on the file system (tell page 002 "Status codes": 18 "Zero deliveries
//!    succeeded — every recipient was rejected (bad denom, fee unpaid, filesystem error,
//!    empty locker key)"; tell never answers 194). A failed publish (create, write, fsync,
//!    close, rename; a full disk) removes its temp file and leaves the inbox as it was; the
//!    tell takes no fee (the inbox fee is checked, not spent), so nothing needs a refund.
//!
//! The tell does not look for the stripes themselves (the page: "The server doesn't verify
//! file existence").

use qmail_wire::body::TellBody;
use qmail_wire::limits::{
    ADDRESS_ENTRY_SIZE_BYTES, PREAMBLE_SIZE_BYTES, ROUTING_HEADER_SIZE_BYTES,
};
use qmail_wire::reserved::Structure;
use qmail_wire::tell::{AddressEntry, FILE_TYPE_BODY};
use qmail_wire::validate::{
    body_size_estimate, check_tell, overwrite_total_file_size, validate_recipient, RecipientReject,
    TellRule,
};
use qmail_wire::Status;

use super::{authenticate, mailbox_of, CommandReply};
use crate::env::Env;
use crate::extension::{PublishContext, PublishVerdict};
use crate::limits::{TOTAL_FILE_SIZE_OFFSET, TOTAL_FILE_SIZE_SIZE_BYTES};
use crate::observer::{RecipientRefusal, ServerEvent};
use crate::probes;
use crate::store::inbox::PublishOutcome;
use crate::store::Guid;
use crate::watch::MailboxId;

/// Handles a tell body; `body_plain` is the decrypted body it was decoded from.
pub(crate) async fn tell(
    env: &Env,
    request_id: u64,
    body: &TellBody,
    body_plain: &[u8],
) -> CommandReply {
    let server_clock_unix_s = env.clock().now_unix_s();
    let mut delivered_count = 0usize;
    let result = deliver(env, request_id, body, body_plain, &mut delivered_count).await;
    let (status, rule) = match result {
        Ok(()) if delivered_count > 0 => (Status::Success, None),
        Ok(()) => (Status::WrongRaida, None),
        Err(Refused::Status(status)) => (status, None),
        Err(Refused::Rule(rule)) => (rule.status(), Some(rule)),
    };
    env.observer().observe(&ServerEvent::TellHandled {
        raida_id: env.raida_id(),
        request_id,
        email_id: Guid(body.routing.email_id),
        edit_sequence: body.record.file_header.edit_sequence,
        sender: mailbox_of(&body.preamble),
        routing_timestamp_s: body.routing.client_timestamp_s,
        header_timestamp_s: body.record.file_header.client_timestamp_s,
        server_clock_unix_s,
        recipient_count: body.recipients.len(),
        delivered_count,
        status: status.code(),
        rule,
    });
    CommandReply::Status(status)
}

/// Why the whole tell was refused.
enum Refused {
    Status(Status),
    Rule(TellRule),
}

/// Everything after the shared checks; counts deliveries into `delivered_count`.
async fn deliver(
    env: &Env,
    request_id: u64,
    body: &TellBody,
    body_plain: &[u8],
    delivered_count: &mut usize,
) -> Result<(), Refused> {
    authenticate(env, &body.preamble).map_err(Refused::Status)?;
    let now_s = env.clock().now_unix_s();
    check_fields(env, body, now_s).map_err(Refused::Rule)?;
    let record_offset = PREAMBLE_SIZE_BYTES
        + ROUTING_HEADER_SIZE_BYTES
        + body.recipients.len() * ADDRESS_ENTRY_SIZE_BYTES;
    // The decoder consumed exactly these bytes; their absence would be a decoder bug.
    let record = body_plain
        .get(record_offset..)
        .ok_or(Refused::Status(Status::InvalidPacketLength))?;
    assert_eq!(record.len(), body.record.size_bytes());
    let guid = Guid(body.routing.email_id);
    let mut stored: Option<StoredRecord> = None;
    for (recipient_index, entry) in body.recipients.iter().enumerate() {
        let mailbox = MailboxId {
            denomination: entry.denomination,
            serial_number: entry.serial_number,
        };
        let target = Recipient {
            request_id,
            recipient_index,
            mailbox,
            guid,
        };
        if let Some(refusal) = refusal(env, entry) {
            target.refused(env, &refusal);
            continue;
        }
        if stored.is_none() {
            stored = Some(StoredRecord::prepare(env, body, record, now_s).await);
        }
        let Some(stored) = stored.as_ref() else {
            continue;
        };
        if target.publish(env, stored).await {
            *delivered_count += 1;
        }
    }
    Ok(())
}

/// The field rules, with the file-header bytes active extensions claim read as zero.
fn check_fields(env: &Env, body: &TellBody, now_s: u64) -> Result<(), TellRule> {
    let tell_skew_s = env.settings().tell_skew_s;
    if env.extensions().claims_of(Structure::FileHeader).is_empty() {
        return check_tell(body, now_s, tell_skew_s);
    }
    let mut judged = body.clone();
    judged.record.file_header = env
        .extensions()
        .unclaimed_file_header(&body.record.file_header);
    check_tell(&judged, now_s, tell_skew_s)
}

/// Why a recipient is skipped before publishing, if it is.
fn refusal(env: &Env, entry: &AddressEntry) -> Option<RecipientRefusal> {
    if let Err(reject) = validate_recipient(entry) {
        return Some(match reject {
            RecipientReject::BadDenomination => RecipientRefusal::BadDenomination,
            RecipientReject::BadCoinId => RecipientRefusal::BadCoinId,
            RecipientReject::EmptyLockerKey => RecipientRefusal::EmptyLockerKey,
        });
    }
    if env
        .coins()
        .an(entry.denomination, entry.serial_number)
        .is_none()
    {
        return Some(RecipientRefusal::UnknownMailbox);
    }
    let fee = env.inbox_fees().fee_or(
        entry.denomination,
        entry.serial_number,
        env.settings().inbox_fee_default,
    );
    let key = &entry.locker_payment_key;
    let (paid, balance) =
        env.with_lockers(|lockers| (lockers.holds_at_least(key, fee), lockers.balance(key)));
    (!paid).then_some(RecipientRefusal::FeeUnpaid { fee, balance })
}

/// The record as stored in every recipient's inbox.
struct StoredRecord {
    bytes: Vec<u8>,
    total_file_size_claimed: u32,
    total_file_size_stored: u32,
}

impl StoredRecord {
    /// The record verbatim, with `total_file_size` overwritten when the beacon's estimate from
    /// its body stripe says the claim is more than 5% short.
    async fn prepare(env: &Env, body: &TellBody, record: &[u8], now_s: u64) -> StoredRecord {
        let header = &body.record.file_header;
        let claimed = header.total_file_size;
        let mut bytes = record.to_vec();
        let guid = Guid(body.routing.email_id);
        let stripe_size_bytes = match env.stripes().len_bytes(guid, FILE_TYPE_BODY, now_s).await {
            Ok(size) => size,
            Err(error) => {
                tracing::warn!(%guid, %error, "tell: body stripe unreadable, size check skipped");
                None
            }
        };
        let overwrite = stripe_size_bytes
            .and_then(|size| body_size_estimate(size, header.stripe_count, header.parity_algo))
            .and_then(|estimate| overwrite_total_file_size(claimed, estimate));
        let field_range =
            TOTAL_FILE_SIZE_OFFSET..TOTAL_FILE_SIZE_OFFSET + TOTAL_FILE_SIZE_SIZE_BYTES;
        if let (Some(value), Some(field)) = (overwrite, bytes.get_mut(field_range)) {
            probe::hit(&probes::TELL_TOTAL_FILE_SIZE_OVERWRITTEN);
            field.copy_from_slice(&value.to_be_bytes());
        }
        StoredRecord {
            bytes,
            total_file_size_claimed: claimed,
            total_file_size_stored: overwrite.unwrap_or(claimed),
        }
    }

    fn edit_sequence(&self) -> u8 {
        crate::store::inbox::edit_sequence(&self.bytes)
    }
}

/// One recipient of one tell, for publishing and events.
struct Recipient {
    request_id: u64,
    recipient_index: usize,
    mailbox: MailboxId,
    guid: Guid,
}

impl Recipient {
    fn refused(&self, env: &Env, refusal: &RecipientRefusal) {
        probe::hit(match refusal {
            RecipientRefusal::BadDenomination
            | RecipientRefusal::BadCoinId
            | RecipientRefusal::EmptyLockerKey
            | RecipientRefusal::UnknownMailbox => &probes::TELL_RECIPIENT_INVALID,
            RecipientRefusal::FeeUnpaid { .. } => &probes::TELL_RECIPIENT_FEE_UNPAID,
            RecipientRefusal::Extension => &probes::TELL_EXTENSION_REFUSED,
            RecipientRefusal::Filesystem { .. } => &probes::TELL_PUBLISH_FAILED,
        });
        env.observer().observe(&ServerEvent::RecipientRefused {
            raida_id: env.raida_id(),
            request_id: self.request_id,
            recipient_index: self.recipient_index,
            mailbox: self.mailbox,
            guid: self.guid,
            refusal,
        });
    }

    /// Publishes `stored`; true when the inbox got it.
    async fn publish(&self, env: &Env, stored: &StoredRecord) -> bool {
        let context = PublishContext {
            raida_id: env.raida_id(),
            mailbox: self.mailbox,
            guid: self.guid,
            edit_sequence: stored.edit_sequence(),
            record: &stored.bytes,
        };
        if env.extensions().before_publish(&context) == PublishVerdict::Refuse {
            let refusal = RecipientRefusal::Extension;
            self.refused(env, &refusal);
            return false;
        }
        let outcome = env
            .inbox()
            .publish_tell(self.mailbox, self.guid, &stored.bytes)
            .await;
        match outcome {
            Ok(PublishOutcome::Published) => {
                env.observer().observe(&ServerEvent::TellPublished {
                    raida_id: env.raida_id(),
                    request_id: self.request_id,
                    recipient_index: self.recipient_index,
                    mailbox: self.mailbox,
                    guid: self.guid,
                    edit_sequence: stored.edit_sequence(),
                    stored: &stored.bytes,
                    total_file_size_claimed: stored.total_file_size_claimed,
                    total_file_size_stored: stored.total_file_size_stored,
                });
                env.watch().notify(self.mailbox);
                true
            }
            Ok(PublishOutcome::SkippedOlderEdit { existing, incoming }) => {
                probe::hit(&probes::TELL_GUARD_SKIP);
                env.observer().observe(&ServerEvent::TellSkipped {
                    raida_id: env.raida_id(),
                    request_id: self.request_id,
                    recipient_index: self.recipient_index,
                    mailbox: self.mailbox,
                    guid: self.guid,
                    incoming_edit_sequence: incoming,
                    existing_edit_sequence: existing,
                });
                false
            }
            Err(error) => {
                tracing::warn!(mailbox = ?self.mailbox, guid = %self.guid, %error,
                    "tell could not publish");
                let refusal = RecipientRefusal::Filesystem {
                    error: error.to_string(),
                };
                self.refused(env, &refusal);
                false
            }
        }
    }
}
