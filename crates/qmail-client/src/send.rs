//! Sending an email: stripe every file, upload every stripe to its storage RAIDA, then tell
//! each recipient's beacon — in one call ([`Client::send_email`]) or step by step.
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
//!    data stripes are the same), placed on N + 1 or N + k distinct RAIDAs ([`placement`]),
//!    and upload all of them under the email's GUID, with at most
//!    [`Config::concurrency_max`] uploads in flight, each retried on a fresh connection.
//! 3. Only when every stripe is stored — or [`SendPolicy::AllowOneMissingPerFile`] accepts
//!    one missing per file — send one tell per beacon ([`tell`] builds the record), naming
//!    the recipients that share that beacon (To, CC, BCC and Mass entries alike; at most 255
//!    per tell).
//!
//! # The steps
//!
//! [`Client::send_email`] is exactly these public steps, in this order:
//!
//! ```text
//!  prepare(&Email)            -> Result<PreparedEmail, ClientError>   step 1 and the striping:
//!                                placement (width and parity of the config), every stripe,
//!                                the tell spec (validated), recipients grouped by beacon;
//!                                nothing goes on the wire
//!  upload_all(&PreparedEmail) -> Uploads                              step 2: one StripeUpload
//!                                (RAIDA, attempts or error) per stripe, in file then
//!                                stripe index order
//!  Uploads::allowed_by(policy)-> Result<Vec<StripeFailure>, _>        the send policy: the
//!                                failures it tolerates, or UploadIncomplete (no tell)
//!  tell_all(&PreparedEmail)   -> Vec<TellOutcome>                     step 3: one outcome per
//!                                tell (beacon, recipients, record bytes, status)
//! ```
//!
//! A caller may run them in another order without re-implementing the client: the
//! simulator's adversary tells before it uploads (`tell_all` then `upload_all`). The beacon
//! accepts such a tell (it does not look for the stripes, tell page "Points of confusion"),
//! and the recipient's download fails until the uploads land.
//!
//! [`Config::data_stripe_count`]: crate::config::Config::data_stripe_count
//! [`Config::parity`]: crate::config::Config::parity
//! [`Config::concurrency_max`]: crate::config::Config::concurrency_max

pub mod placement;
pub mod tell;

use std::collections::BTreeMap;

use qmail_wire::body::UploadBody;
use qmail_wire::header::Command;
use qmail_wire::limits::STRIPE_SIZE_BYTES_MAX;
use qmail_wire::tell::{AddressEntry, RecipientKind, FILE_TYPE_BODY};
use qmail_wire::Codec;

use crate::client::{expect_status_only, Client};
use crate::clock::wire_timestamp_s;
use crate::config::{Parity, SendPolicy};
use crate::error::{ClientError, RaidaRef, StripeFailure};
use crate::identity::{Guid, LockerCode, MailboxId};
use crate::join::join_bounded;
use crate::limits::{
    ATTACHMENTS_PER_EMAIL_MAX, FILE_TYPE_ATTACHMENT_FIRST, RECIPIENTS_PER_TELL_MAX,
};
use crate::observer::StripeUploaded;
use crate::probes;
use crate::rs::{self, RsError};
use crate::stripe::{self, DataStripeCount};
use crate::transport::Connector;

pub use self::placement::{placement_rank, Placement};
pub use self::tell::{manifest_entry, TellOutcome, TellRouting, TellSpec};

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

/// One file of a prepared email: its type and its stripes in stripe index order (data first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedFile {
    /// 0x01 for the body, 0x0A.. for the attachments.
    pub file_type: u8,
    /// N data stripes, then the parity stripes; one per RAIDA of the placement.
    pub stripes: Vec<Vec<u8>>,
}

/// The recipients one tell names, and their beacon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TellGroup {
    /// The beacon RAIDA the tell goes to.
    pub beacon: u8,
    /// 1..=255 address entries, in the email's recipient order.
    pub recipients: Vec<AddressEntry>,
}

/// An email ready to go out: everything [`Client::upload_all`] and [`Client::tell_all`]
/// need, computed once by [`Client::prepare`]. Only `prepare` builds one, so its parts agree:
/// every file has one stripe per RAIDA of the placement, and the tell spec was validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedEmail {
    guid: Guid,
    edit_sequence: u8,
    placement: Placement,
    files: Vec<PreparedFile>,
    tell: TellSpec,
    tell_groups: Vec<TellGroup>,
}

impl PreparedEmail {
    /// The email GUID.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// File-header byte 57.
    pub fn edit_sequence(&self) -> u8 {
        self.edit_sequence
    }

    /// Where every file's stripes go (width and parity of the client's config).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Every file, body first, with its stripes.
    pub fn files(&self) -> &[PreparedFile] {
        &self.files
    }

    /// The tell record of every tell, but its timestamp.
    pub fn tell(&self) -> &TellSpec {
        &self.tell
    }

