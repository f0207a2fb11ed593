//! Adversary faults: what an insider (the host `mallory`, holding every sender's keys) and a
//! careless sender do with tells.
//!
//! - `replay_fraction`: per tell, the adversary re-sends it after a seeded delay in
//!   [`crate::limits::REPLAY_DELAY_S_MIN`]..=`replay_delay_s_max` s (default
//!   [`crate::limits::REPLAY_DELAY_S_MAX_DEFAULT`], under the default 60 s window; at most
//!   [`crate::limits::REPLAY_DELAY_S_LIMIT`]), re-encrypted in a fresh request with a fresh
//!   routing timestamp (the record, and so its file-header timestamp, unchanged). A replay
//!   later than `tell_skew_s` carries a stale file-header timestamp beside a fresh routing
//!   one: the beacon must refuse it with 198 (`skew_consistency` checks it);
//! - `duplicate_tell_fraction`: per tell, the adversary sends it again at once;
//! - `timestamp_split_fraction`: per tell, the adversary sends it again at once with a routing
//!   timestamp that differs from the record's file-header timestamp by a seeded nonzero
//!   offset of up to ±[`crate::limits::TIMESTAMP_SPLIT_WINDOWS_MAX`] × `tell_skew_s`: the
//!   header (stamped by the sender) is inside the window, the routing one maybe outside. The
//!   record itself is not rewritten: an accepted split tell must still be byte for byte a
//!   record its sender sent (`exact_record`), so the header-outside case is the late replay's.
//!   Recorded as a `Replay` fault whose detail names the split;
//! - `tell_before_upload_fraction`: per email revision, the sender tells before it uploads.
//!
//! Each revision's choices are drawn when the workload is planned
//! ([`crate::world::workload::Plan`]). The senders' observer captures the chosen tells into
//! [`Captures`]; the adversary host below re-sends them when due.
//!
//! The same host sends the malformed requests of [`super::malformed`] (their knob, kinds and
//! expected statuses live there): each one when due, after an echo to its target through the
//! client library, on a connection of its own, recorded with the status it got.

use knobs::{Knob, Knobs, Vary, Visitor};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qmail_client::client::Client;
use qmail_client::clock::wire_timestamp_s;
use qmail_client::extension::ClientExtensions;
use qmail_client::send::TellRouting;
use qmail_client::transport::Connector;
use qmail_wire::header::ResponseHeader;
use qmail_wire::limits::HEADER_SIZE_BYTES;
use qmail_wire::tell::{AddressEntry, TellRecord};
use qmail_wire::Codec;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::clock::HostClock;
use crate::history::{EmailId, EventKind, FaultKind, Host};
use crate::limits::{REPLAY_DELAY_S_LIMIT, REPLAY_DELAY_S_MAX_DEFAULT, REPLAY_DELAY_S_MIN};
use crate::seed::splitmix64;
use crate::world::hosts::SimClock;
use crate::world::net::SimConnector;
use crate::world::recorder::host_now_us;
use crate::world::workload::{client_of, Shared, ADVERSARY_POLL_MS};

use super::clock::PPM;
use super::malformed::{self, MalformedContext, MalformedKind, MalformedRequest, PlannedMalformed};

/// Adversary knobs.
#[derive(Clone, PartialEq, Debug)]
pub struct AdversaryFaults {
    /// Chance per tell of a later replay by the adversary.
    pub replay_fraction: f64,
    /// Chance per tell of a duplicate send.
    pub duplicate_tell_fraction: f64,
    /// Chance per email revision of telling before uploading.
    pub tell_before_upload_fraction: f64,
    /// Longest replay delay, seconds (default 45).
    pub replay_delay_s_max: u32,
    /// Chance per tell of a re-send with split timestamps (default 0).
    pub timestamp_split_fraction: f64,
}

impl Default for AdversaryFaults {
    fn default() -> Self {
        AdversaryFaults {
            replay_fraction: 0.0,
            duplicate_tell_fraction: 0.0,
            tell_before_upload_fraction: 0.0,
            replay_delay_s_max: REPLAY_DELAY_S_MAX_DEFAULT,
            timestamp_split_fraction: 0.0,
        }
    }
}

