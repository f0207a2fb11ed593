//! `one_shot`: tells are one-shot. Every received tell was sent to that mailbox, and across
//! all devices of one mailbox each (email_id, edit_sequence) arrives at most once.
//!
//! A second arrival is explained (its [`Cause`]) by, in order: a `duplicate_tell` or
//! `replay` fault of that tell fired before it; a crash or restart of the beacon between
//! the two arrivals (with `delete_on_read = after_reply` a crash after the reply and
//! before the delete hands the same file out again); a storage fault on the beacon before
//! the second arrival that hit the tell's file (a failed delete or delete-time re-read leaves
//! it for the next poll); the sender having sent the tell more
//! than once (a retry after a lost 250 publishes the file again). A tell that was never
//! sent has no excuse.

use std::collections::BTreeMap;

use super::{receipts, Cause, CheckContext, Faults, Invariant, Violation};
use crate::history::{EmailId, EventKind, FaultKind, History, Host, Kind, MailboxId};

/// Checks `one_shot`.
pub(crate) fn check_with(
    history: &History,
    _ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let sent = sent_tells(history);
    let mut first_arrival: BTreeMap<(MailboxId, EmailId, u8), u64> = BTreeMap::new();
    let mut violations = Vec::new();
    for receipt in receipts(history) {
        let violation = |detail: String, caused_by: Option<Cause>| Violation {
            invariant: Invariant::OneShot,
            at_sim_us: receipt.at_sim_us,
            detail,
            caused_by,
        };
        let Some((email_id, edit_sequence)) = receipt.key else {
            violations.push(violation(
                format!(
                    "mailbox {} device {} received {} bytes, too short to be a tell",
                    receipt.mailbox,
                    receipt.device,
                    receipt.record.len()
                ),
                None,
            ));
            continue;
        };
        let key = (receipt.mailbox, email_id, edit_sequence);
        if !sent.contains_key(&key) {
            violations.push(violation(
                format!(
                    "mailbox {} device {} received email {email_id} es {edit_sequence} \
                     that was never sent to it",
                    receipt.mailbox, receipt.device
                ),
                None,
            ));
            continue;
        }
        match first_arrival.get(&key) {
            None => {
                first_arrival.insert(key, receipt.at_sim_us);
            }
            Some(&first_us) => {
                let cause = duplicate_cause(
                    faults,
                    email_id,
                    edit_sequence,
                    receipt.beacon,
                    first_us,
                    receipt.at_sim_us,
                    sent.get(&key).copied().unwrap_or(0),
                );
                violations.push(violation(
                    format!(
                        "mailbox {} device {} received email {email_id} es {edit_sequence} \
                         again (first at {}s)",
                        receipt.mailbox,
                        receipt.device,
                        crate::trace::format_sim_time(first_us)
                    ),
                    cause,
                ));
            }
        }
    }
    violations
}

/// (recipient, email, edit_sequence) → how many tells carried it.
fn sent_tells(history: &History) -> BTreeMap<(MailboxId, EmailId, u8), u32> {
    let mut sent = BTreeMap::new();
    for event in history.of_kinds(&[Kind::TellSent]) {
        if let EventKind::TellSent {
            email_id,
            edit_sequence,
            recipients,
            ..
        } = &event.kind
        {
            for recipient in recipients {
                *sent
                    .entry((*recipient, *email_id, *edit_sequence))
                    .or_insert(0u32) += 1;
            }
        }
    }
    sent
}

