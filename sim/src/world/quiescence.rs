//! Whether the healed phase can stop: [`World::quiescent`](super::World::quiescent)'s
//! question, answered from an index that grows with the history.
//!
//! The harness asks once per simulated second of the healed phase. Answering from scratch
//! took several passes over the whole history each time (for storm, a third of a run's CPU);
//! [`Quiescence`] folds in only the events flushed since the previous question and keeps
//! what the answer needs: the tells beacons accepted and the requests they answered 250,
//! the receipts, the sent revisions' file types, the newest revision of each email sent or
//! begun uploading, the latest download of each file, the fault events and each mailbox's
//! device hosts. The answer is the one the passes gave.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::checkers::{note_mailbox_host, AckedTell, Deliveries, Faults, MailboxHosts};
use crate::history::{EmailId, EventKind, History, MailboxId, Phase};
use crate::limits::STATUS_SUCCESS;

use super::workload::Progress;

/// One receipt a device recorded: (time, mailbox, email, edit_sequence).
type Receipt = (u64, MailboxId, EmailId, u8);

/// What the quiescence question needs, for the history's first `scanned_count` events.
#[derive(Debug, Default)]
pub(crate) struct Quiescence {
    scanned_count: usize,
    /// (beacon, request) of every tell request a beacon answered 250.
    answered_250: BTreeSet<(u8, u64)>,
    /// Every `TellAccepted` with its (beacon, request), in history order (acknowledged or
    /// not: the answer may come later).
    accepted: Vec<((u8, u64), AckedTell)>,
    /// Every receipt whose record names an email, in history order.
    receipts: Vec<Receipt>,
    deliveries: Deliveries,
    /// The file types of each sent revision (the first `EmailSent` wins).
    sent: BTreeMap<(EmailId, u8), Vec<u8>>,
    /// The newest edit_sequence of each email that was sent or began uploading.
    newest_revision: BTreeMap<EmailId, u8>,
    /// The latest download of each (mailbox, email, file type).
    downloaded: BTreeMap<(MailboxId, EmailId, u8), u64>,
    /// Indices of the fault events.
    fault_indices: Vec<usize>,
    healed_at_us: Option<u64>,
    mailbox_hosts: MailboxHosts,
}

impl Quiescence {
    /// True when nothing the healed phase waits for is left in `history` (see
    /// [`World::quiescent`](super::World::quiescent)): every tell a beacon acknowledged
    /// reached its mailbox (or, unless `losses_recoverable`, a named fault destroyed it),
    /// and every received email's files were downloaded at or after the receipt by some
    /// device of the mailbox (or two or more of a file's stripes were destroyed, or a
    /// device gave up on it for good, or a newer revision of the email was sent or began
    /// uploading). `history` must extend the one last asked about.
    pub(crate) fn quiescent(
        &mut self,
        history: &History,
        losses_recoverable: bool,
        progress: &Progress,
    ) -> bool {
        self.scan(history);
        // Built only when an undelivered tell or an undownloaded file asks about faults.
        let faults_built = OnceCell::new();
        let faults = || faults_built.get_or_init(|| self.faults(history));
        let delivered = self
            .accepted
            .iter()
            .filter(|(request, _)| self.answered_250.contains(request))
            .all(|(_, acked)| {
                self.deliveries.delivered_at(acked).is_some()
                    || (!losses_recoverable
                        && faults()
                            .loss_cause(acked.beacon, acked.mailbox, acked.at_sim_us)
                            .is_some())
            });
        if !delivered {
            return false;
        }
        self.receipts
            .iter()
            .all(|(received_us, mailbox, email_id, edit_sequence)| {
                let Some(file_types) = self.sent.get(&(*email_id, *edit_sequence)) else {
                    return true;
                };
                // A newer revision's uploads replace this one's stripes: its own receipt is
                // waited for instead (as `liveness` judges it).
                if self.superseded(*email_id, *edit_sequence) {
                    return true;
                }
                // A download before this receipt was of an older revision (whose stripes the
                // newer upload overwrote): only one at or after it counts, as in `liveness`.
                file_types.iter().all(|file_type| {
                    self.downloaded
                        .get(&(*mailbox, *email_id, *file_type))
                        .is_some_and(|latest_us| latest_us >= received_us)
                        || faults().stripes_damaged(*email_id, *file_type, u64::MAX) >= 2
                        || progress.gave_up(*mailbox, *email_id, *file_type)
                })
            })
    }

