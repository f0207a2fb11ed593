//! `ping_wake`: a tell accepted into an inbox where a ping is parked wakes that ping within
//! [`PING_WAKE_BOUND_US`], in every phase.
//!
//! A ping that finds no tells parks (`PingParked`) and ends with `PingResumed` (woken, its
//! reply carries the inbox's tells) or `PingTimedOut`. The server subscribes to the inbox
//! before its final scan, so no tell can slip between them: a tell renamed in before the
//! scan is found by it (the ping does not park), one renamed in after the subscription
//! wakes it. Hence, for a tell accepted at `t` on beacon `b` for mailbox `m` (after the heal)
//! and a ping on `(b, m)` parked at `p`, the ping must have answered by
//! `max(t, p) + PING_WAKE_BOUND_US` — unless the tell was gone by then: some reply (any
//! request's `TellsRead` on `(b, m)`, at or after `t` and by that deadline) carried it or a
//! newer revision of its email (two parked pings race for one tell; a peek may take it
//! first), or a deletion (`TellDeleted` on `(b, m)`, same window) removed it or a newer
//! revision: a poll that read an earlier copy of the same bytes (a duplicate published while
//! that poll was between its read and its delete, under interleaving) removes the copy
//! too, and rightly so, since its device received those bytes. A ping still parked at its deadline is a violation: one that timed out instead,
//! one woken too late, or one never answered by the end of the run (unless its beacon
//! crashed or restarted meanwhile, which ends a park without an event). A crash or restart
//! of the beacon between the tell and the deadline excuses it too: a power loss may have
//! undone the rename (`inbox_dir_fsync = false`); so does a storage fault on the tell's file
//! on the beacon in that window (a rescan skips a tell it cannot stat or read). The wake is the
//! beacon's own business (subscribe, rename, notify): no network fault reaches it, so the
//! safety phase is judged too (most parked pings meet their tells there).

use std::collections::BTreeMap;

use super::{CheckContext, Invariant, Violation};
use crate::history::{EmailId, EventKind, FaultKind, History, Host, Kind, MailboxId};
use crate::limits::PING_WAKE_BOUND_US;
use crate::trace::format_sim_time;

/// File-system calls a woken ping's rescan and reply may wait on, each up to
/// [`CheckContext::fs_call_delay_us_max`] when file-system latency or yield points are on:
/// the listing, a stat and a read (and a re-read) per tell of a small inbox, the deletes.
const FS_CALLS_PER_WAKE_MAX: u64 = 16;

/// One parked ping.
#[derive(Clone, Copy, Debug)]
struct Park {
    request: u64,
    parked_us: u64,
    /// When it was answered, and whether by timing out.
    ended: Option<(u64, bool)>,
}

/// One tell accepted into an inbox.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    at_us: u64,
    email_id: EmailId,
    edit_sequence: u8,
}

/// One record a reply carried: (time, email, edit_sequence).
type Carried = (u64, EmailId, u8);

/// Everything the checker reads, per (beacon, mailbox).
#[derive(Default)]
struct Inbox {
    parks: Vec<Park>,
    accepted: Vec<Accepted>,
    carried: Vec<Carried>,
    /// Records deleted from the inbox, like `carried`.
    deleted: Vec<Carried>,
}

