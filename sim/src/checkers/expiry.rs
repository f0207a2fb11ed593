//! `expiry`: a stored stripe lives exactly as long as its upload's `storage_duration` says,
//! by the server's clock (DECISIONS.md, Upload: "Expired stripes (storage duration passed,
//! by the server's clock) are gone").
//!
//! A run lasts minutes and the shortest duration is a day, so no stripe expires inside one.
//! The world therefore audits expiry once the run is over, in the same pass as the
//! `durable` audit: each RAIDA checks that every stripe it acknowledged is on its disk, then
//! reads it through its own stripe store at two instants of its clock, three days before and
//! three days after the storage duration the simulated clients ask for (the margin covers
//! the longest run, clock drift and a clock step, so the server's clock at upload time cannot
//! move the expiry past either instant). A stripe on the disk whose first read finds it
//! corrupt or unreadable is damaged (`durable`'s). Otherwise the first read must serve the
//! stripe, the second must find it absent, and that read must remove the file. Each stripe
//! that fails is recorded (`StripeExpiryAudited`) and is a violation here, including one
//! whose expiry had already passed at the audit (a server that counts a far shorter
//! duration): it is on the disk, so it is an expiry failure, not a lost stripe.
//!
//! No fault explains one: the storage faults are healed and no crash is planned when the
//! audit runs, and the file was on the disk when the audit began.

use super::{CheckContext, Invariant, Violation};
use crate::history::{EventKind, History, Kind};

/// Checks `expiry`.
pub fn check(history: &History, _ctx: &CheckContext) -> Vec<Violation> {
    history
        .of_kinds(&[Kind::StripeExpiryAudited])
        .filter_map(|event| match &event.kind {
            EventKind::StripeExpiryAudited {
                raida,
                email_id,
                file_type,
                outcome,
            } => Some(Violation {
                invariant: Invariant::Expiry,
                at_sim_us: event.at_sim_us,
                detail: format!(
                    "raida {raida} acknowledged email {email_id} file {file_type:#04x}; \
                     the expiry audit found it {outcome}"
                ),
                caused_by: None,
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{FaultKind, Host};

    fn run(history: &History) -> Vec<Violation> {
        check(history, &CheckContext::default())
    }

    #[test]
    fn an_audit_without_findings_passes() {
        let history = Builder::new().tell(email(1), 0, &[BOB]).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_stripe_served_after_its_expiry_is_a_bug_no_fault_explains() {
        let history = Builder::new()
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(4)])
            .push(
                Host::Raida(4),
                EventKind::StripeExpiryAudited {
                    raida: 4,
                    email_id: email(1),
                    file_type: 1,
                    outcome: "served at now + 2851200s, after its expiry".into(),
                },
            )
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].invariant, Invariant::Expiry);
        assert_eq!(violations[0].caused_by, None);
        assert!(violations[0].detail.contains("after its expiry"));
    }

    #[test]
    fn a_durable_finding_is_not_an_expiry_finding() {
        let history = Builder::new()
            .push(
                Host::Raida(4),
                EventKind::StripeAudited {
                    raida: 4,
                    email_id: email(1),
                    file_type: 1,
                    outcome: "missing".into(),
                },
            )
            .build();
        assert_eq!(run(&history), vec![]);
    }
}
