//! Malformed-request faults: what a buggy or hostile client sends a RAIDA, and the status
//! the protocol pages name for it.
//!
//! - `malformed_requests_per_min` (default 0): a Poisson process over the safety phase
//!   (stream `"faults.malformed"`) at this rate across the whole network. Each arrival draws
//!   a [`MalformedKind`] (uniform among the kinds the server settings make meaningful), a
//!   target RAIDA and the mailbox whose keys the request is made with (an insider, like the
//!   replay adversary: the request is well keyed except where its kind says otherwise).
//!
//! The adversary host `mallory` ([`super::adversary`]) sends each one when due: first an
//! echo to the target through the client library (a scanner checks a host answers before
//! probing it; retried like any idempotent request), then the malformed request on a fresh
//! connection, reading the reply header. Each is recorded as a `MalformedRequest` fault
//! carrying the status the pages name ([`MalformedKind::expected_status`]) and the status the
//! RAIDA answered; the checker `malformed_status` judges the pair and checks that no
//! malformed tell was ever published. A refused upload is followed by a download of its
//! GUID, which must find nothing (202): a refused request changes no state.
//!
//! Where each expected status comes from (DECISIONS.md "Request header", "Interop with the
//! public RAIDA server", "Upload", "Where the pages disagree"; page 001's status table; the
//! tell page 002's rules): header checks in the public server's order — version 255, split 2,
//! RAIDA id 3, shard above 3 → 4, command group 5 and command 6 (the standard `protocol.h`
//! codes the order names), coin id 7, encryption type 2–255 → 27, type 0 off echo and an
//! unknown or out-of-range key coin → 34; then the body: size short of `body_size` → 16, no
//! `3E 3E` → 33, a challenge that does not decrypt to its CRC (wrong AN) → 37, the
//! command's length rules → 16 ("length before fields"); then the preamble: denomination 40,
//! coin not held 8, AN 200; then the command's rules: unpaid upload 169, unknown storage
//! duration 198, tell timestamps out of the window 198, zero deliveries 18, unknown download
//! 202.

use knobs::{Knob, Knobs, Vary, Visitor};
use qmail_client::send::tell::manifest_entry;
use qmail_wire::body::{DownloadBody, PeekBody, PingBody, StorageDuration, TellBody, UploadBody};
use qmail_wire::crypto::{Challenge, Key};
use qmail_wire::header::{Command, EncryptionType, RequestHeader, COMMAND_GROUP_QMAIL};
use qmail_wire::limits::{
    COIN_ID_CLOUDCOIN, DENOMINATION_MAX, DENOMINATION_MIN, HEADER_SIZE_BYTES, NONCE_SIZE_BYTES,
    PREAMBLE_SIZE_BYTES, SHARD_ID_MAX,
};
use qmail_wire::packet::{encode_request_with_header, RequestMeta};
use qmail_wire::preamble::Preamble;
use qmail_wire::tell::{
    AddressEntry, FileHeader, RecipientKind, RoutingHeader, ServerEntry, TellRecord,
    FILE_TYPE_BODY, PARITY_ALGO_RAID5_XOR, STRIPE_TYPE_DATA, STRIPE_TYPE_PARITY, TELL_TYPE_EMAIL,
};
use qmail_wire::{Codec, Status};
use raida_server::settings::Settings;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddrV4;

use crate::limits::{MALFORMED_REQUESTS_PER_MIN_MAX, MALFORMED_STALE_S, US_PER_S};

/// Offset of `address_count` in the tell routing header (tell page 002).
const ROUTING_ADDRESS_COUNT_OFFSET: usize = 29;
use crate::seed::SeedTree;

/// Malformed-request knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct MalformedFaults {
    /// Malformed requests per simulated minute, across the network (0: off).
    pub malformed_requests_per_min: f64,
}

impl Knobs for MalformedFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(
            Knob::real(
                "malformed_requests_per_min",
                &mut self.malformed_requests_per_min,
                0.0..=MALFORMED_REQUESTS_PER_MIN_MAX,
            )
            .vary(Vary::OnOff { per: 1_000 }),
        );
    }
}

