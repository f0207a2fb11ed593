//! The client end to end against the fake RAIDA network of `common`: send, ping, peek,
//! download, and every fault the download must survive or refuse.

mod common;

use std::sync::{Arc, Mutex};

use common::{bytes, Mode, World};
use qmail_client::error::ReplyFault;
use qmail_client::observer::{StripeRebuilt, StripeUploaded, TellSent};
use qmail_client::stripe::StripeFault;
use qmail_client::{
    ClientError, ClientObserver, Config, DataStripeCount, Email, MailboxId, Placement, Poll,
    PollKind, ReceivedTell, Recipient, SendPolicy, TellRouting,
};
use qmail_wire::crypto::ResponseCounter;
use qmail_wire::tell::{FileHeader, LegacyFooter, ServerEntry, TellRecord};
use qmail_wire::Codec;

const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 2001);
const CAROL: MailboxId = MailboxId::new(2, 3002);
const DAVE: MailboxId = MailboxId::new(-1, 4003);

fn mailboxes() -> Vec<MailboxId> {
    vec![ALICE, BOB, CAROL, DAVE]
}

#[derive(Default)]
struct Recorder {
    tells_sent: Mutex<Vec<TellSent>>,
    received: Mutex<Vec<(u8, PollKind, Vec<u8>)>>,
    uploaded: Mutex<Vec<StripeUploaded>>,
    rebuilt: Mutex<Vec<StripeRebuilt>>,
}

impl ClientObserver for Recorder {
    fn stripe_uploaded(&self, event: &StripeUploaded) {
        self.uploaded.lock().unwrap().push(*event);
    }
    fn tell_sent(&self, event: &TellSent) {
        self.tells_sent.lock().unwrap().push(event.clone());
    }
    fn tells_received(&self, beacon: u8, via: PollKind, tells: &[ReceivedTell]) {
        let mut received = self.received.lock().unwrap();
        for tell in tells {
            received.push((beacon, via, tell.raw.clone()));
        }
    }
    fn stripe_rebuilt(&self, event: &StripeRebuilt) {
        self.rebuilt.lock().unwrap().push(*event);
    }
}

/// A world where BOB and DAVE share beacon 5 and CAROL is on beacon 9.
async fn world() -> World {
    let mut world = World::start(&mailboxes()).await;
    let mut directory = (*world.directory).clone();
    directory.set_beacon(BOB, 5).unwrap();
    directory.set_beacon(DAVE, 5).unwrap();
    directory.set_beacon(CAROL, 9).unwrap();
    world.directory = Arc::new(directory);
    world
}

fn email(client_guid: [u8; 16]) -> Email {
    let mut email = Email::new(client_guid, bytes(1, 5_000));
    email.attachments = vec![bytes(2, 100_000), bytes(3, 1)];
    email.recipients = vec![
        Recipient::to(BOB),
        Recipient::cc(CAROL),
        Recipient::bcc(DAVE),
    ];
    email
}

fn single_tell(poll: Poll) -> ReceivedTell {
    match poll {
        Poll::Tells(mut tells) => {
            assert_eq!(tells.len(), 1);
            tells.pop().unwrap()
        }
        other => panic!("expected one tell, got {other:?}"),
    }
}

/// Sends the standard email from ALICE; returns it and the placement.
async fn send(world: &World) -> (Email, Placement) {
    let alice = world.client(ALICE, 1);
    let email = email(alice.random_guid());
    let report = alice.send_email(&email).await.expect("sent");
    assert!(report.all_told(), "{report:?}");
    (email, report.placement)
}