impl Knobs for AdversaryFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::fraction("replay_fraction", &mut self.replay_fraction).vary(PPM));
        v.knob(
            Knob::fraction("duplicate_tell_fraction", &mut self.duplicate_tell_fraction).vary(PPM),
        );
        v.knob(
            Knob::fraction(
                "tell_before_upload_fraction",
                &mut self.tell_before_upload_fraction,
            )
            .vary(PPM),
        );
        let delay_min = i64::from(REPLAY_DELAY_S_MIN);
        v.knob(
            Knob::int(
                "replay_delay_s_max",
                &mut self.replay_delay_s_max,
                delay_min..=i64::from(REPLAY_DELAY_S_LIMIT),
            )
            .vary(Vary::From(delay_min)),
        );
        v.knob(
            Knob::fraction(
                "timestamp_split_fraction",
                &mut self.timestamp_split_fraction,
            )
            .vary(PPM),
        );
    }
}

impl AdversaryFaults {
    /// True when the adversary never acts and senders keep the protocol's order.
    pub fn is_quiet(&self) -> bool {
        self.replay_fraction == 0.0
            && self.duplicate_tell_fraction == 0.0
            && self.tell_before_upload_fraction == 0.0
            && self.timestamp_split_fraction == 0.0
    }
}

/// A tell the adversary will send again.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub(crate) due_us: u64,
    pub(crate) replay: bool,
    /// Split timestamps: the routing timestamp is the record's file-header one plus this.
    pub(crate) routing_offset_s: Option<i32>,
    pub(crate) sender: u32,
    pub(crate) beacon: u8,
    pub(crate) entries: Vec<AddressEntry>,
    pub(crate) record: Vec<u8>,
    pub(crate) email_id: EmailId,
    pub(crate) edit_sequence: u8,
}

/// Tells captured from the senders, waiting for the adversary.
#[derive(Debug, Default)]
pub(crate) struct Captures {
    queue: Mutex<Vec<Captured>>,
}

impl Captures {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<Captured>> {
        self.queue.lock().expect("capture queue lock poisoned")
    }
}

/// The adversary host.
#[derive(Debug)]
pub struct AdversaryHost {
    clock: SimClock,
    shared: Arc<Shared>,
    seed: u64,
    /// Malformed requests to send, in time order.
    malformed: Vec<PlannedMalformed>,
    /// RAIDAs in the topology.
    raida_count: u8,
}

impl AdversaryHost {
    /// The adversary of a run; `seed` seeds its clients.
    pub fn new(clock: HostClock, shared: Arc<Shared>, seed: u64) -> AdversaryHost {
        AdversaryHost {
            clock: SimClock::new(clock),
            shared,
            seed,
            malformed: Vec::new(),
            raida_count: 0,
        }
    }

    /// This adversary also sends `planned` malformed requests to a topology of
    /// `raida_count` RAIDAs.
    pub fn with_malformed(mut self, planned: Vec<PlannedMalformed>, raida_count: u8) -> Self {
        assert!(planned
            .windows(2)
            .all(|pair| pair[0].at_us <= pair[1].at_us));
        assert!(planned.iter().all(|p| p.raida < raida_count));
        self.malformed = planned;
        self.raida_count = raida_count;
        self
    }

    /// A client of mailbox `sender` (no observer, no extensions), seeded from `salt`.
    fn client(&self, sender: u32, salt: u64) -> Arc<Client<SimConnector>> {
        let mailbox = self.shared.plan.mailbox(sender);
        Arc::new(client_of(
            mailbox,
            &self.shared.directory,
            self.shared.config.clone(),
            &self.clock,
            splitmix64(self.seed ^ salt ^ u64::from(sender)),
            Arc::new(qmail_client::observer::NoopObserver),
            ClientExtensions::none(),
        ))
    }
}

/// Salt of the malformed sender's clients' seeds (the replaying clients use none).
const MALFORMED_CLIENT_SALT: u64 = 0x6d61_6c66_6f72_6d65;

