//! `malformed_status`: every malformed request got exactly the status the protocol pages
//! name for it, and none of them changed what a mailbox holds.
//!
//! Read from the adversary's records (`MalformedRequest` faults: what was wrong, the RAIDA,
//! the status answered) and the beacons' own records of tells:
//! - an answered request's status must be [`MalformedKind::expected_status`]. One reading
//!   depends on the beacon's clock: a tell that passes the preamble is refused with 198 when
//!   either timestamp is outside `tell_skew_s` of the beacon's clock (tell page 002, rules
//!   before recipients), so a tell kind expecting 18 (zero deliveries) expects 198 when the
//!   beacon's `TellHandled` shows it judged the tell outside its window, and the stale tell
//!   expects 18 when the beacon's clock put it inside (its only recipient is unknown);
//! - a request with no reply is judged only when no fault that breaks connections (a
//!   network fault, a crash or restart) fired in the run: otherwise the RAIDA dropped a
//!   request it had to answer;
//! - no malformed tell's GUID may ever be published into an inbox (`TellAccepted`) or
//!   skipped by the edit guard (`TellSkipped`: the guard runs only for a tell that passed
//!   every rule); a refused upload's GUID is checked by the adversary's download that
//!   follows it (`refused_upload_stored`, which must answer 202).

use std::collections::BTreeMap;

use super::skew_consistency::{within_window, PREAMBLE_REFUSALS};
use super::{Cause, CheckContext, Invariant, Violation};
use crate::faults::malformed::MalformedKind;
use crate::history::{EmailId, EventKind, FaultKind, History, Kind};
use qmail_wire::Status;

/// Checks `malformed_status`.
pub fn check(history: &History, ctx: &CheckContext) -> Vec<Violation> {
    let windows = tell_windows(history, ctx);
    let connection_fault =
        history
            .of_kinds(&[Kind::FaultFired])
            .find_map(|event| match &event.kind {
                EventKind::FaultFired {
                    fault,
                    hosts,
                    detail,
                } if fault.can_destroy_tell() => {
                    Some(Cause::from_fault(event.at_sim_us, fault, hosts, detail))
                }
                _ => None,
            });
    let mut malformed_guids: BTreeMap<EmailId, (u64, String)> = BTreeMap::new();
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::FaultFired]) {
        let EventKind::FaultFired {
            fault:
                FaultKind::MalformedRequest {
                    request,
                    raida,
                    status,
                    email_id,
                },
            ..
        } = &event.kind
        else {
            continue;
        };
        let Some(kind) = MalformedKind::from_name(request) else {
            violations.push(violation(
                event.at_sim_us,
                format!("unknown malformed request {request:?} to RAIDA {raida}"),
                None,
            ));
            continue;
        };
        if let Some(email_id) = email_id {
            if is_tell(kind) {
                malformed_guids.insert(*email_id, (event.at_sim_us, request.clone()));
            }
        }
        let window = email_id.and_then(|email_id| windows.get(&email_id).copied());
        let expected = expected_status(kind, window);
        let detail = match status {
            Some(status) if *status == expected.code() => continue,
            Some(status) => format!(
                "RAIDA {raida} answered {status} to malformed request {request}, not {} \
                 ({}){}",
                expected.code(),
                expected.name(),
                window_note(window)
            ),
            None if connection_fault.is_some() => continue,
            None => format!(
                "RAIDA {raida} sent no reply to malformed request {request} (expected {}) \
                 and no fault broke a connection in this run",
                expected.code()
            ),
        };
        violations.push(violation(event.at_sim_us, detail, None));
    }
    violations.extend(published(history, &malformed_guids));
    violations
}

