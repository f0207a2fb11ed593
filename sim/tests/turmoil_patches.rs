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

/// Patch 2: pending operations indexed by path. Listings come back sorted (upstream: hash
/// order), and existence, rename resolution and reads answer as the scan did, on a
/// sequence that renames, removes and syncs across two directories.
#[test]
fn indexed_pending_operations_answer_as_the_scan_did() {
    use turmoil::fs::shim::std::fs;
    let mut sim = turmoil::Builder::new().rng_seed(3).build();
    sim.client("host", async {
        fs::create_dir("/a")?;
        fs::create_dir("/b")?;
        fs::sync_dir("/")?;
        for name in ["c", "a", "b", "e", "d"] {
            fs::write(format!("/a/{name}"), name.repeat(3))?;
        }
        // Creations durable, data still pending.
        fs::sync_dir("/a")?;
        fs::rename("/a/c", "/b/c")?;
        fs::rename("/b/c", "/b/z")?;
        fs::remove_file("/a/e")?;
        fs::rename("/a/d", "/a/e")?;
        let names = |dir: &str| -> std::io::Result<Vec<String>> {
            fs::read_dir(dir)?
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        };
        assert_eq!(
            names("/a")?,
            ["a", "b", "e"],
            "sorted, renames and removals applied"
        );
        assert_eq!(names("/b")?, ["z"]);
        assert_eq!(fs::read("/b/z")?, b"ccc", "contents follow two renames");
        assert_eq!(fs::read("/a/e")?, b"ddd");
        assert!(!fs::exists("/a/c") && !fs::exists("/b/c") && !fs::exists("/a/d"));
        Ok(())
    });
    sim.run().expect("the sequence runs");
}

/// Patch 3 (raida-testbed issue 10): a file removed and created again under the same name
/// before any sync shows only the new file's bytes; upstream overlaid the removed file's
/// pending writes ("new-old-old") and its synced bytes.
#[test]
fn a_recreated_file_shows_only_its_own_bytes() {
    use turmoil::fs::shim::std::fs;
    let mut sim = turmoil::Builder::new().rng_seed(3).build();
    sim.client("host", async {
        fs::create_dir("/d")?;
        fs::sync_dir("/")?;
        fs::write("/d/f", b"old-old-old")?;
        fs::remove_file("/d/f")?;
        fs::write("/d/f", b"new")?;
        assert_eq!(
            fs::read("/d/f")?,
            b"new",
            "pending old writes are not overlaid"
        );

        fs::write("/d/g", b"old-old-old")?;
        fs::File::open("/d/g")?.sync_all()?;
        fs::remove_file("/d/g")?;
        fs::write("/d/g", b"new")?;
        assert_eq!(fs::read("/d/g")?, b"new", "synced old bytes are not shown");
        fs::File::open("/d/g")?.sync_all()?;
        assert_eq!(
            fs::read("/d/g")?,
            b"new",
            "syncing the new file keeps only its bytes"
        );
        fs::sync_dir("/d")?;
        assert_eq!(
            fs::read("/d/g")?,
            b"new",
            "the removal reaching the disk keeps them"
        );
        Ok(())
    });
    sim.run().expect("the sequence runs");
}

