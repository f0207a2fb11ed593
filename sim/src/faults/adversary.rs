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

use knobs::{Knob, Knobs, Vary, Visitor};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qmail_client::client::Client;
use qmail_client::clock::wire_timestamp_s;
use qmail_client::extension::ClientExtensions;
use qmail_client::send::TellRouting;
use qmail_wire::tell::{AddressEntry, TellRecord};
use qmail_wire::Codec;

use crate::clock::HostClock;
use crate::history::{EmailId, EventKind, FaultKind, Host};
use crate::limits::{REPLAY_DELAY_S_LIMIT, REPLAY_DELAY_S_MAX_DEFAULT, REPLAY_DELAY_S_MIN};
use crate::seed::splitmix64;
use crate::world::hosts::SimClock;
use crate::world::net::SimConnector;
use crate::world::recorder::host_now_us;
use crate::world::workload::{client_of, Shared, ADVERSARY_POLL_MS};

use super::clock::PPM;

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
}

impl AdversaryHost {
    /// The adversary of a run; `seed` seeds its clients.
    pub fn new(clock: HostClock, shared: Arc<Shared>, seed: u64) -> AdversaryHost {
        AdversaryHost {
            clock: SimClock::new(clock),
            shared,
            seed,
        }
    }
}

/// The adversary's software: re-sends captured tells when they are due.
pub async fn run_adversary(host: Arc<AdversaryHost>) -> turmoil::Result {
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
                .or_insert_with(|| {
                    let sender = host.shared.plan.mailbox(captured.sender);
                    Arc::new(client_of(
                        sender,
                        &host.shared.directory,
                        host.shared.config.clone(),
                        &host.clock,
                        splitmix64(host.seed ^ u64::from(captured.sender)),
                        Arc::new(qmail_client::observer::NoopObserver),
                        ClientExtensions::none(),
                    ))
                })
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