/// The status the pages name for `kind`; `window` is whether the beacon judged a tell's
/// timestamps inside its window, when it recorded judging them.
fn expected_status(kind: MalformedKind, window: Option<bool>) -> Status {
    let expected = kind.expected_status();
    let timestamps_judged = matches!(
        kind,
        MalformedKind::TellStale
            | MalformedKind::TellUnknownMailbox
            | MalformedKind::TellRecipientDenomination
            | MalformedKind::TellFeeUnpaid
    );
    match window {
        Some(false) if timestamps_judged => Status::InvalidParameter,
        Some(true) if timestamps_judged => Status::WrongRaida,
        _ => expected,
    }
}

fn window_note(window: Option<bool>) -> &'static str {
    match window {
        Some(true) => "; the beacon's clock put its timestamps inside the window",
        Some(false) => "; the beacon's clock put a timestamp outside the window",
        None => "",
    }
}

/// Kinds that send a tell request.
fn is_tell(kind: MalformedKind) -> bool {
    matches!(
        kind,
        MalformedKind::TellAddressCountZero
            | MalformedKind::PreambleAn
            | MalformedKind::TellStale
            | MalformedKind::TellUnknownMailbox
            | MalformedKind::TellRecipientDenomination
            | MalformedKind::TellFeeUnpaid
    )
}

/// Per email, whether the beacon judged both timestamps inside its window (from each
/// `TellHandled` that reached the timestamp rules: not refused at the preamble).
fn tell_windows(history: &History, ctx: &CheckContext) -> BTreeMap<EmailId, bool> {
    history
        .of_kinds(&[Kind::TellHandled])
        .filter_map(|event| match &event.kind {
            EventKind::TellHandled {
                email_id,
                status,
                routing_timestamp_s,
                header_timestamp_s,
                beacon_clock_unix_s,
                ..
            } if !PREAMBLE_REFUSALS.contains(status) => {
                let inside =
                    within_window(*routing_timestamp_s, *beacon_clock_unix_s, ctx.tell_skew_s)
                        && within_window(
                            *header_timestamp_s,
                            *beacon_clock_unix_s,
                            ctx.tell_skew_s,
                        );
                Some((*email_id, inside))
            }
            _ => None,
        })
        .collect()
}

/// A malformed tell's GUID published or judged by the edit guard.
fn published(history: &History, guids: &BTreeMap<EmailId, (u64, String)>) -> Vec<Violation> {
    history
        .of_kinds(&[Kind::TellAccepted, Kind::TellSkipped])
        .filter_map(|event| {
            let (what, beacon, email_id) = match &event.kind {
                EventKind::TellAccepted {
                    beacon, email_id, ..
                } => ("published", beacon, email_id),
                EventKind::TellSkipped {
                    beacon, email_id, ..
                } => (
                    "passed every rule and reached the edit guard",
                    beacon,
                    email_id,
                ),
                _ => return None,
            };
            let (sent_us, request) = guids.get(email_id)?;
            Some(violation(
                event.at_sim_us,
                format!(
                    "beacon {beacon} {what}: the tell of malformed request {request} \
                     (email {email_id}, answered at {sent_us} us) changed an inbox"
                ),
                None,
            ))
        })
        .collect()
}

