//! `exact_reassembly`: a file a client accepts is the file that was sent; one lost stripe
//! never makes a download fail.
//!
//! - Every `DownloadDone` must match, in size and CRC-32, the file of that type in some sent
//!   revision of the email (a revision re-uploads under the same GUID, so any revision's
//!   bytes are a correct answer). Wrong bytes are never excused, however many stripes the
//!   world destroyed.
//! - A `DownloadFailed` is a violation when at most one stripe of that file had been lost or
//!   corrupted by then, unless the failure came during the safety phase after a network,
//!   crash or tell-before-upload fault (a storage RAIDA may simply have been unreachable, or
//!   the stripes not there yet). A download attempt that began in the safety phase can
//!   end just after the heal, so that excuse extends `HEAL_DOWNLOAD_GRACE_S` past the heal;
//!   a real failure repeats on every retry and is caught after that. With two or more
//!   stripes destroyed a failure is expected.
//!   A failure of an older revision is never a violation when a newer revision of the email
//!   was sent, or had begun uploading by the time of the failure (`UploadStarted`, whether
//!   or not those uploads completed): a revision re-uploads every stripe under the same
//!   GUID, so from the newer revision's first upload on the older record's files are gone
//!   (its CRC no longer matches).
//! - A revision told before its uploads (the `tell_before_upload` fault) whose uploads never
//!   completed (no `EmailSent` for it) never had every stripe stored: its failures are that
//!   fault's, at any time, and its accepted files are checked against the manifest its
//!   tells carried (size and CRC-32 of the sender's bytes), since no `EmailSent` lists them.

use std::collections::BTreeMap;

use qmail_wire::tell::TellRecord;
use qmail_wire::{Codec, Reader};

use super::{CheckContext, Faults, Invariant, Revisions, Violation};
use crate::history::{EmailId, EventKind, FaultKind, FileSent, History, Kind};
use crate::limits::{HEAL_DOWNLOAD_GRACE_S, US_PER_S};

/// Checks `exact_reassembly`.
pub(crate) fn check_with(
    history: &History,
    _ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let healed_at = history.healed_at_us();
    let sent = sent_files_by_email(history);
    let disruption = Disruptions::new(faults);
    let revisions = Revisions::new(history);
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::DownloadDone, Kind::DownloadFailed]) {
        let detail = match &event.kind {
            EventKind::DownloadDone {
                mailbox,
                email_id,
                file_type,
                size_bytes,
                crc32,
                ..
            } => wrong_bytes(sent.get(email_id), *file_type, *size_bytes, *crc32).map(|why| {
                format!("mailbox {mailbox} accepted email {email_id} file {file_type:#04x}: {why}")
            }),
            EventKind::DownloadFailed {
                mailbox,
                email_id,
                edit_sequence,
                file_type,
                reason,
                ..
            } if !revisions.superseded(*email_id, *edit_sequence, event.at_sim_us) => {
                let damaged = faults.stripes_damaged(*email_id, *file_type, event.at_sim_us);
                let grace_us = u64::from(HEAL_DOWNLOAD_GRACE_S) * US_PER_S;
                let in_safety = healed_at.is_none_or(|at| event.at_sim_us < at + grace_us);
                let excused = (in_safety && disruption.before(*email_id, event.at_sim_us))
                    || disruption.never_uploaded(
                        history,
                        *email_id,
                        *edit_sequence,
                        event.at_sim_us,
                    );
                (damaged <= 1 && !excused).then(|| {
                    format!(
                        "mailbox {mailbox} failed email {email_id} file {file_type:#04x} \
                         with {damaged} stripe(s) damaged: {reason}"
                    )
                })
            }
            _ => None,
        };
        if let Some(detail) = detail {
            violations.push(Violation {
                invariant: Invariant::ExactReassembly,
                at_sim_us: event.at_sim_us,
                detail,
                caused_by: None,
            });
        }
    }
    violations
}

