//! The server on a failing disk: a [`FaultyFs`] under the handlers fails chosen writes,
//! fsyncs, renames (an I/O error, or a full disk) or flips a byte of a read, and each test
//! checks what the pages say the client hears — upload and polls 194, a tell whose every
//! recipient failed 18, a corrupted stripe never sent (202) — that fees taken for failed work
//! come back, and that nothing acknowledged earlier is lost.

mod common;

use std::io::ErrorKind;

use common::*;
use raida_server::extension::{self, Extensions};
use raida_server::fs::{Fault, FaultyFs, FsOp};

async fn faulty_fixture(settings: Settings) -> (Fixture, Arc<FaultyFs>) {
    let faulty = Arc::new(FaultyFs::new(Arc::new(RealFs)));
    let f = fixture_on(settings, faulty.clone()).await;
    (f, faulty)
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".tmp."))
                .collect()
        })
        .unwrap_or_default()
}

async fn download(f: &Fixture, guid: [u8; 16], file_type: u8) -> Answer {
    let body = download_body(guid, file_type, 0);
    f.call(Command::Download, RECIPIENT, &body.to_bytes()).await
}

fn page_data(answer: &Answer) -> Vec<u8> {
    let payload = answer.payload.as_ref().expect("a page");
    DownloadPage::from_bytes(payload)
        .expect("page decodes")
        .data
}

#[tokio::test]
async fn a_failed_stripe_write_answers_194_refunds_and_keeps_the_acknowledged_stripe() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    upload(&f, guid(1), 1, b"acknowledged".to_vec()).await;
    assert_eq!(f.balance("PAY"), Some(9));
    let cases = [
        (FsOp::Create, ErrorKind::StorageFull),
        (FsOp::Write, ErrorKind::StorageFull),
        (FsOp::Sync, ErrorKind::Other),
        (FsOp::Close, ErrorKind::Other),
        (FsOp::Rename, ErrorKind::Other),
        (FsOp::SyncDir, ErrorKind::Other),
    ];
    for (op, kind) in cases {
        faulty.inject(Fault::on(op).error(kind).path_contains("stripes").times(1));
        let body = upload_body(guid(1), 1, b"replacement".to_vec(), "PAY");
        let answer = f.call(Command::Upload, SENDER, &body.to_bytes()).await;
        assert_status_only(&answer, Status::Filesystem);
        assert_eq!(f.balance("PAY"), Some(9), "{op:?}: the fee came back");
        faulty.heal();
        let stored = download(&f, guid(1), 1).await;
        assert_eq!(stored.status(), Status::Success, "{op:?}");
        // Only a failed directory fsync leaves the rename done: either stripe is whole.
        let data = page_data(&stored);
        assert!(
            data == b"acknowledged" || (op == FsOp::SyncDir && data == b"replacement"),
            "{op:?}: {data:?}"
        );
        assert!(
            temp_files(f.env.stripes().dir()).is_empty(),
            "{op:?}: temp left"
        );
        if data == b"replacement" {
            upload(&f, guid(1), 1, b"acknowledged".to_vec()).await;
            assert_eq!(f.balance("PAY"), Some(8));
            f.env
                .with_lockers(|lockers| lockers.credit(&locker("PAY"), 1));
        }
    }
    let events = f.recorder.take();
    let stored = events
        .iter()
        .filter(|event| matches!(event, Event::Stripe { .. }))
        .count();
    assert!(stored >= 1, "only successful uploads are reported stored");
}

