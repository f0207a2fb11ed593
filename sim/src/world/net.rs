//! The simulated network's names and addresses, and the client's connector onto it.
//!
//! turmoil names hosts by string and gives each an address from its own DNS. The world uses
//! `raida0`..`raida{n-1}` for the servers, `client0`.. for the client hosts (each runs many
//! mailboxes and devices as tasks) and `mallory` for the adversary. Every RAIDA listens on
//! [`RAIDA_PORT`]. The history names hosts with [`Host`] (`raida07`, `client01`,
//! `adversary`); [`turmoil_name`] maps one onto the other.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::history::Host;

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
            let inner = turmoil::net::TcpStream::connect(addr).await?;
            Ok(CountedStream { inner })
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

/// Zeroes this thread's wire-byte and connection counts (at the start of a run).
pub(crate) fn reset_wire_bytes() {
    WIRE_BYTES.with(|count| count.set(0));
    CONNECTIONS.with(|count| count.set(0));
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
/// of the simulated network has a client end, so the count is all bytes on the wire.
#[derive(Debug)]
pub struct CountedStream {
    inner: turmoil::net::TcpStream,
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
