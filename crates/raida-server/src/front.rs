//! The TCP front: accepts connections, frames requests, parks pings, writes replies.
//!
//! One code path serves both worlds: the real daemon passes a `tokio::net::TcpListener`, the
//! simulator a `turmoil::net::TcpListener` (whose streams implement tokio's `AsyncRead` /
//! `AsyncWrite`; that impl exists only with the cargo feature `sim`). Everything is generic
//! over [`Listener`]; each connection runs in its own `tokio::spawn`ed task, which works on
//! the daemon's multi-thread runtime and inside a turmoil host's current-thread runtime alike,
//! so every future here is `Send`.
//!
//! # One connection
//!
//! ```text
//!  wait ≤ idle_timeout_s for the first header byte      (EOF here: clean close)
//!  read the rest of the 32-byte header and the whole declared body (bytes 22–23, u16 BE)
//!      within read_timeout_s of that first byte          (short header: close, no reply)
//!  handle_request(header ‖ body)
//!      Reply  → write it; then after_reply_written when it carries a deferred delete
//!      Park   → (the handler already subscribed to the inbox before its scan) arm the
//!               outside watch and rescan once if there is one, then wait for a wake
//!               (resume_ping: reply, or wait on) | the ping timeout (ping_timeout_reply) |
//!               the peer leaving (drop everything, free the slot)
//!      Close  → drop the connection without a reply (the rate limiter)
//!  repeat
//! ```
//!
//! The whole declared body is always read before answering, even when the header is already
//! wrong (DECISIONS.md: otherwise the reply is lost to a connection reset). A body cut short
//! by EOF or by `read_timeout_s` is still handed to the handler, which answers 16 (body
//! shorter than declared), and the connection is closed after that reply.
//!
//! # Bounds
//!
//! - `max_connections`: a connection beyond it is accepted and closed at once.
//! - A per-peer limit ([`Front::with_peer_connection_limit`]; the daemon's
//!   `--max-connections-per-peer`, default [`PEER_CONNECTIONS_DEFAULT`]): a connection from a
//!   peer address that already holds that many is closed at once, so one peer cannot take
//!   every slot while the others are served. Off in [`Front::new`] (the simulator puts many
//!   users behind a few client hosts).
//! - Refused connections and pings refused a parking slot are logged at WARN at most once per
//!   [`REFUSAL_WARN_INTERVAL_S`] per kind, with the count since the last warning (each one at
//!   DEBUG), so a flood cannot flood the log too.
//! - `max_parked_pings`: a ping that would park beyond it gets the timeout reply at once,
//!   which every client already treats as "poll again".
//! - `read_timeout_s` bounds a request once its first byte arrived and every reply write;
//!   `idle_timeout_s` bounds the wait for the next request. turmoil's TCP never retransmits,
//!   so a lost segment stalls a read forever: no read here is without a deadline.
//! - A parked connection keeps reading its peer: EOF or an error means the peer left, and the
//!   park ends at once. Bytes the peer sends while parked (a pipelined next request) are kept,
//!   up to one maximal request, and served after the ping is answered. A peer that half-closes
//!   its sending side while parked is indistinguishable from one that left, and is treated so.
//!
//! # Outside wake-ups
//!
//! In the simulator only tell (71) wakes a parked ping, through `env.watch()`. The real daemon
//! also passes an [`InboxArmer`] (the inotify task of [`crate::inotify`]), armed for the
//! inbox while a ping is parked on it, so a tell renamed in by another process wakes it too.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, timeout_at, Instant};
use tracing::Instrument;

use crate::env::Env;
use crate::handler::{self, Outcome, ParkedPing, Reply};
use crate::store::Mailbox;

/// Size of a request header.
pub const REQUEST_HEADER_SIZE_BYTES: usize = qmail_wire::limits::HEADER_SIZE_BYTES;

/// Offset of the big-endian u16 `body_size` in the request header (DECISIONS.md).
pub const BODY_SIZE_OFFSET: usize = 22;

/// Largest body a request header can declare (terminator included).
pub const REQUEST_BODY_SIZE_BYTES_MAX: usize = u16::MAX as usize;

/// Largest request on the wire.
pub const REQUEST_SIZE_BYTES_MAX: usize = REQUEST_HEADER_SIZE_BYTES + REQUEST_BODY_SIZE_BYTES_MAX;

/// Most bytes a parked connection buffers from its peer (one maximal pipelined request);
/// beyond that the front stops reading until the ping is answered.
pub const PARKED_PENDING_BYTES_MAX: usize = REQUEST_SIZE_BYTES_MAX;

/// Size of one read while a connection is parked.
pub const PARKED_READ_CHUNK_BYTES: usize = 4_096;

/// Consecutive failed accepts (other than per-connection errors) before [`Front::serve`]
/// gives up and returns the error.
pub const ACCEPT_ERRORS_CONSECUTIVE_MAX: u32 = 100;

/// Pause after a failed accept (file descriptors exhausted and the like).
pub const ACCEPT_ERROR_BACKOFF_MS: u64 = 100;

/// The daemon's default per-peer connection limit (`--max-connections-per-peer`): room for
/// one machine's clients with parked pings, far below the default `max_connections` (1024).
pub const PEER_CONNECTIONS_DEFAULT: usize = 64;

/// Shortest time between two WARN lines about one kind of refusal.
pub const REFUSAL_WARN_INTERVAL_S: u64 = 10;

const _: () = assert!(PEER_CONNECTIONS_DEFAULT >= 1 && PEER_CONNECTIONS_DEFAULT <= 1024);
const _: () = assert!(REFUSAL_WARN_INTERVAL_S >= 1);

