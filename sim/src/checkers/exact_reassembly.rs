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
//!   was sent: a revision re-uploads every stripe under the same GUID, so from the newer
//!   revision's first upload on the older record's files are gone (its CRC no longer matches).

use std::collections::BTreeMap;

use super::{CheckContext, Faults, Invariant, Violation};
use crate::history::{EmailId, EventKind, FaultKind, FileSent, History};
use crate::limits::{HEAL_DOWNLOAD_GRACE_S, US_PER_S};

/// Checks `exact_reassembly`.
pub fn check(history: &History, _ctx: &CheckContext) -> Vec<Violation> {
    let healed_at = history.healed_at_us();
    let sent = sent_files_by_email(history);
    let faults = Faults::new(history);
    let disruption = Disruptions::new(&faults);
    let mut violations = Vec::new();
    for event in history.events() {
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
            } if !superseded(history, *email_id, *edit_sequence) => {
                let damaged = faults.stripes_damaged(*email_id, *file_type, event.at_sim_us);
                let grace_us = u64::from(HEAL_DOWNLOAD_GRACE_S) * US_PER_S;
                let in_safety = healed_at.is_none_or(|at| event.at_sim_us < at + grace_us);
                let excused = in_safety && disruption.before(*email_id, event.at_sim_us);
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

/// Every sent file of every revision, by email.
fn sent_files_by_email(history: &History) -> BTreeMap<EmailId, Vec<FileSent>> {
    let mut sent: BTreeMap<EmailId, Vec<FileSent>> = BTreeMap::new();
    for event in history.events() {
        if let EventKind::EmailSent {
            email_id, files, ..
        } = &event.kind
        {
            sent.entry(*email_id)
                .or_default()
                .extend(files.iter().copied());
        }
    }
    sent
}

/// Whether a revision newer than `edit_sequence` of the email was sent (at any time).
fn superseded(history: &History, email_id: EmailId, edit_sequence: u8) -> bool {
    history
        .sent_revisions(email_id)
        .any(|(sent, _)| sent > edit_sequence)
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
        check(history, &CheckContext::default())
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
}
