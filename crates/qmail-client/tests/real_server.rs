//! The client against the real server: 25 `raida_server::front::serve` tasks on tokio
//! listeners at 127.0.0.1:0, each over a real-file-system `Env` in its own temp directory,
//! with a manual server clock so tell timestamps are deterministic.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{an_of, bytes, identity, NOW_S, RAIDA_COUNT};
use qmail_client::config::Parity;
use qmail_client::rs::PARITY_ALGO_REED_SOLOMON;
use qmail_client::stripe::{DataStripeCount, StripeError, StripeFault};
use qmail_client::{
    Client, ClientError, ClientParts, Config, Directory, Email, MailboxId, ManualClock, Poll,
    Recipient, TellRouting, TokioConnector,
};
use qmail_wire::crypto::ResponseCounter;
use qmail_wire::tell::TellRecord;
use qmail_wire::Codec;
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::env::{Env, EnvParts};
use raida_server::fs::{NoopHook, RealFs};
use raida_server::settings::{ResponseCounterSetting, Settings};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinHandle;

const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 2001);
const CAROL: MailboxId = MailboxId::new(2, 3002);
const POOR: MailboxId = MailboxId::new(3, 5000);
/// Its inbox fee is more than the FEES locker holds, so every beacon refuses to deliver to it.
const PRICEY: MailboxId = MailboxId::new(1, 6010);
const PRICEY_FEE: u64 = 2_000_000;

struct Network {
    _dirs: Vec<tempfile::TempDir>,
    roots: Vec<PathBuf>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    directory: Arc<Directory>,
    clock: Arc<ManualClock>,
}

fn locker(text: &str) -> [u8; 16] {
    qmail_wire::tell::locker_from_ascii(text).expect("ascii")
}

impl Network {
    async fn start(settings: Settings) -> Network {
        let mut dirs = Vec::new();
        let mut roots = Vec::new();
        let mut servers = Vec::new();
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for raida_id in 0..RAIDA_COUNT {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut coins = CoinTable::new();
            for mailbox in [ALICE, BOB, CAROL, POOR] {
                coins.insert(
                    mailbox.denomination,
                    mailbox.serial_number,
                    an_of(mailbox, raida_id),
                );
            }
            let mut lockers = LockerLedger::new();
            lockers.insert(locker("UPLOAD"), 1_000_000);
            lockers.insert(locker("FEES"), 1_000_000);
            let env = Env::new(EnvParts {
                clock: Arc::new(raida_server::clock::ManualClock::new(NOW_S * 1_000_000)),
                fs: Arc::new(RealFs),
                hook: Arc::new(NoopHook),
                rng_seed: raida_id as u64,
                root: dir.path().to_path_buf(),
                raida_id: raida_id as u8,
                process_id: 1,
                settings: settings.clone(),
                coins,
                lockers,
                inbox_fees: {
                    let mut fees = InboxFees::new();
                    fees.insert(PRICEY.denomination, PRICEY.serial_number, PRICEY_FEE);
                    fees
                },
            })
            .expect("env");
            env.prepare().await.expect("prepare");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            servers.push(tokio::spawn(raida_server::front::serve(
                listener,
                Arc::new(env),
            )));
            roots.push(dir.path().join(&settings.stripe_root));
            dirs.push(dir);
        }
        let mut directory = Directory::new(addrs).expect("25 addresses");
        directory.set_beacon(BOB, 4).expect("valid");
        directory.set_beacon(CAROL, 19).expect("valid");
        Network {
            _dirs: dirs,
            roots,
            servers,
            directory: Arc::new(directory),
            clock: Arc::new(ManualClock::new(NOW_S)),
        }
    }

    fn client(&self, mailbox: MailboxId, seed: u64, config: Config) -> Client<TokioConnector> {
        let mut parts = ClientParts::new(
            identity(mailbox),
            self.directory.clone(),
            TokioConnector,
            self.clock.clone(),
            ChaCha8Rng::seed_from_u64(seed),
        );
        parts.config = config;
        Client::new(parts).expect("client")
    }

    /// Stops RAIDA `index` accepting connections: connects are refused from now on.
    async fn stop(&self, index: u8) {
        let server = &self.servers[usize::from(index)];
        server.abort();
        while !server.is_finished() {
            tokio::task::yield_now().await;
        }
    }