const _: () = assert!(BODY_SIZE_OFFSET + 2 <= REQUEST_HEADER_SIZE_BYTES);
const _: () = assert!(REQUEST_BODY_SIZE_BYTES_MAX == crate::limits::REQUEST_BODY_SIZE_BYTES_MAX);
const _: () = assert!(REQUEST_BODY_SIZE_BYTES_MAX == qmail_wire::limits::BODY_SIZE_BYTES_MAX);
const _: () = assert!(PARKED_READ_CHUNK_BYTES <= PARKED_PENDING_BYTES_MAX);
const _: () = assert!(ACCEPT_ERRORS_CONSECUTIVE_MAX >= 1 && ACCEPT_ERROR_BACKOFF_MS >= 1);

/// A source of connections: a TCP listener, real or simulated.
pub trait Listener: Send + Sync + 'static {
    /// The connection type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address the listener is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        tokio::net::TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// turmoil's listener (feature `sim`): the simulator's network.
#[cfg(feature = "sim")]
impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        turmoil::net::TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        turmoil::net::TcpListener::local_addr(self)
    }
}

/// Keeps an outside wake-up source armed for one inbox while it lives (see [`InboxArmer`]).
pub struct ArmedInbox {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl ArmedInbox {
    /// A guard that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + 'static) -> ArmedInbox {
        ArmedInbox {
            release: Some(Box::new(release)),
        }
    }

    /// A guard with nothing to release.
    pub fn none() -> ArmedInbox {
        ArmedInbox { release: None }
    }
}

impl fmt::Debug for ArmedInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmedInbox")
            .field("armed", &self.release.is_some())
            .finish()
    }
}

impl Drop for ArmedInbox {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Arms a wake-up source outside this process for an inbox a ping is parked on: the real
/// daemon's inotify watch, which calls `env.watch().notify(mailbox)` when a `.tell` lands.
pub trait InboxArmer: Send + Sync + fmt::Debug {
    /// Watches `inbox_dir` (the inbox of `mailbox`, which exists) until the guard is dropped.
    fn arm(&self, mailbox: Mailbox, inbox_dir: &Path) -> io::Result<ArmedInbox>;
}

/// How many connections each peer address holds, and at most how many it may.
#[derive(Debug)]
pub struct PeerSlots {
    limit: Option<usize>,
    held: Mutex<BTreeMap<IpAddr, usize>>,
}

/// One connection's share of its peer's slots; released when dropped.
#[derive(Debug)]
pub struct PeerSlot {
    slots: Arc<PeerSlots>,
    peer: IpAddr,
}

impl PeerSlots {
    /// Slots of at most `limit` connections per peer address (`None`: no limit).
    pub fn new(limit: Option<usize>) -> Arc<PeerSlots> {
        assert!(limit != Some(0), "a peer limit of 0 would refuse everyone");
        Arc::new(PeerSlots {
            limit,
            held: Mutex::new(BTreeMap::new()),
        })
    }

    /// A slot for one more connection from `peer`; `None` when it holds the limit already.
    pub fn try_take(self: &Arc<Self>, peer: IpAddr) -> Option<PeerSlot> {
        let mut held = self.held.lock().expect("peer slots lock poisoned");
        let count = held.entry(peer).or_insert(0);
        if self.limit.is_some_and(|limit| *count >= limit) {
            if *count == 0 {
                held.remove(&peer);
            }
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            slots: self.clone(),
            peer,
        })
    }

    /// Connections `peer` holds now.
    pub fn held_by(&self, peer: IpAddr) -> usize {
        let held = self.held.lock().expect("peer slots lock poisoned");
        held.get(&peer).copied().unwrap_or(0)
    }

    /// The limit (`None`: none).
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().expect("peer slots lock poisoned");
        let count = held
            .get_mut(&self.peer)
            .expect("a slot's peer is counted while the slot lives");
        assert!(*count >= 1);
        *count -= 1;
        if *count == 0 {
            held.remove(&self.peer);
        }
    }
}

/// Rate limit of one kind of WARN: at most one per interval, carrying how many refusals
/// happened since the previous one.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    state: Mutex<RefusalLogState>,
}

#[derive(Debug, Default)]
struct RefusalLogState {
    last_warn: Option<Instant>,
    count_since_warn: u64,
}

impl RefusalLog {
    /// At most one WARN per `interval`.
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog {
            interval,
            state: Mutex::new(RefusalLogState::default()),
        }
    }

    /// Counts one refusal at `now`: `Some(n)` when a WARN is due, `n` the refusals since the
    /// last WARN (this one included); `None` to log it at DEBUG only.
    pub fn refused(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().expect("refusal log lock poisoned");
        state.count_since_warn += 1;
        let due = state
            .last_warn
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            return None;
        }
        state.last_warn = Some(now);
        Some(std::mem::take(&mut state.count_since_warn))
    }
}

/// The rate-limited WARNs of one front, one per kind of refusal.
#[derive(Debug)]
struct Refusals {
    connections: RefusalLog,
    peer_connections: RefusalLog,
    parked_pings: RefusalLog,
}

impl Refusals {
    fn new() -> Refusals {
        let interval = Duration::from_secs(REFUSAL_WARN_INTERVAL_S);
        Refusals {
            connections: RefusalLog::new(interval),
            peer_connections: RefusalLog::new(interval),
            parked_pings: RefusalLog::new(interval),
        }
    }
}

