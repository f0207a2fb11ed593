//! Sending an email: stripe every file, upload every stripe to its storage RAIDA, then tell
//! each recipient's beacon.
//!
//! # Order (page 001 "End-to-end flow", tell page "Operational sequence")
//!
//! 1. Check everything that can be checked offline: recipients, attachment count, and every
//!    file's size against the stripe width N ([`Config::data_stripe_count`]). A file larger
//!    than N × 65,447 bytes is refused here, before any upload, naming the limit and the
//!    width that would fit.
//! 2. Stripe each file (body `0x01`, attachments `0x0A`, `0x0B`, …) into N data stripes and
//!    the parity stripes of [`Config::parity`]: one XOR parity stripe ([`crate::stripe`],
//!    `parity_algo` 0) or k Reed–Solomon parity stripes ([`crate::rs`], `parity_algo` 1; the
//!    data stripes are the same), and upload all of them under the email's GUID,
//!    with at most [`Config::concurrency_max`] uploads in flight, each retried on a fresh
//!    connection.
//! 3. Only when every stripe is stored — or [`SendPolicy::AllowOneMissingPerFile`] accepts
//!    one missing per file — build the tell record and send one tell per beacon, naming the
//!    recipients that share that beacon (To, CC, BCC and Mass entries alike).
//!
//! # Placement rule
//!
//! The M stripes (M = N+1 for XOR, N+k for Reed–Solomon) of every file of one email go to the
//! same M distinct RAIDAs, so one set
//! of server entries describes every file (the tell has `stripe_count` entries, not one per
//! file), and no RAIDA holds two stripes of one (GUID, file_type) (it keeps only one).
//! Which RAIDAs, by rendezvous hashing: rank every RAIDA index `r` in 0..25 by
//! [`placement_rank`]`(GUID, r)` (FNV-1a-64 over `GUID ‖ r`, then the SplitMix64 finaliser;
//! not CRC-32, whose linearity gave only 32 distinct 8-RAIDA sets), ties by `r`; stripe index
//! `i` goes to the RAIDA
//! ranked `i` (so the parity stripes, indexes N.., to the ones ranked N..). Anyone holding the
//! GUID
//! can recompute it ([`Placement::from_guid`]), and emails spread evenly over the RAIDAs.
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
//! [`Client::build_tell`] and [`Client::send_tell_record`] are the lower-level pieces, public
//! so an adversary can re-send any record (an older revision's, say) in a fresh request.
//!
//! [`Config::data_stripe_count`]: crate::config::Config::data_stripe_count
//! [`Config::parity`]: crate::config::Config::parity
//! [`Config::concurrency_max`]: crate::config::Config::concurrency_max

use std::collections::BTreeMap;

use qmail_wire::body::{TellBody, UploadBody};

use qmail_wire::header::Command;
use qmail_wire::limits::{BODY_SIZE_BYTES_MAX, COIN_ID_CLOUDCOIN, STRIPE_SIZE_BYTES_MAX};
use qmail_wire::tell::{
    AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader, ServerEntry, TellRecord,
    FILE_FLAG_ATTACHMENT, FILE_FLAG_BODY, FILE_TYPE_BODY, MANIFEST_FLAG_CRC32_PRESENT,
    PARITY_ALGO_RAID5_XOR, STRIPE_TYPE_DATA, STRIPE_TYPE_PARITY, TELL_TYPE_EMAIL,
};
use qmail_wire::Codec;

use crate::client::{expect_status_only, Client, RequestPlan};
use crate::clock::wire_timestamp_s;
use crate::config::{Parity, SendPolicy};
use crate::error::{ClientError, RaidaRef, StripeFailure};
use crate::identity::{Guid, LockerCode, MailboxId};
use crate::join::join_bounded;
use crate::limits::{
    ATTACHMENTS_PER_EMAIL_MAX, FILE_TYPE_ATTACHMENT_FIRST, RAIDA_COUNT, RECIPIENTS_PER_TELL_MAX,
};
use crate::observer::{StripeUploaded, TellSent};
use crate::rs::{self, RsError};
use crate::stripe::{self, DataStripeCount};
use crate::transport::Connector;

