//! The invariants a run must keep, one module per invariant.
//!
//! Each checker is a pure function of the run's [`History`] and a [`CheckContext`] (the
//! scenario settings it needs) returning every [`Violation`] it finds, oldest first. A
//! violation that a fault explains carries that fault as its [`Cause`]: it is still a
//! violation (scenarios list it under `expect.violations` when the protocol is known to
//! lose or repeat data under that fault), but the summary can tell it from an unexplained
//! one, which is always a bug.
//!
//! Invariant names are stable snake_case strings: scenario files use them.
//!
//! A checker reads the events it needs through [`History::of_kinds`], naming the kinds its
//! match arms take: a full pass over a storm's history streams ~90 MB through the cache. A
//! kind left out of that list silently blinds the checker, so each checker's tests include an
//! event of every kind it reads that changes its verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{
    EmailId, Event, EventKind, FaultKind, FileSent, History, Host, Kind, MailboxId,
};
use crate::limits::{TELL_SKEW_S_DEFAULT, US_PER_S};
use crate::trace::format_sim_time;

pub mod ack_durable;
pub mod delete_carried;
pub mod durable;
pub mod edit_guard;
pub mod exact_reassembly;
pub mod exact_record;
pub mod expiry;
pub mod liveness;
pub mod malformed_status;
pub mod one_shot;
pub mod ping_wake;
pub mod repair_justified;
pub mod revision_order;
mod size_estimate;
pub mod skew_consistency;

/// One invariant. The order here is the order checkers run and reports list them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every received tell was sent; across a mailbox's devices each
    /// (email_id, edit_sequence) is received at most once.
    OneShot,
    /// A received record equals a sent one byte for byte (bar the allowed size overwrite).
    ExactRecord,
    /// Every tell the beacon answered 250 for is eventually received by each accepted
    /// recipient.
    AckDurable,
    /// A recipient never receives an older edit_sequence of an email after a newer one.
    RevisionOrder,
    /// Downloaded files equal the sent files; one lost stripe never fails a download.
    ExactReassembly,
    /// A tell is accepted exactly when both timestamps are within the beacon's window.
    SkewConsistency,
    /// After healing, accepted tells are received and their files downloaded in time.
    Liveness,
    /// The beacon's edit_sequence guard skips exactly the older revisions the tell page says.
    EditGuard,
    /// A stripe is rebuilt from parity only when a fault touched that stripe's path.
    RepairJustified,
    /// After healing, a tell accepted into an inbox wakes the ping parked on it in time.
    PingWake,
    /// A beacon deletes a tell only after a reply carried it.
    DeleteCarried,
    /// Every stripe a RAIDA acknowledged is intact on its disk at the end, or a named fault
    /// destroyed it.
    Durable,
    /// A stored stripe is served until its storage duration runs out, by the server's
    /// clock, and is gone after.
    Expiry,
    /// Every malformed request gets the status the pages name for it and changes no inbox.
    MalformedStatus,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 14] = [
        Invariant::OneShot,
        Invariant::ExactRecord,
        Invariant::AckDurable,
        Invariant::RevisionOrder,
        Invariant::ExactReassembly,
        Invariant::SkewConsistency,
        Invariant::Liveness,
        Invariant::EditGuard,
        Invariant::RepairJustified,
        Invariant::PingWake,
        Invariant::DeleteCarried,
        Invariant::Durable,
        Invariant::Expiry,
        Invariant::MalformedStatus,
    ];

    /// The stable name used in scenario files and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Invariant::OneShot => "one_shot",
            Invariant::ExactRecord => "exact_record",
            Invariant::AckDurable => "ack_durable",
            Invariant::RevisionOrder => "revision_order",
            Invariant::ExactReassembly => "exact_reassembly",
            Invariant::SkewConsistency => "skew_consistency",
            Invariant::Liveness => "liveness",
            Invariant::EditGuard => "edit_guard",
            Invariant::RepairJustified => "repair_justified",
            Invariant::PingWake => "ping_wake",
            Invariant::DeleteCarried => "delete_carried",
            Invariant::Durable => "durable",
            Invariant::Expiry => "expiry",
            Invariant::MalformedStatus => "malformed_status",
        }
    }

    /// The invariant with this name.
    pub fn from_name(name: &str) -> Option<Invariant> {
        Invariant::ALL
            .into_iter()
            .find(|invariant| invariant.name() == name)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a violation happened, when something other than a bug explains it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Cause {
    /// The fault, or `None` for a protocol-level explanation (a sender's retry).
    pub fault: Option<FaultKind>,
    /// When the fault fired (or the explaining event happened).
    pub at_sim_us: u64,
    /// Hosts it touched.
    pub hosts: Vec<Host>,
    /// One line of explanation.
    pub detail: String,
}

impl Cause {
    /// The cause a fault event gives.
    pub fn from_fault(at_sim_us: u64, fault: &FaultKind, hosts: &[Host], detail: &str) -> Self {
        Cause {
            fault: Some(fault.clone()),
            at_sim_us,
            hosts: hosts.to_vec(),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.fault.as_ref().map_or("protocol", FaultKind::name);
        write!(f, "{name} at {}s", format_sim_time(self.at_sim_us))?;
        if !self.hosts.is_empty() {
            let hosts: Vec<String> = self.hosts.iter().map(Host::to_string).collect();
            write!(f, " on {}", hosts.join(","))?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// One broken invariant.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// When it was broken (or when the broken promise was made).
    pub at_sim_us: u64,
    /// What exactly.
    pub detail: String,
    /// The fault that explains it, if one does.
    pub caused_by: Option<Cause>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}s: {}",
            self.invariant,
            format_sim_time(self.at_sim_us),
            self.detail
        )?;
        match &self.caused_by {
            Some(cause) => write!(f, " (caused by {cause})"),
            None => f.write_str(" (no fault explains it)"),
        }
    }
}

/// The scenario settings the checkers need ([`crate::scenario::Scenario::check_context`];
/// the checkers do not know scenarios, so the dependency goes one way).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CheckContext {
    /// The beacon's timestamp window, seconds (server setting `tell_skew_s`).
    pub tell_skew_s: u32,
    /// How long after healing (or after the promise, if later) liveness waits.
    pub heal_bound_us: u64,
    /// Longest one file-system call may be held by latency and a yield point, µs (0 when
    /// the interleaving knobs are off).
    pub fs_call_delay_us_max: u64,
}

