//! A run as a picture: the history exported in the Chrome trace-event JSON format, which
//! ui.perfetto.dev (and chrome://tracing) opens.
//!
//! The format is `{"traceEvents": [...], "displayTimeUnit": "ms"}` with timestamps in
//! microseconds (here: simulated µs since the run's epoch). The export draws:
//!
//! - one process per host, in this order: the client hosts, the RAIDAs, the adversary and
//!   the world (`M` metadata events `process_name` and `process_sort_index`);
//! - in each process, thread 0 ("events") holds instants (`ph: "i"`, thread scope) for
//!   everything that has no duration: tells sent, accepted, read, deleted, polls done,
//!   downloads, file-system steps; threads 1, 2, ... ("lane N") hold spans (`ph: "X"`),
//!   each lane a set of spans that do not overlap, so many concurrent requests of one host
//!   stack up as lanes;
//! - client spans: one per request attempt, from `RequestStarted` (connection opened) to
//!   `RequestDone` (reply header or failure), named after the command (`ping`, `upload`,
//!   ... or `no reply` when nothing was written);
//! - server spans: one per `ServerRequest`, ending when the server produced its reply and
//!   starting its measured execution time earlier; a parked ping gets a second span from
//!   `PingParked` to `PingResumed` or `PingTimedOut`;
//! - a flow arrow (`ph: "s"` then `"f"` with `bp: "e"`, id = the client's request number)
//!   from each client span to the server span handling the same request;
//! - faults as process-scoped instants on every host they touch (and on the world),
//!   phase changes and violations as global instants (`s: "g"`, a line across every
//!   track), named `violation: <invariant>`.
//!
//! Everything is computed from the history and the violations alone, so one seed exports
//! the same bytes every time.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::checkers::Violation;
use crate::history::{Event, EventKind, FaultKind, History, Host, ServerOutcome, WireCommand};
use crate::trace::trace_line;

/// Thread id of a host's instants.
const EVENTS_TID: u32 = 0;

/// One trace event (the fields the format defines that this export uses).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceEvent {
    /// Display name.
    pub name: String,
    /// Category (filterable in the UI).
    pub cat: &'static str,
    /// Phase: `X`, `i`, `s`, `f` or `M`.
    pub ph: &'static str,
    /// Start, microseconds.
    pub ts: u64,
    /// Duration of an `X` span, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur: Option<u64>,
    /// Process (one per host).
    pub pid: u32,
    /// Thread (0: instants, 1..: span lanes).
    pub tid: u32,
    /// Scope of an instant: `t` thread, `p` process, `g` global.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<&'static str>,
    /// Flow id (pairs an `s` with its `f`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Flow binding point: `e` binds the flow end to the enclosing slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bp: Option<&'static str>,
    /// Details shown when the event is selected.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
}

impl TraceEvent {
    fn new(name: String, cat: &'static str, ph: &'static str, ts: u64, host: Host) -> Self {
        TraceEvent {
            name,
            cat,
            ph,
            ts,
            dur: None,
            pid: pid(host),
            tid: EVENTS_TID,
            s: None,
            id: None,
            bp: None,
            args: Map::new(),
        }
    }

    fn instant(name: String, cat: &'static str, ts: u64, host: Host, scope: &'static str) -> Self {
        TraceEvent {
            s: Some(scope),
            ..TraceEvent::new(name, cat, "i", ts, host)
        }
    }

    fn arg(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.args.insert(key.to_string(), value.into());
        self
    }
}

/// The process id of a host; ids sort clients first, then RAIDAs, the adversary, the world.
pub fn pid(host: Host) -> u32 {
    match host {
        Host::Client(index) => 1 + u32::from(index),
        Host::Raida(index) => 100_000 + u32::from(index),
        Host::Adversary => 200_000,
        Host::World => 300_000,
    }
}

/// One span before it is given a lane.
#[derive(Clone, Debug)]
struct Span {
    host: Host,
    start_us: u64,
    end_us: u64,
    name: String,
    cat: &'static str,
    args: Map<String, Value>,
    /// Flow ids starting (`s`) or ending (`f`) at this span's start.
    flow_out: Option<u64>,
    flow_in: Option<u64>,
}

/// A client attempt being assembled.
#[derive(Clone, Debug)]
struct ClientAttempt {
    host: Host,
    start_us: u64,
    raida: u8,
}

fn command_name(command: Option<WireCommand>) -> &'static str {
    command.map_or("no reply", WireCommand::name)
}

