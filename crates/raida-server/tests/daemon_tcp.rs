//! The real `raida` binary over real TCP on loopback: every command end to end, a ping parked
//! and woken by a tell on another connection, a ping woken by a tell renamed into the inbox by
//! this test process (inotify), the ping timeout, malformed packets, the command line's errors
//! (exit status 2 for a bad flag value or an unknown extension) and generators, and a daemon
//! with extensions turned on.
//!
//! Each test starts its own daemon on port 0 (it prints the port it got) with its own data
//! directory; a guard kills it on drop. Every wait is bounded: socket reads have timeouts and
//! the daemon's stdout is read through a channel with a deadline.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command as Process, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qmail_wire::body::TellBody;
use qmail_wire::body::{DownloadBody, EchoBody, PeekBody, PingBody, StorageDuration, UploadBody};
use qmail_wire::codec::Codec;
use qmail_wire::crypto::{signature, Challenge, ResponseCounter};
use qmail_wire::header::{Command, EncryptionType, ResponseHeader};
use qmail_wire::limits::COIN_ID_CLOUDCOIN;
use qmail_wire::packet::{decrypt_response_body, encode_request, PayloadCipher, RequestMeta};
use qmail_wire::preamble::Preamble;
use qmail_wire::response::{DownloadPage, TellList};
use qmail_wire::tell::{
    locker_from_ascii, AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader,
    ServerEntry, TellRecord, FILE_FLAG_BODY, FILE_TYPE_BODY, STRIPE_TYPE_DATA,
};
use qmail_wire::Status;
use raida_server::provision::Provision;

/// Longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(20);

/// A provisioned coin as the test knows it.
#[derive(Clone, Copy, Debug)]
struct Coin {
    denomination: i8,
    serial_number: u32,
    an: [u8; 16],
}

const SENDER: Coin = Coin {
    denomination: 1,
    serial_number: 1000,
    an: [0xA0; 16],
};
const RECIPIENT: Coin = Coin {
    denomination: 1,
    serial_number: 1001,
    an: [0xB1; 16],
};
const WATCHED: Coin = Coin {
    denomination: -2,
    serial_number: 77,
    an: [0xC2; 16],
};
const UNKNOWN: Coin = Coin {
    denomination: 1,
    serial_number: 9999,
    an: [0xDD; 16],
};

const PAYING_LOCKER: &str = "PAYME";
const EMPTY_LOCKER: &str = "EMPTY";

fn provision_text() -> String {
    let mut text = String::new();
    for coin in [SENDER, RECIPIENT, WATCHED] {
        let an: String = coin.an.iter().map(|byte| format!("{byte:02x}")).collect();
        text.push_str(&format!(
            "[[coin]]\ndenomination = {}\nserial_number = {}\nan = \"{an}\"\n\n",
            coin.denomination, coin.serial_number
        ));
    }
    text.push_str(&format!(
        "[[locker]]\ncode = \"{PAYING_LOCKER}\"\nbalance = 100\n\n\
         [[locker]]\ncode = \"{EMPTY_LOCKER}\"\nbalance = 0\n"
    ));
    text
}

// ---------------------------------------------------------------------------------------------
// The daemon process
// ---------------------------------------------------------------------------------------------

/// A running `raida` child; killed when dropped.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn raida() -> Process {
    let mut process = Process::new(env!("CARGO_BIN_EXE_raida"));
    process.env("RUST_LOG", "warn");
    process
}

/// Forwards the child's stdout lines into a channel, so reads can have a deadline.
// Test harness: a thread reads the real daemon's stdout so a wait can have a deadline.
#[allow(clippy::disallowed_methods)]
fn line_channel(stdout: ChildStdout) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn next_line(lines: &Receiver<String>) -> String {
    lines
        .recv_timeout(WAIT)
        .expect("the daemon printed a line in time")
}

/// The address in `raida N listening on ADDR`.
fn listening_addr(line: &str, raida_id: u8) -> SocketAddr {
    let prefix = format!("raida {raida_id} listening on ");
    let addr = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    addr.parse().expect("an address")
}

