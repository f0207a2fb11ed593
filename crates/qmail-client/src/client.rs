//! The [`Client`]: identity, directory, settings and the injected clock, RNG, connector and
//! observer, plus the request core every command goes through.
//!
//! # One request
//!
//! `Client::request` builds a fresh challenge (12 random bytes + CRC-32) and nonce from the
//! seeded RNG, lets the command build its body around that challenge, encrypts it under this
//! mailbox's AN on the target RAIDA (AES-128-CTR, counter from block 0; an echo may go as
//! plaintext, encryption type 0), and runs one `transport::round_trip`. The reply is judged by
//! [`judge_reply`], status byte first (DECISIONS.md "Interop with the public RAIDA server"):
//!
//! - Any status but 250 is the answer as it stands: the command decides what it means (a
//!   ping's 17 and 245 are "poll again"; elsewhere it becomes [`ClientError::Status`], named,
//!   with the RAIDA's index and address). Nothing else of such a reply is checked: a real
//!   RAIDA's header-error replies carry echo bytes `00 00` and a zero signature.
//! - A 250 must name the target RAIDA and the command's group, echo request bytes 30–31 and
//!   carry the signature of the request's [`ReplyProtection`]: challenge XOR AN for type 1,
//!   the challenge as it is for a type-0 echo. Its payload is decrypted from the block that
//!   `response_counter` names, or taken as it is in reply to a type-0 request.
//!
//! # Retries
//!
//! A command passes how many retries it allows: [`Config::retries_max`] for the idempotent
//! upload, download, peek and echo, 0 for ping (the caller polls again) and tell (see
//! [`Config::tell_retries_max`], handled by the send layer). A retry follows an I/O failure,
//! a timeout, or a transient status (194, 254), after a doubling backoff, on a fresh
//! connection with a fresh challenge and nonce. A bad reply (wrong signature, payload that
//! does not decode) is not retried: the network does not corrupt, so it would recur.
//!
//! # Determinism
//!
//! Nothing here reads the OS clock or RNG or starts a thread. The RNG sits behind a `std`
//! mutex taken only for the few statements that draw from it, never across an `.await`.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qmail_wire::body::EchoBody;
use qmail_wire::crypto::Challenge;
use qmail_wire::header::{Command, EncryptionType, RequestHeader, ResponseHeader};
use qmail_wire::limits::{CHALLENGE_RANDOM_SIZE_BYTES, HEADER_SIZE_BYTES};
use qmail_wire::packet::{encode_request, open_response_body, ReplyProtection, RequestMeta};
use qmail_wire::preamble::Preamble;
use qmail_wire::{Codec, Reader, Status};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::clock::Clock;
use crate::config::Config;
use crate::directory::Directory;
use crate::error::{ClientError, RaidaRef, ReplyFault};
use crate::extension::ClientExtensions;
use crate::identity::{Guid, Identity};
use crate::observer::{ClientObserver, NoopObserver};
use crate::transport::{round_trip, Connector, Timeouts};

/// Everything [`Client::new`] needs.
pub struct ClientParts<C: Connector> {
    /// Who this client is.
    pub identity: Identity,
    /// Where the RAIDAs are and which is each mailbox's beacon.
    pub directory: Arc<Directory>,
    /// Settings.
    pub config: Config,
    /// Opens connections.
    pub connector: C,
    /// Stamps tells.
    pub clock: Arc<dyn Clock>,
    /// Draws nonces, challenges and GUIDs.
    pub rng: ChaCha8Rng,
    /// Watches.
    pub observer: Arc<dyn ClientObserver>,
}

impl<C: Connector> fmt::Debug for ClientParts<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientParts")
            .field("identity", &self.identity)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> ClientParts<C> {
    /// Parts with the default config and no observer.
    pub fn new(
        identity: Identity,
        directory: Arc<Directory>,
        connector: C,
        clock: Arc<dyn Clock>,
        rng: ChaCha8Rng,
    ) -> Self {
        Self {
            identity,
            directory,
            config: Config::default(),
            connector,
            clock,
            rng,
            observer: Arc::new(NoopObserver),
        }
    }
}

/// A QMail client for one mailbox. Cheap to share behind an `Arc`; every method takes
/// `&self`, and the futures it returns are `Send`.
pub struct Client<C: Connector> {
    identity: Identity,
    directory: Arc<Directory>,
    config: Config,
    connector: C,
    clock: Arc<dyn Clock>,
    rng: Mutex<ChaCha8Rng>,
    observer: Arc<dyn ClientObserver>,
    extensions: ClientExtensions,
}