    /// The tells to send: recipients grouped by beacon, in beacon order.
    pub fn tell_groups(&self) -> &[TellGroup] {
        &self.tell_groups
    }
}

/// One stripe's upload, finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeUpload {
    /// The file.
    pub file_type: u8,
    /// Stripe index 0..M.
    pub stripe_index: usize,
    /// The RAIDA that should hold it.
    pub raida_index: u8,
    /// The stripe's size.
    pub size_bytes: usize,
    /// The attempts it took when stored, or why it was not.
    pub result: Result<u32, ClientError>,
}

/// What [`Client::upload_all`] did: one [`StripeUpload`] per stripe, in file then stripe
/// index order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploads {
    /// The email.
    pub email_id: Guid,
    /// Every stripe.
    pub stripes: Vec<StripeUpload>,
}

impl Uploads {
    /// Stripes stored.
    pub fn stored_count(&self) -> usize {
        self.stripes
            .iter()
            .filter(|stripe| stripe.result.is_ok())
            .count()
    }

    /// Whether every stripe was stored.
    pub fn all_stored(&self) -> bool {
        self.stripes.iter().all(|stripe| stripe.result.is_ok())
    }

    /// Attempts beyond the first, over the stored stripes.
    pub fn retry_count(&self) -> u32 {
        self.stripes
            .iter()
            .filter_map(|stripe| stripe.result.as_ref().ok())
            .map(|attempts| attempts.saturating_sub(1))
            .fold(0, u32::saturating_add)
    }

    /// The stripes that were not stored.
    pub fn failures(&self) -> Vec<StripeFailure> {
        self.stripes
            .iter()
            .filter_map(|stripe| {
                let error = stripe.result.as_ref().err()?;
                Some(StripeFailure {
                    file_type: stripe.file_type,
                    stripe_index: stripe.stripe_index,
                    raida_index: stripe.raida_index,
                    error: error.clone(),
                })
            })
            .collect()
    }