impl Default for CheckContext {
    fn default() -> Self {
        CheckContext {
            tell_skew_s: TELL_SKEW_S_DEFAULT,
            heal_bound_us: 120 * US_PER_S,
            fs_call_delay_us_max: 0,
        }
    }
}

/// Runs every checker; violations sorted by time, then invariant (stable).
pub fn check_all(history: &History, ctx: &CheckContext) -> Vec<Violation> {
    // One fault index for every checker that attributes violations to faults.
    let faults = Faults::new(history);
    let mut violations = Vec::new();
    for invariant in Invariant::ALL {
        violations.extend(check_using(invariant, history, ctx, &faults));
    }
    violations.sort_by_key(|violation| (violation.at_sim_us, violation.invariant));
    violations
}

/// Runs one checker.
pub fn check(invariant: Invariant, history: &History, ctx: &CheckContext) -> Vec<Violation> {
    check_using(invariant, history, ctx, &Faults::new(history))
}

/// Runs one checker with `history`'s fault index.
fn check_using(
    invariant: Invariant,
    history: &History,
    ctx: &CheckContext,
    faults: &Faults<'_>,
) -> Vec<Violation> {
    let violations = match invariant {
        Invariant::OneShot => one_shot::check_with(history, ctx, faults),
        Invariant::ExactRecord => exact_record::check(history, ctx),
        Invariant::AckDurable => ack_durable::check_with(history, ctx, faults),
        Invariant::RevisionOrder => revision_order::check_with(history, ctx, faults),
        Invariant::ExactReassembly => exact_reassembly::check_with(history, ctx, faults),
        Invariant::SkewConsistency => skew_consistency::check(history, ctx),
        Invariant::Liveness => liveness::check_with(history, ctx, faults),
        Invariant::EditGuard => edit_guard::check(history),
        Invariant::RepairJustified => repair_justified::check_with(history, faults),
        Invariant::PingWake => ping_wake::check(history, ctx),
        Invariant::DeleteCarried => delete_carried::check(history, ctx),
        Invariant::Durable => durable::check_with(history, ctx, faults),
        Invariant::Expiry => expiry::check(history, ctx),
        Invariant::MalformedStatus => malformed_status::check(history, ctx),
    };
    assert!(violations.iter().all(|v| v.invariant == invariant));
    violations
}

