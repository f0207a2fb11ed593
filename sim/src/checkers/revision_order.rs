//! `revision_order`: a recipient never receives an older edit_sequence of an email after a
//! newer one. Judged per mailbox across all its devices, in simulated time.
//!
//! The beacon's guard compares an incoming tell only with a file still in the inbox, so once
//! the newer revision has been read and deleted, an older tell (a late retry or a replay)
//! is published and delivered. Such a violation names the `replay` or `duplicate_tell`
//! fault of the older revision when one fired before it arrived.

use std::collections::BTreeMap;

use super::{receipts, Cause, CheckContext, Faults, Invariant, Violation};
use crate::history::{EmailId, History, MailboxId};

/// Checks `revision_order`.
pub(crate) fn check_with(
    history: &History,
    _ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let mut newest: BTreeMap<(MailboxId, EmailId), u8> = BTreeMap::new();
    let mut violations = Vec::new();
    for receipt in receipts(history) {
        let Some((email_id, edit_sequence)) = receipt.key else {
            continue;
        };
        let seen = newest
            .entry((receipt.mailbox, email_id))
            .or_insert(edit_sequence);
        if edit_sequence < *seen {
            violations.push(Violation {
                invariant: Invariant::RevisionOrder,
                at_sim_us: receipt.at_sim_us,
                detail: format!(
                    "mailbox {} device {} received email {email_id} es {edit_sequence} after es {}",
                    receipt.mailbox, receipt.device, *seen
                ),
                caused_by: resend_cause(faults, email_id, edit_sequence, receipt.at_sim_us),
            });
        }
        *seen = (*seen).max(edit_sequence);
    }
    violations
}

fn resend_cause(
    faults: &Faults<'_>,
    email_id: EmailId,
    edit_sequence: u8,
    until_us: u64,
) -> Option<Cause> {
    faults
        .iter()
        .rev()
        .find(|(at, fault, _)| {
            *at <= until_us && fault.resent_tell() == Some((email_id, edit_sequence))
        })
        .map(|(at, fault, hosts)| {
            Cause::from_fault(
                *at,
                fault,
                hosts,
                "older revision re-sent after the newer one was consumed",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{FaultKind, Host};

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(Invariant::RevisionOrder, history, &CheckContext::default())
    }

    #[test]
    fn clean_history_passes() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .receive(BOB, 1, email(1), 2)
            .receive(CAROL, 0, email(1), 0)
            .receive(BOB, 0, email(2), 0)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn an_older_revision_after_a_newer_one_is_caught_across_devices() {
        let history = Builder::new()
            .receive(BOB, 0, email(1), 3)
            .fault(
                FaultKind::Replay {
                    email_id: email(1),
                    edit_sequence: 1,
                },
                &[Host::Adversary],
            )
            .receive(BOB, 1, email(1), 1)
            .receive(BOB, 2, email(1), 2)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].detail.contains("es 1 after es 3"));
        assert_eq!(
            violations[0]
                .caused_by
                .as_ref()
                .and_then(|c| c.fault.clone()),
            Some(FaultKind::Replay {
                email_id: email(1),
                edit_sequence: 1
            })
        );
        assert!(violations[1].detail.contains("es 2 after es 3"));
        assert_eq!(violations[1].caused_by, None);
    }
}