/// Turns request and park events into spans; returns the spans and the events left for
/// instants.
fn spans(history: &History) -> (Vec<Span>, Vec<&Event>) {
    let end_us = history.end_us();
    let mut spans = Vec::new();
    let mut rest = Vec::new();
    let mut attempts: BTreeMap<u64, ClientAttempt> = BTreeMap::new();
    let mut parks: BTreeMap<(u8, u64), (u64, Map<String, Value>)> = BTreeMap::new();
    let mut served: BTreeMap<u64, ()> = BTreeMap::new();
    for event in history.events() {
        match &event.kind {
            EventKind::RequestStarted { request, raida } => {
                attempts.insert(
                    *request,
                    ClientAttempt {
                        host: event.host,
                        start_us: event.at_sim_us,
                        raida: *raida,
                    },
                );
            }
            EventKind::RequestDone {
                request,
                command,
                attempt,
                status,
                stopped,
                ..
            } => {
                let Some(started) = attempts.remove(request) else {
                    rest.push(event);
                    continue;
                };
                let mut args = Map::new();
                args.insert("request".into(), json!(request));
                args.insert("raida".into(), json!(started.raida));
                args.insert("attempt".into(), json!(attempt));
                args.insert("status".into(), json!(status));
                args.insert("stopped".into(), json!(stopped.map(|stop| stop.name())));
                spans.push(Span {
                    host: started.host,
                    start_us: started.start_us,
                    end_us: event.at_sim_us,
                    name: format!("{} → raida{:02}", command_name(*command), started.raida),
                    cat: "client",
                    args,
                    flow_out: Some(*request),
                    flow_in: None,
                });
            }
            EventKind::ServerRequest {
                raida,
                request,
                client_request,
                command,
                outcome,
                status,
                execution_us,
            } => {
                let mut args = Map::new();
                args.insert("request".into(), json!(request));
                args.insert("client_request".into(), json!(client_request));
                args.insert("outcome".into(), json!(outcome.name()));
                args.insert("status".into(), json!(status));
                args.insert("execution_us".into(), json!(execution_us));
                if let Some(id) = client_request {
                    served.insert(*id, ());
                }
                let name = match outcome {
                    ServerOutcome::Parked => format!("{} (parks)", command_name(*command)),
                    _ => command_name(*command).to_string(),
                };
                spans.push(Span {
                    host: Host::Raida(*raida),
                    start_us: event.at_sim_us.saturating_sub(u64::from(*execution_us)),
                    end_us: event.at_sim_us,
                    name,
                    cat: "server",
                    args,
                    flow_out: None,
                    flow_in: *client_request,
                });
            }
            EventKind::PingParked {
                beacon,
                request,
                mailbox,
            } => {
                let mut args = Map::new();
                args.insert("request".into(), json!(request));
                args.insert("mailbox".into(), json!(mailbox.to_string()));
                parks.insert((*beacon, *request), (event.at_sim_us, args));
            }
            EventKind::PingResumed {
                beacon,
                request,
                status,
                ..
            }
            | EventKind::PingTimedOut {
                beacon,
                request,
                status,
                ..
            } => {
                let woken = matches!(event.kind, EventKind::PingResumed { .. });
                let Some((start_us, mut args)) = parks.remove(&(*beacon, *request)) else {
                    rest.push(event);
                    continue;
                };
                args.insert("status".into(), json!(status));
                spans.push(Span {
                    host: Host::Raida(*beacon),
                    start_us,
                    end_us: event.at_sim_us,
                    name: if woken {
                        "parked → woken"
                    } else {
                        "parked → timed out"
                    }
                    .into(),
                    cat: "park",
                    args,
                    flow_out: None,
                    flow_in: None,
                });
            }
            _ => rest.push(event),
        }
    }
    // Attempts and parks the run ended before: open until the end.
    for (request, started) in attempts {
        let mut args = Map::new();
        args.insert("request".into(), json!(request));
        args.insert("raida".into(), json!(started.raida));
        spans.push(Span {
            host: started.host,
            start_us: started.start_us,
            end_us,
            name: format!("unfinished → raida{:02}", started.raida),
            cat: "client",
            args,
            flow_out: Some(request),
            flow_in: None,
        });
    }
    for ((beacon, _), (start_us, args)) in parks {
        spans.push(Span {
            host: Host::Raida(beacon),
            start_us,
            end_us,
            name: "parked (unanswered)".into(),
            cat: "park",
            args,
            flow_out: None,
            flow_in: None,
        });
    }
    // A flow needs both ends: keep only client requests some server span names.
    for span in &mut spans {
        if span.flow_out.is_some_and(|id| !served.contains_key(&id)) {
            span.flow_out = None;
        }
    }
    (spans, rest)
}