#[tokio::test]
async fn send_ping_download_exact_bytes() {
    let world = world().await;
    let recorder = Arc::new(Recorder::default());
    let alice = world.client_with(ALICE, 1, World::test_config(), Some(recorder.clone()));
    let email = email(alice.random_guid());
    let report = alice.send_email(&email).await.expect("sent");

    // Three files × (7 data + 1 parity) stripes, each on its own RAIDA.
    assert_eq!(report.stripes_uploaded, 24);
    assert_eq!(report.upload_retries, 0);
    assert!(report.stripes_failed.is_empty());
    assert_eq!(world.total_uploads(), 24);
    assert_eq!(recorder.uploaded.lock().unwrap().len(), 24);
    for raida in report.placement.raidas() {
        assert_eq!(world.raidas[usize::from(*raida)].uploads(), 3);
    }
    // One tell per beacon: beacon 5 names BOB and DAVE, beacon 9 names CAROL.
    assert_eq!(report.tells.len(), 2);
    assert_eq!(report.tells[0].beacon, 5);
    assert_eq!(report.tells[0].recipients, vec![BOB, DAVE]);
    assert_eq!(report.tells[1].beacon, 9);
    assert_eq!(report.tells[1].recipients, vec![CAROL]);
    assert!(report.tells.iter().all(|t| t.status() == Some(250)));
    assert_eq!(world.raidas[5].state.lock().unwrap().tells, 1);
    assert_eq!(world.raidas[9].state.lock().unwrap().tells, 1);

    let sent = recorder.tells_sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].status, Some(250));
    assert_eq!(sent[0].header_timestamp_s as u64, common::NOW_S);
    assert_eq!(sent[0].routing_timestamp_s as u64, common::NOW_S);

    for (mailbox, seed) in [(BOB, 2), (CAROL, 3), (DAVE, 4)] {
        let recorder = Arc::new(Recorder::default());
        let client = world.client_with(mailbox, seed, World::test_config(), Some(recorder.clone()));
        let tell = single_tell(client.ping().await.expect("ping"));
        // The record arrives byte for byte as the sender built it.
        let beacon = world.directory.beacon_of(mailbox);
        let sent_record = sent.iter().find(|s| s.beacon == beacon).unwrap();
        assert_eq!(tell.raw, sent_record.record);
        assert_eq!(
            recorder.received.lock().unwrap()[0],
            (beacon, PollKind::Ping, tell.raw.clone())
        );
        let header = &tell.record.file_header;
        assert_eq!(header.email_id, email.guid);
        assert_eq!(header.stripe_count, 8);
        assert_eq!(header.total_file_size, 5_000);
        assert!(header.crc32_present());
        assert_eq!(header.sender_serial_number, ALICE.serial_number);
        let files = client.download_email(&tell.record).await.expect("download");
        assert_eq!(files.len(), 3);
        assert_eq!((files[0].file_type, &files[0].bytes), (0x01, &email.body));
        assert_eq!(
            (files[1].file_type, &files[1].bytes),
            (0x0A, &email.attachments[0])
        );
        assert_eq!(
            (files[2].file_type, &files[2].bytes),
            (0x0B, &email.attachments[1])
        );
        assert!(files.iter().all(|f| f.rebuilt_stripe.is_none()));
        // The inbox is empty now: peek says so.
        assert_eq!(client.peek(0).await.expect("peek"), Poll::Empty);
    }
}

#[tokio::test]
async fn one_storage_raida_down_is_rebuilt_from_parity() {
    let world = world().await;
    let (email, placement) = send(&world).await;
    let down_stripe = 3;
    let down_raida = placement.raidas()[down_stripe];
    world.raidas[usize::from(down_raida)].set_mode(Mode::Down);
    let recorder = Arc::new(Recorder::default());
    let bob = world.client_with(BOB, 2, World::test_config(), Some(recorder.clone()));
    let tell = single_tell(bob.peek(0).await.expect("peek"));
    let files = bob.download_email(&tell.record).await.expect("rebuilt");
    assert_eq!(files[0].bytes, email.body);
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert_eq!(files[2].bytes, email.attachments[1]);
    for file in &files {
        assert_eq!(file.rebuilt_stripe, Some(down_stripe));
        assert_eq!(
            file.fault,
            Some(StripeFault::Missing {
                stripe_index: down_stripe
            })
        );
    }
    let rebuilt = recorder.rebuilt.lock().unwrap();
    assert_eq!(rebuilt.len(), 3);
    assert!(rebuilt.iter().all(|r| r.raida_index == down_raida));
}

#[tokio::test]
async fn parity_raida_silent_times_out_and_data_still_arrives() {
    let world = world().await;
    let (email, placement) = send(&world).await;
    let parity_raida = *placement.raidas().last().unwrap();
    world.raidas[usize::from(parity_raida)].set_mode(Mode::Silent);
    let bob = world.client(BOB, 2);
    let tell = single_tell(bob.ping().await.expect("ping"));
    let files = bob.download_email(&tell.record).await.expect("downloaded");
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert_eq!(files[1].rebuilt_stripe, Some(7));
}

