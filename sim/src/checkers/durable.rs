//! `durable`: every stripe a RAIDA acknowledged (upload 250) is still intact on its disk at
//! the end of the run, or a named fault destroyed it.
//!
//! The world audits the disks once the run is over (the storage faults healed): each RAIDA
//! reads back every stripe it acknowledged through its own stripe store and records each one
//! that is missing, fails its CRC-32 or cannot be read (`StripeAudited`). Each such stripe is
//! a violation; its cause is the fault that can destroy a stored stripe on that RAIDA:
//! the adversary's `stripe_lost` / `stripe_corrupted` of that file there, a `torn_write` of
//! its path, or a crash of that RAIDA after the stripe was first acknowledged (power loss
//! drops a rename whose directory was never synced: `stripe_dir_fsync = false`, the default,
//! acknowledges before the entry is durable). I/O errors, flipped reads and a full disk
//! cannot explain a lost stripe: they fail calls or hand back wrong bytes once, and the
//! server must neither acknowledge what it did not store nor damage what it did. So a lost
//! stripe under those faults alone is a bug. (Tells have `ack_durable`: every acknowledged
//! tell must be received.)

use super::{Cause, CheckContext, Faults, Invariant, Violation};
use crate::history::{EmailId, Event, EventKind, FaultKind, History, Host, Kind};

/// Checks `durable`.
pub(crate) fn check_with(
    history: &History,
    _ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    history
        .of_kinds(&[Kind::StripeAudited])
        .filter_map(|event| match &event.kind {
            EventKind::StripeAudited {
                raida,
                email_id,
                file_type,
                outcome,
            } => Some(Violation {
                invariant: Invariant::Durable,
                at_sim_us: event.at_sim_us,
                detail: format!(
                    "raida {raida} acknowledged email {email_id} file {file_type:#04x}; \
                     at the end its stripe is {outcome}"
                ),
                caused_by: cause(faults, history, *raida, *email_id, *file_type),
            }),
            _ => None,
        })
        .collect()
}

/// The fault that destroyed the stripe, if one did.
fn cause(
    faults: &Faults<'_>,
    history: &History,
    raida: u8,
    email_id: EmailId,
    file_type: u8,
) -> Option<Cause> {
    let guid = email_id.to_string();
    let host = Host::Raida(raida);
    let acked_us = first_upload_us(history, raida).unwrap_or(0);
    faults
        .iter()
        .find(|(at, fault, hosts)| {
            hosts.contains(&host)
                && match fault {
                    FaultKind::StripeLost {
                        email_id: id,
                        file_type: kind,
                        ..
                    }
                    | FaultKind::StripeCorrupted {
                        email_id: id,
                        file_type: kind,
                        ..
                    } => *id == email_id && *kind == file_type,
                    FaultKind::TornWrite { path } => path.contains(&guid),
                    FaultKind::Crash { .. } => *at >= acked_us,
                    _ => false,
                }
        })
        .map(|(at, fault, hosts)| {
            Cause::from_fault(*at, fault, hosts, "destroyed the stored stripe")
        })
}

/// When `raida` first answered an upload 250 (a crash before then cannot touch a stripe it
/// acknowledged).
fn first_upload_us(history: &History, raida: u8) -> Option<u64> {
    history
        .of_kinds(&[Kind::ServerRequest])
        .find_map(|event: &Event| match event.kind {
            EventKind::ServerRequest {
                raida: at,
                command: Some(crate::history::WireCommand::Upload),
                status: Some(250),
                ..
            } if at == raida => Some(event.at_sim_us),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn audited(builder: Builder, raida: u8, email_id: EmailId) -> Builder {
        builder.push(
            Host::Raida(raida),
            EventKind::StripeAudited {
                raida,
                email_id,
                file_type: 1,
                outcome: "missing".into(),
            },
        )
    }

    fn run(history: &History) -> Vec<Violation> {
        crate::checkers::check(Invariant::Durable, history, &CheckContext::default())
    }

    #[test]
    fn an_audit_without_findings_passes() {
        let history = Builder::new().tell(email(1), 0, &[BOB]).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_lost_stripe_with_no_fault_is_a_bug() {
        let history = audited(Builder::new(), 4, email(1)).build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].caused_by, None);
        assert!(
            violations[0].detail.contains("missing"),
            "{}",
            violations[0].detail
        );
    }

    #[test]
    fn io_errors_and_flipped_reads_explain_nothing() {
        let path = format!("/raida/stripes/{}.01.stripe", email(1));
        let builder = Builder::new()
            .fault(
                FaultKind::IoError {
                    op: "rename".into(),
                    path: path.clone(),
                },
                &[Host::Raida(4)],
            )
            .fault(FaultKind::ReadCorrupted { path }, &[Host::Raida(4)]);
        let history = audited(builder, 4, email(1)).build();
        assert_eq!(run(&history)[0].caused_by, None);
    }

    #[test]
    fn the_stripe_faults_a_torn_write_and_a_crash_of_that_raida_explain() {
        let path = format!("/raida/stripes/{}.01.stripe", email(1));
        let explaining = [
            FaultKind::StripeLost {
                email_id: email(1),
                file_type: 1,
                stripe_index: 0,
            },
            FaultKind::TornWrite { path },
            FaultKind::Crash { step: None },
        ];
        for fault in explaining {
            let builder = Builder::new().fault(fault.clone(), &[Host::Raida(4)]);
            let history = audited(builder, 4, email(1)).build();
            let cause = run(&history)[0].caused_by.clone();
            assert_eq!(cause.and_then(|cause| cause.fault), Some(fault));
        }
    }

    #[test]
    fn a_fault_on_another_raida_or_email_explains_nothing() {
        let builder = Builder::new()
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(5)])
            .fault(
                FaultKind::StripeLost {
                    email_id: email(2),
                    file_type: 1,
                    stripe_index: 0,
                },
                &[Host::Raida(4)],
            );
        let history = audited(builder, 4, email(1)).build();
        assert_eq!(run(&history)[0].caused_by, None);
    }

    #[test]
    fn a_crash_before_the_raida_acknowledged_any_upload_explains_nothing() {
        let upload_answered = EventKind::ServerRequest {
            raida: 4,
            request: 1,
            client_request: Some(1),
            command: Some(crate::history::WireCommand::Upload),
            outcome: crate::history::ServerOutcome::Replied,
            status: Some(250),
            execution_us: 0,
        };
        let crash = FaultKind::Crash { step: None };
        let crash_first = Builder::new()
            .fault(crash.clone(), &[Host::Raida(4)])
            .push(Host::Raida(4), upload_answered.clone());
        let history = audited(crash_first, 4, email(1)).build();
        assert_eq!(run(&history)[0].caused_by, None);
        let acked_first = Builder::new()
            .push(Host::Raida(4), upload_answered)
            .fault(crash.clone(), &[Host::Raida(4)]);
        let history = audited(acked_first, 4, email(1)).build();
        let cause = run(&history)[0].caused_by.clone();
        assert_eq!(cause.and_then(|cause| cause.fault), Some(crash));
    }
}