/// Starts `raida serve --id 0` on a free loopback port with `extra` flags.
fn start_daemon(extra: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let provision = dir.path().join("provision.toml");
    std::fs::write(&provision, provision_text()).expect("write provisioning");
    let data = dir.path().join("data");
    let mut child = raida()
        .args(["serve", "--id", "0", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--provision")
        .arg(&provision)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn raida");
    let lines = line_channel(child.stdout.take().expect("stdout piped"));
    let addr = listening_addr(&next_line(&lines), 0);
    Daemon {
        child,
        lines,
        addr,
        dir,
    }
}

impl Daemon {
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        stream
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn inbox_dir(&self, coin: Coin) -> PathBuf {
        self.data_dir()
            .join("mailboxes")
            .join(format!("{:02x}", coin.denomination as u8))
            .join(coin.serial_number.to_string())
            .join("inbox")
    }

    fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "the daemon is still running"
        );
    }
}

/// Runs `raida` with `args` to its exit (bounded).
// Test harness: a thread waits for the real process so the wait can have a deadline.
#[allow(clippy::disallowed_methods)]
fn run_to_exit(args: &[&str]) -> Output {
    let child = raida()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn raida");
    let (sender, receiver) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(WAIT) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            // Bounded: kill the stray process by its id and fail.
            let _ = Process::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("raida {args:?} did not exit in time");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------------

fn challenge(seed: u8) -> Challenge {
    Challenge::from_random([seed; 12])
}

fn preamble(coin: Coin, challenge: Challenge) -> Preamble {
    Preamble::new(challenge, coin.denomination, coin.serial_number, coin.an)
}

fn meta(command: Command, key: Coin, nonce_seed: u8) -> RequestMeta {
    RequestMeta {
        raida_id: 0,
        command,
        encryption_type: EncryptionType::Aes128Ctr,
        key_denomination: key.denomination,
        key_serial_number: key.serial_number,
        nonce: [nonce_seed; 8],
    }
}

/// A request encrypted under `key`'s AN.
fn request(command: Command, key: Coin, nonce_seed: u8, body_plain: &[u8]) -> Vec<u8> {
    encode_request(&meta(command, key, nonce_seed), &key.an, body_plain)
}

fn locker(text: &str) -> [u8; 16] {
    locker_from_ascii(text).expect("ascii locker")
}

// The real daemon stamps tells with the machine clock; the test writes timestamps near it.
#[allow(clippy::disallowed_methods)]
fn now_s() -> u32 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    u32::try_from(elapsed.as_secs()).expect("fits u32")
}

fn echo_request(key: Coin, seed: u8) -> (Vec<u8>, Challenge) {
    let challenge = challenge(seed);
    let body = EchoBody { challenge }.to_bytes();
    (request(Command::Echo, key, seed, &body), challenge)
}

fn upload_body(coin: Coin, seed: u8, guid: [u8; 16], locker_code: &str, data: &[u8]) -> UploadBody {
    UploadBody {
        preamble: preamble(coin, challenge(seed)),
        guid,
        locker_code: locker(locker_code),
        file_type: FILE_TYPE_BODY,
        storage_duration: StorageDuration::Week,
        data: data.to_vec(),
    }
}

fn download_body(coin: Coin, seed: u8, guid: [u8; 16], page_number: u32) -> DownloadBody {
    DownloadBody {
        preamble: preamble(coin, challenge(seed)),
        guid,
        locker_code: locker(PAYING_LOCKER),
        file_type: FILE_TYPE_BODY,
        bytes_per_page: 0,
        page_number,
    }
}

