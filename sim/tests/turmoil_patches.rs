//! Regression tests for the patches carried on turmoil 0.7.2 (`third_party/turmoil`,
//! listed in its `PATCHES.md`). Each fails on the unpatched crate.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

const PORT: u16 = 9_000;

/// Patch 1: `Sim::crash` is a power loss. A peer holding a connection to the crashed host
/// hears nothing (upstream, the dropped socket sent a FIN and the peer read EOF at once);
/// it finds out by its own timeout, or by the RST a later segment draws from the rebooted
/// host.
#[test]
fn a_crashed_host_sends_no_fin() {
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                // Hold the connection open: read until the peer goes away.
                while stream.read(&mut byte).await.unwrap_or(0) > 0 {}
            });
        }
    });
    sim.client("client", async {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        stream.write_all(b"x").await?;
        // The harness crashes the server at 1 s and reboots it at 3 s; nothing may arrive.
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        assert!(read.is_err(), "the crashed server sent something: {read:?}");
        // A segment sent to the rebooted host, which knows no such connection, draws an RST.
        stream.write_all(b"y").await?;
        let after = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        assert!(
            matches!(after, Ok(Err(_))),
            "a write to the crashed host is reset: {after:?}"
        );
        Ok(())
    });
    let mut crashed = false;
    let mut rebooted = false;
    while !sim.step().expect("the simulation runs") {
        if !crashed && sim.elapsed() >= Duration::from_secs(1) {
            sim.crash("server");
            crashed = true;
        }
        if !rebooted && sim.elapsed() >= Duration::from_secs(3) {
            sim.bounce("server");
            rebooted = true;
        }
    }
    assert!(crashed && rebooted);
}
