//! `edit_guard`: the beacon's edit_sequence guard skips exactly what the tell page says.
//!
//! The page (tell, "edit_sequence guard"): before each per-recipient write the beacon looks
//! for an existing `.tell` of the same GUID in that inbox; if its edit_sequence is greater
//! than the incoming one the recipient is skipped, and equal or greater incoming values
//! overwrite. The checker keeps its own model of every inbox, per (beacon, mailbox, email):
//! the edit_sequence of the `.tell` there, or none, from the beacon's publishes
//! (`TellAccepted`) and deletions (`TellDeleted`). Then:
//! - a publish of edit `e` while the model holds `e' > e` is an older revision clobbering a
//!   newer one (the guard, or its read-then-rename, failed);
//! - a skip must find in the model exactly the existing edit it reports, greater than the
//!   incoming one (a skip over an equal, an older, or no record loses a tell).
//!
//! A power loss on the beacon drops unsynced publishes and deletions (the model cannot know
//! which), so a crash makes that beacon's entries unknown until the next publish or
//! deletion of the same key says what is there.

use std::collections::BTreeMap;

use super::{Invariant, Violation};
use crate::history::{EmailId, EventKind, FaultKind, History, Host, Kind, MailboxId};

/// What the model knows about one inbox key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    /// A `.tell` with this edit_sequence.
    Holds(u8),
    /// No `.tell` of this GUID.
    Empty,
    /// A crash may have undone the last publish or deletion.
    Unknown,
}

type Key = (u8, MailboxId, EmailId);

/// Checks `edit_guard`.
pub fn check(history: &History) -> Vec<Violation> {
    let mut inbox: BTreeMap<Key, Slot> = BTreeMap::new();
    let mut violations = Vec::new();
    let kinds = [
        Kind::TellAccepted,
        Kind::TellSkipped,
        Kind::TellDeleted,
        Kind::FaultFired,
    ];
    for event in history.of_kinds(&kinds) {
        let detail = match &event.kind {
            EventKind::TellAccepted {
                beacon,
                mailbox,
                email_id,
                edit_sequence,
                ..
            } => {
                let key = (*beacon, *mailbox, *email_id);
                let before = slot(&inbox, key);
                inbox.insert(key, Slot::Holds(*edit_sequence));
                match before {
                    Slot::Holds(existing) if existing > *edit_sequence => Some(format!(
                        "beacon {beacon} published email {email_id} es {edit_sequence} to \
                         mailbox {mailbox} over es {existing}: the guard must skip it"
                    )),
                    _ => None,
                }
            }
            EventKind::TellSkipped {
                beacon,
                mailbox,
                email_id,
                edit_sequence,
                existing_edit_sequence,
                ..
            } => skip_verdict(
                slot(&inbox, (*beacon, *mailbox, *email_id)),
                *edit_sequence,
                *existing_edit_sequence,
            )
            .map(|why| {
                format!(
                    "beacon {beacon} skipped email {email_id} es {edit_sequence} for mailbox \
                     {mailbox} (reported existing es {existing_edit_sequence}): {why}"
                )
            }),
            EventKind::TellDeleted {
                beacon,
                mailbox,
                email_id,
                ..
            } => {
                inbox.insert((*beacon, *mailbox, *email_id), Slot::Empty);
                None
            }
            EventKind::FaultFired {
                fault: FaultKind::Crash { .. },
                hosts,
                ..
            } => {
                forget(&mut inbox, hosts);
                None
            }
            _ => None,
        };
        if let Some(detail) = detail {
            violations.push(Violation {
                invariant: Invariant::EditGuard,
                at_sim_us: event.at_sim_us,
                detail,
                caused_by: None,
            });
        }
    }
    violations
}

fn slot(inbox: &BTreeMap<Key, Slot>, key: Key) -> Slot {
    inbox.get(&key).copied().unwrap_or(Slot::Empty)
}

/// Marks every key of the crashed beacons unknown.
fn forget(inbox: &mut BTreeMap<Key, Slot>, hosts: &[Host]) {
    for ((beacon, _, _), slot) in inbox.iter_mut() {
        if hosts.is_empty() || hosts.contains(&Host::Raida(*beacon)) {
            *slot = Slot::Unknown;
        }
    }
}

/// Why a skip of `incoming` was wrong, given what the inbox held; `None` when it was right.
fn skip_verdict(held: Slot, incoming: u8, reported: u8) -> Option<String> {
    match held {
        Slot::Unknown => None,
        Slot::Empty => Some("the inbox held no record of that email".to_string()),
        Slot::Holds(existing) if existing != reported => {
            Some(format!("the inbox held es {existing}"))
        }
        Slot::Holds(existing) if existing <= incoming => Some(format!(
            "es {incoming} ≥ es {existing} must overwrite (the page skips only older edits)"
        )),
        Slot::Holds(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn skipped(es: u8, existing: u8) -> EventKind {
        EventKind::TellSkipped {
            beacon: BEACON,
            request: 99,
            mailbox: BOB,
            email_id: email(1),
            edit_sequence: es,
            existing_edit_sequence: existing,
        }
    }

    #[test]
    fn newer_overwrites_and_older_is_skipped() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .tell(email(1), 1, &[BOB])
            .tell(email(1), 1, &[BOB])
            .push(Host::Raida(BEACON), skipped(0, 1))
            .build();
        assert_eq!(check(&history), vec![]);
    }

    #[test]
    fn an_older_publish_over_a_newer_record_is_caught() {
        let history = Builder::new()
            .tell(email(1), 1, &[BOB])
            .tell(email(1), 0, &[BOB])
            .build();
        let violations = check(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("over es 1"));
    }

    #[test]
    fn wrong_skips_are_caught() {
        let equal = Builder::new()
            .tell(email(1), 1, &[BOB])
            .push(Host::Raida(BEACON), skipped(1, 1))
            .build();
        assert!(check(&equal)[0].detail.contains("must overwrite"));
        let nothing_there = Builder::new()
            .push(Host::Raida(BEACON), skipped(0, 1))
            .build();
        assert!(check(&nothing_there)[0].detail.contains("no record"));
        let misreported = Builder::new()
            .tell(email(1), 2, &[BOB])
            .push(Host::Raida(BEACON), skipped(0, 1))
            .build();
        assert!(check(&misreported)[0].detail.contains("held es 2"));
    }

    #[test]
    fn a_deleted_record_no_longer_guards_and_a_crash_forgets() {
        let deleted = Builder::new()
            .tell(email(1), 1, &[BOB])
            .push(
                Host::Raida(BEACON),
                EventKind::TellDeleted {
                    beacon: BEACON,
                    request: 0,
                    mailbox: BOB,
                    email_id: email(1),
                    edit_sequence: 1,
                },
            )
            .tell(email(1), 0, &[BOB])
            .build();
        assert_eq!(check(&deleted), vec![]);
        let crashed = Builder::new()
            .tell(email(1), 1, &[BOB])
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .push(Host::Raida(BEACON), skipped(0, 3))
            .tell(email(1), 0, &[BOB])
            .build();
        assert_eq!(check(&crashed), vec![]);
    }
}