#[tokio::test]
async fn a_failed_ledger_write_answers_194_and_refunds() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    upload(&f, guid(2), 1, b"first".to_vec()).await;
    assert_eq!(f.balance("PAY"), Some(9));
    // The journal's append (write, fsync) and, after a failed one, its reopening.
    for op in [FsOp::Write, FsOp::Sync, FsOp::OpenWrite] {
        faulty.inject(
            Fault::on(op)
                .error(ErrorKind::StorageFull)
                .path_contains("ledger"),
        );
        let body = upload_body(guid(3), 1, b"second".to_vec(), "PAY");
        let answer = f.call(Command::Upload, SENDER, &body.to_bytes()).await;
        assert_status_only(&answer, Status::Filesystem);
        assert_eq!(f.balance("PAY"), Some(9), "{op:?}: refunded");
        faulty.heal();
    }
    // The ledger file still says what was acknowledged: 9.
    let mut ledger = LockerLedger::new();
    ledger.insert(locker("PAY"), 10);
    f.env.state().load_ledger(&mut ledger).await.expect("load");
    assert_eq!(ledger.balance(&locker("PAY")), Some(9));
    upload(&f, guid(3), 1, b"second".to_vec()).await;
    let mut ledger = LockerLedger::new();
    ledger.insert(locker("PAY"), 10);
    f.env.state().load_ledger(&mut ledger).await.expect("load");
    assert_eq!(ledger.balance(&locker("PAY")), Some(8));
    assert!(temp_files(f.env.state().dir()).is_empty());
}

#[tokio::test]
async fn a_tell_whose_every_recipient_failed_answers_18_and_earlier_tells_stay() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let earlier = deliver(&f, guid(4), 0).await;
    for op in [FsOp::Create, FsOp::Write, FsOp::Sync, FsOp::Rename] {
        faulty.inject(
            Fault::on(op)
                .error(ErrorKind::StorageFull)
                .path_contains("inbox"),
        );
        let body = tell_body(guid(5), vec![recipient(RECIPIENT, "PAY")], 0);
        let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
        assert_status_only(&answer, Status::WrongRaida);
        faulty.heal();
        assert!(!f.tell_path(RECIPIENT, guid(5)).exists(), "{op:?}");
        assert!(temp_files(&f.inbox_dir(RECIPIENT)).is_empty(), "{op:?}");
    }
    assert_eq!(f.stored_record(RECIPIENT, guid(4)), earlier);
    // One recipient's inbox fails, the other's takes it: 250.
    let fee_box_inbox = f.inbox_dir(FEE_BOX).to_string_lossy().into_owned();
    faulty.inject(Fault::on(FsOp::Write).path_contains(&fee_box_inbox));
    let body = tell_body(
        guid(6),
        vec![recipient(RECIPIENT, "PAY"), recipient(FEE_BOX, "PAY")],
        0,
    );
    let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
    assert!(f.tell_path(RECIPIENT, guid(6)).exists());
    assert!(!f.tell_path(FEE_BOX, guid(6)).exists());
    assert_eq!(f.balance("PAY"), Some(10), "a tell spends no fee");
}

#[tokio::test]
async fn polls_answer_194_when_the_inbox_cannot_be_listed_or_created_and_lose_nothing() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let record = deliver(&f, guid(7), 0).await;
    faulty.inject(Fault::on(FsOp::ReadDir).path_contains("inbox"));
    let peek = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_status_only(&peek, Status::Filesystem);
    let ping = f
        .call(Command::Ping, RECIPIENT, &ping_body(RECIPIENT).to_bytes())
        .await;
    assert_status_only(&ping, Status::Filesystem);
    faulty.heal();
    // A ping of an empty inbox that cannot be created: 194, not a park.
    faulty.inject(Fault::on(FsOp::CreateDir).error(ErrorKind::StorageFull));
    let (packet, _) = f.packet(Command::Ping, SENDER, &ping_body(SENDER).to_bytes());
    match handle_request(&f.env, &packet).await {
        Outcome::Reply(reply) => {
            let header = ResponseHeader::from_bytes(&reply.bytes[..32]).expect("header");
            assert_eq!(header.status, Status::Filesystem.code());
        }
        other => panic!("expected 194, got {other:?}"),
    }
    faulty.heal();
    let peek = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_eq!(peek.status(), Status::Success);
    assert_eq!(
        peek.records(),
        vec![record],
        "the acknowledged tell is still there"
    );
}

