//! `repair_justified`: a client rebuilds a stripe from parity (a missing stripe, or a lying
//! one found by the file's CRC) only when something could have taken that stripe away.
//!
//! A healthy network and disk never make a stripe missing or wrong, so a `DownloadDone` with
//! `rebuilt_stripe` set must be explained by one of:
//! - a stripe fault (lost or corrupted) on that email's file, at or before the download;
//! - the email's `tell_before_upload` fault (stripes not stored yet), or two revisions of it
//!   uploading (a newer one overwrites stripes under the same GUID);
//! - a crash of a RAIDA holding a stripe of the email (per the records the mailbox
//!   received; any RAIDA when none was received), at or before the download: it may have
//!   lost an unsynced stripe, or be down;
//! - a storage fault (I/O error, flipped read, full disk, torn write) on a file of that email
//!   on the RAIDA holding the stripe (any RAIDA when the holder is unknown), at or before the
//!   download: an upload refused, or a read that failed twice;
//! - a network fault (link loss, partition) not ended [`HEAL_DOWNLOAD_GRACE_S`] before the
//!   download, or in effect while the email was being uploaded.
//!
//! A client that rebuilds on a healthy path (a retry that gives up too early, an index
//! mix-up in reassembly, a stripe read past its end) is caught here even when the rebuilt
//! file is right.

use std::collections::BTreeMap;

use qmail_wire::tell::TellRecord;
use qmail_wire::Codec;

use super::{receipts, Faults, Invariant, Violation};
use crate::history::{EmailId, EventKind, FaultKind, History, Host, Kind, MailboxId};
use crate::limits::{HEAL_DOWNLOAD_GRACE_S, US_PER_S};

/// Checks `repair_justified`.
pub(crate) fn check_with(history: &History, faults: &Faults<'_>) -> Vec<Violation> {
    let holders = stripe_holders(history);
    let uploads = upload_spans(history);
    let revision_starts = revision_starts(history);
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::DownloadDone]) {
        let EventKind::DownloadDone {
            mailbox,
            email_id,
            file_type,
            rebuilt_stripe: Some(stripe_index),
            ..
        } = &event.kind
        else {
            continue;
        };
        let at_us = event.at_sim_us;
        let holder = holders
            .get(&(*mailbox, *email_id))
            .and_then(|by_index| by_index.get(stripe_index))
            .copied();
        let starts = revision_starts.get(email_id).map_or(&[][..], Vec::as_slice);
        let context = Download {
            host: event.host,
            email_id: *email_id,
            file_type: *file_type,
            holder,
            at_us,
            upload: uploads.get(email_id).copied(),
            two_revisions_started: two_revisions_started_by(starts, at_us),
        };
        if !justified(faults, &context) {
            let on =
                holder.map_or_else(|| "an unknown RAIDA".to_string(), |h| format!("RAIDA {h}"));
            violations.push(Violation {
                invariant: Invariant::RepairJustified,
                at_sim_us: at_us,
                detail: format!(
                    "mailbox {mailbox} rebuilt stripe {stripe_index} (on {on}) of email \
                     {email_id} file {file_type:#04x}, but no fault touched that stripe's path"
                ),
                caused_by: None,
            });
        }
    }
    violations
}

/// One rebuilding download.
struct Download {
    host: Host,
    email_id: EmailId,
    file_type: u8,
    holder: Option<u8>,
    at_us: u64,
    /// (first upload started, last revision sent) of the email.
    upload: Option<(u64, u64)>,
    /// Whether uploads of two revisions of the email had started by the download.
    two_revisions_started: bool,
}

