//! Ping (72, page 004) and peek (73, page 003): read a mailbox's inbox into a tell list.
//!
//! Both authenticate the preamble (40, 8, 200) — the preamble names the mailbox — and scan
//! `{mailbox_root}/{denom}/{sn}/inbox/`, ignoring dotfiles (`.tmp.*` orphans) and any name
//! that is not a published tell. Peek returns the tells whose mtime, mapped through the server
//! clock, is greater than `since_timestamp`; ping ignores its optional timestamp and returns
//! them all. Oldest first, at most `max_tells_per_reply` (≤ 255) records and
//! `max_reply_bytes` of payload; what does not fit stays for the next poll.
//!
//! The payload is the 8-byte array header (tell_count, then 7 zero bytes: total_tells is
//! zero-filled, as the pages say) and each `.tell` file's bytes verbatim. An empty peek is
//! 250 with 8 zero bytes (body size 10). An empty ping makes sure the inbox exists (194 if it
//! cannot be created) and parks; the handler subscribed to the inbox watch before scanning.
//! A scan that fails for any reason but a missing inbox is 194.
//!
//! Delete-on-read (DECISIONS.md `delete_on_read`): `before_reply` removes the returned files
//! here, before the reply exists (a reply lost on the wire loses them); `after_reply` hands a
//! [`DeferredDelete`] to the front, which runs it once the reply is written (a crash in
//! between delivers them twice).
//!
//! One device at a time: every poll holds its inbox's poll lock
//! ([`crate::store::inbox::InboxStore::lock_polls`]) from before its scan until its deletions
//! are done, so of two devices polling one mailbox at once only the first receives a given
//! tell (pages 003 and 004, "only the first device receives a given tell"). With
//! `after_reply` the deletion runs after the reply is written, outside the lock: a poll
//! arriving while a reply is still being written reads the same tells again, the same trade
//! as a crash in between.
//!
//! Active protocol extensions (`env.extensions()`, none by default) see each poll first
//! (`resend` may answer it with held records, leaving the inbox alone) and every record a
//! reply carries (`on_read`). Either way a file is removed only if it still holds the bytes
//! returned, so a newer edit published meanwhile stays for the next poll. What the hooks
//! changed is made durable ([`Env::persist_extensions`]) before the reply is built and before
//! any tell is deleted; when that write fails the poll answers 194 and deletes nothing.
//!
//! Storage faults: 194 (ERROR_FILESYSTEM) when the inbox cannot be listed or created, or the
//! extension state cannot be written (peek page 003 and ping page 004 "Status codes"). A
//! `.tell` that cannot be read is skipped and stays for a later poll; a delete that fails
//! leaves the rest in the inbox (delivered again later, never lost).

use qmail_wire::body::{PeekBody, PingBody};
use qmail_wire::header::Command;
use qmail_wire::limits::{TELLS_PER_REPLY_MAX, TELL_ARRAY_HEADER_SIZE_BYTES};
use qmail_wire::Status;

use super::{authenticate, mailbox_of, CommandReply, DeferredDelete, Dispatched};
use crate::env::Env;
use crate::extension::PollContext;
use crate::observer::{DeleteWhen, ServerEvent};
use crate::probes;
use crate::settings::DeleteOnRead;
use crate::store::inbox::{DeleteFate, InboxItem, ScanBudget};
use crate::watch::MailboxId;

/// Handles a peek body.
pub(crate) async fn peek(env: &Env, request_id: u64, body: &PeekBody) -> CommandReply {
    if let Err(status) = authenticate(env, &body.preamble) {
        return CommandReply::Status(status);
    }
    let mailbox = mailbox_of(&body.preamble);
    // Held until the tells this peek reads are deleted (module docs).
    let _polling = env.inbox().lock_polls(mailbox).await;
    let poll = poll_context(env, mailbox, Some(body.preamble.reserved_byte_31));
    let resent = env.extensions().resend(&poll);
    if let Err(status) = persist_extensions(env, request_id).await {
        return CommandReply::Status(status);
    }
    if let Some(items) = resent {
        return resend_reply(env, request_id, &poll, items).await;
    }
    let since_s = u64::from(body.since_timestamp_s);
    match scan(env, mailbox, Some(since_s)).await {
        Ok(items) => {
            let command = (Command::Peek, poll.preamble_byte_31);
            reply_with_tells(env, request_id, command, mailbox, items).await
        }
        Err(status) => CommandReply::Status(status),
    }
}