/// Patch 4: `Sim::fs_writeback` makes operations older than the given age durable, in
/// order, without any sync; a crash after it keeps them and loses only younger ones.
#[test]
fn writeback_makes_old_operations_survive_a_crash() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use turmoil::fs::shim::std::fs;
    let boots = Arc::new(AtomicU32::new(0));
    let checked = Arc::new(AtomicU32::new(0));
    let mut sim = turmoil::Builder::new()
        .rng_seed(5)
        .simulation_duration(Duration::from_secs(30))
        .build();
    let (host_boots, host_checked) = (boots.clone(), checked.clone());
    sim.host("disk", move || {
        let (boots, checked) = (host_boots.clone(), host_checked.clone());
        async move {
            if boots.fetch_add(1, Ordering::SeqCst) == 0 {
                fs::create_dir("/inbox")?;
                fs::write("/inbox/.temp", b"tell")?;
                fs::rename("/inbox/.temp", "/inbox/1.tell")?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                fs::write("/inbox/2.tell", b"late")?;
            } else {
                assert_eq!(fs::read("/inbox/1.tell")?, b"tell", "written back");
                assert!(!fs::exists("/inbox/.temp"), "the rename was written back");
                assert!(!fs::exists("/inbox/2.tell"), "younger than the delay: lost");
                checked.fetch_add(1, Ordering::SeqCst);
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let mut flushed = 0;
    while sim.elapsed() < Duration::from_millis(2_500) {
        sim.step().expect("the simulation runs");
        flushed += sim.fs_writeback("disk", Duration::from_secs(1));
    }
    assert!(
        flushed >= 4,
        "mkdir, create, write and rename of the first tell: {flushed}"
    );
    sim.crash("disk");
    sim.bounce("disk");
    sim.step().expect("the rebooted host runs");
    assert_eq!(
        checked.load(Ordering::SeqCst),
        1,
        "the second boot checked the disk"
    );
}

/// Patch 5: a host's disk capacity can change mid-run, and a crash reports the writes it
/// tore. On a full disk a file's bytes can be rewritten in place, a write past the capacity
/// fails (ENOSPC), then succeeds once the capacity is lifted;
/// a synced file overwritten without a sync comes back after the crash with only the first
/// blocks of the new bytes, and `take_torn_writes` names it once.
#[test]
fn capacity_changes_and_torn_writes_are_reported() {
    use std::io::Write;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use turmoil::fs::shim::std::fs;
    let step = Arc::new(AtomicU32::new(0));
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(11)
        .simulation_duration(Duration::from_secs(30));
    builder.fs().block_size(4);
    let mut sim = builder.build();
    let host_step = step.clone();
    sim.host("disk", move || {
        let step = host_step.clone();
        async move {
            if step.load(Ordering::SeqCst) == 0 {
                fs::create_dir("/d")?;
                fs::sync_dir("/")?;
                let mut file = fs::File::create("/d/f")?;
                file.write_all(b"0000000000000000")?;
                file.sync_all()?;
                let mut other = fs::File::create("/d/g")?;
                other.write_all(b"0000000000000000")?;
                other.sync_all()?;
                fs::sync_dir("/d")?;
                step.store(1, Ordering::SeqCst);
                // Wait for the capacity to shrink, then write past it.
                while step.load(Ordering::SeqCst) == 1 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // The disk is exactly full (two 16-byte files, capacity 32): rewriting a
                // file's own bytes takes no space (patch 16 still measures the file here).
                let mut other = fs::OpenOptions::new().write(true).open("/d/g")?;
                other.write_all(b"2222222222222222")?;
                other.sync_all()?;
                assert!(fs::write("/d/big", [1u8; 64]).is_err(), "the disk is full");
                step.store(3, Ordering::SeqCst);
                while step.load(Ordering::SeqCst) == 3 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                fs::write("/d/big", [1u8; 64])?;
            }
            // Overwrite the synced file in place, never synced: a crash may tear it.
            let mut file = fs::OpenOptions::new().write(true).open("/d/f")?;
            file.write_all(b"1111111111111111")?;
            step.store(5, Ordering::SeqCst);
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let wait_for = |sim: &mut turmoil::Sim<'_>, value: u32| {
        while step.load(Ordering::SeqCst) != value {
            sim.step().expect("the simulation runs");
        }
    };
    wait_for(&mut sim, 1);
    sim.set_fs_capacity("disk", Some(32));
    step.store(2, Ordering::SeqCst);
    wait_for(&mut sim, 3);
    sim.set_fs_capacity("disk", None);
    step.store(4, Ordering::SeqCst);
    wait_for(&mut sim, 5);
    let mut torn_count = 0;
    // A crash tears the write at a random block count: crash until one is partial.
    for _ in 0..16 {
        sim.crash("disk");
        let torn = sim.take_torn_writes("disk");
        assert!(torn.len() <= 1, "{torn:?}");
        torn_count += torn.len();
        assert!(sim.take_torn_writes("disk").is_empty(), "taken once");
        if torn_count > 0 {
            break;
        }
        // Not torn this time (all or nothing of the write survived): rewrite and retry.
        sim.bounce("disk");
        step.store(4, Ordering::SeqCst);
        wait_for(&mut sim, 5);
    }
    assert_eq!(torn_count, 1, "a crash tore the unsynced overwrite");
}

/// Patch 6: a client does not reuse an ephemeral port whose connection the peer still
/// holds. The server keeps its first connection open for good (a half-open connection
/// whose FIN was lost looks the same to it) and closes the second. With two ephemeral
/// ports the third connect wraps around to the first port; upstream, the server's accept
/// then panicked ("… is already connected"), now the client takes the second port.
#[test]
fn a_port_the_peer_still_holds_is_not_reused() {
    let mut sim = few_ports_sim(7, 49_153);
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await?;
            if held.is_empty() {
                held.push(stream);
            } else {
                drop(stream);
            }
        }
    });
    sim.client("client", async {
        let mut ports = Vec::new();
        for _ in 0..3 {
            let stream = TcpStream::connect(("server", PORT)).await?;
            ports.push(stream.local_addr()?.port());
            drop(stream);
            // Let the FINs cross so a closed connection is gone on both sides.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(ports, [49_152, 49_153, 49_153]);
        Ok(())
    });
    sim.run().expect("the simulation runs");
}

/// Patch 7 (performance only: it changes no result, so this test passes on the unpatched
/// crate too; it pins what the fast paths must keep). Reads, lengths and timestamps of a
/// file no pending operation names come from the persisted state; once an operation names
/// it again the overlay applies.
#[test]
fn fast_paths_answer_as_the_full_resolution_does() {
    use turmoil::fs::shim::std::fs;
    let mut sim = turmoil::Builder::new().rng_seed(3).build();
    sim.client("host", async {
        fs::create_dir("/d")?;
        fs::sync_dir("/")?;
        fs::write("/d/f", b"0123456789")?;
        fs::File::open("/d/f")?.sync_all()?;
        fs::sync_dir("/d")?;
        let file = fs::File::open("/d/f")?;
        let meta = file.metadata()?;
        assert_eq!(meta.len(), 10);
        let mut tail = [0u8; 8];
        let read = std::os::unix::fs::FileExt::read_at(&file, &mut tail, 6)?;
        assert_eq!(
            &tail[..read],
            b"6789",
            "a read past the end stops at the end"
        );
        assert_eq!(
            std::os::unix::fs::FileExt::read_at(&file, &mut tail, 10)?,
            0
        );
        assert_eq!(fs::read("/d/f")?, b"0123456789");
        tokio::time::sleep(Duration::from_secs(1)).await;
        std::os::unix::fs::FileExt::write_at(
            &fs::OpenOptions::new().write(true).open("/d/f")?,
            b"ab",
            9,
        )?;
        assert_eq!(
            fs::read("/d/f")?,
            b"012345678ab",
            "a pending write overlays again"
        );
        assert!(fs::metadata("/d/f")?.modified()? > meta.modified()?);
        fs::rename("/d/f", "/d/g")?;
        assert_eq!(
            fs::read("/d/g")?,
            b"012345678ab",
            "and follows a pending rename"
        );
        assert!(fs::read("/d/f").is_err());
        Ok(())
    });
    sim.run().expect("the sequence runs");
}

/// Patch 7: a client's ephemeral port skips every port its own open connections use
/// (looked up in a count per port, no longer by scanning every socket) and comes back to a
/// port once its connection is gone on both sides.
#[test]
fn ephemeral_ports_skip_the_ports_in_use() {
    let mut sim = few_ports_sim(7, 49_154);
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
            });
        }
    });
    sim.client("client", async {
        let kept = TcpStream::connect(("server", PORT)).await?;
        let mut ports = vec![kept.local_addr()?.port()];
        for _ in 0..3 {
            let stream = TcpStream::connect(("server", PORT)).await?;
            ports.push(stream.local_addr()?.port());
            drop(stream);
            // Let the FINs cross so a closed connection is gone on both sides.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(ports, [49_152, 49_153, 49_154, 49_153]);
        drop(kept);
        Ok(())
    });
    sim.run().expect("the simulation runs");
}