/// Every sent file of every revision, by email; for a revision told before its uploads
/// that never completed, the files its tells' manifests name.
fn sent_files_by_email(history: &History) -> BTreeMap<EmailId, Vec<FileSent>> {
    let mut sent: BTreeMap<EmailId, Vec<FileSent>> = BTreeMap::new();
    let told_first = told_before_upload(history);
    for event in history.of_kinds(&[Kind::EmailSent, Kind::TellSent]) {
        match &event.kind {
            EventKind::EmailSent {
                email_id, files, ..
            } => sent
                .entry(*email_id)
                .or_default()
                .extend(files.iter().copied()),
            EventKind::TellSent {
                email_id,
                edit_sequence,
                record,
                ..
            } if told_first.contains_key(email_id)
                && !announced(history, *email_id, *edit_sequence) =>
            {
                sent.entry(*email_id)
                    .or_default()
                    .extend(manifest_files(record.as_slice()));
            }
            _ => {}
        }
    }
    sent
}

/// The first `tell_before_upload` fault per email.
fn told_before_upload(history: &History) -> BTreeMap<EmailId, u64> {
    let mut first = BTreeMap::new();
    for (event, fault, _) in history.faults() {
        if let FaultKind::TellBeforeUpload { email_id } = fault {
            first.entry(*email_id).or_insert(event.at_sim_us);
        }
    }
    first
}

/// Whether `EmailSent` was recorded for this revision (its uploads completed).
fn announced(history: &History, email_id: EmailId, edit_sequence: u8) -> bool {
    history
        .sent_revisions(email_id)
        .any(|(sent, _)| sent == edit_sequence)
}

/// The files a tell record's manifest names (none when the record does not decode).
fn manifest_files(record: &[u8]) -> Vec<FileSent> {
    let mut reader = Reader::new(record);
    let Ok(record) = TellRecord::read(&mut reader) else {
        return Vec::new();
    };
    record
        .manifest
        .iter()
        .map(|entry| FileSent {
            file_type: entry.file_type,
            size_bytes: entry.original_size,
            crc32: entry.crc32,
        })
        .collect()
}