/// The adversary's software: re-sends captured tells when they are due, and sends the
/// malformed requests (on a task of their own).
pub async fn run_adversary(host: Arc<AdversaryHost>) -> turmoil::Result {
    if !host.malformed.is_empty() {
        tokio::spawn(run_malformed(host.clone()));
    }
    let mut clients: BTreeMap<u32, Arc<Client<SimConnector>>> = BTreeMap::new();
    let mut due: BTreeMap<(u64, u64), Captured> = BTreeMap::new();
    let mut sequence: u64 = 0;
    loop {
        for captured in std::mem::take(&mut *host.shared.captures.lock()) {
            sequence += 1;
            due.insert((captured.due_us, sequence), captured);
        }
        if host.shared.progress.healed() {
            for _ in std::mem::take(&mut due) {
                host.shared.progress.resend_done();
            }
        }
        let now_us = host_now_us();
        while let Some(entry) = due.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let captured = entry.remove();
            let client = clients
                .entry(captured.sender)
                .or_insert_with(|| host.client(captured.sender, 0))
                .clone();
            tokio::spawn(resend(host.clone(), client, captured));
        }
        tokio::time::sleep(Duration::from_millis(ADVERSARY_POLL_MS)).await;
    }
}

async fn resend(host: Arc<AdversaryHost>, client: Arc<Client<SimConnector>>, captured: Captured) {
    let fault = if captured.replay || captured.routing_offset_s.is_some() {
        FaultKind::Replay {
            email_id: captured.email_id,
            edit_sequence: captured.edit_sequence,
        }
    } else {
        FaultKind::DuplicateTell {
            email_id: captured.email_id,
            edit_sequence: captured.edit_sequence,
        }
    };
    if let Ok(record) = TellRecord::from_bytes(&captured.record) {
        let header_s = record.file_header.client_timestamp_s;
        let (routing_s, detail) = match captured.routing_offset_s {
            Some(offset_s) => (
                split_timestamp_s(header_s, offset_s),
                format!(
                    "to beacon {}, timestamp split: routing = header {offset_s:+} s",
                    captured.beacon
                ),
            ),
            None => (
                wire_timestamp_s(client.clock()),
                format!("to beacon {}", captured.beacon),
            ),
        };
        host.shared.recorder.record(
            Host::Adversary,
            EventKind::FaultFired {
                fault,
                hosts: vec![Host::Adversary],
                detail,
            },
        );
        let routing = TellRouting::for_record(&record, routing_s);
        let outcome = client
            .send_tell_record(captured.beacon, &captured.entries, &record, &routing)
            .await;
        tracing::debug!(status = ?outcome.status(), "adversary re-sent a tell");
    }
    host.shared.progress.resend_done();
}

/// Sends each malformed request when due (each on a task of its own), until the world heals.
async fn run_malformed(host: Arc<AdversaryHost>) {
    let mut clients: BTreeMap<u32, Arc<Client<SimConnector>>> = BTreeMap::new();
    for planned in host.malformed.iter().copied() {
        let now_us = host_now_us();
        if planned.at_us > now_us {
            tokio::time::sleep(Duration::from_micros(planned.at_us - now_us)).await;
        }
        if host.shared.progress.healed() {
            return;
        }
        let client = clients
            .entry(planned.sender)
            .or_insert_with(|| host.client(planned.sender, MALFORMED_CLIENT_SALT))
            .clone();
        tokio::spawn(send_malformed(host.clone(), client, planned));
    }
}

/// One malformed request: an echo to its target first (a scanner checks the host answers),
/// the request, its record; a refused upload is followed by a download of its GUID.
async fn send_malformed(
    host: Arc<AdversaryHost>,
    client: Arc<Client<SimConnector>>,
    planned: PlannedMalformed,
) {
    let echo = client.echo(planned.raida).await;
    let ctx = host.malformed_context(&planned, wire_timestamp_s(client.clock()));
    let mut rng = ChaCha8Rng::seed_from_u64(planned.seed);
    let request = malformed::build(planned.kind, &ctx, &mut rng);
    let status = exchange(&host, planned.raida, &request).await;
    let echo_note = if echo.is_ok() {
        ""
    } else {
        " (its echo failed)"
    };
    host.record_malformed(planned.kind, planned.raida, &request, status, echo_note);
    let guid = request.guid.filter(|_| planned.kind.is_refused_upload());
    if let (Some(guid), Some(_)) = (guid, status) {
        let check = malformed::refused_upload_check(&ctx, guid, &mut rng);
        let status = exchange(&host, planned.raida, &check).await;
        host.record_malformed(
            MalformedKind::RefusedUploadStored,
            planned.raida,
            &check,
            status,
            "",
        );
    }
}