/// Patch 8 (performance only, like patch 7: it passes on the unpatched crate too). A host
/// receives what its links carry in the order the links were made, whichever peer sent
/// first: the per-host link index must keep the order of the walk over every link it
/// replaced. The receiver is registered first, so its links are receiver–early then
/// receiver–late; the late peer sends first, within the same tick, and the fixed latency
/// makes both datagrams deliverable on the same step.
#[test]
fn a_host_receives_in_the_order_its_links_were_made() {
    use turmoil::net::UdpSocket;

    let mut sim = fixed_latency_sim(3, 10, 30);
    let received = udp_receiver(&mut sim);
    for (name, delay_ms) in [("early", 4), ("late", 0)] {
        sim.client(name, async move {
            let socket = UdpSocket::bind(("0.0.0.0", PORT)).await?;
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            socket.send_to(name.as_bytes(), ("receiver", PORT)).await?;
            // The run ends with its clients: stay until both datagrams have landed.
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        });
    }
    sim.run().expect("the simulation runs");
    let received = received.lock().unwrap().clone();
    assert_eq!(received, [b"early".to_vec(), b"late".to_vec()]);
}

/// Patch 11: a link hands over its due messages in one pass per step, keeping the rest in
/// order. Datagrams sent one per tick with a fixed latency are due a few at a time, and
/// those sent while the link is held wait behind the earlier ones until it is released:
/// each arrives once, in the order sent.
#[test]
fn a_link_delivers_in_the_order_sent_across_holds() {
    use turmoil::net::UdpSocket;

    const DATAGRAM_COUNT: u8 = 40;
    let mut sim = fixed_latency_sim(5, 1, 5);
    let received = udp_receiver(&mut sim);
    sim.client("sender", async move {
        let socket = UdpSocket::bind(("0.0.0.0", PORT)).await?;
        for index in 0..DATAGRAM_COUNT {
            socket.send_to(&[index], ("receiver", PORT)).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    });
    for _ in 0..10 {
        sim.step().expect("steps");
    }
    sim.hold("sender", "receiver");
    for _ in 0..15 {
        sim.step().expect("steps");
    }
    sim.release("sender", "receiver");
    while !sim.step().expect("steps") {}
    let received = received.lock().unwrap().clone();
    let sent: Vec<Vec<u8>> = (0..DATAGRAM_COUNT).map(|index| vec![index]).collect();
    assert_eq!(received, sent);
}

/// Patch 12: a connect that is refused (no listener) or dropped before its SYN is answered
/// (a timeout while the link is held) leaves no socket behind. Upstream each one stayed in
/// the client's table for good, holding its ephemeral port: with four ports, the fifth
/// failed connect panicked ("ports exhausted"), and the table kept every failed attempt.
#[test]
fn a_failed_connect_leaves_no_socket() {
    const ATTEMPT_COUNT: usize = 6;
    let mut sim = few_ports_sim(11, 49_155);
    sim.host("closed", || async {
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.write_all(b"hi").await?;
        }
    });
    sim.client("client", async {
        for _ in 0..ATTEMPT_COUNT {
            let refused = TcpStream::connect(("closed", PORT)).await;
            assert_eq!(
                refused.err().map(|error| error.kind()),
                Some(std::io::ErrorKind::ConnectionRefused)
            );
            assert_eq!(
                turmoil::established_tcp_stream_count(),
                0,
                "after a refusal"
            );
        }
        turmoil::hold("client", "server");
        for _ in 0..ATTEMPT_COUNT {
            let connect = TcpStream::connect(("server", PORT));
            let timed_out = tokio::time::timeout(Duration::from_secs(1), connect).await;
            assert!(timed_out.is_err(), "the held SYN is not answered");
            assert_eq!(
                turmoil::established_tcp_stream_count(),
                0,
                "after a timeout"
            );
        }
        turmoil::release("client", "server");
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        let mut greeting = [0_u8; 2];
        stream.read_exact(&mut greeting).await?;
        assert_eq!(&greeting, b"hi");
        assert_eq!(turmoil::established_tcp_stream_count(), 1);
        Ok(())
    });
    sim.run().expect("the simulation runs");
}

