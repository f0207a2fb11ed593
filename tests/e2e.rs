//! End to end on loopback: a 25-RAIDA cluster of real servers on real TCP and real disks, and
//! real clients, through the same entry points the `raida` and `qmail` programs run.
//!
//! # How the programs are started
//!
//! Cargo builds a dependency's binaries only for that package's own tests, so this root
//! package cannot rely on `target/<profile>/raida` or `qmail` existing, or being current,
//! under `cargo test -p raida-testbed` or in a clean clone. Instead the tests call the code
//! behind both binaries, in this process, which cargo always builds fresh:
//!
//! - `raida gen-provision`: `raida_server::daemon::run` on the parsed command line, exactly
//!   what `bin/raida.rs` does.
//! - `raida cluster`: the same pieces `daemon::cluster` assembles — `load_settings` (with the
//!   `--ping-timeout-s 1` flag), `load_provision`, `real_env` (machine clock, real disk,
//!   `DIR/raida{N}`) and `real_front` (with inotify) — on 25 listeners bound to
//!   `127.0.0.1:0` (free ports), each `Front::serve` its own task on a runtime of its own
//!   (two worker threads). A RAIDA is stopped by aborting its task: its listener closes and
//!   connects are refused. Dropping the [`Cluster`] shuts the runtime down (bounded), then
//!   removes the data directories.
//! - `qmail …`: `qmail_client::cli::run` on `Cli::try_parse_from(args)`, exactly what
//!   `bin/qmail.rs` does, with the machine clock, a seeded RNG and an output buffer.
//!
//! Every wait is bounded: each client call runs under a 20 s timeout on top of the client's
//! own connect, request and ping-read timeouts; stopping a RAIDA waits at most 5 s.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use qmail_client::cli::{self, CliError, RunEnv};
use qmail_client::stripe::StripeFault;
use qmail_client::{
    Client, ClientParts, Clock, Config, Directory, DownloadedFile, Email, Identity, MailboxId,
    Poll, Recipient, TokioConnector,
};
use qmail_wire::tell::TellRecord;
use raida_server::daemon;
use raida_server::provision::{CoinAns, Provision};
use raida_server::settings::SettingsOverrides;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinHandle;

/// Longest any single client call may take.
const WAIT: Duration = Duration::from_secs(20);

/// Longest stopping a RAIDA or shutting the cluster down may take.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The servers' long-poll timeout (`--ping-timeout-s`), short so "no mail" answers fast.
const PING_TIMEOUT_S: u64 = 1;

const RAIDA_COUNT: usize = 25;

/// Mailboxes `raida gen-provision --mailboxes 4` writes: denomination 1, serials 1000..1003.
const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 1001);
const CAROL: MailboxId = MailboxId::new(1, 1002);
const DAVE: MailboxId = MailboxId::new(1, 1003);

/// Lockers `gen-provision --lockers 2` writes.
const UPLOAD_LOCKER: &str = "LOCKER000000";
const FEE_LOCKER: &str = "LOCKER000001";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The machine clock, for the clients (the servers use their own).
#[derive(Debug)]
struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // Real clients beside real daemons: the machine clock.
    fn now_unix_s(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    }
}

/// A fresh RNG seed per client, so no two sends draw the same GUID.
fn next_seed() -> u64 {
    static SEED: AtomicU64 = AtomicU64::new(1);
    SEED.fetch_add(1, Ordering::Relaxed)
}

/// `raida gen-provision --mailboxes 4 --lockers 2 --out DIR/provision.toml --seed 42`.
fn gen_provision(dir: &Path) -> PathBuf {
    let out = dir.join("provision.toml");
    let out_text = out.to_str().expect("utf-8 temp path");
    let args = [
        "raida",
        "gen-provision",
        "--mailboxes",
        "4",
        "--lockers",
        "2",
        "--out",
        out_text,
        "--seed",
        "42",
    ];
    let cli = daemon::Cli::try_parse_from(args).expect("raida command line");
    daemon::run(cli).expect("raida gen-provision");
    out
}

