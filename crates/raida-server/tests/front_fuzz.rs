//! Arbitrary bytes thrown at the TCP front (in-process [`raida_server::front::serve`] on a
//! tokio listener over a real data directory): whatever arrives, the front answers or closes,
//! never hangs past its timeouts, never dies, and a good echo request afterwards still gets
//! 250.
//!
//! Three shapes of input: raw bytes; a valid echo with some bytes flipped; and a header with
//! random fields declaring a random body of random bytes (so the framing and the handler's
//! checks run, not just a short read). Each case half-closes its connection after sending, so
//! a short body or header ends by EOF instead of the read timeout.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use qmail_wire::body::EchoBody;
use qmail_wire::codec::Codec;
use qmail_wire::crypto::{signature, Challenge};
use qmail_wire::header::{Command, EncryptionType, ResponseHeader};
use qmail_wire::packet::{encode_request, RequestMeta};
use qmail_wire::Status;
use raida_server::clock::ManualClock;
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::env::{Env, EnvParts};
use raida_server::fs::{NoopHook, RealFs};
use raida_server::settings::Settings;

const KEY_DENOMINATION: i8 = 1;
const KEY_SERIAL_NUMBER: u32 = 4242;
const KEY_AN: [u8; 16] = [0x3C; 16];
const WAIT: Duration = Duration::from_secs(20);

fn env(root: std::path::PathBuf) -> Env {
    let mut coins = CoinTable::new();
    coins.insert(KEY_DENOMINATION, KEY_SERIAL_NUMBER, KEY_AN);
    let settings = Settings {
        read_timeout_s: 2,
        idle_timeout_s: 2,
        ping_timeout_s: 1,
        ..Settings::default()
    };
    Env::new(EnvParts {
        clock: Arc::new(ManualClock::new(1_700_000_000_000_000)),
        fs: Arc::new(RealFs),
        hook: Arc::new(NoopHook),
        rng_seed: 1,
        root,
        raida_id: 0,
        process_id: 1,
        settings,
        coins,
        lockers: LockerLedger::new(),
        inbox_fees: InboxFees::new(),
    })
    .expect("env")
}

fn echo_request(seed: u8) -> (Vec<u8>, Challenge) {
    let challenge = Challenge::from_random([seed; 12]);
    let meta = RequestMeta {
        raida_id: 0,
        command: Command::Echo,
        encryption_type: EncryptionType::Aes128Ctr,
        key_denomination: KEY_DENOMINATION,
        key_serial_number: KEY_SERIAL_NUMBER,
        nonce: [seed; 8],
    };
    let body = EchoBody { challenge }.to_bytes();
    (encode_request(&meta, &KEY_AN, &body), challenge)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.set_write_timeout(Some(WAIT)).expect("timeout");
    stream
}

/// Sends `bytes`, half-closes, and reads until the front closes (bounded by `WAIT`);
/// returns how many bytes the front answered with.
fn throw(addr: SocketAddr, bytes: &[u8]) -> Result<usize, TestCaseError> {
    let mut stream = connect(addr);
    // The front may close early (and reset a write it did not read): not a failure.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => Ok(sink.len()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Ok(sink.len()),
        Err(error) => Err(TestCaseError::fail(format!(
            "the front neither answered nor closed: {error}"
        ))),
    }
}

fn assert_echo_ok(addr: SocketAddr) -> Result<(), TestCaseError> {
    let mut stream = connect(addr);
    let (echo, challenge) = echo_request(0x5A);
    stream
        .write_all(&echo)
        .map_err(|error| TestCaseError::fail(format!("send echo: {error}")))?;
    let mut header = [0u8; 32];
    stream
        .read_exact(&mut header)
        .map_err(|error| TestCaseError::fail(format!("read echo reply: {error}")))?;
    let header = ResponseHeader::from_bytes(&header)
        .map_err(|error| TestCaseError::fail(format!("reply header: {error}")))?;
    prop_assert_eq!(header.status, Status::Success.code());
    prop_assert_eq!(header.signature, signature(&challenge, &KEY_AN));
    Ok(())
}

/// A header with random fields that declares exactly the random body that follows.
fn framed_request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 32),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(mut header, body, plausible)| {
            if plausible {
                // Mostly-valid header: version 1, split 0, RAIDA 0, coin 00 06, group 6.
                header[..3].copy_from_slice(&[1, 0, 0]);
                header[4] = 6;
                header[6..8].copy_from_slice(&[0, 6]);
                header[16] = 1;
                header[17] = KEY_DENOMINATION as u8;
                header[18..22].copy_from_slice(&KEY_SERIAL_NUMBER.to_be_bytes());
            }
            let body_size = u16::try_from(body.len()).expect("small");
            header[22..24].copy_from_slice(&body_size.to_be_bytes());
            header.extend_from_slice(&body);
            header
        })
}

/// A valid echo with some bytes flipped, possibly followed by junk.
fn mutated_echo() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop::collection::vec((0usize..50, 1u8..=255), 1..4),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(seed, flips, junk)| {
            let (mut bytes, _) = echo_request(seed);
            for (index, mask) in flips {
                let index = index % bytes.len();
                bytes[index] ^= mask;
            }
            bytes.extend_from_slice(&junk);
            bytes
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        framed_request(),
        mutated_echo(),
    ]
}

#[test]
fn arbitrary_bytes_never_stop_the_front() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = Arc::new(env(dir.path().to_path_buf()));
    let listener = runtime.block_on(async {
        env.prepare().await.expect("prepare");
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
    });
    let addr = listener.local_addr().expect("addr");
    let server = runtime.spawn(raida_server::front::serve(listener, env.clone()));
    assert_echo_ok(addr).expect("echo works before the fuzzing");

    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let answered_count = std::cell::Cell::new(0u32);
    runner
        .run(&input(), |bytes| {
            if throw(addr, &bytes)? >= 32 {
                answered_count.set(answered_count.get() + 1);
            }
            assert_echo_ok(addr)
        })
        .expect("the front survives every input");
    assert!(!server.is_finished(), "the accept loop is still running");
    // Most inputs carry a whole header: the front answered them rather than just closing.
    assert!(
        answered_count.get() >= 8,
        "answered {}",
        answered_count.get()
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
}