/// Patch 13 (performance only: it passes on the unpatched crate too). A stream's bytes
/// arrive in the order written, each exactly when its turn comes, when the network
/// reorders segments (latency 1-50 ms each) and the reader's channel fills (capacity 16): a
/// segment goes straight to the reader only when it is the next one and none is parked.
/// Sending it on while later ones stay parked strands them; sending any other straight on
/// reorders the bytes. Several seeds, so the last segments arrive reordered in some.
#[test]
fn a_stream_reads_in_order_what_the_network_reorders() {
    const SEGMENT_COUNT: u8 = 200;
    for seed in 0..8 {
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tcp_capacity(16)
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(50))
            .simulation_duration(Duration::from_secs(60))
            .build();
        sim.host("server", || async {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let (mut stream, _) = listener.accept().await?;
            for index in 0..SEGMENT_COUNT {
                stream.write_all(&[index]).await?;
            }
            std::future::pending::<()>().await;
            Ok(())
        });
        sim.client("client", async {
            let mut stream = TcpStream::connect(("server", PORT)).await?;
            // Read late at first, so the channel fills and segments park behind it.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut received = vec![0_u8; usize::from(SEGMENT_COUNT)];
            stream.read_exact(&mut received).await?;
            let sent: Vec<u8> = (0..SEGMENT_COUNT).collect();
            assert_eq!(received, sent);
            Ok(())
        });
        sim.run().expect("every byte arrives, in order");
    }
}