/// One recipient of an email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's mailbox.
    pub mailbox: MailboxId,
    /// To, CC, BCC or Mass (address entry byte 0).
    pub kind: RecipientKind,
    /// Locker paying this recipient's inbox fee; `None` uses the identity's fee locker.
    pub fee_locker_code: Option<LockerCode>,
}

impl Recipient {
    /// A recipient of `kind`, paid from the identity's fee locker.
    pub const fn new(mailbox: MailboxId, kind: RecipientKind) -> Self {
        Self {
            mailbox,
            kind,
            fee_locker_code: None,
        }
    }

    /// A To recipient.
    pub const fn to(mailbox: MailboxId) -> Self {
        Self::new(mailbox, RecipientKind::To)
    }

    /// A CC recipient.
    pub const fn cc(mailbox: MailboxId) -> Self {
        Self::new(mailbox, RecipientKind::Cc)
    }

    /// A BCC recipient.
    pub const fn bcc(mailbox: MailboxId) -> Self {
        Self::new(mailbox, RecipientKind::Bcc)
    }

    /// The tell address entry, with `default_fee_locker` unless this recipient names its own.
    pub fn address_entry(&self, default_fee_locker: LockerCode) -> AddressEntry {
        AddressEntry::new(
            self.kind,
            self.mailbox.denomination,
            self.mailbox.serial_number,
            self.fee_locker_code.unwrap_or(default_fee_locker),
        )
    }
}

/// An email to send (or one revision of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// The GUID, shared by every file and every revision ([`Client::random_guid`] for new).
    pub guid: Guid,
    /// File-header byte 57: 0 for the original, bumped for each revision.
    pub edit_sequence: u8,
    /// The body, file type 0x01.
    pub body: Vec<u8>,
    /// Attachments, file types 0x0A, 0x0B, … in order (at most 246).
    pub attachments: Vec<Vec<u8>>,
    /// To, CC and BCC recipients.
    pub recipients: Vec<Recipient>,
    /// File-header locker code passed to the recipients (download key; read, not enforced).
    pub locker_code: LockerCode,
}

impl Email {
    /// An email with this GUID and body, no attachments, no recipients, edit_sequence 0 and
    /// an all-zero locker code.
    pub fn new(guid: Guid, body: Vec<u8>) -> Self {
        Self {
            guid,
            edit_sequence: 0,
            body,
            attachments: Vec::new(),
            recipients: Vec::new(),
            locker_code: [0; 16],
        }
    }

    /// Every file, body first: (file_type, bytes). Fails with more than 246 attachments
    /// (file types run out at 0xFF).
    pub fn files(&self) -> Result<Vec<(u8, &[u8])>, ClientError> {
        if self.attachments.len() > ATTACHMENTS_PER_EMAIL_MAX {
            return Err(ClientError::InvalidInput {
                reason: format!(
                    "{} attachments: at most {ATTACHMENTS_PER_EMAIL_MAX} (file types 0x0a..=0xff)",
                    self.attachments.len()
                ),
            });
        }
        let mut files = vec![(FILE_TYPE_BODY, self.body.as_slice())];
        for (file_type, attachment) in (FILE_TYPE_ATTACHMENT_FIRST..=u8::MAX).zip(&self.attachments)
        {
            files.push((file_type, attachment.as_slice()));
        }
        assert_eq!(files.len(), 1 + self.attachments.len());
        Ok(files)
    }
}

/// Which RAIDA holds each stripe index of every file of one email. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    raidas: Vec<u8>,
    parity: Parity,
}