fn inboxes(history: &History) -> BTreeMap<(u8, MailboxId), Inbox> {
    let mut inboxes: BTreeMap<(u8, MailboxId), Inbox> = BTreeMap::new();
    let mut open: BTreeMap<(u8, u64), ((u8, MailboxId), usize)> = BTreeMap::new();
    let kinds = [
        Kind::PingParked,
        Kind::PingResumed,
        Kind::PingTimedOut,
        Kind::TellAccepted,
        Kind::TellDeleted,
        Kind::TellsRead,
    ];
    for event in history.of_kinds(&kinds) {
        let at_us = event.at_sim_us;
        match &event.kind {
            EventKind::PingParked {
                beacon,
                request,
                mailbox,
            } => {
                let inbox = inboxes.entry((*beacon, *mailbox)).or_default();
                open.insert(
                    (*beacon, *request),
                    ((*beacon, *mailbox), inbox.parks.len()),
                );
                inbox.parks.push(Park {
                    request: *request,
                    parked_us: at_us,
                    ended: None,
                });
            }
            EventKind::PingResumed {
                beacon, request, ..
            }
            | EventKind::PingTimedOut {
                beacon, request, ..
            } => {
                let timed_out = matches!(event.kind, EventKind::PingTimedOut { .. });
                if let Some((key, index)) = open.remove(&(*beacon, *request)) {
                    if let Some(park) = inboxes.get_mut(&key).and_then(|i| i.parks.get_mut(index)) {
                        park.ended = Some((at_us, timed_out));
                    }
                }
            }
            EventKind::TellAccepted {
                beacon,
                mailbox,
                email_id,
                edit_sequence,
                ..
            } => inboxes
                .entry((*beacon, *mailbox))
                .or_default()
                .accepted
                .push(Accepted {
                    at_us,
                    email_id: *email_id,
                    edit_sequence: *edit_sequence,
                }),
            EventKind::TellDeleted {
                beacon,
                mailbox,
                email_id,
                edit_sequence,
                ..
            } => inboxes
                .entry((*beacon, *mailbox))
                .or_default()
                .deleted
                .push((at_us, *email_id, *edit_sequence)),
            EventKind::TellsRead {
                beacon,
                mailbox,
                tells,
                ..
            } => {
                let inbox = inboxes.entry((*beacon, *mailbox)).or_default();
                inbox.carried.extend(
                    tells
                        .iter()
                        .map(|tell| (at_us, tell.email_id, tell.edit_sequence)),
                );
            }
            _ => {}
        }
    }
    inboxes
}

/// Times each host's software stopped (crash or restart), in one pass over the history; a
/// fault that names no host stopped every host and is kept under `None`.
fn stops_by_host(history: &History) -> BTreeMap<Option<Host>, Vec<u64>> {
    let mut stops: BTreeMap<Option<Host>, Vec<u64>> = BTreeMap::new();
    for (event, fault, hosts) in history.faults() {
        if !matches!(fault, FaultKind::Crash { .. } | FaultKind::Restart) {
            continue;
        }
        if hosts.is_empty() {
            stops.entry(None).or_default().push(event.at_sim_us);
        }
        for host in hosts {
            stops.entry(Some(*host)).or_default().push(event.at_sim_us);
        }
    }
    stops
}

/// Times the beacon's software stopped (crash or restart), oldest first.
fn stops(stops_by_host: &BTreeMap<Option<Host>, Vec<u64>>, beacon: u8) -> Vec<u64> {
    let everyone = stops_by_host.get(&None).into_iter().flatten();
    let own = stops_by_host
        .get(&Some(Host::Raida(beacon)))
        .into_iter()
        .flatten();
    let mut stops: Vec<u64> = everyone.chain(own).copied().collect();
    stops.sort_unstable();
    stops.dedup();
    stops
}

/// The storage faults (time, path) that each beacon's disk injected on tell files, in one
/// pass over the history: a rescan that cannot stat or read a tell skips it (it stays for a
/// later poll), so the woken ping may find nothing and park again.
fn tell_disk_faults(history: &History) -> BTreeMap<u8, Vec<(u64, &str)>> {
    let mut by_beacon: BTreeMap<u8, Vec<(u64, &str)>> = BTreeMap::new();
    for (event, fault, hosts) in history.faults() {
        let Some(path) = fault.storage_path().filter(|path| path.ends_with(".tell")) else {
            continue;
        };
        for host in hosts {
            if let Host::Raida(beacon) = host {
                by_beacon
                    .entry(*beacon)
                    .or_default()
                    .push((event.at_sim_us, path));
            }
        }
    }
    by_beacon
}

/// When the beacon's disk failed or flipped a call on `email_id`'s tell file, from the
/// beacon's [`tell_disk_faults`].
fn disk_faults_on(faults: &[(u64, &str)], email_id: EmailId) -> Vec<u64> {
    let email_hex = email_id.to_string();
    faults
        .iter()
        .filter(|(_, path)| path.contains(&email_hex))
        .map(|(at_us, _)| *at_us)
        .collect()
}