    /// Whether a revision newer than `edit_sequence` of the email was sent or began
    /// uploading (`Revisions::superseded` at the end of the history so far).
    fn superseded(&self, email_id: EmailId, edit_sequence: u8) -> bool {
        self.newest_revision
            .get(&email_id)
            .is_some_and(|newest| *newest > edit_sequence)
    }

    fn note_revision(&mut self, email_id: EmailId, edit_sequence: u8) {
        let newest = self
            .newest_revision
            .entry(email_id)
            .or_insert(edit_sequence);
        *newest = (*newest).max(edit_sequence);
    }

    /// Folds in the events flushed since the last call.
    fn scan(&mut self, history: &History) {
        let events = history.events();
        let new = events
            .get(self.scanned_count..)
            .expect("the history only grows while the run goes on");
        for (offset, event) in new.iter().enumerate() {
            let at_us = event.at_sim_us;
            note_mailbox_host(&mut self.mailbox_hosts, event);
            match &event.kind {
                EventKind::TellHandled {
                    beacon,
                    request,
                    status: STATUS_SUCCESS,
                    ..
                } => {
                    self.answered_250.insert((*beacon, *request));
                }
                EventKind::TellAccepted {
                    beacon,
                    request,
                    mailbox,
                    email_id,
                    edit_sequence,
                    ..
                } => self.accepted.push((
                    (*beacon, *request),
                    AckedTell {
                        at_sim_us: at_us,
                        beacon: *beacon,
                        mailbox: *mailbox,
                        email_id: *email_id,
                        edit_sequence: *edit_sequence,
                    },
                )),
                EventKind::TellReceived {
                    mailbox, record, ..
                } => {
                    if let Some(key) = crate::history::tell_key(record.as_slice()) {
                        self.receipts.push((at_us, *mailbox, key.0, key.1));
                        self.deliveries.push(*mailbox, key, at_us);
                    }
                }
                EventKind::EmailSent {
                    email_id,
                    edit_sequence,
                    files,
                    ..
                } => {
                    self.sent
                        .entry((*email_id, *edit_sequence))
                        .or_insert_with(|| files.iter().map(|file| file.file_type).collect());
                    self.note_revision(*email_id, *edit_sequence);
                }
                EventKind::UploadStarted {
                    email_id,
                    edit_sequence,
                    ..
                } => self.note_revision(*email_id, *edit_sequence),
                EventKind::DownloadDone {
                    mailbox,
                    email_id,
                    file_type,
                    ..
                } => {
                    self.downloaded
                        .insert((*mailbox, *email_id, *file_type), at_us);
                }
                EventKind::FaultFired { .. } => {
                    self.fault_indices.push(self.scanned_count + offset);
                }
                EventKind::PhaseChange {
                    phase: Phase::Healed,
                } if self.healed_at_us.is_none() => self.healed_at_us = Some(at_us),
                _ => {}
            }
        }
        self.scanned_count = events.len();
    }