/// Gives every span a lane (thread 1, 2, ...) where it overlaps no other span of its host.
fn lanes(mut spans: Vec<Span>) -> Vec<(Span, u32)> {
    spans.sort_by(|a, b| {
        (pid(a.host), a.start_us, a.end_us).cmp(&(pid(b.host), b.start_us, b.end_us))
    });
    let mut lane_ends: BTreeMap<Host, Vec<u64>> = BTreeMap::new();
    spans
        .into_iter()
        .map(|span| {
            let ends = lane_ends.entry(span.host).or_default();
            let free = ends.iter().position(|end_us| *end_us <= span.start_us);
            let lane = match free {
                Some(index) => index,
                None => {
                    ends.push(0);
                    ends.len() - 1
                }
            };
            if let Some(end_us) = ends.get_mut(lane) {
                *end_us = span.end_us.max(span.start_us + 1);
            }
            let tid = u32::try_from(lane).unwrap_or(u32::MAX - 1) + 1;
            (span, tid)
        })
        .collect()
}

/// The instant an event that is not a span becomes.
fn instants(event: &Event) -> Vec<TraceEvent> {
    let line = trace_line(event);
    let name = event.kind.name().to_string();
    match &event.kind {
        EventKind::FaultFired { fault, hosts, .. } => {
            let name = format!("fault: {}", fault.name());
            let mut touched: Vec<Host> = hosts.clone();
            touched.push(Host::World);
            touched.sort_unstable();
            touched.dedup();
            touched
                .into_iter()
                .map(|host| {
                    TraceEvent::instant(
                        name.clone(),
                        fault_category(fault),
                        event.at_sim_us,
                        host,
                        "p",
                    )
                    .arg("line", line.clone())
                })
                .collect()
        }
        EventKind::PhaseChange { phase } => vec![TraceEvent::instant(
            format!("phase: {phase:?}").to_lowercase(),
            "phase",
            event.at_sim_us,
            Host::World,
            "g",
        )],
        EventKind::FsStep { step, .. } => vec![TraceEvent::instant(
            step.clone(),
            "fs",
            event.at_sim_us,
            event.host,
            "t",
        )],
        _ => vec![
            TraceEvent::instant(name, "event", event.at_sim_us, event.host, "t").arg("line", line),
        ],
    }
}

fn fault_category(fault: &FaultKind) -> &'static str {
    match fault {
        FaultKind::Crash { .. } | FaultKind::Restart => "crash",
        _ => "fault",
    }
}

/// Every host of the export: the ones given (a scenario's topology) and every host the
/// history names, in track order.
fn hosts(history: &History, given: &[Host]) -> Vec<Host> {
    let mut hosts: Vec<Host> = given.to_vec();
    hosts.extend(history.events().iter().map(|event| event.host));
    hosts.push(Host::World);
    hosts.sort_by_key(|host| pid(*host));
    hosts.dedup();
    hosts
}

/// Builds the trace events of a run: metadata, spans, flows, instants, violations.
pub fn trace_events(
    history: &History,
    violations: &[Violation],
    given: &[Host],
) -> Vec<TraceEvent> {
    let (spans, rest) = spans(history);
    let laid_out = lanes(spans);
    let mut lane_counts: BTreeMap<Host, u32> = BTreeMap::new();
    for (span, tid) in &laid_out {
        let count = lane_counts.entry(span.host).or_default();
        *count = (*count).max(*tid);
    }
    let mut events = Vec::new();
    for host in hosts(history, given) {
        let name = host.to_string();
        events.push(
            TraceEvent::new("process_name".into(), "__metadata", "M", 0, host).arg("name", name),
        );
        events.push(
            TraceEvent::new("process_sort_index".into(), "__metadata", "M", 0, host)
                .arg("sort_index", pid(host)),
        );
        events.push(
            TraceEvent::new("thread_name".into(), "__metadata", "M", 0, host).arg("name", "events"),
        );
        for lane in 1..=lane_counts.get(&host).copied().unwrap_or(0) {
            let mut thread = TraceEvent::new("thread_name".into(), "__metadata", "M", 0, host)
                .arg("name", format!("lane {lane}"));
            thread.tid = lane;
            events.push(thread);
        }
    }
    for (span, tid) in laid_out {
        let mut slice = TraceEvent::new(span.name, span.cat, "X", span.start_us, span.host);
        slice.tid = tid;
        slice.dur = Some(span.end_us.saturating_sub(span.start_us));
        slice.args = span.args;
        for (flow, ph) in [(span.flow_out, "s"), (span.flow_in, "f")] {
            let Some(id) = flow else { continue };
            let mut arrow = TraceEvent::new("request".into(), "flow", ph, span.start_us, span.host);
            arrow.tid = tid;
            arrow.id = Some(id);
            arrow.bp = (ph == "f").then_some("e");
            events.push(arrow);
        }
        events.push(slice);
    }
    events.extend(rest.into_iter().flat_map(instants));
    for violation in violations {
        let mut instant = TraceEvent::instant(
            format!("violation: {}", violation.invariant),
            "violation",
            violation.at_sim_us,
            Host::World,
            "g",
        )
        .arg("detail", violation.detail.clone());
        if let Some(cause) = &violation.caused_by {
            instant = instant.arg("caused_by", cause.to_string());
        }
        events.push(instant);
    }
    events
}

