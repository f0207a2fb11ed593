//! The simulated network's names and addresses, and the client's connector onto it.
//!
//! turmoil names hosts by string and gives each an address from its own DNS. The world uses
//! `raida0`..`raida{n-1}` for the servers, `client0`.. for the client hosts (each runs many
//! mailboxes and devices as tasks) and `mallory` for the adversary. Every RAIDA listens on
//! [`RAIDA_PORT`]. The history names hosts with [`Host`] (`raida07`, `client01`,
//! `adversary`); [`turmoil_name`] maps one onto the other.
//!
//! Every client connection (the devices', the senders' and the adversary's) goes through
//! [`SimConnector`], which also records the request attempt it carries: `RequestStarted`
//! when the connection is opened (one connection per attempt), `RequestDone` when the reply
//! header arrives or the attempt ends without one. Attempts are numbered across the run in
//! the order they start; the number is registered under the connection's client address
//! (IP and port) in the [`Recorder`], where the RAIDA's observer finds it for the peer it
//! accepted (see [`super::hosts`]). The client host is learned from the connection's local
//! address; attempts a host starts before its first connection is established wait in a
//! reservation until it is (turmoil has no "current host" call). The connector's state
//! lives in a thread-local installed by [`start_run`]: a turmoil run lives on one thread.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::recorder::{Recorder, Reservation};
use crate::history::{EventKind, Host, RequestStop, WireCommand};
use crate::limits::{REQUEST_BODY_SIZE_OFFSET, WIRE_HEADER_SIZE_BYTES};
use qmail_wire::header::ResponseHeader;
use qmail_wire::Codec;

/// The TCP port every simulated RAIDA listens on.
pub const RAIDA_PORT: u16 = 18_000;

/// The turmoil host name of the adversary.
pub const ADVERSARY_HOST_NAME: &str = "mallory";

/// turmoil host name of RAIDA `index`.
pub fn raida_host_name(index: u8) -> String {
    format!("raida{index}")
}

/// turmoil host name of client host `index`.
pub fn client_host_name(index: u16) -> String {
    format!("client{index}")
}

/// The turmoil host name of a history host. `Host::World` is not a turmoil host.
pub fn turmoil_name(host: Host) -> Option<String> {
    match host {
        Host::Raida(index) => Some(raida_host_name(index)),
        Host::Client(index) => Some(client_host_name(index)),
        Host::Adversary => Some(ADVERSARY_HOST_NAME.to_string()),
        Host::World => None,
    }
}

/// Opens TCP connections on turmoil's simulated network (inside a turmoil host only).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimConnector;

impl qmail_client::transport::Connector for SimConnector {
    type Stream = CountedStream;

    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        Box::pin(async move {
            CONNECTIONS.with(|count| count.set(count.get().saturating_add(1)));
            let mut pending = PendingConnect {
                attempt: start_attempt(addr),
            };
            let inner = turmoil::net::TcpStream::connect(addr).await?;
            let attempt = pending.attempt.take().map(|attempt| {
                if let Ok(local) = inner.local_addr() {
                    established(&attempt, local);
                }
                StreamAttempt::new(attempt)
            });
            Ok(CountedStream { inner, attempt })
        })
    }
}

thread_local! {
    /// Bytes written plus bytes read by every client connection of the run on this thread
    /// (a turmoil run lives on one thread). Statistics for the harness only: nothing
    /// simulated reads it.
    static WIRE_BYTES: Cell<u64> = const { Cell::new(0) };
    /// Connections clients tried to open (one per request attempt), same scope.
    static CONNECTIONS: Cell<u64> = const { Cell::new(0) };
}

/// Zeroes this thread's wire-byte and connection counts and points the connector's request
/// log at `recorder` (at the start of a run, before the first step).
pub(crate) fn start_run(recorder: &Recorder, hosts_by_ip: BTreeMap<IpAddr, Host>) {
    WIRE_BYTES.with(|count| count.set(0));
    CONNECTIONS.with(|count| count.set(0));
    REQUESTS.with(|log| {
        *log.borrow_mut() = Some(RequestLog::new(recorder.clone(), hosts_by_ip));
    });
}

/// This thread's connection attempts since the last reset.
pub(crate) fn connections() -> u64 {
    CONNECTIONS.with(Cell::get)
}

/// This thread's wire-byte count since the last reset.
pub(crate) fn wire_bytes() -> u64 {
    WIRE_BYTES.with(Cell::get)
}

fn count_wire_bytes(size_bytes: usize) {
    let size_bytes = u64::try_from(size_bytes).unwrap_or(u64::MAX);
    WIRE_BYTES.with(|count| count.set(count.get().saturating_add(size_bytes)));
}

/// A client's connection: turmoil's stream, counting every byte each way. Every connection
/// of the simulated network has a client end, so the count is all bytes on the wire. It also
/// watches the request header going out and the reply header coming back, to record the
/// attempt's `RequestDone`.
#[derive(Debug)]
pub struct CountedStream {
    inner: turmoil::net::TcpStream,
    attempt: Option<StreamAttempt>,
}