/// One way of getting a request wrong. The variant says what is wrong; the request is
/// otherwise well formed and keyed with a real mailbox's AN on the target RAIDA.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum MalformedKind {
    /// Peek with header byte 0 (router version) other than 1.
    RouterVersion,
    /// Peek with header byte 1 (split id) other than 0.
    SplitId,
    /// Peek whose header byte 2 names another RAIDA.
    OtherRaida,
    /// Peek with header byte 3 (shard id) above 3.
    ShardId,
    /// A command group other than 0 (echo) and 6 (QMail).
    CommandGroup,
    /// Group 6 with a command code outside 70–74.
    CommandCode,
    /// Peek whose header bytes 6–7 are not `00 06`.
    CoinId,
    /// Peek with an encryption type in 2–255.
    EncryptionType,
    /// Peek with encryption type 0 (plaintext, allowed only for echo).
    PlaintextCommand,
    /// Peek keyed by a coin (header 17–21) this RAIDA does not hold.
    KeyCoinUnknown,
    /// Peek keyed by a denomination outside −8…+6.
    KeyDenomination,
    /// Peek whose body does not end in `3E 3E`.
    Terminator,
    /// Upload that sends fewer bytes than its `body_size` and closes its sending side.
    BodyTruncated,
    /// Echo whose body is shorter than the 16-byte challenge.
    ChallengeShort,
    /// Peek encrypted under an AN other than the key coin's (the challenge CRC fails).
    WrongKey,
    /// Peek whose body is not 52 bytes.
    PeekLength,
    /// Upload whose `data_length` is not the number of bytes that follow.
    UploadDataLength,
    /// Tell with `address_count` 0 (the body sized for no recipients).
    TellAddressCountZero,
    /// Upload whose preamble denomination is outside −8…+6.
    PreambleDenomination,
    /// Ping whose preamble names a coin this RAIDA does not hold.
    PreambleCoinUnknown,
    /// Tell whose preamble AN is not the stored one.
    PreambleAn,
    /// Upload paid from an all-zero locker code.
    UploadLockerEmpty,
    /// Upload paid from a locker that holds nothing (only when `upload_fee` > 0).
    UploadUnpaid,
    /// Upload with an unknown `storage_duration` code.
    UploadDuration,
    /// Tell whose two timestamps are a day old.
    TellStale,
    /// Tell whose only recipient is a mailbox no RAIDA holds.
    TellUnknownMailbox,
    /// Tell whose only recipient has a denomination outside −8…+6.
    TellRecipientDenomination,
    /// Tell whose only recipient's fee locker holds nothing (only when `inbox_fee_default`
    /// > 0).
    TellFeeUnpaid,
    /// Download of a GUID nobody uploaded.
    DownloadUnknown,
    /// The download that follows a refused upload, of the refused upload's GUID (never
    /// drawn: sent after `UploadLockerEmpty`, `UploadUnpaid` and `UploadDuration`).
    RefusedUploadStored,
}

impl MalformedKind {
    /// Every kind the schedule may draw, in draw order.
    pub const DRAWN: [MalformedKind; 29] = [
        MalformedKind::RouterVersion,
        MalformedKind::SplitId,
        MalformedKind::OtherRaida,
        MalformedKind::ShardId,
        MalformedKind::CommandGroup,
        MalformedKind::CommandCode,
        MalformedKind::CoinId,
        MalformedKind::EncryptionType,
        MalformedKind::PlaintextCommand,
        MalformedKind::KeyCoinUnknown,
        MalformedKind::KeyDenomination,
        MalformedKind::Terminator,
        MalformedKind::BodyTruncated,
        MalformedKind::ChallengeShort,
        MalformedKind::WrongKey,
        MalformedKind::PeekLength,
        MalformedKind::UploadDataLength,
        MalformedKind::TellAddressCountZero,
        MalformedKind::PreambleDenomination,
        MalformedKind::PreambleCoinUnknown,
        MalformedKind::PreambleAn,
        MalformedKind::UploadLockerEmpty,
        MalformedKind::UploadUnpaid,
        MalformedKind::UploadDuration,
        MalformedKind::TellStale,
        MalformedKind::TellUnknownMailbox,
        MalformedKind::TellRecipientDenomination,
        MalformedKind::TellFeeUnpaid,
        MalformedKind::DownloadUnknown,
    ];