/// Patch 14: `fs::read` answers in one pass exactly as opening the file, taking its length
/// and reading it did: the same bytes and errors for a synced file, a synced symlink to it,
/// a synced directory, a missing path, a pending file, an empty one and a pending symlink,
/// and the same random I/O errors and corruptions (two runs of one seed, one reading each
/// way, see the same sequence). Skipping the injected-error draw, drawing it for an empty
/// file, reading a link instead of its target, or answering a synced symlink from the
/// persisted files fails it.
#[test]
fn a_whole_file_read_answers_as_open_and_read_did() {
    use std::os::unix::fs::FileExt;
    use turmoil::fs::shim::std::fs;

    fn reads(one_pass: bool) -> Vec<Result<Vec<u8>, std::io::ErrorKind>> {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = log.clone();
        let mut builder = turmoil::Builder::new();
        builder.rng_seed(21);
        builder
            .fs()
            .io_error_probability(0.2)
            .corruption_probability(0.3);
        let mut sim = builder.build();
        sim.client("host", async move {
            fs::create_dir("/d")?;
            fs::write("/d/synced", b"synced bytes")?;
            fs::File::open("/d/synced")?.sync_all()?;
            fs::symlink("/d/synced", "/d/link")?;
            fs::sync_dir("/")?;
            fs::sync_dir("/d")?;
            fs::write("/d/pending", b"pending bytes, longer")?;
            fs::write("/d/empty", b"")?;
            fs::symlink("/d/pending", "/d/pending-link")?;
            let paths = [
                "/d/synced",
                "/d/link",
                "/d",
                "/d/none",
                "/d/pending",
                "/d/empty",
                "/d/pending-link",
            ];
            for _ in 0..20 {
                for path in paths {
                    let read = if one_pass {
                        fs::read(path)
                    } else {
                        fs::File::open(path).and_then(|file| {
                            let len = usize::try_from(file.metadata()?.len()).unwrap();
                            let mut buf = vec![0_u8; len];
                            if len > 0 {
                                file.read_at(&mut buf, 0)?;
                            }
                            Ok(buf)
                        })
                    };
                    log.lock().unwrap().push(read.map_err(|error| error.kind()));
                }
            }
            Ok(())
        });
        sim.run().expect("the reads run");
        let reads = out.lock().unwrap().clone();
        reads
    }

    let one_pass = reads(true);
    assert_eq!(one_pass, reads(false));
    let clean = |bytes: &[u8]| one_pass.iter().any(|read| read.as_deref() == Ok(bytes));
    assert!(clean(b"synced bytes") && clean(b"pending bytes, longer") && clean(b""));
    assert!(one_pass.contains(&Err(std::io::ErrorKind::NotFound)));
    assert!(
        one_pass.contains(&Err(std::io::ErrorKind::Other)),
        "some I/O errors drawn"
    );
    let corrupted = one_pass.iter().filter(|read| {
        read.as_deref()
            .is_ok_and(|bytes| bytes.len() == 12 && bytes != b"synced bytes")
    });
    assert!(corrupted.count() > 0, "some reads corrupted");
}