    /// The send policy's judgment: the failures it tolerates (none for
    /// [`SendPolicy::AllStripes`]), or [`ClientError::UploadIncomplete`] when some file lacks
    /// more stripes than it allows (then no tell may go out).
    pub fn allowed_by(&self, policy: SendPolicy) -> Result<Vec<StripeFailure>, ClientError> {
        let failures = self.failures();
        let mut missing_per_file: BTreeMap<u8, usize> = BTreeMap::new();
        for failure in &failures {
            *missing_per_file.entry(failure.file_type).or_default() += 1;
        }
        let allowed = policy.missing_per_file_max();
        if missing_per_file.values().any(|missing| *missing > allowed) {
            return Err(ClientError::UploadIncomplete {
                email_id: self.email_id,
                failures,
            });
        }
        assert!(policy != SendPolicy::AllStripes || failures.is_empty());
        Ok(failures)
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

    /// Step 1 (see the module docs): checks `email` offline, places its stripes for the
    /// config's width and parity, stripes every file, builds and validates the tell spec and
    /// groups the recipients by beacon. Errors: invalid input, a file too large for the width
    /// (naming the width that fits), a placement wider than the 25 RAIDAs.
    pub fn prepare(&self, email: &Email) -> Result<PreparedEmail, ClientError> {
        let data_stripe_count = self.config().data_stripe_count;
        let parity = self.config().parity;
        self.check_email(email, data_stripe_count)?;
        let placement = Placement::from_guid_with_parity(&email.guid, data_stripe_count, parity)?;
        let files = email.files()?;
        let mut prepared_files = Vec::with_capacity(files.len());
        for (file_type, bytes) in &files {
            let stripes = stripe_file(*file_type, bytes, data_stripe_count, parity)?;
            assert_eq!(stripes.len(), placement.raidas().len());
            prepared_files.push(PreparedFile {
                file_type: *file_type,
                stripes,
            });
        }
        let tell = TellSpec {
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
        // Validate the spec once, before anything goes out.
        self.build_tell(&tell, 0)?;
        Ok(PreparedEmail {
            guid: email.guid,
            edit_sequence: email.edit_sequence,
            placement,
            files: prepared_files,
            tell,
            tell_groups: self.tell_groups(&email.recipients),
        })
    }

    /// The recipients grouped by beacon (in beacon order), at most 255 per tell.
    fn tell_groups(&self, recipients: &[Recipient]) -> Vec<TellGroup> {
        let mut by_beacon: BTreeMap<u8, Vec<AddressEntry>> = BTreeMap::new();
        let fee_locker = self.identity().fee_locker_code;
        for recipient in recipients {
            by_beacon
                .entry(self.directory().beacon_of(recipient.mailbox))
                .or_default()
                .push(recipient.address_entry(fee_locker));
        }
        by_beacon
            .iter()
            .flat_map(|(beacon, entries)| {
                entries
                    .chunks(RECIPIENTS_PER_TELL_MAX)
                    .map(move |chunk| TellGroup {
                        beacon: *beacon,
                        recipients: chunk.to_vec(),
                    })
            })
            .collect()
    }

    /// Step 2: uploads every stripe of every file of `prepared` to its RAIDA, at most
    /// `concurrency_max` in flight, each retried; reports each stored stripe to the observer.
    /// Never fails as a whole: each stripe's outcome is in [`Uploads::stripes`].
    pub async fn upload_all(&self, prepared: &PreparedEmail) -> Uploads {
        let guid = prepared.guid;
        let raidas = prepared.placement.raidas();
        let mut jobs = Vec::new();
        for file in &prepared.files {
            assert_eq!(file.stripes.len(), raidas.len());
            for (stripe_index, (&raida_index, data)) in raidas.iter().zip(&file.stripes).enumerate()
            {
                jobs.push((file.file_type, stripe_index, raida_index, data.as_slice()));
            }
        }
        let futures: Vec<_> = jobs
            .iter()
            .map(|&(file_type, _, raida_index, data)| {
                Box::pin(async move {
                    let raida = self.raida(raida_index)?;
                    let attempts = self.upload_stripe_to(raida, &guid, file_type, data).await?;
                    Ok((raida, attempts))
                })
            })
            .collect();
        let results: Vec<Result<(RaidaRef, u32), ClientError>> =
            join_bounded(futures, self.config().concurrency_max).await;
        let mut stripes = Vec::with_capacity(jobs.len());
        for (&(file_type, stripe_index, raida_index, data), result) in jobs.iter().zip(results) {
            if let Ok((raida, _)) = &result {
                self.observer().stripe_uploaded(&StripeUploaded {
                    email_id: guid,
                    file_type,
                    stripe_index,
                    raida: *raida,
                    size_bytes: data.len(),
                });
            }
            stripes.push(StripeUpload {
                file_type,
                stripe_index,
                raida_index,
                size_bytes: data.len(),
                result: result.map(|(_, attempts)| attempts),
            });
        }
        Uploads {
            email_id: guid,
            stripes,
        }
    }

    /// Step 3: sends one tell per [`TellGroup`] of `prepared`, in parallel (at most
    /// `concurrency_max`), each retried up to `tell_retries_max` times with fresh timestamps.
    /// One outcome per group, in group order.
    pub async fn tell_all(&self, prepared: &PreparedEmail) -> Vec<TellOutcome> {
        let futures: Vec<_> = prepared
            .tell_groups
            .iter()
            .map(|group| {
                Box::pin(self.tell_with_retries(&prepared.tell, group.beacon, &group.recipients))
            })
            .collect();
        join_bounded(futures, self.config().concurrency_max).await
    }

    /// Sends `email`: [`Client::prepare`], [`Client::upload_all`], the send policy
    /// ([`Uploads::allowed_by`]), [`Client::tell_all`]. See the module docs. Errors: invalid
    /// input and files too large (before any upload), uploads short of the send policy (no
    /// tell sent). Tell failures do not fail the send: they are in [`SendReport::tells`].
    pub async fn send_email(&self, email: &Email) -> Result<SendReport, ClientError> {
        let prepared = self.prepare(email)?;
        let uploads = self.upload_all(&prepared).await;
        let stripes_failed = uploads
            .allowed_by(self.config().send_policy)
            .inspect_err(|_| probe::hit(&probes::SEND_UPLOAD_INCOMPLETE))?;
        if !stripes_failed.is_empty() {
            probe::hit(&probes::SEND_STRIPE_MISSING_ALLOWED);
        }
        let tells = self.tell_all(&prepared).await;
        Ok(SendReport {
            guid: prepared.guid,
            edit_sequence: prepared.edit_sequence,
            stripes_uploaded: uploads.stored_count(),
            upload_retries: uploads.retry_count(),
            placement: prepared.placement,
            stripes_failed,
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

    /// One tell to `beacon`, retried while the failure is transient and attempts remain; the
    /// record and its timestamps are built afresh for every attempt.
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
            let record = match self.build_tell(spec, timestamp_s) {
                Ok(record) => record,
                Err(error) => return TellOutcome::refused(beacon, recipients, attempt, error),
            };
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
                if transient {
                    probe::hit(&probes::SEND_TELL_GIVE_UP);
                } else if outcome.result.is_err() {
                    probe::hit(&probes::SEND_TELL_FAILED);
                }
                return outcome;
            }
            probe::hit(&probes::SEND_TELL_RETRY);
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

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::tell::{FILE_FLAG_ATTACHMENT, FILE_FLAG_BODY};

    #[test]
    fn reed_solomon_stripes_extend_the_xor_ones() {
        let n = DataStripeCount::DEFAULT;
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