/// The TCP front of one RAIDA server. Cheap to clone: clones share the environment and the
/// connection and parked-ping slots.
#[derive(Clone, Debug)]
pub struct Front {
    env: Arc<Env>,
    armer: Option<Arc<dyn InboxArmer>>,
    connection_slots: Arc<Semaphore>,
    parked_slots: Arc<Semaphore>,
    peer_slots: Arc<PeerSlots>,
    refusals: Arc<Refusals>,
}

/// How one attempt to read a request ended.
#[derive(Debug)]
enum RequestRead {
    /// Header and the whole declared body.
    Complete(Vec<u8>),
    /// A whole header and a body cut short by EOF or the read timeout: answered, then closed.
    ShortBody(Vec<u8>),
    /// The peer closed between requests.
    Closed,
    /// No next request began within `idle_timeout_s`.
    Idle,
    /// The peer stopped inside the header: nothing can be answered.
    TruncatedHeader {
        /// Header bytes received.
        received_bytes: usize,
    },
    /// A read failed.
    Failed(io::Error),
}

/// How filling a buffer ended.
#[derive(Debug)]
enum Fill {
    Done,
    Eof,
    TimedOut,
    Failed(io::Error),
}

/// What a parked connection's peer did.
#[derive(Debug)]
enum PeerEvent {
    /// Sent bytes (kept for the next request).
    Data,
    /// Closed its side or broke the connection.
    Gone,
}

/// What ended one wait of a parked ping.
#[derive(Debug)]
enum Wake {
    /// The inbox was notified: rescan.
    Changed,
    /// The ping timeout passed.
    Deadline,
    /// The peer sent or left.
    Peer(PeerEvent),
}

/// Whether the connection goes on after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

/// One accepted connection and the bytes read ahead of the request being framed.
#[derive(Debug)]
struct Conn<S> {
    stream: S,
    pending: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    /// Fills `buf` until at least `min_filled` bytes are in, taking read-ahead bytes first,
    /// never reading past `buf`.
    async fn fill(
        &mut self,
        buf: &mut [u8],
        filled: &mut usize,
        min_filled: usize,
        deadline: Instant,
    ) -> Fill {
        assert!(min_filled <= buf.len());
        while *filled < min_filled {
            // `filled < min_filled <= buf.len()`, so the slice is in bounds.
            let room = &mut buf[*filled..];
            if !self.pending.is_empty() {
                let take_bytes = room.len().min(self.pending.len());
                room[..take_bytes].copy_from_slice(&self.pending[..take_bytes]);
                self.pending.drain(..take_bytes);
                *filled += take_bytes;
                continue;
            }
            match timeout_at(deadline, self.stream.read(room)).await {
                Err(_) => return Fill::TimedOut,
                Ok(Ok(0)) => return Fill::Eof,
                Ok(Ok(read_bytes)) => *filled += read_bytes,
                Ok(Err(error)) => return Fill::Failed(error),
            }
        }
        Fill::Done
    }

    /// Reads one request: the header, then the whole body it declares.
    async fn read_request(&mut self, idle: Duration, read_timeout: Duration) -> RequestRead {
        // The header is read into the stack: a connection's last read (its end) and every
        // truncated header allocate nothing, and a request allocates once, at its full size.
        let mut header = [0u8; REQUEST_HEADER_SIZE_BYTES];
        let mut filled = 0;
        match self
            .fill(&mut header, &mut filled, 1, Instant::now() + idle)
            .await
        {
            Fill::Done => {}
            Fill::Eof => return RequestRead::Closed,
            Fill::TimedOut => return RequestRead::Idle,
            Fill::Failed(error) => return RequestRead::Failed(error),
        }
        let deadline = Instant::now() + read_timeout;
        let header_end = REQUEST_HEADER_SIZE_BYTES;
        match self
            .fill(&mut header, &mut filled, header_end, deadline)
            .await
        {
            Fill::Done => {}
            Fill::Eof | Fill::TimedOut => {
                return RequestRead::TruncatedHeader {
                    received_bytes: filled,
                }
            }
            Fill::Failed(error) => return RequestRead::Failed(error),
        }
        let body_size_bytes = declared_body_size_bytes(&header);
        let mut request = Vec::with_capacity(REQUEST_HEADER_SIZE_BYTES + body_size_bytes);
        request.extend_from_slice(&header);
        request.resize(REQUEST_HEADER_SIZE_BYTES + body_size_bytes, 0);
        let request_end = request.len();
        match self
            .fill(&mut request, &mut filled, request_end, deadline)
            .await
        {
            Fill::Done => {
                assert_eq!(filled, request.len());
                RequestRead::Complete(request)
            }
            Fill::Eof | Fill::TimedOut => {
                request.truncate(filled);
                RequestRead::ShortBody(request)
            }
            Fill::Failed(error) => RequestRead::Failed(error),
        }
    }

    /// Writes a whole reply within `deadline`.
    async fn write_reply(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout_at(deadline, write).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "reply write timed out",
            )),
        }
    }

    /// Waits for the peer of a parked connection to send or leave. Cancel-safe: a read that
    /// is dropped before it completes has taken nothing.
    async fn watch_peer(&mut self) -> PeerEvent {
        let room_bytes = PARKED_PENDING_BYTES_MAX.saturating_sub(self.pending.len());
        if room_bytes == 0 {
            // Full read-ahead: stop reading until the ping is answered.
            return std::future::pending().await;
        }
        // On the heap: a 4 KiB array held across the read would make every connection's
        // future (which holds this one's state) 4 KiB larger, and the runtime moves it.
        let mut chunk = vec![0u8; room_bytes.min(PARKED_READ_CHUNK_BYTES)];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => PeerEvent::Gone,
            Ok(read_bytes) => {
                self.pending.extend_from_slice(&chunk[..read_bytes]);
                assert!(self.pending.len() <= PARKED_PENDING_BYTES_MAX);
                PeerEvent::Data
            }
        }
    }
}

