//! Working with saved traces: re-checking a JSON-lines trace (`raida-sim check`) and
//! choosing which trace lines `replay` prints (`--email`, `--mailbox`, `--host`,
//! `--from-s`, `--to-s`).
//!
//! A trace that `replay` wrote ([`crate::trace::JsonLinesWriter`]) reads back into the very
//! [`History`] the run recorded ([`crate::trace::read_json_lines`]), so every checker gives
//! the same violations on it as it gave in the run; [`TraceCheck`] judges them against a
//! scenario's `expect.violations`.
//!
//! A [`TraceFilter`] keeps an event when every filter given matches it: its email id (the
//! one it names, or the one its tell record names) starts with the hex prefix; it is about
//! the mailbox (sender, recipient or polling mailbox); it happened on the host, or is a
//! fault that touched it; it happened within the simulated-time window (inclusive).

use std::fmt::Write as _;

use crate::checkers::{check_all, Invariant, Violation};
use crate::history::{tell_key, EmailId, Event, EventKind, FaultKind, History, Host, MailboxId};
use crate::report::SeedOutcome;
use crate::scenario::Scenario;
use crate::trace::format_sim_time;

/// Microseconds per simulated second.
const US_PER_S: u64 = crate::limits::US_PER_S;

/// Which events a replay prints.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceFilter {
    /// Lowercase hex prefix of an email id.
    pub email_prefix: Option<String>,
    /// A mailbox.
    pub mailbox: Option<MailboxId>,
    /// A host.
    pub host: Option<Host>,
    /// First simulated microsecond shown.
    pub from_us: Option<u64>,
    /// Last simulated microsecond shown.
    pub to_us: Option<u64>,
}

impl TraceFilter {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == TraceFilter::default()
    }

    /// Whether `event` passes every filter.
    pub fn matches(&self, event: &Event) -> bool {
        let email_ok = self.email_prefix.as_ref().is_none_or(|prefix| {
            emails_of(&event.kind)
                .iter()
                .any(|id| id.to_string().starts_with(prefix.as_str()))
        });
        let mailbox_ok = self
            .mailbox
            .is_none_or(|mailbox| mailboxes_of(&event.kind).contains(&mailbox));
        let host_ok = self.host.is_none_or(|host| {
            event.host == host
                || matches!(&event.kind, EventKind::FaultFired { hosts, .. } if hosts.contains(&host))
        });
        let time_ok = self.from_us.is_none_or(|from| event.at_sim_us >= from)
            && self.to_us.is_none_or(|to| event.at_sim_us <= to);
        email_ok && mailbox_ok && host_ok && time_ok
    }
}

/// Parses an email-id prefix: 1 to 32 hex digits, returned lowercase.
pub fn parse_email_prefix(text: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("{text:?} is not 1 to 32 hex digits"))
    }
}

/// Parses a mailbox `DENOM:SN`, as trace lines print it (`1:42`, `-3:7`).
pub fn parse_mailbox(text: &str) -> Result<MailboxId, String> {
    let bad = || format!("{text:?} is not DENOM:SN (e.g. 1:42)");
    let (denom, sn) = text.split_once(':').ok_or_else(bad)?;
    Ok(MailboxId {
        denom: denom.parse().map_err(|_| bad())?,
        sn: sn.parse().map_err(|_| bad())?,
    })
}

/// Parses simulated seconds (`12`, `12.5`, up to six decimals) into microseconds.
pub fn parse_sim_seconds(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not seconds with at most 6 decimals");
    let digits = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) if digits(fraction) && fraction.len() <= 6 => (whole, fraction),
        Some(_) => return Err(bad()),
        None => (text, ""),
    };
    if !digits(whole) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let micros: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(US_PER_S)
        .and_then(|us| us.checked_add(micros))
        .ok_or_else(bad)
}