/// Handles a ping body: the tells, or a park.
pub(crate) async fn ping(env: &Env, request_id: u64, body: &PingBody) -> Dispatched {
    if let Err(status) = authenticate(env, &body.preamble) {
        return status.into();
    }
    let mailbox = mailbox_of(&body.preamble);
    // Held until the tells this ping reads are deleted, or it parks (module docs).
    let _polling = env.inbox().lock_polls(mailbox).await;
    let poll = poll_context(env, mailbox, Some(body.preamble.reserved_byte_31));
    let resent = env.extensions().resend(&poll);
    if let Err(status) = persist_extensions(env, request_id).await {
        return status.into();
    }
    if let Some(items) = resent {
        return resend_reply(env, request_id, &poll, items).await.into();
    }
    // Subscribe before the scan: a tell renamed in after the scan still wakes this ping.
    let subscription = env.watch().subscribe(mailbox);
    let items = match scan(env, mailbox, None).await {
        Ok(items) => items,
        Err(status) => return status.into(),
    };
    if !items.is_empty() {
        let command = (Command::Ping, poll.preamble_byte_31);
        return reply_with_tells(env, request_id, command, mailbox, items)
            .await
            .into();
    }
    if let Err(error) = env.inbox().ensure_inbox(mailbox).await {
        tracing::warn!(request_id, ?mailbox, %error, "ping could not create the inbox");
        return Status::Filesystem.into();
    }
    probe::hit(&probes::PING_PARKED);
    Dispatched::Park {
        mailbox,
        subscription,
    }
}

/// The rescan of a parked ping: `None` while the inbox is still empty.
pub(crate) async fn rescan_for_ping(
    env: &Env,
    request_id: u64,
    mailbox: MailboxId,
) -> Option<CommandReply> {
    let _polling = env.inbox().lock_polls(mailbox).await;
    match scan(env, mailbox, None).await {
        Ok(items) if items.is_empty() => {
            probe::hit(&probes::PING_WOKEN_EMPTY);
            None
        }
        Ok(items) => {
            probe::hit(&probes::PING_WOKEN_BY_TELL);
            let command = (Command::Ping, None);
            Some(reply_with_tells(env, request_id, command, mailbox, items).await)
        }
        Err(status) => Some(CommandReply::Status(status)),
    }
}

/// The extension view of one poll.
fn poll_context(env: &Env, mailbox: MailboxId, preamble_byte_31: Option<u8>) -> PollContext {
    PollContext {
        raida_id: env.raida_id(),
        mailbox,
        preamble_byte_31,
    }
}

/// A reply carrying records an extension sends again; the inbox is not touched.
async fn resend_reply(
    env: &Env,
    request_id: u64,
    poll: &PollContext,
    items: Vec<InboxItem>,
) -> CommandReply {
    assert!(items.len() <= TELLS_PER_REPLY_MAX);
    probe::hit(&probes::POLL_EXTENSION_RESENT);
    let payload = tell_list_payload(&items);
    assert!(payload.len() <= env.settings().max_reply_bytes);
    env.extensions().on_read(poll, &items);
    if let Err(status) = persist_extensions(env, request_id).await {
        return CommandReply::Status(status);
    }
    CommandReply::Payload {
        payload,
        deferred: None,
    }
}

/// Makes what the extension hooks changed durable; 194 when it cannot be written.
async fn persist_extensions(env: &Env, request_id: u64) -> Result<(), Status> {
    env.persist_extensions().await.map_err(|error| {
        tracing::warn!(request_id, %error, "extension state could not be written: 194");
        Status::Filesystem
    })
}

/// The inbox's tells that fit one reply; 194 when the inbox cannot be listed.
async fn scan(
    env: &Env,
    mailbox: MailboxId,
    since_s: Option<u64>,
) -> Result<Vec<InboxItem>, Status> {
    let budget = ScanBudget::from_settings(env.settings());
    let items = env
        .inbox()
        .scan(mailbox, since_s, budget)
        .await
        .map_err(|error| {
            tracing::warn!(?mailbox, %error, "inbox scan failed");
            Status::Filesystem
        })?;
    assert!(items.len() <= TELLS_PER_REPLY_MAX);
    Ok(items)
}