/// The record a tell from `sender` about `guid` carries (and the beacon stores verbatim).
fn tell_record(sender: Coin, guid: [u8; 16], timestamp_s: u32) -> TellRecord {
    let file_header = FileHeader {
        email_id: guid,
        sender_coin_id: COIN_ID_CLOUDCOIN,
        sender_denomination: sender.denomination,
        sender_serial_number: sender.serial_number,
        client_timestamp_s: timestamp_s,
        locker_code: locker(PAYING_LOCKER),
        total_file_size: 1_000,
        ..FileHeader::default()
    };
    let server = ServerEntry::new(
        0,
        STRIPE_TYPE_DATA,
        0,
        SocketAddrV4::new([127, 0, 0, 1].into(), 18_000),
    );
    let manifest = ManifestEntry {
        file_type: FILE_TYPE_BODY,
        file_flags: FILE_FLAG_BODY,
        reserved: [0; 2],
        original_size: 1_000,
        crc32: 0,
    };
    TellRecord::new_v1(file_header, vec![server], vec![manifest])
}

fn tell_body(sender: Coin, recipient: Coin, seed: u8, guid: [u8; 16]) -> TellBody {
    let timestamp_s = now_s();
    let routing = RoutingHeader {
        email_id: guid,
        total_file_size: 1_000,
        client_timestamp_s: timestamp_s,
        ..RoutingHeader::default()
    };
    let address = AddressEntry::new(
        RecipientKind::To,
        recipient.denomination,
        recipient.serial_number,
        locker(PAYING_LOCKER),
    );
    TellBody::new(
        preamble(sender, challenge(seed)),
        routing,
        vec![address],
        tell_record(sender, guid, timestamp_s),
    )
}

fn ping_request(coin: Coin, seed: u8) -> (Vec<u8>, Challenge) {
    let challenge = challenge(seed);
    let body = PingBody::with_timestamp(preamble(coin, challenge), now_s()).to_bytes();
    (request(Command::Ping, coin, seed, &body), challenge)
}

fn peek_request(coin: Coin, seed: u8) -> (Vec<u8>, Challenge) {
    let challenge = challenge(seed);
    let body = PeekBody {
        preamble: preamble(coin, challenge),
        since_timestamp_s: 0,
    }
    .to_bytes();
    (request(Command::Peek, coin, seed, &body), challenge)
}

// ---------------------------------------------------------------------------------------------
// Exchanges
// ---------------------------------------------------------------------------------------------

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    header: ResponseHeader,
    body: Vec<u8>,
}

impl Response {
    fn status(&self) -> u8 {
        self.header.status
    }

    /// The decrypted payload under the default `restart` counter.
    fn payload(&self, key: Coin, nonce_seed: u8) -> Option<Vec<u8>> {
        let cipher = PayloadCipher {
            key: key.an,
            nonce: [nonce_seed; 8],
            start_block: ResponseCounter::Restart.start_block(0),
        };
        decrypt_response_body(&self.header, &self.body, &cipher).expect("decrypts")
    }

    fn assert_signed(&self, key: Coin, challenge: Challenge) {
        assert_eq!(self.header.signature, signature(&challenge, &key.an));
    }
}

fn read_response(stream: &mut TcpStream) -> Response {
    let mut header_bytes = [0u8; 32];
    stream
        .read_exact(&mut header_bytes)
        .expect("a response header");
    let header = ResponseHeader::from_bytes(&header_bytes).expect("a valid response header");
    let mut body = vec![0u8; header.body_size_bytes as usize];
    stream.read_exact(&mut body).expect("the response body");
    Response { header, body }
}

fn exchange(stream: &mut TcpStream, request: &[u8]) -> Response {
    stream.write_all(request).expect("send request");
    read_response(stream)
}

/// Asserts the peer closes the connection without sending anything more.
fn assert_closed_without_reply(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "no reply bytes, got {rest:?}"),
        Err(error) => assert_eq!(
            error.kind(),
            std::io::ErrorKind::ConnectionReset,
            "closed, not {error}"
        ),
    }
}

fn assert_echo_ok(daemon: &Daemon) {
    let mut stream = daemon.connect();
    let (echo, challenge) = echo_request(SENDER, 99);
    let response = exchange(&mut stream, &echo);
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(SENDER, challenge);
}

/// Every file below `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.insert(path, bytes);
            }
        }
    }
    files
}

