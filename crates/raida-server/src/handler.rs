//! One request in, one [`Outcome`] out: the header checks, decryption, challenge, body decode
//! and dispatch shared by every command, and the response header every reply carries.
//!
//! The TCP front reads the 32-byte header and the `body_size` bytes after it and calls
//! [`handle_request`]. Header checks run in the public RAIDA server's order (DECISIONS.md
//! "Interop with the public RAIDA server"), then the status tables of the pages, each
//! answering with its own status:
//!
//! | # | check | status |
//! |---|---|---|
//! | 1 | 32-byte header present | 16 |
//! | 2 | version 1, split 0, this RAIDA, shard 0–3, known group, known code, coin id `00 06` | 255, 2, 3, 4, 5, 6, 7 |
//! | 3 | encryption type 1; 0 only for echo (0 on another command: 34); any other type | 34, 27 |
//! | 4 | type 1: key denomination (header 17) in −8…+6 and key coin (17–21) held by this RAIDA; type 0: bytes 17–21 are ignored | 34 |
//! | 5 | per-coin rate limit (setting `rate_limit`, off by default; type 1 only) | connection closed, no reply |
//! | 6 | bytes after the header = `body_size` | 16 |
//! | 7 | body ends in `3E 3E` (and is at least 2 bytes) | 33 (16) |
//! | 8 | decrypt (type 1); at least the 16-byte challenge; challenge CRC (a wrong AN fails here) | 16, 37 |
//! | 9 | command body lengths (echo 16, upload 86 + data_length, tell formula, ping ≥ 48, peek 52, download 85) | 16 |
//! | 10 | preamble: denomination (40, before the lookup), coin held (8), AN (200); not for download | 40, 8, 200 |
//! | 11 | the command's own rules | see `handlers` |
//!
//! Length always wins over fields (DECISIONS.md "Length before fields"): a body whose lengths
//! are right but whose field values are not (an upload's unknown `storage_duration`) gets its
//! 198 only after the preamble checks, where the command's own rules sit.
//!
//! Every reply is a [`ResponseHeader`]: this RAIDA, status, the request's command group, echo
//! of request bytes 30–31 (on every reply, header errors included; the public server may send
//! `00 00` there, which is why clients judge the status byte first), body size, execution time
//! (server clock, µs) and the signature. Before the challenge is read there is nothing to sign
//! and the signature is zero; after it, the request's [`ReplyProtection`] signs: challenge XOR
//! key AN for type 1, the challenge as it is for a type-0 echo. Status-only replies have body
//! size 0 and no terminator; a payload is encrypted with the request's key and nonce, its
//! counter starting per the setting `response_counter` (`restart` by default, or `continue`),
//! or sent in plaintext in reply to a type-0 request.
//!
//! A ping that finds no tells becomes [`Outcome::Park`]: the front holds the connection and
//! runs [`wait_parked`] (or the same loop itself: wait on [`ParkedPing::changed`] until the
//! deadline, call [`resume_ping`] after each wake, [`ping_timeout_reply`] at the deadline).
//! The [`ParkedPing`] already holds an inbox subscription taken *before* the handler's scan,
//! so a tell renamed in between wakes it at once.
//!
//! [`DeferredDelete`] is defined beside the commands in [`crate::handlers`] and re-exported
//! here: this module depends on `handlers`, never the other way round.

use std::time::Duration;

use qmail_wire::codec::Codec;
use qmail_wire::crypto::{Challenge, Key, ResponseCounter};
use qmail_wire::header::{Command, EncryptionType, RequestHeader, ResponseHeader};
use qmail_wire::limits::{CHALLENGE_SIZE_BYTES, HEADER_SIZE_BYTES, PREAMBLE_SIZE_BYTES};
use qmail_wire::packet::{encode_protected_response, ReplyProtection, RequestPacket, ResponseMeta};
use qmail_wire::preamble::Preamble;
use qmail_wire::validate::{validate_challenge, validate_denomination, validate_request_header};
use qmail_wire::{body::RequestBody, Status};

use crate::env::Env;
pub use crate::handlers::DeferredDelete;
use crate::handlers::{self, CommandReply, Decoded, Dispatched};
use crate::observer::{CoinId, RequestOutcome, ServerEvent};
use crate::settings::ResponseCounterSetting;
use crate::watch::{InboxSubscription, MailboxId};