/// One tell a device received, with the key its record names.
#[derive(Clone, Debug)]
pub(crate) struct Receipt<'a> {
    pub at_sim_us: u64,
    pub mailbox: MailboxId,
    pub device: u16,
    pub beacon: u8,
    pub record: &'a [u8],
    /// (email_id, edit_sequence) from the record, `None` if it is too short.
    pub key: Option<(EmailId, u8)>,
}

pub(crate) fn receipts(history: &History) -> Vec<Receipt<'_>> {
    history
        .of_kinds(&[Kind::TellReceived])
        .filter_map(|event| match &event.kind {
            EventKind::TellReceived {
                mailbox,
                device,
                beacon,
                record,
                ..
            } => Some(Receipt {
                at_sim_us: event.at_sim_us,
                mailbox: *mailbox,
                device: *device,
                beacon: *beacon,
                record: record.as_slice(),
                key: crate::history::tell_key(record.as_slice()),
            }),
            _ => None,
        })
        .collect()
}

/// One recipient's tell that its beacon published and then answered 250 for.
#[derive(Clone, Debug)]
pub(crate) struct AckedTell {
    pub at_sim_us: u64,
    pub beacon: u8,
    pub mailbox: MailboxId,
    pub email_id: EmailId,
    pub edit_sequence: u8,
}

/// Every `TellAccepted` whose request the beacon answered 250 (a `TellHandled` with the
/// same beacon and request number and status 250).
pub(crate) fn acked_tells(history: &History) -> Vec<AckedTell> {
    let answered_250: BTreeSet<(u8, u64)> = history
        .of_kinds(&[Kind::TellHandled])
        .filter_map(|event| match event.kind {
            EventKind::TellHandled {
                beacon,
                request,
                status: crate::limits::STATUS_SUCCESS,
                ..
            } => Some((beacon, request)),
            _ => None,
        })
        .collect();
    history
        .of_kinds(&[Kind::TellAccepted])
        .filter_map(|event| match &event.kind {
            EventKind::TellAccepted {
                beacon,
                request,
                mailbox,
                email_id,
                edit_sequence,
                ..
            } if answered_250.contains(&(*beacon, *request)) => Some(AckedTell {
                at_sim_us: event.at_sim_us,
                beacon: *beacon,
                mailbox: *mailbox,
                email_id: *email_id,
                edit_sequence: *edit_sequence,
            }),
            _ => None,
        })
        .collect()
}

/// Receipts indexed by (mailbox, email): (time, edit_sequence) in time order.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    by_key: BTreeMap<(MailboxId, EmailId), Vec<(u64, u8)>>,
}

impl Deliveries {
    pub fn new(receipts: &[Receipt<'_>]) -> Self {
        let mut deliveries = Deliveries::default();
        for receipt in receipts {
            if let Some(key) = receipt.key {
                deliveries.push(receipt.mailbox, key, receipt.at_sim_us);
            }
        }
        deliveries
    }

    /// Adds one receipt of `(email_id, edit_sequence)` by `mailbox`; receipts come in time
    /// order.
    pub fn push(&mut self, mailbox: MailboxId, key: (EmailId, u8), at_sim_us: u64) {
        let (email_id, edit_sequence) = key;
        let times = self.by_key.entry((mailbox, email_id)).or_default();
        assert!(times
            .last()
            .is_none_or(|(last_us, _)| *last_us <= at_sim_us));
        times.push((at_sim_us, edit_sequence));
    }

    /// When the acceptance was delivered: the first receipt at or after it of the same
    /// mailbox and email with an equal or newer edit_sequence (a newer revision replaces the
    /// older file in place).
    pub fn delivered_at(&self, acked: &AckedTell) -> Option<u64> {
        self.by_key
            .get(&(acked.mailbox, acked.email_id))?
            .iter()
            .find(|(at, es)| *at >= acked.at_sim_us && *es >= acked.edit_sequence)
            .map(|(at, _)| *at)
    }
}

/// The faults of a run, indexed for the questions checkers ask about them.
#[derive(Debug)]
pub(crate) struct Faults<'h> {
    /// (time, fault, hosts), oldest first.
    list: Vec<(u64, &'h FaultKind, &'h [Host])>,
    /// For each entry of `list` that is a network fault: when it stopped (the first heal
    /// covering one of its hosts, or the healed phase), if it did.
    ended_at: Vec<Option<u64>>,
    mailbox_hosts: BTreeMap<MailboxId, BTreeSet<Host>>,
}