fn violation(at_sim_us: u64, detail: String, caused_by: Option<Cause>) -> Violation {
    Violation {
        invariant: Invariant::MalformedStatus,
        at_sim_us,
        detail,
        caused_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Bytes, Host, MailboxId};
    use crate::limits::SIM_EPOCH_UNIX_S;

    fn malformed(
        history: &mut History,
        at_us: u64,
        kind: MalformedKind,
        status: Option<u8>,
        email: Option<EmailId>,
    ) {
        history.record(
            at_us,
            Host::Adversary,
            EventKind::FaultFired {
                fault: FaultKind::MalformedRequest {
                    request: kind.name().to_string(),
                    raida: 4,
                    status,
                    email_id: email,
                },
                hosts: vec![Host::Adversary, Host::Raida(4)],
                detail: String::new(),
            },
        );
    }

    fn handled(history: &mut History, at_us: u64, email_id: EmailId, status: u8, timestamp_s: u32) {
        history.record(
            at_us,
            Host::Raida(4),
            EventKind::TellHandled {
                beacon: 4,
                request: 1,
                email_id,
                edit_sequence: 0,
                status,
                routing_timestamp_s: timestamp_s,
                header_timestamp_s: timestamp_s,
                beacon_clock_unix_s: SIM_EPOCH_UNIX_S,
                reason: None,
            },
        );
    }

    fn now_s() -> u32 {
        u32::try_from(SIM_EPOCH_UNIX_S).expect("the epoch fits u32")
    }

    #[test]
    fn the_named_status_holds_and_any_other_is_a_violation() {
        let mut history = History::new();
        malformed(&mut history, 1, MalformedKind::ShardId, Some(4), None);
        malformed(
            &mut history,
            2,
            MalformedKind::EncryptionType,
            Some(27),
            None,
        );
        malformed(&mut history, 3, MalformedKind::WrongKey, Some(34), None);
        let violations = check(&history, &CheckContext::default());
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].detail.contains("answered 34"),
            "{}",
            violations[0].detail
        );
        assert!(
            violations[0].detail.contains("not 37"),
            "{}",
            violations[0].detail
        );
    }

    #[test]
    fn a_missing_reply_counts_only_without_a_connection_fault() {
        let mut history = History::new();
        malformed(&mut history, 1, MalformedKind::Terminator, None, None);
        assert_eq!(check(&history, &CheckContext::default()).len(), 1);
        history.record(
            2,
            Host::World,
            EventKind::FaultFired {
                fault: FaultKind::Crash { step: None },
                hosts: vec![Host::Raida(4)],
                detail: String::new(),
            },
        );
        assert!(check(&history, &CheckContext::default()).is_empty());
    }

    #[test]
    fn a_tell_s_expected_status_follows_the_beacon_s_window() {
        let email = EmailId([7; 16]);
        let mut history = History::new();
        // The beacon's clock put the unknown-mailbox tell outside its window: 198 is right.
        handled(&mut history, 1, email, 198, now_s() - 600);
        malformed(
            &mut history,
            2,
            MalformedKind::TellUnknownMailbox,
            Some(198),
            Some(email),
        );
        assert!(check(&history, &CheckContext::default()).is_empty());
        // Inside the window, 198 for a stale tell is wrong: its only recipient is unknown.
        let stale = EmailId([8; 16]);
        handled(&mut history, 3, stale, 198, now_s());
        malformed(
            &mut history,
            4,
            MalformedKind::TellStale,
            Some(198),
            Some(stale),
        );
        let violations = check(&history, &CheckContext::default());
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].detail.contains("not 18"),
            "{}",
            violations[0].detail
        );
    }

    #[test]
    fn a_malformed_tell_that_changed_or_reached_an_inbox_is_a_violation() {
        let mailbox = MailboxId { denom: 1, sn: 1001 };
        let email = EmailId([9; 16]);
        let published = EventKind::TellAccepted {
            beacon: 4,
            request: 1,
            mailbox,
            email_id: email,
            edit_sequence: 0,
            record: Bytes(vec![0; 64]),
        };
        let judged = EventKind::TellSkipped {
            beacon: 4,
            request: 1,
            mailbox,
            email_id: email,
            edit_sequence: 0,
            existing_edit_sequence: 1,
        };
        for (reached, why) in [
            (published, "changed an inbox"),
            (judged, "reached the edit guard"),
        ] {
            let mut history = History::new();
            malformed(
                &mut history,
                1,
                MalformedKind::PreambleAn,
                Some(200),
                Some(email),
            );
            history.record(2, Host::Raida(4), reached);
            let violations = check(&history, &CheckContext::default());
            assert_eq!(violations.len(), 1, "{violations:?}");
            assert!(violations[0].detail.contains(why), "{violations:?}");
        }
    }

    #[test]
    fn every_drawn_kind_round_trips_its_name() {
        for kind in MalformedKind::DRAWN {
            assert_eq!(MalformedKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(MalformedKind::from_name("nonsense"), None);
    }
}