/// The rendezvous-hash rank of RAIDA `raida_index` for `guid`: FNV-1a-64 over the 16 GUID
/// bytes and the index byte, then the SplitMix64 finaliser so every output bit depends
/// non-linearly on every input bit.
pub fn placement_rank(guid: &Guid, raida_index: u8) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let fnv = guid
        .iter()
        .chain(std::iter::once(&raida_index))
        .fold(FNV_OFFSET, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        });
    let mut z = fnv.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Placement {
    /// The rendezvous-hash placement of the module docs: N+1 distinct RAIDAs for `guid`, XOR
    /// parity.
    pub fn from_guid(guid: &Guid, data_stripe_count: DataStripeCount) -> Result<Self, ClientError> {
        Self::from_guid_with_parity(guid, data_stripe_count, Parity::Xor)
    }

    /// The rendezvous-hash placement of the module docs for `parity`: N plus the parity
    /// stripes, on as many distinct RAIDAs (refused when they exceed the 25 RAIDAs).
    pub fn from_guid_with_parity(
        guid: &Guid,
        data_stripe_count: DataStripeCount,
        parity: Parity,
    ) -> Result<Self, ClientError> {
        let stripe_count = parity.stripe_count(data_stripe_count);
        if stripe_count > RAIDA_COUNT {
            return Err(ClientError::InvalidInput {
                reason: format!(
                    "{stripe_count} stripes per file do not fit {RAIDA_COUNT} distinct RAIDAs"
                ),
            });
        }
        let mut ranked: Vec<(u64, u8)> = (0..RAIDA_COUNT as u8)
            .map(|raida_index| (placement_rank(guid, raida_index), raida_index))
            .collect();
        ranked.sort_unstable();
        let raidas = ranked
            .into_iter()
            .take(stripe_count)
            .map(|(_, raida_index)| raida_index)
            .collect();
        Self::with_parity(raidas, parity)
    }

    /// An explicit placement: `raidas[i]` holds stripe `i`; 2 to 25 distinct RAIDA indexes,
    /// XOR parity.
    pub fn new(raidas: Vec<u8>) -> Result<Self, ClientError> {
        Self::with_parity(raidas, Parity::Xor)
    }

    /// An explicit placement for `parity`: `raidas[i]` holds stripe `i`, the parity stripes
    /// last; 2 to 25 distinct RAIDA indexes, at least one data stripe.
    pub fn with_parity(raidas: Vec<u8>, parity: Parity) -> Result<Self, ClientError> {
        let invalid = |reason: String| Err(ClientError::InvalidInput { reason });
        let parity_stripe_count = parity.parity_stripe_count();
        if let Parity::ReedSolomon { parity_count } = parity {
            let data_count = raidas.len().saturating_sub(parity_stripe_count);
            if let Err(shape) = rs::check_shape(data_count, usize::from(parity_count)) {
                return invalid(format!("a Reed-Solomon placement: {shape}"));
            }
        }
        if !(2..=RAIDA_COUNT).contains(&raidas.len()) {
            return invalid(format!(
                "a placement names 2..={RAIDA_COUNT} RAIDAs, not {}",
                raidas.len()
            ));
        }
        let mut seen = [false; RAIDA_COUNT];
        for &raida_index in &raidas {
            match seen.get_mut(usize::from(raida_index)) {
                None => return invalid(format!("RAIDA index {raida_index} is outside 0..=24")),
                Some(true) => return invalid(format!("RAIDA {raida_index} is placed twice")),
                Some(slot) => *slot = true,
            }
        }
        assert!(raidas.len() > parity_stripe_count);
        Ok(Self { raidas, parity })
    }

    /// The RAIDA of each stripe index, parity last.
    pub fn raidas(&self) -> &[u8] {
        &self.raidas
    }

    /// The parity scheme the stripes were cut with.
    pub fn parity(&self) -> Parity {
        self.parity
    }

    /// N, the data stripes this placement serves.
    pub fn data_stripe_count(&self) -> DataStripeCount {
        DataStripeCount::new(self.raidas.len() - self.parity.parity_stripe_count())
            .expect("a placement has 1..=24 data stripes")
    }
}

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
    /// The status the beacon answered last: 250, an error status, or `None` with no reply.
    pub fn status(&self) -> Option<u8> {
        match &self.result {
            Ok(()) => Some(qmail_wire::Status::Success.code()),
            Err(error) => error.status_code(),
        }
    }
}

/// What a send did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReport {
    /// The email.
    pub guid: Guid,
    /// Its revision.
    pub edit_sequence: u8,
    /// Where its stripes went.
    pub placement: Placement,
    /// Stripes stored.
    pub stripes_uploaded: usize,
    /// Stripes that could not be stored (allowed by the send policy).
    pub stripes_failed: Vec<StripeFailure>,
    /// Upload retries (attempts beyond the first, over every stripe).
    pub upload_retries: u32,
    /// One outcome per tell, by beacon.
    pub tells: Vec<TellOutcome>,
}