/// What the front does with a request.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes; then, if `deferred` is set, call [`after_reply_written`].
    Reply(Reply),
    /// A ping found no tells: hold the connection (see [`wait_parked`]).
    Park(ParkedPing),
    /// The rate limiter dropped the request: close the connection without any reply.
    Close,
}

/// A reply to write, and what to do once it is written.
#[derive(Debug)]
pub struct Reply {
    /// The response: header, and encrypted payload plus terminator when there is one.
    pub bytes: Vec<u8>,
    /// Tells to delete after the reply is written (`delete_on_read = after_reply`).
    pub deferred: Option<DeferredDelete>,
}

/// A ping waiting for a tell. Holds what its eventual reply needs (key, nonce, signature,
/// echo bytes, start time) and an inbox subscription taken before the handler's last scan.
#[derive(Debug)]
pub struct ParkedPing {
    /// The inbox waited on.
    pub mailbox: MailboxId,
    /// How long to wait (`ping_timeout_s`); the front sleeps this long.
    pub timeout: Duration,
    /// The same deadline on the server clock, Unix µs.
    pub deadline_unix_us: u64,
    context: ReplyContext,
    subscription: InboxSubscription,
}

impl ParkedPing {
    /// The ping request's id (as in the observer's events).
    pub fn request_id(&self) -> u64 {
        self.context.request_id
    }

    /// Whether a tell was notified for the mailbox since the last [`ParkedPing::changed`].
    pub fn has_changed(&self) -> bool {
        self.subscription.has_changed()
    }

    /// Waits until the mailbox is notified (including a notify that came after the handler
    /// subscribed and before this call). Then call [`resume_ping`].
    pub async fn changed(&mut self) {
        self.subscription.changed().await;
    }
}

/// Handles one request: `request` is the 32-byte header and the body exactly as read.
/// Never panics on any input.
pub async fn handle_request(env: &Env, request: &[u8]) -> Outcome {
    let mut trace = RequestTrace::new(env, request);
    let (outcome, observed) = process(env, request, &mut trace).await;
    trace.observe(env, observed);
    outcome
}

/// After a wake-up: rescans the parked ping's inbox. `Some(reply)` when tells are there now
/// (or the rescan failed: 194); `None` to keep waiting.
pub async fn resume_ping(env: &Env, parked: &ParkedPing) -> Option<Reply> {
    let request_id = parked.context.request_id;
    let command_reply =
        handlers::inbox_read::rescan_for_ping(env, request_id, parked.mailbox).await?;
    let reply = parked.context.reply(env, command_reply);
    env.observer().observe(&ServerEvent::PingResumed {
        raida_id: env.raida_id(),
        request_id,
        mailbox: parked.mailbox,
        status: reply_status(&reply.bytes),
    });
    Some(reply)
}

/// The status-only reply of a parked ping whose deadline passed: status
/// `ping_timeout_status` (17 by default), body size 0, signed.
pub fn ping_timeout_reply(env: &Env, parked: &ParkedPing) -> Reply {
    let status = env.settings().ping_timeout_status;
    probe::hit(&crate::probes::PING_TIMEOUT);
    env.observer().observe(&ServerEvent::PingTimedOut {
        raida_id: env.raida_id(),
        request_id: parked.context.request_id,
        mailbox: parked.mailbox,
        status,
    });
    Reply {
        bytes: parked.context.status_only(env, status),
        deferred: None,
    }
}

/// Runs the deletion a reply deferred (`delete_on_read = after_reply`); call it once the
/// reply is written.
pub async fn after_reply_written(env: &Env, deferred: DeferredDelete) {
    env.extensions()
        .after_reply_written(env.raida_id(), deferred.mailbox, &deferred.items);
    if let Err(error) = env.persist_extensions().await {
        // The reply is out; the state is written with the next change.
        tracing::warn!(request_id = deferred.request_id, %error,
            "extension state could not be written after a reply");
    }
    handlers::inbox_read::delete_tells(
        env,
        deferred.request_id,
        deferred.mailbox,
        &deferred.items,
        crate::observer::DeleteWhen::AfterReply,
    )
    .await;
}