/// Patch 15: `fs::metadata` of a file nothing pending names (and of nothing at all) answers
/// from the persisted state exactly as the general resolution does: for each path, every
/// field agrees with `symlink_metadata` of the path a symlink there leads to (that call takes
/// no shortcut), or both fail alike. Paths: synced files (one created with mode 0o600,
/// one with a synced hard link), a synced symlink, a synced directory, a missing
/// path, a pending file, a synced file with a pending write, a synced file renamed away and
/// one renamed onto, a synced file pending removal. Reading the link count or mode from
/// anything but the file, answering a directory as nothing, or a named path from the
/// persisted state fails it.
#[test]
fn metadata_answers_as_the_general_resolution_did() {
    use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
    use turmoil::fs::shim::std::fs;

    type Seen = Result<(u64, bool, bool, bool, u32, u64, i64, i64, i64), std::io::ErrorKind>;
    fn seen(found: std::io::Result<fs::Metadata>) -> Seen {
        found
            .map(|meta| {
                (
                    meta.len(),
                    meta.is_dir(),
                    meta.is_file(),
                    meta.is_symlink(),
                    meta.mode(),
                    meta.nlink(),
                    meta.mtime(),
                    meta.ctime(),
                    meta.ctime_nsec(),
                )
            })
            .map_err(|error| error.kind())
    }

    let mut sim = turmoil::Builder::new().rng_seed(15).build();
    sim.client("host", async {
        fs::create_dir("/d")?;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open("/d/moded")?;
        for name in [
            "synced", "moded", "linked", "written", "moved", "target", "doomed",
        ] {
            fs::write(format!("/d/{name}"), name.repeat(3))?;
            fs::File::open(format!("/d/{name}"))?.sync_all()?;
        }
        fs::hard_link("/d/linked", "/d/link2")?;
        fs::symlink("/d/synced", "/d/symlink")?;
        fs::sync_dir("/")?;
        fs::sync_dir("/d")?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        fs::write("/d/pending", b"pending bytes")?;
        let written = fs::OpenOptions::new().write(true).open("/d/written")?;
        written.write_at(b" and more", 21)?;
        fs::rename("/d/moved", "/d/target")?;
        fs::remove_file("/d/doomed")?;
        let paths = [
            ("/d/synced", "/d/synced"),
            ("/d/moded", "/d/moded"),
            ("/d/linked", "/d/linked"),
            ("/d/link2", "/d/link2"),
            ("/d/symlink", "/d/synced"),
            ("/d", "/d"),
            ("/d/none", "/d/none"),
            ("/d/pending", "/d/pending"),
            ("/d/written", "/d/written"),
            ("/d/moved", "/d/moved"),
            ("/d/target", "/d/target"),
            ("/d/doomed", "/d/doomed"),
        ];
        let mut kinds = Vec::new();
        for (path, resolved) in paths {
            let found = seen(fs::metadata(path));
            assert_eq!(found, seen(fs::symlink_metadata(resolved)), "{path}");
            kinds.push(found.map(|seen| (seen.1, seen.4 & 0o777, seen.5)));
        }
        use std::io::ErrorKind::NotFound;
        assert_eq!(kinds[1], Ok((false, 0o600, 1)), "the mode set and synced");
        assert_eq!(kinds[2], Ok((false, 0o644, 2)), "the synced hard link");
        assert!(kinds[5].is_ok_and(|kind| kind.0), "the directory");
        assert_eq!(kinds[6], Err(NotFound));
        assert_eq!(kinds[9], Err(NotFound), "renamed away");
        assert_eq!(kinds[11], Err(NotFound), "pending removal");
        Ok(())
    });
    sim.run().expect("the metadata checks pass");
}

/// A minute-long simulation whose hosts have only the ephemeral ports 49,152 to
/// `last_port`, so tests reach the end of the range in a few connections.
fn few_ports_sim(seed: u64, last_port: u16) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .ephemeral_ports(49_152..=last_port)
        .simulation_duration(Duration::from_secs(60))
        .build()
}

/// A simulation with one tick and one fixed message latency, in milliseconds.
fn fixed_latency_sim(seed: u64, tick_ms: u64, latency_ms: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(tick_ms))
        .min_message_latency(Duration::from_millis(latency_ms))
        .max_message_latency(Duration::from_millis(latency_ms))
        .simulation_duration(Duration::from_secs(5))
        .build()
}

/// Adds host `receiver`, which logs every UDP datagram it gets on [`PORT`], in order.
fn udp_receiver(sim: &mut turmoil::Sim<'_>) -> std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    sim.host("receiver", move || {
        let log = log.clone();
        async move {
            let socket = turmoil::net::UdpSocket::bind(("0.0.0.0", PORT)).await?;
            let mut buffer = [0u8; 16];
            loop {
                let (len, _) = socket.recv_from(&mut buffer).await?;
                log.lock().unwrap().push(buffer[..len].to_vec());
            }
        }
    });
    received
}