fn duplicate_cause(
    faults: &Faults<'_>,
    email_id: EmailId,
    edit_sequence: u8,
    beacon: u8,
    first_us: u64,
    again_us: u64,
    times_sent: u32,
) -> Option<Cause> {
    let copied = faults.iter().find(|(at, fault, _)| {
        *at <= again_us && fault.resent_tell() == Some((email_id, edit_sequence))
    });
    let beacon_restarted = || {
        faults.iter().find(|(at, fault, hosts)| {
            *at >= first_us
                && *at <= again_us
                && matches!(fault, FaultKind::Crash { .. } | FaultKind::Restart)
                && hosts.contains(&Host::Raida(beacon))
        })
    };
    // A delete that failed on the disk (an I/O error, or a re-read that never came back
    // good) leaves the delivered file for the next poll: at-least-once under disk faults.
    // (With delete_on_read = before_reply the failed delete comes before the first arrival.)
    let email_hex = email_id.to_string();
    let disk_kept = || {
        faults.iter().find(|(at, fault, hosts)| {
            *at <= again_us
                && hosts.contains(&Host::Raida(beacon))
                && fault
                    .storage_path()
                    .is_some_and(|path| path.contains(&email_hex))
        })
    };
    if let Some((at, fault, hosts)) = copied.or_else(beacon_restarted).or_else(disk_kept) {
        return Some(Cause::from_fault(
            *at,
            fault,
            hosts,
            "the same tell was published again",
        ));
    }
    (times_sent > 1).then(|| Cause {
        fault: None,
        at_sim_us: first_us,
        hosts: Vec::new(),
        detail: format!("the sender sent this tell {times_sent} times (retries republish it)"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(Invariant::OneShot, history, &CheckContext::default())
    }

    #[test]
    fn clean_history_passes() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB, CAROL])
            .tell(email(1), 1, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .receive(CAROL, 0, email(1), 0)
            .receive(BOB, 1, email(1), 1)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_tell_received_by_two_devices_is_caught() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .receive(BOB, 3, email(1), 0)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].invariant, Invariant::OneShot);
        assert!(violations[0].detail.contains("again"));
        assert_eq!(violations[0].caused_by, None);
    }

    #[test]
    fn a_tell_never_sent_or_sent_to_someone_else_is_caught() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(CAROL, 0, email(1), 0)
            .receive(BOB, 0, email(2), 0)
            .received(BOB, 0, vec![1, 2, 3])
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations.iter().all(|v| v.caused_by.is_none()));
        assert!(violations[2].detail.contains("too short"));
    }

    #[test]
    fn duplicates_are_attributed_to_faults_and_retries() {
        let replayed = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .fault(
                FaultKind::Replay {
                    email_id: email(1),
                    edit_sequence: 0,
                },
                &[Host::Adversary],
            )
            .receive(BOB, 0, email(1), 0)
            .build();
        let violations = run(&replayed);
        assert_eq!(violations.len(), 1);
        let cause = violations[0].caused_by.as_ref().expect("replay explains");
        assert_eq!(cause.fault.as_ref().map(FaultKind::name), Some("replay"));

        let crashed = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .receive(BOB, 1, email(1), 0)
            .build();
        let cause = run(&crashed)[0].caused_by.clone().expect("crash explains");
        assert_eq!(cause.fault, Some(FaultKind::Crash { step: None }));

        let tell_path = format!("/raida/mailboxes/01/2/inbox/00000000{}.tell", email(1));
        let disk_failed = |path: String| {
            Builder::new()
                .tell(email(1), 0, &[BOB])
                .receive(BOB, 0, email(1), 0)
                .fault(
                    FaultKind::IoError {
                        op: "remove".into(),
                        path,
                    },
                    &[Host::Raida(BEACON)],
                )
                .receive(BOB, 1, email(1), 0)
                .build()
        };
        let cause = run(&disk_failed(tell_path))[0].caused_by.clone();
        assert_eq!(
            cause.and_then(|c| c.fault).map(|f| f.name()),
            Some("io_error")
        );
        let elsewhere = format!("/raida/mailboxes/01/2/inbox/00000000{}.tell", email(2));
        assert_eq!(
            run(&disk_failed(elsewhere))[0].caused_by,
            None,
            "another file"
        );

        let retried = Builder::new()
            .tell_sent(email(1), 0, &[BOB], 250)
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .receive(BOB, 0, email(1), 0)
            .build();
        let cause = run(&retried)[0].caused_by.clone().expect("retry explains");
        assert_eq!(cause.fault, None);
        assert!(cause.detail.contains("2 times"));
    }
}
