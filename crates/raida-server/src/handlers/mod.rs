//! The commands, one module each, called by [`crate::handler`] with a decrypted, decoded body
//! whose challenge already checked out:
//!
//! | module | command | statuses it adds |
//! |---|---|---|
//! | [`echo`] | echo (group 0, code 0) | 250 |
//! | [`upload`] | upload (70) | 250, 169, 194, 198 |
//! | [`tell`] | tell (71) | 250, 18, 198 |
//! | [`inbox_read`] | ping (72) and peek (73) | 250 (tell list), park, 194 |
//! | [`download`] | download (74) | 250 (page), 202, 198, 194 |
//!
//! Every command but echo and download first authenticates the preamble here
//! ([`authenticate`]): denomination −8…+6 (40, before the lookup, DECISIONS.md), the coin held
//! by this RAIDA (8), its AN equal to the stored one (200). Download skips all three: the
//! overview page says upload, tell, ping and peek compare the preamble with "the stored coin
//! record identified by the preamble" while "download currently relies on wire decryption and
//! file/ACL checks", so its preamble identity is not looked up at all.
//!
//! The types the commands hand back to [`crate::handler`] live here ([`DeferredDelete`]
//! among them, which `handler` re-exports), so the dependency runs one way: `handler` uses
//! `handlers`, never the reverse.

pub mod download;
pub mod echo;
pub mod inbox_read;
pub mod tell;
pub mod upload;

use qmail_wire::body::RequestBody;
use qmail_wire::preamble::Preamble;
use qmail_wire::validate::validate_denomination;
use qmail_wire::Status;

use crate::env::Env;
use crate::store::inbox::InboxItem;
use crate::watch::{InboxSubscription, MailboxId};

/// Tells a ping/peek reply carried, to delete once the reply is written.
#[derive(Debug)]
pub struct DeferredDelete {
    pub(crate) request_id: u64,
    pub(crate) mailbox: MailboxId,
    pub(crate) items: Vec<InboxItem>,
}

impl DeferredDelete {
    /// The inbox.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// The tells, in reply order.
    pub fn items(&self) -> &[InboxItem] {
        &self.items
    }

    /// The poll request they answered.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }
}

/// A decoded body, or a body whose lengths are right but a field value is not (its status
/// is answered after the preamble checks).
#[derive(Debug)]
pub(crate) enum Decoded {
    /// The whole body (boxed: a tell body is large).
    Body(Box<RequestBody>),
    /// Only the preamble could be trusted; `status` (198) comes after authentication.
    FieldError {
        /// The preamble.
        preamble: Preamble,
        /// The field rule's status.
        status: Status,
    },
}

impl Decoded {
    /// The preamble, for the five QMail commands.
    pub(crate) fn preamble(&self) -> Option<&Preamble> {
        match self {
            Decoded::Body(body) => body.preamble(),
            Decoded::FieldError { preamble, .. } => Some(preamble),
        }
    }
}

/// What a command answers.
#[derive(Debug)]
pub(crate) enum CommandReply {
    /// A status-only reply.
    Status(Status),
    /// A 250 reply with this plaintext payload (a tell list or a download page).
    Payload {
        /// The payload, encrypted by the reply layer.
        payload: Vec<u8>,
        /// Tells to delete once the reply is written.
        deferred: Option<DeferredDelete>,
    },
}

/// A reply, or a ping to park.
#[derive(Debug)]
pub(crate) enum Dispatched {
    /// Answer now.
    Reply(CommandReply),
    /// Hold the connection until `mailbox` changes or the ping times out.
    Park {
        /// The inbox.
        mailbox: MailboxId,
        /// Subscribed before the scan that found the inbox empty.
        subscription: InboxSubscription,
    },
}

impl From<Status> for Dispatched {
    fn from(status: Status) -> Dispatched {
        Dispatched::Reply(CommandReply::Status(status))
    }
}

/// Runs the command of a decoded body. `body_plain` is the decrypted body (terminator
/// stripped) the body was decoded from.
pub(crate) async fn dispatch(
    env: &Env,
    request_id: u64,
    decoded: Decoded,
    body_plain: &[u8],
) -> Dispatched {
    let body = match decoded {
        Decoded::Body(body) => body,
        Decoded::FieldError { preamble, status } => {
            return authenticate(env, &preamble).err().unwrap_or(status).into();
        }
    };
    match *body {
        RequestBody::Echo(_) => echo::echo().into(),
        RequestBody::Upload(body) => upload::upload(env, request_id, &body).await.into(),
        RequestBody::Tell(body) => tell::tell(env, request_id, &body, body_plain).await.into(),
        RequestBody::Ping(body) => inbox_read::ping(env, request_id, &body).await,
        RequestBody::Peek(body) => inbox_read::peek(env, request_id, &body).await.into(),
        RequestBody::Download(body) => download::download(env, &body).await.into(),
    }
}

impl From<CommandReply> for Dispatched {
    fn from(reply: CommandReply) -> Dispatched {
        Dispatched::Reply(reply)
    }
}

/// The preamble checks of upload, tell, ping and peek, in the pages' order: denomination
/// range (40), coin held by this RAIDA (8), AN equal to the stored one (200).
pub(crate) fn authenticate(env: &Env, preamble: &Preamble) -> Result<(), Status> {
    validate_denomination(preamble.denomination)?;
    let stored = env
        .coins()
        .an(preamble.denomination, preamble.serial_number)
        .ok_or(Status::CoinNotFound)?;
    if *stored != preamble.an {
        return Err(Status::InvalidAn);
    }
    Ok(())
}

/// The mailbox a preamble names.
pub(crate) fn mailbox_of(preamble: &Preamble) -> MailboxId {
    MailboxId {
        denomination: preamble.denomination,
        serial_number: preamble.serial_number,
    }
}