fn touches(hosts: &[Host], relevant: &BTreeSet<Host>) -> bool {
    hosts.is_empty() || hosts.iter().any(|host| relevant.contains(host))
}

/// The hosts each mailbox's devices ran on, as [`Faults`] needs them.
pub(crate) type MailboxHosts = BTreeMap<MailboxId, BTreeSet<Host>>;

/// Adds `event`'s host to its mailbox's hosts, if it is a device's event.
pub(crate) fn note_mailbox_host(mailbox_hosts: &mut MailboxHosts, event: &Event) {
    if let Some(mailbox) = event.kind.client_mailbox() {
        mailbox_hosts.entry(mailbox).or_default().insert(event.host);
    }
}

impl<'h> Faults<'h> {
    pub fn new(history: &'h History) -> Self {
        let mut mailbox_hosts = MailboxHosts::new();
        for event in history.of_kinds(&Kind::CLIENT_MAILBOX) {
            note_mailbox_host(&mut mailbox_hosts, event);
        }
        let list: Vec<(u64, &FaultKind, &[Host])> = history
            .faults()
            .map(|(event, fault, hosts)| (event.at_sim_us, fault, hosts))
            .collect();
        Faults::from_parts(list, history.healed_at_us(), mailbox_hosts)
    }

    /// The index from its parts, gathered by a caller that keeps them as the history grows:
    /// every fault as (time, fault, hosts) oldest first, when the healed phase began, and
    /// every mailbox's device hosts.
    pub fn from_parts(
        list: Vec<(u64, &'h FaultKind, &'h [Host])>,
        healed_at: Option<u64>,
        mailbox_hosts: MailboxHosts,
    ) -> Self {
        assert!(list.is_sorted_by_key(|(at, _, _)| *at));
        let heals: Vec<(u64, &[Host])> = list
            .iter()
            .filter(|(_, fault, _)| **fault == FaultKind::Heal)
            .map(|(at, _, hosts)| (*at, *hosts))
            .collect();
        let ended_at = list
            .iter()
            .map(|(at, fault, hosts)| {
                if !fault.is_network() {
                    return None;
                }
                // A partition's repair (a heal naming its hosts) ends partitions only: a
                // link loss rate stands until the world heals everything (empty hosts).
                let partition = matches!(fault, FaultKind::Partition | FaultKind::OnewayPartition);
                let by_heal = heals
                    .iter()
                    .find(|(heal_at, heal_hosts)| {
                        *heal_at >= *at
                            && (heal_hosts.is_empty()
                                || (partition
                                    && hosts.iter().any(|host| heal_hosts.contains(host))))
                    })
                    .map(|(heal_at, _)| *heal_at);
                let by_phase = healed_at.filter(|healed| *healed >= *at);
                by_heal.into_iter().chain(by_phase).min()
            })
            .collect();
        Faults {
            list,
            ended_at,
            mailbox_hosts,
        }
    }

    /// When each fault of [`Faults::iter`] ended (network faults: by a heal), same order.
    pub fn ended_at(&self) -> &[Option<u64>] {
        &self.ended_at
    }

    /// Every fault, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(u64, &'h FaultKind, &'h [Host])> {
        self.list.iter()
    }

    /// Distinct stripe indices of one file lost or corrupted at or before `until_us`.
    pub fn stripes_damaged(&self, email_id: EmailId, file_type: u8, until_us: u64) -> usize {
        let indices: BTreeSet<u8> = self
            .list
            .iter()
            .take_while(|(at, _, _)| *at <= until_us)
            .filter_map(|(_, fault, _)| match fault {
                FaultKind::StripeLost {
                    email_id: id,
                    file_type: kind,
                    stripe_index,
                }
                | FaultKind::StripeCorrupted {
                    email_id: id,
                    file_type: kind,
                    stripe_index,
                } if *id == email_id && *kind == file_type => Some(*stripe_index),
                _ => None,
            })
            .collect();
        indices.len()
    }

    /// The named fault that explains why a tell accepted on `beacon` for `mailbox` at
    /// `from_us` never arrived: the first fault at or after `from_us` that can destroy a
    /// tell or its reply and touches the beacon or a host of the mailbox's devices; failing
    /// that, the latest network fault fired before `from_us` and not healed by then (a
    /// broken link stays broken).
    pub fn loss_cause(&self, beacon: u8, mailbox: MailboxId, from_us: u64) -> Option<Cause> {
        let mut relevant = self
            .mailbox_hosts
            .get(&mailbox)
            .cloned()
            .unwrap_or_default();
        relevant.insert(Host::Raida(beacon));
        let first_after = self.list.partition_point(|(at, _, _)| *at < from_us);
        let (before, after) = self.list.split_at(first_after);
        let later = after
            .iter()
            .find(|(_, fault, hosts)| fault.can_destroy_tell() && touches(hosts, &relevant));
        if let Some((at, fault, hosts)) = later {
            return Some(Cause::from_fault(
                *at,
                fault,
                hosts,
                "fired after the tell was accepted and before it was received",
            ));
        }
        let standing =
            before
                .iter()
                .zip(&self.ended_at)
                .rev()
                .find(|((_, fault, hosts), ended_at)| {
                    fault.is_network()
                        && touches(hosts, &relevant)
                        && ended_at.is_none_or(|ended| ended > from_us)
                });
        standing.map(|((at, fault, hosts), _)| {
            Cause::from_fault(
                *at,
                fault,
                hosts,
                "network fault still in effect when the tell was accepted",
            )
        })
    }
}

