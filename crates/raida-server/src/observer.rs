//! Server instrumentation: every decision an auditor needs, as plain data, at the moment it
//! is taken.
//!
//! The command handlers call [`Observer::observe`] with a [`ServerEvent`] when a request is
//! answered, a tell is published or skipped, a recipient is refused, tells are read into a
//! reply or deleted, a stripe is stored, and a ping parks or times out. The simulator installs
//! an observer that turns these into its event history for the invariant checkers; the real
//! daemon installs [`TracingObserver`] (structured `tracing` lines); the default is
//! [`NullObserver`].
//!
//! Events borrow the bytes they describe (tell records, inbox items), so observing costs
//! nothing unless the observer copies. Every event carries this RAIDA's id and the request id
//! (one number per request, from [`crate::env::Env::next_request_id`], so a tell's
//! `TellHandled` pairs with its `TellPublished`s). Observers run inline in the handler: they
//! must be quick and must not block.

use std::fmt::Debug;

use qmail_wire::header::Command;
use qmail_wire::validate::TellRule;

use crate::coins::LockerCode;
use crate::store::inbox::{DeleteFate, DeleteReport, InboxItem};
use crate::store::{bytes_to_hex, Guid};
use crate::watch::MailboxId;

/// A coin named by a request: (denomination, serial number). Not necessarily valid.
pub type CoinId = MailboxId;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A reply with this status byte was produced.
    Replied {
        /// The status byte.
        status: u8,
    },
    /// A ping found no tells and is parked (its reply comes later, see
    /// [`ServerEvent::PingResumed`] and [`ServerEvent::PingTimedOut`]).
    Parked,
    /// The rate limiter dropped the request: the connection is closed without a reply.
    Closed,
}

/// Why tell skipped one recipient (it counts as not delivered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientRefusal {
    /// Denomination outside −8…+6.
    BadDenomination,
    /// Coin id not `00 06`.
    BadCoinId,
    /// All-zero locker payment key.
    EmptyLockerKey,
    /// The mailbox is not a coin this RAIDA holds: nobody could ever poll its inbox.
    UnknownMailbox,
    /// The locker holds less than the recipient's inbox fee.
    FeeUnpaid {
        /// The fee (the default when the mailbox has no fee record).
        fee: u64,
        /// What the locker holds (`None`: no such locker).
        balance: Option<u64>,
    },
    /// An active protocol extension refused it (for example `replay_guard`).
    Extension,
    /// Writing the `.tell` failed.
    Filesystem {
        /// The store's error.
        error: String,
    },
}

/// When the tells of a reply are deleted (DECISIONS.md `delete_on_read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteWhen {
    /// Once read into the reply, before it is sent.
    BeforeReply,
    /// After the reply was written.
    AfterReply,
}

