//! `exact_record`, beacon side: the `total_file_size` a beacon stores is the one the tell
//! page prescribes, recomputed here from what the senders sent.
//!
//! The page (tell, file header bytes 46–49; DECISIONS.md "total_file_size"): when the beacon
//! holds the body stripe (file 0x01) of the email, `body_est = body_stripe_bytes ×
//! (stripe_count − 1)`, with `stripe_count` and `parity_algo` from the incoming record; if
//! the claim is more than 5% below the estimate (`claim × 100 < est × 95`) the beacon stores
//! the estimate, else the claim. The check is skipped when `parity_algo` is not 0 (XOR) or
//! `stripe_count` ≤ 1. A data or parity stripe of an XOR file of `L` bytes over `N` data
//! stripes is `⌈⌈8L / N⌉ / 8⌉` bytes (DECISIONS.md "Striping").
//!
//! The checker does not call the server's or the wire crate's estimate: it recomputes it
//! from the page, so a bug there cannot hide behind itself. For each `TellAccepted`:
//! - the stripe that can be on the beacon's disk is the body stripe of a revision of the
//!   email whose uploads had begun (`UploadStarted`) or whose tells had gone out by then, and
//!   only if that revision's record places a stripe on this beacon;
//! - the stored value must be the claim or the estimate from one of those stripes; when
//!   exactly one revision is possible, its uploads had completed (`EmailSent`) before the
//!   tell, and no fault could have removed the stripe (a lost stripe or a crash of the
//!   beacon), it must be exactly the page's value;
//! - a revision whose record never went out (its size unknown), or whose stripe is not
//!   XOR-striped, leaves only the 5% rule's direction to check (any estimate is above the
//!   claim).

use std::collections::{BTreeMap, BTreeSet};

use qmail_wire::tell::{TellRecord, FILE_TYPE_BODY, PARITY_ALGO_RAID5_XOR};
use qmail_wire::Codec;

use super::{Invariant, Violation};
use crate::history::{tell_total_file_size, EmailId, EventKind, FaultKind, History, Host, Kind};
use crate::limits::TOTAL_FILE_SIZE_SLACK_PERCENT;

/// What one revision's record says about its body stripes.
#[derive(Clone, Debug)]
struct Striping {
    /// `stripe_count` of the record.
    stripe_count: u8,
    /// `parity_algo` of the record.
    parity_algo: u8,
    /// RAIDA indexes holding a stripe.
    holders: BTreeSet<u8>,
    /// The body's original size, bytes.
    body_size_bytes: u64,
}

impl Striping {
    fn of(record: &[u8]) -> Option<Striping> {
        let decoded = TellRecord::from_bytes(record).ok()?;
        let body = decoded
            .manifest
            .iter()
            .find(|entry| entry.file_type == FILE_TYPE_BODY)?;
        Some(Striping {
            stripe_count: decoded.file_header.stripe_count,
            parity_algo: decoded.file_header.parity_algo,
            holders: decoded.servers.iter().map(|s| s.server_id).collect(),
            body_size_bytes: body.original_size,
        })
    }

    /// Bytes of each stripe of the body on disk, when XOR-striped.
    fn stripe_size_bytes(&self) -> Option<u64> {
        if self.parity_algo != PARITY_ALGO_RAID5_XOR || self.stripe_count <= 1 {
            return None;
        }
        let data_stripes = u64::from(self.stripe_count - 1);
        let bits_per_stripe = (self.body_size_bytes * 8).div_ceil(data_stripes);
        Some(bits_per_stripe.div_ceil(8))
    }
}