fn tell_list(response: &Response, key: Coin, nonce_seed: u8) -> TellList {
    let payload = response
        .payload(key, nonce_seed)
        .expect("a tell-list payload");
    TellList::from_bytes(&payload).expect("a tell list")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_round_trips_through_the_daemon() {
    let daemon = start_daemon(&[]);
    let mut stream = daemon.connect();

    let (echo, echo_challenge) = echo_request(SENDER, 1);
    let response = exchange(&mut stream, &echo);
    assert_eq!(response.status(), Status::Success.code());
    assert_eq!(response.header.body_size_bytes, 0);
    response.assert_signed(SENDER, echo_challenge);

    // Upload a stripe, then download it back on the same connection.
    let stripe_guid = [0x51; 16];
    let data: Vec<u8> = (0..1_000u32).map(|i| (i % 251) as u8).collect();
    let upload = upload_body(SENDER, 2, stripe_guid, PAYING_LOCKER, &data);
    let response = exchange(
        &mut stream,
        &request(Command::Upload, SENDER, 2, &upload.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(SENDER, upload.preamble.challenge);
    let download = download_body(SENDER, 3, stripe_guid, 0);
    let response = exchange(
        &mut stream,
        &request(Command::Download, SENDER, 3, &download.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    let page = DownloadPage::from_bytes(&response.payload(SENDER, 3).expect("a page"))
        .expect("a download page");
    assert_eq!(page.data, data);
    assert!(page.is_last());

    // Empty peek, tell, peek returns the record verbatim.
    let (peek, _) = peek_request(RECIPIENT, 4);
    let response = exchange(&mut stream, &peek);
    assert_eq!(response.status(), Status::Success.code());
    assert_eq!(response.header.body_size_bytes, 10, "empty tell list");
    assert!(tell_list(&response, RECIPIENT, 4).records.is_empty());

    let tell = tell_body(SENDER, RECIPIENT, 5, [0x77; 16]);
    let response = exchange(
        &mut stream,
        &request(Command::Tell, SENDER, 5, &tell.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(SENDER, tell.preamble.challenge);

    let (peek, peek_challenge) = peek_request(RECIPIENT, 6);
    let response = exchange(&mut stream, &peek);
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(RECIPIENT, peek_challenge);
    let list = tell_list(&response, RECIPIENT, 6);
    assert_eq!(list.records, vec![tell.record.clone()]);

    // Deleted on read (before_reply): a ping now parks, so peek again instead.
    let (peek, _) = peek_request(RECIPIENT, 7);
    let response = exchange(&mut stream, &peek);
    assert!(tell_list(&response, RECIPIENT, 7).records.is_empty());

    // A tell already waiting answers a ping at once.
    let tell = tell_body(SENDER, RECIPIENT, 8, [0x78; 16]);
    let response = exchange(
        &mut stream,
        &request(Command::Tell, SENDER, 8, &tell.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    let (ping, ping_challenge) = ping_request(RECIPIENT, 9);
    let response = exchange(&mut stream, &ping);
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(RECIPIENT, ping_challenge);
    assert_eq!(
        tell_list(&response, RECIPIENT, 9).records,
        vec![tell.record]
    );
}

// Measures the real daemon's wall-clock wait.
#[allow(clippy::disallowed_methods)]
#[test]
fn a_parked_ping_is_woken_by_a_tell_on_another_connection() {
    let daemon = start_daemon(&["--ping-timeout-s", "60"]);
    let mut pinger = daemon.connect();
    let (ping, ping_challenge) = ping_request(RECIPIENT, 20);
    pinger.write_all(&ping).expect("send ping");

    // Parked: nothing arrives for a while.
    pinger
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("short timeout");
    let mut byte = [0u8; 1];
    let early = pinger.read(&mut byte);
    assert!(
        matches!(&early, Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the ping is parked, got {early:?}"
    );
    pinger.set_read_timeout(Some(WAIT)).expect("timeout");

    let mut teller = daemon.connect();
    let tell = tell_body(SENDER, RECIPIENT, 21, [0x21; 16]);
    let started = Instant::now();
    let response = exchange(
        &mut teller,
        &request(Command::Tell, SENDER, 21, &tell.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());

    let response = read_response(&mut pinger);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken, not timed out"
    );
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(RECIPIENT, ping_challenge);
    assert_eq!(
        tell_list(&response, RECIPIENT, 20).records,
        vec![tell.record]
    );

    // The connection keeps serving.
    let (echo, _) = echo_request(RECIPIENT, 22);
    assert_eq!(
        exchange(&mut pinger, &echo).status(),
        Status::Success.code()
    );
}

// Measures the real daemon's wall-clock timeout.
#[allow(clippy::disallowed_methods)]
#[test]
fn a_parked_ping_times_out_with_a_status_17_header() {
    let daemon = start_daemon(&["--ping-timeout-s", "1"]);
    let mut stream = daemon.connect();
    let (ping, ping_challenge) = ping_request(RECIPIENT, 30);
    let started = Instant::now();
    let response = exchange(&mut stream, &ping);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "waited {waited:?}");
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    assert_eq!(response.status(), Status::UdpFrameTimeout.code());
    assert_eq!(response.status(), 17);
    assert_eq!(response.header.body_size_bytes, 0, "header only");
    assert!(response.body.is_empty());
    response.assert_signed(RECIPIENT, ping_challenge);
    // Nothing else follows the header: the next bytes answer the next request.
    let (echo, echo_challenge) = echo_request(RECIPIENT, 31);
    let response = exchange(&mut stream, &echo);
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(RECIPIENT, echo_challenge);
}

// Waits on the real daemon in wall-clock time.
#[allow(clippy::disallowed_methods)]
#[cfg(target_os = "linux")]
#[test]
fn a_tell_renamed_into_the_inbox_by_another_process_wakes_a_parked_ping() {
    let daemon = start_daemon(&["--ping-timeout-s", "30"]);
    let mut stream = daemon.connect();
    let (ping, ping_challenge) = ping_request(WATCHED, 40);
    stream.write_all(&ping).expect("send ping");

    // The ping creates the inbox when it parks; give the front a moment to arm its watch.
    let inbox = daemon.inbox_dir(WATCHED);
    let deadline = Instant::now() + WAIT;
    while !inbox.is_dir() {
        assert!(
            Instant::now() < deadline,
            "the parked ping created its inbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));

    // Publish like a foreign writer: hidden temp file in the tell file format, then rename.
    let record = tell_record(SENDER, [0x40; 16], now_s());
    let guid_hex: String = [0x40u8; 16].iter().map(|b| format!("{b:02x}")).collect();
    let temp = inbox.join(".tmp.test.writer");
    let file = raida_server::store::tell_file::encode_tell_file(&record.to_bytes());
    std::fs::write(&temp, file).expect("write temp");
    let started = Instant::now();
    std::fs::rename(&temp, inbox.join(format!("00000000{guid_hex}.tell"))).expect("rename");

    let response = read_response(&mut stream);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by inotify, well before the 30 s timeout"
    );
    assert_eq!(response.status(), Status::Success.code());
    response.assert_signed(WATCHED, ping_challenge);
    assert_eq!(tell_list(&response, WATCHED, 40).records, vec![record]);
}

#[test]
fn malformed_packets_get_their_status_and_the_daemon_keeps_serving() {
    let mut daemon = start_daemon(&[]);
    // Some stored data to keep an eye on: a stripe and a waiting tell.
    let mut stream = daemon.connect();
    let upload = upload_body(SENDER, 50, [0x50; 16], PAYING_LOCKER, b"stored stripe");
    let response = exchange(
        &mut stream,
        &request(Command::Upload, SENDER, 50, &upload.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    let tell = tell_body(SENDER, RECIPIENT, 51, [0x51; 16]);
    let response = exchange(
        &mut stream,
        &request(Command::Tell, SENDER, 51, &tell.to_bytes()),
    );
    assert_eq!(response.status(), Status::Success.code());
    drop(stream);
    let before = snapshot(&daemon.data_dir());

    // A header cut short, then close: no reply, the connection is closed.
    let (echo, _) = echo_request(SENDER, 52);
    let mut stream = daemon.connect();
    stream.write_all(&echo[..10]).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    assert_closed_without_reply(&mut stream);
    assert_echo_ok(&daemon);

    // A body shorter than declared, then close: 16.
    let mut stream = daemon.connect();
    let mut short = echo.clone();
    short[22..24].copy_from_slice(&100u16.to_be_bytes());
    stream.write_all(&short).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let response = read_response(&mut stream);
    assert_eq!(response.status(), Status::InvalidPacketLength.code());
    assert_closed_without_reply(&mut stream);

    // A body_size one short of the body: the declared body ends in the wrong bytes: 33.
    let mut stream = daemon.connect();
    let mut long = echo.clone();
    let declared = u16::from_be_bytes([long[22], long[23]]) - 1;
    long[22..24].copy_from_slice(&declared.to_be_bytes());
    stream.write_all(&long).expect("send");
    let response = read_response(&mut stream);
    assert_eq!(response.status(), Status::InvalidEof.code());
    drop(stream);

    // Per-request statuses, all on one connection that keeps serving.
    let mut stream = daemon.connect();
    let mut cases: Vec<(&str, Vec<u8>, Status)> = Vec::new();
    let mut no_terminator = echo.clone();
    let len = no_terminator.len();
    no_terminator[len - 2..].copy_from_slice(&[0, 0]);
    cases.push(("missing terminator", no_terminator, Status::InvalidEof));
    let bad_crc = EchoBody {
        challenge: Challenge([7; 16]),
    };
    cases.push((
        "bad CRC",
        request(Command::Echo, SENDER, 53, &bad_crc.to_bytes()),
        Status::InvalidCrc,
    ));
    let (unknown_key, _) = echo_request(UNKNOWN, 54);
    cases.push(("unknown key coin", unknown_key, Status::InvalidEncryption));
    let mut wrong_an = preamble(RECIPIENT, challenge(55));
    wrong_an.an = [0x99; 16];
    let wrong_an_peek = PeekBody {
        preamble: wrong_an,
        since_timestamp_s: 0,
    };
    cases.push((
        "wrong AN",
        request(Command::Peek, RECIPIENT, 55, &wrong_an_peek.to_bytes()),
        Status::InvalidAn,
    ));
    let mut unknown_mailbox = preamble(UNKNOWN, challenge(56));
    unknown_mailbox.an = UNKNOWN.an;
    let unknown_peek = PeekBody {
        preamble: unknown_mailbox,
        since_timestamp_s: 0,
    };
    cases.push((
        "unknown mailbox coin",
        request(Command::Peek, RECIPIENT, 56, &unknown_peek.to_bytes()),
        Status::CoinNotFound,
    ));
    let mut bad_denomination = preamble(RECIPIENT, challenge(57));
    bad_denomination.denomination = 7;
    let bad_denomination_peek = PeekBody {
        preamble: bad_denomination,
        since_timestamp_s: 0,
    };
    cases.push((
        "denomination out of range",
        request(
            Command::Peek,
            RECIPIENT,
            57,
            &bad_denomination_peek.to_bytes(),
        ),
        Status::InvalidSnOrDenomination,
    ));
    let mut bad_duration = upload_body(SENDER, 58, [0x58; 16], PAYING_LOCKER, b"x").to_bytes();
    bad_duration[UploadBody::STORAGE_DURATION_OFFSET] = 9;
    cases.push((
        "storage duration out of range",
        request(Command::Upload, SENDER, 58, &bad_duration),
        Status::InvalidParameter,
    ));
    let unpaid = upload_body(SENDER, 59, [0x59; 16], EMPTY_LOCKER, b"x");
    cases.push((
        "empty locker",
        request(Command::Upload, SENDER, 59, &unpaid.to_bytes()),
        Status::PaymentRequired,
    ));
    let missing = download_body(SENDER, 60, [0x60; 16], 0);
    cases.push((
        "unknown file",
        request(Command::Download, SENDER, 60, &missing.to_bytes()),
        Status::FileNotExist,
    ));
    let past_end = download_body(SENDER, 61, [0x50; 16], 1);
    cases.push((
        "page past the end",
        request(Command::Download, SENDER, 61, &past_end.to_bytes()),
        Status::InvalidParameter,
    ));
    let mut short_peek_body = challenge(62).as_bytes().to_vec();
    short_peek_body.extend_from_slice(&[0u8; 4]);
    let short_peek = request(Command::Peek, RECIPIENT, 62, &short_peek_body);
    cases.push(("short peek body", short_peek, Status::InvalidPacketLength));
    let header_cases: [(&str, usize, u8, Status); 5] = [
        ("version", 0, 2, Status::InvalidRouting),
        ("split id", 1, 1, Status::InvalidSplitId),
        ("raida id", 2, 5, Status::InvalidRaidaId),
        ("coin id", 7, 7, Status::InvalidCoinId),
        ("command group", 4, 9, Status::InvalidCommandGroup),
    ];
    for (name, offset, value, status) in header_cases {
        let mut bytes = echo.clone();
        bytes[offset] = value;
        cases.push((name, bytes, status));
    }
    let mut bad_code = request(Command::Peek, RECIPIENT, 63, &[0u8; 52]);
    bad_code[5] = 99;
    cases.push(("command code", bad_code, Status::InvalidCommand));

    for (name, bytes, status) in cases {
        let response = exchange(&mut stream, &bytes);
        assert_eq!(response.status(), status.code(), "{name}");
    }
    assert_echo_ok(&daemon);
    daemon.assert_running();
    assert_eq!(
        snapshot(&daemon.data_dir()),
        before,
        "rejected requests left stored data untouched"
    );
}

#[test]
fn command_line_errors_name_what_is_wrong_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad-provision.toml");
    std::fs::write(
        &bad,
        "[[coin]]\ndenomination = 1\nserial_number = 1\nan = \"zz\"\n",
    )
    .expect("write");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let bad_path = bad.to_str().expect("utf-8 path");
    let output = run_to_exit(&[
        "serve",
        "--id",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--provision",
        bad_path,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("bad-provision.toml:4:6"), "{stderr}");
    assert!(stderr.contains("`coin.an`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let good = dir.path().join("provision.toml");
    std::fs::write(&good, provision_text()).expect("write");
    let good_path = good.to_str().expect("utf-8 path");
    let config = dir.path().join("settings.toml");
    std::fs::write(&config, "ping_timeout_s = 5\nping_timout_s = 6\n").expect("write");
    let config_path = config.to_str().expect("utf-8 path");
    let output = run_to_exit(&[
        "serve",
        "--id",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--provision",
        good_path,
        "--config",
        config_path,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("settings.toml:2"), "{stderr}");
    assert!(stderr.contains("ping_timout_s"), "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let output = run_to_exit(&[
        "serve",
        "--id",
        "0",
        "--listen",
        &taken_addr,
        "--data",
        data,
        "--provision",
        good_path,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&taken_addr), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run_to_exit(&[
        "serve",
        "--id",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--provision",
        good_path,
        "--max-tells-per-reply",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-tells-per-reply: 0 is out of range 1..=255"),
        "{stderr}"
    );

    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--id",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data,
            "--provision",
            good_path,
        ];
        args.extend_from_slice(extra);
        run_to_exit(&args)
    };
    let output = serve(&["--ping-timeout-status", "99"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--ping-timeout-status: 99 is not one of 17, 245"),
        "{stderr}"
    );

    let output = serve(&["--extension", "teleport"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("teleport"), "{stderr}");
    assert!(
        stderr.contains("replay_guard, delivery_ack, attachment_count"),
        "{stderr}"
    );

    let output = serve(&[
        "--extension",
        "attachment_count",
        "--extension",
        "attachment_count",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("extensions: "), "{stderr}");

    std::fs::write(&config, "\nping_timeout_status = 99\n").expect("write");
    let output = serve(&["--config", config_path]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("settings.toml:2:23: key `ping_timeout_status`: 99 is not one of 17, 245"),
        "{stderr}"
    );

    let help = run_to_exit(&["serve", "--help"]);
    let stdout = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for flag in [
        "--delete-on-read",
        "--ping-timeout-s",
        "--ping-timeout-status",
        "--tell-skew-s",
        "--max-tells-per-reply",
        "--max-reply-bytes",
        "--upload-fee",
        "--inbox-dir-fsync",
        "--response-counter",
        "--extension",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from\n{stdout}");
    }
}

/// A daemon started with an extension serves as usual.
#[test]
fn a_daemon_runs_with_the_extensions_named_on_its_command_line() {
    let mut daemon = start_daemon(&["--extension", "replay_guard", "--extension", "delivery_ack"]);
    assert_echo_ok(&daemon);
    daemon.assert_running();
}

/// A base port with `count` consecutive free ports right now.
fn free_port_run(count: u16) -> u16 {
    for _ in 0..50 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = probe.local_addr().expect("addr").port();
        drop(probe);
        if base.checked_add(count).is_none() {
            continue;
        }
        let all_free = (base..base + count)
            .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no run of {count} free ports");
}

#[test]
fn gen_provision_feeds_a_cluster_that_answers_on_every_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let provision_path = dir.path().join("cluster.toml");
    let provision_str = provision_path.to_str().expect("utf-8 path");
    let output = run_to_exit(&[
        "gen-provision",
        "--mailboxes",
        "4",
        "--lockers",
        "2",
        "--out",
        provision_str,
        "--seed",
        "11",
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&provision_path).expect("read");
    let provision = Provision::parse(&text, provision_str).expect("parses");
    assert_eq!(provision.coins.len(), 4);
    assert_eq!(provision.lockers.len(), 2);
    let again = dir.path().join("again.toml");
    let output = run_to_exit(&[
        "gen-provision",
        "--mailboxes",
        "4",
        "--lockers",
        "2",
        "--out",
        again.to_str().expect("utf-8"),
        "--seed",
        "11",
    ]);
    assert!(output.status.success());
    assert_eq!(
        std::fs::read_to_string(&again).expect("read"),
        text,
        "seeded"
    );

    let count: u8 = 3;
    let base_port = free_port_run(u16::from(count));
    let data = dir.path().join("cluster-data");
    let mut child = raida()
        .args(["cluster", "--count", &count.to_string(), "--base-port"])
        .arg(base_port.to_string())
        .arg("--data")
        .arg(&data)
        .arg("--provision")
        .arg(&provision_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cluster");
    let lines = line_channel(child.stdout.take().expect("stdout"));
    let guard = Daemon {
        child,
        lines,
        addr: SocketAddr::from(([127, 0, 0, 1], base_port)),
        dir,
    };
    let mut addrs = Vec::new();
    for raida_id in 0..count {
        let addr = listening_addr(&next_line(&guard.lines), raida_id);
        assert_eq!(addr.port(), base_port + u16::from(raida_id));
        addrs.push(addr);
    }
    assert_eq!(next_line(&guard.lines), "cluster ready");

    let coin = &provision.coins[0];
    for (raida_id, addr) in addrs.iter().enumerate() {
        let raida_id = u8::try_from(raida_id).expect("small");
        let (tables, _, _) = provision.for_raida(raida_id).expect("tables");
        let an = *tables
            .an(coin.denomination, coin.serial_number)
            .expect("provisioned");
        let key = Coin {
            denomination: coin.denomination,
            serial_number: coin.serial_number,
            an,
        };
        let challenge = challenge(raida_id);
        let body = EchoBody { challenge }.to_bytes();
        let echo_meta = RequestMeta {
            raida_id,
            ..meta(Command::Echo, key, raida_id)
        };
        let mut stream = TcpStream::connect_timeout(addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let response = exchange(&mut stream, &encode_request(&echo_meta, &an, &body));
        assert_eq!(
            response.status(),
            Status::Success.code(),
            "raida {raida_id}"
        );
        assert_eq!(response.header.raida_id, raida_id);
        response.assert_signed(key, challenge);
    }
    assert!(guard.data_dir_of_cluster(2).is_dir());
}

impl Daemon {
    fn data_dir_of_cluster(&self, raida_id: u8) -> PathBuf {
        self.dir
            .path()
            .join("cluster-data")
            .join(format!("raida{raida_id}"))
    }
}