/// 25 RAIDAs on loopback; see the module docs.
struct Cluster {
    runtime: Option<tokio::runtime::Runtime>,
    servers: Vec<JoinHandle<io::Result<()>>>,
    addrs: Vec<SocketAddrV4>,
    _data: tempfile::TempDir,
}

impl Cluster {
    fn start(provision_path: &Path) -> Cluster {
        let flags = SettingsOverrides::new().with("ping_timeout_s", PING_TIMEOUT_S.to_string());
        let settings = daemon::load_settings(None, &flags).expect("settings");
        let provision = daemon::load_provision(provision_path).expect("provisioning file");
        let data = tempfile::tempdir().expect("data dir");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("raida-cluster")
            .enable_all()
            .build()
            .expect("cluster runtime");
        let (servers, addrs) = runtime.block_on(async {
            let mut servers = Vec::with_capacity(RAIDA_COUNT);
            let mut addrs = Vec::with_capacity(RAIDA_COUNT);
            for raida_id in 0..RAIDA_COUNT as u8 {
                let dir = data.path().join(format!("raida{raida_id}"));
                let env = daemon::real_env(
                    raida_id,
                    &dir,
                    settings.clone(),
                    &provision,
                    u64::from(raida_id),
                )
                .await
                .expect("RAIDA environment");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a free loopback port");
                let SocketAddr::V4(addr) = listener.local_addr().expect("local addr") else {
                    panic!("127.0.0.1 is IPv4");
                };
                let front = daemon::real_front(env);
                servers.push(tokio::spawn(async move { front.serve(listener).await }));
                addrs.push(addr);
            }
            (servers, addrs)
        });
        Cluster {
            runtime: Some(runtime),
            servers,
            addrs,
            _data: data,
        }
    }

    /// A directory of the 25 addresses, with the default beacon rule.
    fn directory(&self) -> Directory {
        Directory::new(self.addrs.iter().copied().map(SocketAddr::V4).collect())
            .expect("25 IPv4 addresses")
    }

    /// The `--raidas` value of `qmail init`.
    fn raidas_arg(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        addrs.join(",")
    }

    /// Stops RAIDA `raida_index`: its accept loop ends and its listener closes.
    #[allow(clippy::disallowed_methods)] // Test harness: a wall-clock bound on a real runtime.
    fn stop(&self, raida_index: u8) {
        let server = &self.servers[usize::from(raida_index)];
        server.abort();
        let deadline = Instant::now() + STOP_WAIT;
        while !server.is_finished() {
            assert!(
                Instant::now() < deadline,
                "RAIDA {raida_index} did not stop"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let refused = std::net::TcpStream::connect_timeout(
            &SocketAddr::V4(self.addrs[usize::from(raida_index)]),
            STOP_WAIT,
        );
        assert!(refused.is_err(), "RAIDA {raida_index} still accepts");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(STOP_WAIT);
            }
        }
    }
}

/// The runtime the clients run on (the cluster has its own).
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

/// Runs `future` under [`WAIT`].
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {WAIT:?}"))
}

/// Client settings that fail fast: one retry after 10 ms, a ping read bounded by 10 s.
fn fast_config() -> Config {
    Config {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ping_read_timeout: Duration::from_secs(10),
        retries_max: 1,
        retry_backoff: Duration::from_millis(10),
        retry_backoff_max: Duration::from_millis(20),
        ..Config::default()
    }
}

/// The same settings as a profile `[config]` table.
const FAST_CONFIG_TOML: &str = "\n[config]\nconnect_timeout_ms = 2000\n\
    request_timeout_ms = 5000\nping_read_timeout_s = 10\nretries_max = 1\n\
    retry_backoff_ms = 10\nretry_backoff_max_ms = 20\n";

fn locker(code: &str) -> [u8; 16] {
    qmail_wire::tell::locker_from_ascii(code).expect("ASCII locker code")
}