    /// Stable snake_case name (the trace and the fault record carry it).
    pub const fn name(self) -> &'static str {
        match self {
            MalformedKind::RouterVersion => "router_version",
            MalformedKind::SplitId => "split_id",
            MalformedKind::OtherRaida => "other_raida",
            MalformedKind::ShardId => "shard_id",
            MalformedKind::CommandGroup => "command_group",
            MalformedKind::CommandCode => "command_code",
            MalformedKind::CoinId => "coin_id",
            MalformedKind::EncryptionType => "encryption_type",
            MalformedKind::PlaintextCommand => "plaintext_command",
            MalformedKind::KeyCoinUnknown => "key_coin_unknown",
            MalformedKind::KeyDenomination => "key_denomination",
            MalformedKind::Terminator => "terminator",
            MalformedKind::BodyTruncated => "body_truncated",
            MalformedKind::ChallengeShort => "challenge_short",
            MalformedKind::WrongKey => "wrong_key",
            MalformedKind::PeekLength => "peek_length",
            MalformedKind::UploadDataLength => "upload_data_length",
            MalformedKind::TellAddressCountZero => "tell_address_count_zero",
            MalformedKind::PreambleDenomination => "preamble_denomination",
            MalformedKind::PreambleCoinUnknown => "preamble_coin_unknown",
            MalformedKind::PreambleAn => "preamble_an",
            MalformedKind::UploadLockerEmpty => "upload_locker_empty",
            MalformedKind::UploadUnpaid => "upload_unpaid",
            MalformedKind::UploadDuration => "upload_duration",
            MalformedKind::TellStale => "tell_stale",
            MalformedKind::TellUnknownMailbox => "tell_unknown_mailbox",
            MalformedKind::TellRecipientDenomination => "tell_recipient_denomination",
            MalformedKind::TellFeeUnpaid => "tell_fee_unpaid",
            MalformedKind::DownloadUnknown => "download_unknown",
            MalformedKind::RefusedUploadStored => "refused_upload_stored",
        }
    }

    /// The status the protocol pages name for this request (see the module docs).
    pub const fn expected_status(self) -> Status {
        match self {
            MalformedKind::RouterVersion => Status::InvalidRouting,
            MalformedKind::SplitId => Status::InvalidSplitId,
            MalformedKind::OtherRaida => Status::InvalidRaidaId,
            MalformedKind::ShardId => Status::InvalidShardId,
            MalformedKind::CommandGroup => Status::InvalidCommandGroup,
            MalformedKind::CommandCode => Status::InvalidCommand,
            MalformedKind::CoinId => Status::InvalidCoinId,
            MalformedKind::EncryptionType => Status::InvalidEncryptionCode,
            MalformedKind::PlaintextCommand
            | MalformedKind::KeyCoinUnknown
            | MalformedKind::KeyDenomination => Status::InvalidEncryption,
            MalformedKind::Terminator => Status::InvalidEof,
            MalformedKind::BodyTruncated
            | MalformedKind::ChallengeShort
            | MalformedKind::PeekLength
            | MalformedKind::UploadDataLength
            | MalformedKind::TellAddressCountZero => Status::InvalidPacketLength,
            MalformedKind::WrongKey => Status::InvalidCrc,
            MalformedKind::PreambleDenomination => Status::InvalidSnOrDenomination,
            MalformedKind::PreambleCoinUnknown => Status::CoinNotFound,
            MalformedKind::PreambleAn => Status::InvalidAn,
            MalformedKind::UploadLockerEmpty | MalformedKind::UploadUnpaid => {
                Status::PaymentRequired
            }
            MalformedKind::UploadDuration | MalformedKind::TellStale => Status::InvalidParameter,
            MalformedKind::TellUnknownMailbox
            | MalformedKind::TellRecipientDenomination
            | MalformedKind::TellFeeUnpaid => Status::WrongRaida,
            MalformedKind::DownloadUnknown | MalformedKind::RefusedUploadStored => {
                Status::FileNotExist
            }
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<MalformedKind> {
        MalformedKind::DRAWN
            .into_iter()
            .chain([MalformedKind::RefusedUploadStored])
            .find(|kind| kind.name() == name)
    }

    /// Whether `settings` make this request malformed at all: an unknown locker pays an
    /// upload fee of 0, and a recipient's empty fee locker pays an inbox fee of 0.
    pub fn applies(self, settings: &Settings) -> bool {
        match self {
            MalformedKind::UploadUnpaid => settings.upload_fee > 0,
            MalformedKind::TellFeeUnpaid => settings.inbox_fee_default > 0,
            _ => true,
        }
    }

    /// A refused upload, whose GUID a download then checks.
    pub const fn is_refused_upload(self) -> bool {
        matches!(
            self,
            MalformedKind::UploadLockerEmpty
                | MalformedKind::UploadUnpaid
                | MalformedKind::UploadDuration
        )
    }
}

/// One malformed request of the schedule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PlannedMalformed {
    /// When it goes out, simulated microseconds.
    pub at_us: u64,
    /// What is wrong with it.
    pub kind: MalformedKind,
    /// The RAIDA it goes to.
    pub raida: u8,
    /// The index of the mailbox whose keys it is made with.
    pub sender: u32,
    /// Seed of the request's own bytes (nonce, challenge, GUID, wrong values).
    pub seed: u64,
}

impl MalformedFaults {
    /// True when no malformed request is sent.
    pub fn is_quiet(&self) -> bool {
        self.malformed_requests_per_min <= 0.0
    }

    /// Every malformed request of the safety phase, in time order.
    pub fn schedule(
        &self,
        tree: &SeedTree,
        settings: &Settings,
        raidas: u8,
        mailboxes: u32,
        safety_end_us: u64,
    ) -> Vec<PlannedMalformed> {
        let rate_per_s = self.malformed_requests_per_min / 60.0;
        let kinds: Vec<MalformedKind> = MalformedKind::DRAWN
            .into_iter()
            .filter(|kind| kind.applies(settings))
            .collect();
        let mut out = Vec::new();
        if rate_per_s <= 0.0 || raidas == 0 || mailboxes == 0 {
            return out;
        }
        let mut rng = tree.stream("faults.malformed");
        let mut at_s = 0.0f64;
        loop {
            let u: f64 = rng.random();
            at_s += -(1.0 - u).ln() / rate_per_s;
            let kind_index = rng.random_range(0..kinds.len());
            let raida = rng.random_range(0..raidas);
            let sender = rng.random_range(0..mailboxes);
            let seed: u64 = rng.random();
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            // A finite, non-negative time in seconds, checked below against the phase end.
            let at_us = (at_s * US_PER_S as f64) as u64;
            if !at_s.is_finite() || at_us >= safety_end_us {
                break;
            }
            let kind = *kinds.get(kind_index).expect("index drawn within the kinds");
            out.push(PlannedMalformed {
                at_us,
                kind,
                raida,
                sender,
                seed,
            });
        }
        out
    }
}

/// What a malformed request is built from.
#[derive(Clone, Debug)]
pub struct MalformedContext {
    /// The target RAIDA.
    pub raida: u8,
    /// The sender mailbox's coin.
    pub denomination: i8,
    /// See `denomination`.
    pub serial_number: u32,
    /// The sender's AN on the target RAIDA.
    pub an: Key,
    /// The sender's upload locker.
    pub upload_locker: [u8; 16],
    /// The locker paying recipients' inbox fees.
    pub fee_locker: [u8; 16],
    /// A mailbox of the run the tells may name (the sender itself).
    pub recipient: (i8, u32),
    /// A serial number no RAIDA of the run holds.
    pub unknown_serial_number: u32,
    /// Addresses of two RAIDAs for the tell's server entries (indexes and addresses).
    pub servers: [(u8, SocketAddrV4); 2],
    /// The adversary's clock, Unix seconds.
    pub now_s: u32,
}