/// The email an event is about, if any.
pub fn email_of(kind: &EventKind) -> Option<EmailId> {
    match kind {
        EventKind::EmailSent { email_id, .. }
        | EventKind::UploadStarted { email_id, .. }
        | EventKind::TellSent { email_id, .. }
        | EventKind::TellHandled { email_id, .. }
        | EventKind::TellAccepted { email_id, .. }
        | EventKind::TellSkipped { email_id, .. }
        | EventKind::TellDeleted { email_id, .. }
        | EventKind::DownloadDone { email_id, .. }
        | EventKind::DownloadFailed { email_id, .. } => Some(*email_id),
        EventKind::TellReceived { record, .. } => tell_key(record.as_slice()).map(|key| key.0),
        EventKind::FaultFired { fault, .. } => fault_email(fault),
        _ => None,
    }
}

/// Every email an event is about: [`email_of`]'s, or each tell a reply carried.
pub fn emails_of(kind: &EventKind) -> Vec<EmailId> {
    match kind {
        EventKind::TellsRead { tells, .. } => tells.iter().map(|tell| tell.email_id).collect(),
        other => email_of(other).into_iter().collect(),
    }
}

fn fault_email(fault: &FaultKind) -> Option<EmailId> {
    match fault {
        FaultKind::Replay { email_id, .. }
        | FaultKind::DuplicateTell { email_id, .. }
        | FaultKind::TellBeforeUpload { email_id }
        | FaultKind::StripeLost { email_id, .. }
        | FaultKind::StripeCorrupted { email_id, .. } => Some(*email_id),
        FaultKind::MalformedRequest { email_id, .. } => *email_id,
        _ => None,
    }
}

/// The mailboxes an event is about (sender, recipients, the polling mailbox).
pub fn mailboxes_of(kind: &EventKind) -> Vec<MailboxId> {
    match kind {
        EventKind::EmailSent {
            sender, recipients, ..
        }
        | EventKind::TellSent {
            sender, recipients, ..
        } => std::iter::once(*sender)
            .chain(recipients.iter().copied())
            .collect(),
        EventKind::UploadStarted { sender, .. } => vec![*sender],
        EventKind::TellAccepted { mailbox, .. }
        | EventKind::TellSkipped { mailbox, .. }
        | EventKind::TellDeleted { mailbox, .. }
        | EventKind::TellsRead { mailbox, .. }
        | EventKind::PingParked { mailbox, .. }
        | EventKind::PingResumed { mailbox, .. }
        | EventKind::PingTimedOut { mailbox, .. } => vec![*mailbox],
        other => other.client_mailbox().into_iter().collect(),
    }
}

/// A saved trace checked against a scenario.
#[derive(Clone, Debug)]
pub struct TraceCheck {
    /// Events read.
    pub event_count: usize,
    /// Simulated time of the last event.
    pub end_us: u64,
    /// Every violation the checkers found, oldest first.
    pub violations: Vec<Violation>,
    /// The violations judged against `expect.violations` (seed 0: a trace names none).
    pub outcome: SeedOutcome,
}

impl TraceCheck {
    /// Runs every checker on `history` with `scenario`'s settings.
    pub fn new(scenario: &Scenario, history: &History) -> TraceCheck {
        let violations = check_all(history, &scenario.check_context());
        let outcome = SeedOutcome::new(scenario, 0, &violations);
        TraceCheck {
            event_count: history.len(),
            end_us: history.end_us(),
            violations,
            outcome,
        }
    }

    /// True when every violation is one the scenario expects.
    pub fn passed(&self) -> bool {
        self.outcome.passed()
    }