    /// The faults index of `history` from the parts kept, as [`Faults::new`] builds it.
    fn faults<'h>(&self, history: &'h History) -> Faults<'h> {
        let events = history.events();
        let list = self
            .fault_indices
            .iter()
            .filter_map(|index| {
                let event = events.get(*index)?;
                match &event.kind {
                    EventKind::FaultFired { fault, hosts, .. } => {
                        Some((event.at_sim_us, fault, hosts.as_slice()))
                    }
                    _ => None,
                }
            })
            .collect();
        Faults::from_parts(list, self.healed_at_us, self.mailbox_hosts.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testing::*;
    use crate::checkers::{acked_tells, receipts, sent_files, Revisions};
    use crate::history::{FaultKind, Host};

    fn ask(quiescence: &mut Quiescence, history: &History, losses_recoverable: bool) -> bool {
        quiescence.quiescent(history, losses_recoverable, &Progress::default())
    }

    /// The answer from scratch, as `World::quiescent` computed it before this index: the
    /// reference the index is checked against.
    fn quiescent_by_passes(history: &History, losses_recoverable: bool) -> bool {
        let receipts = receipts(history);
        let deliveries = Deliveries::new(&receipts);
        let faults = Faults::new(history);
        let delivered = acked_tells(history).iter().all(|acked| {
            deliveries.delivered_at(acked).is_some()
                || (!losses_recoverable
                    && faults
                        .loss_cause(acked.beacon, acked.mailbox, acked.at_sim_us)
                        .is_some())
        });
        if !delivered {
            return false;
        }
        let sent = sent_files(history);
        let revisions = Revisions::new(history);
        let mut downloaded = BTreeMap::new();
        for event in history.events() {
            if let EventKind::DownloadDone {
                mailbox,
                email_id,
                file_type,
                ..
            } = &event.kind
            {
                downloaded.insert((*mailbox, *email_id, *file_type), event.at_sim_us);
            }
        }
        receipts.iter().all(|receipt| {
            let Some((email_id, edit_sequence)) = receipt.key else {
                return true;
            };
            let Some(files) = sent.get(&(email_id, edit_sequence)) else {
                return true;
            };
            if revisions.superseded(email_id, edit_sequence, u64::MAX) {
                return true;
            }
            files.iter().all(|file| {
                downloaded
                    .get(&(receipt.mailbox, email_id, file.file_type))
                    .is_some_and(|latest_us| *latest_us >= receipt.at_sim_us)
                    || faults.stripes_damaged(email_id, file.file_type, u64::MAX) >= 2
            })
        })
    }

    /// Asked after every event, the index kept across questions answers as a fresh one and
    /// as the passes over the whole history did.
    fn assert_incremental_matches_fresh(history: &History, losses_recoverable: bool) {
        let mut kept = Quiescence::default();
        let mut prefix = History::new();
        for event in history.events() {
            prefix.push(event.clone());
            let fresh = ask(&mut Quiescence::default(), &prefix, losses_recoverable);
            let at = format!("after {} events", prefix.len());
            assert_eq!(ask(&mut kept, &prefix, losses_recoverable), fresh, "{at}");
            assert_eq!(
                quiescent_by_passes(&prefix, losses_recoverable),
                fresh,
                "{at}"
            );
        }
    }

    #[test]
    fn quiescent_once_every_acked_tell_arrived_and_its_files_were_downloaded() {
        let mut quiescence = Quiescence::default();
        let told = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .healed();
        assert!(!ask(&mut quiescence, &told.history, false), "not received");
        let received = told.receive(BOB, 0, email(1), 0);
        assert!(
            !ask(&mut quiescence, &received.history, false),
            "not downloaded"
        );
        let half = received.download_file(BOB, email(1), 1, 1000, 0xAAAA_0000);
        assert!(!ask(&mut quiescence, &half.history, false), "one file left");
        let done = half.download_file(BOB, email(1), 0x0A, 50, 0xBBBB_0000);
        assert!(ask(&mut quiescence, &done.history, false));
        assert_incremental_matches_fresh(&done.build(), false);
    }

    #[test]
    fn a_download_before_a_newer_receipt_does_not_count() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .download(BOB, email(1), 0)
            .email_sent(email(1), 1, &[BOB])
            .tell(email(1), 1, &[BOB])
            .receive(BOB, 0, email(1), 1)
            .build();
        assert!(!ask(&mut Quiescence::default(), &history, false));
        assert_incremental_matches_fresh(&history, false);
    }

    #[test]
    fn a_tell_a_fault_destroyed_is_not_waited_for_unless_losses_are_recoverable() {
        let history = Builder::new()
            .tell(email(1), 0, &[CAROL])
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .healed()
            .build();
        assert!(ask(&mut Quiescence::default(), &history, false));
        assert!(!ask(&mut Quiescence::default(), &history, true));
        assert_incremental_matches_fresh(&history, false);
        assert_incremental_matches_fresh(&history, true);
    }

    #[test]
    fn a_file_with_two_stripes_destroyed_is_not_waited_for() {
        let stripe_lost = |index| FaultKind::StripeLost {
            email_id: email(1),
            file_type: 0x0A,
            stripe_index: index,
        };
        let one_lost = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .download_file(BOB, email(1), 1, 1000, 0xAAAA_0000)
            .fault(stripe_lost(0), &[]);
        assert!(!ask(&mut Quiescence::default(), &one_lost.history, false));
        let history = one_lost.fault(stripe_lost(3), &[]).build();
        assert!(ask(&mut Quiescence::default(), &history, false));
        assert_incremental_matches_fresh(&history, false);
    }

    #[test]
    fn a_receipt_of_a_superseded_revision_is_not_waited_for() {
        let older_received = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0);
        assert!(!ask(
            &mut Quiescence::default(),
            &older_received.history,
            false
        ));
        let newer_uploading = older_received.upload_started(email(1), 1);
        assert!(ask(
            &mut Quiescence::default(),
            &newer_uploading.history,
            false
        ));
        assert_incremental_matches_fresh(&newer_uploading.build(), false);
        let older_sent_later = Builder::new()
            .email_sent(email(1), 1, &[BOB])
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .build();
        assert!(ask(&mut Quiescence::default(), &older_sent_later, false));
        assert_incremental_matches_fresh(&older_sent_later, false);
    }
}