/// A malformed request, ready for the wire.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MalformedRequest {
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// Close the sending side after writing (the truncated body).
    pub half_close: bool,
    /// The GUID a tell, upload or download names, if it names one.
    pub guid: Option<[u8; 16]>,
    /// One line saying what was sent.
    pub detail: String,
}

/// Builds `kind`'s request from `ctx`, its random parts from `rng`.
pub fn build(
    kind: MalformedKind,
    ctx: &MalformedContext,
    rng: &mut ChaCha8Rng,
) -> MalformedRequest {
    build_with(kind, ctx, rng, None)
}

/// [`build`], naming `guid` instead of a drawn one when given.
fn build_with(
    kind: MalformedKind,
    ctx: &MalformedContext,
    rng: &mut ChaCha8Rng,
    guid: Option<[u8; 16]>,
) -> MalformedRequest {
    let draft = Draft::new(ctx, rng, guid);
    draft
        .header_fault(kind, rng)
        .or_else(|| draft.framing_fault(kind, rng))
        .or_else(|| draft.preamble_fault(kind, rng))
        .or_else(|| draft.upload_fault(kind, rng))
        .or_else(|| draft.tell_fault(kind, rng))
        .unwrap_or_else(|| draft.download())
}

/// The drawn parts every request of one malformed send shares.
struct Draft<'c> {
    ctx: &'c MalformedContext,
    nonce: [u8; NONCE_SIZE_BYTES],
    challenge: Challenge,
    guid: [u8; 16],
    preamble: Preamble,
    /// A well-formed peek body.
    peek: Vec<u8>,
}

impl<'c> Draft<'c> {
    fn new(ctx: &'c MalformedContext, rng: &mut ChaCha8Rng, guid: Option<[u8; 16]>) -> Self {
        let nonce: [u8; NONCE_SIZE_BYTES] = rng.random();
        let challenge = Challenge::from_random(rng.random());
        let drawn_guid: [u8; 16] = rng.random();
        let preamble = Preamble::new(challenge, ctx.denomination, ctx.serial_number, ctx.an);
        let peek = PeekBody {
            preamble,
            since_timestamp_s: 0,
        }
        .to_bytes();
        Draft {
            ctx,
            nonce,
            challenge,
            guid: guid.unwrap_or(drawn_guid),
            preamble,
            peek,
        }
    }

    /// A well-formed type-1 header for `command` (its body size set when encoded).
    fn header(&self, command: Command) -> RequestHeader {
        RequestMeta {
            raida_id: self.ctx.raida,
            command,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: self.ctx.denomination,
            key_serial_number: self.ctx.serial_number,
            nonce: self.nonce,
        }
        .header(0)
    }

    /// `body` under `header`, encrypted with the sender's AN.
    fn request(&self, header: RequestHeader, body: &[u8], detail: String) -> MalformedRequest {
        MalformedRequest {
            bytes: encode_request_with_header(&header, &self.ctx.an, body),
            half_close: false,
            guid: None,
            detail,
        }
    }

    /// `body` as a request of `command` naming this draft's GUID.
    fn with_guid(&self, command: Command, body: &[u8], detail: String) -> MalformedRequest {
        MalformedRequest {
            guid: Some(self.guid),
            ..self.request(self.header(command), body, detail)
        }
    }

    /// A peek whose header is `header` (a well-formed peek header with one field changed).
    fn peek_with(&self, header: RequestHeader, detail: String) -> MalformedRequest {
        self.request(header, &self.peek, detail)
    }

    /// The header kinds: a peek (or an unknown command) with one header field wrong.
    fn header_fault(&self, kind: MalformedKind, rng: &mut ChaCha8Rng) -> Option<MalformedRequest> {
        let peek = self.header(Command::Peek);
        Some(match kind {
            MalformedKind::RouterVersion => {
                let version = pick_except(rng, &[1]);
                self.peek_with(
                    RequestHeader { version, ..peek },
                    format!("peek, router version {version}"),
                )
            }
            MalformedKind::SplitId => {
                let split_id = pick_except(rng, &[0]);
                self.peek_with(
                    RequestHeader { split_id, ..peek },
                    format!("peek, split id {split_id}"),
                )
            }
            MalformedKind::OtherRaida => {
                let raida_id = pick_except(rng, &[self.ctx.raida]);
                self.peek_with(
                    RequestHeader { raida_id, ..peek },
                    format!("peek naming RAIDA {raida_id}"),
                )
            }
            MalformedKind::ShardId => {
                let shard_id = rng.random_range(SHARD_ID_MAX + 1..=u8::MAX);
                self.peek_with(
                    RequestHeader { shard_id, ..peek },
                    format!("peek, shard {shard_id}"),
                )
            }
            MalformedKind::CommandGroup => {
                let command_group = pick_except(rng, &[0, COMMAND_GROUP_QMAIL]);
                let header = RequestHeader {
                    command_group,
                    ..peek
                };
                self.peek_with(header, format!("command group {command_group}"))
            }
            MalformedKind::CommandCode => {
                let command_code = pick_except(rng, &[70, 71, 72, 73, 74]);
                let header = RequestHeader {
                    command_code,
                    ..peek
                };
                self.peek_with(header, format!("group 6 command {command_code}"))
            }
            MalformedKind::CoinId => {
                let coin_id = pick_u16_except(rng, COIN_ID_CLOUDCOIN);
                self.peek_with(
                    RequestHeader { coin_id, ..peek },
                    format!("peek, coin id {coin_id:#06x}"),
                )
            }
            MalformedKind::EncryptionType => {
                let encryption_type = rng.random_range(2..=u8::MAX);
                let header = RequestHeader {
                    encryption_type,
                    ..peek
                };
                self.peek_with(header, format!("peek, encryption type {encryption_type}"))
            }
            MalformedKind::PlaintextCommand => {
                let encryption_type = EncryptionType::None.code();
                let header = RequestHeader {
                    encryption_type,
                    ..peek
                };
                self.peek_with(header, "peek in plaintext (type 0)".to_string())
            }
            MalformedKind::KeyCoinUnknown => {
                let key_serial_number = self.ctx.unknown_serial_number;
                let header = RequestHeader {
                    key_serial_number,
                    ..peek
                };
                self.peek_with(
                    header,
                    format!("peek keyed by unknown coin SN {key_serial_number}"),
                )
            }
            MalformedKind::KeyDenomination => {
                let key_denomination = bad_denomination(rng);
                let header = RequestHeader {
                    key_denomination,
                    ..peek
                };
                self.peek_with(
                    header,
                    format!("peek keyed by denomination {key_denomination}"),
                )
            }
            _ => return None,
        })
    }