/// Writes a run as a trace-event JSON document; returns the number of events written.
pub fn write_trace_json<W: Write>(
    out: W,
    history: &History,
    violations: &[Violation],
    hosts: &[Host],
    other_data: Map<String, Value>,
) -> io::Result<usize> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Document<'a> {
        trace_events: &'a [TraceEvent],
        display_time_unit: &'static str,
        other_data: Map<String, Value>,
    }
    let events = trace_events(history, violations, hosts);
    let document = Document {
        trace_events: &events,
        display_time_unit: "ms",
        other_data,
    };
    serde_json::to_writer(out, &document).map_err(io::Error::other)?;
    Ok(events.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::Invariant;
    use crate::history::{MailboxId, RequestStop};

    fn sample() -> History {
        let mut history = History::new();
        let mailbox = MailboxId { denom: 1, sn: 5 };
        let client = Host::Client(0);
        history.record(
            10,
            client,
            EventKind::RequestStarted {
                request: 1,
                raida: 3,
            },
        );
        history.record(
            12,
            client,
            EventKind::RequestStarted {
                request: 2,
                raida: 4,
            },
        );
        history.record(
            30,
            Host::Raida(3),
            EventKind::ServerRequest {
                raida: 3,
                request: (1 << 40) | 1,
                client_request: Some(1),
                command: Some(WireCommand::Ping),
                outcome: ServerOutcome::Parked,
                status: None,
                execution_us: 5,
            },
        );
        history.record(
            30,
            Host::Raida(3),
            EventKind::PingParked {
                beacon: 3,
                request: (1 << 40) | 1,
                mailbox,
            },
        );
        history.record(
            40,
            Host::Client(0),
            EventKind::RequestDone {
                request: 2,
                raida: 4,
                command: None,
                attempt: 1,
                status: None,
                stopped: Some(RequestStop::Connect),
            },
        );
        history.record(
            90,
            Host::Raida(3),
            EventKind::PingTimedOut {
                beacon: 3,
                request: (1 << 40) | 1,
                mailbox,
                status: 17,
            },
        );
        history.record(
            95,
            client,
            EventKind::RequestDone {
                request: 1,
                raida: 3,
                command: Some(WireCommand::Ping),
                attempt: 1,
                status: Some(17),
                stopped: None,
            },
        );
        history
    }

    #[test]
    fn spans_lanes_flows_and_violations() {
        let violation = Violation {
            invariant: Invariant::PingWake,
            at_sim_us: 50,
            detail: "late".into(),
            caused_by: None,
        };
        let events = trace_events(&sample(), &[violation], &[Host::Raida(0)]);
        let spans: Vec<&TraceEvent> = events.iter().filter(|e| e.ph == "X").collect();
        assert_eq!(spans.len(), 4, "two attempts, one server request, one park");
        let client: Vec<&&TraceEvent> = spans
            .iter()
            .filter(|e| e.pid == pid(Host::Client(0)))
            .collect();
        assert_eq!(client.len(), 2);
        assert_ne!(
            client[0].tid, client[1].tid,
            "overlapping spans take two lanes"
        );
        let server = spans
            .iter()
            .find(|e| e.cat == "server")
            .expect("server span");
        assert_eq!((server.ts, server.dur), (25, Some(5)));
        let starts: Vec<&TraceEvent> = events.iter().filter(|e| e.ph == "s").collect();
        let ends: Vec<&TraceEvent> = events.iter().filter(|e| e.ph == "f").collect();
        assert_eq!(
            starts.len(),
            1,
            "only the request a server handled gets an arrow"
        );
        assert_eq!(
            (starts[0].id, ends[0].id, ends[0].bp),
            (Some(1), Some(1), Some("e"))
        );
        assert!(events
            .iter()
            .any(|e| e.ph == "i" && e.name == "violation: ping_wake" && e.s == Some("g")));
        let named: Vec<&str> = events
            .iter()
            .filter(|e| e.name == "process_name")
            .filter_map(|e| e.args.get("name").and_then(Value::as_str))
            .collect();
        assert_eq!(named, vec!["client00", "raida00", "raida03", "world"]);
        let mut json = Vec::new();
        write_trace_json(&mut json, &sample(), &[], &[], Map::new()).expect("writes");
        let value: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(value["displayTimeUnit"], "ms");
        assert!(value["traceEvents"]
            .as_array()
            .is_some_and(|a| !a.is_empty()));
    }
}