/// One request attempt being recorded.
#[derive(Clone, Copy)]
struct Attempt {
    /// Run-wide request number.
    request: u64,
    /// The RAIDA addressed.
    raida: u8,
    /// The client host's runtime (names the host once it is known).
    runtime: tokio::runtime::Id,
    /// The client task making it (for the attempt count).
    task: Option<tokio::task::Id>,
}

/// What the connector knows of one run's requests (see the module docs).
#[derive(Debug)]
struct RequestLog {
    recorder: Recorder,
    next_request: u64,
    /// Every host of the run by its address (turmoil's `reverse_lookup` answers with a new
    /// `String` to parse, and every attempt asked it twice).
    hosts_by_ip: BTreeMap<IpAddr, Host>,
    /// Client hosts by runtime, learned from connections' local addresses.
    hosts: Vec<(tokio::runtime::Id, Host)>,
    /// Events of hosts not known yet, in reservations.
    unresolved: Vec<(tokio::runtime::Id, Reservation, EventKind)>,
    /// Each client task's latest try: (raida, command, attempt, answered).
    tries: BTreeMap<tokio::task::Id, (u8, Option<WireCommand>, u32, bool)>,
}

thread_local! {
    /// This thread's run's request log ([`start_run`]).
    static REQUESTS: RefCell<Option<RequestLog>> = const { RefCell::new(None) };
}

impl RequestLog {
    fn new(recorder: Recorder, hosts_by_ip: BTreeMap<IpAddr, Host>) -> RequestLog {
        RequestLog {
            recorder,
            next_request: 0,
            hosts_by_ip,
            hosts: Vec::new(),
            unresolved: Vec::new(),
            tries: BTreeMap::new(),
        }
    }

    fn host_of(&self, runtime: tokio::runtime::Id) -> Option<Host> {
        self.hosts
            .iter()
            .find(|(id, _)| *id == runtime)
            .map(|(_, host)| *host)
    }

    /// Records `kind` now on the host of `runtime`, or reserves its place until the host is
    /// known.
    fn record(&mut self, runtime: tokio::runtime::Id, kind: EventKind) {
        match self.host_of(runtime) {
            Some(host) => self.recorder.record(host, kind),
            None => {
                let reservation = self.recorder.reserve();
                self.unresolved.push((runtime, reservation, kind));
            }
        }
    }

    /// `runtime` is `host`: completes the events waiting for it.
    fn learn(&mut self, runtime: tokio::runtime::Id, host: Host) {
        if self.host_of(runtime).is_some() {
            return;
        }
        self.hosts.push((runtime, host));
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unresolved)
            .into_iter()
            .partition(|(id, _, _)| *id == runtime);
        self.unresolved = waiting;
        for (_, reservation, kind) in ready {
            self.recorder.complete(reservation, host, kind);
        }
    }
}

/// True inside a turmoil host's runtime (not while the harness tears one down).
fn in_host() -> bool {
    turmoil::sim_elapsed().is_some() && tokio::runtime::Handle::try_current().is_ok()
}

impl RequestLog {
    /// The RAIDA index a turmoil address belongs to, if any.
    fn raida_of(&self, ip: IpAddr) -> Option<u8> {
        match self.hosts_by_ip.get(&ip)? {
            Host::Raida(index) => Some(*index),
            _ => None,
        }
    }

    /// The history host of a client-side turmoil address, if it is one.
    fn client_host_of(&self, ip: IpAddr) -> Option<Host> {
        let host = *self.hosts_by_ip.get(&ip)?;
        matches!(host, Host::Client(_) | Host::Adversary).then_some(host)
    }
}

/// Numbers and records the start of an attempt to `addr` (a RAIDA), if a run is logging.
fn start_attempt(addr: SocketAddr) -> Option<Attempt> {
    if !in_host() {
        return None;
    }
    let runtime = tokio::runtime::Handle::try_current().ok()?.id();
    REQUESTS.with(|log| {
        let mut log = log.borrow_mut();
        let log = log.as_mut()?;
        let raida = log.raida_of(addr.ip())?;
        log.next_request += 1;
        let request = log.next_request;
        log.record(runtime, EventKind::RequestStarted { request, raida });
        Some(Attempt {
            request,
            raida,
            runtime,
            task: tokio::task::try_id(),
        })
    })
}

/// The attempt's connection is up at `local`: learn the host, register the address.
fn established(attempt: &Attempt, local: SocketAddr) {
    REQUESTS.with(|log| {
        let mut log = log.borrow_mut();
        let Some(log) = log.as_mut() else {
            return;
        };
        if let Some(host) = log.client_host_of(local.ip()) {
            log.learn(attempt.runtime, host);
        }
        log.recorder.note_connection(local, attempt.request);
    });
}