    /// Flips bit 0 of the first data byte of every stripe file RAIDA `index` stores.
    fn corrupt_stripes(&self, index: u8) {
        let root: &Path = &self.roots[usize::from(index)];
        let mut corrupted = 0;
        for entry in std::fs::read_dir(root).expect("stripe dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "stripe") {
                let mut file = std::fs::read(&path).expect("read");
                file[24] ^= 0x01;
                // A lying RAIDA: the stored stripe's own CRC-32 is resealed, so the server
                // serves the wrong bytes as good.
                assert!(raida_server::store::stripes::reseal_stripe_file(&mut file));
                std::fs::write(&path, file).expect("write");
                corrupted += 1;
            }
        }
        assert!(corrupted > 0, "no stripe files under {}", root.display());
    }
}

fn config() -> Config {
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

fn settings() -> Settings {
    Settings {
        ping_timeout_s: 1,
        ..Settings::default()
    }
}

fn email(guid: [u8; 16]) -> Email {
    let mut email = Email::new(guid, bytes(11, 9_999));
    email.attachments = vec![bytes(12, 64_000), bytes(13, 3)];
    email.recipients = vec![Recipient::to(BOB), Recipient::cc(CAROL)];
    email
}

fn only_tell(poll: Poll) -> TellRecord {
    match poll {
        Poll::Tells(tells) if tells.len() == 1 => tells[0].record.clone(),
        other => panic!("expected one tell, got {other:?}"),
    }
}

async fn send_standard(network: &Network) -> (Email, Vec<u8>) {
    let alice = network.client(ALICE, 1, config());
    let email = email(alice.random_guid());
    let report = alice.send_email(&email).await.expect("send");
    assert!(report.all_told(), "{report:?}");
    (email, report.placement.raidas().to_vec())
}

#[tokio::test]
async fn end_to_end_two_beacons_exact_bytes() {
    let network = Network::start(settings()).await;
    let alice = network.client(ALICE, 1, config());
    let email = email(alice.random_guid());
    let report = alice.send_email(&email).await.expect("send");
    assert_eq!(report.stripes_uploaded, 24);
    let beacons: Vec<(u8, Vec<MailboxId>, Option<u8>)> = report
        .tells
        .iter()
        .map(|t| (t.beacon, t.recipients.clone(), t.status()))
        .collect();
    assert_eq!(
        beacons,
        vec![(4, vec![BOB], Some(250)), (19, vec![CAROL], Some(250))]
    );
    for (mailbox, seed) in [(BOB, 2), (CAROL, 3)] {
        let client = network.client(mailbox, seed, config());
        let Poll::Tells(tells) = client.ping().await.expect("ping") else {
            panic!("no tell for {mailbox}");
        };
        assert_eq!(tells.len(), 1);
        let sent = report
            .tells
            .iter()
            .find(|t| t.recipients == vec![mailbox])
            .unwrap();
        assert_eq!(
            tells[0].raw, sent.record,
            "stored record is byte for byte the sent one"
        );
        let files = client
            .download_email(&tells[0].record)
            .await
            .expect("download");
        let got: Vec<(u8, Vec<u8>)> = files.into_iter().map(|f| (f.file_type, f.bytes)).collect();
        assert_eq!(
            got,
            vec![
                (0x01, email.body.clone()),
                (0x0A, email.attachments[0].clone()),
                (0x0B, email.attachments[1].clone()),
            ]
        );
        assert_eq!(client.peek(0).await.expect("peek"), Poll::Empty);
    }
}

#[tokio::test]
async fn storage_raida_down_and_lying_raida() {
    let network = Network::start(settings()).await;
    let (email, placement) = send_standard(&network).await;
    let bob = network.client(BOB, 2, config());
    let record = only_tell(bob.ping().await.expect("ping"));

    // One RAIDA lies: its stripe files are corrupted on disk. The CRC finds it.
    network.corrupt_stripes(placement[2]);
    let files = bob.download_email(&record).await.expect("repaired");
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert!(files
        .iter()
        .all(|f| f.fault == Some(StripeFault::Corrupt { stripe_index: 2 })));

    // One RAIDA down instead... and the liar still lying: two bad stripes, a clear error.
    network.stop(placement[6]).await;
    let error = bob.download_email(&record).await.expect_err("two bad");
    assert!(
        matches!(error, ClientError::FileUnrecoverable { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains(&format!("RAIDA {}", placement[6])), "{text}");
}

#[tokio::test]
async fn one_down_rebuilds_two_down_fails() {
    let network = Network::start(settings()).await;
    let (email, placement) = send_standard(&network).await;
    let carol = network.client(CAROL, 3, config());
    let record = only_tell(carol.peek(0).await.expect("peek"));
    network.stop(placement[7]).await;
    let files = carol.download_email(&record).await.expect("rebuilt");
    assert_eq!(files[0].bytes, email.body);
    assert!(files.iter().all(|f| f.rebuilt_stripe == Some(7)));
    network.stop(placement[0]).await;
    match carol.download_email(&record).await {
        Err(ClientError::FileUnrecoverable { failures, .. }) => {
            let indexes: Vec<usize> = failures.iter().map(|f| f.stripe_index).collect();
            assert_eq!(indexes, vec![0, 7]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn ping_times_out_with_17_and_245_and_wakes_on_a_tell() {
    for status in [17u8, 245] {
        let network = Network::start(Settings {
            ping_timeout_status: status,
            ..settings()
        })
        .await;
        let bob = network.client(BOB, 2, config());
        assert_eq!(bob.ping().await.expect("ping"), Poll::TimedOut);
    }
    // A parked ping is answered when the tell lands.
    let network = Network::start(Settings {
        ping_timeout_s: 30,
        ..settings()
    })
    .await;
    let bob = network.client(BOB, 2, config());
    let alice = network.client(ALICE, 1, config());
    let mut email = Email::new(alice.random_guid(), b"wake up".to_vec());
    email.recipients = vec![Recipient::to(BOB)];
    let (polled, sent) = tokio::join!(bob.ping(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        alice.send_email(&email).await
    });
    assert!(sent.expect("sent").all_told());
    let record = only_tell(polled.expect("woken"));
    let files = bob.download_email(&record).await.expect("download");
    assert_eq!(files[0].bytes, b"wake up");
}

#[tokio::test]
async fn response_counter_continue_on_both_sides() {
    let network = Network::start(Settings {
        response_counter: ResponseCounterSetting::Continue,
        ..settings()
    })
    .await;
    let continue_config = Config {
        response_counter: ResponseCounter::Continue,
        ..config()
    };
    let alice = network.client(ALICE, 1, continue_config.clone());
    let email = email(alice.random_guid());
    alice.send_email(&email).await.expect("send");
    let bob = network.client(BOB, 2, continue_config);
    let record = only_tell(bob.peek(0).await.expect("peek"));
    assert_eq!(
        bob.download_email(&record).await.expect("download")[2].bytes,
        email.attachments[1]
    );
    // A client on the other setting cannot read the payloads: a clear error, not garbage.
    alice.send_email(&email).await.expect("send again");
    let wrong = network.client(BOB, 5, config());
    let error = wrong.peek(0).await.expect_err("counter mismatch");
    assert!(error.to_string().contains("response_counter"), "{error}");
}

#[tokio::test]
async fn older_revision_replayed_is_skipped_by_the_beacon() {
    let network = Network::start(settings()).await;
    let alice = network.client(ALICE, 1, config());
    let mut email = Email::new(alice.random_guid(), b"v0".to_vec());
    email.recipients = vec![Recipient::to(BOB)];
    let original = alice.send_email(&email).await.expect("v0");
    email.edit_sequence = 1;
    email.body = b"v1".to_vec();
    alice.send_email(&email).await.expect("v1");
    // Replay the v0 record in a fresh request: the only recipient is skipped, status 18.
    let old = TellRecord::from_bytes(&original.tells[0].record).expect("record");
    let entries = vec![Recipient::to(BOB).address_entry(alice.identity().fee_locker_code)];
    let outcome = alice
        .send_tell_record(
            4,
            &entries,
            &old,
            &TellRouting::for_record(&old, NOW_S as u32),
        )
        .await;
    assert_eq!(outcome.status(), Some(18), "{:?}", outcome.result);
    let bob = network.client(BOB, 2, config());
    let record = only_tell(bob.ping().await.expect("ping"));
    assert_eq!(record.file_header.edit_sequence, 1);
    assert_eq!(
        bob.download_email(&record).await.expect("download")[0].bytes,
        b"v1"
    );
}

#[tokio::test]
async fn skewed_clock_and_unpaid_uploads_name_their_status() {
    let network = Network::start(settings()).await;
    let alice = network.client(ALICE, 1, config());
    network.clock.set_unix_s(NOW_S + 61);
    let mut email = Email::new(alice.random_guid(), b"late".to_vec());
    email.recipients = vec![Recipient::to(BOB)];
    let report = alice.send_email(&email).await.expect("uploads fine");
    let error = report.tells[0].result.clone().expect_err("skew");
    assert!(
        error.to_string().contains("ERROR_INVALID_PARAMETER (198)"),
        "{error}"
    );
    network.clock.set_unix_s(NOW_S);

    // POOR's upload locker does not exist on the servers: every upload is 169.
    let mut poor_identity = identity(POOR);
    poor_identity.upload_locker_code = locker("EMPTY");
    let mut parts = ClientParts::new(
        poor_identity,
        network.directory.clone(),
        TokioConnector,
        network.clock.clone(),
        ChaCha8Rng::seed_from_u64(9),
    );
    parts.config = config();
    let poor = Client::new(parts).expect("client");
    let error = poor.send_email(&email).await.expect_err("unpaid");
    assert!(
        matches!(error, ClientError::UploadIncomplete { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("ERROR_PAYMENT_REQUIRED (169)"),
        "{error}"
    );
    assert!(poor.echo(0).await.is_ok());
}

fn reed_solomon_config(parity_count: u8) -> Config {
    Config {
        parity: Parity::ReedSolomon { parity_count },
        ..config()
    }
}

/// Sends the standard email with Reed–Solomon k = 2 and checks what the tell says.
async fn send_reed_solomon(network: &Network) -> (Email, Vec<u8>) {
    let alice = network.client(ALICE, 1, reed_solomon_config(2));
    let email = email(alice.random_guid());
    let report = alice.send_email(&email).await.expect("send");
    assert!(report.all_told(), "{report:?}");
    // Three files of 7 data + 2 parity stripes, on 9 distinct RAIDAs.
    assert_eq!(report.stripes_uploaded, 27);
    let placement = report.placement.raidas().to_vec();
    assert_eq!(placement.len(), 9);
    let mut distinct = placement.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 9);
    (email, placement)
}

fn assert_reed_solomon_record(record: &TellRecord, placement: &[u8]) {
    assert_eq!(record.file_header.parity_algo, PARITY_ALGO_REED_SOLOMON);
    assert_eq!(record.file_header.stripe_count, 9);
    let entries: Vec<(u8, u8, u8)> = record
        .servers
        .iter()
        .map(|entry| (entry.stripe_index, entry.stripe_type, entry.server_id))
        .collect();
    let expected: Vec<(u8, u8, u8)> = placement
        .iter()
        .enumerate()
        .map(|(index, &raida)| (index as u8, u8::from(index >= 7), raida))
        .collect();
    assert_eq!(entries, expected);
}

#[tokio::test]
async fn reed_solomon_two_down_rebuilds_three_down_fails() {
    let network = Network::start(settings()).await;
    let (email, placement) = send_reed_solomon(&network).await;
    // The beacon accepted parity_algo 1 and stored the record as sent.
    let bob = network.client(BOB, 2, config());
    let record = only_tell(bob.ping().await.expect("ping"));
    assert_reed_solomon_record(&record, &placement);
    let files = bob.download_email(&record).await.expect("all present");
    assert!(files.iter().all(|f| f.rebuilt_stripes.is_empty()));

    // Two storage RAIDAs down (a data and a parity stripe's): exact bytes.
    network.stop(placement[3]).await;
    network.stop(placement[8]).await;
    let files = bob.download_email(&record).await.expect("two rebuilt");
    let got: Vec<(u8, Vec<u8>)> = files
        .iter()
        .map(|f| (f.file_type, f.bytes.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0x01, email.body.clone()),
            (0x0A, email.attachments[0].clone()),
            (0x0B, email.attachments[1].clone()),
        ]
    );
    assert!(files.iter().all(|f| f.rebuilt_stripes == vec![3, 8]));

    // A third down: more than k = 2 missing, a clear error naming them, never bytes.
    network.stop(placement[0]).await;
    let error = bob.download_email(&record).await.expect_err("three down");
    match &error {
        ClientError::FileUnrecoverable {
            failures, cause, ..
        } => {
            let indexes: Vec<usize> = failures.iter().map(|f| f.stripe_index).collect();
            assert_eq!(indexes, vec![0, 3, 8]);
            assert_eq!(
                cause,
                &StripeError::TooManyMissing {
                    missing_indexes: vec![0, 3, 8]
                }
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = error.to_string();
    for raida in [placement[0], placement[3], placement[8]] {
        assert!(text.contains(&format!("RAIDA {raida}")), "{text}");
    }
}

#[tokio::test]
async fn reed_solomon_two_corrupt_or_one_corrupt_one_down_repaired() {
    let network = Network::start(settings()).await;
    let (email, placement) = send_reed_solomon(&network).await;
    let carol = network.client(CAROL, 3, config());
    let record = only_tell(carol.peek(0).await.expect("peek"));
    assert_reed_solomon_record(&record, &placement);

    // Two RAIDAs lie (their stripe files corrupted on disk): found and rebuilt.
    network.corrupt_stripes(placement[1]);
    network.corrupt_stripes(placement[5]);
    let files = carol.download_email(&record).await.expect("repaired");
    assert_eq!(files[0].bytes, email.body);
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert_eq!(files[2].bytes, email.attachments[1]);
    assert!(files.iter().all(|f| f.rebuilt_stripes == vec![1, 5]));
    assert!(files
        .iter()
        .all(|f| f.fault == Some(StripeFault::Corrupt { stripe_index: 1 })));

    // One liar fewer, one RAIDA down: still exact.
    network.corrupt_stripes(placement[5]);
    network.stop(placement[7]).await;
    let files = carol.download_email(&record).await.expect("repaired");
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert!(files.iter().all(|f| f.rebuilt_stripes == vec![1, 7]));

    // Two liars and one down: beyond k = 2, an error rather than wrong bytes.
    network.corrupt_stripes(placement[5]);
    let error = carol.download_email(&record).await.expect_err("too many");
    assert!(
        matches!(error, ClientError::FileUnrecoverable { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn reed_solomon_too_wide_is_refused_before_upload() {
    let network = Network::start(settings()).await;
    let config = Config {
        data_stripe_count: DataStripeCount::new(23).expect("valid"),
        parity: Parity::ReedSolomon { parity_count: 3 },
        ..config()
    };
    let mut parts = ClientParts::new(
        identity(ALICE),
        network.directory.clone(),
        TokioConnector,
        network.clock.clone(),
        ChaCha8Rng::seed_from_u64(1),
    );
    parts.config = config;
    let error = Client::new(parts).expect_err("26 stripes");
    assert!(error.to_string().contains("parity"), "{error}");
}

/// `qmail echo` against real servers, one stopped and one holding another AN than the
/// profile's: the encrypted echo names both failures; `--plain` (encryption type 0) does not
/// involve the AN, so only the stopped RAIDA fails.
#[tokio::test]
async fn qmail_echo_names_a_stopped_raida_and_a_wrong_an() {
    let network = Network::start(Settings::default()).await;
    network.stop(6).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = common::write_profile(dir.path(), ALICE, &network.directory, |raida| {
        let mut an = an_of(ALICE, raida);
        if raida == 9 {
            an[0] ^= 0xFF;
        }
        an
    });
    let (result, out) = common::qmail(&["--profile", &profile, "echo", "--all"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 26, "{out}");
    assert!(
        lines[6].contains("no reply: connect failed"),
        "{}",
        lines[6]
    );
    assert!(lines[9].ends_with("ERROR_INVALID_CRC (37)"), "{}", lines[9]);
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.ends_with("STATUS_SUCCESS (250)"))
            .count(),
        23
    );
    assert_eq!(lines[25], "23 of 25 RAIDAs answered 250");
    assert!(result.is_err());

    let (result, out) = common::qmail(&["--profile", &profile, "echo", "--plain"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[9].ends_with("STATUS_SUCCESS (250)"), "{}", lines[9]);
    assert!(
        lines[6].contains("no reply: connect failed"),
        "{}",
        lines[6]
    );
    assert_eq!(lines[25], "24 of 25 RAIDAs answered 250");
    assert!(result.is_err());

    let (result, out) =
        common::qmail(&["--profile", &profile, "echo", "--raida", "9", "--plain"]).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(out.ends_with("1 of 1 RAIDAs answered 250\n"), "{out}");
}

/// `qmail send` to one recipient a beacon accepts and one it refuses (inbox fee unpaid: 18,
/// "zero deliveries"): one line per recipient, and the command fails naming the refused one.
#[tokio::test]
async fn qmail_send_reports_each_recipient_and_fails_on_a_refused_tell() {
    let network = Network::start(settings()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = common::write_profile(dir.path(), ALICE, &network.directory, |raida| {
        an_of(ALICE, raida)
    });
    let (bob, pricey) = (BOB.to_string(), PRICEY.to_string());
    let (result, out) = common::qmail(&[
        "--profile",
        &profile,
        "send",
        "--to",
        &bob,
        "--to",
        &pricey,
        "--subject",
        "S",
        "--body",
        "B",
    ])
    .await;
    // The profile has no explicit beacons: serial_number mod 25.
    assert!(out.contains("told beacon RAIDA 1 for 1.2001\n"), "{out}");
    assert!(
        out.contains("NOT told: beacon RAIDA 10 for 1.6010: RAIDA 10 (127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains("answered tell with ERROR_WRONG_RAIDA (18) (the beacon took the tell"),
        "{out}"
    );
    let message = result.expect_err("PRICEY was not told").to_string();
    assert!(
        message.contains("1 of 2 recipients were not told"),
        "{message}"
    );
    assert!(message.contains("1.6010"), "{message}");
}