    /// The framing and length kinds: terminator, body size, challenge, command lengths.
    fn framing_fault(&self, kind: MalformedKind, rng: &mut ChaCha8Rng) -> Option<MalformedRequest> {
        Some(match kind {
            MalformedKind::Terminator => {
                let mut request =
                    self.request(self.header(Command::Peek), &self.peek, String::new());
                let found = loop {
                    let found: [u8; 2] = rng.random();
                    if found != [0x3E, 0x3E] {
                        break found;
                    }
                };
                let end = request.bytes.len();
                request.bytes.splice(end - 2.., found);
                request.detail = format!("peek ending {:02X} {:02X}", found[0], found[1]);
                request
            }
            MalformedKind::BodyTruncated => {
                let body = upload_body(self.preamble, self.guid, self.ctx.upload_locker, rng);
                let mut request = self.with_guid(Command::Upload, &body, String::new());
                let body_size_bytes = request.bytes.len() - HEADER_SIZE_BYTES;
                let missing_bytes = rng.random_range(1..=body_size_bytes);
                request.bytes.truncate(request.bytes.len() - missing_bytes);
                request.half_close = true;
                request.detail =
                    format!("upload of {body_size_bytes} body bytes, {missing_bytes} never sent");
                request
            }
            MalformedKind::ChallengeShort => {
                let size_bytes = rng.random_range(0..self.challenge.as_bytes().len());
                let body = self.challenge.as_bytes().get(..size_bytes).unwrap_or(&[]);
                let detail = format!("echo with a {size_bytes}-byte challenge");
                self.request(self.header(Command::Echo), body, detail)
            }
            MalformedKind::WrongKey => {
                let key: Key = pick_key_except(rng, &self.ctx.an);
                MalformedRequest {
                    bytes: encode_request_with_header(
                        &self.header(Command::Peek),
                        &key,
                        &self.peek,
                    ),
                    half_close: false,
                    guid: None,
                    detail: "peek encrypted under a wrong AN".to_string(),
                }
            }
            MalformedKind::PeekLength => {
                let size_bytes = loop {
                    let size_bytes =
                        rng.random_range(PREAMBLE_SIZE_BYTES..=PREAMBLE_SIZE_BYTES + 12);
                    if size_bytes != self.peek.len() {
                        break size_bytes;
                    }
                };
                let mut body = self.peek.clone();
                body.resize(size_bytes, 0);
                self.request(
                    self.header(Command::Peek),
                    &body,
                    format!("peek body of {size_bytes} bytes"),
                )
            }
            MalformedKind::UploadDataLength => {
                let mut body = upload_body(self.preamble, self.guid, self.ctx.upload_locker, rng);
                let offset = UploadBody::DATA_LENGTH_OFFSET;
                let data_length = u32::try_from(body.len() - offset - 4).expect("a small stripe");
                let claimed = pick_u32_except(rng, data_length);
                body.splice(offset..offset + 4, claimed.to_be_bytes());
                let detail = format!("upload of {data_length} bytes claiming {claimed}");
                self.with_guid(Command::Upload, &body, detail)
            }
            MalformedKind::TellAddressCountZero => {
                let entry = recipient_entry(self.ctx.recipient, self.ctx.fee_locker);
                let mut body = self.tell(self.preamble, entry, self.ctx.now_s).to_bytes();
                let entries_offset = PREAMBLE_SIZE_BYTES + RoutingHeader::SIZE_BYTES;
                body.drain(entries_offset..entries_offset + AddressEntry::SIZE_BYTES);
                if let Some(count) =
                    body.get_mut(PREAMBLE_SIZE_BYTES + ROUTING_ADDRESS_COUNT_OFFSET)
                {
                    *count = 0;
                }
                self.with_guid(
                    Command::Tell,
                    &body,
                    "tell with address_count 0".to_string(),
                )
            }
            _ => return None,
        })
    }