impl<C: Connector> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("mailbox", &self.identity.mailbox)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A reply that answers its request: its status and, for a success with a payload, the
/// decrypted payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status_code: u8,
    pub payload: Option<Vec<u8>>,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

impl Reply {
    /// Whether the status is 250.
    pub fn is_success(&self) -> bool {
        self.status_code == Status::Success.code()
    }
}

/// A request as it went out: everything its reply is judged against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentRequest {
    /// The RAIDA it was sent to.
    pub raida: RaidaRef,
    /// Its command.
    pub command: Command,
    /// Its 32-byte header (bytes 30–31 are what a 250 must echo).
    pub header: RequestHeader,
    /// The challenge at the start of its body.
    pub challenge: Challenge,
    /// How the reply is signed and its payload carried (from header byte 16).
    pub protection: ReplyProtection,
}

/// A reply that answers its request: its status and, for a 250 with a payload, the payload
/// in plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Response byte 2.
    pub status_code: u8,
    /// The opened payload of a 250 that has one.
    pub payload: Option<Vec<u8>>,
}

impl Answer {
    /// The answer of a status-only command: `Ok` for a 250 without payload; any other status
    /// as [`ClientError::Status`] (named, with the RAIDA's index and address); a payload as
    /// [`ReplyFault::UnexpectedPayload`].
    pub fn status_only(&self, raida: RaidaRef, command: Command) -> Result<(), ClientError> {
        if self.status_code != Status::Success.code() {
            return Err(ClientError::Status {
                raida,
                command,
                status_code: self.status_code,
            });
        }
        match &self.payload {
            None => Ok(()),
            Some(payload) => Err(ClientError::BadReply {
                raida,
                command,
                fault: ReplyFault::UnexpectedPayload {
                    size_bytes: payload.len(),
                },
            }),
        }
    }
}

/// Judges the reply to `sent`: its header and the `body_size` bytes read after it. Status
/// byte first (see the module docs): a non-250 is returned as it stands, unchecked and without
/// its body; a 250 must name `sent`'s RAIDA and command group, echo its bytes 30–31, carry
/// the signature of its protection, and have a body that opens.
pub fn judge_reply(
    sent: &SentRequest,
    header: &ResponseHeader,
    body: &[u8],
) -> Result<Answer, ClientError> {
    if !header.is_success() {
        return Ok(Answer {
            status_code: header.status,
            payload: None,
        });
    }
    let bad = |fault| ClientError::BadReply {
        raida: sent.raida,
        command: sent.command,
        fault,
    };
    check_success_header(sent, header).map_err(bad)?;
    let payload = open_response_body(header, body, &sent.protection)
        .map_err(|error| bad(ReplyFault::Decode(error)))?;
    Ok(Answer {
        status_code: header.status,
        payload,
    })
}

/// The header checks of a 250: RAIDA id, command group, echo bytes, signature.
fn check_success_header(sent: &SentRequest, header: &ResponseHeader) -> Result<(), ReplyFault> {
    assert!(header.is_success(), "only a 250 is checked");
    if header.raida_id != sent.raida.index {
        return Err(ReplyFault::WrongRaidaId {
            found: header.raida_id,
        });
    }
    if header.command_group != sent.command.group() {
        return Err(ReplyFault::WrongCommandGroup {
            found: header.command_group,
        });
    }
    let echo_expected = sent.header.echo_bytes();
    if header.echo != echo_expected {
        return Err(ReplyFault::EchoMismatch {
            expected: echo_expected,
            found: header.echo,
        });
    }
    if header.signature != sent.protection.signature(&sent.challenge) {
        return Err(ReplyFault::BadSignature);
    }
    Ok(())
}

/// [`judge_reply`] on a whole reply as received: the 32-byte header, then (for a 250) exactly
/// `body_size` bytes. A reply too short for its header, or a 250 whose length disagrees with
/// its body size, is [`ReplyFault::Decode`].
pub fn judge_reply_bytes(sent: &SentRequest, reply: &[u8]) -> Result<Answer, ClientError> {
    let bad = |error| ClientError::BadReply {
        raida: sent.raida,
        command: sent.command,
        fault: ReplyFault::Decode(error),
    };
    let mut reader = Reader::new(reply);
    let header = ResponseHeader::read(&mut reader).map_err(bad)?;
    if !header.is_success() {
        return judge_reply(sent, &header, &[]);
    }
    let body = reader
        .take("body", header.body_size_bytes as usize)
        .map_err(bad)?;
    reader.expect_empty("body").map_err(bad)?;
    judge_reply(sent, &header, body)
}

