//! The soak's machinery, shared by `examples/soak.rs` and the quick test
//! `tests/soak.rs`: the 25 daemon processes and the kill schedule ([`Cluster`]), the client
//! workload, and the final check of everything acknowledged.
//!
//! Workload: each client is one provisioned mailbox (`gen-provision` serials 1000…, beacon
//! `serial mod 25`) running one task that loops until the deadline, each step drawn from its
//! seeded RNG: send an email (a random body, sometimes an attachment) to one other client
//! (45 %), peek its inbox (40 %), or download an email it received (15 %). The daemons run
//! with `--delete-on-read after_reply` (a reply lost to a kill delivers a tell twice instead
//! of losing it) and `--ping-timeout-s 1`; the clients allow one missing stripe per file
//! (`SendPolicy::AllowOneMissingPerFile`), so a send goes on while one RAIDA is down.
//!
//! Kill schedule (its own RNG from `--seed`): every `kill_interval_ms` on average, SIGKILL
//! one running RAIDA among the first `--raidas`, keep it down up to `down_ms_max`, restart it
//! on the same data directory and port. At most one is down at a time, so every file keeps
//! enough stripes to be rebuilt.
//!
//! What counts as acknowledged: a stripe upload answered 250, a tell answered 250 (one
//! recipient per email, so a 250 names its inbox). The check, with all 25 up again: every
//! mailbox is peeked until empty; an acknowledged tell neither received during the run nor
//! found now is lost; every email whose send returned is downloaded from its record, and a
//! file that does not rebuild byte for byte, or rebuilds around a stripe other than one whose
//! upload failed, has lost an acknowledged stripe.

#![allow(dead_code)] // The test uses less of this than the example.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use qmail_client::error::RaidaRef;
use qmail_client::stripe::StripeFault;
use qmail_client::{
    Client, ClientError, ClientObserver, ClientParts, Clock, Config, Directory, Email, Guid,
    Identity, MailboxId, Poll, Recipient, SendPolicy, TokioConnector,
};
use qmail_wire::codec::Codec;
use qmail_wire::header::Command;
use qmail_wire::tell::TellRecord;
use raida_server::daemon::{self, GenProvisionArgs};
use raida_server::provision::{CoinAns, Provision};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// First argument that makes the soak program run as `raida` itself.
pub const SERVE_MODE: &str = "__serve";

/// RAIDAs in a cluster.
const RAIDA_COUNT: usize = 25;

/// Longest a daemon may take to print its listening line, or to exit after SIGTERM.
const START_WAIT: Duration = Duration::from_secs(20);

/// Longest one client call may take before it counts as failed.
const CALL_WAIT: Duration = Duration::from_secs(30);

/// Serial number of the first client mailbox (`gen-provision`'s default).
const FIRST_SERIAL_NUMBER: u32 = 1000;

/// Most client mailboxes.
const CLIENTS_MAX: u32 = 200;

/// Attempts to start one daemon before the soak gives up.
const START_ATTEMPTS: u32 = 5;

/// The soak's command line.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "soak",
    about = "Soak 25 real raida daemons under kill -9 and check nothing acknowledged is lost"
)]
pub struct Options {
    /// RAIDAs the kill schedule may hit: ids 0..N (all 25 always run).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u8).range(1..=25))]
    pub raidas: u8,
    /// Client mailboxes, one task each (2..=200).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=200))]
    pub clients: u32,
    /// How long the workload and the kills run, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seed of the kill schedule and of every client's choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean pause between two kills, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub kill_interval_ms: u64,
    /// Longest a killed RAIDA stays down before it is restarted, in milliseconds.
    #[arg(long, default_value_t = 1_500)]
    pub down_ms_max: u64,
}