/// The tell-list payload: array header then every record verbatim.
pub(crate) fn tell_list_payload(items: &[InboxItem]) -> Vec<u8> {
    let tell_count = u8::try_from(items.len()).expect("a reply lists at most 255 tells");
    let records_size_bytes: usize = items.iter().map(|item| item.bytes.len()).sum();
    let mut payload = Vec::with_capacity(TELL_ARRAY_HEADER_SIZE_BYTES + records_size_bytes);
    payload.push(tell_count);
    payload.extend_from_slice(&[0; TELL_ARRAY_HEADER_SIZE_BYTES - 1]);
    for item in items {
        payload.extend_from_slice(&item.bytes);
    }
    assert_eq!(
        payload.len(),
        TELL_ARRAY_HEADER_SIZE_BYTES + records_size_bytes
    );
    payload
}

async fn reply_with_tells(
    env: &Env,
    request_id: u64,
    (command, preamble_byte_31): (Command, Option<u8>),
    mailbox: MailboxId,
    items: Vec<InboxItem>,
) -> CommandReply {
    let payload = tell_list_payload(&items);
    assert!(payload.len() <= env.settings().max_reply_bytes);
    if items.is_empty() {
        return CommandReply::Payload {
            payload,
            deferred: None,
        };
    }
    let delete_when = match env.settings().delete_on_read {
        DeleteOnRead::BeforeReply => DeleteWhen::BeforeReply,
        DeleteOnRead::AfterReply => DeleteWhen::AfterReply,
    };
    // A parked ping's rescan passes no byte: its ping was seen by `resend`.
    let poll = poll_context(env, mailbox, preamble_byte_31);
    env.extensions().on_read(&poll, &items);
    if let Err(status) = persist_extensions(env, request_id).await {
        return CommandReply::Status(status);
    }
    env.observer().observe(&ServerEvent::TellsRead {
        raida_id: env.raida_id(),
        request_id,
        command,
        mailbox,
        tells: &items,
        delete_when,
    });
    let deferred = match delete_when {
        DeleteWhen::BeforeReply => {
            delete_tells(env, request_id, mailbox, &items, delete_when).await;
            None
        }
        DeleteWhen::AfterReply => Some(DeferredDelete {
            request_id,
            mailbox,
            items,
        }),
    };
    CommandReply::Payload { payload, deferred }
}

/// Deletes the tells a reply carried (each only if unchanged) and reports what happened.
/// A file the disk fails on stays in the inbox for the next poll (it may then be delivered
/// twice); the others are still deleted; it never changes the reply.
pub(crate) async fn delete_tells(
    env: &Env,
    request_id: u64,
    mailbox: MailboxId,
    items: &[InboxItem],
    delete_when: DeleteWhen,
) {
    let outcome = env.inbox().delete_itemized(mailbox, items).await;
    let (report, fates, error) = match outcome {
        Ok((report, fates)) => {
            for fate in &fates {
                match fate {
                    DeleteFate::Removed => {}
                    DeleteFate::AlreadyGone => probe::hit(&probes::DELETE_ALREADY_GONE),
                    DeleteFate::Replaced => probe::hit(&probes::DELETE_REPLACED_KEPT),
                    DeleteFate::Unreadable => probe::hit(&probes::DELETE_UNREADABLE_KEPT),
                    DeleteFate::Failed => probe::hit(&probes::DELETE_FAILED_KEPT),
                }
            }
            (report, fates, None)
        }
        Err(error) => {
            tracing::warn!(request_id, ?mailbox, %error, "deleting read tells failed");
            (Default::default(), Vec::new(), Some(error.to_string()))
        }
    };
    env.observer().observe(&ServerEvent::TellsDeleted {
        raida_id: env.raida_id(),
        request_id,
        mailbox,
        delete_when,
        tells: items,
        fates: &fates,
        report,
        error: error.as_deref(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Guid;
    use std::path::PathBuf;

    fn item(bytes: Vec<u8>) -> InboxItem {
        InboxItem {
            file_name: "f".to_string(),
            path: PathBuf::from("/f"),
            guid: Guid([0; 16]),
            mtime_unix_us: 0,
            mtime_unix_s: 0,
            bytes,
        }
    }

    #[test]
    fn payload_is_header_then_records_verbatim() {
        assert_eq!(tell_list_payload(&[]), vec![0; 8]);
        let payload = tell_list_payload(&[item(vec![1; 64]), item(vec![2; 96])]);
        assert_eq!(payload.len(), 8 + 64 + 96);
        assert_eq!(&payload[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&payload[8..72], &[1; 64][..]);
        assert_eq!(&payload[72..], &[2; 96][..]);
    }
}
