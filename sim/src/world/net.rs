//! The simulated network's names and addresses, and the client's connector onto it.
//!
//! turmoil names hosts by string and gives each an address from its own DNS. The world uses
//! `raida0`..`raida{n-1}` for the servers, `client0`.. for the client hosts (each runs many
//! mailboxes and devices as tasks) and `mallory` for the adversary. Every RAIDA listens on
//! [`RAIDA_PORT`]. The history names hosts with [`Host`] (`raida07`, `client01`,
//! `adversary`); [`turmoil_name`] maps one onto the other.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

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
    type Stream = turmoil::net::TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        Box::pin(turmoil::net::TcpStream::connect(addr))
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
