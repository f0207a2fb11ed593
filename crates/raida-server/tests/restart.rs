//! The real `raida` binary stopped and started again on the same data directory: what a
//! restart must keep (fees spent, the replay guard's record), what it must clean (temp files
//! a kill -9 left), and the start-up checks that refuse a data directory the server could not
//! use (a file, a read-only directory, a torn ledger) with a message naming the path.
//!
//! Each test runs its own daemons on port 0 with their own temp directories; every wait is
//! bounded, and a guard kills a daemon left running.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qmail_wire::body::{PeekBody, StorageDuration, TellBody, UploadBody};
use qmail_wire::codec::Codec;
use qmail_wire::crypto::Challenge;
use qmail_wire::header::{Command, EncryptionType, ResponseHeader};
use qmail_wire::limits::COIN_ID_CLOUDCOIN;
use qmail_wire::packet::{encode_request, RequestMeta};
use qmail_wire::preamble::Preamble;
use qmail_wire::tell::{
    locker_from_ascii, AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader,
    ServerEntry, TellRecord, FILE_FLAG_BODY, FILE_TYPE_BODY, STRIPE_TYPE_DATA,
};
use qmail_wire::Status;

/// Longest any single wait may take.
const WAIT: Duration = Duration::from_secs(20);

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

/// A locker holding exactly three upload fees.
const THREE: &str = "THREE";
/// A locker that pays every inbox fee (there are none) and tells' locker codes.
const PAYING: &str = "PAYME";

fn provision_text() -> String {
    let mut text = String::new();
    for coin in [SENDER, RECIPIENT] {
        let an: String = coin.an.iter().map(|byte| format!("{byte:02x}")).collect();
        text.push_str(&format!(
            "[[coin]]\ndenomination = {}\nserial_number = {}\nan = \"{an}\"\n\n",
            coin.denomination, coin.serial_number
        ));
    }
    text.push_str(&format!(
        "[[locker]]\ncode = \"{THREE}\"\nbalance = 3\n\n[[locker]]\ncode = \"{PAYING}\"\nbalance = 100\n"
    ));
    text
}

/// A data directory and its provisioning file, kept across daemons.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("provision.toml"), provision_text()).expect("write");
        Site { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn provision(&self) -> PathBuf {
        self.dir.path().join("provision.toml")
    }

    fn serve_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["serve", "--id", "0", "--listen", "127.0.0.1:0"]
            .map(String::from)
            .to_vec();
        args.push("--data".into());
        args.push(self.data().display().to_string());
        args.push("--provision".into());
        args.push(self.provision().display().to_string());
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    }

    /// Starts a daemon and waits for its listening line.
    fn start(&self, extra: &[&str]) -> Daemon {
        let mut child = raida()
            .args(self.serve_args(extra))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn raida");
        let stderr = collect(child.stderr.take().expect("stderr piped"));
        let lines = line_channel(child.stdout.take().expect("stdout piped"));
        let line = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "no listening line; stderr:\n{}",
                stderr.lock().expect("lock")
            )
        });
        let addr = line
            .strip_prefix("raida 0 listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .parse()
            .expect("an address");
        Daemon {
            child,
            addr,
            stderr,
        }
    }

    /// Runs a daemon that must fail at start; its output.
    fn start_failing(&self, extra: &[&str]) -> Output {
        let args = self.serve_args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_to_exit(&args)
    }

    fn inbox_dir(&self, coin: Coin) -> PathBuf {
        self.data()
            .join("mailboxes")
            .join(format!("{:02x}", coin.denomination as u8))
            .join(coin.serial_number.to_string())
            .join("inbox")
    }
}