impl AdversaryHost {
    /// What `planned` is built from: its sender's keys on its target, two RAIDAs for a
    /// tell's server entries, a serial number no RAIDA holds, the adversary's clock.
    fn malformed_context(&self, planned: &PlannedMalformed, now_s: u32) -> MalformedContext {
        let mailbox = self.shared.plan.mailbox(planned.sender);
        let an = *mailbox
            .ans
            .get(usize::from(planned.raida))
            .expect("one AN per RAIDA slot");
        let other = (planned.raida + 1) % self.raida_count.max(1);
        let server = |raida: u8| {
            let addr = self
                .shared
                .directory
                .addr_v4(raida)
                .expect("the directory lists every RAIDA of the topology");
            (raida, addr)
        };
        MalformedContext {
            raida: planned.raida,
            denomination: mailbox.id.denom,
            serial_number: mailbox.id.sn,
            an,
            upload_locker: mailbox.upload_locker,
            fee_locker: mailbox.fee_locker,
            recipient: (mailbox.id.denom, mailbox.id.sn),
            // Mailboxes are serial numbers 1000 + index, far below this.
            unknown_serial_number: u32::MAX - planned.sender,
            servers: [server(planned.raida), server(other)],
            now_s,
        }
    }

    /// Records one malformed request and the status it got.
    fn record_malformed(
        &self,
        kind: MalformedKind,
        raida: u8,
        request: &MalformedRequest,
        status: Option<u8>,
        note: &str,
    ) {
        let answered = status.map_or("no reply".to_string(), |status| {
            format!("answered {status}")
        });
        let detail = format!(
            "to raida {raida}: {}{note}; the pages name {}, {answered}",
            request.detail,
            kind.expected_status().code()
        );
        self.shared.recorder.record(
            Host::Adversary,
            EventKind::FaultFired {
                fault: FaultKind::MalformedRequest {
                    request: kind.name().to_string(),
                    raida,
                    status,
                    email_id: request.guid.map(EmailId),
                },
                hosts: vec![Host::Adversary, Host::Raida(raida)],
                detail,
            },
        );
    }
}

/// Writes `request` to RAIDA `raida` on a fresh connection (closing the sending side when it
/// asks) and reads the reply header: its status, or `None` when none came within the
/// client's connect and request timeouts.
async fn exchange(host: &AdversaryHost, raida: u8, request: &MalformedRequest) -> Option<u8> {
    let addr = host.shared.directory.addr(raida)?;
    let config = &host.shared.config;
    let bound = config.connect_timeout + config.request_timeout;
    let attempt = async {
        let mut stream = SimConnector.connect(addr).await.ok()?;
        stream.write_all(&request.bytes).await.ok()?;
        if request.half_close {
            stream.shutdown().await.ok()?;
        }
        let mut header = [0u8; HEADER_SIZE_BYTES];
        stream.read_exact(&mut header).await.ok()?;
        ResponseHeader::from_bytes(&header)
            .ok()
            .map(|header| header.status)
    };
    tokio::time::timeout(bound, attempt).await.ok().flatten()
}

/// The routing timestamp of a split tell: the file-header timestamp moved by `offset_s`
/// (saturating at the ends of the u32 range, which no simulated clock comes near).
pub(crate) fn split_timestamp_s(header_s: u32, offset_s: i32) -> u32 {
    let moved = i64::from(header_s) + i64::from(offset_s);
    u32::try_from(moved.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_timestamps_move_the_routing_one_by_the_offset() {
        assert_eq!(split_timestamp_s(1_000, 120), 1_120);
        assert_eq!(split_timestamp_s(1_000, -120), 880);
        assert_eq!(split_timestamp_s(10, -20), 0);
        assert_eq!(split_timestamp_s(u32::MAX - 1, 5), u32::MAX);
    }

    #[test]
    fn defaults_keep_today_s_adversary() {
        let faults = AdversaryFaults::default();
        assert!(faults.is_quiet());
        assert_eq!(faults.replay_delay_s_max, 45);
        let split = AdversaryFaults {
            timestamp_split_fraction: 0.1,
            ..AdversaryFaults::default()
        };
        assert!(!split.is_quiet());
    }
}