/// The whole long poll of a parked ping, for a front that has nothing else to do meanwhile:
/// wait for a wake or `parked.timeout` (tokio time), rescan after each wake, and return the
/// tell-list reply or the timeout reply.
pub async fn wait_parked(env: &Env, parked: &mut ParkedPing) -> Reply {
    let deadline = tokio::time::Instant::now() + parked.timeout;
    loop {
        if tokio::time::timeout_at(deadline, parked.changed())
            .await
            .is_err()
        {
            return ping_timeout_reply(env, parked);
        }
        if let Some(reply) = resume_ping(env, parked).await {
            return reply;
        }
    }
}

/// The status byte of an encoded reply (for events); 0 if it is too short to have one.
fn reply_status(bytes: &[u8]) -> u8 {
    bytes.get(2).copied().unwrap_or(0)
}

/// What every reply to one request needs.
#[derive(Clone, Debug)]
pub(crate) struct ReplyContext {
    raida_id: u8,
    request_id: u64,
    command_group: u8,
    echo: [u8; 2],
    received_unix_us: u64,
    signature: [u8; 16],
    protection: Option<ReplyProtection>,
}

impl ReplyContext {
    fn execution_time_us(&self, env: &Env) -> u32 {
        let elapsed_us = env
            .clock()
            .now_unix_us()
            .saturating_sub(self.received_unix_us);
        u32::try_from(elapsed_us).unwrap_or(u32::MAX)
    }

    /// A status-only reply (body size 0, no terminator).
    fn status_only(&self, env: &Env, status: u8) -> Vec<u8> {
        crate::probes::status_sent(status);
        let header = ResponseHeader {
            raida_id: self.raida_id,
            shard_id: 0,
            status,
            command_group: self.command_group,
            frame_count: qmail_wire::header::FRAME_COUNT_DEFAULT,
            echo: self.echo,
            reserved: 0,
            body_size_bytes: 0,
            execution_time_us: self.execution_time_us(env),
            signature: self.signature,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), HEADER_SIZE_BYTES);
        bytes
    }

    /// A 250 reply with `payload` protected as the request was: encrypted under its key and
    /// nonce (type 1) or plaintext (type 0).
    fn with_payload(&self, env: &Env, payload: &[u8]) -> Vec<u8> {
        crate::probes::status_sent(Status::Success.code());
        // Only requests whose challenge was read reach a command that answers with a payload.
        let protection = self
            .protection
            .as_ref()
            .expect("a payload reply needs the request's protection");
        let meta = ResponseMeta {
            raida_id: self.raida_id,
            status: Status::Success,
            command_group: self.command_group,
            echo: self.echo,
            execution_time_us: self.execution_time_us(env),
            signature: self.signature,
        };
        encode_protected_response(&meta, Some((protection, payload)))
    }

    fn reply(&self, env: &Env, command_reply: CommandReply) -> Reply {
        match command_reply {
            CommandReply::Status(status) => Reply {
                bytes: self.status_only(env, status.code()),
                deferred: None,
            },
            CommandReply::Payload { payload, deferred } => Reply {
                bytes: self.with_payload(env, &payload),
                deferred,
            },
        }
    }
}

/// What the `RequestHandled` event reports, gathered as the request is processed.
#[derive(Debug)]
struct RequestTrace {
    request_id: u64,
    received_unix_us: u64,
    command: Option<Command>,
    command_group: u8,
    command_code: u8,
    key_coin: Option<CoinId>,
    caller: Option<CoinId>,
}

impl RequestTrace {
    fn new(env: &Env, request: &[u8]) -> RequestTrace {
        RequestTrace {
            request_id: env.next_request_id(),
            received_unix_us: env.clock().now_unix_us(),
            command: None,
            command_group: request.get(4).copied().unwrap_or(0),
            command_code: request.get(5).copied().unwrap_or(0),
            key_coin: None,
            caller: None,
        }
    }

    /// The context of a reply before the challenge is read: zero signature, no protection.
    fn unsigned_context(&self, env: &Env, echo: [u8; 2]) -> ReplyContext {
        ReplyContext {
            raida_id: env.raida_id(),
            request_id: self.request_id,
            command_group: self.command_group,
            echo,
            received_unix_us: self.received_unix_us,
            signature: [0; 16],
            protection: None,
        }
    }

