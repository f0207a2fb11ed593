//! Moving one request and its reply over TCP, with every step bounded by a timeout.
//!
//! The client never opens sockets itself: a [`Connector`] does (the real network through
//! [`TokioConnector`], turmoil's through the simulator's own connector). One request is one
//! fresh connection: connect, write the whole request packet, read the 32-byte response
//! header, then exactly `body_size` more bytes, and close. turmoil's TCP never retransmits, so
//! a lost segment stalls a connection forever: every step has its own timeout, and the
//! retrying layer above ([`crate::client`]) starts over on a new connection.
//!
//! This layer looks at the status byte first (DECISIONS.md "Interop with the public RAIDA
//! server"): a reply whose status is not 250 is the answer as it stands, and its body, if a
//! server sent one, is not read (the connection closes after the reply anyway). For a 250 it
//! checks only framing (a body no larger than the command allows). Whether the reply answers
//! the request (RAIDA id, echo bytes, signature, payload) is judged by the client, which
//! knows the request ([`crate::client::judge_reply`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use qmail_wire::header::{Command, ResponseHeader};
use qmail_wire::limits::{
    HEADER_SIZE_BYTES, PAGE_HEADER_SIZE_BYTES, PAGE_SIZE_BYTES, TELL_LIST_SIZE_BYTES_MAX,
    TERMINATOR_SIZE_BYTES,
};
use qmail_wire::Codec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{ClientError, RaidaRef, ReplyFault, TransportPhase};

/// Opens TCP connections for the client.
pub trait Connector: Send + Sync + 'static {
    /// The connection type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a connection to `addr`.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>>;
}

/// The real network, through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioConnector;

impl Connector for TokioConnector {
    type Stream = tokio::net::TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }
}

/// The timeouts of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Bound on the connect.
    pub connect: Duration,
    /// Bound on writing the request.
    pub write: Duration,
    /// Bound on waiting for the response header (long for ping).
    pub read_header: Duration,
    /// Bound on reading the body once the header is in.
    pub read_body: Duration,
}

/// Largest body (payload + terminator) any valid reply to `command` has.
pub(crate) fn reply_body_size_max(command: Command) -> usize {
    match command {
        Command::Ping | Command::Peek => TELL_LIST_SIZE_BYTES_MAX + TERMINATOR_SIZE_BYTES,
        Command::Download => PAGE_HEADER_SIZE_BYTES + PAGE_SIZE_BYTES + TERMINATOR_SIZE_BYTES,
        // Status-only replies: no payload; anything more is refused unread.
        Command::Echo | Command::Upload | Command::Tell => 0,
    }
}

/// A reply as read off the connection: the header and, for a 250, the `body_size` bytes
/// after it (empty for any other status: its body is never read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawReply {
    pub header: ResponseHeader,
    pub body: Vec<u8>,
}

/// Runs `step` under `limit`, turning an I/O error or the timeout into a [`ClientError`].
async fn bounded<T>(
    raida: RaidaRef,
    command: Command,
    phase: TransportPhase,
    limit: Duration,
    step: impl Future<Output = io::Result<T>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(limit, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ClientError::Io {
            raida,
            command,
            phase,
            kind: error.kind(),
            message: error.to_string(),
        }),
        Err(_) => Err(ClientError::Timeout {
            raida,
            command,
            phase,
            timeout: limit,
        }),
    }
}

/// One attempt: fresh connection, write `request`, read the header and the body.
pub(crate) async fn round_trip<C: Connector>(
    connector: &C,
    raida: RaidaRef,
    command: Command,
    request: &[u8],
    timeouts: Timeouts,
) -> Result<RawReply, ClientError> {
    let mut stream = bounded(
        raida,
        command,
        TransportPhase::Connect,
        timeouts.connect,
        connector.connect(raida.addr),
    )
    .await?;
    bounded(
        raida,
        command,
        TransportPhase::Write,
        timeouts.write,
        async {
            stream.write_all(request).await?;
            stream.flush().await
        },
    )
    .await?;
    let mut header_bytes = [0u8; HEADER_SIZE_BYTES];
    bounded(
        raida,
        command,
        TransportPhase::ReadHeader,
        timeouts.read_header,
        stream.read_exact(&mut header_bytes),
    )
    .await?;
    let header = ResponseHeader::from_bytes(&header_bytes)
        .expect("32 bytes always decode as a response header");
    if !header.is_success() {
        // Status first: an error status is the whole answer.
        return Ok(RawReply {
            header,
            body: Vec::new(),
        });
    }
    let body_size_bytes = header.body_size_bytes as usize;
    let size_bytes_max = reply_body_size_max(command);
    if body_size_bytes > size_bytes_max {
        return Err(ClientError::BadReply {
            raida,
            command,
            fault: ReplyFault::BodyTooLarge {
                size_bytes: body_size_bytes,
                size_bytes_max,
            },
        });
    }
    let mut body = vec![0u8; body_size_bytes];
    if body_size_bytes > 0 {
        bounded(
            raida,
            command,
            TransportPhase::ReadBody,
            timeouts.read_body,
            stream.read_exact(&mut body),
        )
        .await?;
    }
    assert_eq!(body.len(), body_size_bytes);
    Ok(RawReply { header, body })
}