/// True when `carried` (records a reply carried, or records deleted) holds the tell or a
/// newer revision of its email in `[from, to]`.
fn carried_between(carried: &[Carried], tell: &Accepted, from_us: u64, to_us: u64) -> bool {
    carried.iter().any(|(at_us, email_id, edit_sequence)| {
        (from_us..=to_us).contains(at_us)
            && *email_id == tell.email_id
            && *edit_sequence >= tell.edit_sequence
    })
}

/// Checks `ping_wake`.
pub fn check(history: &History, ctx: &CheckContext) -> Vec<Violation> {
    let bound_us = PING_WAKE_BOUND_US + FS_CALLS_PER_WAKE_MAX * ctx.fs_call_delay_us_max;
    let end_us = history.end_us();
    let mut violations = Vec::new();
    // One pass over the history for every beacon's stops, not one per beacon.
    let stops_by_host = stops_by_host(history);
    let mut stops_by_beacon: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
    let disk_faults = tell_disk_faults(history);
    for ((beacon, mailbox), inbox) in inboxes(history) {
        let stops = stops_by_beacon
            .entry(beacon)
            .or_insert_with(|| stops(&stops_by_host, beacon));
        for park in &inbox.parks {
            let answered_us = park.ended.map_or(end_us, |(at_us, _)| at_us);
            let beacon_disk_faults = disk_faults.get(&beacon).map_or(&[][..], Vec::as_slice);
            let died = park.ended.is_none()
                && stops
                    .iter()
                    .any(|at_us| (park.parked_us..=end_us).contains(at_us));
            if died {
                continue;
            }
            let late = inbox.accepted.iter().find(|tell| {
                let deadline_us = tell.at_us.max(park.parked_us) + bound_us;
                // A crash between the rename and the wake may have undone the rename; a disk
                // fault on the tell's file may have hidden it from the rescan.
                let lost = stops
                    .iter()
                    .chain(&disk_faults_on(beacon_disk_faults, tell.email_id))
                    .any(|at_us| (tell.at_us..=deadline_us).contains(at_us));
                !lost
                    && tell.at_us <= answered_us
                    && deadline_us < answered_us
                    && !carried_between(&inbox.carried, tell, tell.at_us, deadline_us)
                    && !carried_between(&inbox.deleted, tell, tell.at_us, deadline_us)
            });
            if let Some(tell) = late {
                let deadline_us = tell.at_us.max(park.parked_us) + bound_us;
                let how = match park.ended {
                    Some((at_us, true)) => format!("timed out at {}s", format_sim_time(at_us)),
                    Some((at_us, false)) => format!("woke only at {}s", format_sim_time(at_us)),
                    None => "was never answered".to_string(),
                };
                violations.push(Violation {
                    invariant: Invariant::PingWake,
                    at_sim_us: deadline_us,
                    detail: format!(
                        "beacon {beacon} accepted email {} es {} for mailbox {mailbox} at {}s; \
                         the ping (request {}) parked at {}s {how}",
                        tell.email_id,
                        tell.edit_sequence,
                        format_sim_time(tell.at_us),
                        park.request,
                        format_sim_time(park.parked_us),
                    ),
                    caused_by: None,
                });
            }
        }
    }
    violations.sort_by_key(|violation| violation.at_sim_us);
    violations
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::history::{Bytes, PollKind, TellRef};
    use crate::limits::US_PER_S;

    const PING: u64 = 40;

    fn parked(builder: Builder, request: u64) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::PingParked {
                beacon: BEACON,
                request,
                mailbox: BOB,
            },
        )
    }

    fn accepted(builder: Builder, email_id: EmailId, es: u8) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::TellAccepted {
                beacon: BEACON,
                request: 1,
                mailbox: BOB,
                email_id,
                edit_sequence: es,
                record: Bytes(record(email_id, es, 1000)),
            },
        )
    }

    fn read(builder: Builder, request: u64, email_id: EmailId, es: u8) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::TellsRead {
                beacon: BEACON,
                request,
                mailbox: BOB,
                via: PollKind::Peek,
                tells: vec![TellRef {
                    email_id,
                    edit_sequence: es,
                }],
            },
        )
    }

    fn resumed(builder: Builder, request: u64) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::PingResumed {
                beacon: BEACON,
                request,
                mailbox: BOB,
                status: 250,
            },
        )
    }

    fn timed_out(builder: Builder, request: u64) -> Builder {
        builder.push(
            Host::Raida(BEACON),
            EventKind::PingTimedOut {
                beacon: BEACON,
                request,
                mailbox: BOB,
                status: 17,
            },
        )
    }

    fn run(history: &History) -> Vec<Violation> {
        check(history, &CheckContext::default())
    }

    fn later(builder: Builder, s: u64) -> Builder {
        let at = builder.now_us + s * US_PER_S;
        builder.at(at)
    }

    #[test]
    fn a_woken_ping_passes() {
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 3), email(1), 0);
        let history = resumed(read(builder, PING, email(1), 0), PING).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_ping_that_times_out_over_a_tell_is_a_violation() {
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 3), email(1), 0);
        let history = timed_out(later(builder, 10), PING).build();
        let violations = run(&history);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].invariant, Invariant::PingWake);
        assert!(violations[0].detail.contains("timed out"), "{violations:?}");
    }

    #[test]
    fn a_tell_renamed_in_before_the_park_must_be_found() {
        // Accepted just before the ping parks (its scan raced the rename): the subscription
        // made before the scan must still wake it.
        let builder = accepted(Builder::new().healed(), email(1), 0);
        let builder = parked(builder, PING);
        let history = timed_out(later(builder, 10), PING).build();
        assert_eq!(run(&history).len(), 1);
        // A tell some reply already carried before the park is gone: nothing to find.
        let builder = accepted(Builder::new().healed(), email(1), 0);
        let builder = parked(read(builder, 3, email(1), 0), PING);
        let history = timed_out(later(builder, 10), PING).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_tell_deleted_as_an_earlier_copy_need_not_wake_a_ping() {
        // A duplicate (same bytes) lands while a poll that read the first copy is between
        // its read and its delete: the delete removes the duplicate too.
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let builder = builder.push(
            Host::Raida(BEACON),
            EventKind::TellDeleted {
                beacon: BEACON,
                request: 3,
                mailbox: BOB,
                email_id: email(1),
                edit_sequence: 0,
            },
        );
        let history = timed_out(later(builder, 10), PING).build();
        assert_eq!(run(&history), vec![]);
        // An older revision deleted does not remove the newer one.
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 1);
        let builder = builder.push(
            Host::Raida(BEACON),
            EventKind::TellDeleted {
                beacon: BEACON,
                request: 3,
                mailbox: BOB,
                email_id: email(1),
                edit_sequence: 0,
            },
        );
        let history = timed_out(later(builder, 10), PING).build();
        assert_eq!(run(&history).len(), 1);
    }

    #[test]
    fn a_late_wake_is_a_violation_and_a_prompt_one_is_not() {
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let history = resumed(later(builder, 5), PING).build();
        assert!(run(&history)[0].detail.contains("woke only"));
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let history = resumed(later(builder, 1), PING).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn a_tell_another_reply_took_first_excuses_the_timeout() {
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        // A peek (request 9) carried a newer revision of the same email.
        let builder = read(builder, 9, email(1), 1);
        let history = timed_out(later(builder, 10), PING).build();
        assert_eq!(run(&history), vec![]);
    }

    #[test]
    fn the_safety_phase_is_judged_and_a_crash_excuses() {
        // The wake is the beacon's own: a ping that times out over a tell accepted before
        // the heal is as wrong as after it.
        let builder = parked(Builder::new(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let history = timed_out(later(builder, 10), PING).healed().build();
        assert!(run(&history)[0].detail.contains("timed out"));
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let builder = builder.fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)]);
        let history = later(builder, 10).healed().build();
        assert_eq!(run(&history), vec![]);
        // Never answered, no crash: still parked at the end of the run.
        let builder = parked(Builder::new().healed(), PING);
        let builder = accepted(later(builder, 1), email(1), 0);
        let history = later(builder, 10).healed().build();
        assert!(run(&history)[0].detail.contains("never answered"));
    }
}
