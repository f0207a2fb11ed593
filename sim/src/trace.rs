//! Traces: one compact, stable line per event for people, JSON lines for tools, and a
//! digest of a run for the determinism meta-test.
//!
//! A trace line is
//!
//! ```text
//! {seconds}.{micros:06} {host} {command} {status} {fault} {detail...}
//! ```
//!
//! with `-` for a column that does not apply, e.g.
//! `12.003000 client01 tell_sent 250 - e=1a2b3c4d es=0 beacon=7 to=3`. Nothing in a line
//! depends on wall time, addresses or hash-map order, so the same seed prints the same
//! bytes. [`trace_digest`] hashes every field the JSON lines carry, every record byte
//! (without writing them: [`crate::digest`]); two runs of one seed must give the same digest.

use std::fmt;
use std::io::{self, BufRead, Write};

use crate::history::{Event, EventKind, History, HistoryError, MailboxId, TellRef, WireCommand};

/// Simulated microseconds as `seconds.micros` with six decimals, from integers only.
pub fn format_sim_time(at_sim_us: u64) -> String {
    format!("{}.{:06}", at_sim_us / 1_000_000, at_sim_us % 1_000_000)
}

fn or_dash(value: Option<u8>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn command_name(command: Option<WireCommand>) -> &'static str {
    command.map_or("?", WireCommand::name)
}

