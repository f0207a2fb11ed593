//! The shared recorder: every host and the harness append events here, time-stamped with
//! simulated time, never wall time.
//!
//! turmoil runs hosts one after another inside one `Sim::step`, in a seeded random order, and
//! each host's clock runs ahead inside its tick. So events arrive slightly out of time order
//! within one step (host A at +8 ms, then host B at +2 ms). The recorder therefore buffers a
//! step's events and [`Recorder::flush`] (called by the harness after every step) sorts them
//! by time — stably, so events of one instant keep their arrival order, which is itself
//! determined by the seed — before appending them to the [`History`]. Every event of step
//! `k` lies in `[k·tick, (k+1)·tick]` and the harness records its own events at step
//! boundaries, so the history stays in non-decreasing time.
//!
//! Some events are known only after the fact but belong at an earlier instant: a tell
//! attempt is recorded (with the status that came back) when it finishes, yet it was sent
//! when the request went out, and a recipient may receive the tell before the sender hears
//! back. [`Recorder::reserve`] takes the instant (and the arrival order) when the request goes
//! out; [`Recorder::complete`] fills the event in later. Until every reservation at or before
//! an instant is completed or cancelled, [`Recorder::flush`] holds back the events from that
//! instant on, so the history stays in time order.
//!
//! The recorder also carries side channels that are not history events: stripes the servers
//! stored (the harness draws stripe loss and corruption from them), and the client address
//! of every request attempt's connection (the RAIDA's observer names the client's request
//! by the peer it accepted).
//!
//! What is recorded beyond the checkers' needs is set by [`RecordOptions`]: file-system
//! steps multiply a trace's size, so only a run inside [`with_options`] (the Perfetto
//! export) records them.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::history::{EmailId, Event, EventKind, History, Host};
use crate::limits::US_PER_S;

/// One stripe a RAIDA reported stored (its observer's "stripe stored").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct StoredStripe {
    /// The storage RAIDA.
    pub raida: u8,
    /// The file GUID (the email id).
    pub email_id: EmailId,
    /// The file.
    pub file_type: u8,
}

/// A reserved place in the history: an instant and an arrival number.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reservation {
    at_sim_us: u64,
    sequence: u64,
}

/// What a run records beyond the events the checkers need.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RecordOptions {
    /// Every named file-system step of every RAIDA (`FsStep` events).
    pub fs_steps: bool,
}

thread_local! {
    /// Options for recorders created on this thread ([`with_options`]).
    static OPTIONS: Cell<RecordOptions> = const { Cell::new(RecordOptions { fs_steps: false }) };
}

/// Runs `f` with every recorder it creates on this thread recording `options` (a run lives
/// on one thread), then restores the previous options.
pub fn with_options<R>(options: RecordOptions, f: impl FnOnce() -> R) -> R {
    struct Restore(RecordOptions);
    impl Drop for Restore {
        fn drop(&mut self) {
            OPTIONS.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(OPTIONS.with(|cell| cell.replace(options)));
    f()
}

#[derive(Debug, Default)]
struct Inner {
    history: History,
    /// Events not yet in the history, by (time, arrival number): kept sorted as they
    /// arrive, since a long-open reservation can hold thousands back for many steps.
    pending: BTreeMap<(u64, u64), Event>,
    /// Open reservations by (time, arrival number): the first is the earliest.
    open: std::collections::BTreeSet<(u64, u64)>,
    next_sequence: u64,
    stored_stripes: Vec<StoredStripe>,
    /// Every stripe a RAIDA acknowledged in this run, for the end-of-run audit.
    acked_stripes: std::collections::BTreeSet<StoredStripe>,
    /// Client address of a connection → the run-wide number of the attempt it carries
    /// (kept until the port is used again).
    connections: Connections,
}

/// Client address → request attempt: per client IP (a run has a handful of client hosts), a
/// table indexed by port. Every request notes its connection and every server request looks
/// it up, among one entry per client port the run used (up to 16,384 per host). A hash map
/// of them missed the cache twice per call (2% of a storm's CPU); ports are handed out in
/// turn, so neighbouring requests touch neighbouring slots here.
#[derive(Debug, Default)]
struct Connections {
    by_ip: BTreeMap<u128, Vec<Option<NonZeroU64>>>,
}

impl Connections {
    /// IPv4 as IPv4-mapped IPv6: a run's hosts are all one version.
    fn ip_key(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(ip) => u128::from(ip.to_ipv6_mapped()),
            IpAddr::V6(ip) => u128::from(ip),
        }
    }

    fn insert(&mut self, client: SocketAddr, request: NonZeroU64) {
        let ports = self.by_ip.entry(Self::ip_key(client.ip())).or_default();
        let port_index = usize::from(client.port());
        if ports.len() <= port_index {
            ports.resize(port_index + 1, None);
        }
        ports[port_index] = Some(request);
    }

    fn get(&self, client: SocketAddr) -> Option<NonZeroU64> {
        let ports = self.by_ip.get(&Self::ip_key(client.ip()))?;
        ports.get(usize::from(client.port())).copied().flatten()
    }
}

impl Inner {
    /// Closes an open reservation; false when it was not open.
    fn close(&mut self, reservation: Reservation) -> bool {
        self.open
            .remove(&(reservation.at_sim_us, reservation.sequence))
    }

    fn sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }
}

