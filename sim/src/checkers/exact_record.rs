//! `exact_record`: no partial, merged or foreign tell. Every record a device receives equals,
//! byte for byte, a record some sender sent to that mailbox.
//!
//! One difference is allowed: the beacon may overwrite `total_file_size` (file-header bytes
//! 46..50) with its own estimate when the sender's value is more than 5% below it. So the
//! comparison masks those four bytes, and when they differ the received value must be an
//! increase that the 5% rule allows (sent × 100 < received × 95).
//!
//! On the beacon side, [`super::size_estimate`] recomputes the value each accepted tell
//! should have stored, exactly as the tell page defines the estimate.

use std::collections::BTreeMap;

use super::{receipts, CheckContext, Invariant, Violation};
use crate::history::{tell_total_file_size, EmailId, EventKind, History, Kind, MailboxId};
use crate::limits::{TOTAL_FILE_SIZE_END, TOTAL_FILE_SIZE_OFFSET, TOTAL_FILE_SIZE_SLACK_PERCENT};

/// Sent records by (recipient, email id from the record's first 16 bytes), oldest first.
type SentIndex<'h> = BTreeMap<(MailboxId, EmailId), Vec<(u64, &'h [u8])>>;

/// Checks `exact_record`.
pub fn check(history: &History, _ctx: &CheckContext) -> Vec<Violation> {
    let sent = sent_records(history);
    let mut violations = Vec::new();
    for receipt in receipts(history) {
        let candidates: Vec<&[u8]> = record_email(receipt.record)
            .and_then(|email_id| sent.get(&(receipt.mailbox, email_id)))
            .into_iter()
            .flatten()
            .take_while(|(at, _)| *at <= receipt.at_sim_us)
            .map(|(_, record)| *record)
            .collect();
        if let Err(detail) = verdict(receipt.record, &candidates) {
            violations.push(Violation {
                invariant: Invariant::ExactRecord,
                at_sim_us: receipt.at_sim_us,
                detail: format!(
                    "mailbox {} device {} from beacon {}: {detail}",
                    receipt.mailbox, receipt.device, receipt.beacon
                ),
                caused_by: None,
            });
        }
    }
    violations.extend(super::size_estimate::check(history));
    violations.sort_by_key(|violation| violation.at_sim_us);
    violations
}

/// The email id in a record's first 16 bytes.
fn record_email(record: &[u8]) -> Option<EmailId> {
    Some(EmailId(record.get(..16)?.try_into().ok()?))
}

fn sent_records(history: &History) -> SentIndex<'_> {
    let mut sent: SentIndex<'_> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::TellSent]) {
        if let EventKind::TellSent {
            recipients, record, ..
        } = &event.kind
        {
            let Some(email_id) = record_email(record.as_slice()) else {
                continue;
            };
            for recipient in recipients {
                sent.entry((*recipient, email_id))
                    .or_default()
                    .push((event.at_sim_us, record.as_slice()));
            }
        }
    }
    sent
}

/// True when the two records are equal outside `total_file_size`.
pub(super) fn equal_masked(received: &[u8], sent: &[u8]) -> bool {
    received.len() == sent.len()
        && received
            .iter()
            .zip(sent)
            .enumerate()
            .all(|(index, (a, b))| {
                (TOTAL_FILE_SIZE_OFFSET..TOTAL_FILE_SIZE_END).contains(&index) || a == b
            })
}

/// Whether the beacon's 5% rule allows turning `sent` into `received`.
fn overwrite_allowed(sent: u32, received: u32) -> bool {
    received > sent
        && u64::from(sent) * 100 < u64::from(received) * (100 - TOTAL_FILE_SIZE_SLACK_PERCENT)
}

fn verdict(received: &[u8], candidates: &[&[u8]]) -> Result<(), String> {
    if candidates.contains(&received) {
        return Ok(());
    }
    let masked: Vec<&&[u8]> = candidates
        .iter()
        .filter(|sent| equal_masked(received, sent))
        .collect();
    if masked.is_empty() {
        return Err(describe_mismatch(received, candidates));
    }
    let got = tell_total_file_size(received).unwrap_or(0);
    let allowed = masked
        .iter()
        .any(|sent| overwrite_allowed(tell_total_file_size(sent).unwrap_or(0), got));
    if allowed {
        Ok(())
    } else {
        let sent: Vec<u32> = masked
            .iter()
            .map(|sent| tell_total_file_size(sent).unwrap_or(0))
            .collect();
        Err(format!(
            "total_file_size {got} is not an allowed overwrite of the sent value(s) {sent:?}"
        ))
    }
}

/// Why a record matches none of the sent records of its email (`candidates`, all of which
/// name the same email id as `received`).
fn describe_mismatch(received: &[u8], candidates: &[&[u8]]) -> String {
    let Some(closest) = candidates
        .iter()
        .min_by_key(|sent| sent.len().abs_diff(received.len()))
    else {
        return format!(
            "{} bytes match no record sent to this mailbox (foreign tell)",
            received.len()
        );
    };
    let first_difference = received
        .iter()
        .zip(closest.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(received.len().min(closest.len()));
    format!(
        "{} bytes differ from the sent {}-byte record of that email from byte {first_difference} \
         (partial or corrupted tell)",
        received.len(),
        closest.len()
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn run(history: &History) -> Vec<Violation> {
        check(history, &CheckContext::default())
    }

    #[test]
    fn clean_history_passes() {
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(1), 0)
            .build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn partial_foreign_and_altered_records_are_caught() {
        let mut truncated = record(email(1), 0, 1000);
        truncated.truncate(80);
        let mut altered = record(email(1), 0, 1000);
        altered[70] ^= 0xFF;
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .tell(email(2), 0, &[CAROL])
            .received(BOB, 0, truncated)
            .received(BOB, 0, altered)
            .receive(BOB, 0, email(2), 0)
            .build();
        let violations = run(&history);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].detail.contains("partial"));
        assert!(violations[1].detail.contains("from byte 70"));
        assert!(violations[2].detail.contains("foreign"));
    }

    #[test]
    fn size_overwrite_follows_the_five_percent_rule() {
        // Sent 1000; an estimate of 1100 is > 5% above, so the overwrite is allowed.
        let history = Builder::new()
            .tell(email(1), 0, &[BOB])
            .received(BOB, 0, record(email(1), 0, 1100))
            .build();
        assert_eq!(run(&history), vec![]);
        // 1040 is within 5%: the beacon must not have touched it.
        let within = Builder::new()
            .tell(email(1), 0, &[BOB])
            .received(BOB, 0, record(email(1), 0, 1040))
            .build();
        assert_eq!(run(&within).len(), 1);
        // A decrease is never allowed.
        let decreased = Builder::new()
            .tell(email(1), 0, &[BOB])
            .received(BOB, 0, record(email(1), 0, 10))
            .build();
        let violations = run(&decreased);
        assert_eq!(violations.len(), 1);
        assert!(violations[0].detail.contains("total_file_size 10"));
    }

    #[test]
    fn overwrite_rule_boundaries() {
        assert!(overwrite_allowed(94, 100));
        assert!(!overwrite_allowed(95, 100));
        assert!(!overwrite_allowed(100, 100));
        assert!(!overwrite_allowed(101, 100));
        assert!(overwrite_allowed(0, 1));
    }
}