/// Runs the rest of the command line as `raida` (what `bin/raida.rs` does).
pub fn serve_mode(args: &[String]) -> ExitCode {
    let cli = match daemon::Cli::try_parse_from(
        std::iter::once("raida").chain(args.iter().map(String::as_str)),
    ) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    daemon::init_tracing();
    match daemon::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raida: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// How to start one `raida` process: a program and the arguments before `serve …`.
#[derive(Clone, Debug)]
pub struct Launcher {
    program: PathBuf,
    prefix: Vec<String>,
}

impl Launcher {
    /// This program in [`SERVE_MODE`].
    pub fn this_program() -> io::Result<Launcher> {
        Ok(Launcher {
            program: std::env::current_exe()?,
            prefix: vec![SERVE_MODE.to_string()],
        })
    }

    /// A `raida` binary.
    pub fn raida_binary(program: &Path) -> Launcher {
        Launcher {
            program: program.to_path_buf(),
            prefix: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster of processes
// ---------------------------------------------------------------------------------------------

/// One RAIDA's process slot.
#[derive(Debug)]
struct Raida {
    id: u8,
    addr: SocketAddrV4,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// The 25 daemons.
#[derive(Debug)]
struct Cluster {
    launcher: Launcher,
    provision: PathBuf,
    raidas: Vec<Mutex<Raida>>,
    kills: AtomicU64,
    restarts: AtomicU64,
}

impl Cluster {
    fn new(
        launcher: &Launcher,
        root: &Path,
        provision: PathBuf,
        seed: u64,
    ) -> Result<Cluster, String> {
        // Free ports now; each RAIDA keeps its port across restarts.
        let listeners = free_listeners(seed)?;
        let mut raidas = Vec::with_capacity(RAIDA_COUNT);
        for (index, listener) in listeners.iter().enumerate() {
            let SocketAddr::V4(addr) = listener.local_addr().map_err(|e| e.to_string())? else {
                return Err("loopback is IPv4".to_string());
            };
            let id = u8::try_from(index).expect("25 RAIDAs");
            raidas.push(Mutex::new(Raida {
                id,
                addr,
                data: root.join(format!("raida{id}")),
                log: root.join(format!("raida{id}.log")),
                child: None,
            }));
        }
        drop(listeners);
        Ok(Cluster {
            launcher: launcher.clone(),
            provision,
            raidas,
            kills: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        })
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.raidas
            .iter()
            .map(|raida| SocketAddr::V4(raida.lock().expect("raida lock").addr))
            .collect()
    }

    /// Starts RAIDA `index` (if it is not running) and waits for its listening line; a
    /// start that fails (its port briefly taken) is tried again a few times.
    // Harness: a short real-time pause between attempts.
    #[allow(clippy::disallowed_methods)]
    fn start(&self, index: usize) -> Result<(), String> {
        let mut raida = self.raidas[index].lock().expect("raida lock");
        if raida.child.is_some() {
            return Ok(());
        }
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match self.spawn(&raida) {
                Ok(child) => {
                    raida.child = Some(child);
                    return Ok(());
                }
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last_error)
    }

    /// One daemon process for `raida`, once it printed its listening line.
    fn spawn(&self, raida: &Raida) -> Result<Child, String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&raida.log)
            .map_err(|error| format!("{}: {error}", raida.log.display()))?;
        let mut child = Process::new(&self.launcher.program)
            .args(&self.launcher.prefix)
            .arg("serve")
            .args(["--id", &raida.id.to_string()])
            .args(["--listen", &raida.addr.to_string()])
            .arg("--data")
            .arg(&raida.data)
            .arg("--provision")
            .arg(&self.provision)
            .args(["--ping-timeout-s", "1", "--delete-on-read", "after_reply"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|error| format!("cannot start raida {}: {error}", raida.id))?;
        let stdout = child.stdout.take().expect("stdout piped");
        match first_line(stdout, START_WAIT) {
            Some(line) if line.starts_with(&format!("raida {} listening on", raida.id)) => {
                Ok(child)
            }
            other => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "raida {} did not start ({other:?}); see {}",
                    raida.id,
                    raida.log.display()
                ))
            }
        }
    }

    /// SIGKILL RAIDA `index` and reap it; false when it was not running.
    fn kill_9(&self, index: usize) -> bool {
        let mut raida = self.raidas[index].lock().expect("raida lock");
        let Some(mut child) = raida.child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        self.kills.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn restart(&self, index: usize) -> Result<(), String> {
        self.start(index)?;
        self.restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// SIGTERM every daemon and reap it (SIGKILL after [`START_WAIT`]).
    // Harness: polls real processes for their exit with a wall-clock deadline.
    #[allow(clippy::disallowed_methods)]
    fn stop_all(&self) {
        for raida in &self.raidas {
            let mut raida = raida.lock().expect("raida lock");
            let Some(mut child) = raida.child.take() else {
                continue;
            };
            let _ = Process::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + START_WAIT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for raida in &self.raidas {
            if let Ok(mut raida) = raida.lock() {
                if let Some(mut child) = raida.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }
}

/// 25 listeners on free loopback ports below the usual ephemeral range (32768…): a port
/// there is never handed to an outgoing connection, so a killed RAIDA's port is still free
/// when it restarts. The scan starts at a point drawn from `seed` and this process.
fn free_listeners(seed: u64) -> Result<Vec<TcpListener>, String> {
    const PORT_FIRST: u32 = PORT_RANGE.0;
    let span = PORT_RANGE.1 - PORT_RANGE.0;
    let start = (seed.wrapping_mul(7_919) ^ u64::from(std::process::id())) % u64::from(span);
    let start = u32::try_from(start).expect("below the span");
    let mut listeners = Vec::with_capacity(RAIDA_COUNT);
    for offset in 0..span {
        if listeners.len() == RAIDA_COUNT {
            break;
        }
        let port = PORT_FIRST + (start + offset) % span;
        let port = u16::try_from(port).expect("a port");
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    if listeners.len() < RAIDA_COUNT {
        return Err(format!(
            "fewer than {RAIDA_COUNT} free ports in {PORT_RANGE:?}"
        ));
    }
    Ok(listeners)
}

/// Ports the soak's RAIDAs listen on: below Linux's default ephemeral range.
const PORT_RANGE: (u32, u32) = (20_000, 32_000);

/// The first line `stdout` prints within `wait`; the reader keeps draining it after.
// Harness: a thread reads the real daemon's stdout so the wait can have a deadline.
#[allow(clippy::disallowed_methods)]
fn first_line(stdout: impl io::Read + Send + 'static, wait: Duration) -> Option<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = sender.send(line);
        }
        for _ in lines {}
    });
    receiver.recv_timeout(wait).ok()
}

/// The kill schedule, until `stop`: kill one running RAIDA among the first `victims`, keep it
/// down, restart it.
// Harness: a real-time schedule of real processes.
#[allow(clippy::disallowed_methods)]
fn kill_schedule(cluster: &Cluster, options: &Options, stop: &AtomicBool) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x6b69_6c6c);
    let victims = usize::from(options.raidas);
    let pause = |rng: &mut ChaCha8Rng, mean_ms: u64| {
        Duration::from_millis(rng.random_range(mean_ms / 2..=mean_ms.saturating_mul(3) / 2))
    };
    let sleep_unless_stopped = |duration: Duration| {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    loop {
        sleep_unless_stopped(pause(&mut rng, options.kill_interval_ms.max(2)));
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let index = rng.random_range(0..victims);
        cluster.kill_9(index);
        let down = Duration::from_millis(rng.random_range(0..=options.down_ms_max));
        sleep_unless_stopped(down);
        cluster.restart(index)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The clients
// ---------------------------------------------------------------------------------------------

/// The machine clock, for the clients (the daemons read their own).
#[derive(Debug)]
struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // Real clients beside real daemons.
    fn now_unix_s(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }
}

/// Counts every request the clients write, and how each ended.
#[derive(Debug, Default)]
struct RequestCounter {
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
}

impl ClientObserver for RequestCounter {
    fn request_sent(&self, _raida: RaidaRef, _command: Command, _attempt: u32) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn request_answered(&self, _raida: RaidaRef, _command: Command, _status_code: u8) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    fn request_failed(&self, _raida: RaidaRef, _command: Command, _error: &ClientError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One email whose send returned.
#[derive(Debug)]
struct SentEmail {
    files: Vec<(u8, Vec<u8>)>,
    record: Option<TellRecord>,
    /// (file_type, stripe index) whose upload failed: the only stripes allowed missing.
    stripes_failed: BTreeSet<(u8, usize)>,
    /// Recipients whose beacon answered 250.
    told: Vec<MailboxId>,
}

/// What the clients did and saw.
#[derive(Debug, Default)]
struct Book {
    sent: BTreeMap<Guid, SentEmail>,
    /// (recipient, email) → how often it was received.
    received: BTreeMap<(MailboxId, Guid), u64>,
    sends_failed: u64,
    stripes_acknowledged: u64,
    stripes_failed: u64,
    tells_failed: u64,
    polls: u64,
    polls_failed: u64,
    downloads_ok: u64,
    downloads_failed: u64,
    downloads_wrong: u64,
}

fn locker(index: u32) -> [u8; 16] {
    qmail_wire::tell::locker_from_ascii(&format!("LOCKER{index:06}")).expect("locker code")
}

fn mailbox(client: u32) -> MailboxId {
    MailboxId::new(1, FIRST_SERIAL_NUMBER + client)
}

fn soak_config() -> Config {
    Config {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ping_read_timeout: Duration::from_secs(10),
        retries_max: 3,
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(800),
        send_policy: SendPolicy::AllowOneMissingPerFile,
        ..Config::default()
    }
}

fn client(
    provision: &Provision,
    directory: &Arc<Directory>,
    index: u32,
    seed: u64,
    counter: &Arc<RequestCounter>,
) -> Result<Client<TokioConnector>, String> {
    let me = mailbox(index);
    let coin = provision
        .coins
        .iter()
        .find(|coin| coin.serial_number == me.serial_number)
        .ok_or_else(|| format!("mailbox {me} is not provisioned"))?;
    let ans = match &coin.ans {
        CoinAns::Same(an) => [*an; RAIDA_COUNT],
        CoinAns::PerRaida(ans) => **ans,
    };
    let identity = Identity::new(me, ans, locker(2 * index), locker(2 * index + 1))
        .map_err(|error| error.to_string())?;
    let mut parts = ClientParts::new(
        identity,
        directory.clone(),
        TokioConnector,
        Arc::new(SystemClock),
        ChaCha8Rng::seed_from_u64(seed),
    );
    parts.config = soak_config();
    parts.observer = counter.clone();
    Client::new(parts).map_err(|error| error.to_string())
}

async fn bounded<T>(
    future: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Option<T> {
    match tokio::time::timeout(CALL_WAIT, future).await {
        Ok(Ok(value)) => Some(value),
        _ => None,
    }
}

fn random_bytes(rng: &mut ChaCha8Rng, size_bytes: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size_bytes];
    rng.fill(&mut bytes[..]);
    bytes
}

/// One client's loop until `deadline`.
async fn client_loop(
    client: Client<TokioConnector>,
    me: u32,
    clients: u32,
    seed: u64,
    deadline: tokio::time::Instant,
    book: Arc<Mutex<Book>>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inbox: Vec<TellRecord> = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let roll = rng.random_range(0..100u32);
        if roll < 45 {
            let mut to = rng.random_range(0..clients - 1);
            if to >= me {
                to += 1;
            }
            send(&client, &mut rng, mailbox(to), &book).await;
        } else if roll < 85 {
            poll(&client, &mut inbox, &book).await;
        } else if let Some(record) = inbox.pop() {
            download(&client, &record, &book).await;
        }
        let pause_ms = rng.random_range(0..50);
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
}

async fn send(
    client: &Client<TokioConnector>,
    rng: &mut ChaCha8Rng,
    to: MailboxId,
    book: &Mutex<Book>,
) {
    let body_size = rng.random_range(100..20_000);
    let mut email = Email::new(client.random_guid(), random_bytes(rng, body_size));
    if rng.random_bool(0.3) {
        let size = rng.random_range(1..60_000);
        email.attachments.push(random_bytes(rng, size));
    }
    email.recipients = vec![Recipient::to(to)];
    let files: Vec<(u8, Vec<u8>)> = match email.files() {
        Ok(files) => files
            .into_iter()
            .map(|(file_type, bytes)| (file_type, bytes.to_vec()))
            .collect(),
        Err(_) => return,
    };
    let report = bounded(client.send_email(&email)).await;
    let mut book = book.lock().expect("book lock");
    let Some(report) = report else {
        book.sends_failed += 1;
        return;
    };
    let stripes_failed: BTreeSet<(u8, usize)> = report
        .stripes_failed
        .iter()
        .map(|failure| (failure.file_type, failure.stripe_index))
        .collect();
    book.stripes_acknowledged += report.stripes_uploaded as u64;
    book.stripes_failed += stripes_failed.len() as u64;
    let mut told = Vec::new();
    let mut record = None;
    for tell in &report.tells {
        if record.is_none() {
            record = TellRecord::from_bytes(&tell.record).ok();
        }
        if tell.result.is_ok() {
            told.extend(tell.recipients.iter().copied());
        } else {
            book.tells_failed += 1;
        }
    }
    book.sent.insert(
        email.guid,
        SentEmail {
            files,
            record,
            stripes_failed,
            told,
        },
    );
}

async fn poll(client: &Client<TokioConnector>, inbox: &mut Vec<TellRecord>, book: &Mutex<Book>) {
    let polled = bounded(client.peek(0)).await;
    let me = client.identity().mailbox;
    let mut book = book.lock().expect("book lock");
    book.polls += 1;
    match polled {
        Some(Poll::Tells(tells)) => {
            for tell in tells {
                let guid = tell.record.file_header.email_id;
                *book.received.entry((me, guid)).or_insert(0) += 1;
                inbox.push(tell.record);
            }
        }
        Some(Poll::Empty | Poll::TimedOut) => {}
        None => book.polls_failed += 1,
    }
}

async fn download(client: &Client<TokioConnector>, record: &TellRecord, book: &Mutex<Book>) {
    let files = bounded(client.download_email(record)).await;
    let guid = record.file_header.email_id;
    let mut book = book.lock().expect("book lock");
    let Some(files) = files else {
        book.downloads_failed += 1;
        return;
    };
    let right = book.sent.get(&guid).is_none_or(|sent| {
        sent.files.len() == files.len()
            && sent
                .files
                .iter()
                .zip(&files)
                .all(|((file_type, bytes), file)| {
                    *file_type == file.file_type && *bytes == file.bytes
                })
    });
    if right {
        book.downloads_ok += 1;
    } else {
        book.downloads_wrong += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// The run and the check
// ---------------------------------------------------------------------------------------------

/// What one soak did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The options, as text.
    pub options: String,
    /// Wall-clock seconds of the workload.
    pub seconds: u64,
    /// Requests the clients wrote, answered, failed (no usable reply).
    pub requests: (u64, u64, u64),
    /// Emails sent (send returned), sends failed.
    pub sends: (u64, u64),
    /// Stripe uploads acknowledged, failed.
    pub stripes: (u64, u64),
    /// Tells acknowledged, not acknowledged.
    pub tells: (u64, u64),
    /// Polls, polls failed; tells received, of which duplicates.
    pub polls: (u64, u64, u64, u64),
    /// Downloads during the run: ok, failed (a RAIDA down), wrong bytes.
    pub downloads: (u64, u64, u64),
    /// Kills and restarts.
    pub kills: u64,
    /// Restarts.
    pub restarts: u64,
    /// Acknowledged tells received during the run, found in inboxes at the end, lost.
    pub tells_checked: (u64, u64, u64),
    /// Emails checked at the end, intact, with a lost or corrupt acknowledged stripe.
    pub emails_checked: (u64, u64, u64),
}

impl Report {
    /// Everything acknowledged and lost, plus wrong bytes ever downloaded.
    pub fn losses(&self) -> u64 {
        self.tells_checked.2 + self.emails_checked.2 + self.downloads.2
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "soak {} ({} s of workload)", self.options, self.seconds)?;
        writeln!(
            f,
            "requests: {} written, {} answered, {} without a usable reply",
            self.requests.0, self.requests.1, self.requests.2
        )?;
        writeln!(
            f,
            "sends: {} returned, {} failed; stripes acknowledged {}, failed {}; tells \
             acknowledged {}, not acknowledged {}",
            self.sends.0, self.sends.1, self.stripes.0, self.stripes.1, self.tells.0, self.tells.1
        )?;
        writeln!(
            f,
            "polls: {} ({} failed), tells received {} ({} duplicates); downloads {} ok, {} \
             failed, {} wrong",
            self.polls.0,
            self.polls.1,
            self.polls.2,
            self.polls.3,
            self.downloads.0,
            self.downloads.1,
            self.downloads.2
        )?;
        writeln!(f, "kills: {}, restarts: {}", self.kills, self.restarts)?;
        writeln!(
            f,
            "check: acknowledged tells {} received during the run, {} still in inboxes, {} \
             lost; emails {} checked, {} intact, {} with a lost or corrupt acknowledged stripe",
            self.tells_checked.0,
            self.tells_checked.1,
            self.tells_checked.2,
            self.emails_checked.0,
            self.emails_checked.1,
            self.emails_checked.2
        )?;
        write!(f, "losses: {}", self.losses())
    }
}

/// Runs one soak; see the module docs.
// Harness: real processes, the machine clock, a kill thread.
#[allow(clippy::disallowed_methods)]
pub fn run(options: &Options, launcher: &Launcher) -> Result<Report, String> {
    if options.clients > CLIENTS_MAX {
        return Err(format!("at most {CLIENTS_MAX} clients"));
    }
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let provision_path = dir.path().join("provision.toml");
    let provision = daemon::generate_provision(&GenProvisionArgs {
        mailboxes: options.clients,
        lockers: None,
        out: provision_path.clone(),
        seed: options.seed,
        denomination: 1,
        first_serial_number: FIRST_SERIAL_NUMBER,
        locker_balance: 1_000_000_000,
    })
    .map_err(|error| error.to_string())?;
    std::fs::write(&provision_path, provision.to_toml()).map_err(|error| error.to_string())?;
    let cluster = Arc::new(Cluster::new(
        launcher,
        dir.path(),
        provision_path,
        options.seed,
    )?);
    for index in 0..RAIDA_COUNT {
        cluster.start(index)?;
    }
    let directory = Arc::new(Directory::new(cluster.addrs()).map_err(|error| error.to_string())?);
    let counter = Arc::new(RequestCounter::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let book = Arc::new(Mutex::new(Book::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let cluster = cluster.clone();
        let options = options.clone();
        let stop = stop.clone();
        std::thread::spawn(move || kill_schedule(&cluster, &options, &stop))
    };
    let started = Instant::now();
    let workload = runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(options.seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..options.clients {
            let seed = options
                .seed
                .wrapping_mul(1_000)
                .wrapping_add(u64::from(index));
            let client = client(&provision, &directory, index, seed, &counter)?;
            tasks.spawn(client_loop(
                client,
                index,
                options.clients,
                seed ^ 0x5eed,
                deadline,
                book.clone(),
            ));
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|error| format!("a client task failed: {error}"))?;
        }
        Ok::<(), String>(())
    });
    stop.store(true, Ordering::Relaxed);
    let killed = killer
        .join()
        .map_err(|_| "the kill schedule panicked".to_string())?;
    let seconds = started.elapsed().as_secs();
    workload?;
    killed?;
    for index in 0..RAIDA_COUNT {
        cluster.start(index)?;
    }
    let (tells_checked, emails_checked) =
        runtime.block_on(check(&provision, &directory, options, &counter, &book))?;
    cluster.stop_all();
    let book = book.lock().expect("book lock");
    let received: u64 = book.received.values().sum();
    let duplicates: u64 = book.received.values().map(|count| count - 1).sum();
    let tells_acknowledged: u64 = book.sent.values().map(|sent| sent.told.len() as u64).sum();
    if tells_checked.2 + emails_checked.2 + book.downloads_wrong > 0 {
        // Keep the daemons' data and logs for a look at what was lost.
        let kept = dir.keep();
        eprintln!("soak: data and logs kept in {}", kept.display());
    }
    Ok(Report {
        options: format!(
            "--raidas {} --clients {} --seconds {} --seed {}",
            options.raidas, options.clients, options.seconds, options.seed
        ),
        seconds,
        requests: (
            counter.sent.load(Ordering::Relaxed),
            counter.answered.load(Ordering::Relaxed),
            counter.failed.load(Ordering::Relaxed),
        ),
        sends: (book.sent.len() as u64, book.sends_failed),
        stripes: (book.stripes_acknowledged, book.stripes_failed),
        tells: (tells_acknowledged, book.tells_failed),
        polls: (book.polls, book.polls_failed, received, duplicates),
        downloads: (
            book.downloads_ok,
            book.downloads_failed,
            book.downloads_wrong,
        ),
        kills: cluster.kills.load(Ordering::Relaxed),
        restarts: cluster.restarts.load(Ordering::Relaxed),
        tells_checked,
        emails_checked,
    })
}

/// The final check, every RAIDA up: drain every inbox, then judge every acknowledged tell and
/// every sent email.
async fn check(
    provision: &Provision,
    directory: &Arc<Directory>,
    options: &Options,
    counter: &Arc<RequestCounter>,
    book: &Mutex<Book>,
) -> Result<((u64, u64, u64), (u64, u64, u64)), String> {
    let mut found: BTreeSet<(MailboxId, Guid)> = BTreeSet::new();
    let checker = client(provision, directory, 0, options.seed ^ 0xc4ec, counter)?;
    for index in 0..options.clients {
        let reader_seed = options.seed.wrapping_mul(7_919) ^ 0x00c0_ffee ^ u64::from(index);
        let reader = client(provision, directory, index, reader_seed, counter)?;
        let me = mailbox(index);
        let mut empty_polls = 0;
        while empty_polls < 2 {
            match bounded(reader.peek(0)).await {
                Some(Poll::Tells(tells)) => {
                    for tell in tells {
                        found.insert((me, tell.record.file_header.email_id));
                    }
                }
                Some(_) => empty_polls += 1,
                None => return Err(format!("cannot drain the inbox of {me} at the end")),
            }
        }
    }
    let tells_checked = judge_tells(&book.lock().expect("book lock"), &found);
    let emails = emails_to_check(&book.lock().expect("book lock"));
    let (mut checked, mut intact, mut broken) = (0, 0, 0);
    for EmailToCheck {
        guid,
        record,
        stripes_failed,
        files,
    } in emails
    {
        checked += 1;
        let Some(results) = bounded(checker.download_files(&record)).await else {
            broken += 1;
            eprintln!("soak: email {} cannot be downloaded at all", hex(&guid));
            continue;
        };
        let whole = results.len() == files.len()
            && results
                .iter()
                .zip(&files)
                .all(|(result, (file_type, bytes))| {
                    result.as_ref().is_ok_and(|file| {
                        let fault_allowed = match file.fault {
                            None => true,
                            Some(StripeFault::Missing { stripe_index }) => {
                                stripes_failed.contains(&(*file_type, stripe_index))
                            }
                            Some(StripeFault::Corrupt { .. }) => false,
                        };
                        file.file_type == *file_type && file.bytes == *bytes && fault_allowed
                    })
                });
        if whole {
            intact += 1;
        } else {
            broken += 1;
            eprintln!(
                "soak: email {} lost an acknowledged stripe: {results:?}",
                hex(&guid)
            );
        }
    }
    Ok((tells_checked, (checked, intact, broken)))
}

/// Every acknowledged tell: received during the run, found at the end, or lost.
fn judge_tells(book: &Book, found: &BTreeSet<(MailboxId, Guid)>) -> (u64, u64, u64) {
    let (mut during, mut at_end, mut lost) = (0, 0, 0);
    for (guid, sent) in &book.sent {
        for recipient in &sent.told {
            if book.received.contains_key(&(*recipient, *guid)) {
                during += 1;
            } else if found.contains(&(*recipient, *guid)) {
                at_end += 1;
            } else {
                lost += 1;
                eprintln!("soak: LOST acknowledged tell {} for {recipient}", hex(guid));
            }
        }
    }
    (during, at_end, lost)
}

/// One sent email as the final check needs it.
struct EmailToCheck {
    guid: Guid,
    record: TellRecord,
    stripes_failed: BTreeSet<(u8, usize)>,
    files: Vec<(u8, Vec<u8>)>,
}

fn emails_to_check(book: &Book) -> Vec<EmailToCheck> {
    book.sent
        .iter()
        .filter_map(|(guid, sent)| {
            Some(EmailToCheck {
                guid: *guid,
                record: sent.record.clone()?,
                stripes_failed: sent.stripes_failed.clone(),
                files: sent.files.clone(),
            })
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
