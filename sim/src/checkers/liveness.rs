//! `liveness`: once the network is healed, the system catches up within the heal bound.
//!
//! Judged only when the history reached the healed phase (a `PhaseChange` to `Healed`). For
//! a promise made at time `t` the deadline is `max(healed_at, t) + heal_bound`:
//! - every tell the beacon answered 250 for reaches the mailbox by its deadline, unless a
//!   named fault destroyed it (that loss is `ack_durable`'s to report);
//! - for every tell a mailbox received, each file of that revision is downloaded by some
//!   device of the mailbox by the deadline, unless two or more of its stripes were lost or
//!   corrupted (then it cannot be rebuilt), or a newer revision of the email began
//!   uploading by then (its stripes replace the older revision's under the same GUID).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    acked_tells, receipts, sent_files, CheckContext, Deliveries, Faults, Invariant, Receipt,
    Revisions, Violation,
};
use crate::history::{EmailId, EventKind, History, Kind, MailboxId};
use crate::trace::format_sim_time;

/// Checks `liveness`.
pub(crate) fn check_with(
    history: &History,
    ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let Some(healed_at) = history.healed_at_us() else {
        return Vec::new();
    };
    let deadline = |promised_us: u64| promised_us.max(healed_at).saturating_add(ctx.heal_bound_us);
    let receipts = receipts(history);
    let mut violations = tells_delivered(history, &receipts, faults, &deadline);
    violations.extend(files_downloaded(history, &receipts, faults, &deadline));
    violations.sort_by_key(|violation| violation.at_sim_us);
    violations
}

fn tells_delivered(
    history: &History,
    receipts: &[Receipt<'_>],
    faults: &Faults<'_>,
    deadline: &dyn Fn(u64) -> u64,
) -> Vec<Violation> {
    let deliveries = Deliveries::new(receipts);
    let mut violations = Vec::new();
    for acked in acked_tells(history) {
        let due_us = deadline(acked.at_sim_us);
        let what = format!(
            "email {} es {} from beacon {} to mailbox {}",
            acked.email_id, acked.edit_sequence, acked.beacon, acked.mailbox
        );
        let detail = match deliveries.delivered_at(&acked) {
            Some(at) if at <= due_us => continue,
            Some(at) => format!(
                "{what} arrived at {}s, after its deadline {}s",
                format_sim_time(at),
                format_sim_time(due_us)
            ),
            None if faults
                .loss_cause(acked.beacon, acked.mailbox, acked.at_sim_us)
                .is_some() =>
            {
                continue
            }
            None => format!(
                "{what} never arrived (deadline {}s) and no fault destroyed it",
                format_sim_time(due_us)
            ),
        };
        violations.push(Violation {
            invariant: Invariant::Liveness,
            at_sim_us: acked.at_sim_us,
            detail,
            caused_by: None,
        });
    }
    violations
}

/// Download completion times by (mailbox, email, file type).
fn downloads(history: &History) -> BTreeMap<(MailboxId, EmailId, u8), Vec<u64>> {
    let mut done: BTreeMap<(MailboxId, EmailId, u8), Vec<u64>> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::DownloadDone]) {
        if let EventKind::DownloadDone {
            mailbox,
            email_id,
            file_type,
            ..
        } = &event.kind
        {
            done.entry((*mailbox, *email_id, *file_type))
                .or_default()
                .push(event.at_sim_us);
        }
    }
    done
}