#[tokio::test]
async fn lying_raida_is_found_by_crc() {
    let world = world().await;
    let (email, placement) = send(&world).await;
    let liar_stripe = 5;
    let liar = placement.raidas()[liar_stripe];
    world.raidas[usize::from(liar)].set_mode(Mode::CorruptDownloads);
    let bob = world.client(BOB, 2);
    let tell = single_tell(bob.ping().await.expect("ping"));
    let files = bob.download_email(&tell.record).await.expect("repaired");
    assert_eq!(files[0].bytes, email.body);
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert_eq!(files[2].bytes, email.attachments[1]);
    for file in &files {
        assert_eq!(
            file.fault,
            Some(StripeFault::Corrupt {
                stripe_index: liar_stripe
            })
        );
    }
}

#[tokio::test]
async fn two_raidas_down_is_a_clear_error() {
    let world = world().await;
    let (_, placement) = send(&world).await;
    let bob = world.client(BOB, 2);
    let tell = single_tell(bob.ping().await.expect("ping"));
    world.raidas[usize::from(placement.raidas()[1])].set_mode(Mode::Down);
    world.raidas[usize::from(placement.raidas()[6])].set_mode(Mode::Silent);
    let error = bob
        .download_email(&tell.record)
        .await
        .expect_err("two missing");
    match &error {
        ClientError::FileUnrecoverable {
            file_type,
            failures,
            ..
        } => {
            assert_eq!(*file_type, 0x01);
            let indexes: Vec<usize> = failures.iter().map(|f| f.stripe_index).collect();
            assert_eq!(indexes, vec![1, 6]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains("stripes 1 and 6 failed"), "{text}");
    assert!(
        text.contains(&format!("RAIDA {}", placement.raidas()[6])),
        "{text}"
    );
    assert!(text.contains("timed out"), "{text}");
    // Per-file results say the same for every file.
    let results = bob
        .download_files(&tell.record)
        .await
        .expect("usable record");
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(ClientError::FileUnrecoverable { .. }))));
}