    /// The preamble kinds: denomination, unknown coin, wrong AN.
    fn preamble_fault(
        &self,
        kind: MalformedKind,
        rng: &mut ChaCha8Rng,
    ) -> Option<MalformedRequest> {
        Some(match kind {
            MalformedKind::PreambleDenomination => {
                let denomination = bad_denomination(rng);
                let preamble = Preamble {
                    denomination,
                    ..self.preamble
                };
                let body = upload_body(preamble, self.guid, self.ctx.upload_locker, rng);
                let detail = format!("upload whose preamble names denomination {denomination}");
                self.with_guid(Command::Upload, &body, detail)
            }
            MalformedKind::PreambleCoinUnknown => {
                let serial_number = self.ctx.unknown_serial_number;
                let preamble = Preamble {
                    serial_number,
                    ..self.preamble
                };
                let body = PingBody::new(preamble).to_bytes();
                let detail = format!("ping for unknown coin SN {serial_number}");
                self.request(self.header(Command::Ping), &body, detail)
            }
            MalformedKind::PreambleAn => {
                let an = pick_key_except(rng, &self.ctx.an);
                let preamble = Preamble {
                    an,
                    ..self.preamble
                };
                let entry = recipient_entry(self.ctx.recipient, self.ctx.fee_locker);
                let body = self.tell(preamble, entry, self.ctx.now_s).to_bytes();
                self.with_guid(
                    Command::Tell,
                    &body,
                    "tell with a wrong preamble AN".to_string(),
                )
            }
            _ => return None,
        })
    }

    /// The refused uploads: no payment, unknown storage duration.
    fn upload_fault(&self, kind: MalformedKind, rng: &mut ChaCha8Rng) -> Option<MalformedRequest> {
        let (locker, detail) = match kind {
            MalformedKind::UploadLockerEmpty => {
                ([0; 16], "upload paid from an all-zero locker".to_string())
            }
            MalformedKind::UploadUnpaid => (
                unknown_locker(rng),
                "upload paid from a locker holding nothing".to_string(),
            ),
            MalformedKind::UploadDuration => (self.ctx.upload_locker, String::new()),
            _ => return None,
        };
        let mut body = upload_body(self.preamble, self.guid, locker, rng);
        if kind != MalformedKind::UploadDuration {
            return Some(self.with_guid(Command::Upload, &body, detail));
        }
        let code = loop {
            let code: u8 = rng.random();
            if StorageDuration::from_code(code).is_none() {
                break code;
            }
        };
        if let Some(byte) = body.get_mut(UploadBody::STORAGE_DURATION_OFFSET) {
            *byte = code;
        }
        Some(self.with_guid(
            Command::Upload,
            &body,
            format!("upload with storage_duration {code}"),
        ))
    }

    /// The tells no inbox may take: stale, to an unknown or invalid mailbox, fee unpaid. The
    /// stale one is addressed to the unknown mailbox too, so even a beacon whose clock puts
    /// it inside the window publishes nothing.
    fn tell_fault(&self, kind: MalformedKind, rng: &mut ChaCha8Rng) -> Option<MalformedRequest> {
        let ctx = self.ctx;
        let unknown = (ctx.denomination, ctx.unknown_serial_number);
        let (recipient, locker, timestamp_s, detail) = match kind {
            MalformedKind::TellStale => (
                unknown,
                ctx.fee_locker,
                ctx.now_s.saturating_sub(MALFORMED_STALE_S),
                format!("tell stamped {MALFORMED_STALE_S} s ago"),
            ),
            MalformedKind::TellUnknownMailbox => (
                unknown,
                ctx.fee_locker,
                ctx.now_s,
                format!("tell to unknown mailbox SN {}", ctx.unknown_serial_number),
            ),
            MalformedKind::TellRecipientDenomination => {
                let denomination = bad_denomination(rng);
                (
                    (denomination, ctx.recipient.1),
                    ctx.fee_locker,
                    ctx.now_s,
                    format!("tell to a recipient of denomination {denomination}"),
                )
            }
            MalformedKind::TellFeeUnpaid => (
                ctx.recipient,
                unknown_locker(rng),
                ctx.now_s,
                "tell whose recipient's fee locker holds nothing".to_string(),
            ),
            _ => return None,
        };
        let entry = recipient_entry(recipient, locker);
        let body = self.tell(self.preamble, entry, timestamp_s).to_bytes();
        Some(self.with_guid(Command::Tell, &body, detail))
    }

    /// A download of this draft's GUID (nobody stored it).
    fn download(&self) -> MalformedRequest {
        let body = DownloadBody {
            preamble: self.preamble,
            guid: self.guid,
            locker_code: self.ctx.upload_locker,
            file_type: FILE_TYPE_BODY,
            bytes_per_page: 0,
            page_number: 0,
        }
        .to_bytes();
        self.with_guid(
            Command::Download,
            &body,
            "download of a GUID nobody stored".to_string(),
        )
    }

    /// A tell from the context's mailbox that every field rule accepts when stamped now.
    fn tell(&self, preamble: Preamble, recipient: AddressEntry, timestamp_s: u32) -> TellBody {
        tell_body(self.ctx, preamble, self.guid, recipient, timestamp_s)
    }
}