fn files_downloaded(
    history: &History,
    receipts: &[Receipt<'_>],
    faults: &Faults<'_>,
    deadline: &dyn Fn(u64) -> u64,
) -> Vec<Violation> {
    let sent = sent_files(history);
    let done = downloads(history);
    let revisions = Revisions::new(history);
    let mut judged: BTreeSet<(MailboxId, EmailId, u8)> = BTreeSet::new();
    let mut violations = Vec::new();
    for receipt in receipts {
        let Some((email_id, edit_sequence)) = receipt.key else {
            continue;
        };
        if !judged.insert((receipt.mailbox, email_id, edit_sequence)) {
            continue;
        }
        let Some(files) = sent.get(&(email_id, edit_sequence)) else {
            continue;
        };
        let due_us = deadline(receipt.at_sim_us);
        if revisions.superseded(email_id, edit_sequence, due_us) {
            // The newer revision's own receipt is judged; this one's stripes are gone.
            continue;
        }
        for file in files.iter() {
            if faults.stripes_damaged(email_id, file.file_type, due_us) >= 2 {
                continue;
            }
            let downloaded = done
                .get(&(receipt.mailbox, email_id, file.file_type))
                .is_some_and(|times| {
                    times
                        .iter()
                        .any(|at| *at >= receipt.at_sim_us && *at <= due_us)
                });
            if !downloaded {
                violations.push(Violation {
                    invariant: Invariant::Liveness,
                    at_sim_us: receipt.at_sim_us,
                    detail: format!(
                        "mailbox {} received email {email_id} es {edit_sequence} but did not \
                         download file {:#04x} by {}s",
                        receipt.mailbox,
                        file.file_type,
                        format_sim_time(due_us)
                    ),
                    caused_by: None,
                });
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{FaultKind, Host};
    use crate::limits::US_PER_S;

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(Invariant::Liveness, history, &ctx())
    }

    fn ctx() -> CheckContext {
        CheckContext {
            heal_bound_us: 10 * US_PER_S,
            ..CheckContext::default()
        }
    }

    #[test]
    fn clean_history_passes() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .healed()
            .receive(BOB, 0, email(1), 0)
            .download(BOB, email(1), 0)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn without_a_healed_phase_nothing_is_judged() {
        let history = Builder::new().tell(email(1), 0, &[BOB]).build();
        assert_eq!(run(&history), vec![]);
    }

    /// Storm seed 1: a mailbox received revision 0, then revision 1 re-uploaded every
    /// stripe under the same GUID; revision 0's files can no longer be downloaded, and
    /// that is the protocol, not a stall.
    #[test]
    fn an_undownloaded_revision_is_excused_once_a_newer_one_began_uploading() {
        let received = || {
            Builder::new()
                .email_sent(email(1), 0, &[BOB])
                .tell(email(1), 0, &[BOB])
                .receive(BOB, 0, email(1), 0)
        };
        let stalled = received().healed().build();
        assert!(!run(&stalled).is_empty());
        let superseded = received()
            .push(
                Host::Client(0),
                EventKind::UploadStarted {
                    email_id: email(1),
                    sender: ALICE,
                    edit_sequence: 1,
                },
            )
            .healed()
            .build();
        assert_eq!(run(&superseded), vec![]);
    }

    #[test]
    fn a_late_or_missing_tell_is_caught_unless_a_fault_destroyed_it() {
        let builder = Builder::new()
            .email_sent(email(1), 0, &[BOB, CAROL])
            .tell(email(1), 0, &[BOB, CAROL])
            .healed();
        let late_at = builder.now_us + 11 * US_PER_S;
        let history = builder
            .at(late_at)
            .receive(BOB, 0, email(1), 0)
            .download(BOB, email(1), 0)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations
            .iter()
            .any(|v| v.detail.contains("after its deadline")));
        assert!(violations
            .iter()
            .any(|v| v.detail.contains("never arrived")));

        let destroyed = Builder::new()
            .tell(email(1), 0, &[CAROL])
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .healed()
            .build();
        assert_eq!(run(&destroyed), vec![]);
    }

    #[test]
    fn a_missing_download_is_caught_unless_the_file_cannot_be_rebuilt() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB])
            .tell(email(1), 0, &[BOB])
            .healed()
            .receive(BOB, 0, email(1), 0)
            .download_file(BOB, email(1), 1, 1000, 0xAAAA_0000)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("file 0x0a"));

        let mut builder = Builder::new().email_sent(email(1), 0, &[BOB]);
        for stripe_index in [2, 5] {
            builder = builder.fault(
                FaultKind::StripeLost {
                    email_id: email(1),
                    file_type: 0x0A,
                    stripe_index,
                },
                &[Host::Raida(stripe_index)],
            );
        }
        let unrebuildable = builder
            .tell(email(1), 0, &[BOB])
            .healed()
            .receive(BOB, 0, email(1), 0)
            .download_file(BOB, email(1), 1, 1000, 0xAAAA_0000)
            .build();
        assert_eq!(run(&unrebuildable), vec![]);
    }
}
