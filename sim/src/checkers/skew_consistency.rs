//! `skew_consistency`: the beacon accepts a tell's timestamps exactly when both are within
//! `tell_skew_s` of its own clock at handling time, and rejects it with 198 otherwise.
//!
//! Read from the server's own record of each tell request (`TellHandled`: both timestamps,
//! the beacon clock it compared them with, the status it answered). "Within" is
//! |timestamp − beacon clock| ≤ tell_skew_s, in whole seconds. Inside the window the status
//! may be 250 or 18 (zero deliveries, e.g. every recipient skipped by the edit guard) but
//! never 198: the simulated clients only build tells that pass every other field rule, so a
//! 198 inside the window can only come from a wrong timestamp check. A tell refused at its
//! preamble (40, 8, 200: the malformed-request adversary's wrong AN, say) never reached the
//! timestamp rules and is not judged.

use super::{CheckContext, Invariant, Violation};
use crate::history::{EventKind, History, Kind};
use crate::limits::STATUS_INVALID_PARAMETER;
use qmail_wire::Status;

/// Statuses of a tell refused at its preamble, before any timestamp rule ran.
pub(crate) const PREAMBLE_REFUSALS: [u8; 3] = [
    Status::InvalidSnOrDenomination.code(),
    Status::CoinNotFound.code(),
    Status::InvalidAn.code(),
];

/// Whether one timestamp is inside the window around the beacon's clock.
pub fn within_window(timestamp_s: u32, beacon_clock_unix_s: i64, tell_skew_s: u32) -> bool {
    (i64::from(timestamp_s) - beacon_clock_unix_s).unsigned_abs() <= u64::from(tell_skew_s)
}

/// Checks `skew_consistency`.
pub fn check(history: &History, ctx: &CheckContext) -> Vec<Violation> {
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::TellHandled]) {
        let EventKind::TellHandled {
            beacon,
            request,
            email_id,
            status,
            routing_timestamp_s,
            header_timestamp_s,
            beacon_clock_unix_s,
            ..
        } = &event.kind
        else {
            continue;
        };
        if PREAMBLE_REFUSALS.contains(status) {
            continue;
        }
        let routing_ok = within_window(*routing_timestamp_s, *beacon_clock_unix_s, ctx.tell_skew_s);
        let header_ok = within_window(*header_timestamp_s, *beacon_clock_unix_s, ctx.tell_skew_s);
        let inside = routing_ok && header_ok;
        let rejected = *status == STATUS_INVALID_PARAMETER;
        if inside != rejected {
            continue;
        }
        let verdict = if inside {
            "rejected with 198 although both timestamps are inside"
        } else {
            "not rejected with 198 although a timestamp is outside"
        };
        violations.push(Violation {
            invariant: Invariant::SkewConsistency,
            at_sim_us: event.at_sim_us,
            detail: format!(
                "beacon {beacon} request {request} email {email_id} answered {status}: {verdict} \
                 the ±{}s window (routing {routing_timestamp_s}, header {header_timestamp_s}, \
                 beacon clock {beacon_clock_unix_s})",
                ctx.tell_skew_s
            ),
            caused_by: None,
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::Host;

    const NOW_S: i64 = 1_767_225_600;

    fn handled(status: u8, routing_s: i64, header_s: i64) -> EventKind {
        EventKind::TellHandled {
            beacon: BEACON,
            request: 1,
            email_id: email(1),
            edit_sequence: 0,
            status,
            routing_timestamp_s: u32::try_from(routing_s).expect("fits"),
            header_timestamp_s: u32::try_from(header_s).expect("fits"),
            beacon_clock_unix_s: NOW_S,
            reason: None,
        }
    }

    fn run(kinds: Vec<EventKind>) -> Vec<Violation> {
        let mut builder = Builder::new();
        for kind in kinds {
            builder = builder.push(Host::Raida(BEACON), kind);
        }
        check(&builder.build(), &CheckContext::default())
    }

    #[test]
    fn window_edges() {
        assert!(within_window(1060, 1000, 60));
        assert!(within_window(940, 1000, 60));
        assert!(!within_window(1061, 1000, 60));
        assert!(!within_window(939, 1000, 60));
        assert!(within_window(0, 0, 0));
    }

    #[test]
    fn consistent_verdicts_pass() {
        let violations = run(vec![
            handled(250, NOW_S, NOW_S),
            handled(250, NOW_S - 60, NOW_S + 60),
            handled(18, NOW_S + 10, NOW_S),
            handled(198, NOW_S + 61, NOW_S),
            handled(198, NOW_S, NOW_S - 61),
        ]);
        assert_eq!(violations, vec![]);
    }

    #[test]
    fn a_tell_refused_at_its_preamble_is_not_judged() {
        // A wrong preamble AN (200) is answered before the timestamps are looked at, even
        // when they are a day out of the window.
        let violations = run(vec![
            handled(200, NOW_S - 86_400, NOW_S - 86_400),
            handled(8, NOW_S + 600, NOW_S),
            handled(40, NOW_S, NOW_S - 600),
        ]);
        assert_eq!(violations, vec![]);
    }

    #[test]
    fn an_accepted_stale_tell_and_a_rejected_fresh_one_are_caught() {
        let violations = run(vec![
            handled(250, NOW_S, NOW_S - 61),
            handled(198, NOW_S, NOW_S + 60),
            handled(18, NOW_S + 300, NOW_S),
        ]);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].detail.contains("not rejected"));
        assert!(violations[1]
            .detail
            .contains("rejected with 198 although both"));
    }
}