/// The download that checks a refused upload left nothing: the same GUID, body file.
pub fn refused_upload_check(
    ctx: &MalformedContext,
    guid: [u8; 16],
    rng: &mut ChaCha8Rng,
) -> MalformedRequest {
    let mut request = build_with(MalformedKind::RefusedUploadStored, ctx, rng, Some(guid));
    request.detail = "download of the refused upload's GUID".to_string();
    request
}

/// A small valid upload body (duration one day).
fn upload_body(
    preamble: Preamble,
    guid: [u8; 16],
    locker: [u8; 16],
    rng: &mut ChaCha8Rng,
) -> Vec<u8> {
    let size_bytes = rng.random_range(1..=64usize);
    let data: Vec<u8> = (0..size_bytes).map(|_| rng.random()).collect();
    UploadBody {
        preamble,
        guid,
        locker_code: locker,
        file_type: FILE_TYPE_BODY,
        storage_duration: StorageDuration::Day,
        data,
    }
    .to_bytes()
}

fn recipient_entry((denomination, serial_number): (i8, u32), locker: [u8; 16]) -> AddressEntry {
    AddressEntry::new(RecipientKind::To, denomination, serial_number, locker)
}

/// A tell from the context's mailbox that every field rule accepts when stamped now.
fn tell_body(
    ctx: &MalformedContext,
    preamble: Preamble,
    guid: [u8; 16],
    recipient: AddressEntry,
    timestamp_s: u32,
) -> TellBody {
    let body = [0x51u8; 32];
    let servers = vec![
        ServerEntry::new(0, STRIPE_TYPE_DATA, ctx.servers[0].0, ctx.servers[0].1),
        ServerEntry::new(1, STRIPE_TYPE_PARITY, ctx.servers[1].0, ctx.servers[1].1),
    ];
    let file_header = FileHeader {
        email_id: guid,
        sender_coin_id: COIN_ID_CLOUDCOIN,
        sender_denomination: ctx.denomination,
        sender_serial_number: ctx.serial_number,
        client_timestamp_s: timestamp_s,
        tell_type: TELL_TYPE_EMAIL,
        locker_code: ctx.upload_locker,
        total_file_size: u32::try_from(body.len()).expect("a small body"),
        parity_algo: PARITY_ALGO_RAID5_XOR,
        ..FileHeader::default()
    };
    let record = TellRecord::new_v1(
        file_header,
        servers,
        vec![manifest_entry(FILE_TYPE_BODY, &body)],
    );
    let routing = RoutingHeader {
        email_id: guid,
        total_file_size: file_header.total_file_size,
        client_timestamp_s: timestamp_s,
        tell_type: TELL_TYPE_EMAIL,
        ..RoutingHeader::default()
    };
    TellBody::new(preamble, routing, vec![recipient], record)
}

/// A byte other than those in `except`.
fn pick_except(rng: &mut ChaCha8Rng, except: &[u8]) -> u8 {
    loop {
        let value: u8 = rng.random();
        if !except.contains(&value) {
            return value;
        }
    }
}

fn pick_u16_except(rng: &mut ChaCha8Rng, except: u16) -> u16 {
    loop {
        let value: u16 = rng.random();
        if value != except {
            return value;
        }
    }
}

/// A key other than `except`.
fn pick_key_except(rng: &mut ChaCha8Rng, except: &Key) -> Key {
    loop {
        let key: Key = rng.random();
        if key != *except {
            return key;
        }
    }
}

/// A length other than `except`, small enough for a test body.
fn pick_u32_except(rng: &mut ChaCha8Rng, except: u32) -> u32 {
    loop {
        let value = rng.random_range(0..=u32::from(u16::MAX));
        if value != except {
            return value;
        }
    }
}

/// A denomination outside −8…+6.
fn bad_denomination(rng: &mut ChaCha8Rng) -> i8 {
    loop {
        let value: i8 = rng.random();
        if !(DENOMINATION_MIN..=DENOMINATION_MAX).contains(&value) {
            return value;
        }
    }
}