fn justified(faults: &Faults<'_>, download: &Download) -> bool {
    let grace_us = u64::from(HEAL_DOWNLOAD_GRACE_S) * US_PER_S;
    if download.two_revisions_started {
        return true;
    }
    faults
        .iter()
        .zip(faults.ended_at())
        .take_while(|((at, _, _), _)| *at <= download.at_us)
        .any(|((at, fault, hosts), ended_at)| match fault {
            FaultKind::StripeLost {
                email_id,
                file_type,
                ..
            }
            | FaultKind::StripeCorrupted {
                email_id,
                file_type,
                ..
            } => *email_id == download.email_id && *file_type == download.file_type,
            FaultKind::TellBeforeUpload { email_id } => *email_id == download.email_id,
            FaultKind::IoError { path, .. }
            | FaultKind::ReadCorrupted { path }
            | FaultKind::DiskFull { path }
            | FaultKind::TornWrite { path } => {
                path.contains(&download.email_id.to_string())
                    && download
                        .holder
                        .is_none_or(|holder| hosts.contains(&Host::Raida(holder)))
            }
            FaultKind::Crash { .. } | FaultKind::Restart => download
                .holder
                .is_none_or(|holder| hosts.is_empty() || hosts.contains(&Host::Raida(holder))),
            fault if fault.is_network() => {
                let ended = ended_at.unwrap_or(u64::MAX);
                let near_download = ended.saturating_add(grace_us) >= download.at_us;
                let during_upload = download
                    .upload
                    .is_some_and(|(started, sent)| *at <= sent && ended >= started);
                let on_path = hosts.is_empty()
                    || hosts.contains(&download.host)
                    || download
                        .holder
                        .is_none_or(|holder| hosts.contains(&Host::Raida(holder)));
                on_path && (near_download || during_upload)
            }
            _ => false,
        })
}

/// Which RAIDA holds each stripe index of an email, from the records a mailbox received.
fn stripe_holders(history: &History) -> BTreeMap<(MailboxId, EmailId), BTreeMap<u8, u8>> {
    let mut holders: BTreeMap<(MailboxId, EmailId), BTreeMap<u8, u8>> = BTreeMap::new();
    for receipt in receipts(history) {
        let Some((email_id, _)) = receipt.key else {
            continue;
        };
        let Ok(record) = TellRecord::from_bytes(receipt.record) else {
            continue;
        };
        let by_index = holders.entry((receipt.mailbox, email_id)).or_default();
        for server in &record.servers {
            by_index
                .entry(server.stripe_index)
                .or_insert(server.server_id);
        }
    }
    holders
}

/// Per email: (time, edit sequence) of each upload started, in time order. One pass: asking
/// the history per rebuilding download scanned it up to the download each time (2.6% of a
/// storm-10k run).
fn revision_starts(history: &History) -> BTreeMap<EmailId, Vec<(u64, u8)>> {
    let mut starts: BTreeMap<EmailId, Vec<(u64, u8)>> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::UploadStarted]) {
        if let EventKind::UploadStarted {
            email_id,
            edit_sequence,
            ..
        } = &event.kind
        {
            starts
                .entry(*email_id)
                .or_default()
                .push((event.at_sim_us, *edit_sequence));
        }
    }
    starts
}

/// Whether `starts` (one email's, in time order) holds two edit sequences at or before
/// `until_us`: the earliest start is in that window whenever any is.
fn two_revisions_started_by(starts: &[(u64, u8)], until_us: u64) -> bool {
    let Some((_, first)) = starts.first() else {
        return false;
    };
    starts
        .iter()
        .take_while(|(at_us, _)| *at_us <= until_us)
        .any(|(_, edit_sequence)| edit_sequence != first)
}

