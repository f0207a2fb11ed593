//! `ack_durable`: a tell the beacon answered 250 for is eventually received, for every
//! recipient the beacon published it to.
//!
//! "Received" means some device of that mailbox got a record of the same email with an
//! equal or newer edit_sequence at or after the publication (a newer revision overwrites
//! the older file in place, so receiving it keeps the promise). Every tell never received
//! is a violation; when a fault that can destroy a tell or its reply touched the beacon or
//! the mailbox's hosts, that fault is the violation's cause (for example a reply lost on
//! the wire after `delete_on_read = before_reply` removed the file, or a crash that
//! dropped an un-synced rename). A loss no fault explains is a bug.

use super::{acked_tells, receipts, CheckContext, Deliveries, Faults, Invariant, Violation};
use crate::history::History;

/// Checks `ack_durable`.
pub(crate) fn check_with(
    history: &History,
    _ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let deliveries = Deliveries::new(&receipts(history));
    acked_tells(history)
        .into_iter()
        .filter(|acked| deliveries.delivered_at(acked).is_none())
        .map(|acked| Violation {
            invariant: Invariant::AckDurable,
            at_sim_us: acked.at_sim_us,
            detail: format!(
                "beacon {} answered 250 for email {} es {} to mailbox {}, never received",
                acked.beacon, acked.email_id, acked.edit_sequence, acked.mailbox
            ),
            caused_by: faults.loss_cause(acked.beacon, acked.mailbox, acked.at_sim_us),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{FaultKind, Host};

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(Invariant::AckDurable, history, &CheckContext::default())
    }

    #[test]
    fn clean_history_passes() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB, CAROL])
            .receive(BOB, 0, email(1), 0)
            .receive(CAROL, 2, email(1), 0)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_newer_revision_keeps_the_older_promise() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .tell(email(1), 1, &[BOB])
            .receive(BOB, 0, email(1), 1)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn an_unexplained_loss_is_caught() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB, CAROL])
            .receive(BOB, 0, email(1), 0)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("mailbox 2:300"));
        assert_eq!(violations[0].caused_by, None);
    }

    #[test]
    fn a_receipt_before_a_republish_does_not_count() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .tell(email(1), 0, &[BOB])
            .build();
        assert_eq!(run(&history).len(), 1);
    }

    #[test]
    fn only_tells_answered_250_are_promises() {
        let history = Builder::new()
            .tell_sent(email(1), 0, &[BOB], 198)
            .tell_handled(email(1), 0, &[BOB], 198)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_loss_after_a_crash_names_the_crash() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .fault(
                FaultKind::Crash {
                    step: Some("TellRenamed".into()),
                },
                &[Host::Raida(BEACON)],
            )
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1);
        let cause = violations[0].caused_by.as_ref().expect("crash explains");
        assert_eq!(cause.fault.as_ref().map(FaultKind::name), Some("crash"));
    }
}
