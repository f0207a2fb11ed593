//! Peek (73) through `handle_request`: the empty reply, verbatim records, delete-on-read both
//! ways, the mtime filter on the server clock, the reply caps, and both response counters.

mod common;

use common::*;

#[tokio::test]
async fn peek_empty_is_250_with_eight_zero_bytes() {
    let f = fixture().await;
    let answer = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_eq!(answer.status(), Status::Success);
    assert_eq!(answer.header.body_size_bytes, 10);
    assert_eq!(answer.payload.as_deref(), Some(&[0u8; 8][..]));
    assert!(answer.deferred.is_none());
    assert!(!f.inbox_dir(RECIPIENT).exists(), "peek creates nothing");
}

#[tokio::test]
async fn peek_returns_records_verbatim_and_deletes_them_before_reply() {
    let f = fixture().await;
    let one = deliver(&f, guid(20), 0).await;
    let two = deliver(&f, guid(21), 3).await;
    set_mtime(&f.tell_path(RECIPIENT, guid(20)), NOW_S - 20);
    set_mtime(&f.tell_path(RECIPIENT, guid(21)), NOW_S - 10);
    // An orphan temp file of a crashed publish and a foreign file are ignored.
    std::fs::write(f.inbox_dir(RECIPIENT).join(".tmp.1.2.3.x.tell"), &one).expect("orphan");
    std::fs::write(f.inbox_dir(RECIPIENT).join("notes.txt"), b"hi").expect("foreign");
    f.recorder.take();
    let answer = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_eq!(answer.status(), Status::Success);
    assert_eq!(
        answer.records(),
        vec![one.clone(), two.clone()],
        "oldest first"
    );
    let payload = answer.payload.as_ref().expect("payload");
    assert_eq!(&payload[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(payload[8..], [one.clone(), two.clone()].concat());
    assert!(answer.deferred.is_none());
    assert!(!f.tell_path(RECIPIENT, guid(20)).exists(), "one-shot");
    assert!(!f.tell_path(RECIPIENT, guid(21)).exists());
    let events = f.recorder.take();
    assert!(events.contains(&Event::Read {
        command: Command::Peek,
        records: vec![one, two],
        delete_when: DeleteWhen::BeforeReply
    }));
    assert!(events.contains(&Event::Deleted {
        delete_when: DeleteWhen::BeforeReply,
        fates: vec![DeleteFate::Removed, DeleteFate::Removed]
    }));
    let again = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, 0).to_bytes(),
        )
        .await;
    assert_eq!(again.payload.as_deref(), Some(&[0u8; 8][..]));
}

#[tokio::test]
async fn peek_mtime_filter_uses_the_server_clock() {
    let f = fixture().await;
    let old = deliver(&f, guid(22), 0).await;
    let new = deliver(&f, guid(23), 0).await;
    set_mtime(&f.tell_path(RECIPIENT, guid(22)), NOW_S - 100);
    set_mtime(&f.tell_path(RECIPIENT, guid(23)), NOW_S - 50);
    let since = (NOW_S - 50) as u32;
    let answer = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, since).to_bytes(),
        )
        .await;
    assert_eq!(
        answer.records(),
        Vec::<Vec<u8>>::new(),
        "strictly newer only"
    );
    let since = (NOW_S - 51) as u32;
    let answer = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, since).to_bytes(),
        )
        .await;
    assert_eq!(answer.records(), vec![new]);
    // The older one stayed. A server clock 60 s ahead of the file system sees it at NOW-40.
    f.clock.set_fs_offset_us(60 * US_PER_S as i64);
    let answer = f
        .call(
            Command::Peek,
            RECIPIENT,
            &peek_body(RECIPIENT, since).to_bytes(),
        )
        .await;
    assert_eq!(answer.records(), vec![old]);
}

#[tokio::test]
async fn peek_errors() {
    let f = fixture().await;
    let good = peek_body(RECIPIENT, 0);
    let bytes = good.to_bytes();
    // 16: short and long bodies.
    for broken in [bytes[..51].to_vec(), [&bytes[..], &[0]].concat()] {
        assert_status_only(
            &f.call(Command::Peek, RECIPIENT, &broken).await,
            Status::InvalidPacketLength,
        );
    }
    // 37: bad CRC.
    let mut bad_crc = bytes.clone();
    bad_crc[12] ^= 1;
    assert_status_only(
        &f.call(Command::Peek, RECIPIENT, &bad_crc).await,
        Status::InvalidCrc,
    );
    // 8 and 200.
    let stranger = peek_body(STRANGER, 0).to_bytes();
    assert_status_only(
        &f.call(Command::Peek, RECIPIENT, &stranger).await,
        Status::CoinNotFound,
    );
    let mut wrong_an = good;
    wrong_an.preamble.an = SENDER.an;
    assert_status_only(
        &f.call(Command::Peek, RECIPIENT, &wrong_an.to_bytes()).await,
        Status::InvalidAn,
    );
    // 34: a key coin this RAIDA does not hold.
    let (packet, _) = f.packet(Command::Peek, STRANGER, &bytes);
    assert_eq!(
        f.call_unsigned(&packet).await.status(),
        Some(Status::InvalidEncryption)
    );
    // 33: terminator.
    let (mut packet, _) = f.packet(Command::Peek, RECIPIENT, &bytes);
    let last = packet.len() - 2;
    packet[last] = 0;
    assert_eq!(
        f.call_unsigned(&packet).await.status(),
        Some(Status::InvalidEof)
    );
    // 194: an inbox path that is not a directory.
    let blocked = f.inbox_dir(RECIPIENT);
    std::fs::create_dir_all(blocked.parent().expect("parent")).expect("mkdir");
    std::fs::write(&blocked, b"file").expect("block");
    assert_status_only(
        &f.call(Command::Peek, RECIPIENT, &bytes).await,
        Status::Filesystem,
    );
}