/// Why a downloaded file is not any sent revision's file, or `None` when it is one.
fn wrong_bytes(
    sent: Option<&Vec<FileSent>>,
    file_type: u8,
    size_bytes: u64,
    crc32: u32,
) -> Option<String> {
    let candidates: Vec<(u64, u32)> = sent
        .into_iter()
        .flatten()
        .filter(|file| file.file_type == file_type)
        .map(|file| (file.size_bytes, file.crc32))
        .collect();
    if candidates.is_empty() {
        return Some("no sent revision of the email has this file".to_string());
    }
    if candidates.contains(&(size_bytes, crc32)) {
        return None;
    }
    Some(format!(
        "got {size_bytes} bytes crc {crc32:08x}, sent (size, crc) {}",
        candidates
            .iter()
            .map(|(size, crc)| format!("({size}, {crc:08x})"))
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

/// When faults that can make a correct client fail a download for a while first fired.
struct Disruptions {
    /// First network, crash or restart fault.
    first_any_us: Option<u64>,
    /// First tell-before-upload fault per email.
    tell_before_upload_us: BTreeMap<EmailId, u64>,
}

impl Disruptions {
    fn new(faults: &Faults<'_>) -> Self {
        let mut first_any_us = None;
        let mut tell_before_upload_us = BTreeMap::new();
        for (at, fault, _) in faults.iter() {
            if fault.can_destroy_tell() && first_any_us.is_none() {
                first_any_us = Some(*at);
            }
            if let FaultKind::TellBeforeUpload { email_id } = fault {
                tell_before_upload_us.entry(*email_id).or_insert(*at);
            }
        }
        Disruptions {
            first_any_us,
            tell_before_upload_us,
        }
    }

    /// Whether this revision was told before its uploads (fault fired by `until_us`) and
    /// the uploads never completed: some stripes were never stored, at any time.
    fn never_uploaded(
        &self,
        history: &History,
        email_id: EmailId,
        edit_sequence: u8,
        until_us: u64,
    ) -> bool {
        self.tell_before_upload_us
            .get(&email_id)
            .is_some_and(|at| *at <= until_us)
            && !announced(history, email_id, edit_sequence)
    }

    fn before(&self, email_id: EmailId, until_us: u64) -> bool {
        self.first_any_us.is_some_and(|at| at <= until_us)
            || self
                .tell_before_upload_us
                .get(&email_id)
                .is_some_and(|at| *at <= until_us)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::Host;

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(
            Invariant::ExactReassembly,
            history,
            &CheckContext::default(),
        )
    }

    fn failed(file_type: u8) -> EventKind {
        EventKind::DownloadFailed {
            mailbox: BOB,
            device: 0,
            email_id: email(1),
            edit_sequence: 0,
            file_type,
            reason: "crc mismatch".into(),
        }
    }

    fn lost(stripe_index: u8) -> FaultKind {
        FaultKind::StripeLost {
            email_id: email(1),
            file_type: 1,
            stripe_index,
        }
    }

    #[test]
    fn clean_history_passes_with_any_revision() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .email_sent(email(1), 1, &[BOB])
            .download(BOB, email(1), 0)
            .download(BOB, email(1), 1)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn wrong_bytes_are_caught_even_with_stripes_lost() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(lost(0), &[Host::Raida(0)])
            .fault(lost(1), &[Host::Raida(1)])
            .download_file(BOB, email(1), 1, 1000, 0xDEAD_BEEF)
            .download_file(BOB, email(1), 0x0B, 10, 0)
            .download_file(BOB, email(9), 1, 1000, 0xAAAA_0000)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].detail.contains("crc deadbeef"));
        assert!(violations[1].detail.contains("no sent revision"));
    }

    /// Storm seed 1 after seed 0 (before isolation): revision 1 of an email overwrote
    /// revision 0's stripes, then gave up (an upload failed three times), so no `EmailSent`
    /// for it exists; every later download of revision 0 failed on CRC. Those failures are
    /// the newer revision's doing once its uploads began, not before.
    #[test]
    fn an_abandoned_newer_revision_excuses_failures_only_after_its_uploads_began() {
        let abandoned_revision = |download_at_s: u64| {
            Builder::new()
                .email_sent(email(1), 0, &[BOB])
                .at(10 * US_PER_S)
                .push(
                    Host::Client(0),
                    EventKind::UploadStarted {
                        email_id: email(1),
                        sender: ALICE,
                        edit_sequence: 1,
                    },
                )
                .healed()
                .at(download_at_s * US_PER_S)
                .push(Host::Client(1), failed(1))
                .build()
        };
        let late = u64::from(HEAL_DOWNLOAD_GRACE_S) + 20;
        assert_eq!(run(&abandoned_revision(late)), vec![]);
        let without_the_revision = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .healed()
            .at(late * US_PER_S)
            .push(Host::Client(1), failed(1))
            .build();
        assert_eq!(run(&without_the_revision).len(), 1);
        let failed_before_the_revision = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .at(5 * US_PER_S)
            .push(Host::Client(1), failed(1))
            .at(10 * US_PER_S)
            .push(
                Host::Client(0),
                EventKind::UploadStarted {
                    email_id: email(1),
                    sender: ALICE,
                    edit_sequence: 1,
                },
            )
            .build();
        assert_eq!(run(&failed_before_the_revision).len(), 1);
    }

    #[test]
    fn a_failure_with_one_stripe_lost_is_caught_after_healing() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(lost(3), &[Host::Raida(3)])
            .healed()
            .at(u64::from(HEAL_DOWNLOAD_GRACE_S + 1) * US_PER_S)
            .push(Host::Client(1), failed(1))
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("1 stripe(s) damaged"));
    }

    #[test]
    fn failures_with_two_stripes_lost_or_during_a_partition_are_fine() {
        let two_lost = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(lost(3), &[Host::Raida(3)])
            .fault(lost(4), &[Host::Raida(4)])
            .healed()
            .push(Host::Client(1), failed(1))
            .build();
        assert_eq!(run(&two_lost), vec![]);
        let partitioned = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
            .push(Host::Client(1), failed(0x0A))
            .build();
        assert_eq!(run(&partitioned), vec![]);
        // An attempt begun during the partition may fail just after the heal.
        let straddling = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
            .healed()
            .push(Host::Client(1), failed(0x0A))
            .build();
        assert_eq!(run(&straddling), vec![]);
        // Without any fault, a failure in the safety phase is still a bug.
        let no_fault = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .push(Host::Client(1), failed(0x0A))
            .build();
        assert_eq!(run(&no_fault).len(), 1);
    }

    #[test]
    fn an_older_revision_overwritten_by_a_newer_one_may_fail() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .push(Host::Client(1), failed(1))
            .email_sent(email(1), 1, &[BOB])
            .healed()
            .push(Host::Client(1), failed(0x0A))
            .build();
        assert_eq!(run(&history), vec![]);
        let newest_fails = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .email_sent(email(1), 1, &[BOB])
            .healed()
            .push(
                Host::Client(1),
                EventKind::DownloadFailed {
                    mailbox: BOB,
                    device: 0,
                    email_id: email(1),
                    edit_sequence: 1,
                    file_type: 1,
                    reason: "crc mismatch".into(),
                },
            )
            .build();
        assert_eq!(run(&newest_fails).len(), 1);
    }

    /// A tell-before-upload revision whose uploads never completed (no `EmailSent`).
    fn told_not_uploaded(file_crc32: u32) -> Builder {
        use qmail_wire::tell::{FileHeader, ManifestEntry, ServerEntry};
        let header = FileHeader {
            email_id: email(1).0,
            ..FileHeader::default()
        };
        let manifest = vec![ManifestEntry {
            file_type: 1,
            original_size: 1000,
            crc32: file_crc32,
            ..ManifestEntry::default()
        }];
        let told = TellRecord::new_v1(header, vec![ServerEntry::default(); 8], manifest);
        let mut record = Vec::new();
        told.encode(&mut record);
        Builder::new()
            .fault(
                FaultKind::TellBeforeUpload { email_id: email(1) },
                &[Host::Client(0)],
            )
            .push(
                Host::Client(0),
                EventKind::TellSent {
                    email_id: email(1),
                    edit_sequence: 0,
                    sender: ALICE,
                    beacon: BEACON,
                    recipients: vec![BOB],
                    record: record.into(),
                    status: Some(250),
                    routing_timestamp_s: 0,
                    header_timestamp_s: 0,
                    sender_clock_unix_s: 0,
                    beacon_clock_unix_s: None,
                },
            )
    }

    #[test]
    fn a_revision_told_before_uploads_that_never_completed_may_fail_after_healing() {
        let late = u64::from(HEAL_DOWNLOAD_GRACE_S + 1) * US_PER_S;
        let history = told_not_uploaded(0x1234_5678)
            .healed()
            .at(late)
            .push(Host::Client(1), failed(1))
            .build();
        assert_eq!(run(&history), vec![]);
        // The same failure with the uploads announced done is a bug.
        let uploaded = told_not_uploaded(0x1234_5678)
            .email_sent(email(1), 0, &[BOB])
            .healed()
            .at(late)
            .push(Host::Client(1), failed(1))
            .build();
        assert_eq!(run(&uploaded).len(), 1);
    }

    #[test]
    fn a_never_uploaded_revision_is_checked_against_its_told_manifest() {
        let right = told_not_uploaded(0x1234_5678)
            .download_file(BOB, email(1), 1, 1000, 0x1234_5678)
            .build();
        assert_eq!(run(&right), vec![]);
        let wrong = told_not_uploaded(0x1234_5678)
            .download_file(BOB, email(1), 1, 1000, 0xDEAD_BEEF)
            .build();
        let violations = run(&wrong);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("crc deadbeef"));
    }
}