/// How one command is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestPlan {
    pub raida: RaidaRef,
    pub command: Command,
    pub retries_max: u32,
    pub read_header_timeout: Duration,
}

impl<C: Connector> Client<C> {
    /// A client, after checking the identity and the settings.
    pub fn new(parts: ClientParts<C>) -> Result<Self, ClientError> {
        parts.config.validate()?;
        parts
            .identity
            .validate()
            .map_err(|error| ClientError::InvalidInput {
                reason: error.to_string(),
            })?;
        Ok(Self {
            identity: parts.identity,
            directory: parts.directory,
            config: parts.config,
            connector: parts.connector,
            clock: parts.clock,
            rng: Mutex::new(parts.rng),
            observer: parts.observer,
            extensions: ClientExtensions::none(),
        })
    }

    /// This client with the protocol extensions `extensions` active (replaces the empty
    /// default, the unchanged protocol). The set was checked when it was built.
    pub fn with_extensions(mut self, extensions: ClientExtensions) -> Self {
        self.extensions = extensions;
        self
    }

    /// The active protocol extensions.
    pub fn extensions(&self) -> &ClientExtensions {
        &self.extensions
    }

    /// Who this client is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The injected clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The observer.
    pub(crate) fn observer(&self) -> &dyn ClientObserver {
        self.observer.as_ref()
    }

    /// This mailbox's beacon.
    pub fn own_beacon(&self) -> u8 {
        self.directory.beacon_of(self.identity.mailbox)
    }

    /// A new email GUID from the seeded RNG.
    pub fn random_guid(&self) -> Guid {
        self.random_bytes()
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.rng
            .lock()
            .expect("the RNG lock is never held across a panic")
            .fill_bytes(&mut bytes);
        bytes
    }

    /// RAIDA `raida_index` at its directory address.
    pub fn raida(&self, raida_index: u8) -> Result<RaidaRef, ClientError> {
        let addr = self
            .directory
            .addr(raida_index)
            .ok_or_else(|| ClientError::InvalidInput {
                reason: format!("RAIDA index {raida_index} is outside 0..=24"),
            })?;
        Ok(RaidaRef {
            index: raida_index,
            addr,
        })
    }

    /// The preamble of a request to RAIDA `raida_index`: this mailbox and its AN there.
    pub(crate) fn preamble(&self, raida_index: u8, challenge: Challenge) -> Preamble {
        let an = *self
            .identity
            .an(raida_index)
            .expect("RaidaRef indexes are checked to be 0..=24");
        Preamble::new(
            challenge,
            self.identity.mailbox.denomination,
            self.identity.mailbox.serial_number,
            an,
        )
    }

    /// The preamble of a ping/peek attempt to `raida_index`, with the claimed bytes of the
    /// active extensions.
    pub(crate) fn poll_preamble(&self, raida_index: u8, challenge: Challenge) -> Preamble {
        let mut preamble = self.preamble(raida_index, challenge);
        self.extensions.poll_preamble(raida_index, &mut preamble);
        preamble
    }

    /// The plan of an idempotent command (retried `retries_max` times).
    pub(crate) fn idempotent_plan(&self, raida: RaidaRef, command: Command) -> RequestPlan {
        RequestPlan {
            raida,
            command,
            retries_max: self.config.retries_max,
            read_header_timeout: self.config.request_timeout,
        }
    }

    /// Sends one command encrypted (type 1), retrying as its plan allows; see the module docs.
    pub(crate) async fn request(
        &self,
        plan: RequestPlan,
        build_body: impl FnMut(Challenge) -> Vec<u8>,
    ) -> Result<Reply, ClientError> {
        self.request_with(plan, EncryptionType::Aes128Ctr, build_body)
            .await
    }