/// Patch 9: the file system's maps find a path however it is spelled. A file written as
/// `/d/./f` is the file `//d//f`, `/d//` lists it, `/d/.` is the directory, and renames and
/// syncs reach them. Each map hashes the canonical spelling: a spelling hashed as written
/// (or a fast path that let `/d/.` through as canonical) misses here.
#[test]
fn a_path_is_found_however_it_is_spelled() {
    use turmoil::fs::shim::std::fs;
    let mut sim = turmoil::Builder::new().rng_seed(3).build();
    sim.client("host", async {
        fs::create_dir("//d/")?;
        fs::sync_dir("/.")?;
        fs::write("/d/./f", b"abc")?;
        fs::File::open("//d//f")?.sync_all()?;
        fs::sync_dir("/d/")?;
        assert_eq!(fs::read("/d/f")?, b"abc");
        assert!(fs::exists("/./d/f"));
        fs::rename("/d//f", "/d/./g")?;
        assert!(!fs::exists("/d/f"));
        assert_eq!(fs::read("//d/g")?, b"abc");
        let names: Vec<String> = fs::read_dir("/d//")?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        assert_eq!(names, ["g"]);
        assert!(fs::metadata("/d/.")?.is_dir());
        Ok(())
    });
    sim.run().expect("the sequence runs");
}

/// Patch 9: a path key hashes one canonical byte string. Over paths spelled with repeated
/// and trailing separators, `.` and `..` segments and a leading `./` or `/`: the hash writes
/// exactly the canonical bytes, once, whether the fast path or the builder made them; those
/// bytes are the path's components joined by `/`; and equal paths hash alike (as a stored
/// key and as a lookup).
mod path_keys {
    use std::path::{Component, Path};