/// The run's recorder. Cheap to clone; every clone appends to the same history.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    options: RecordOptions,
}

/// Simulated time of the host currently running, microseconds since the run's epoch.
///
/// Panics outside a turmoil host: only simulated code records with the host's time.
pub fn host_now_us() -> u64 {
    let elapsed = turmoil::sim_elapsed().expect("recording outside a turmoil host");
    u64::try_from(elapsed.as_micros()).expect("simulated time fits u64 microseconds")
}

impl Recorder {
    /// An empty recorder, with this thread's [`RecordOptions`] (see [`with_options`]).
    pub fn new() -> Self {
        Self::with_event_capacity(0)
    }

    /// An empty recorder whose history has room for `event_count` events before it grows.
    pub fn with_event_capacity(event_count: usize) -> Self {
        let inner = Inner {
            history: History::with_capacity(event_count),
            ..Inner::default()
        };
        Recorder {
            inner: Arc::new(Mutex::new(inner)),
            options: OPTIONS.with(Cell::get),
        }
    }

    /// What this recorder records beyond the checkers' needs.
    pub fn options(&self) -> RecordOptions {
        self.options
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a host panicked while recording: the run is already lost.
        self.inner.lock().expect("recorder lock poisoned")
    }

    /// Records `kind` on `host` at the current host's simulated time (inside a host).
    pub fn record(&self, host: Host, kind: EventKind) {
        self.record_at(host_now_us(), host, kind);
    }

    /// Records `kind` on `host` at `at_sim_us` (the harness, between steps).
    pub fn record_at(&self, at_sim_us: u64, host: Host, kind: EventKind) {
        let mut inner = self.lock();
        let sequence = inner.sequence();
        inner.pending.insert(
            (at_sim_us, sequence),
            Event {
                at_sim_us,
                host,
                kind,
            },
        );
    }

    /// Reserves the current host instant for an event recorded later with
    /// [`Recorder::complete`] (inside a host).
    pub fn reserve(&self) -> Reservation {
        let at_sim_us = host_now_us();
        let mut inner = self.lock();
        let sequence = inner.sequence();
        inner.open.insert((at_sim_us, sequence));
        Reservation {
            at_sim_us,
            sequence,
        }
    }

    /// Records `kind` on `host` at the reserved instant.
    pub fn complete(&self, reservation: Reservation, host: Host, kind: EventKind) {
        let mut inner = self.lock();
        let removed = inner.close(reservation);
        assert!(removed, "a reservation is completed once");
        inner.pending.insert(
            (reservation.at_sim_us, reservation.sequence),
            Event {
                at_sim_us: reservation.at_sim_us,
                host,
                kind,
            },
        );
    }

    /// Gives a reservation up without an event.
    pub fn cancel(&self, reservation: Reservation) {
        self.lock().close(reservation);
    }

    /// Moves the buffered events into the history in time order (arrival order within an
    /// instant), up to the earliest open reservation. An event older than the history's end
    /// (impossible with the step discipline above, but a wrong clock must not abort a run)
    /// is clamped to the end.
    pub fn flush(&self) {
        let mut inner = self.lock();
        // Split off what stays, then move the rest out in order: removing the first entry
        // one at a time shifts every leaf's remaining 128-byte events left each time.
        let ready = match inner.open.first() {
            Some(&(watermark, _)) => {
                let held_back = inner.pending.split_off(&(watermark, 0));
                std::mem::replace(&mut inner.pending, held_back)
            }
            None => std::mem::take(&mut inner.pending),
        };
        for mut event in ready.into_values() {
            let end_us = inner.history.end_us();
            debug_assert!(
                event.at_sim_us >= end_us || end_us - event.at_sim_us <= US_PER_S,
                "event {} µs older than the history",
                end_us - event.at_sim_us
            );
            event.at_sim_us = event.at_sim_us.max(end_us);
            inner.history.push(event);
        }
    }

    /// Runs `f` on the history recorded so far (flushed events only).
    pub fn with_history<R>(&self, f: impl FnOnce(&History) -> R) -> R {
        f(&self.lock().history)
    }

    /// Flushes everything — cancelling reservations still open (attempts the run ended
    /// before they finished) — and hands out the history, leaving an empty one.
    pub fn take_history(&self) -> History {
        // With no reservation open, a flush holds nothing back.
        self.lock().open.clear();
        self.flush();
        std::mem::take(&mut self.lock().history)
    }

    /// Events recorded so far (flushed only).
    pub fn len(&self) -> usize {
        self.lock().history.len()
    }

    /// True before the first flushed event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A RAIDA stored a stripe (server observer).
    pub fn note_stripe_stored(&self, stripe: StoredStripe) {
        let mut inner = self.lock();
        inner.stored_stripes.push(stripe);
        inner.acked_stripes.insert(stripe);
    }