#[tokio::test]
async fn reply_count_cap_leaves_the_rest_for_the_next_poll() {
    let f = fixture_with(Settings {
        max_tells_per_reply: 2,
        ..Settings::default()
    })
    .await;
    let mut records = Vec::new();
    for n in 0..3u8 {
        records.push(deliver(&f, guid(30 + n), 0).await);
        set_mtime(
            &f.tell_path(RECIPIENT, guid(30 + n)),
            NOW_S - 30 + u64::from(n),
        );
    }
    let body = peek_body(RECIPIENT, 0).to_bytes();
    let first = f.call(Command::Peek, RECIPIENT, &body).await;
    assert_eq!(first.records(), records[..2].to_vec());
    let second = f.call(Command::Peek, RECIPIENT, &body).await;
    assert_eq!(second.records(), records[2..].to_vec());
}

#[tokio::test]
async fn reply_byte_cap_leaves_the_rest_for_the_next_poll() {
    // The smallest allowed max_reply_bytes, and 13 of the largest valid records (5168 bytes):
    // 12 fit in 65413 - 8 bytes, the 13th waits.
    let max_reply_bytes = raida_server::limits::REPLY_PAYLOAD_SIZE_BYTES_MIN;
    let f = fixture_with(Settings {
        max_reply_bytes,
        ..Settings::default()
    })
    .await;
    let mut records = Vec::new();
    for n in 0..13u8 {
        let body = tell_body_sized(guid(40 + n), vec![recipient(RECIPIENT, "PAY")], 0, 32, 255);
        assert_status_only(
            &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
            Status::Success,
        );
        let record = body.record.to_bytes();
        assert_eq!(record.len(), 5168);
        records.push(record);
        set_mtime(
            &f.tell_path(RECIPIENT, guid(40 + n)),
            NOW_S - 100 + u64::from(n),
        );
    }
    let ping = ping_body(RECIPIENT).to_bytes();
    let first = f.call(Command::Ping, RECIPIENT, &ping).await;
    assert_eq!(first.records(), records[..12].to_vec());
    assert!(first.payload.as_ref().expect("payload").len() <= max_reply_bytes);
    let second = f.call(Command::Ping, RECIPIENT, &ping).await;
    assert_eq!(second.records(), records[12..].to_vec());
}

#[tokio::test]
async fn delete_after_reply_keeps_tells_until_the_reply_is_written() {
    let f = fixture_with(Settings {
        delete_on_read: DeleteOnRead::AfterReply,
        ..Settings::default()
    })
    .await;
    let one = deliver(&f, guid(50), 0).await;
    deliver(&f, guid(51), 0).await;
    let body = peek_body(RECIPIENT, 0).to_bytes();
    let answer = f.call(Command::Peek, RECIPIENT, &body).await;
    assert_eq!(answer.records().len(), 2);
    assert!(f.tell_path(RECIPIENT, guid(50)).exists(), "still there");
    // A reply lost before it was written: the next poll gets the tells again.
    let again = f.call(Command::Peek, RECIPIENT, &body).await;
    assert_eq!(again.records().len(), 2);
    drop(again);
    // A newer edit of one tell arrives between the read and the delete: it stays.
    let newer = deliver(&f, guid(51), 1).await;
    let deferred = answer.deferred.expect("deferred delete");
    assert_eq!(deferred.mailbox(), RECIPIENT.mailbox());
    assert_eq!(deferred.items()[0].bytes, one);
    f.recorder.take();
    after_reply_written(&f.env, deferred).await;
    assert!(!f.tell_path(RECIPIENT, guid(50)).exists());
    assert!(f.recorder.take().contains(&Event::Deleted {
        delete_when: DeleteWhen::AfterReply,
        fates: vec![DeleteFate::Removed, DeleteFate::Replaced]
    }));
    let left = f.call(Command::Peek, RECIPIENT, &body).await;
    assert_eq!(left.records(), vec![newer]);
}