    /// Each invariant held or violated, then the violations (unexpected first, all of
    /// them unless `only_unexpected`), then the verdict.
    pub fn render(&self, trace_name: &str, only_unexpected: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "check {trace_name}: {} events, sim_time_s = {}",
            self.event_count,
            format_sim_time(self.end_us)
        );
        for invariant in Invariant::ALL {
            let verdict = match self.outcome.violated.get(&invariant) {
                None => "held".to_string(),
                Some(count) if self.outcome.unexpected.contains(&invariant) => {
                    format!("violated {count} (UNEXPECTED)")
                }
                Some(count) => format!("violated {count} (expected)"),
            };
            let _ = writeln!(out, "{invariant} = {verdict}");
        }
        let (unexpected, expected): (Vec<&Violation>, Vec<&Violation>) = self
            .violations
            .iter()
            .partition(|v| self.outcome.is_unexpected(v));
        let mut groups = vec![("UNEXPECTED", unexpected)];
        if !only_unexpected {
            groups.push(("expected", expected));
        }
        for (label, group) in groups.into_iter().filter(|(_, g)| !g.is_empty()) {
            let _ = writeln!(out, "[violations {label}: {}]", group.len());
            for violation in group {
                let _ = writeln!(out, "{violation}");
            }
        }
        let verdict = if self.passed() { "pass" } else { "FAIL" };
        let _ = writeln!(out, "verdict = {verdict}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Bytes, PollKind};

    fn mailbox(sn: u32) -> MailboxId {
        MailboxId { denom: 1, sn }
    }

    fn events() -> Vec<Event> {
        let mut record = vec![0u8; 64];
        record[..16].copy_from_slice(&[0xab; 16]);
        vec![
            Event {
                at_sim_us: 1_000_000,
                host: Host::Client(1),
                kind: EventKind::TellReceived {
                    mailbox: mailbox(2),
                    device: 0,
                    beacon: 7,
                    record: Bytes(record),
                    via: PollKind::Ping,
                },
            },
            Event {
                at_sim_us: 2_500_000,
                host: Host::World,
                kind: EventKind::FaultFired {
                    fault: FaultKind::Crash { step: None },
                    hosts: vec![Host::Raida(7)],
                    detail: String::new(),
                },
            },
        ]
    }

    #[test]
    fn filters_select_by_email_mailbox_host_and_time() {
        let [received, crash] = <[Event; 2]>::try_from(events()).expect("two");
        let filter = |f: TraceFilter| (f.matches(&received), f.matches(&crash));
        assert_eq!(filter(TraceFilter::default()), (true, true));
        let email = |prefix: &str| TraceFilter {
            email_prefix: Some(parse_email_prefix(prefix).expect("hex")),
            ..TraceFilter::default()
        };
        assert_eq!(filter(email("ABab")), (true, false));
        assert_eq!(filter(email("ac")), (false, false));
        let by_mailbox = TraceFilter {
            mailbox: Some(parse_mailbox("1:2").expect("mailbox")),
            ..TraceFilter::default()
        };
        assert_eq!(filter(by_mailbox), (true, false));
        let host = |name: &str| TraceFilter {
            host: Some(name.parse().expect("host")),
            ..TraceFilter::default()
        };
        assert_eq!(
            filter(host("raida07")),
            (false, true),
            "a fault touching it"
        );
        assert_eq!(filter(host("client01")), (true, false));
        let window = TraceFilter {
            from_us: Some(parse_sim_seconds("1.5").expect("s")),
            to_us: Some(parse_sim_seconds("2.5").expect("s")),
            ..TraceFilter::default()
        };
        assert_eq!(filter(window), (false, true), "inclusive bounds");
    }

    #[test]
    fn filter_arguments_refuse_nonsense() {
        assert_eq!(parse_sim_seconds("12"), Ok(12_000_000));
        assert_eq!(parse_sim_seconds("0.000001"), Ok(1));
        assert_eq!(parse_sim_seconds("3.25"), Ok(3_250_000));
        for bad in ["", "-1", "1.", ".5", "1.0000001", "1e3", "x"] {
            assert!(parse_sim_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mailbox("-3:7"), Ok(MailboxId { denom: -3, sn: 7 }));
        for bad in ["3", "a:1", "1:-1", "999:1"] {
            assert!(parse_mailbox(bad).is_err(), "{bad}");
        }
        for bad in ["", "xyz", &"a".repeat(33)] {
            assert!(parse_email_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_checked_trace_is_judged_against_the_scenario() {
        let scenario = Scenario::from_toml_str("[scenario]\nname = \"c\"\n", "c.toml").expect("ok");
        let history = History::from_events(events()).expect("ordered");
        let check = TraceCheck::new(&scenario, &history);
        // A received tell nobody sent breaks one_shot.
        assert!(check.outcome.violated.contains_key(&Invariant::OneShot));
        assert!(!check.passed());
        let text = check.render("t.jsonl", false);
        assert!(text.starts_with("check t.jsonl: 2 events, sim_time_s = 2.500000\n"));
        assert!(text.contains("one_shot = violated"), "{text}");
        assert!(text.ends_with("verdict = FAIL\n"), "{text}");
    }
}