#[tokio::test]
async fn one_down_and_one_lying_never_gives_wrong_bytes() {
    let world = world().await;
    let (_, placement) = send(&world).await;
    let bob = world.client(BOB, 2);
    let tell = single_tell(bob.ping().await.expect("ping"));
    world.raidas[usize::from(placement.raidas()[0])].set_mode(Mode::Down);
    world.raidas[usize::from(placement.raidas()[4])].set_mode(Mode::CorruptDownloads);
    let error = bob
        .download_email(&tell.record)
        .await
        .expect_err("cannot rebuild");
    assert!(
        matches!(error, ClientError::FileUnrecoverable { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn file_too_large_is_refused_before_any_upload() {
    let world = world().await;
    let alice = world.client(ALICE, 1);
    let mut email = Email::new(alice.random_guid(), b"hi".to_vec());
    email.recipients = vec![Recipient::to(BOB)];
    email.attachments = vec![vec![0u8; 7 * 65_447 + 1]];
    let error = alice.send_email(&email).await.expect_err("too large");
    let text = error.to_string();
    assert!(
        matches!(
            error,
            ClientError::FileTooLarge {
                file_type: 0x0A,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("458129"), "limit named: {text}");
    assert!(
        text.contains("8 data stripes would fit"),
        "width named: {text}"
    );
    assert_eq!(world.total_uploads(), 0);
    assert!(world
        .raidas
        .iter()
        .all(|r| r.state.lock().unwrap().tells == 0));
    // Beyond the widest stripe set no width fits.
    email.attachments = vec![vec![0u8; 31 * 65_447 + 1]];
    let text = alice
        .send_email(&email)
        .await
        .expect_err("too large")
        .to_string();
    assert!(text.contains("no stripe width fits"), "{text}");
    assert_eq!(world.total_uploads(), 0);
}

#[tokio::test]
async fn upload_failure_blocks_the_tell_unless_the_policy_allows_one() {
    let world = world().await;
    let alice = world.client(ALICE, 1);
    let guid = alice.random_guid();
    let placement = Placement::from_guid(&guid, DataStripeCount::DEFAULT).unwrap();
    let down = placement.raidas()[2];
    world.raidas[usize::from(down)].set_mode(Mode::Down);
    let error = alice
        .send_email(&email(guid))
        .await
        .expect_err("incomplete");
    match &error {
        ClientError::UploadIncomplete { failures, .. } => {
            assert_eq!(failures.len(), 3);
            assert!(failures
                .iter()
                .all(|f| f.stripe_index == 2 && f.raida_index == down));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(world
        .raidas
        .iter()
        .all(|r| r.state.lock().unwrap().tells == 0));

    let lenient = world.client_with(
        ALICE,
        7,
        Config {
            send_policy: SendPolicy::AllowOneMissingPerFile,
            ..World::test_config()
        },
        None,
    );
    let email = email(guid);
    let report = lenient
        .send_email(&email)
        .await
        .expect("sent with one missing");
    assert_eq!(report.stripes_uploaded, 21);
    assert_eq!(report.stripes_failed.len(), 3);
    assert!(report.all_told());
    let bob = world.client(BOB, 2);
    let tell = single_tell(bob.ping().await.expect("ping"));
    let files = bob.download_email(&tell.record).await.expect("rebuilt");
    assert_eq!(files[1].bytes, email.attachments[0]);
    assert_eq!(files[1].rebuilt_stripe, Some(2));
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let world = world().await;
    let alice = world.client(ALICE, 1);
    let guid = alice.random_guid();
    let placement = Placement::from_guid(&guid, DataStripeCount::DEFAULT).unwrap();
    let flaky = usize::from(placement.raidas()[0]);
    world.raidas[flaky].set_mode(Mode::DropFirst(2));
    let report = alice.send_email(&email(guid)).await.expect("sent");
    assert_eq!(report.upload_retries, 2);
    assert_eq!(world.raidas[flaky].uploads(), 3);
    // Retries are bounded: a RAIDA that keeps dropping fails after 1 + retries_max attempts.
    world.raidas[flaky].set_mode(Mode::Down);
    let before = world.raidas[flaky]
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    let error = alice.echo(flaky as u8).await.expect_err("down");
    assert!(error.is_transient(), "{error}");
    let after = world.raidas[flaky]
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 3);
    assert!(alice.echo(0).await.is_ok() || flaky == 0);
}

#[tokio::test]
async fn ping_timeout_statuses_17_and_245_both_mean_poll_again() {
    let world = world().await;
    let bob = world.client(BOB, 2);
    let beacon = usize::from(world.directory.beacon_of(BOB));
    for status in [17u8, 245] {
        *world.raidas[beacon].ping_timeout_status.lock().unwrap() = status;
        assert_eq!(bob.ping().await.expect("timed out"), Poll::TimedOut);
    }
    // Any other error status is an error that names it.
    *world.raidas[beacon].ping_timeout_status.lock().unwrap() = 194;
    let error = bob.ping().await.expect_err("filesystem");
    assert!(
        error.to_string().contains("ERROR_FILESYSTEM (194)"),
        "{error}"
    );
}

#[tokio::test]
async fn legacy_v0_records_parse_among_v1_records() {
    let world = world().await;
    let (email, _) = send(&world).await;
    let beacon = usize::from(world.directory.beacon_of(BOB));
    // A legacy record with its 18-byte footer, then one without, after the real v1 tell.
    let legacy = |seed: u8, footer: bool| TellRecord {
        file_header: FileHeader {
            email_id: [seed; 16],
            sender_coin_id: 6,
            stripe_count: 2,
            version: 2,
            manifest_version: 0,
            edit_sequence: 3,
            total_file_size: 10,
            ..FileHeader::default()
        },
        servers: vec![ServerEntry::default(); 2],
        manifest: Vec::new(),
        manifest_excess: Vec::new(),
        legacy_footer: footer.then_some(LegacyFooter {
            recipient_locker: [0x42; 16],
        }),
    };
    let with_footer = legacy(0x77, true).to_bytes();
    let without_footer = legacy(0x78, false).to_bytes();
    world.raidas[beacon].stuff_inbox(BOB, with_footer.clone());
    world.raidas[beacon].stuff_inbox(BOB, without_footer.clone());
    let bob = world.client(BOB, 2);
    let Poll::Tells(tells) = bob.ping().await.expect("ping") else {
        panic!("expected tells");
    };
    assert_eq!(tells.len(), 3);
    assert_eq!(tells[0].record.file_header.email_id, email.guid);
    assert_eq!(tells[1].raw, with_footer);
    assert_eq!(tells[1].raw.len(), 64 + 2 * 32 + 18);
    assert!(tells[1].record.legacy_footer.is_some());
    assert_eq!(tells[1].record.edit_sequence(), 0);
    assert_eq!(tells[2].raw, without_footer);
    // A legacy record cannot be downloaded: its sizes are not trustworthy.
    let error = bob
        .download_email(&tells[1].record)
        .await
        .expect_err("legacy");
    assert!(
        matches!(error, ClientError::RecordUnusable { .. }),
        "{error}"
    );
    let files = bob
        .download_email(&tells[0].record)
        .await
        .expect("v1 downloads");
    assert_eq!(files[0].bytes, email.body);
}

#[tokio::test]
async fn replayed_older_revision_is_resent_verbatim() {
    let world = world().await;
    let recorder = Arc::new(Recorder::default());
    let alice = world.client_with(ALICE, 1, World::test_config(), Some(recorder.clone()));
    let mut email = email(alice.random_guid());
    email.recipients = vec![Recipient::to(BOB)];
    alice.send_email(&email).await.expect("original");
    email.edit_sequence = 1;
    email.body = b"edited".to_vec();
    alice.send_email(&email).await.expect("revision");
    let old = recorder.tells_sent.lock().unwrap()[0].clone();
    assert_eq!(old.edit_sequence, 0);
    // The adversary re-sends the old record in a fresh request.
    let record = TellRecord::from_bytes(&old.record).expect("record");
    let recipients = vec![Recipient::to(BOB).address_entry(alice.identity().fee_locker_code)];
    let routing = TellRouting::for_record(&record, old.routing_timestamp_s);
    let outcome = alice
        .send_tell_record(old.beacon, &recipients, &record, &routing)
        .await;
    assert_eq!(outcome.status(), Some(250));
    assert_eq!(outcome.record, old.record);
    let sent = recorder.tells_sent.lock().unwrap();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].record, old.record);
    assert_eq!(sent[2].edit_sequence, 0);
}

#[tokio::test]
async fn response_counter_continue_works_when_both_sides_agree() {
    let world = world().await;
    send(&world).await;
    for raida in &world.raidas {
        *raida.response_counter.lock().unwrap() = ResponseCounter::Continue;
    }
    let bob = world.client_with(
        BOB,
        2,
        Config {
            response_counter: ResponseCounter::Continue,
            ..World::test_config()
        },
        None,
    );
    let tell = single_tell(bob.peek(0).await.expect("peek"));
    assert_eq!(
        bob.download_email(&tell.record)
            .await
            .expect("download")
            .len(),
        3
    );
}

#[tokio::test]
async fn empty_files_and_widths() {
    let world = world().await;
    for (seed, width) in [(1u64, 1usize), (2, 2), (3, 24)] {
        let alice = world.client_with(
            ALICE,
            seed,
            Config {
                data_stripe_count: DataStripeCount::new(width).unwrap(),
                ..World::test_config()
            },
            None,
        );
        let mut email = Email::new(alice.random_guid(), Vec::new());
        email.attachments = vec![bytes(9, 77), Vec::new()];
        email.recipients = vec![Recipient::to(CAROL)];
        let report = alice.send_email(&email).await.expect("sent");
        assert_eq!(report.placement.raidas().len(), width + 1);
        let carol = world.client(CAROL, 3);
        let tell = single_tell(carol.ping().await.expect("ping"));
        let files = carol.download_email(&tell.record).await.expect("download");
        assert_eq!(files[0].bytes, Vec::<u8>::new());
        assert_eq!(files[1].bytes, email.attachments[0]);
        assert_eq!(files[2].bytes, Vec::<u8>::new());
    }
}

#[tokio::test]
async fn forged_replies_are_refused_and_not_retried() {
    let world = world().await;
    let alice = world.client(ALICE, 1);
    world.raidas[3].set_mode(Mode::BadSignature);
    world.raidas[4].set_mode(Mode::WrongRaidaId);
    let connections = |i: usize| {
        world.raidas[i]
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let error = alice.echo(3).await.expect_err("forged");
    assert!(
        matches!(
            &error,
            ClientError::BadReply {
                fault: ReplyFault::BadSignature,
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_transient());
    assert_eq!(connections(3), 1);
    let error = alice.echo(4).await.expect_err("wrong raida");
    assert!(
        matches!(
            &error,
            ClientError::BadReply {
                fault: ReplyFault::WrongRaidaId { found: 5 },
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(connections(4), 1);
    // An unknown mailbox coin is refused by the RAIDA with 34, named.
    let stranger = world.client(MailboxId::new(0, 1), 9);
    let error = stranger.echo(0).await.expect_err("unknown coin");
    assert!(
        error.to_string().contains("ERROR_INVALID_ENCRYPTION (34)"),
        "{error}"
    );
}

#[tokio::test]
async fn input_errors_are_typed_and_reach_no_raida() {
    let world = world().await;
    let recorder = Arc::new(Recorder::default());
    let alice = world.client_with(ALICE, 1, World::test_config(), Some(recorder.clone()));
    let guid = alice.random_guid();
    let too_big = vec![0u8; 65_448];
    let error = alice
        .upload_stripe(0, &guid, 1, &too_big)
        .await
        .expect_err("too big");
    assert!(matches!(error, ClientError::InvalidInput { .. }), "{error}");
    assert!(matches!(
        alice.upload_stripe(25, &guid, 1, b"x").await,
        Err(ClientError::InvalidInput { .. })
    ));
    let mut email = Email::new(guid, b"x".to_vec());
    let error = alice.send_email(&email).await.expect_err("no recipients");
    assert!(
        error.to_string().contains("at least one recipient"),
        "{error}"
    );
    email.recipients = vec![Recipient::to(MailboxId::new(7, 1))];
    assert!(alice.send_email(&email).await.is_err());
    email.recipients = vec![Recipient::to(BOB)];
    email.attachments = vec![Vec::new(); 247];
    let error = alice
        .send_email(&email)
        .await
        .expect_err("too many attachments");
    assert!(error.to_string().contains("247 attachments"), "{error}");
    // A tell with no recipients is refused, reported with no status, and never sent.
    let record = TellRecord::new_v1(
        FileHeader::default(),
        vec![ServerEntry::default()],
        Vec::new(),
    );
    let routing = TellRouting::for_record(&record, 0);
    let outcome = alice.send_tell_record(5, &[], &record, &routing).await;
    assert_eq!(outcome.status(), None);
    assert!(matches!(
        outcome.result,
        Err(ClientError::InvalidInput { .. })
    ));
    assert_eq!(recorder.tells_sent.lock().unwrap().len(), 1);
    assert_eq!(world.total_uploads(), 0);
    let connections: u32 = world
        .raidas
        .iter()
        .map(|r| r.connections.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    assert_eq!(connections, 0);
}

/// `qmail echo` (default `--all`): one line per RAIDA with its address, round-trip time and
/// status; a RAIDA that is down, forges its signature, or answers a header error in the
/// public server's form (echo `00 00`, zero signature) is reported as such, and the command
/// fails.
#[tokio::test]
async fn qmail_echo_reports_every_raida_and_fails_when_one_is_down_or_wrong() {
    let world = world().await;
    world.raidas[2].set_mode(Mode::Down);
    world.raidas[3].set_mode(Mode::BadSignature);
    world.raidas[4].set_mode(Mode::HeaderError(4));
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = common::write_profile(dir.path(), ALICE, &world.directory, |raida| {
        common::an_of(ALICE, raida)
    });
    let (result, out) = common::qmail(&["--profile", &profile, "echo"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 26, "{out}");
    for (index, line) in lines[..25].iter().enumerate() {
        let addr = world.directory.addr(index as u8).expect("addr");
        assert!(
            line.starts_with(&format!("RAIDA {index:>2}  {addr} ")),
            "{line}"
        );
        assert!(line.contains(" ms  "), "{line}");
        let expected = match index {
            2 => "no reply: ",
            3 => "bad reply: reply signature is not the challenge XOR the AN",
            4 => "ERROR_INVALID_SHARD_ID (4)",
            _ => "STATUS_SUCCESS (250)",
        };
        assert!(line.contains(expected), "{line}");
    }
    assert_eq!(lines[25], "22 of 25 RAIDAs answered 250");
    match result {
        Err(qmail_client::cli::CliError::Incomplete { what, failures }) => {
            assert_eq!(what, "echo");
            assert_eq!(failures.len(), 3, "{failures:?}");
            assert!(failures[2].contains("ERROR_INVALID_SHARD_ID (4)"));
        }
        other => panic!("expected a failed echo, got {other:?}"),
    }
    // One RAIDA: one line and the summary, success.
    let (result, out) = common::qmail(&["--profile", &profile, "echo", "--raida", "5"]).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.ends_with("STATUS_SUCCESS (250)\n1 of 1 RAIDAs answered 250\n"),
        "{out}"
    );
    let (result, _) = common::qmail(&["--profile", &profile, "echo", "--raida", "4"]).await;
    assert!(result.is_err());
}