    fn observe(&self, env: &Env, observed: Observed) {
        env.observer().observe(&ServerEvent::RequestHandled {
            raida_id: env.raida_id(),
            request_id: self.request_id,
            command: self.command,
            command_group: self.command_group,
            command_code: self.command_code,
            key_coin: self.key_coin,
            caller: self.caller,
            outcome: observed.outcome,
            received_unix_us: self.received_unix_us,
            execution_time_us: observed.execution_time_us,
        });
    }
}

/// The outcome as the `RequestHandled` event reports it.
#[derive(Clone, Copy, Debug)]
struct Observed {
    outcome: RequestOutcome,
    execution_time_us: u32,
}

fn replied(reply: Reply) -> (Outcome, Observed) {
    let observed = Observed {
        outcome: RequestOutcome::Replied {
            status: reply_status(&reply.bytes),
        },
        execution_time_us: reply
            .bytes
            .get(12..16)
            .and_then(|bytes| bytes.try_into().ok())
            .map_or(0, u32::from_be_bytes),
    };
    (Outcome::Reply(reply), observed)
}

fn status_reply(env: &Env, context: &ReplyContext, status: Status) -> (Outcome, Observed) {
    replied(context.reply(env, CommandReply::Status(status)))
}

/// Everything up to a decrypted, decoded body; then the command.
async fn process(env: &Env, request: &[u8], trace: &mut RequestTrace) -> (Outcome, Observed) {
    let header_bytes = request.get(..HEADER_SIZE_BYTES);
    let Some(header) = header_bytes.and_then(|bytes| RequestHeader::from_bytes(bytes).ok()) else {
        let echo = [0, 0];
        let context = trace.unsigned_context(env, echo);
        return status_reply(env, &context, Status::InvalidPacketLength);
    };
    trace.key_coin = Some(CoinId {
        denomination: header.key_denomination,
        serial_number: header.key_serial_number,
    });
    let unsigned = trace.unsigned_context(env, header.echo_bytes());
    let accepted = match validate_request_header(&header, env.raida_id()) {
        Ok(accepted) => accepted,
        Err(status) => return status_reply(env, &unsigned, status),
    };
    trace.command = Some(accepted.command);
    let key = match accepted.encryption {
        // A plaintext echo: bytes 17–21 key nothing and are not looked at.
        EncryptionType::None => {
            trace.key_coin = None;
            None
        }
        EncryptionType::Aes128Ctr => match key_an(env, &header) {
            Ok(key) => Some(key),
            Err(status) => return status_reply(env, &unsigned, status),
        },
    };
    if key.is_some() {
        let coin = (header.key_denomination, header.key_serial_number);
        if !env.rate_limiter().admit(coin, trace.received_unix_us) {
            let observed = Observed {
                outcome: RequestOutcome::Closed,
                execution_time_us: unsigned.execution_time_us(env),
            };
            return (Outcome::Close, observed);
        }
    }
    // `body_plain` and the protection ignore the key of a plaintext echo.
    let key: Key = key.unwrap_or([0; 16]);
    let body = request.get(HEADER_SIZE_BYTES..).unwrap_or(&[]);
    let packet = match RequestPacket::from_parts(header, body) {
        Ok(packet) => packet,
        Err(error) => return status_reply(env, &unsigned, error.status()),
    };
    let plain = match packet.body_plain(accepted.encryption, &key) {
        Ok(plain) => plain,
        Err(error) => return status_reply(env, &unsigned, error.status()),
    };
    let Some(challenge) = plain
        .get(..CHALLENGE_SIZE_BYTES)
        .and_then(|bytes| <[u8; CHALLENGE_SIZE_BYTES]>::try_from(bytes).ok())
        .map(Challenge)
    else {
        return status_reply(env, &unsigned, Status::InvalidPacketLength);
    };
    let protection = ReplyProtection::for_request(
        accepted.encryption,
        &key,
        &header.nonce,
        response_counter(env),
        plain.len(),
    );
    let context = ReplyContext {
        signature: protection.signature(&challenge),
        protection: Some(protection),
        ..unsigned
    };
    if let Err(status) = validate_challenge(&challenge) {
        return status_reply(env, &context, status);
    }
    let decoded = match decode(accepted.command, &plain) {
        Ok(decoded) => decoded,
        Err(status) => return status_reply(env, &context, status),
    };
    trace.caller = decoded.preamble().map(|preamble| CoinId {
        denomination: preamble.denomination,
        serial_number: preamble.serial_number,
    });
    let dispatched = handlers::dispatch(env, trace.request_id, decoded, &plain).await;
    finish(env, &context, dispatched)
}