/// A running daemon; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn exchange(&self, request: &[u8]) -> u8 {
        let mut stream = TcpStream::connect_timeout(&self.addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.write_all(request).expect("send");
        let mut header = [0u8; 32];
        stream.read_exact(&mut header).expect("a reply header");
        let header = ResponseHeader::from_bytes(&header).expect("a header");
        let mut body = vec![0u8; header.body_size_bytes as usize];
        stream.read_exact(&mut body).expect("the body");
        header.status
    }

    /// kill -9: no chance to flush or clean anything.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then wait for the exit (bounded).
    // Test harness: polls the real process for its exit with a wall-clock deadline.
    #[allow(clippy::disallowed_methods)]
    fn terminate(mut self) {
        let status = Process::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(status.success(), "SIGTERM exits 0, got {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until stderr holds `text` (bounded); the whole stderr.
    // Test harness: polls the collected stderr with a wall-clock deadline.
    #[allow(clippy::disallowed_methods)]
    fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.stderr.lock().expect("lock").clone();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < deadline, "{text:?} not logged:\n{log}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn raida() -> Process {
    let mut process = Process::new(env!("CARGO_BIN_EXE_raida"));
    process.env("RUST_LOG", "info");
    process
}

// Test harness: threads read the real daemon's output so waits can have deadlines.
#[allow(clippy::disallowed_methods)]
fn line_channel(stdout: impl Read + Send + 'static) -> Receiver<String> {
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

#[allow(clippy::disallowed_methods)]
fn collect(stderr: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let mut sink = sink.lock().expect("lock");
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    text
}

/// Runs `raida ARGS` to its exit (bounded).
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

fn preamble(coin: Coin, seed: u8) -> Preamble {
    Preamble::new(
        challenge(seed),
        coin.denomination,
        coin.serial_number,
        coin.an,
    )
}

fn request(command: Command, key: Coin, seed: u8, body_plain: &[u8]) -> Vec<u8> {
    let meta = RequestMeta {
        raida_id: 0,
        command,
        encryption_type: EncryptionType::Aes128Ctr,
        key_denomination: key.denomination,
        key_serial_number: key.serial_number,
        nonce: [seed; 8],
    };
    encode_request(&meta, &key.an, body_plain)
}

fn locker(text: &str) -> [u8; 16] {
    locker_from_ascii(text).expect("ascii locker")
}

// The real daemon checks tell timestamps against the machine clock.
#[allow(clippy::disallowed_methods)]
fn now_s() -> u32 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    u32::try_from(elapsed.as_secs()).expect("fits u32")
}

fn upload(seed: u8, guid: [u8; 16], locker_code: &str) -> Vec<u8> {
    let body = UploadBody {
        preamble: preamble(SENDER, seed),
        guid,
        locker_code: locker(locker_code),
        file_type: FILE_TYPE_BODY,
        storage_duration: StorageDuration::Week,
        data: vec![seed; 100],
    };
    request(Command::Upload, SENDER, seed, &body.to_bytes())
}

fn tell(seed: u8, guid: [u8; 16], edit_sequence: u8) -> Vec<u8> {
    let timestamp_s = now_s();
    let file_header = FileHeader {
        email_id: guid,
        sender_coin_id: COIN_ID_CLOUDCOIN,
        sender_denomination: SENDER.denomination,
        sender_serial_number: SENDER.serial_number,
        client_timestamp_s: timestamp_s,
        locker_code: locker(PAYING),
        total_file_size: 1_000,
        edit_sequence,
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
    let routing = RoutingHeader {
        email_id: guid,
        total_file_size: 1_000,
        client_timestamp_s: timestamp_s,
        ..RoutingHeader::default()
    };
    let address = AddressEntry::new(
        RecipientKind::To,
        RECIPIENT.denomination,
        RECIPIENT.serial_number,
        locker(PAYING),
    );
    let body = TellBody::new(
        preamble(SENDER, seed),
        routing,
        vec![address],
        TellRecord::new_v1(file_header, vec![server], vec![manifest]),
    );
    request(Command::Tell, SENDER, seed, &body.to_bytes())
}

fn peek(seed: u8) -> Vec<u8> {
    let body = PeekBody {
        preamble: preamble(RECIPIENT, seed),
        since_timestamp_s: 0,
    };
    request(Command::Peek, RECIPIENT, seed, &body.to_bytes())
}

const OK: u8 = Status::Success.code();

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn fees_spent_before_sigterm_or_kill_9_stay_spent() {
    let site = Site::new();
    let daemon = site.start(&[]);
    assert_eq!(daemon.exchange(&upload(1, [1; 16], THREE)), OK);
    assert_eq!(daemon.exchange(&upload(2, [2; 16], THREE)), OK);
    daemon.terminate();

    let daemon = site.start(&[]);
    assert_eq!(
        daemon.exchange(&upload(3, [3; 16], THREE)),
        OK,
        "one fee left"
    );
    daemon.kill_9();

    let daemon = site.start(&[]);
    assert_eq!(
        daemon.exchange(&upload(4, [4; 16], THREE)),
        Status::PaymentRequired.code(),
        "the three fees stay spent across SIGTERM and kill -9"
    );
    assert_eq!(daemon.exchange(&upload(5, [5; 16], PAYING)), OK);
    daemon.wait_for_log("restored the ledger");
}

#[test]
fn a_torn_or_garbage_ledger_stops_the_start_naming_the_file() {
    let site = Site::new();
    let daemon = site.start(&[]);
    assert_eq!(daemon.exchange(&upload(1, [1; 16], THREE)), OK);
    assert_eq!(daemon.exchange(&upload(2, [2; 16], THREE)), OK);
    daemon.kill_9();
    let state = site.data().join("state");
    let (snapshot, journal) = (state.join("ledger.state"), state.join("ledger.journal"));
    assert!(!snapshot.exists(), "an upload appends to the journal only");
    let whole = std::fs::read(&journal).expect("the fee was journaled");
    let refused = |path: &PathBuf, bytes: &[u8], what: &str| {
        std::fs::write(path, bytes).expect("write");
        let output = site.start_failing(&[]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(what), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    refused(&snapshot, b"QLDG\x01\0\0\0\0\0", "torn");
    refused(&snapshot, b"not a ledger at all", "bad magic");
    std::fs::remove_file(&snapshot).expect("remove");
    refused(&journal, b"not a journal at all", "bad magic");
    // The first of the two appends damaged: not a torn tail, since the second follows it.
    let mut damaged = whole.clone();
    damaged[16] ^= 1;
    refused(&journal, &damaged, "damaged");
    std::fs::write(&journal, &whole).expect("restore");
    let daemon = site.start(&[]);
    assert_eq!(daemon.exchange(&upload(3, [3; 16], THREE)), OK, "one left");
    assert_eq!(
        daemon.exchange(&upload(4, [4; 16], THREE)),
        Status::PaymentRequired.code(),
        "none left"
    );
    assert!(snapshot.exists(), "the start compacted the journal");
}

#[test]
fn temp_files_a_killed_daemon_left_are_removed_at_start() {
    let site = Site::new();
    let daemon = site.start(&[]);
    assert_eq!(daemon.exchange(&upload(1, [1; 16], PAYING)), OK);
    assert_eq!(daemon.exchange(&tell(2, [2; 16], 0)), OK);
    daemon.kill_9();
    let inbox = site.inbox_dir(RECIPIENT);
    let stripes = site.data().join("stripes");
    let state = site.data().join("state");
    let real: Vec<(PathBuf, Vec<u8>)> = [&inbox, &stripes]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).expect("list"))
        .map(|entry| entry.expect("entry").path())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read");
            (path, bytes)
        })
        .collect();
    assert_eq!(real.len(), 2, "one tell, one stripe: {real:?}");
    let planted = [
        inbox.join(".tmp.4242.1.0.02020202020202020202020202020202.tell"),
        inbox.join(".tmp.4242.1.1.03030303030303030303030303030303.tell"),
        stripes.join(".tmp.4242.1.2.01010101010101010101010101010101.01.stripe"),
        state.join(".tmp.4242.1.3.ledger.state"),
    ];
    for path in &planted {
        std::fs::write(path, b"half written").expect("plant");
    }
    let foreign = inbox.join("notes.txt");
    std::fs::write(&foreign, b"not ours").expect("plant");

    let daemon = site.start(&[]);
    let log = daemon.wait_for_log(&format!("dir={}", inbox.display()));
    assert!(
        planted.iter().all(|path| !path.exists()),
        "temp files removed"
    );
    for (path, bytes) in &real {
        assert_eq!(
            &std::fs::read(path).expect("kept"),
            bytes,
            "{}",
            path.display()
        );
    }
    assert!(foreign.exists(), "only .tmp.* files are touched");
    let sweep_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("removed temp files left by an earlier run"))
        .collect();
    assert_eq!(sweep_lines.len(), 3, "one INFO line per directory:\n{log}");
    assert!(
        sweep_lines
            .iter()
            .any(|line| line.contains(&format!("dir={}", inbox.display()))
                && line.contains("removed=2")),
        "{log}"
    );
    assert!(
        sweep_lines.iter().all(|line| line.contains("INFO")),
        "{log}"
    );
    assert!(
        !log.contains("\u{1b}["),
        "no colour when stderr is not a terminal"
    );
    assert_eq!(daemon.exchange(&peek(3)), OK, "serves after the sweep");
}