/// Records the end of an attempt: its reply status, or where it stopped.
fn finish_attempt(
    attempt: &Attempt,
    command: Option<WireCommand>,
    outcome: Result<u8, RequestStop>,
) {
    if !in_host() {
        return;
    }
    REQUESTS.with(|log| {
        let mut log = log.borrow_mut();
        let Some(log) = log.as_mut() else {
            return;
        };
        let answered = outcome.is_ok();
        let previous = attempt.task.and_then(|task| log.tries.get(&task).copied());
        let attempt_number = match previous {
            Some((raida, previous_command, number, false))
                if raida == attempt.raida && previous_command == command =>
            {
                number.saturating_add(1)
            }
            _ => 1,
        };
        if let Some(task) = attempt.task {
            log.tries
                .insert(task, (attempt.raida, command, attempt_number, answered));
        }
        let kind = EventKind::RequestDone {
            request: attempt.request,
            raida: attempt.raida,
            command,
            attempt: attempt_number,
            status: outcome.ok(),
            stopped: outcome.err(),
        };
        log.record(attempt.runtime, kind);
    });
}

/// An attempt whose connection is being opened: dropping it unfinished (a connect timeout
/// or refusal) ends the attempt at [`RequestStop::Connect`].
struct PendingConnect {
    attempt: Option<Attempt>,
}

impl Drop for PendingConnect {
    fn drop(&mut self) {
        if let Some(attempt) = self.attempt.take() {
            finish_attempt(&attempt, None, Err(RequestStop::Connect));
        }
    }
}

/// An attempt on an open connection: the request header written so far, the reply header
/// read so far.
#[derive(Debug)]
struct StreamAttempt {
    attempt: Option<Attempt>,
    request_header: HeaderPrefix,
    written_bytes: usize,
    reply_header: HeaderPrefix,
}

/// The first bytes of a wire header seen so far, kept inline (two per attempt).
#[derive(Debug)]
struct HeaderPrefix {
    bytes: [u8; WIRE_HEADER_SIZE_BYTES],
    len: usize,
}

impl HeaderPrefix {
    const fn new() -> HeaderPrefix {
        HeaderPrefix {
            bytes: [0; WIRE_HEADER_SIZE_BYTES],
            len: 0,
        }
    }

    /// Takes as many of `bytes` as the header still has room for.
    fn extend(&mut self, bytes: &[u8]) {
        let taken = (WIRE_HEADER_SIZE_BYTES - self.len).min(bytes.len());
        self.bytes[self.len..self.len + taken].copy_from_slice(&bytes[..taken]);
        self.len += taken;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attempt({} to raida{:02})", self.request, self.raida)
    }
}

impl StreamAttempt {
    fn new(attempt: Attempt) -> StreamAttempt {
        StreamAttempt {
            attempt: Some(attempt),
            request_header: HeaderPrefix::new(),
            written_bytes: 0,
            reply_header: HeaderPrefix::new(),
        }
    }

    fn command(&self) -> Option<WireCommand> {
        WireCommand::from_header(self.request_header.as_slice())
    }

    /// Bytes the request header declares in all (header + body), once it is whole.
    fn request_size_bytes(&self) -> Option<usize> {
        let size = self
            .request_header
            .as_slice()
            .get(REQUEST_BODY_SIZE_OFFSET..REQUEST_BODY_SIZE_OFFSET + 2)?;
        let body_size_bytes = u16::from_be_bytes([*size.first()?, *size.get(1)?]);
        Some(WIRE_HEADER_SIZE_BYTES + usize::from(body_size_bytes))
    }

    fn wrote(&mut self, bytes: &[u8]) {
        self.request_header.extend(bytes);
        self.written_bytes = self.written_bytes.saturating_add(bytes.len());
    }

    fn read(&mut self, bytes: &[u8]) {
        if self.attempt.is_none() {
            return;
        }
        self.reply_header.extend(bytes);
        if self.reply_header.len < WIRE_HEADER_SIZE_BYTES {
            return;
        }
        let status = ResponseHeader::from_bytes(self.reply_header.as_slice())
            .expect("32 bytes always decode as a response header")
            .status;
        if let Some(attempt) = self.attempt.take() {
            finish_attempt(&attempt, self.command(), Ok(status));
        }
    }
}

impl Drop for StreamAttempt {
    fn drop(&mut self) {
        let Some(attempt) = self.attempt.take() else {
            return;
        };
        let written = self
            .request_size_bytes()
            .is_some_and(|size| self.written_bytes >= size);
        let stop = if written {
            RequestStop::Read
        } else {
            RequestStop::Write
        };
        finish_attempt(&attempt, self.command(), Err(stop));
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        count_wire_bytes(buf.filled().len().saturating_sub(before));
        if let Some(attempt) = self.attempt.as_mut() {
            attempt.read(buf.filled().get(before..).unwrap_or(&[]));
        }
        poll
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            count_wire_bytes(*written);
            if let Some(attempt) = self.attempt.as_mut() {
                attempt.wrote(buf.get(..*written).unwrap_or(&[]));
            }
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_history_hosts_onto_turmoil_hosts() {
        assert_eq!(turmoil_name(Host::Raida(7)).as_deref(), Some("raida7"));
        assert_eq!(turmoil_name(Host::Client(0)).as_deref(), Some("client0"));
        assert_eq!(turmoil_name(Host::Adversary).as_deref(), Some("mallory"));
        assert_eq!(turmoil_name(Host::World), None);
    }
}