/// The value the page says a beacon holding a `stripe_size_bytes` body stripe stores for
/// `incoming` (its claim, stripe_count and parity_algo).
fn prescribed(incoming: &Striping, claimed: u32, stripe_size_bytes: u64) -> u32 {
    if incoming.parity_algo != PARITY_ALGO_RAID5_XOR || incoming.stripe_count <= 1 {
        return claimed;
    }
    let estimate = stripe_size_bytes.saturating_mul(u64::from(incoming.stripe_count - 1));
    let slack_percent = 100 - TOTAL_FILE_SIZE_SLACK_PERCENT;
    if u128::from(claimed) * 100 < u128::from(estimate) * u128::from(slack_percent) {
        u32::try_from(estimate).unwrap_or(u32::MAX)
    } else {
        claimed
    }
}

/// Every tell record sent for one email, with when and where it went.
struct Sent<'h> {
    at_us: u64,
    edit_sequence: u8,
    beacon: u8,
    record: &'h [u8],
}

/// What the judgement of each accepted tell looks up, built in one pass over the history.
#[derive(Default)]
struct Index<'h> {
    /// `UploadStarted` per email: (time, edit_sequence), oldest first.
    started: BTreeMap<EmailId, Vec<(u64, u8)>>,
    /// First `EmailSent` per (email, edit_sequence).
    sent_at: BTreeMap<(EmailId, u8), u64>,
    /// Faults that can remove a stored stripe: lost stripes, crashes and restarts.
    removals: Vec<(u64, &'h FaultKind, &'h [Host])>,
}

impl<'h> Index<'h> {
    fn new(history: &'h History) -> Self {
        let mut index = Index::default();
        for event in history.of_kinds(&[Kind::UploadStarted, Kind::EmailSent]) {
            match &event.kind {
                EventKind::UploadStarted {
                    email_id,
                    edit_sequence,
                    ..
                } => index
                    .started
                    .entry(*email_id)
                    .or_default()
                    .push((event.at_sim_us, *edit_sequence)),
                EventKind::EmailSent {
                    email_id,
                    edit_sequence,
                    ..
                } => {
                    index
                        .sent_at
                        .entry((*email_id, *edit_sequence))
                        .or_insert(event.at_sim_us);
                }
                _ => {}
            }
        }
        index.removals = history
            .faults()
            .filter(|(_, fault, _)| {
                matches!(
                    fault,
                    FaultKind::StripeLost { .. } | FaultKind::Crash { .. } | FaultKind::Restart
                )
            })
            .map(|(event, fault, hosts)| (event.at_sim_us, fault, hosts))
            .collect();
        index
    }
}

/// Checks the stored `total_file_size` of every accepted tell.
pub(super) fn check(history: &History) -> Vec<Violation> {
    let index = Index::new(history);
    let mut sent: BTreeMap<EmailId, Vec<Sent<'_>>> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::TellSent]) {
        if let EventKind::TellSent {
            email_id,
            edit_sequence,
            beacon,
            record,
            ..
        } = &event.kind
        {
            sent.entry(*email_id).or_default().push(Sent {
                at_us: event.at_sim_us,
                edit_sequence: *edit_sequence,
                beacon: *beacon,
                record: record.as_slice(),
            });
        }
    }
    let mut violations = Vec::new();
    for event in history.of_kinds(&[Kind::TellAccepted]) {
        let EventKind::TellAccepted {
            beacon,
            email_id,
            edit_sequence,
            record,
            ..
        } = &event.kind
        else {
            continue;
        };
        let accepted = Accepted {
            at_us: event.at_sim_us,
            beacon: *beacon,
            email_id: *email_id,
            edit_sequence: *edit_sequence,
            stored: record.as_slice(),
        };
        let empty = Vec::new();
        let sent_for_email = sent.get(email_id).unwrap_or(&empty);
        if let Err(detail) = judge(&index, &accepted, sent_for_email) {
            violations.push(Violation {
                invariant: Invariant::ExactRecord,
                at_sim_us: event.at_sim_us,
                detail: format!(
                    "beacon {} stored email {} es {}: {detail}",
                    accepted.beacon, accepted.email_id, accepted.edit_sequence
                ),
                caused_by: None,
            });
        }
    }
    violations
}