impl SendReport {
    /// Whether every beacon answered 250.
    pub fn all_told(&self) -> bool {
        self.tells.iter().all(|tell| tell.result.is_ok())
    }

    /// Tell retries over every beacon.
    pub fn tell_retries(&self) -> u32 {
        self.tells
            .iter()
            .map(|tell| tell.attempts.saturating_sub(1))
            .sum()
    }
}

/// One stripe to upload.
struct UploadJob<'a> {
    file_type: u8,
    stripe_index: usize,
    raida: RaidaRef,
    data: &'a [u8],
}

impl<C: Connector> Client<C> {
    /// Upload (70): stores `data` as the stripe of (`guid`, `file_type`) on RAIDA
    /// `raida_index`, paid from the identity's upload locker, kept for
    /// [`crate::config::Config::storage_duration`]. Retried; a repeat replaces the stripe.
    pub async fn upload_stripe(
        &self,
        raida_index: u8,
        guid: &Guid,
        file_type: u8,
        data: &[u8],
    ) -> Result<(), ClientError> {
        let raida = self.raida(raida_index)?;
        self.upload_stripe_to(raida, guid, file_type, data)
            .await
            .map(|_| ())
    }

    /// [`Client::upload_stripe`] to a given RAIDA; returns the attempts it took.
    async fn upload_stripe_to(
        &self,
        raida: RaidaRef,
        guid: &Guid,
        file_type: u8,
        data: &[u8],
    ) -> Result<u32, ClientError> {
        if data.len() > STRIPE_SIZE_BYTES_MAX {
            return Err(ClientError::InvalidInput {
                reason: format!(
                    "a stripe of {} bytes exceeds the {STRIPE_SIZE_BYTES_MAX}-byte upload limit",
                    data.len()
                ),
            });
        }
        let plan = self.idempotent_plan(raida, Command::Upload);
        let reply = self
            .request(plan, |challenge| {
                UploadBody {
                    preamble: self.preamble(raida.index, challenge),
                    guid: *guid,
                    locker_code: self.identity().upload_locker_code,
                    file_type,
                    storage_duration: self.config().storage_duration,
                    data: data.to_vec(),
                }
                .to_bytes()
            })
            .await?;
        expect_status_only(plan, &reply)?;
        Ok(reply.attempts)
    }

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
        let recipients: Vec<MailboxId> = recipients
            .iter()
            .map(|entry| MailboxId::new(entry.denomination, entry.serial_number))
            .collect();
        let outcome = TellOutcome {
            beacon,
            recipients,
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

    /// Sends `email`: uploads, then tells. See the module docs. Errors: invalid input and
    /// files too large (before any upload), uploads short of the send policy (no tell sent).
    /// Tell failures do not fail the send: they are in [`SendReport::tells`].
    pub async fn send_email(&self, email: &Email) -> Result<SendReport, ClientError> {
        let data_stripe_count = self.config().data_stripe_count;
        let parity = self.config().parity;
        self.check_email(email, data_stripe_count)?;
        let placement = Placement::from_guid_with_parity(&email.guid, data_stripe_count, parity)?;
        let files = email.files()?;
        let mut stripe_sets: Vec<(u8, Vec<Vec<u8>>)> = Vec::with_capacity(files.len());
        for (file_type, bytes) in &files {
            let stripes = stripe_file(*file_type, bytes, data_stripe_count, parity)?;
            assert_eq!(stripes.len(), placement.raidas().len());
            stripe_sets.push((*file_type, stripes));
        }
        let (stripes_uploaded, upload_retries, stripes_failed) = self
            .upload_all(&email.guid, &placement, &stripe_sets)
            .await?;
        let spec = TellSpec {
            guid: email.guid,
            edit_sequence: email.edit_sequence,
            placement: placement.clone(),
            files: files
                .iter()
                .map(|(file_type, bytes)| manifest_entry(*file_type, bytes))
                .collect(),
            crc32_present: true,
            locker_code: email.locker_code,
        };
        let tells = self.tell_all(&spec, &email.recipients).await?;
        Ok(SendReport {
            guid: email.guid,
            edit_sequence: email.edit_sequence,
            placement,
            stripes_uploaded,
            stripes_failed,
            upload_retries,
            tells,
        })
    }

    fn check_email(
        &self,
        email: &Email,
        data_stripe_count: DataStripeCount,
    ) -> Result<(), ClientError> {
        let invalid = |reason: String| Err(ClientError::InvalidInput { reason });
        if email.recipients.is_empty() {
            return invalid("an email needs at least one recipient".to_string());
        }
        if let Some(bad) = email.recipients.iter().find(|r| !r.mailbox.is_valid()) {
            return invalid(format!(
                "recipient {} has a denomination outside -8..=6",
                bad.mailbox
            ));
        }
        for (file_type, bytes) in email.files()? {
            stripe::check_file_size(bytes.len() as u64, data_stripe_count)
                .map_err(|error| ClientError::FileTooLarge { file_type, error })?;
        }
        Ok(())
    }

    /// Uploads every stripe of every file; returns (stored, retries, failures allowed by the
    /// policy), or the failures when the policy does not allow them.
    async fn upload_all(
        &self,
        guid: &Guid,
        placement: &Placement,
        stripe_sets: &[(u8, Vec<Vec<u8>>)],
    ) -> Result<(usize, u32, Vec<StripeFailure>), ClientError> {
        let mut jobs = Vec::new();
        for (file_type, stripes) in stripe_sets {
            assert_eq!(stripes.len(), placement.raidas().len());
            for (stripe_index, (&raida_index, data)) in
                placement.raidas().iter().zip(stripes).enumerate()
            {
                jobs.push(UploadJob {
                    file_type: *file_type,
                    stripe_index,
                    raida: self.raida(raida_index)?,
                    data,
                });
            }
        }
        let futures: Vec<_> = jobs
            .iter()
            .map(|job| self.upload_stripe_to(job.raida, guid, job.file_type, job.data))
            .collect();
        let results = join_bounded(futures, self.config().concurrency_max).await;
        let mut stored = 0;
        let mut retries = 0;
        let mut failures = Vec::new();
        for (job, result) in jobs.iter().zip(results) {
            match result {
                Ok(attempts) => {
                    stored += 1;
                    retries += attempts - 1;
                    self.observer().stripe_uploaded(&StripeUploaded {
                        email_id: *guid,
                        file_type: job.file_type,
                        stripe_index: job.stripe_index,
                        raida: job.raida,
                        size_bytes: job.data.len(),
                    });
                }
                Err(error) => failures.push(StripeFailure {
                    file_type: job.file_type,
                    stripe_index: job.stripe_index,
                    raida_index: job.raida.index,
                    error,
                }),
            }
        }
        let allowed = self.config().send_policy.missing_per_file_max();
        let too_many = stripe_sets.iter().any(|(file_type, _)| {
            failures
                .iter()
                .filter(|f| f.file_type == *file_type)
                .count()
                > allowed
        });
        if too_many {
            return Err(ClientError::UploadIncomplete {
                email_id: *guid,
                failures,
            });
        }
        assert!(self.config().send_policy != SendPolicy::AllStripes || failures.is_empty());
        Ok((stored, retries, failures))
    }

    /// Sends one tell per beacon (several when a beacon has more than 255 recipients), in
    /// parallel, each retried up to `tell_retries_max` times with fresh timestamps.
    async fn tell_all(
        &self,
        spec: &TellSpec,
        recipients: &[Recipient],
    ) -> Result<Vec<TellOutcome>, ClientError> {
        let mut by_beacon: BTreeMap<u8, Vec<AddressEntry>> = BTreeMap::new();
        let fee_locker = self.identity().fee_locker_code;
        for recipient in recipients {
            by_beacon
                .entry(self.directory().beacon_of(recipient.mailbox))
                .or_default()
                .push(recipient.address_entry(fee_locker));
        }
        // Validate the spec once, before any tell goes out.
        self.build_tell(spec, 0)?;
        let groups: Vec<(u8, &[AddressEntry])> = by_beacon
            .iter()
            .flat_map(|(beacon, entries)| {
                entries
                    .chunks(RECIPIENTS_PER_TELL_MAX)
                    .map(move |chunk| (*beacon, chunk))
            })
            .collect();
        let futures: Vec<_> = groups
            .iter()
            .map(|(beacon, entries)| self.tell_with_retries(spec, *beacon, entries))
            .collect();
        Ok(join_bounded(futures, self.config().concurrency_max).await)
    }

    async fn tell_with_retries(
        &self,
        spec: &TellSpec,
        beacon: u8,
        recipients: &[AddressEntry],
    ) -> TellOutcome {
        let attempts_max = self.config().tell_retries_max.saturating_add(1);
        let mut attempt = 1;
        loop {
            let timestamp_s = wire_timestamp_s(self.clock());
            let record = self
                .build_tell(spec, timestamp_s)
                .expect("the spec was validated before the tells");
            let routing = TellRouting::for_record(&record, timestamp_s);
            let mut outcome = self
                .send_tell_record(beacon, recipients, &record, &routing)
                .await;
            outcome.attempts = attempt;
            let transient = outcome
                .result
                .as_ref()
                .err()
                .is_some_and(ClientError::is_transient);
            if !transient || attempt >= attempts_max {
                return outcome;
            }
            tokio::time::sleep(self.config().backoff_before_retry(attempt)).await;
            attempt += 1;
        }
    }
}

/// Every stripe of one file in stripe index order, data first: N + 1 for XOR parity, N + k
/// for Reed–Solomon (whose data stripes are XOR's). A file too large for N stripes is
/// [`ClientError::FileTooLarge`].
fn stripe_file(
    file_type: u8,
    bytes: &[u8],
    data_stripe_count: DataStripeCount,
    parity: Parity,
) -> Result<Vec<Vec<u8>>, ClientError> {
    let too_large = |error| ClientError::FileTooLarge { file_type, error };
    let stripes: Vec<Vec<u8>> = match parity {
        Parity::Xor => {
            let set = stripe::stripe(bytes, data_stripe_count).map_err(too_large)?;
            set.data.into_iter().chain([set.parity]).collect()
        }
        Parity::ReedSolomon { parity_count } => {
            let set = rs::stripe_rs(bytes, data_stripe_count, usize::from(parity_count)).map_err(
                |error| match error {
                    RsError::Stripe(error) => too_large(error),
                    other => ClientError::InvalidInput {
                        reason: format!("Reed-Solomon striping: {other}"),
                    },
                },
            )?;
            set.data.into_iter().chain(set.parity).collect()
        }
    };
    assert_eq!(stripes.len(), parity.stripe_count(data_stripe_count));
    Ok(stripes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_deterministic_distinct_and_spread() {
        let n = DataStripeCount::DEFAULT;
        let a = Placement::from_guid(&[1; 16], n).expect("fits");
        assert_eq!(a, Placement::from_guid(&[1; 16], n).expect("fits"));
        assert_eq!(a.raidas().len(), 8);
        let mut sorted = a.raidas().to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        assert!(sorted.iter().all(|r| usize::from(*r) < RAIDA_COUNT));
        assert_eq!(a.data_stripe_count(), n);
        // Over many GUIDs every RAIDA gets used.
        let mut used = [0usize; RAIDA_COUNT];
        for seed in 0..200u8 {
            let mut guid = [0u8; 16];
            guid[0] = seed;
            guid[15] = seed.wrapping_mul(31);
            for raida in Placement::from_guid(&guid, n).expect("fits").raidas() {
                used[usize::from(*raida)] += 1;
            }
        }
        assert!(used.iter().all(|count| *count > 20), "{used:?}");
        // The widest placeable width uses every RAIDA.
        let all =
            Placement::from_guid(&[9; 16], DataStripeCount::new(24).expect("valid")).expect("fits");
        assert_eq!(all.raidas().len(), 25);
    }

    #[test]
    fn placement_rule_matches_the_docs() {
        let guid = [0x5A; 16];
        let placement =
            Placement::from_guid(&guid, DataStripeCount::new(2).expect("valid")).expect("fits");
        let mut ranked: Vec<(u64, u8)> = (0..25u8).map(|r| (placement_rank(&guid, r), r)).collect();
        ranked.sort();
        let expected: Vec<u8> = ranked.iter().take(3).map(|(_, r)| *r).collect();
        assert_eq!(placement.raidas(), expected.as_slice());
    }

    #[test]
    fn placements_spread_over_many_raida_sets() {
        // CRC-32 ranking gave only 32 distinct 8-RAIDA sets over 20,000 GUIDs; a
        // non-linear rank must give thousands.
        let sets: std::collections::BTreeSet<Vec<u8>> = (0u32..2_000)
            .map(|i| {
                let mut guid = [0u8; 16];
                guid[..4].copy_from_slice(&i.to_be_bytes());
                let placement =
                    Placement::from_guid(&guid, DataStripeCount::new(7).expect("valid"))
                        .expect("fits");
                let mut raidas = placement.raidas().to_vec();
                raidas.sort_unstable();
                raidas
            })
            .collect();
        assert!(sets.len() > 1_000, "only {} distinct sets", sets.len());
    }

    #[test]
    fn reed_solomon_placement_extends_the_xor_one() {
        let n = DataStripeCount::DEFAULT;
        let guid = [0x33; 16];
        let xor = Placement::from_guid(&guid, n).expect("fits");
        let rs =
            Placement::from_guid_with_parity(&guid, n, Parity::ReedSolomon { parity_count: 3 })
                .expect("fits");
        assert_eq!(rs.raidas().len(), 10);
        assert_eq!(&rs.raidas()[..8], xor.raidas());
        assert_eq!(rs.data_stripe_count(), n);
        assert_eq!(rs.parity().parity_algo(), 1);
        let too_wide = Placement::from_guid_with_parity(
            &guid,
            DataStripeCount::new(23).expect("valid"),
            Parity::ReedSolomon { parity_count: 3 },
        );
        assert!(too_wide.is_err());
        assert!(
            Placement::with_parity(vec![0, 1], Parity::ReedSolomon { parity_count: 2 }).is_err()
        );
        assert!(
            Placement::with_parity(vec![0, 1, 2], Parity::ReedSolomon { parity_count: 2 }).is_ok()
        );
        let rs_set = stripe_file(
            1,
            b"hello world",
            n,
            Parity::ReedSolomon { parity_count: 2 },
        )
        .expect("stripes");
        let xor_set = stripe_file(1, b"hello world", n, Parity::Xor).expect("stripes");
        assert_eq!(rs_set.len(), 9);
        assert_eq!(&rs_set[..8], xor_set.as_slice());
    }

    #[test]
    fn explicit_placement_checks() {
        assert!(Placement::new(vec![0, 1]).is_ok());
        assert!(Placement::new(vec![0]).is_err());
        assert!(Placement::new(vec![0, 0]).is_err());
        assert!(Placement::new(vec![0, 25]).is_err());
        assert!(Placement::new((0..26).collect()).is_err());
    }

    #[test]
    fn email_files_are_body_then_attachments() {
        let mut email = Email::new([0; 16], b"body".to_vec());
        email.attachments = vec![b"a".to_vec(), b"b".to_vec()];
        let types: Vec<u8> = email.files().unwrap().iter().map(|(t, _)| *t).collect();
        assert_eq!(types, vec![0x01, 0x0A, 0x0B]);
        email.attachments = vec![Vec::new(); ATTACHMENTS_PER_EMAIL_MAX];
        assert_eq!(email.files().unwrap().last().map(|(t, _)| *t), Some(0xFF));
        email.attachments.push(Vec::new());
        assert!(email.files().is_err());
        let body = manifest_entry(0x01, b"hello");
        assert_eq!(body.file_flags, FILE_FLAG_BODY);
        assert_eq!(body.original_size, 5);
        assert_eq!(body.crc32, crc32fast::hash(b"hello"));
        assert_eq!(manifest_entry(0x0A, b"").file_flags, FILE_FLAG_ATTACHMENT);
    }
}