/// The AN keying a type-1 request: the coin of header bytes 17–21, whose denomination must
/// lie in −8…+6 and which this RAIDA must hold (else 34 `ERROR_INVALID_ENCRYPTION`).
fn key_an(env: &Env, header: &RequestHeader) -> Result<Key, Status> {
    validate_denomination(header.key_denomination).map_err(|_| Status::InvalidEncryption)?;
    env.coins()
        .an(header.key_denomination, header.key_serial_number)
        .copied()
        .ok_or(Status::InvalidEncryption)
}

/// The `response_counter` setting as the wire layer names it.
fn response_counter(env: &Env) -> ResponseCounter {
    match env.settings().response_counter {
        ResponseCounterSetting::Restart => ResponseCounter::Restart,
        ResponseCounterSetting::Continue => ResponseCounter::Continue,
    }
}

/// Decodes the body: length problems (16, 33) at once; a field value outside its domain
/// (198) is held until after the preamble checks.
fn decode(command: Command, plain: &[u8]) -> Result<Decoded, Status> {
    let error = match RequestBody::decode(command, plain) {
        Ok(body) => return Ok(Decoded::Body(Box::new(body))),
        Err(error) => error,
    };
    let status = error.status();
    if status != Status::InvalidParameter {
        return Err(status);
    }
    let preamble = plain
        .get(..PREAMBLE_SIZE_BYTES)
        .and_then(|bytes| Preamble::from_bytes(bytes).ok());
    match preamble {
        Some(preamble) => Ok(Decoded::FieldError { preamble, status }),
        None => Err(status),
    }
}

fn finish(env: &Env, context: &ReplyContext, dispatched: Dispatched) -> (Outcome, Observed) {
    let (mailbox, subscription) = match dispatched {
        Dispatched::Reply(command_reply) => return replied(context.reply(env, command_reply)),
        Dispatched::Park {
            mailbox,
            subscription,
        } => (mailbox, subscription),
    };
    let timeout_s = env.settings().ping_timeout_s;
    let deadline_unix_us = context
        .received_unix_us
        .saturating_add(timeout_s.saturating_mul(crate::clock::US_PER_S));
    env.observer().observe(&ServerEvent::PingParked {
        raida_id: env.raida_id(),
        request_id: context.request_id,
        mailbox,
        deadline_unix_us,
    });
    let parked = ParkedPing {
        mailbox,
        timeout: Duration::from_secs(timeout_s),
        deadline_unix_us,
        context: context.clone(),
        subscription,
    };
    let observed = Observed {
        outcome: RequestOutcome::Parked,
        execution_time_us: context.execution_time_us(env),
    };
    (Outcome::Park(parked), observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::body::{StorageDuration, UploadBody};

    fn upload_bytes() -> Vec<u8> {
        UploadBody {
            preamble: Preamble::new(Challenge::from_random([1; 12]), 1, 2, [3; 16]),
            guid: [4; 16],
            locker_code: [5; 16],
            file_type: 1,
            storage_duration: StorageDuration::Day,
            data: vec![6; 10],
        }
        .to_bytes()
    }

    #[test]
    fn field_errors_wait_for_the_preamble_checks_and_lengths_do_not() {
        let good = upload_bytes();
        assert!(matches!(
            decode(Command::Upload, &good),
            Ok(Decoded::Body(_))
        ));
        let mut bad_duration = good.clone();
        bad_duration[81] = 6;
        match decode(Command::Upload, &bad_duration) {
            Ok(Decoded::FieldError { preamble, status }) => {
                assert_eq!(status, Status::InvalidParameter);
                assert_eq!((preamble.denomination, preamble.serial_number), (1, 2));
            }
            other => panic!("expected a held field error, got {other:?}"),
        }
        let mut both = bad_duration;
        both.push(0);
        assert_eq!(
            decode(Command::Upload, &both).err(),
            Some(Status::InvalidPacketLength)
        );
        assert_eq!(
            decode(Command::Peek, &good[..40]).err(),
            Some(Status::InvalidPacketLength)
        );
    }

    #[test]
    fn reply_status_reads_byte_two() {
        assert_eq!(reply_status(&[7, 0, 250]), 250);
        assert_eq!(reply_status(&[7]), 0);
    }
}