/// One thing the server did. See the module docs.
#[derive(Clone, Copy, Debug)]
pub enum ServerEvent<'a> {
    /// A request was answered (or parked, or dropped). Emitted once per `handle_request`.
    RequestHandled {
        /// This RAIDA.
        raida_id: u8,
        /// The request.
        request_id: u64,
        /// The command, when the header named a known one.
        command: Option<Command>,
        /// Header byte 4 as received (0 if the request was shorter).
        command_group: u8,
        /// Header byte 5 as received.
        command_code: u8,
        /// The coin whose AN keys the body (header bytes 17–21), when the header was read.
        key_coin: Option<CoinId>,
        /// The coin named in the decrypted preamble, when it was decrypted.
        caller: Option<CoinId>,
        /// What happened.
        outcome: RequestOutcome,
        /// The server clock when the request arrived, Unix µs.
        received_unix_us: u64,
        /// Execution time written in the reply header, µs.
        execution_time_us: u32,
    },
    /// A tell body decoded; emitted with its final status (after every recipient).
    TellHandled {
        /// This RAIDA.
        raida_id: u8,
        /// The request.
        request_id: u64,
        /// Routing-header email id (the GUID of the `.tell` file names).
        email_id: Guid,
        /// File-header byte 57 as sent.
        edit_sequence: u8,
        /// The preamble coin (the sender).
        sender: CoinId,
        /// Routing-header client_timestamp.
        routing_timestamp_s: u32,
        /// File-header client_timestamp.
        header_timestamp_s: u32,
        /// The server clock the timestamps were compared with, Unix seconds.
        server_clock_unix_s: u64,
        /// Recipients in the tell.
        recipient_count: usize,
        /// Recipients whose inbox got the tell.
        delivered_count: usize,
        /// The status answered.
        status: u8,
        /// The field rule that failed, for a 198.
        rule: Option<TellRule>,
    },
    /// One recipient's `.tell` was renamed into its inbox.
    TellPublished {
        /// This RAIDA.
        raida_id: u8,
        /// The tell request.
        request_id: u64,
        /// Index of the recipient in the tell's address entries.
        recipient_index: usize,
        /// The recipient.
        mailbox: MailboxId,
        /// The email.
        guid: Guid,
        /// File-header byte 57 of the stored record.
        edit_sequence: u8,
        /// The exact bytes stored in the `.tell` file.
        stored: &'a [u8],
        /// The sender's file-header total_file_size.
        total_file_size_claimed: u32,
        /// The stored total_file_size (the estimate when the beacon overwrote the claim).
        total_file_size_stored: u32,
    },
    /// The edit_sequence guard skipped one recipient: a newer edit is already in the inbox.
    TellSkipped {
        /// This RAIDA.
        raida_id: u8,
        /// The tell request.
        request_id: u64,
        /// Index of the recipient.
        recipient_index: usize,
        /// The recipient.
        mailbox: MailboxId,
        /// The email.
        guid: Guid,
        /// The refused edit.
        incoming_edit_sequence: u8,
        /// The edit already in the inbox.
        existing_edit_sequence: u8,
    },
    /// One recipient was refused before publishing (or its publish failed).
    RecipientRefused {
        /// This RAIDA.
        raida_id: u8,
        /// The tell request.
        request_id: u64,
        /// Index of the recipient.
        recipient_index: usize,
        /// The recipient as addressed (the denomination may be out of range).
        mailbox: MailboxId,
        /// The email.
        guid: Guid,
        /// Why.
        refusal: &'a RecipientRefusal,
    },
    /// Tells were read into a ping/peek reply (oldest first, exactly the reply's records).
    TellsRead {
        /// This RAIDA.
        raida_id: u8,
        /// The poll request.
        request_id: u64,
        /// Ping or peek.
        command: Command,
        /// The inbox.
        mailbox: MailboxId,
        /// The tells, in reply order; `bytes` are the reply's records verbatim.
        tells: &'a [InboxItem],
        /// When they are deleted.
        delete_when: DeleteWhen,
    },
    /// Tells of a reply were deleted (before or after the reply, per `delete_when`).
    TellsDeleted {
        /// This RAIDA.
        raida_id: u8,
        /// The poll request.
        request_id: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// When.
        delete_when: DeleteWhen,
        /// The tells the reply carried.
        tells: &'a [InboxItem],
        /// What happened to each (same order); shorter than `tells` when `error` is set.
        fates: &'a [DeleteFate],
        /// Counts of `fates`.
        report: DeleteReport,
        /// The store error that stopped the deletion, if any (the rest stay in the inbox).
        error: Option<&'a str>,
    },
    /// A stripe was durably stored (upload 250).
    StripeStored {
        /// This RAIDA.
        raida_id: u8,
        /// The upload request.
        request_id: u64,
        /// The file GUID.
        guid: Guid,
        /// The file type.
        file_type: u8,
        /// Stripe bytes stored.
        size_bytes: usize,
        /// Expiry on the server clock, Unix seconds; `None` for permanent.
        expires_at_unix_s: Option<u64>,
        /// The locker that paid.
        locker: LockerCode,
        /// What was taken from it.
        fee_spent: u64,
    },
    /// A ping found no tells and parked.
    PingParked {
        /// This RAIDA.
        raida_id: u8,
        /// The ping request.
        request_id: u64,
        /// The inbox waited on.
        mailbox: MailboxId,
        /// When it times out, server clock, Unix µs.
        deadline_unix_us: u64,
    },
    /// A parked ping was answered after a wake-up with this status.
    PingResumed {
        /// This RAIDA.
        raida_id: u8,
        /// The ping request.
        request_id: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// The status answered (250, or 194 when the rescan failed).
        status: u8,
    },
    /// A parked ping timed out and got the status-only timeout reply.
    PingTimedOut {
        /// This RAIDA.
        raida_id: u8,
        /// The ping request.
        request_id: u64,
        /// The inbox.
        mailbox: MailboxId,
        /// The status answered (`ping_timeout_status`).
        status: u8,
    },
}