#[tokio::test]
async fn a_corrupted_stripe_is_never_sent_and_answers_202() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let data: Vec<u8> = (0..200u8).collect();
    upload(&f, guid(8), 1, data.clone()).await;
    faulty.inject(Fault::on(FsOp::Read).flip_byte().path_contains(".stripe"));
    let answer = download(&f, guid(8), 1).await;
    assert_status_only(&answer, Status::FileNotExist);
    // The beacon's size estimate skips an unreadable body stripe; the tell still lands.
    deliver(&f, guid(8), 0).await;
    faulty.heal();
    let answer = download(&f, guid(8), 1).await;
    assert_eq!(
        page_data(&answer),
        data,
        "the file itself was never touched"
    );
    // Decay on the disk itself (a data byte flipped in place): still 202, never the bytes.
    let path = f.env.stripes().stripe_path(Guid(guid(8)), 1);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&path, &bytes).expect("write");
    assert_status_only(&download(&f, guid(8), 1).await, Status::FileNotExist);
    // A fresh upload replaces the decayed file.
    upload(&f, guid(8), 1, data.clone()).await;
    assert_eq!(page_data(&download(&f, guid(8), 1).await), data);
}

#[tokio::test]
async fn a_stripe_read_flipped_once_is_read_again_and_sent_whole() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let data: Vec<u8> = (0..200u8).collect();
    upload(&f, guid(8), 1, data.clone()).await;
    faulty.inject(
        Fault::on(FsOp::Read)
            .flip_byte()
            .path_contains(".stripe")
            .times(1),
    );
    assert_eq!(page_data(&download(&f, guid(8), 1).await), data);
    assert_eq!(faulty.hit_count(), 1, "the first read was flipped");
}

#[tokio::test]
async fn a_tell_read_flipped_on_every_read_is_never_sent_and_stays() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let record = deliver(&f, guid(6), 0).await;
    faulty.inject(Fault::on(FsOp::Read).flip_byte().path_contains(".tell"));
    let peek_bytes = peek_body(RECIPIENT, 0).to_bytes();
    let peek = f.call(Command::Peek, RECIPIENT, &peek_bytes).await;
    assert_eq!(peek.status(), Status::Success);
    assert_eq!(
        peek.records(),
        Vec::<Vec<u8>>::new(),
        "no bad record goes out"
    );
    faulty.heal();
    let peek = f.call(Command::Peek, RECIPIENT, &peek_bytes).await;
    assert_eq!(
        peek.records(),
        vec![record],
        "delivered once the disk reads true"
    );
}

#[tokio::test]
async fn a_poll_whose_extension_state_cannot_be_written_answers_194_and_deletes_nothing() {
    let (f, faulty) = faulty_fixture(Settings::default()).await;
    let Fixture {
        dir,
        env,
        clock,
        recorder,
        nonce_seq,
    } = f;
    let guard = extension::by_name("replay_guard").expect("registered");
    let env = env.with_extensions(Extensions::new(vec![guard]).expect("claims"));
    let f = Fixture {
        dir,
        env,
        clock,
        recorder,
        nonce_seq,
    };
    let record = deliver(&f, guid(9), 1).await;
    faulty.inject(
        Fault::on(FsOp::Rename)
            .error(ErrorKind::StorageFull)
            .path_contains("extensions"),
    );
    let peek = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_status_only(&peek, Status::Filesystem);
    assert!(f.tell_path(RECIPIENT, guid(9)).exists(), "not deleted");
    faulty.heal();
    let peek = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_eq!(peek.records(), vec![record]);
    let saved = f
        .env
        .state()
        .load_extension("replay_guard")
        .await
        .expect("load")
        .expect("written once the disk healed");
    assert_eq!(saved.len(), 22, "one (mailbox, GUID) record");
}