/// One accepted tell.
struct Accepted<'h> {
    at_us: u64,
    beacon: u8,
    email_id: EmailId,
    edit_sequence: u8,
    stored: &'h [u8],
}

fn judge(index: &Index<'_>, accepted: &Accepted<'_>, sent: &[Sent<'_>]) -> Result<(), String> {
    // The sender's record this tell stored (foreign or altered records are the receipt
    // check's to report).
    let Some(own) = sent.iter().find(|s| {
        s.edit_sequence == accepted.edit_sequence
            && s.beacon == accepted.beacon
            && s.at_us <= accepted.at_us
            && super::exact_record::equal_masked(accepted.stored, s.record)
    }) else {
        return Ok(());
    };
    let (Some(claimed), Some(stored)) = (
        tell_total_file_size(own.record),
        tell_total_file_size(accepted.stored),
    ) else {
        return Ok(());
    };
    let Some(incoming) = Striping::of(own.record) else {
        return Ok(());
    };
    if incoming.parity_algo != PARITY_ALGO_RAID5_XOR || incoming.stripe_count <= 1 {
        // The page skips the check: whatever is on disk, the claim stays.
        return if stored == claimed {
            Ok(())
        } else {
            Err(format!(
                "total_file_size {stored} for a claim of {claimed}, but parity_algo {} /                  stripe_count {} skip the size check",
                incoming.parity_algo, incoming.stripe_count
            ))
        };
    }
    let revisions = possible_revisions(index, accepted, sent);
    let mut allowed: BTreeSet<u32> = BTreeSet::from([claimed]);
    let mut unknown = false;
    for striping in revisions.values() {
        match striping {
            Some(striping) if !striping.holders.contains(&accepted.beacon) => {}
            Some(striping) => match striping.stripe_size_bytes() {
                Some(size) => {
                    allowed.insert(prescribed(&incoming, claimed, size));
                }
                None => unknown = true,
            },
            None => unknown = true,
        }
    }
    if certain(index, accepted, &revisions) {
        if let Some(size) = incoming.stripe_size_bytes() {
            allowed = BTreeSet::from([prescribed(&incoming, claimed, size)]);
        }
    }
    if allowed.contains(&stored) || (unknown && stored_above_slack(claimed, stored)) {
        return Ok(());
    }
    Err(format!(
        "total_file_size {stored} for a claim of {claimed} (stripe_count {}, parity_algo {}); \
         the tell page allows {allowed:?}",
        incoming.stripe_count, incoming.parity_algo
    ))
}

/// With a stripe of unknown size on disk, only the direction of the 5% rule is known.
fn stored_above_slack(claimed: u32, stored: u32) -> bool {
    stored > claimed
        && u64::from(claimed) * 100 < u64::from(stored) * (100 - TOTAL_FILE_SIZE_SLACK_PERCENT)
}

/// The revisions whose body stripe may be on the beacon's disk at the tell: uploads begun,
/// or tells sent, by then. `None` when the revision's record never went out.
fn possible_revisions(
    index: &Index<'_>,
    accepted: &Accepted<'_>,
    sent: &[Sent<'_>],
) -> BTreeMap<u8, Option<Striping>> {
    let mut edits: BTreeSet<u8> = index
        .started
        .get(&accepted.email_id)
        .into_iter()
        .flatten()
        .filter(|(at_us, _)| *at_us <= accepted.at_us)
        .map(|(_, edit)| *edit)
        .collect();
    edits.extend(
        sent.iter()
            .filter(|s| s.at_us <= accepted.at_us)
            .map(|s| s.edit_sequence),
    );
    edits
        .into_iter()
        .map(|edit| {
            let striping = sent
                .iter()
                .find(|s| s.edit_sequence == edit)
                .and_then(|s| Striping::of(s.record));
            (edit, striping)
        })
        .collect()
}

/// True when the beacon surely held this revision's body stripe and nothing else: the one
/// possible revision, its uploads complete before the tell, a stripe placed on the beacon,
/// and no lost stripe or crash of the beacon that could have removed it.
fn certain(
    index: &Index<'_>,
    accepted: &Accepted<'_>,
    revisions: &BTreeMap<u8, Option<Striping>>,
) -> bool {
    let only_this = revisions.len() == 1 && revisions.contains_key(&accepted.edit_sequence);
    let holds = revisions
        .get(&accepted.edit_sequence)
        .and_then(Option::as_ref)
        .is_some_and(|striping| striping.holders.contains(&accepted.beacon));
    let uploaded = index
        .sent_at
        .get(&(accepted.email_id, accepted.edit_sequence))
        .is_some_and(|at_us| *at_us <= accepted.at_us);
    let beacon = Host::Raida(accepted.beacon);
    let disturbed = index.removals.iter().any(|(at_us, fault, hosts)| {
        *at_us <= accepted.at_us
            && match fault {
                FaultKind::StripeLost { email_id, .. } => {
                    *email_id == accepted.email_id && hosts.contains(&beacon)
                }
                _ => hosts.is_empty() || hosts.contains(&beacon),
            }
    });
    only_this && holds && uploaded && !disturbed
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use qmail_wire::tell::{
        FileHeader, ManifestEntry, ServerEntry, FILE_FLAG_BODY, STRIPE_TYPE_DATA,
    };

    use super::super::testing::*;
    use super::*;
    use crate::limits::{TOTAL_FILE_SIZE_END, TOTAL_FILE_SIZE_OFFSET};

    const BEACON_ID: u8 = 2;

    /// A real record: `stripe_count` stripes on RAIDAs 0.., the body `body_size_bytes` long.
    fn real_record(es: u8, claimed: u32, stripe_count: u8, parity_algo: u8, body: u64) -> Vec<u8> {
        let header = FileHeader {
            email_id: email(1).0,
            total_file_size: claimed,
            edit_sequence: es,
            parity_algo,
            ..FileHeader::default()
        };
        let servers = (0..stripe_count)
            .map(|i| {
                let address = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, i + 1), 18000);
                ServerEntry::new(i, STRIPE_TYPE_DATA, i, address)
            })
            .collect();
        let manifest = vec![ManifestEntry {
            file_type: FILE_TYPE_BODY,
            file_flags: FILE_FLAG_BODY,
            original_size: body,
            ..ManifestEntry::default()
        }];
        TellRecord::new_v1(header, servers, manifest).to_bytes()
    }

    fn with_size(record: &[u8], size: u32) -> Vec<u8> {
        let mut stored = record.to_vec();
        stored[TOTAL_FILE_SIZE_OFFSET..TOTAL_FILE_SIZE_END].copy_from_slice(&size.to_be_bytes());
        stored
    }

    fn history(sent: &[u8], stored: &[u8], uploaded: bool) -> History {
        let mut builder = Builder::new();
        if uploaded {
            builder = builder.email_sent(email(1), 0, &[BOB]);
        }
        builder
            .push(
                Host::Client(0),
                EventKind::TellSent {
                    email_id: email(1),
                    edit_sequence: 0,
                    sender: ALICE,
                    beacon: BEACON_ID,
                    recipients: vec![BOB],
                    record: sent.to_vec().into(),
                    status: Some(250),
                    routing_timestamp_s: 0,
                    header_timestamp_s: 0,
                    sender_clock_unix_s: 0,
                    beacon_clock_unix_s: None,
                },
            )
            .push(
                Host::Raida(BEACON_ID),
                EventKind::TellAccepted {
                    beacon: BEACON_ID,
                    request: 1,
                    mailbox: BOB,
                    email_id: email(1),
                    edit_sequence: 0,
                    record: stored.to_vec().into(),
                },
            )
            .build()
    }

    #[test]
    fn the_estimate_follows_the_page() {
        // 10 bytes over 7 data stripes: 80 bits → 12 bits per stripe → 2-byte stripes;
        // estimate 2 × 7 = 14, and 10 × 100 < 14 × 95: the beacon stores 14.
        let sent = real_record(0, 10, 8, PARITY_ALGO_RAID5_XOR, 10);
        let right = history(&sent, &with_size(&sent, 14), true);
        assert_eq!(check(&right), vec![]);
        // Not overwriting, or overwriting with another number, breaks the page.
        let kept = history(&sent, &sent, true);
        assert_eq!(check(&kept).len(), 1, "the overwrite was due");
        let stripe_count_not_minus_one = history(&sent, &with_size(&sent, 16), true);
        let violations = check(&stripe_count_not_minus_one);
        assert_eq!(violations.len(), 1);
        assert!(
            violations[0].detail.contains("allows {14}"),
            "{violations:?}"
        );
    }

    #[test]
    fn within_the_slack_or_without_xor_the_claim_stays() {
        // 700 bytes over 7: 100-byte stripes, estimate exactly 700: the claim stays.
        let exact = real_record(0, 700, 8, PARITY_ALGO_RAID5_XOR, 700);
        assert_eq!(check(&history(&exact, &exact, true)), vec![]);
        assert_eq!(
            check(&history(&exact, &with_size(&exact, 735), true)).len(),
            1
        );
        // Reed–Solomon (parity_algo 1): the page skips the check.
        let rs = real_record(0, 10, 8, 1, 10);
        assert_eq!(check(&history(&rs, &rs, true)), vec![]);
        assert_eq!(check(&history(&rs, &with_size(&rs, 14), true)).len(), 1);
    }

    #[test]
    fn an_unfinished_upload_allows_either_value() {
        // No EmailSent before the tell: the stripe may not be on the beacon yet.
        let sent = real_record(0, 10, 8, PARITY_ALGO_RAID5_XOR, 10);
        assert_eq!(check(&history(&sent, &sent, false)), vec![]);
        assert_eq!(check(&history(&sent, &with_size(&sent, 14), false)), vec![]);
        assert_eq!(
            check(&history(&sent, &with_size(&sent, 15), false)).len(),
            1
        );
    }

    #[test]
    fn a_newer_revision_uploading_by_then_leaves_only_the_direction() {
        // Revision 1's uploads began before revision 0's tell reached the beacon, and its
        // record never went out: the body stripe on the disk may be revision 1's, of a size
        // nobody told, so only the 5% rule's direction holds (20 is above the claim of 10).
        let sent = real_record(0, 10, 8, PARITY_ALGO_RAID5_XOR, 10);
        let stored = with_size(&sent, 20);
        let mut events: Vec<(Host, EventKind)> = Vec::new();
        let only_revision_0 = history(&sent, &stored, true);
        for (index, event) in only_revision_0.events().iter().enumerate() {
            if index == 1 {
                let newer = EventKind::UploadStarted {
                    email_id: email(1),
                    sender: ALICE,
                    edit_sequence: 1,
                };
                events.push((Host::Client(0), newer));
            }
            events.push((event.host, event.kind.clone()));
        }
        let newer_started = events
            .into_iter()
            .fold(Builder::new(), |builder, (host, kind)| {
                builder.push(host, kind)
            })
            .build();
        assert_eq!(check(&newer_started), vec![]);
        // With revision 0 alone, its stripe is certain: only the page's 14 is right.
        assert_eq!(check(&only_revision_0).len(), 1);
    }

    #[test]
    fn a_beacon_without_a_stripe_keeps_the_claim() {
        // Two stripes on RAIDAs 0 and 1; the beacon (2) holds none.
        let sent = real_record(0, 1, 2, PARITY_ALGO_RAID5_XOR, 10);
        assert_eq!(check(&history(&sent, &sent, true)), vec![]);
        assert_eq!(check(&history(&sent, &with_size(&sent, 10), true)).len(), 1);
    }
}