    /// Every stripe `raida` acknowledged so far, ordered (the disk audit's list).
    pub fn acked_stripes_of(&self, raida: u8) -> Vec<StoredStripe> {
        let inner = self.lock();
        inner
            .acked_stripes
            .iter()
            .filter(|stripe| stripe.raida == raida)
            .copied()
            .collect()
    }

    /// A client's connection from `client` carries request attempt `request` (client side,
    /// once the connection is up; a reused port replaces the old entry).
    pub fn note_connection(&self, client: SocketAddr, request: u64) {
        let request = NonZeroU64::new(request).expect("request attempts are numbered from 1");
        self.lock().connections.insert(client, request);
    }

    /// The request attempt the connection from `client` carries, if a client noted it.
    pub fn request_of_connection(&self, client: SocketAddr) -> Option<u64> {
        self.lock().connections.get(client).map(NonZeroU64::get)
    }

    /// The stripes stored since the last call, in the order they were stored.
    pub fn take_stored_stripes(&self) -> Vec<StoredStripe> {
        std::mem::take(&mut self.lock().stored_stripes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Phase;

    fn phase() -> EventKind {
        EventKind::PhaseChange {
            phase: Phase::Safety,
        }
    }

    #[test]
    fn flush_sorts_one_step_stably_by_time() {
        let recorder = Recorder::new();
        recorder.record_at(8, Host::Raida(1), phase());
        recorder.record_at(2, Host::Raida(2), phase());
        recorder.record_at(8, Host::Raida(3), phase());
        recorder.record_at(2, Host::Raida(4), phase());
        assert!(
            recorder.is_empty(),
            "nothing is in the history before a flush"
        );
        recorder.flush();
        let hosts: Vec<Host> =
            recorder.with_history(|h| h.events().iter().map(|e| e.host).collect());
        assert_eq!(
            hosts,
            vec![
                Host::Raida(2),
                Host::Raida(4),
                Host::Raida(1),
                Host::Raida(3)
            ]
        );
        recorder.record_at(10, Host::World, phase());
        let history = recorder.take_history();
        assert_eq!(history.len(), 5);
        assert_eq!(history.end_us(), 10);
        assert!(recorder.is_empty());
    }

    #[test]
    fn reservations_hold_later_events_back() {
        let recorder = Recorder::new();
        let early = {
            let mut inner = recorder.lock();
            let sequence = inner.sequence();
            inner.open.insert((5, sequence));
            Reservation {
                at_sim_us: 5,
                sequence,
            }
        };
        recorder.record_at(3, Host::Raida(1), phase());
        recorder.record_at(7, Host::Raida(2), phase());
        recorder.flush();
        assert_eq!(recorder.len(), 1, "only the event before the reservation");
        recorder.complete(early, Host::Client(0), phase());
        recorder.flush();
        let hosts: Vec<Host> =
            recorder.with_history(|h| h.events().iter().map(|e| e.host).collect());
        assert_eq!(hosts, vec![Host::Raida(1), Host::Client(0), Host::Raida(2)]);
        let open = {
            let mut inner = recorder.lock();
            let sequence = inner.sequence();
            inner.open.insert((9, sequence));
            sequence
        };
        recorder.record_at(10, Host::World, phase());
        recorder.flush();
        assert_eq!(recorder.len(), 3);
        assert!(recorder.lock().open.contains(&(9, open)));
        assert_eq!(
            recorder.take_history().len(),
            4,
            "take_history drops open reservations"
        );
    }

    #[test]
    fn side_channels_hand_out_what_was_noted() {
        let recorder = Recorder::new();
        let email_id = EmailId([7; 16]);
        let stored = StoredStripe {
            raida: 3,
            email_id,
            file_type: 1,
        };
        recorder.note_stripe_stored(stored);
        assert_eq!(recorder.take_stored_stripes(), vec![stored]);
        assert!(recorder.take_stored_stripes().is_empty());
    }

    #[test]
    fn connections_are_told_apart_by_host_and_port() {
        let recorder = Recorder::new();
        let addr = |ip: &str, port: u16| SocketAddr::new(ip.parse().expect("an IP"), port);
        recorder.note_connection(addr("10.0.0.2", 49152), 1);
        recorder.note_connection(addr("10.0.0.3", 49152), 2);
        recorder.note_connection(addr("10.0.0.2", 65535), 3);
        recorder.note_connection(addr("10.0.0.2", 0), 4);
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.2", 49152)),
            Some(1)
        );
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.3", 49152)),
            Some(2)
        );
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.2", 65535)),
            Some(3)
        );
        assert_eq!(recorder.request_of_connection(addr("10.0.0.2", 0)), Some(4));
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.2", 49153)),
            None
        );
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.3", 65535)),
            None
        );
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.4", 49152)),
            None
        );
        // IPv4 and its IPv4-mapped IPv6 form are one host (a run uses one version).
        assert_eq!(
            recorder.request_of_connection(addr("::ffff:10.0.0.3", 49152)),
            Some(2)
        );
        // A reused port names its new attempt.
        recorder.note_connection(addr("10.0.0.2", 49152), 5);
        assert_eq!(
            recorder.request_of_connection(addr("10.0.0.2", 49152)),
            Some(5)
        );
    }
}