#[tokio::test]
async fn response_counter_continue_encrypts_after_the_request_blocks() {
    for counter in [
        ResponseCounterSetting::Restart,
        ResponseCounterSetting::Continue,
    ] {
        let f = fixture_with(Settings {
            response_counter: counter,
            ..Settings::default()
        })
        .await;
        let record = deliver(&f, guid(60), 0).await;
        let body = peek_body(RECIPIENT, 0).to_bytes();
        let (packet, sent) = f.packet(Command::Peek, RECIPIENT, &body);
        let Outcome::Reply(reply) = handle_request(&f.env, &packet).await else {
            panic!("reply");
        };
        // The right counter decodes (f.decode uses the setting) ...
        let answer = f.decode(&reply.bytes, &sent, None);
        assert_eq!(answer.records(), vec![record.clone()]);
        // ... the other one does not.
        let wrong_start = match counter {
            ResponseCounterSetting::Restart => ResponseCounter::Continue.start_block(52),
            ResponseCounterSetting::Continue => 0,
        };
        assert_eq!(ResponseCounter::Continue.start_block(52), 4);
        let cipher = PayloadCipher {
            key: sent.key,
            nonce: sent.nonce,
            start_block: wrong_start,
        };
        let (_, payload) = parse_response(&reply.bytes, &cipher).expect("parses");
        assert_ne!(payload.expect("payload")[8..], record[..]);
    }
}

/// A file system whose inbox listings wait (up to [`RENDEZVOUS_WAIT`]) until two listings are
/// under way, once armed: two concurrent polls of one inbox then both list it before either
/// reads a tell, unless the server keeps the second out until the first is done.
#[derive(Debug)]
struct RendezvousFs {
    armed: std::sync::atomic::AtomicBool,
    listings: tokio::sync::Barrier,
}

/// How long a listing waits for the other one.
const RENDEZVOUS_WAIT: Duration = Duration::from_millis(300);

impl raida_server::fs::Fs for RendezvousFs {
    fn create_dir_all<'a>(&'a self, path: &'a Path) -> raida_server::fs::FsFuture<'a, ()> {
        RealFs.create_dir_all(path)
    }
    fn create_new<'a>(
        &'a self,
        path: &'a Path,
    ) -> raida_server::fs::FsFuture<'a, Box<dyn raida_server::fs::FsFile>> {
        RealFs.create_new(path)
    }
    fn open_write<'a>(
        &'a self,
        path: &'a Path,
        offset_bytes: u64,
    ) -> raida_server::fs::FsFuture<'a, Box<dyn raida_server::fs::FsFile>> {
        RealFs.open_write(path, offset_bytes)
    }
    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> raida_server::fs::FsFuture<'a, ()> {
        RealFs.rename(from, to)
    }
    fn sync_dir<'a>(&'a self, path: &'a Path) -> raida_server::fs::FsFuture<'a, ()> {
        RealFs.sync_dir(path)
    }
    fn read<'a>(&'a self, path: &'a Path) -> raida_server::fs::FsFuture<'a, Vec<u8>> {
        RealFs.read(path)
    }
    fn read_dir<'a>(
        &'a self,
        path: &'a Path,
    ) -> raida_server::fs::FsFuture<'a, Vec<std::ffi::OsString>> {
        Box::pin(async move {
            if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = tokio::time::timeout(RENDEZVOUS_WAIT, self.listings.wait()).await;
            }
            RealFs.read_dir(path).await
        })
    }
    fn metadata<'a>(
        &'a self,
        path: &'a Path,
    ) -> raida_server::fs::FsFuture<'a, raida_server::fs::FileMeta> {
        RealFs.metadata(path)
    }
    fn remove_file<'a>(&'a self, path: &'a Path) -> raida_server::fs::FsFuture<'a, ()> {
        RealFs.remove_file(path)
    }
}

/// Two devices of one mailbox peek at the same moment: each tell reaches exactly one of
/// them (pages 003/004: "only the first device receives a given tell"). Found by the
/// simulator's interleaving knobs (many-devices with `fs_latency_ms_max`): both polls read
/// the same tells before either deleted them, and both replies carried them.
#[tokio::test]
async fn racing_peeks_of_one_mailbox_hand_each_tell_to_one_of_them() {
    let fs = Arc::new(RendezvousFs {
        armed: std::sync::atomic::AtomicBool::new(false),
        listings: tokio::sync::Barrier::new(2),
    });
    let f = fixture_on(Settings::default(), fs.clone()).await;
    let one = deliver(&f, guid(30), 0).await;
    let two = deliver(&f, guid(31), 0).await;
    fs.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let body = peek_body(RECIPIENT, 0).to_bytes();
    let (first, first_sent) = f.packet(Command::Peek, RECIPIENT, &body);
    let (second, second_sent) = f.packet(Command::Peek, RECIPIENT, &body);
    let (a, b) = tokio::join!(f.send(&first, &first_sent), f.send(&second, &second_sent));
    assert_eq!((a.status(), b.status()), (Status::Success, Status::Success));
    let counts = (a.records().len(), b.records().len());
    assert_eq!(
        counts.0 + counts.1,
        2,
        "two tells, two racing peeks: {counts:?}"
    );
    let mut received = a.records();
    received.extend(b.records());
    received.sort();
    let mut sent = vec![one, two];
    sent.sort();
    assert_eq!(
        received, sent,
        "each tell reaches exactly one of the racing peeks"
    );
    assert!(!f.tell_path(RECIPIENT, guid(30)).exists());
    assert!(!f.tell_path(RECIPIENT, guid(31)).exists());
}