/// Which revisions of each email were sent and when each began uploading, indexed once so
/// that [`Revisions::superseded`] costs a lookup per question instead of a pass over the
/// history (liveness asks once per receipt).
pub(crate) struct Revisions {
    /// The newest sent edit_sequence of each email.
    sent_newest: BTreeMap<EmailId, u8>,
    /// Each email's `UploadStarted` events as (at_sim_us, edit_sequence), in history
    /// (time) order.
    started: BTreeMap<EmailId, Vec<(u64, u8)>>,
}

impl Revisions {
    pub(crate) fn new(history: &History) -> Revisions {
        let mut sent_newest: BTreeMap<EmailId, u8> = BTreeMap::new();
        let mut started: BTreeMap<EmailId, Vec<(u64, u8)>> = BTreeMap::new();
        for event in history.of_kinds(&[Kind::EmailSent, Kind::UploadStarted]) {
            match &event.kind {
                EventKind::EmailSent {
                    email_id,
                    edit_sequence,
                    ..
                } => {
                    let newest = sent_newest.entry(*email_id).or_insert(*edit_sequence);
                    *newest = (*newest).max(*edit_sequence);
                }
                EventKind::UploadStarted {
                    email_id,
                    edit_sequence,
                    ..
                } => started
                    .entry(*email_id)
                    .or_default()
                    .push((event.at_sim_us, *edit_sequence)),
                _ => {}
            }
        }
        Revisions {
            sent_newest,
            started,
        }
    }

    /// Whether a revision newer than `edit_sequence` of the email was sent (at any time),
    /// or had begun uploading at or before `at_us`: from its first upload on, the older
    /// revision's stripes are overwritten under the same GUID.
    pub(crate) fn superseded(&self, email_id: EmailId, edit_sequence: u8, at_us: u64) -> bool {
        let sent_newer = self
            .sent_newest
            .get(&email_id)
            .is_some_and(|newest| *newest > edit_sequence);
        sent_newer
            || self.started.get(&email_id).is_some_and(|starts| {
                starts
                    .iter()
                    .take_while(|(at_us_started, _)| *at_us_started <= at_us)
                    .any(|(_, started)| *started > edit_sequence)
            })
    }
}