    /// [`Client::request`] with the encryption type of header byte 16 (0 only for echo).
    async fn request_with(
        &self,
        plan: RequestPlan,
        encryption: EncryptionType,
        mut build_body: impl FnMut(Challenge) -> Vec<u8>,
    ) -> Result<Reply, ClientError> {
        assert!(
            encryption == EncryptionType::Aes128Ctr || plan.command == Command::Echo,
            "only echo may go as plaintext"
        );
        let attempts_max = plan.retries_max.saturating_add(1);
        let mut attempt = 1;
        loop {
            let outcome = self
                .attempt(plan, encryption, attempt, &mut build_body)
                .await;
            let retry = match &outcome {
                Ok(reply) => Status::from_code(reply.status_code).is_some_and(|status| {
                    matches!(status, Status::Filesystem | Status::MemoryAlloc)
                }),
                Err(error) => error.is_transient(),
            };
            if !retry || attempt >= attempts_max {
                if let Some(probe) = crate::probes::give_up(plan.command).filter(|_| retry) {
                    probe::hit(probe);
                }
                return outcome;
            }
            if let Some(probe) = crate::probes::retry(plan.command) {
                probe::hit(probe);
            }
            tokio::time::sleep(self.config.backoff_before_retry(attempt)).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        plan: RequestPlan,
        encryption: EncryptionType,
        attempt: u32,
        build_body: &mut impl FnMut(Challenge) -> Vec<u8>,
    ) -> Result<Reply, ClientError> {
        let challenge = Challenge::from_random(self.random_bytes::<CHALLENGE_RANDOM_SIZE_BYTES>());
        let nonce = self.random_bytes();
        let body_plain = build_body(challenge);
        let key = *self
            .identity
            .an(plan.raida.index)
            .expect("RaidaRef indexes are checked to be 0..=24");
        let meta = RequestMeta {
            raida_id: plan.raida.index,
            command: plan.command,
            encryption_type: encryption,
            key_denomination: self.identity.mailbox.denomination,
            key_serial_number: self.identity.mailbox.serial_number,
            nonce,
        };
        let packet = encode_request(&meta, &key, &body_plain);
        let sent = SentRequest {
            raida: plan.raida,
            command: plan.command,
            header: RequestHeader::from_bytes(&packet[..HEADER_SIZE_BYTES])
                .expect("an encoded request starts with its 32-byte header"),
            challenge,
            protection: ReplyProtection::for_request(
                encryption,
                &key,
                &nonce,
                self.config.response_counter,
                body_plain.len(),
            ),
        };
        let timeouts = Timeouts {
            connect: self.config.connect_timeout,
            write: self.config.request_timeout,
            read_header: plan.read_header_timeout,
            read_body: self.config.request_timeout,
        };
        self.observer
            .request_sent(plan.raida, plan.command, attempt);
        let checked =
            match round_trip(&self.connector, plan.raida, plan.command, &packet, timeouts).await {
                Ok(raw) => {
                    self.observer
                        .request_answered(plan.raida, plan.command, raw.header.status);
                    judge_reply(&sent, &raw.header, &raw.body).map(|answer| Reply {
                        status_code: answer.status_code,
                        payload: answer.payload,
                        attempts: attempt,
                    })
                }
                Err(error) => Err(error),
            };
        if let Err(error) = &checked {
            self.observer
                .request_failed(plan.raida, plan.command, error);
        }
        checked
    }

    /// Echo (group 0, code 0): is RAIDA `raida_index` up and does it know this mailbox's
    /// coin? Retried like every idempotent command; success is a signed 250 with no payload.
    pub async fn echo(&self, raida_index: u8) -> Result<(), ClientError> {
        self.echo_with(raida_index, EncryptionType::Aes128Ctr).await
    }

    /// Echo with encryption type `encryption`: [`EncryptionType::Aes128Ctr`] is
    /// [`Client::echo`]; [`EncryptionType::None`] sends the challenge in plaintext and asks
    /// only "is this RAIDA up" (the reply is signed with the challenge as it is, whatever coin
    /// the RAIDA holds).
    pub async fn echo_with(
        &self,
        raida_index: u8,
        encryption: EncryptionType,
    ) -> Result<(), ClientError> {
        let raida = self.raida(raida_index)?;
        let plan = self.idempotent_plan(raida, Command::Echo);
        let reply = self
            .request_with(plan, encryption, |challenge| {
                EchoBody { challenge }.to_bytes()
            })
            .await?;
        expect_status_only(plan, &reply)
    }
}

/// A status-only command's reply: 250 with no payload, else the status as an error.
pub(crate) fn expect_status_only(plan: RequestPlan, reply: &Reply) -> Result<(), ClientError> {
    let answer = Answer {
        status_code: reply.status_code,
        payload: reply.payload.clone(),
    };
    answer.status_only(plan.raida, plan.command)
}

/// A payload command's reply: 250 with a payload, else an error.
pub(crate) fn expect_payload(plan: RequestPlan, reply: Reply) -> Result<Vec<u8>, ClientError> {
    if !reply.is_success() {
        return Err(status_error(plan, reply.status_code));
    }
    reply.payload.ok_or(ClientError::BadReply {
        raida: plan.raida,
        command: plan.command,
        fault: ReplyFault::MissingPayload,
    })
}

/// The error for an unwanted status.
pub(crate) fn status_error(plan: RequestPlan, status_code: u8) -> ClientError {
    ClientError::Status {
        raida: plan.raida,
        command: plan.command,
        status_code,
    }
}