/// The body size a request header declares (bytes 22–23, big-endian).
fn declared_body_size_bytes(header: &[u8]) -> usize {
    let bytes = header
        .get(BODY_SIZE_OFFSET..BODY_SIZE_OFFSET + 2)
        .expect("a whole header was read");
    usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Whether an accept error concerns only the one connection being accepted.
fn accept_error_is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// Serves `listener` with a [`Front`] over `env` and no outside wake-up source (the
/// simulator's setup). Returns only when accepting keeps failing.
pub async fn serve<L: Listener>(listener: L, env: Arc<Env>) -> io::Result<()> {
    Front::new(env).serve(listener).await
}

impl Front {
    /// A front over `env`, with slots from its settings and no outside wake-up source.
    pub fn new(env: Arc<Env>) -> Front {
        let settings = env.settings();
        let connection_slots = Arc::new(Semaphore::new(settings.max_connections));
        let parked_slots = Arc::new(Semaphore::new(settings.max_parked_pings));
        Front {
            env,
            armer: None,
            connection_slots,
            parked_slots,
            peer_slots: PeerSlots::new(None),
            refusals: Arc::new(Refusals::new()),
        }
    }

    /// The same front, refusing a connection from a peer address that already holds
    /// `limit` (≥ 1) open connections.
    pub fn with_peer_connection_limit(self, limit: usize) -> Front {
        Front {
            peer_slots: PeerSlots::new(Some(limit)),
            ..self
        }
    }

    /// Connections `peer` holds now.
    pub fn peer_connection_count(&self, peer: IpAddr) -> usize {
        self.peer_slots.held_by(peer)
    }

    /// The same front, arming `armer` for every inbox a ping parks on.
    pub fn with_inbox_armer(self, armer: Arc<dyn InboxArmer>) -> Front {
        Front {
            armer: Some(armer),
            ..self
        }
    }

    /// The environment served.
    pub fn env(&self) -> &Arc<Env> {
        &self.env
    }

    /// Connections open now (accepted and not yet closed).
    pub fn open_connection_count(&self) -> usize {
        self.env.settings().max_connections - self.connection_slots.available_permits()
    }

    /// Pings parked now.
    pub fn parked_ping_count(&self) -> usize {
        self.env.settings().max_parked_pings - self.parked_slots.available_permits()
    }

    /// Accepts connections forever, each served in its own task. Per-connection accept
    /// errors are skipped; other accept errors are retried after a pause, and after
    /// [`ACCEPT_ERRORS_CONSECUTIVE_MAX`] in a row the last one is returned.
    pub async fn serve<L: Listener>(&self, listener: L) -> io::Result<()> {
        let local_addr = listener.local_addr()?;
        tracing::info!(raida = self.env.raida_id(), %local_addr, "serving");
        let mut errors_consecutive: u32 = 0;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    errors_consecutive = 0;
                    self.spawn_connection(stream, peer);
                }
                Err(error) if accept_error_is_per_connection(&error) => {
                    tracing::debug!(%error, "accept: connection lost before it was accepted");
                }
                Err(error) => {
                    errors_consecutive += 1;
                    tracing::warn!(%error, errors_consecutive, "accept failed");
                    if errors_consecutive >= ACCEPT_ERRORS_CONSECUTIVE_MAX {
                        return Err(error);
                    }
                    tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                }
            }
        }
    }

    /// Takes a connection slot for `stream` and serves it in a new task; beyond
    /// `max_connections` the stream is closed at once.
    pub fn spawn_connection<S>(&self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(peer_slot) = self.peer_slots.try_take(peer.ip()) else {
            let limit = self.peer_slots.limit().unwrap_or(usize::MAX);
            self.refused(
                &self.refusals.peer_connections,
                peer,
                "connection refused: this peer holds max-connections-per-peer",
                limit,
            );
            drop(stream);
            return;
        };
        let Ok(slot) = self.connection_slots.clone().try_acquire_owned() else {
            let limit = self.env.settings().max_connections;
            self.refused(
                &self.refusals.connections,
                peer,
                "connection refused: max_connections open",
                limit,
            );
            drop(stream);
            return;
        };
        let front = self.clone();
        let span = tracing::debug_span!("conn", raida = self.env.raida_id(), %peer);
        // Boxed: the connection's future holds every handler's state (about 6 KiB), and the
        // runtime moves a task's future by value when it spawns and when it finishes it;
        // a pointer is cheaper to move than the state (measured: 2.6% of a storm seed's CPU
        // went to those copies). Boxed before the span wraps it, so no wrapper moves it.
        let serve = Box::pin(async move {
            front.serve_connection(stream).await;
            drop::<OwnedSemaphorePermit>(slot);
            drop::<PeerSlot>(peer_slot);
        });
        tokio::spawn(serve.instrument(span));
    }

    /// Logs one refusal: WARN at most once per interval of `log`, with the count since.
    fn refused(&self, log: &RefusalLog, peer: SocketAddr, what: &'static str, limit: usize) {
        let raida = self.env.raida_id();
        match log.refused(Instant::now()) {
            Some(count) => tracing::warn!(
                raida,
                %peer,
                limit,
                refused_since_last_warning = count,
                "{what}"
            ),
            None => tracing::debug!(raida, %peer, limit, "{what}"),
        }
    }

    /// Serves requests on one connection until the peer closes it, it idles out, a read or
    /// write fails, or the handler asks to close. Takes no connection slot (see
    /// [`Front::spawn_connection`]).
    pub async fn serve_connection<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.env.settings();
        let idle = Duration::from_secs(settings.idle_timeout_s);
        let read_timeout = Duration::from_secs(settings.read_timeout_s);
        let mut conn = Conn {
            stream,
            pending: Vec::new(),
        };
        tracing::debug!("connection opened");
        loop {
            let (request, last) = match conn.read_request(idle, read_timeout).await {
                RequestRead::Complete(request) => (request, false),
                RequestRead::ShortBody(request) => {
                    tracing::debug!(received_bytes = request.len(), "body cut short");
                    (request, true)
                }
                RequestRead::Closed => {
                    tracing::debug!("connection closed by peer");
                    return;
                }
                RequestRead::Idle => {
                    tracing::debug!("connection idle, closing");
                    return;
                }
                RequestRead::TruncatedHeader { received_bytes } => {
                    tracing::debug!(received_bytes, "header cut short, closing without reply");
                    return;
                }
                RequestRead::Failed(error) => {
                    tracing::debug!(%error, "read failed, closing");
                    return;
                }
            };
            let next = self.answer(&mut conn, &request).await;
            if last || next == Next::Close {
                return;
            }
        }
    }

    /// Hands one request to the handler and carries out its outcome.
    async fn answer<S>(&self, conn: &mut Conn<S>, request: &[u8]) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match handler::handle_request(&self.env, request).await {
            Outcome::Reply(reply) => self.send(conn, reply).await,
            Outcome::Park(parked) => self.park(conn, parked).await,
            Outcome::Close => {
                tracing::debug!("handler closed the connection without a reply");
                Next::Close
            }
        }
    }

    /// Writes a reply, then runs its deferred delete if the write succeeded.
    async fn send<S>(&self, conn: &mut Conn<S>, reply: Reply) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let read_timeout = Duration::from_secs(self.env.settings().read_timeout_s);
        let Reply { bytes, deferred } = reply;
        match conn
            .write_reply(&bytes, Instant::now() + read_timeout)
            .await
        {
            Ok(()) => {
                tracing::debug!(reply_bytes = bytes.len(), "reply written");
                if let Some(deferred) = deferred {
                    handler::after_reply_written(&self.env, deferred).await;
                }
                Next::Continue
            }
            Err(error) => {
                // The deferred delete is dropped: the tells stay for the next poll.
                tracing::debug!(%error, "reply write failed, closing");
                Next::Close
            }
        }
    }

    /// Parks a ping until a tell arrives, the ping times out or the peer leaves.
    async fn park<S>(&self, conn: &mut Conn<S>, mut parked: ParkedPing) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Ok(_parked_slot) = self.parked_slots.clone().try_acquire_owned() else {
            let max_parked_pings = self.env.settings().max_parked_pings;
            let what = "too many parked pings: answering with the timeout reply";
            match self.refusals.parked_pings.refused(Instant::now()) {
                Some(count) => {
                    tracing::warn!(
                        max_parked_pings,
                        refused_since_last_warning = count,
                        "{what}"
                    )
                }
                None => tracing::debug!(max_parked_pings, "{what}"),
            }
            let reply = handler::ping_timeout_reply(&self.env, &parked);
            return self.send(conn, reply).await;
        };
        let mailbox = parked.mailbox;
        let deadline = Instant::now() + parked.timeout;
        // The handler subscribed before its scan, so this server's tells cannot slip past.
        // A tell renamed in by another process between that scan and the arming below is
        // only seen by a rescan, so with an armer the loop starts with one.
        let _armed = self.arm(mailbox);
        let mut rescan = self.armer.is_some();
        let mut watching_peer = true;
        tracing::debug!(?mailbox, timeout = ?parked.timeout, "ping parked");
        loop {
            if rescan {
                if let Some(reply) = handler::resume_ping(&self.env, &parked).await {
                    tracing::debug!(?mailbox, "parked ping answered with tells");
                    return self.send(conn, reply).await;
                }
            }
            let wake = tokio::select! {
                biased;
                () = parked.changed() => Wake::Changed,
                () = sleep_until(deadline) => Wake::Deadline,
                event = conn.watch_peer(), if watching_peer => Wake::Peer(event),
            };
            rescan = false;
            match wake {
                Wake::Changed => rescan = true,
                Wake::Deadline => {
                    tracing::debug!(?mailbox, "parked ping timed out");
                    let reply = handler::ping_timeout_reply(&self.env, &parked);
                    return self.send(conn, reply).await;
                }
                Wake::Peer(PeerEvent::Gone) => {
                    tracing::debug!(?mailbox, "peer left while its ping was parked");
                    return Next::Close;
                }
                Wake::Peer(PeerEvent::Data) => {
                    watching_peer = conn.pending.len() < PARKED_PENDING_BYTES_MAX;
                }
            }
        }
    }

    /// Arms the outside wake-up source for `mailbox`'s inbox, if there is one. A failure is
    /// logged and the ping parks anyway: tells published by this server still wake it.
    fn arm(&self, mailbox: Mailbox) -> ArmedInbox {
        let Some(armer) = &self.armer else {
            return ArmedInbox::none();
        };
        let inbox_dir = self.env.inbox().inbox_dir(mailbox);
        match armer.arm(mailbox, &inbox_dir) {
            Ok(armed) => armed,
            Err(error) => {
                tracing::warn!(
                    ?mailbox,
                    inbox_dir = %inbox_dir.display(),
                    %error,
                    "could not arm the inbox watch; only this server's tells will wake the ping"
                );
                ArmedInbox::none()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    use qmail_wire::body::{EchoBody, PingBody, TellBody};
    use qmail_wire::codec::Codec;
    use qmail_wire::crypto::{signature, Challenge};
    use qmail_wire::header::{Command, EncryptionType, ResponseHeader};
    use qmail_wire::limits::COIN_ID_CLOUDCOIN;
    use qmail_wire::packet::{encode_request, RequestMeta};
    use qmail_wire::preamble::Preamble;
    use qmail_wire::tell::{
        locker_from_ascii, AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader,
        ServerEntry, TellRecord, FILE_FLAG_BODY, FILE_TYPE_BODY,
    };
    use qmail_wire::Status;

    use crate::clock::{ManualClock, US_PER_S};
    use crate::coins::{locker_code_from_ascii, CoinTable, InboxFees, LockerLedger};
    use crate::env::EnvParts;
    use crate::fs::{NoopHook, RealFs};
    use crate::settings::Settings;

    const NOW_S: u32 = 1_700_000_000;
    const WAIT: Duration = Duration::from_secs(20);

    #[derive(Clone, Copy)]
    struct Coin {
        denomination: i8,
        serial_number: u32,
        an: [u8; 16],
    }

    const MAILBOX: Coin = Coin {
        denomination: 1,
        serial_number: 1000,
        an: [0x11; 16],
    };
    const SENDER: Coin = Coin {
        denomination: 1,
        serial_number: 1001,
        an: [0x22; 16],
    };

    fn tables() -> (CoinTable, LockerLedger, InboxFees) {
        let mut coins = CoinTable::new();
        for coin in [MAILBOX, SENDER] {
            coins.insert(coin.denomination, coin.serial_number, coin.an);
        }
        let mut lockers = LockerLedger::new();
        lockers.insert(locker_code_from_ascii("PAYME").expect("code"), 100);
        (coins, lockers, InboxFees::new())
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(u64::from(NOW_S) * US_PER_S))
    }

    fn real_env(root: &Path, settings: Settings) -> Arc<Env> {
        let (coins, lockers, inbox_fees) = tables();
        let env = Env::new(EnvParts {
            clock: clock(),
            fs: Arc::new(RealFs),
            hook: Arc::new(NoopHook),
            rng_seed: 3,
            root: root.to_path_buf(),
            raida_id: 0,
            process_id: 1,
            settings,
            coins,
            lockers,
            inbox_fees,
        })
        .expect("env");
        Arc::new(env)
    }

    fn request(command: Command, key: Coin, seed: u8, body: &[u8]) -> Vec<u8> {
        let meta = RequestMeta {
            raida_id: 0,
            command,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: key.denomination,
            key_serial_number: key.serial_number,
            nonce: [seed; 8],
        };
        encode_request(&meta, &key.an, body)
    }

    fn preamble(coin: Coin, seed: u8) -> Preamble {
        let challenge = Challenge::from_random([seed; 12]);
        Preamble::new(challenge, coin.denomination, coin.serial_number, coin.an)
    }

    fn echo(seed: u8) -> (Vec<u8>, Challenge) {
        let challenge = Challenge::from_random([seed; 12]);
        let body = EchoBody { challenge }.to_bytes();
        (request(Command::Echo, SENDER, seed, &body), challenge)
    }

    fn ping(seed: u8) -> Vec<u8> {
        let body = PingBody::new(preamble(MAILBOX, seed)).to_bytes();
        request(Command::Ping, MAILBOX, seed, &body)
    }

    fn tell(seed: u8, guid: [u8; 16]) -> Vec<u8> {
        let locker = locker_from_ascii("PAYME").expect("locker");
        let file_header = FileHeader {
            email_id: guid,
            sender_coin_id: COIN_ID_CLOUDCOIN,
            sender_denomination: SENDER.denomination,
            sender_serial_number: SENDER.serial_number,
            client_timestamp_s: NOW_S,
            locker_code: locker,
            total_file_size: 10,
            ..FileHeader::default()
        };
        let server = ServerEntry::new(0, 0, 0, SocketAddrV4::new([10, 0, 0, 1].into(), 7000));
        let manifest = ManifestEntry {
            file_type: FILE_TYPE_BODY,
            file_flags: FILE_FLAG_BODY,
            reserved: [0; 2],
            original_size: 10,
            crc32: 0,
        };
        let routing = RoutingHeader {
            email_id: guid,
            total_file_size: 10,
            client_timestamp_s: NOW_S,
            ..RoutingHeader::default()
        };
        let recipient = AddressEntry::new(
            RecipientKind::To,
            MAILBOX.denomination,
            MAILBOX.serial_number,
            locker,
        );
        let body = TellBody::new(
            preamble(SENDER, seed),
            routing,
            vec![recipient],
            TellRecord::new_v1(file_header, vec![server], vec![manifest]),
        );
        request(Command::Tell, SENDER, seed, &body.to_bytes())
    }

    /// Reads one reply: its header and body (bounded).
    async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> (ResponseHeader, Vec<u8>) {
        let read = async {
            let mut header = [0u8; REQUEST_HEADER_SIZE_BYTES];
            stream.read_exact(&mut header).await.expect("reply header");
            let header = ResponseHeader::from_bytes(&header).expect("valid header");
            let mut body = vec![0u8; header.body_size_bytes as usize];
            stream.read_exact(&mut body).await.expect("reply body");
            (header, body)
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a reply in time")
    }

    /// Whether the peer closed: a read returns EOF (or a reset) in time.
    async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(WAIT, stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// Polls `condition` every 10 ms until it holds (bounded).
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn start(settings: Settings) -> (Front, SocketAddr, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = real_env(dir.path(), settings);
        env.prepare().await.expect("prepare");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = Listener::local_addr(&listener).expect("addr");
        let front = Front::new(env);
        let serving = front.clone();
        tokio::spawn(async move { serving.serve(listener).await });
        (front, addr, dir)
    }

    async fn connect(addr: SocketAddr) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(addr).await.expect("connect")
    }

    #[test]
    fn body_size_is_read_big_endian_from_bytes_22_and_23() {
        let mut header = [0u8; REQUEST_HEADER_SIZE_BYTES];
        header[22] = 0x01;
        header[23] = 0x02;
        assert_eq!(declared_body_size_bytes(&header), 0x0102);
        header[22..24].copy_from_slice(&[0xFF, 0xFF]);
        assert_eq!(
            declared_body_size_bytes(&header),
            REQUEST_BODY_SIZE_BYTES_MAX
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed_at_once() {
        let settings = Settings {
            max_connections: 1,
            ..Settings::default()
        };
        let (front, addr, _dir) = start(settings).await;
        let mut first = connect(addr).await;
        let (request, challenge) = echo(1);
        first.write_all(&request).await.expect("send");
        let (header, _) = read_reply(&mut first).await;
        assert_eq!(header.status, Status::Success.code());
        assert_eq!(header.signature, signature(&challenge, &SENDER.an));
        assert_eq!(front.open_connection_count(), 1);

        let mut second = connect(addr).await;
        assert!(closed(&mut second).await, "refused beyond max_connections");

        drop(first);
        eventually("the slot to be freed", || {
            front.open_connection_count() == 0
        })
        .await;
        let mut third = connect(addr).await;
        third.write_all(&request).await.expect("send");
        assert_eq!(
            read_reply(&mut third).await.0.status,
            Status::Success.code()
        );
    }

    #[test]
    fn peer_slots_count_per_address_and_free_on_drop() {
        let one: IpAddr = "10.0.0.1".parse().expect("ip");
        let two: IpAddr = "10.0.0.2".parse().expect("ip");
        let slots = PeerSlots::new(Some(2));
        let a = slots.try_take(one).expect("first");
        let b = slots.try_take(one).expect("second");
        assert!(slots.try_take(one).is_none(), "third from the same peer");
        let c = slots.try_take(two).expect("another peer is served");
        assert_eq!((slots.held_by(one), slots.held_by(two)), (2, 1));
        drop(a);
        let d = slots.try_take(one).expect("a freed slot is reused");
        drop((b, c, d));
        assert_eq!((slots.held_by(one), slots.held_by(two)), (0, 0));
        assert!(
            slots.held.lock().expect("lock").is_empty(),
            "no empty entries kept"
        );
        let unlimited = PeerSlots::new(None);
        let held: Vec<PeerSlot> = (0..1000)
            .map(|_| unlimited.try_take(one).expect("no limit"))
            .collect();
        assert_eq!(unlimited.held_by(one), 1000);
        drop(held);
    }

    #[test]
    fn refusal_warnings_come_at_most_once_per_interval_with_the_count() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(log.refused(at(0)), Some(1), "the first refusal warns");
        assert_eq!(log.refused(at(1)), None);
        assert_eq!(log.refused(at(2)), None);
        assert_eq!(log.refused(at(9)), None);
        assert_eq!(
            log.refused(at(10)),
            Some(4),
            "the next warning counts all since"
        );
        assert_eq!(log.refused(at(30)), Some(1));
    }

    #[tokio::test]
    async fn one_peer_cannot_take_every_slot() {
        let (front, _unlimited_addr, _dir) = start(Settings::default()).await;
        let front = front.with_peer_connection_limit(2);
        // A second listener served by the limited front (the first one's front has none).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let limited_addr = Listener::local_addr(&listener).expect("addr");
        let serving = front.clone();
        tokio::spawn(async move { serving.serve(listener).await });
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let mut first = connect(limited_addr).await;
        let mut second = connect(limited_addr).await;
        eventually("two connections held", || {
            front.peer_connection_count(local) == 2
        })
        .await;
        let mut third = connect(limited_addr).await;
        assert!(
            closed(&mut third).await,
            "refused beyond the per-peer limit"
        );
        for stream in [&mut first, &mut second] {
            let (request, _) = echo(11);
            stream.write_all(&request).await.expect("send");
            assert_eq!(read_reply(stream).await.0.status, Status::Success.code());
        }
        // Another peer address (127.0.0.2 is loopback on Linux) is still served.
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        if let Ok(socket) = tokio::net::TcpSocket::new_v4() {
            if socket.bind(SocketAddr::new(other, 0)).is_ok() {
                let mut stream = socket.connect(limited_addr).await.expect("connect");
                let (request, _) = echo(12);
                stream.write_all(&request).await.expect("send");
                assert_eq!(
                    read_reply(&mut stream).await.0.status,
                    Status::Success.code()
                );
                assert_eq!(front.peer_connection_count(other), 1);
            }
        }
        drop((first, second));
        eventually("the peer's slots to be freed", || {
            front.peer_connection_count(local) == 0
        })
        .await;
        let mut again = connect(limited_addr).await;
        let (request, _) = echo(13);
        again.write_all(&request).await.expect("send");
        assert_eq!(
            read_reply(&mut again).await.0.status,
            Status::Success.code()
        );
    }

    #[tokio::test]
    async fn pings_beyond_the_parking_limit_get_the_timeout_reply_and_leaving_frees_a_slot() {
        let settings = Settings {
            max_parked_pings: 1,
            ping_timeout_s: 60,
            ..Settings::default()
        };
        let (front, addr, _dir) = start(settings).await;
        let mut parked = connect(addr).await;
        parked.write_all(&ping(1)).await.expect("send");
        eventually("the ping to park", || front.parked_ping_count() == 1).await;

        let mut second = connect(addr).await;
        second.write_all(&ping(2)).await.expect("send");
        let (header, body) = read_reply(&mut second).await;
        assert_eq!(
            header.status,
            Status::UdpFrameTimeout.code(),
            "answered at once"
        );
        assert!(body.is_empty());

        drop(parked);
        eventually("the parked slot to be freed", || {
            front.parked_ping_count() == 0
        })
        .await;
        eventually("the connection slot to be freed", || {
            front.open_connection_count() == 1
        })
        .await;
    }

    #[tokio::test]
    async fn a_request_pipelined_behind_a_parked_ping_is_served_after_it() {
        let settings = Settings {
            ping_timeout_s: 1,
            ..Settings::default()
        };
        let (_front, addr, _dir) = start(settings).await;
        let mut stream = connect(addr).await;
        let (echo_request, challenge) = echo(3);
        let mut both = ping(4);
        both.extend_from_slice(&echo_request);
        stream.write_all(&both).await.expect("send");
        let (header, _) = read_reply(&mut stream).await;
        assert_eq!(header.status, Status::UdpFrameTimeout.code());
        let (header, _) = read_reply(&mut stream).await;
        assert_eq!(header.status, Status::Success.code());
        assert_eq!(header.signature, signature(&challenge, &SENDER.an));
    }

    #[tokio::test]
    async fn a_short_body_is_answered_16_and_an_idle_connection_is_closed() {
        let settings = Settings {
            idle_timeout_s: 1,
            read_timeout_s: 1,
            ..Settings::default()
        };
        let (front, addr, _dir) = start(settings).await;
        // Declared body longer than sent; the peer stalls: read_timeout_s, then 16, closed.
        let mut stalled = connect(addr).await;
        let (mut request, _) = echo(5);
        request[22..24].copy_from_slice(&200u16.to_be_bytes());
        stalled.write_all(&request).await.expect("send");
        let (header, _) = read_reply(&mut stalled).await;
        assert_eq!(header.status, Status::InvalidPacketLength.code());
        assert!(closed(&mut stalled).await);

        let mut idle = connect(addr).await;
        let started = Instant::now();
        assert!(closed(&mut idle).await, "closed after idle_timeout_s");
        assert!(started.elapsed() >= Duration::from_millis(900));
        eventually("every slot to be freed", || {
            front.open_connection_count() == 0
        })
        .await;
    }

    /// The same front on turmoil's network and file system: echo, a parked ping woken by a
    /// tell from another host, a ping timing out, and a parked peer that leaves.
    #[cfg(feature = "sim")]
    #[test]
    fn the_front_serves_on_turmoil() {
        use std::time::UNIX_EPOCH;
        let mut sim = turmoil::Builder::new()
            .rng_seed(5)
            .epoch(UNIX_EPOCH + Duration::from_secs(u64::from(NOW_S)))
            .simulation_duration(Duration::from_secs(120))
            .build();
        let settings = Settings {
            ping_timeout_s: 5,
            ..Settings::default()
        };
        let env = Env::sim(
            clock(),
            Arc::new(NoopHook),
            std::path::PathBuf::from("/raida"),
            0,
            settings,
            tables(),
            9,
            0,
        )
        .expect("env");
        let front = Front::new(Arc::new(env));
        let host_front = front.clone();
        sim.host("raida", move || {
            let front = host_front.clone();
            async move {
                front.env().prepare().await.expect("prepare");
                let listener = turmoil::net::TcpListener::bind("0.0.0.0:7000").await?;
                front.serve(listener).await?;
                Ok(())
            }
        });
        sim.client("teller", async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut stream = turmoil::net::TcpStream::connect(("raida", 7000)).await?;
            stream.write_all(&tell(6, [0x66; 16])).await?;
            let (header, _) = read_reply(&mut stream).await;
            assert_eq!(header.status, Status::Success.code());
            Ok(())
        });
        let client_front = front.clone();
        sim.client("pinger", async move {
            let mut stream = turmoil::net::TcpStream::connect(("raida", 7000)).await?;
            let (request, _) = echo(7);
            stream.write_all(&request).await?;
            assert_eq!(
                read_reply(&mut stream).await.0.status,
                Status::Success.code()
            );

            // Parked until the teller's tell lands (1 s in), long before the 5 s timeout.
            let started = tokio::time::Instant::now();
            stream.write_all(&ping(8)).await?;
            let (header, body) = read_reply(&mut stream).await;
            assert_eq!(header.status, Status::Success.code());
            assert!(!body.is_empty(), "a tell list");
            assert!(started.elapsed() < Duration::from_secs(5));

            // Nothing left: the next ping times out with 17 after 5 s.
            let started = tokio::time::Instant::now();
            stream.write_all(&ping(9)).await?;
            let (header, body) = read_reply(&mut stream).await;
            assert_eq!(header.status, Status::UdpFrameTimeout.code());
            assert!(body.is_empty());
            assert!(started.elapsed() >= Duration::from_secs(5));

            // A peer that leaves while parked frees its slot.
            stream.write_all(&ping(10)).await?;
            let parked = client_front.clone();
            eventually("the ping to park", || parked.parked_ping_count() == 1).await;
            drop(stream);
            eventually("the slot to be freed", || parked.parked_ping_count() == 0).await;
            Ok(())
        });
        sim.run().expect("the simulation succeeds");
    }
}