/// Every sent revision's files, by (email, edit_sequence) (the first `EmailSent` wins).
pub(crate) fn sent_files(history: &History) -> BTreeMap<(EmailId, u8), &[FileSent]> {
    let mut files: BTreeMap<(EmailId, u8), &[FileSent]> = BTreeMap::new();
    for event in history.of_kinds(&[Kind::EmailSent]) {
        if let EventKind::EmailSent {
            email_id,
            edit_sequence,
            files: sent,
            ..
        } = &event.kind
        {
            files
                .entry((*email_id, *edit_sequence))
                .or_insert(sent.as_slice());
        }
    }
    files
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small builders for checker tests.
    use crate::history::{
        Bytes, EmailId, EventKind, FaultKind, FileSent, History, Host, MailboxId, Phase, PollKind,
    };
    use crate::limits::{EDIT_SEQUENCE_OFFSET, FILE_HEADER_SIZE_BYTES};

    pub const ALICE: MailboxId = MailboxId { denom: 1, sn: 100 };
    pub const BOB: MailboxId = MailboxId { denom: 1, sn: 200 };
    pub const CAROL: MailboxId = MailboxId { denom: 2, sn: 300 };
    pub const BEACON: u8 = 7;

    pub fn email(n: u8) -> EmailId {
        EmailId([n; 16])
    }

    /// A 64-byte header + one server entry + one manifest entry, naming `(email, es)`.
    pub fn record(email_id: EmailId, edit_sequence: u8, total_file_size: u32) -> Vec<u8> {
        let mut record = vec![0u8; FILE_HEADER_SIZE_BYTES + 32 + 16];
        record[..16].copy_from_slice(&email_id.0);
        record[29] = 1;
        record[46..50].copy_from_slice(&total_file_size.to_be_bytes());
        record[EDIT_SEQUENCE_OFFSET] = edit_sequence;
        record[64] = 0x5a;
        record
    }

    /// Fluent history builder with a clock that moves one millisecond per event.
    pub struct Builder {
        pub history: History,
        pub now_us: u64,
        next_request: u64,
    }

    impl Builder {
        pub fn new() -> Self {
            Builder {
                history: History::new(),
                now_us: 0,
                next_request: 0,
            }
        }

        pub fn at(mut self, at_sim_us: u64) -> Self {
            assert!(at_sim_us >= self.now_us);
            self.now_us = at_sim_us;
            self
        }

        pub fn push(mut self, host: Host, kind: EventKind) -> Self {
            self.now_us += 1_000;
            self.history.record(self.now_us, host, kind);
            self
        }

        pub fn email_sent(self, email_id: EmailId, es: u8, to: &[MailboxId]) -> Self {
            self.push(
                Host::Client(0),
                EventKind::EmailSent {
                    email_id,
                    sender: ALICE,
                    edit_sequence: es,
                    recipients: to.to_vec(),
                    files: vec![
                        FileSent {
                            file_type: 1,
                            size_bytes: 1000,
                            crc32: 0xAAAA_0000 | u32::from(es),
                        },
                        FileSent {
                            file_type: 0x0A,
                            size_bytes: 50,
                            crc32: 0xBBBB_0000 | u32::from(es),
                        },
                    ],
                },
            )
        }

        pub fn upload_started(self, email_id: EmailId, es: u8) -> Self {
            self.push(
                Host::Client(0),
                EventKind::UploadStarted {
                    email_id,
                    sender: ALICE,
                    edit_sequence: es,
                },
            )
        }

        pub fn tell_sent(self, email_id: EmailId, es: u8, to: &[MailboxId], status: u8) -> Self {
            self.push(
                Host::Client(0),
                EventKind::TellSent {
                    email_id,
                    edit_sequence: es,
                    sender: ALICE,
                    beacon: BEACON,
                    recipients: to.to_vec(),
                    record: Bytes(record(email_id, es, 1000)),
                    status: Some(status),
                    routing_timestamp_s: 0,
                    header_timestamp_s: 0,
                    sender_clock_unix_s: 0,
                    beacon_clock_unix_s: None,
                },
            )
        }

        /// Server publishes to each mailbox, then answers `status`.
        pub fn tell_handled(
            mut self,
            email_id: EmailId,
            es: u8,
            to: &[MailboxId],
            status: u8,
        ) -> Self {
            let request = self.next_request;
            self.next_request += 1;
            for mailbox in to {
                self = self.push(
                    Host::Raida(BEACON),
                    EventKind::TellAccepted {
                        beacon: BEACON,
                        request,
                        mailbox: *mailbox,
                        email_id,
                        edit_sequence: es,
                        record: Bytes(record(email_id, es, 1000)),
                    },
                );
            }
            self.push(
                Host::Raida(BEACON),
                EventKind::TellHandled {
                    beacon: BEACON,
                    request,
                    email_id,
                    edit_sequence: es,
                    status,
                    routing_timestamp_s: 0,
                    header_timestamp_s: 0,
                    beacon_clock_unix_s: 0,
                    reason: None,
                },
            )
        }

        /// Send, accept and answer 250 in one go.
        pub fn tell(self, email_id: EmailId, es: u8, to: &[MailboxId]) -> Self {
            self.tell_sent(email_id, es, to, 250)
                .tell_handled(email_id, es, to, 250)
        }

        pub fn received(self, mailbox: MailboxId, device: u16, record: Vec<u8>) -> Self {
            self.push(
                Host::Client(1),
                EventKind::TellReceived {
                    mailbox,
                    device,
                    beacon: BEACON,
                    record: Bytes(record),
                    via: PollKind::Ping,
                },
            )
        }

        pub fn receive(self, mailbox: MailboxId, device: u16, email_id: EmailId, es: u8) -> Self {
            self.received(mailbox, device, record(email_id, es, 1000))
        }

        pub fn download(self, mailbox: MailboxId, email_id: EmailId, es: u8) -> Self {
            self.download_file(mailbox, email_id, 1, 1000, 0xAAAA_0000 | u32::from(es))
                .download_file(mailbox, email_id, 0x0A, 50, 0xBBBB_0000 | u32::from(es))
        }

        pub fn download_file(
            self,
            mailbox: MailboxId,
            email_id: EmailId,
            file_type: u8,
            size_bytes: u64,
            crc32: u32,
        ) -> Self {
            self.push(
                Host::Client(1),
                EventKind::DownloadDone {
                    mailbox,
                    device: 0,
                    email_id,
                    file_type,
                    size_bytes,
                    crc32,
                    rebuilt_stripe: None,
                },
            )
        }

        pub fn fault(self, fault: FaultKind, hosts: &[Host]) -> Self {
            self.push(
                Host::World,
                EventKind::FaultFired {
                    fault,
                    hosts: hosts.to_vec(),
                    detail: String::new(),
                },
            )
        }

        pub fn healed(self) -> Self {
            self.push(
                Host::World,
                EventKind::PhaseChange {
                    phase: Phase::Healed,
                },
            )
        }

        pub fn build(self) -> History {
            self.history
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn a_revision_is_superseded_by_a_newer_one_sent_or_begun_by_then() {
        let builder = Builder::new()
            .upload_started(email(1), 0)
            .upload_started(email(1), 1);
        let began_1_us = builder.now_us;
        let builder = builder
            .upload_started(email(2), 3)
            .email_sent(email(3), 2, &[BOB]);
        let history = builder.build();
        let revisions = Revisions::new(&history);
        assert!(
            !revisions.superseded(email(1), 0, began_1_us - 1),
            "not begun yet"
        );
        assert!(revisions.superseded(email(1), 0, began_1_us));
        assert!(
            !revisions.superseded(email(1), 1, u64::MAX),
            "nothing newer"
        );
        assert!(!revisions.superseded(email(2), 3, u64::MAX));
        assert!(revisions.superseded(email(3), 1, 0), "sent at any time");
        assert!(!revisions.superseded(email(3), 2, u64::MAX));
        assert!(
            !revisions.superseded(email(9), 0, u64::MAX),
            "unknown email"
        );
    }

    #[test]
    fn invariant_names_round_trip_and_are_unique() {
        for invariant in Invariant::ALL {
            assert_eq!(Invariant::from_name(invariant.name()), Some(invariant));
            let json = serde_json::to_string(&invariant).expect("serializes");
            assert_eq!(json, format!("\"{}\"", invariant.name()));
        }
        assert_eq!(Invariant::from_name("oneshot"), None);
    }

    #[test]
    fn a_clean_history_passes_every_checker() {
        let history = Builder::new()
            .email_sent(email(1), 0, &[BOB, CAROL])
            .tell(email(1), 0, &[BOB, CAROL])
            .healed()
            .receive(BOB, 0, email(1), 0)
            .receive(CAROL, 1, email(1), 0)
            .download(BOB, email(1), 0)
            .download(CAROL, email(1), 0)
            .build();
        assert_eq!(check_all(&history, &CheckContext::default()), vec![]);
    }

    #[test]
    fn a_large_clean_history_passes() {
        // Thousands of emails: the checkers index the history instead of rescanning it per
        // event, so this stays fast even in a debug build.
        let mut builder = Builder::new();
        let mailbox = |n: u32| MailboxId { denom: 1, sn: n };
        for n in 0..3_000u32 {
            let id = EmailId(u128::from(n).to_be_bytes());
            let to = [mailbox(n % 500), mailbox(n % 500 + 500)];
            builder = builder.email_sent(id, 0, &to).tell(id, 0, &to);
        }
        builder = builder.healed();
        for n in 0..3_000u32 {
            let id = EmailId(u128::from(n).to_be_bytes());
            for recipient in [mailbox(n % 500), mailbox(n % 500 + 500)] {
                builder = builder
                    .receive(recipient, 0, id, 0)
                    .download(recipient, id, 0);
            }
        }
        let history = builder.build();
        assert_eq!(check_all(&history, &CheckContext::default()), vec![]);
    }

    #[test]
    fn check_all_sorts_by_time() {
        let history = Builder::new()
            .receive(BOB, 0, email(9), 0)
            .receive(BOB, 0, email(9), 0)
            .build();
        let violations = check_all(&history, &CheckContext::default());
        assert!(violations.len() >= 3, "{violations:?}");
        assert!(violations
            .windows(2)
            .all(|pair| pair[0].at_sim_us <= pair[1].at_sim_us));
    }

    /// Storm seed 1 (before the fix): a partition of client02 was repaired, and the
    /// repair ended the standing link loss too, so 25 tells lost to broken links later
    /// were reported as unexplained.
    #[test]
    fn a_partition_repair_does_not_end_a_standing_link_loss() {
        let history = Builder::new()
            .fault(FaultKind::LinkLoss, &[Host::Client(1)])
            .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
            .fault(FaultKind::Heal, &[Host::Client(1), Host::Raida(3)])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(2), 0)
            .build();
        let accepted_at = acked_tells(&history)[0].at_sim_us;
        let cause = Faults::new(&history)
            .loss_cause(BEACON, BOB, accepted_at)
            .expect("the link loss still stands");
        assert_eq!(cause.fault, Some(FaultKind::LinkLoss));
        let partition_only = Builder::new()
            .fault(FaultKind::Partition, &[Host::Client(1), Host::Raida(3)])
            .fault(FaultKind::Heal, &[Host::Client(1), Host::Raida(3)])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(2), 0)
            .build();
        let accepted_at = acked_tells(&partition_only)[0].at_sim_us;
        assert_eq!(
            Faults::new(&partition_only).loss_cause(BEACON, BOB, accepted_at),
            None
        );
    }

    #[test]
    fn loss_cause_prefers_a_later_fault_then_a_standing_one() {
        let history = Builder::new()
            .fault(FaultKind::LinkLoss, &[Host::Client(1)])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(2), 0)
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .build();
        let accepted_at = acked_tells(&history)[0].at_sim_us;
        let cause = Faults::new(&history)
            .loss_cause(BEACON, BOB, accepted_at)
            .expect("crash explains");
        assert_eq!(cause.fault, Some(FaultKind::Crash { step: None }));
        let without_crash = Builder::new()
            .fault(FaultKind::LinkLoss, &[Host::Client(1)])
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(2), 0)
            .build();
        let accepted_at = acked_tells(&without_crash)[0].at_sim_us;
        let standing = Faults::new(&without_crash)
            .loss_cause(BEACON, BOB, accepted_at)
            .expect("standing");
        assert_eq!(standing.fault, Some(FaultKind::LinkLoss));
        // A fault on hosts unrelated to the beacon and the mailbox explains nothing.
        let unrelated = Builder::new()
            .tell(email(1), 0, &[BOB])
            .receive(BOB, 0, email(2), 0)
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(3)])
            .build();
        assert_eq!(Faults::new(&unrelated).loss_cause(BEACON, BOB, 0), None);
        // A heal between the link fault and the acceptance ends its effect.
        let healed = Builder::new()
            .fault(
                FaultKind::Partition,
                &[Host::Client(1), Host::Raida(BEACON)],
            )
            .fault(FaultKind::Heal, &[])
            .receive(BOB, 0, email(2), 0)
            .build();
        let end_us = healed.end_us();
        assert_eq!(Faults::new(&healed).loss_cause(BEACON, BOB, end_us), None);
    }

    #[test]
    fn a_mailbox_s_device_hosts_come_from_each_kind_of_device_event() {
        let poll_failed = EventKind::PollFailed {
            mailbox: BOB,
            device: 0,
            beacon: BEACON,
            via: crate::history::PollKind::Peek,
            status: None,
            reason: "timeout".into(),
        };
        let download_done = EventKind::DownloadDone {
            mailbox: BOB,
            device: 1,
            email_id: email(1),
            file_type: 1,
            size_bytes: 1,
            crc32: 0,
            rebuilt_stripe: None,
        };
        for (host, kind) in [
            (Host::Client(5), poll_failed),
            (Host::Client(6), download_done),
        ] {
            let history = Builder::new()
                .push(host, kind)
                .fault(FaultKind::Partition, &[host])
                .build();
            let cause = Faults::new(&history).loss_cause(BEACON, BOB, 0);
            assert_eq!(
                cause.and_then(|cause| cause.fault),
                Some(FaultKind::Partition),
                "{host:?}"
            );
        }
    }
}
