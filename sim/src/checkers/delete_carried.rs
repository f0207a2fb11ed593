//! `delete_carried`: a beacon deletes a tell only after a reply carried it.
//!
//! `delete_on_read` removes the tells a ping or peek reply carries (before or after the
//! reply is written), and nothing else. So every `TellDeleted` must follow a `TellsRead` of
//! the same beacon, the same poll request, the same mailbox, listing the same email and
//! edit_sequence. A deletion without one is a tell destroyed that no device could have
//! received: always a bug, never explained by a fault.

use std::collections::BTreeSet;

use super::{CheckContext, Invariant, Violation};
use crate::history::{EmailId, EventKind, History, Kind, MailboxId};

/// (beacon, request, mailbox, email, edit_sequence) of one record a reply carried.
type CarriedKey = (u8, u64, MailboxId, EmailId, u8);

/// Checks `delete_carried`.
pub fn check(history: &History, _ctx: &CheckContext) -> Vec<Violation> {
    let mut carried: BTreeSet<CarriedKey> = BTreeSet::new();
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::TellsRead, Kind::TellDeleted]) {
        match &event.kind {
            EventKind::TellsRead {
                beacon,
                request,
                mailbox,
                tells,
                ..
            } => carried.extend(tells.iter().map(|tell| {
                (
                    *beacon,
                    *request,
                    *mailbox,
                    tell.email_id,
                    tell.edit_sequence,
                )
            })),
            EventKind::TellDeleted {
                beacon,
                request,
                mailbox,
                email_id,
                edit_sequence,
            } => {
                let key = (*beacon, *request, *mailbox, *email_id, *edit_sequence);
                if !carried.contains(&key) {
                    violations.push(Violation {
                        invariant: Invariant::DeleteCarried,
                        at_sim_us: event.at_sim_us,
                        detail: format!(
                            "beacon {beacon} deleted email {email_id} es {edit_sequence} from \
                             mailbox {mailbox} in request {request}, whose reply never carried it"
                        ),
                        caused_by: None,
                    });
                }
            }
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{Host, PollKind, TellRef};

    fn read(
        builder: Builder,
        request: u64,
        mailbox: MailboxId,
        tells: &[(EmailId, u8)],
    ) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::TellsRead {
                beacon: BEACON,
                request,
                mailbox,
                via: PollKind::Ping,
                tells: tells
                    .iter()
                    .map(|(email_id, edit_sequence)| TellRef {
                        email_id: *email_id,
                        edit_sequence: *edit_sequence,
                    })
                    .collect(),
            },
        )
    }

    fn deleted(
        builder: Builder,
        request: u64,
        mailbox: MailboxId,
        email_id: EmailId,
        es: u8,
    ) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::TellDeleted {
                beacon: BEACON,
                request,
                mailbox,
                email_id,
                edit_sequence: es,
            },
        )
    }

    fn run(history: &History) -> Vec<Violation> {
        check(history, &CheckContext::default())
    }

    #[test]
    fn deleting_what_the_reply_carried_passes() {
        let builder = read(Builder::new(), 5, BOB, &[(email(1), 0), (email(2), 3)]);
        let builder = deleted(builder, 5, BOB, email(1), 0);
        let history = deleted(builder, 5, BOB, email(2), 3).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn deleting_what_no_reply_carried_is_a_violation() {
        let history = deleted(Builder::new(), 5, BOB, email(1), 0).build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].invariant, Invariant::DeleteCarried);
        assert!(violations[0].caused_by.is_none());
    }

    #[test]
    fn another_request_revision_or_mailbox_does_not_count() {
        let builder = read(Builder::new(), 5, BOB, &[(email(1), 0)]);
        // Another request's reply carried it.
        let builder = deleted(builder, 6, BOB, email(1), 0);
        // A different revision.
        let builder = deleted(builder, 5, BOB, email(1), 1);
        // A different mailbox.
        let builder = deleted(builder, 5, CAROL, email(1), 0);
        assert_eq!(run(&builder.build()).len(), 3);
    }

    #[test]
    fn a_read_after_the_delete_does_not_excuse_it() {
        let builder = deleted(Builder::new(), 5, BOB, email(1), 0);
        let history = read(builder, 5, BOB, &[(email(1), 0)]).build();
        assert_eq!(run(&history).len(), 1);
    }
}