#[test]
fn the_replay_guard_remembers_consumed_edits_across_a_restart() {
    let site = Site::new();
    let guard = ["--extension", "replay_guard", "--extension", "delivery_ack"];
    let daemon = site.start(&guard);
    assert_eq!(daemon.exchange(&tell(1, [7; 16], 1)), OK);
    assert_eq!(daemon.exchange(&peek(2)), OK, "edit 1 consumed");
    assert_eq!(
        daemon.exchange(&tell(3, [7; 16], 1)),
        Status::WrongRaida.code(),
        "a replay is refused"
    );
    daemon.kill_9();

    let daemon = site.start(&guard);
    assert_eq!(
        daemon.exchange(&tell(4, [7; 16], 1)),
        Status::WrongRaida.code(),
        "still refused after kill -9"
    );
    assert_eq!(
        daemon.exchange(&tell(5, [7; 16], 2)),
        OK,
        "a newer edit passes"
    );
}

#[test]
fn start_up_refuses_a_data_path_that_is_a_file_or_cannot_be_written() {
    let site = Site::new();
    std::fs::write(site.data(), b"a file").expect("file");
    let output = site.start_failing(&[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "data directory {} is a file",
            site.data().display()
        )),
        "{stderr}"
    );
    std::fs::remove_file(site.data()).expect("remove");

    // A first start lays the directories out; then one of them goes read-only.
    site.start(&[]).kill_9();
    for dir in [site.data().join("mailboxes"), site.data()] {
        set_mode(&dir, 0o555);
        // Root writes anyway: only assert where the permission bites.
        let bites = std::fs::write(dir.join("probe-by-test"), b"x").is_err();
        let _ = std::fs::remove_file(dir.join("probe-by-test"));
        if bites {
            let output = site.start_failing(&[]);
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains(&format!("directory {} is not writable", dir.display())),
                "{stderr}"
            );
        }
        set_mode(&dir, 0o755);
    }
    site.start(&[]).kill_9();
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[test]
fn an_id_outside_the_cluster_names_the_range() {
    let site = Site::new();
    let mut args = site.serve_args(&[]);
    args[2] = "25".to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_to_exit(&args);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--id"), "{stderr}");
    assert!(stderr.contains("0..=24"), "{stderr}");
}

#[test]
fn gen_provision_needs_no_locker_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("prov.toml");
    let output = run_to_exit(&[
        "gen-provision",
        "--mailboxes",
        "8",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("8 mailboxes, 16 lockers"), "{stdout}");
    let text = std::fs::read_to_string(&out).expect("written");
    assert_eq!(text.matches("[[locker]]").count(), 16);
    assert!(text.contains("LOCKER000015"));
}