/// Per email: when its first upload started and when its last revision was sent.
fn upload_spans(history: &History) -> BTreeMap<EmailId, (u64, u64)> {
    let mut spans: BTreeMap<EmailId, (u64, u64)> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::UploadStarted, Kind::EmailSent]) {
        let email_id = match &event.kind {
            EventKind::UploadStarted { email_id, .. } | EventKind::EmailSent { email_id, .. } => {
                *email_id
            }
            _ => continue,
        };
        let span = spans
            .entry(email_id)
            .or_insert((event.at_sim_us, event.at_sim_us));
        span.1 = span.1.max(event.at_sim_us);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::checkers::CheckContext;

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(
            Invariant::RepairJustified,
            history,
            &CheckContext::default(),
        )
    }

    fn rebuilt(stripe_index: u8) -> EventKind {
        EventKind::DownloadDone {
            mailbox: BOB,
            device: 0,
            email_id: email(1),
            file_type: 1,
            size_bytes: 10,
            crc32: 0,
            rebuilt_stripe: Some(stripe_index),
        }
    }

    #[test]
    fn a_rebuild_on_a_healthy_path_is_caught() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .push(Host::Client(1), rebuilt(3))
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("rebuilt stripe 3"));
    }

    #[test]
    fn stripe_faults_crashes_and_standing_loss_justify_a_rebuild() {
        let lost = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(
                FaultKind::StripeCorrupted {
                    email_id: email(1),
                    file_type: 1,
                    stripe_index: 3,
                },
                &[Host::Raida(3)],
            )
            .push(Host::Client(1), rebuilt(3))
            .build();
        assert_eq!(run(&lost), vec![]);
        let other_file = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(
                FaultKind::StripeLost {
                    email_id: email(1),
                    file_type: 0x0a,
                    stripe_index: 3,
                },
                &[Host::Raida(3)],
            )
            .push(Host::Client(1), rebuilt(3))
            .build();
        assert_eq!(run(&other_file).len(), 1);
        let crashed = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(3)])
            .push(Host::Client(1), rebuilt(3))
            .build();
        assert_eq!(run(&crashed), vec![]);
        let standing = Builder::new()
            .fault(FaultKind::LinkLoss, &[Host::Client(1)])
            .email_sent(email(1), 0, &[BOB])
            .push(Host::Client(1), rebuilt(3))
            .build();
        assert_eq!(run(&standing), vec![]);
    }

    fn upload_started(edit_sequence: u8) -> EventKind {
        EventKind::UploadStarted {
            email_id: email(1),
            sender: ALICE,
            edit_sequence,
        }
    }

    #[test]
    fn two_revisions_uploading_by_the_download_justify_a_rebuild() {
        let history = |second: u8, second_after_download: bool| {
            let builder = Builder::new()
                .push(Host::Client(0), upload_started(1))
                .email_sent(email(1), 1, &[BOB]);
            let builder = if second_after_download {
                builder
                    .push(Host::Client(1), rebuilt(3))
                    .push(Host::Client(0), upload_started(second))
            } else {
                builder
                    .push(Host::Client(0), upload_started(second))
                    .push(Host::Client(1), rebuilt(3))
            };
            builder.build()
        };
        assert_eq!(
            run(&history(2, false)),
            vec![],
            "a newer revision overwrote it"
        );
        assert_eq!(
            run(&history(1, false)).len(),
            1,
            "one revision, started twice"
        );
        assert_eq!(
            run(&history(2, true)).len(),
            1,
            "the newer one started later"
        );
    }

    #[test]
    fn a_network_fault_healed_long_before_does_not_justify() {
        let history = Builder::new()
            .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
            .fault(FaultKind::Heal, &[Host::Client(1), Host::Raida(3)])
            .at(u64::from(HEAL_DOWNLOAD_GRACE_S + 5) * US_PER_S)
            .email_sent(email(1), 0, &[BOB])
            .push(Host::Client(1), rebuilt(3))
            .build();
        assert_eq!(run(&history).len(), 1);
    }

    #[test]
    fn a_network_fault_during_the_upload_justifies_a_later_rebuild() {
        // The upload spans from its first start to its `EmailSent`: a partition on the path
        // in between may have kept a stripe from its RAIDA, however long before the download.
        let history = |sent_before_fault: bool| {
            let builder = Builder::new().push(Host::Client(0), upload_started(0));
            let builder = if sent_before_fault {
                builder.email_sent(email(1), 0, &[BOB])
            } else {
                builder
            };
            let builder = builder
                .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
                .fault(FaultKind::Heal, &[Host::Client(1), Host::Raida(3)]);
            let builder = if sent_before_fault {
                builder
            } else {
                builder.email_sent(email(1), 0, &[BOB])
            };
            builder
                .at(u64::from(HEAL_DOWNLOAD_GRACE_S + 5) * US_PER_S)
                .push(Host::Client(1), rebuilt(3))
                .build()
        };
        assert_eq!(
            run(&history(false)),
            vec![],
            "the fault fell inside the upload"
        );
        assert_eq!(
            run(&history(true)).len(),
            1,
            "the upload was over before it"
        );
    }
}