/// A non-zero locker code no ledger holds (the run's lockers are drawn from the workload's
/// streams; a collision with one of them is a 2^-128 chance).
fn unknown_locker(rng: &mut ChaCha8Rng) -> [u8; 16] {
    let mut locker: [u8; 16] = rng.random();
    locker[0] |= 1;
    locker
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::body::RequestBody;
    use qmail_wire::packet::decrypt_body;
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    fn context() -> MalformedContext {
        MalformedContext {
            raida: 4,
            denomination: 1,
            serial_number: 1001,
            an: [7; 16],
            upload_locker: [b'U'; 16],
            fee_locker: [b'F'; 16],
            recipient: (1, 1001),
            unknown_serial_number: u32::MAX,
            servers: [
                (4, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 18_004)),
                (5, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 18_005)),
            ],
            now_s: 1_767_225_600,
        }
    }

    fn header_of(request: &MalformedRequest) -> RequestHeader {
        RequestHeader::from_bytes(&request.bytes[..HEADER_SIZE_BYTES]).expect("a whole header")
    }

    /// The body of a well-keyed type-1 request, decrypted and decoded as `command`.
    fn decoded(request: &MalformedRequest, command: Command) -> RequestBody {
        let header = header_of(request);
        let encrypted = &request.bytes[HEADER_SIZE_BYTES..request.bytes.len() - 2];
        let plain = decrypt_body(&context().an, &header.nonce, encrypted);
        RequestBody::decode(command, &plain).expect("the body decodes")
    }

    #[test]
    fn every_kind_sends_its_own_fault_and_nothing_else() {
        let ctx = context();
        for kind in MalformedKind::DRAWN {
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let request = build(kind, &ctx, &mut rng);
            let again = build(kind, &ctx, &mut ChaCha8Rng::seed_from_u64(9));
            assert_eq!(request, again, "{kind:?} is a function of its seed");
            let header = header_of(&request);
            let sent_body_bytes = request.bytes.len() - HEADER_SIZE_BYTES;
            let declared = usize::from(header.body_size_bytes);
            assert_eq!(
                sent_body_bytes < declared,
                kind == MalformedKind::BodyTruncated,
                "{kind:?}: only the truncated body is short"
            );
            assert_eq!(request.half_close, kind == MalformedKind::BodyTruncated);
            let ends_well = request.bytes.ends_with(&[0x3E, 0x3E]);
            if kind == MalformedKind::Terminator {
                assert!(!ends_well);
            }
            let fields = [
                (MalformedKind::RouterVersion, header.version == 1),
                (MalformedKind::SplitId, header.split_id == 0),
                (MalformedKind::OtherRaida, header.raida_id == ctx.raida),
                (MalformedKind::CoinId, header.coin_id == COIN_ID_CLOUDCOIN),
                (MalformedKind::ShardId, header.shard_id <= SHARD_ID_MAX),
                (
                    MalformedKind::KeyCoinUnknown,
                    header.key_serial_number == ctx.serial_number,
                ),
            ];
            for (broken_by, holds) in fields {
                assert_eq!(holds, kind != broken_by, "{kind:?} vs {broken_by:?}");
            }
            assert!(!request.detail.is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn command_kinds_keep_the_body_well_formed_but_for_their_field() {
        let ctx = context();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let RequestBody::Tell(tell) = decoded(
            &build(MalformedKind::TellUnknownMailbox, &ctx, &mut rng),
            Command::Tell,
        ) else {
            panic!("a tell");
        };
        assert_eq!(tell.recipients.len(), 1);
        assert_eq!(tell.recipients[0].serial_number, u32::MAX);
        assert_eq!(tell.routing.client_timestamp_s, ctx.now_s);
        let RequestBody::Tell(stale) = decoded(
            &build(MalformedKind::TellStale, &ctx, &mut rng),
            Command::Tell,
        ) else {
            panic!("a tell");
        };
        assert_eq!(
            stale.record.file_header.client_timestamp_s,
            ctx.now_s - MALFORMED_STALE_S
        );
        assert_eq!(
            stale.recipients[0].serial_number,
            u32::MAX,
            "nobody can take it"
        );
        let RequestBody::Upload(upload) = decoded(
            &build(MalformedKind::UploadLockerEmpty, &ctx, &mut rng),
            Command::Upload,
        ) else {
            panic!("an upload");
        };
        assert_eq!(upload.locker_code, [0; 16]);
        let request = build(MalformedKind::UploadUnpaid, &ctx, &mut rng);
        let guid = request.guid.expect("an upload names its GUID");
        let check = refused_upload_check(&ctx, guid, &mut rng);
        let RequestBody::Download(download) = decoded(&check, Command::Download) else {
            panic!("a download");
        };
        assert_eq!(
            download.guid, guid,
            "the check downloads the refused upload"
        );
    }

    #[test]
    fn the_schedule_follows_its_rate_and_the_settings() {
        let faults = MalformedFaults {
            malformed_requests_per_min: 120.0,
        };
        let settings = Settings::default();
        let planned = faults.schedule(&SeedTree::new(5), &settings, 25, 12, 60 * US_PER_S);
        assert!((80..=160).contains(&planned.len()), "{}", planned.len());
        assert!(planned
            .windows(2)
            .all(|pair| pair[0].at_us <= pair[1].at_us));
        assert!(planned.iter().all(|p| p.raida < 25 && p.sender < 12));
        // The default inbox fee is 0: an unfunded fee locker is no fault then.
        assert!(planned
            .iter()
            .all(|p| p.kind != MalformedKind::TellFeeUnpaid));
        assert_eq!(
            planned,
            faults.schedule(&SeedTree::new(5), &settings, 25, 12, 60 * US_PER_S)
        );
        assert!(MalformedFaults::default()
            .schedule(&SeedTree::new(5), &settings, 25, 12, 60 * US_PER_S)
            .is_empty());
    }

    #[test]
    fn expected_statuses_are_the_pages_codes() {
        let codes: Vec<(MalformedKind, u8)> = MalformedKind::DRAWN
            .into_iter()
            .map(|kind| (kind, kind.expected_status().code()))
            .collect();
        let code = |kind| codes.iter().find(|(k, _)| *k == kind).map(|(_, c)| *c);
        assert_eq!(code(MalformedKind::RouterVersion), Some(255));
        assert_eq!(code(MalformedKind::ShardId), Some(4));
        assert_eq!(code(MalformedKind::EncryptionType), Some(27));
        assert_eq!(code(MalformedKind::WrongKey), Some(37));
        assert_eq!(code(MalformedKind::TellUnknownMailbox), Some(18));
        assert_eq!(code(MalformedKind::UploadUnpaid), Some(169));
        assert_eq!(
            MalformedKind::RefusedUploadStored.expected_status().code(),
            202
        );
    }
}