/// Receives every [`ServerEvent`]. Installed with [`crate::env::Env::with_observer`].
pub trait Observer: Send + Sync + Debug {
    /// Called inline by the handlers; must be quick and must not block.
    fn observe(&self, event: &ServerEvent<'_>);
}

/// Ignores everything (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullObserver;

impl Observer for NullObserver {
    fn observe(&self, _event: &ServerEvent<'_>) {}
}

/// Logs every event through `tracing` (the real daemon's observer): requests at `debug`,
/// state changes (publish, skip, refusal, delete, stripe) at `info`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingObserver;

fn coin_text(coin: Option<CoinId>) -> String {
    coin.map_or_else(
        || "-".to_string(),
        |coin| format!("{}:{}", coin.denomination, coin.serial_number),
    )
}

impl Observer for TracingObserver {
    fn observe(&self, event: &ServerEvent<'_>) {
        match *event {
            ServerEvent::RequestHandled {
                raida_id,
                request_id,
                command,
                command_group,
                command_code,
                key_coin,
                caller,
                outcome,
                execution_time_us,
                ..
            } => tracing::debug!(
                raida_id, request_id, command = ?command, command_group, command_code,
                key_coin = %coin_text(key_coin), caller = %coin_text(caller),
                outcome = ?outcome, execution_time_us, "request handled"
            ),
            ServerEvent::TellHandled {
                raida_id,
                request_id,
                email_id,
                edit_sequence,
                sender,
                recipient_count,
                delivered_count,
                status,
                rule,
                ..
            } => tracing::info!(
                raida_id, request_id, email_id = %email_id, edit_sequence,
                sender = %coin_text(Some(sender)), recipient_count, delivered_count, status,
                rule = ?rule, "tell handled"
            ),
            ServerEvent::TellPublished {
                raida_id,
                request_id,
                mailbox,
                guid,
                edit_sequence,
                stored,
                total_file_size_claimed,
                total_file_size_stored,
                ..
            } => tracing::info!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)), guid = %guid,
                edit_sequence, size_bytes = stored.len(), total_file_size_claimed,
                total_file_size_stored, "tell published"
            ),
            ServerEvent::TellSkipped {
                raida_id,
                request_id,
                mailbox,
                guid,
                incoming_edit_sequence,
                existing_edit_sequence,
                ..
            } => tracing::info!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)), guid = %guid,
                incoming_edit_sequence, existing_edit_sequence,
                "tell skipped: newer edit in inbox"
            ),
            ServerEvent::RecipientRefused {
                raida_id,
                request_id,
                recipient_index,
                mailbox,
                guid,
                refusal,
            } => tracing::info!(
                raida_id, request_id, recipient_index, mailbox = %coin_text(Some(mailbox)),
                guid = %guid, refusal = ?refusal, "tell recipient refused"
            ),
            ServerEvent::TellsRead {
                raida_id,
                request_id,
                command,
                mailbox,
                tells,
                delete_when,
            } => {
                let names: Vec<&str> = tells.iter().map(|item| item.file_name.as_str()).collect();
                tracing::info!(
                    raida_id, request_id, command = ?command,
                    mailbox = %coin_text(Some(mailbox)), tell_count = tells.len(),
                    files = ?names, delete_when = ?delete_when, "tells read into reply"
                );
            }
            ServerEvent::TellsDeleted {
                raida_id,
                request_id,
                mailbox,
                delete_when,
                report,
                error,
                ..
            } => tracing::info!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)),
                delete_when = ?delete_when, removed = report.removed_count,
                already_gone = report.already_gone_count, replaced = report.replaced_count,
                unreadable = report.unreadable_count, failed = report.failed_count,
                error = ?error, "tells deleted"
            ),
            ServerEvent::StripeStored {
                raida_id,
                request_id,
                guid,
                file_type,
                size_bytes,
                expires_at_unix_s,
                locker,
                fee_spent,
            } => tracing::info!(
                raida_id, request_id, guid = %guid, file_type, size_bytes,
                expires_at_unix_s = ?expires_at_unix_s, locker = %bytes_to_hex(&locker),
                fee_spent, "stripe stored"
            ),
            ServerEvent::PingParked {
                raida_id,
                request_id,
                mailbox,
                deadline_unix_us,
            } => tracing::debug!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)), deadline_unix_us,
                "ping parked"
            ),
            ServerEvent::PingResumed {
                raida_id,
                request_id,
                mailbox,
                status,
            } => tracing::debug!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)), status,
                "parked ping answered"
            ),
            ServerEvent::PingTimedOut {
                raida_id,
                request_id,
                mailbox,
                status,
            } => tracing::debug!(
                raida_id, request_id, mailbox = %coin_text(Some(mailbox)), status,
                "parked ping timed out"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observers_accept_every_event() {
        let mailbox = MailboxId {
            denomination: 1,
            serial_number: 2,
        };
        let refusal = RecipientRefusal::FeeUnpaid {
            fee: 3,
            balance: None,
        };
        let events = [
            ServerEvent::RequestHandled {
                raida_id: 0,
                request_id: 1,
                command: Some(Command::Echo),
                command_group: 0,
                command_code: 0,
                key_coin: None,
                caller: Some(mailbox),
                outcome: RequestOutcome::Replied { status: 250 },
                received_unix_us: 0,
                execution_time_us: 0,
            },
            ServerEvent::RecipientRefused {
                raida_id: 0,
                request_id: 1,
                recipient_index: 0,
                mailbox,
                guid: Guid([0; 16]),
                refusal: &refusal,
            },
            ServerEvent::TellsDeleted {
                raida_id: 0,
                request_id: 1,
                mailbox,
                delete_when: DeleteWhen::AfterReply,
                tells: &[],
                fates: &[],
                report: DeleteReport::default(),
                error: Some("boom"),
            },
        ];
        for event in &events {
            NullObserver.observe(event);
            TracingObserver.observe(event);
        }
        assert_eq!(coin_text(None), "-");
        assert_eq!(coin_text(Some(mailbox)), "1:2");
    }
}