    use proptest::prelude::*;
    use turmoil::__path_key as hooks;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("a".to_owned()),
            Just("ab".to_owned()),
            Just("a.b".to_owned()),
            Just(".a".to_owned()),
            Just("a.".to_owned()),
            "[0-9a-f]{1,40}",
        ]
    }

    /// A path with any spelling: a start (none, `/`, `//`, `./`, `/./`), segments joined by
    /// one to three separators, and a trailing end (none, `/`, `//`, `/.`).
    fn any_path() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(""), Just("/"), Just("//"), Just("./"), Just("/./")],
            prop::collection::vec((segment(), 1usize..=3), 0..6),
            prop_oneof![Just(""), Just("/"), Just("//"), Just("/.")],
        )
            .prop_map(|(start, segments, end)| {
                let mut path = start.to_owned();
                for (i, (segment, separators)) in segments.iter().enumerate() {
                    if i > 0 {
                        path.push_str(&"/".repeat(*separators));
                    }
                    path.push_str(segment);
                }
                path.push_str(end);
                path
            })
    }

    /// Two spellings of one path: the same root, leading `./` and names, each spelled with
    /// its own separator runs, `.` segments between names and trailing separators.
    fn respelled_pair() -> impl Strategy<Value = (String, String)> {
        let names = prop::collection::vec(
            prop_oneof![
                Just("..".to_owned()),
                Just("a".to_owned()),
                Just("a.b".to_owned()),
                "[0-9a-f]{1,40}",
            ],
            0..6,
        );
        let spelling = (
            prop::collection::vec((1usize..=3, any::<bool>()), 6),
            0usize..=2,
        );
        (
            any::<bool>(),
            any::<bool>(),
            names,
            spelling.clone(),
            spelling,
        )
            .prop_map(|(rooted, dotted, names, first, second)| {
                let spell = |(joins, trailing): &(Vec<(usize, bool)>, usize)| {
                    let mut path = String::new();
                    if rooted {
                        path.push_str(&"/".repeat(joins[5].0));
                    }
                    if dotted {
                        path.push_str("./");
                    }
                    for (i, name) in names.iter().enumerate() {
                        if i > 0 {
                            let (separators, dot) = joins[i];
                            path.push_str(&"/".repeat(separators));
                            if dot {
                                path.push_str("./");
                            }
                        }
                        path.push_str(name);
                    }
                    if !names.is_empty() {
                        // (after nothing, a separator would make the path the root)
                        path.push_str(&"/".repeat(*trailing));
                    }
                    path
                };
                (spell(&first), spell(&second))
            })
    }

    fn bytes_of(path: Option<&Path>) -> Option<&[u8]> {
        path.map(|path| path.as_os_str().as_encoded_bytes())
    }

    /// The components, spelled back: the root as `/`, the rest joined by `/`.
    fn joined(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for component in path.components() {
            if !matches!(component, Component::RootDir) && !out.is_empty() && out != b"/" {
                out.push(b'/');
            }
            out.extend_from_slice(component.as_os_str().as_encoded_bytes());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn one_write_of_the_components_joined(path in any_path()) {
            let path = Path::new(&path);
            let canonical = hooks::canonical(path);
            prop_assert_eq!(&canonical, &joined(path));
            prop_assert_eq!(hooks::hashed_writes(path), vec![canonical.clone()]);
            // The fast path takes exactly the paths spelled canonically.
            prop_assert_eq!(
                hooks::is_canonical(path),
                path.as_os_str().as_encoded_bytes() == canonical.as_slice()
            );
            let respelled = Path::new(std::str::from_utf8(&canonical).unwrap());
            prop_assert!(hooks::is_canonical(respelled));
            prop_assert_eq!(respelled.components(), path.components());
            prop_assert_eq!(hooks::query_hash(path), hooks::key_hash(path));
        }

        #[test]
        fn paths_equal_exactly_when_their_canonical_bytes_are(
            a in any_path(),
            b in any_path(),
        ) {
            let (a, b) = (Path::new(&a), Path::new(&b));
            prop_assert_eq!(a == b, hooks::canonical(a) == hooks::canonical(b));
            if a == b {
                prop_assert_eq!(hooks::key_hash(a), hooks::key_hash(b));
                prop_assert_eq!(hooks::key_hash(a), hooks::query_hash(b));
            }
        }

        #[test]
        fn respelled_paths_hash_alike((a, b) in respelled_pair()) {
            let (a, b) = (Path::new(&a), Path::new(&b));
            prop_assert_eq!(a, b);
            prop_assert_eq!(hooks::key_hash(a), hooks::key_hash(b));
            prop_assert_eq!(hooks::query_hash(a), hooks::key_hash(b));
            // Patch 10: keys compare as paths however each is spelled.
            prop_assert!(hooks::keys_equal(a, b));
            prop_assert!(hooks::query_finds(a, b));
            prop_assert!(hooks::same_path(a, b));
            prop_assert_eq!(bytes_of(hooks::parent(a)), bytes_of(a.parent()));
        }

        /// Patch 10: stored keys, lookups and the file system's path comparison are equal
        /// exactly when the paths are (the byte comparison of two canonical spellings never
        /// says otherwise), and its parent is `Path::parent`, byte for byte.
        #[test]
        fn keys_and_parents_agree_with_path(a in any_path(), b in any_path()) {
            let (a, b) = (Path::new(&a), Path::new(&b));
            prop_assert_eq!(hooks::keys_equal(a, b), a == b);
            prop_assert_eq!(hooks::query_finds(a, b), a == b);
            prop_assert_eq!(hooks::same_path(a, b), a == b);
            prop_assert!(hooks::keys_equal(a, a));
            prop_assert_eq!(bytes_of(hooks::parent(a)), bytes_of(a.parent()));
        }
    }

    /// Spellings the generators reach only by chance, pinned.
    #[test]
    fn edge_spellings() {
        for (path, canonical) in [
            ("", ""),
            ("/", "/"),
            ("//", "/"),
            ("/.", "/"),
            (".", "."),
            ("./", "."),
            ("./.", "."),
            (".//a", "./a"),
            ("a/.", "a"),
            ("a/./", "a"),
            ("a/..", "a/.."),
            ("/..", "/.."),
            ("..", ".."),
            ("/a//b/./c/", "/a/b/c"),
            ("/a/.b/", "/a/.b"),
            ("/a/b.", "/a/b."),
        ] {
            let path = Path::new(path);
            assert_eq!(hooks::canonical(path), canonical.as_bytes(), "{path:?}");
            assert_eq!(
                hooks::hashed_writes(path),
                [canonical.as_bytes()],
                "{path:?}"
            );
            assert_eq!(
                hooks::key_hash(path),
                hooks::key_hash(Path::new(canonical)),
                "{path:?}"
            );
        }
    }

    /// Patch 10's parents at the edges: the root and the empty path have none; a single
    /// name's is the empty path; a leading `./` stays.
    #[test]
    fn edge_parents() {
        for (path, parent) in [
            ("", None),
            ("/", None),
            (".", Some("")),
            ("a", Some("")),
            ("..", Some("")),
            ("/a", Some("/")),
            ("/..", Some("/")),
            ("./a", Some(".")),
            ("a/b", Some("a")),
            ("/a/b/c", Some("/a/b")),
            ("/a//b/", Some("/a")),
        ] {
            let path = Path::new(path);
            assert_eq!(hooks::parent(path), parent.map(Path::new), "{path:?}");
            assert_eq!(hooks::parent(path), path.parent(), "{path:?}");
        }
    }
}