/// The identity of `mailbox` as the provisioning file gives it.
fn identity(provision: &Provision, mailbox: MailboxId) -> Identity {
    let coin = provision
        .coins
        .iter()
        .find(|coin| {
            coin.denomination == mailbox.denomination && coin.serial_number == mailbox.serial_number
        })
        .expect("provisioned mailbox");
    let ans = match &coin.ans {
        CoinAns::Same(an) => [*an; RAIDA_COUNT],
        CoinAns::PerRaida(ans) => **ans,
    };
    Identity::new(mailbox, ans, locker(UPLOAD_LOCKER), locker(FEE_LOCKER)).expect("identity")
}

fn client(
    provision: &Provision,
    directory: &Arc<Directory>,
    mailbox: MailboxId,
) -> Client<TokioConnector> {
    let mut parts = ClientParts::new(
        identity(provision, mailbox),
        directory.clone(),
        TokioConnector,
        Arc::new(SystemClock),
        ChaCha8Rng::seed_from_u64(next_seed()),
    );
    parts.config = fast_config();
    Client::new(parts).expect("client")
}

/// `size_bytes` bytes of a xorshift stream: every byte value, no stripe-friendly pattern.
fn content(seed: u64, size_bytes: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size_bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// The one tell a poll must have returned.
fn only_tell(poll: Poll, who: MailboxId) -> TellRecord {
    match poll {
        Poll::Tells(tells) if tells.len() == 1 => tells[0].record.clone(),
        other => panic!("{who}: expected exactly one tell, got {other:?}"),
    }
}

/// Checks the downloaded files are the email's, byte for byte.
fn assert_exact(files: &[DownloadedFile], email: &Email, who: MailboxId) {
    let expected: Vec<(u8, &[u8])> = email.files().expect("files");
    let got: Vec<(u8, &[u8])> = files
        .iter()
        .map(|file| (file.file_type, file.bytes.as_slice()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{who}: file count");
    for ((got_type, got_bytes), (expected_type, expected_bytes)) in got.iter().zip(&expected) {
        assert_eq!(got_type, expected_type, "{who}: file order");
        assert!(
            got_bytes == expected_bytes,
            "{who}: file {got_type:#04x} differs ({} bytes, expected {})",
            got_bytes.len(),
            expected_bytes.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The library path
// ---------------------------------------------------------------------------------------------

#[allow(clippy::disallowed_methods)] // Measures the real daemons' wall-clock long poll.
#[test]
fn three_recipients_on_three_beacons_get_exact_bytes_with_parity_and_one_shot_delivery() {
    let dir = tempfile::tempdir().expect("temp dir");
    let provision_path = gen_provision(dir.path());
    let provision = daemon::load_provision(&provision_path).expect("provisioning file");
    let cluster = Cluster::start(&provision_path);
    let mut directory = cluster.directory();
    let beacons = [(BOB, 4u8), (CAROL, 11), (DAVE, 19)];
    for (mailbox, beacon) in beacons {
        directory.set_beacon(mailbox, beacon).expect("beacon");
    }
    let directory = Arc::new(directory);
    let [bob, carol, dave] = [BOB, CAROL, DAVE].map(|m| client(&provision, &directory, m));

    client_runtime().block_on(async {
        // Alice sends a body and two attachments to three recipients on three beacons.
        let alice = client(&provision, &directory, ALICE);
        let body =
            cli::email_body("Quarterly numbers", b"See the two attachments.\n").expect("body file");
        let mut email = Email::new(alice.random_guid(), body);
        email.attachments = vec![content(1, 150_000), content(2, 12_345)];
        email.recipients = vec![
            Recipient::to(BOB),
            Recipient::cc(CAROL),
            Recipient::bcc(DAVE),
        ];
        let report = bounded("send", alice.send_email(&email))
            .await
            .expect("send");
        assert_eq!(
            report.stripes_uploaded,
            3 * 8,
            "3 files × (7 data + 1 parity)"
        );
        assert!(report.stripes_failed.is_empty(), "{report:?}");
        let told: Vec<(u8, Vec<MailboxId>, Option<u8>)> = report
            .tells
            .iter()
            .map(|tell| (tell.beacon, tell.recipients.clone(), tell.status()))
            .collect();
        assert_eq!(
            told,
            vec![
                (4, vec![BOB], Some(250)),
                (11, vec![CAROL], Some(250)),
                (19, vec![DAVE], Some(250)),
            ]
        );

        // Bob and Carol: ping, download, exact bytes, nothing rebuilt.
        for (who, recipient) in [(BOB, &bob), (CAROL, &carol)] {
            let poll = bounded("ping", recipient.ping()).await.expect("ping");
            let record = only_tell(poll, who);
            assert_eq!(record.file_header.email_id, email.guid);
            let files = bounded("download", recipient.download_email(&record))
                .await
                .expect("download");
            assert_exact(&files, &email, who);
            assert!(files.iter().all(|file| file.rebuilt_stripe.is_none()));
        }

        // One storage RAIDA holding a data stripe stops (not a beacon: the beacons are
        // polled again below). Dave still gets every byte, that stripe rebuilt from parity.
        let placement = report.placement.raidas().to_vec();
        let data_stripe_count = placement.len() - 1;
        let (stopped_index, stopped) = placement[..data_stripe_count]
            .iter()
            .copied()
            .enumerate()
            .find(|(_, raida)| beacons.iter().all(|(_, beacon)| beacon != raida))
            .expect("7 data RAIDAs cannot all be among 3 beacons");
        cluster.stop(stopped);
        let poll = bounded("ping", dave.ping()).await.expect("ping");
        let record = only_tell(poll, DAVE);
        let files = bounded("download", dave.download_email(&record))
            .await
            .expect("download with one RAIDA down");
        assert_exact(&files, &email, DAVE);
        for file in &files {
            assert_eq!(
                file.fault,
                Some(StripeFault::Missing {
                    stripe_index: stopped_index
                }),
                "file {:#04x}: stripe {stopped_index} on RAIDA {stopped} rebuilt",
                file.file_type
            );
        }

        // One-shot: the beacons deleted the tells on read, so a second ping of each waits out
        // the servers' 1 s long poll and finds nothing; a peek finds nothing either.
        let started = Instant::now();
        let (bob_again, carol_again, dave_again) = tokio::join!(
            bounded("ping", bob.ping()),
            bounded("ping", carol.ping()),
            bounded("ping", dave.ping()),
        );
        for (who, poll) in [(BOB, bob_again), (CAROL, carol_again), (DAVE, dave_again)] {
            assert_eq!(poll.expect("second ping"), Poll::TimedOut, "{who}");
        }
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "the ping was parked"
        );
        let peek = bounded("peek", dave.peek(0)).await.expect("peek");
        assert_eq!(peek, Poll::Empty);
    });
}

// ---------------------------------------------------------------------------------------------
// The `qmail` command path
// ---------------------------------------------------------------------------------------------

/// `qmail ARGS…` as `bin/qmail.rs` runs it: its result and what it printed. The command line
/// is parsed at once, so the future borrows nothing.
fn qmail(args: &[&str]) -> impl Future<Output = (Result<(), CliError>, String)> {
    let cli = cli::Cli::try_parse_from(std::iter::once("qmail").chain(args.iter().copied()))
        .unwrap_or_else(|error| panic!("qmail {args:?}: {error}"));
    let env = RunEnv {
        clock: Arc::new(SystemClock),
        rng: ChaCha8Rng::seed_from_u64(next_seed()),
        progress: false,
    };
    async move {
        let mut out = Vec::new();
        let result = bounded("qmail", cli::run(cli, env, &mut out)).await;
        (result, String::from_utf8(out).expect("UTF-8 output"))
    }
}

/// `qmail ARGS…` that must succeed; its output.
fn qmail_ok(args: &[&str]) -> impl Future<Output = String> {
    let command = args.join(" ");
    let run = qmail(args);
    async move {
        let (result, out) = run.await;
        if let Err(error) = result {
            panic!("qmail {command} failed: {error}\n{out}");
        }
        out
    }
}

/// The GUID of the `sent GUID …` line of `qmail send`.
fn sent_guid(out: &str) -> String {
    let line = out
        .lines()
        .find(|line| line.starts_with("sent "))
        .unwrap_or_else(|| panic!("no `sent` line in {out:?}"));
    let guid = line.split_whitespace().nth(1).expect("GUID after `sent`");
    assert_eq!(guid.len(), 32, "{line}");
    guid.to_string()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn qmail_command_sends_pings_and_fetches_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let provision_path = gen_provision(root);
    let cluster = Cluster::start(&provision_path);
    let path = |name: &str| root.join(name).to_str().expect("utf-8").to_string();
    let raidas = cluster.raidas_arg();
    let body_text = b"Numbers attached.\nSecond line.\n".to_vec();
    let attachment_a = content(3, 200_000);
    let attachment_b = content(4, 777);
    std::fs::write(root.join("body.txt"), &body_text).expect("write");
    std::fs::write(root.join("a.bin"), &attachment_a).expect("write");
    std::fs::write(root.join("b.bin"), &attachment_b).expect("write");

    client_runtime().block_on(async {
        // One profile per mailbox, written by `qmail init` from the provisioning file. Dave's
        // beacon is explicit; the others follow serial_number mod 25 (Bob 1, Carol 2).
        for (name, mailbox) in [
            ("alice", "1.1000"),
            ("bob", "1.1001"),
            ("carol", "1.1002"),
            ("dave", "1.1003"),
        ] {
            let profile = path(&format!("{name}.toml"));
            let out = qmail_ok(&[
                "--profile",
                &profile,
                "init",
                "--mailbox",
                mailbox,
                "--provision",
                &path("provision.toml"),
                "--raidas",
                &raidas,
                "--upload-locker",
                UPLOAD_LOCKER,
                "--fee-locker",
                FEE_LOCKER,
                "--beacon",
                "1.1003=17",
            ])
            .await;
            assert!(out.starts_with(&format!("wrote {profile}")), "{out}");
            let mut text = std::fs::read_to_string(&profile).expect("profile");
            text.push_str(FAST_CONFIG_TOML);
            std::fs::write(&profile, text).expect("profile");
        }
        let alice = path("alice.toml");

        let out = qmail_ok(&[
            "--profile",
            &alice,
            "send",
            "--to",
            "1.1001",
            "--cc",
            "1.1002",
            "--bcc",
            "1.1003",
            "--subject",
            "Quarterly numbers",
            "--body-file",
            &path("body.txt"),
            "--attach",
            &path("a.bin"),
            "--attach",
            &path("b.bin"),
        ])
        .await;
        let guid = sent_guid(&out);
        assert!(
            out.contains(": 3 files, 24 stripes stored on RAIDAs "),
            "{out}"
        );
        for line in [
            "told beacon RAIDA 1 for 1.1001",
            "told beacon RAIDA 2 for 1.1002",
            "told beacon RAIDA 17 for 1.1003",
        ] {
            assert!(out.contains(line), "{line:?} missing from {out}");
        }

        let mut expected_body =
            b"Subject: Quarterly numbers\nAttachment-0a: a.bin\nAttachment-0b: b.bin\n\n".to_vec();
        expected_body.extend_from_slice(&body_text);
        // Bob fetches by the whole GUID, Carol by a prefix, Dave with --state given.
        for (name, fetch_guid, state) in [
            ("bob", guid.clone(), None),
            ("carol", guid[..8].to_string(), None),
            ("dave", guid.clone(), Some(path("dave-state"))),
        ] {
            let profile = path(&format!("{name}.toml"));
            let mut base = vec!["--profile", profile.as_str()];
            if let Some(state) = &state {
                base.extend(["--state", state.as_str()]);
            }
            let out = qmail_ok(&[&base[..], &["ping"]].concat()).await;
            let mail_line = format!("mail {guid} edit 0 from 1.1000: 3 files (body ");
            assert!(out.starts_with(&mail_line), "{name}: {out}");
            let out_dir = path(&format!("{name}-mail"));
            let out =
                qmail_ok(&[&base[..], &["fetch", &fetch_guid, "--out", &out_dir]].concat()).await;
            assert!(out.contains("subject: Quarterly numbers"), "{name}: {out}");
            let out_dir = PathBuf::from(out_dir);
            assert!(
                read(&out_dir.join("body.txt")) == expected_body,
                "{name}: body"
            );
            assert!(
                read(&out_dir.join("a.bin")) == attachment_a,
                "{name}: attachment 0x0a"
            );
            assert!(
                read(&out_dir.join("b.bin")) == attachment_b,
                "{name}: attachment 0x0b"
            );
        }
        assert!(root.join("dave-state/tells").is_dir(), "--state was used");
        assert!(
            root.join("bob.toml.state/tells").is_dir(),
            "default state dir"
        );

        // One-shot: each second ping waits out the 1 s long poll and finds nothing.
        let bob = path("bob.toml");
        let carol = path("carol.toml");
        let dave = path("dave.toml");
        let dave_state = path("dave-state");
        let (bob_out, carol_out, dave_out) = tokio::join!(
            qmail_ok(&["--profile", &bob, "ping"]),
            qmail_ok(&["--profile", &carol, "ping"]),
            qmail_ok(&["--profile", &dave, "--state", &dave_state, "ping"]),
        );
        for out in [bob_out, carol_out, dave_out] {
            assert_eq!(out, "no new mail (the long poll timed out)\n");
        }
        let out = qmail_ok(&["--profile", &bob, "list"]).await;
        assert!(out.starts_with(&format!("mail {guid} edit 0 ")), "{out}");

        // A revision (same GUID, edit 1) to Bob replaces the stripes; fetch takes the newest
        // kept revision.
        let out = qmail_ok(&[
            "--profile",
            &alice,
            "send",
            "--guid",
            &guid,
            "--edit-sequence",
            "1",
            "--to",
            "1.1001",
            "--subject",
            "Quarterly numbers (fixed)",
            "--body",
            "Corrected.",
        ])
        .await;
        assert_eq!(sent_guid(&out), guid);
        let out = qmail_ok(&["--profile", &bob, "peek"]).await;
        assert!(out.starts_with(&format!("mail {guid} edit 1 ")), "{out}");
        let out_dir = path("bob-revision");
        qmail_ok(&["--profile", &bob, "fetch", &guid, "--out", &out_dir]).await;
        assert_eq!(
            read(&Path::new(&out_dir).join("body.txt")),
            b"Subject: Quarterly numbers (fixed)\n\nCorrected."
        );
        let out = qmail_ok(&["--profile", &bob, "list"]).await;
        assert_eq!(out.lines().count(), 2, "both revisions kept: {out}");

        // Errors are messages, not panics: an unknown GUID, and a beacon that is down.
        let (result, _) = qmail(&["--profile", &bob, "fetch", "0123abcd", "--out", &out_dir]).await;
        let error = result.expect_err("unknown GUID");
        assert!(matches!(error, CliError::NotFound { .. }), "{error}");
        cluster.stop(1);
        let (result, out) = qmail(&["--profile", &bob, "ping"]).await;
        let error = result.expect_err("beacon down");
        let message = error.to_string();
        let bob_beacon = format!("RAIDA 1 ({})", cluster.addrs[1]);
        assert!(message.contains(&bob_beacon), "{message}");
        assert!(message.contains("ping"), "{message}");
        assert_eq!(out, "");
    });
}

/// `qmail send` to a mailbox no RAIDA holds: its beacon answers 18 for it, the report says it
/// was not told, the command fails; the provisioned recipient is still told. Then `qmail
/// fetch` with a storage RAIDA down says in words which stripe was rebuilt, and with two down
/// fails with a message free of Rust debug text.
#[test]
fn qmail_reports_an_unprovisioned_recipient_and_speaks_plainly_about_stripes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let provision_path = gen_provision(root);
    let cluster = Cluster::start(&provision_path);
    let path = |name: &str| root.join(name).to_str().expect("utf-8").to_string();
    let raidas = cluster.raidas_arg();
    std::fs::write(root.join("a.bin"), content(9, 50_000)).expect("write");

    client_runtime().block_on(async {
        for (name, mailbox) in [("alice", "1.1000"), ("bob", "1.1001")] {
            let profile = path(&format!("{name}.toml"));
            qmail_ok(&[
                "--profile",
                &profile,
                "init",
                "--mailbox",
                mailbox,
                "--provision",
                &path("provision.toml"),
                "--raidas",
                &raidas,
                "--upload-locker",
                UPLOAD_LOCKER,
                "--fee-locker",
                FEE_LOCKER,
            ])
            .await;
            let mut text = std::fs::read_to_string(&profile).expect("profile");
            text.push_str(FAST_CONFIG_TOML);
            std::fs::write(&profile, text).expect("profile");
        }
        let alice = path("alice.toml");
        let bob = path("bob.toml");
        // 1.1010 is not provisioned (gen-provision --mailboxes 4: 1.1000..1.1003); its beacon
        // by the default rule is RAIDA 10, Bob's is RAIDA 1.
        let (result, out) = qmail(&[
            "--profile",
            &alice,
            "send",
            "--to",
            "1.1001",
            "--to",
            "1.1010",
            "--subject",
            "hello",
            "--body",
            "hi",
            "--attach",
            &path("a.bin"),
        ])
        .await;
        let error = result.expect_err("one recipient was not told");
        let message = error.to_string();
        assert!(matches!(error, CliError::Incomplete { .. }), "{message}");
        assert!(out.contains("told beacon RAIDA 1 for 1.1001"), "{out}");
        assert!(
            out.contains("NOT told: beacon RAIDA 10 for 1.1010: RAIDA 10 (")
                && out.contains("ERROR_WRONG_RAIDA (18)"),
            "{out}"
        );
        assert!(
            message.contains("1 of 2 recipients were not told"),
            "{message}"
        );
        let guid = sent_guid(&out);
        let placement_line = out.lines().next().expect("sent line");
        let placement: Vec<u8> = placement_line
            .rsplit(' ')
            .next()
            .expect("RAIDA list")
            .split(',')
            .map(|raida| raida.parse().expect("RAIDA index"))
            .collect();

        qmail_ok(&["--profile", &bob, "ping"]).await;
        // One data stripe's RAIDA down (not Bob's beacon): rebuilt, said in words.
        let data = &placement[..placement.len() - 1];
        let down: Vec<u8> = data
            .iter()
            .copied()
            .filter(|raida| *raida != 1)
            .take(2)
            .collect();
        cluster.stop(down[0]);
        let out = qmail_ok(&[
            "--profile",
            &bob,
            "fetch",
            &guid,
            "--out",
            &path("bob-mail"),
        ])
        .await;
        assert!(out.contains("was missing, rebuilt from parity"), "{out}");
        assert!(read(&root.join("bob-mail/a.bin")) == content(9, 50_000));
        for debug_text in ["{", "stripe_index", "Missing", "Some("] {
            assert!(!out.contains(debug_text), "{debug_text:?} in {out}");
        }
        // Two down: nothing rebuilds, and the error is words too.
        cluster.stop(down[1]);
        let (result, out) = qmail(&[
            "--profile",
            &bob,
            "fetch",
            &guid,
            "--out",
            &path("bob-mail-2"),
        ])
        .await;
        let message = result.expect_err("two stripes missing").to_string();
        for debug_text in ["{", "stripe_index", "Missing", "Some(", "Err("] {
            assert!(!message.contains(debug_text), "{debug_text:?} in {message}");
            assert!(!out.contains(debug_text), "{debug_text:?} in {out}");
        }
        assert!(message.contains("cannot rebuild"), "{message}");
    });
}