/// `e=ID/ES` per tell, space-separated (each word matches like other lines' `e=`).
fn tell_refs(list: &[TellRef]) -> String {
    list.iter()
        .map(|tell| format!("e={}/{}", tell.email_id.short(), tell.edit_sequence))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mailboxes(list: &[MailboxId]) -> String {
    list.iter()
        .map(MailboxId::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// (status, fault, detail) columns of one event.
fn columns(kind: &EventKind) -> (String, String, String) {
    let none = || "-".to_string();
    match kind {
        EventKind::UploadStarted {
            email_id,
            sender,
            edit_sequence,
        } => (
            none(),
            none(),
            format!("e={} es={edit_sequence} from={sender}", email_id.short()),
        ),
        EventKind::EmailSent {
            email_id,
            sender,
            edit_sequence,
            recipients,
            files,
        } => (
            none(),
            none(),
            format!(
                "e={} es={edit_sequence} from={sender} to={} files={}",
                email_id.short(),
                mailboxes(recipients),
                files.len()
            ),
        ),
        EventKind::TellSent {
            email_id,
            edit_sequence,
            beacon,
            recipients,
            record,
            status,
            ..
        } => (
            or_dash(*status),
            none(),
            format!(
                "e={} es={edit_sequence} beacon={beacon} to={} len={}",
                email_id.short(),
                mailboxes(recipients),
                record.0.len()
            ),
        ),
        EventKind::TellHandled {
            beacon,
            request,
            email_id,
            edit_sequence,
            status,
            routing_timestamp_s,
            header_timestamp_s,
            beacon_clock_unix_s,
            ..
        } => (
            status.to_string(),
            none(),
            format!(
                "e={} es={edit_sequence} beacon={beacon} req={request} skew={},{}",
                email_id.short(),
                i64::from(*routing_timestamp_s) - beacon_clock_unix_s,
                i64::from(*header_timestamp_s) - beacon_clock_unix_s
            ),
        ),
        EventKind::TellAccepted {
            beacon,
            request,
            mailbox,
            email_id,
            edit_sequence,
            ..
        } => (
            none(),
            none(),
            format!(
                "e={} es={edit_sequence} beacon={beacon} req={request} m={mailbox}",
                email_id.short()
            ),
        ),
        EventKind::TellSkipped {
            beacon,
            request,
            mailbox,
            email_id,
            edit_sequence,
            existing_edit_sequence,
        } => (
            none(),
            none(),
            format!(
                "e={} es={edit_sequence}<{existing_edit_sequence} beacon={beacon} req={request} m={mailbox}",
                email_id.short()
            ),
        ),
        EventKind::TellDeleted {
            beacon,
            request,
            mailbox,
            email_id,
            edit_sequence,
        } => (
            none(),
            none(),
            format!(
                "e={} es={edit_sequence} beacon={beacon} req={request} m={mailbox}",
                email_id.short()
            ),
        ),
        EventKind::RequestStarted { request, raida } => {
            (none(), none(), format!("creq={request} raida={raida}"))
        }
        EventKind::RequestDone {
            request,
            raida,
            command,
            attempt,
            status,
            stopped,
        } => (
            or_dash(*status),
            none(),
            format!(
                "creq={request} raida={raida} cmd={} try={attempt} stopped={}",
                command_name(*command),
                stopped.map_or("-", |stop| stop.name())
            ),
        ),
        EventKind::ServerRequest {
            raida,
            request,
            client_request,
            command,
            outcome,
            status,
            execution_us,
        } => (
            or_dash(*status),
            none(),
            format!(
                "raida={raida} req={request} creq={} cmd={} {} exec_us={execution_us}",
                client_request.map_or_else(|| "-".to_string(), |id| id.to_string()),
                command_name(*command),
                outcome.name()
            ),
        ),
        EventKind::PingParked {
            beacon,
            request,
            mailbox,
        } => (
            none(),
            none(),
            format!("beacon={beacon} req={request} m={mailbox}"),
        ),
        EventKind::PingResumed {
            beacon,
            request,
            mailbox,
            status,
        }
        | EventKind::PingTimedOut {
            beacon,
            request,
            mailbox,
            status,
        } => (
            status.to_string(),
            none(),
            format!("beacon={beacon} req={request} m={mailbox}"),
        ),
        EventKind::TellsRead {
            beacon,
            request,
            mailbox,
            via,
            tells,
        } => (
            none(),
            none(),
            format!(
                "beacon={beacon} req={request} m={mailbox} via={} tells={} {}",
                via.name(),
                tells.len(),
                tell_refs(tells)
            ),
        ),
        EventKind::FsStep { raida, step } => (none(), none(), format!("raida={raida} {step}")),
        EventKind::StripeAudited {
            raida,
            email_id,
            file_type,
            outcome,
        }
        | EventKind::StripeExpiryAudited {
            raida,
            email_id,
            file_type,
            outcome,
        } => (
            email_id.to_string(),
            none(),
            format!("raida={raida} file={file_type:#04x} {outcome}"),
        ),
        EventKind::TellReceived {
            mailbox,
            device,
            beacon,
            record,
            via,
        } => {
            let key = crate::history::tell_key(record.as_slice()).map_or_else(
                || "e=? es=?".to_string(),
                |(id, es)| format!("e={} es={es}", id.short()),
            );
            (
                none(),
                none(),
                format!(
                    "{key} m={mailbox} d={device} beacon={beacon} via={} len={}",
                    via.name(),
                    record.0.len()
                ),
            )
        }
        EventKind::PollDone {
            mailbox,
            device,
            beacon,
            via,
            status,
            tell_count,
        } => (
            status.to_string(),
            none(),
            format!(
                "m={mailbox} d={device} beacon={beacon} via={} tells={tell_count}",
                via.name()
            ),
        ),
        EventKind::PollFailed {
            mailbox,
            device,
            beacon,
            via,
            status,
            reason,
        } => (
            or_dash(*status),
            none(),
            format!(
                "m={mailbox} d={device} beacon={beacon} via={} reason={reason:?}",
                via.name()
            ),
        ),
        EventKind::DownloadDone {
            mailbox,
            device,
            email_id,
            file_type,
            size_bytes,
            crc32,
            rebuilt_stripe,
        } => (
            none(),
            none(),
            format!(
                "e={} f={file_type:#04x} m={mailbox} d={device} size={size_bytes} crc={crc32:08x} rebuilt={}",
                email_id.short(),
                or_dash(*rebuilt_stripe)
            ),
        ),
        EventKind::DownloadFailed {
            mailbox,
            device,
            email_id,
            edit_sequence,
            file_type,
            reason,
        } => (
            none(),
            none(),
            format!(
                "e={} es={edit_sequence} f={file_type:#04x} m={mailbox} d={device} reason={reason:?}",
                email_id.short()
            ),
        ),
        EventKind::FaultFired {
            fault,
            hosts,
            detail,
        } => {
            let hosts = if hosts.is_empty() {
                "all".to_string()
            } else {
                hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (
                none(),
                fault.name().to_string(),
                format!("hosts={hosts} {detail:?}"),
            )
        }
        EventKind::PhaseChange { phase } => (none(), none(), format!("{phase:?}").to_lowercase()),
    }
}

/// The compact trace line of one event (no trailing newline).
pub fn trace_line(event: &Event) -> String {
    let (status, fault, detail) = columns(&event.kind);
    format!(
        "{} {} {} {status} {fault} {detail}",
        format_sim_time(event.at_sim_us),
        event.host,
        event.kind.name()
    )
}

/// Writes every event's trace line.
pub fn write_trace<W: Write>(history: &History, out: &mut W) -> io::Result<()> {
    for event in history.events() {
        writeln!(out, "{}", trace_line(event))?;
    }
    Ok(())
}

/// Writes events as JSON, one object per line.
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write> {
    out: W,
    lines: u64,
}

impl<W: Write> JsonLinesWriter<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        Self { out, lines: 0 }
    }

    /// Writes one event.
    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event).map_err(io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Writes a whole history.
    pub fn write_history(&mut self, history: &History) -> io::Result<()> {
        history
            .events()
            .iter()
            .try_for_each(|event| self.write_event(event))
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Why a JSON-lines trace could not be read back.
#[derive(Debug)]
pub enum TraceError {
    /// Reading failed at a 1-based line.
    Io {
        /// The line.
        line: usize,
        /// The error.
        source: io::Error,
    },
    /// A line is not an event.
    Json {
        /// The line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The events are not in time order.
    History(HistoryError),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { line, source } => write!(f, "line {line}: {source}"),
            TraceError::Json { line, message } => write!(f, "line {line}: {message}"),
            TraceError::History(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// Reads a JSON-lines history back (blank lines skipped).
pub fn read_json_lines<R: BufRead>(input: R) -> Result<History, TraceError> {
    let mut events = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(|source| TraceError::Io {
            line: line_number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line).map_err(|error| TraceError::Json {
            line: line_number,
            message: error.to_string(),
        })?;
        events.push(event);
    }
    History::from_events(events).map_err(TraceError::History)
}

pub use crate::digest::trace_digest;

/// FNV-1a-64 of arbitrary trace bytes (e.g. the compact text trace).
pub fn bytes_digest(bytes: &[u8]) -> u64 {
    crate::seed::fnv1a_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Bytes, EmailId, FaultKind, Host, Phase, PollKind};

    fn sample() -> History {
        let mut history = History::new();
        let mailbox = MailboxId { denom: 1, sn: 42 };
        let mut record = vec![0u8; 64];
        record[..16].copy_from_slice(&[0x1a; 16]);
        record[57] = 2;
        history.record(
            12_003_000,
            Host::Client(1),
            EventKind::TellSent {
                email_id: EmailId([0x1a; 16]),
                edit_sequence: 2,
                sender: mailbox,
                beacon: 7,
                recipients: vec![mailbox],
                record: Bytes(record.clone()),
                status: Some(250),
                routing_timestamp_s: 5,
                header_timestamp_s: 5,
                sender_clock_unix_s: 5,
                beacon_clock_unix_s: None,
            },
        );
        history.record(
            12_500_000,
            Host::World,
            EventKind::FaultFired {
                fault: FaultKind::Crash {
                    step: Some("TellRenamed".into()),
                },
                hosts: vec![Host::Raida(7)],
                detail: "power loss".into(),
            },
        );
        history.record(
            13_000_001,
            Host::Client(1),
            EventKind::TellReceived {
                mailbox,
                device: 0,
                beacon: 7,
                record: Bytes(record),
                via: PollKind::Peek,
            },
        );
        history.record(
            60_000_000,
            Host::World,
            EventKind::PhaseChange {
                phase: Phase::Healed,
            },
        );
        history
    }

    #[test]
    fn sim_time_prints_six_decimals() {
        assert_eq!(format_sim_time(0), "0.000000");
        assert_eq!(format_sim_time(12_003_000), "12.003000");
        assert_eq!(format_sim_time(1), "0.000001");
    }

    #[test]
    fn trace_lines_are_compact_and_stable() {
        let mut text = Vec::new();
        write_trace(&sample(), &mut text).expect("writes");
        let text = String::from_utf8(text).expect("utf-8");
        let expected = "\
12.003000 client01 tell_sent 250 - e=1a1a1a1a es=2 beacon=7 to=1:42 len=64
12.500000 world fault - crash hosts=raida07 \"power loss\"
13.000001 client01 tell_received - - e=1a1a1a1a es=2 m=1:42 d=0 beacon=7 via=peek len=64
60.000000 world phase - - healed
";
        assert_eq!(text, expected);
    }

    #[test]
    fn request_and_poll_lines() {
        let mailbox = MailboxId { denom: 1, sn: 42 };
        let lines: Vec<String> = [
            EventKind::RequestStarted {
                request: 9,
                raida: 3,
            },
            EventKind::RequestDone {
                request: 9,
                raida: 3,
                command: None,
                attempt: 2,
                status: None,
                stopped: Some(crate::history::RequestStop::Connect),
            },
            EventKind::ServerRequest {
                raida: 3,
                request: 7,
                client_request: Some(9),
                command: Some(WireCommand::Ping),
                outcome: crate::history::ServerOutcome::Parked,
                status: None,
                execution_us: 40,
            },
            EventKind::TellsRead {
                beacon: 3,
                request: 7,
                mailbox,
                via: PollKind::Ping,
                tells: vec![
                    TellRef {
                        email_id: EmailId([0x1a; 16]),
                        edit_sequence: 0,
                    },
                    TellRef {
                        email_id: EmailId([0x2b; 16]),
                        edit_sequence: 1,
                    },
                ],
            },
        ]
        .into_iter()
        .map(|kind| {
            trace_line(&Event {
                at_sim_us: 1,
                host: Host::Raida(3),
                kind,
            })
        })
        .collect();
        assert_eq!(
            lines,
            [
                "0.000001 raida03 request_started - - creq=9 raida=3",
                "0.000001 raida03 request_done - - creq=9 raida=3 cmd=? try=2 stopped=connect",
                "0.000001 raida03 server_request - - raida=3 req=7 creq=9 cmd=ping parked exec_us=40",
                "0.000001 raida03 tells_read - - beacon=3 req=7 m=1:42 via=ping tells=2 e=1a1a1a1a/0 e=2b2b2b2b/1",
            ]
        );
    }

    #[test]
    fn json_lines_round_trip() {
        let history = sample();
        let mut writer = JsonLinesWriter::new(Vec::new());
        writer.write_history(&history).expect("writes");
        assert_eq!(writer.lines(), 4);
        let bytes = writer.into_inner().expect("flushes");
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 4);
        let back = read_json_lines(bytes.as_slice()).expect("reads");
        assert_eq!(back, history);
        let error = read_json_lines("\n{}\n".as_bytes()).unwrap_err();
        assert!(matches!(error, TraceError::Json { line: 2, .. }), "{error}");
        assert!(error.to_string().starts_with("line 2:"), "{error}");
        let mut lines: Vec<&str> = std::str::from_utf8(&bytes)
            .expect("utf-8")
            .lines()
            .collect();
        lines.swap(0, 1);
        let error = read_json_lines(lines.join("\n").as_bytes()).unwrap_err();
        assert!(matches!(error, TraceError::History(_)), "{error}");
    }

    #[test]
    fn digest_changes_with_any_field() {
        let history = sample();
        assert_eq!(trace_digest(&history), trace_digest(&sample()));
        let mut events = history.events().to_vec();
        if let EventKind::TellReceived { record, .. } = &mut events[2].kind {
            record.0[63] ^= 1;
        }
        let changed = History::from_events(events).expect("ordered");
        assert_ne!(trace_digest(&history), trace_digest(&changed));
        assert_ne!(trace_digest(&history), trace_digest(&History::new()));
        assert_eq!(bytes_digest(b""), 0xcbf2_9ce4_8422_2325);
    }
}
