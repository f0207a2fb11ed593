//! The command handlers end to end, without a network: real encrypted packets built with
//! qmail-wire's client side go through `handle_request` on an `Env` over the real file system
//! (a temp dir) with a manual clock, and the replies are decoded with the client side of the
//! packet layer, signatures included.
//!
//! One test per status each command can return (the pages' status tables), then the
//! behaviours the pages single out: the edit_sequence guard, the total_file_size overwrite,
//! the peek mtime filter, the reply caps, delete-on-read both ways, both response counters,
//! the long poll, the rate limiter, and a proptest that malformed packets never panic and
//! never touch stored data.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use qmail_wire::body::{
    DownloadBody, EchoBody, PeekBody, PingBody, StorageDuration, TellBody, UploadBody,
};
use qmail_wire::codec::Codec;
use qmail_wire::crypto::{signature, Challenge, Key, ResponseCounter};
use qmail_wire::header::{Command, EncryptionType, RequestHeader, ResponseHeader};
use qmail_wire::packet::{
    encode_request, encode_request_with_header, parse_response, PayloadCipher, RequestMeta,
};
use qmail_wire::preamble::Preamble;
use qmail_wire::response::{DownloadPage, TellList};
use qmail_wire::tell::{
    locker_from_ascii, AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader,
    ServerEntry, TellRecord, FILE_FLAG_BODY, FILE_TYPE_BODY, MANIFEST_FLAG_CRC32_PRESENT,
};
use qmail_wire::validate::TellRule;
use qmail_wire::Status;

use raida_server::clock::{ManualClock, US_PER_S};
use raida_server::coins::{locker_code_from_ascii, CoinTable, InboxFees, LockerLedger};
use raida_server::env::{Env, EnvParts};
use raida_server::fs::{NoopHook, RealFs};
use raida_server::handler::{
    after_reply_written, handle_request, ping_timeout_reply, resume_ping, wait_parked,
    DeferredDelete, Outcome, ParkedPing,
};
use raida_server::observer::{DeleteWhen, Observer, RecipientRefusal, RequestOutcome, ServerEvent};
use raida_server::settings::{DeleteOnRead, RateLimit, ResponseCounterSetting, Settings};
use raida_server::store::inbox::DeleteFate;
use raida_server::store::Guid;
use raida_server::watch::MailboxId;

const RAIDA: u8 = 7;
const NOW_S: u64 = 1_750_000_000;

/// A coin this RAIDA holds (or, for `STRANGER`, does not).
#[derive(Clone, Copy, Debug)]
struct Coin {
    denomination: i8,
    serial_number: u32,
    an: Key,
}

impl Coin {
    fn mailbox(&self) -> MailboxId {
        MailboxId {
            denomination: self.denomination,
            serial_number: self.serial_number,
        }
    }
}

const SENDER: Coin = Coin {
    denomination: 1,
    serial_number: 1001,
    an: [0x51; 16],
};
const RECIPIENT: Coin = Coin {
    denomination: 1,
    serial_number: 2002,
    an: [0x52; 16],
};
/// A mailbox with an inbox fee of 3.
const FEE_BOX: Coin = Coin {
    denomination: -2,
    serial_number: 3003,
    an: [0x53; 16],
};
const STRANGER: Coin = Coin {
    denomination: 2,
    serial_number: 9999,
    an: [0x59; 16],
};

// ---------------------------------------------------------------------------------------------
// Recording observer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Event {
    Request {
        command: Option<Command>,
        outcome: RequestOutcome,
        caller: Option<MailboxId>,
    },
    TellHandled {
        status: u8,
        rule: Option<TellRule>,
        delivered_count: usize,
    },
    Published {
        mailbox: MailboxId,
        guid: Guid,
        edit_sequence: u8,
        stored: Vec<u8>,
        claimed: u32,
        stored_size: u32,
    },
    Skipped {
        mailbox: MailboxId,
        incoming: u8,
        existing: u8,
    },
    Refused {
        recipient_index: usize,
        refusal: RecipientRefusal,
    },
    Read {
        command: Command,
        records: Vec<Vec<u8>>,
        delete_when: DeleteWhen,
    },
    Deleted {
        delete_when: DeleteWhen,
        fates: Vec<DeleteFate>,
    },
    Stripe {
        guid: Guid,
        file_type: u8,
        size_bytes: usize,
        expires_at_unix_s: Option<u64>,
        fee_spent: u64,
    },
    Parked(MailboxId),
    Resumed(u8),
    TimedOut(u8),
}

#[derive(Debug, Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("lock"))
    }
}

impl Observer for Recorder {
    fn observe(&self, event: &ServerEvent<'_>) {
        let recorded = match *event {
            ServerEvent::RequestHandled {
                command,
                outcome,
                caller,
                raida_id,
                ..
            } => {
                assert_eq!(raida_id, RAIDA);
                Event::Request {
                    command,
                    outcome,
                    caller,
                }
            }
            ServerEvent::TellHandled {
                status,
                rule,
                delivered_count,
                ..
            } => Event::TellHandled {
                status,
                rule,
                delivered_count,
            },
            ServerEvent::TellPublished {
                mailbox,
                guid,
                edit_sequence,
                stored,
                total_file_size_claimed,
                total_file_size_stored,
                ..
            } => Event::Published {
                mailbox,
                guid,
                edit_sequence,
                stored: stored.to_vec(),
                claimed: total_file_size_claimed,
                stored_size: total_file_size_stored,
            },
            ServerEvent::TellSkipped {
                mailbox,
                incoming_edit_sequence,
                existing_edit_sequence,
                ..
            } => Event::Skipped {
                mailbox,
                incoming: incoming_edit_sequence,
                existing: existing_edit_sequence,
            },
            ServerEvent::RecipientRefused {
                recipient_index,
                refusal,
                ..
            } => Event::Refused {
                recipient_index,
                refusal: refusal.clone(),
            },
            ServerEvent::TellsRead {
                command,
                tells,
                delete_when,
                ..
            } => Event::Read {
                command,
                records: tells.iter().map(|item| item.bytes.clone()).collect(),
                delete_when,
            },
            ServerEvent::TellsDeleted {
                delete_when, fates, ..
            } => Event::Deleted {
                delete_when,
                fates: fates.to_vec(),
            },
            ServerEvent::StripeStored {
                guid,
                file_type,
                size_bytes,
                expires_at_unix_s,
                fee_spent,
                ..
            } => Event::Stripe {
                guid,
                file_type,
                size_bytes,
                expires_at_unix_s,
                fee_spent,
            },
            ServerEvent::PingParked { mailbox, .. } => Event::Parked(mailbox),
            ServerEvent::PingResumed { status, .. } => Event::Resumed(status),
            ServerEvent::PingTimedOut { status, .. } => Event::TimedOut(status),
        };
        self.events.lock().expect("lock").push(recorded);
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture and client side
// ---------------------------------------------------------------------------------------------

struct Fixture {
    dir: tempfile::TempDir,
    env: Env,
    clock: ManualClock,
    recorder: Arc<Recorder>,
    nonce_seq: Mutex<u64>,
}

fn locker(text: &str) -> [u8; 16] {
    locker_code_from_ascii(text).expect("locker code")
}

async fn fixture_with(settings: Settings) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut coins = CoinTable::new();
    for coin in [SENDER, RECIPIENT, FEE_BOX] {
        coins.insert(coin.denomination, coin.serial_number, coin.an);
    }
    let mut lockers = LockerLedger::new();
    lockers.insert(locker("PAY"), 10);
    lockers.insert(locker("POOR"), 0);
    lockers.insert(locker("TWO"), 2);
    let mut inbox_fees = InboxFees::new();
    inbox_fees.insert(FEE_BOX.denomination, FEE_BOX.serial_number, 3);
    let clock = ManualClock::new(NOW_S * US_PER_S);
    let recorder = Arc::new(Recorder::default());
    let env = Env::new(EnvParts {
        clock: Arc::new(clock.clone()),
        fs: Arc::new(RealFs),
        hook: Arc::new(NoopHook),
        rng_seed: 1,
        root: dir.path().to_path_buf(),
        raida_id: RAIDA,
        process_id: 77,
        settings,
        coins,
        lockers,
        inbox_fees,
    })
    .expect("env")
    .with_observer(recorder.clone());
    env.prepare().await.expect("prepare");
    Fixture {
        dir,
        env,
        clock,
        recorder,
        nonce_seq: Mutex::new(0),
    }
}

async fn fixture() -> Fixture {
    fixture_with(Settings::default()).await
}

fn preamble(coin: Coin, seed: u8) -> Preamble {
    Preamble::new(
        Challenge::from_random([seed; 12]),
        coin.denomination,
        coin.serial_number,
        coin.an,
    )
}

/// A decoded reply.
#[derive(Debug)]
struct Answer {
    header: ResponseHeader,
    payload: Option<Vec<u8>>,
    deferred: Option<DeferredDelete>,
}

impl Answer {
    fn status(&self) -> Status {
        self.header.status().expect("known status")
    }

    fn tell_list(&self) -> TellList {
        let payload = self.payload.as_ref().expect("a tell-list payload");
        TellList::from_bytes(payload).expect("tell list decodes")
    }

    /// The raw records of a tell-list payload (verbatim file bytes).
    fn records(&self) -> Vec<Vec<u8>> {
        self.tell_list()
            .records
            .iter()
            .map(|record| record.to_bytes())
            .collect()
    }
}

/// What the client needs to read a reply to one request.
#[derive(Clone, Copy, Debug)]
struct Sent {
    key: Key,
    nonce: [u8; 8],
    challenge: Challenge,
    body_plain_size_bytes: usize,
}

impl Fixture {
    fn nonce(&self) -> [u8; 8] {
        let mut seq = self.nonce_seq.lock().expect("lock");
        *seq += 1;
        seq.to_be_bytes()
    }

    fn counter(&self) -> ResponseCounter {
        match self.env.settings().response_counter {
            ResponseCounterSetting::Restart => ResponseCounter::Restart,
            ResponseCounterSetting::Continue => ResponseCounter::Continue,
        }
    }

    /// An encrypted request keyed by `key`'s AN.
    fn packet(&self, command: Command, key: Coin, body_plain: &[u8]) -> (Vec<u8>, Sent) {
        let nonce = self.nonce();
        let meta = RequestMeta {
            raida_id: RAIDA,
            command,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: key.denomination,
            key_serial_number: key.serial_number,
            nonce,
        };
        let challenge = Challenge(body_plain[..16].try_into().expect("16 bytes"));
        let sent = Sent {
            key: key.an,
            nonce,
            challenge,
            body_plain_size_bytes: body_plain.len(),
        };
        (encode_request(&meta, &key.an, body_plain), sent)
    }

    fn decode(&self, bytes: &[u8], sent: &Sent, deferred: Option<DeferredDelete>) -> Answer {
        let cipher = PayloadCipher {
            key: sent.key,
            nonce: sent.nonce,
            start_block: self.counter().start_block(sent.body_plain_size_bytes),
        };
        let (header, payload) = parse_response(bytes, &cipher).expect("reply parses");
        assert_eq!(header.raida_id, RAIDA);
        assert_eq!(header.shard_id, 0);
        assert_eq!(header.frame_count, 1);
        assert_eq!(
            header.signature,
            signature(&sent.challenge, &sent.key),
            "signed with challenge XOR key AN"
        );
        Answer {
            header,
            payload,
            deferred,
        }
    }

    async fn send(&self, packet: &[u8], sent: &Sent) -> Answer {
        match handle_request(&self.env, packet).await {
            Outcome::Reply(reply) => self.decode(&reply.bytes, sent, reply.deferred),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    async fn call(&self, command: Command, key: Coin, body_plain: &[u8]) -> Answer {
        let (packet, sent) = self.packet(command, key, body_plain);
        let answer = self.send(&packet, &sent).await;
        assert_eq!(answer.header.command_group, command.group());
        assert_eq!(answer.header.echo, [packet[30], packet[31]]);
        answer
    }

    /// Sends a packet whose reply comes before decryption: zero signature, status only.
    async fn call_unsigned(&self, packet: &[u8]) -> ResponseHeader {
        let Outcome::Reply(reply) = handle_request(&self.env, packet).await else {
            panic!("expected a reply");
        };
        assert!(reply.deferred.is_none());
        let header = ResponseHeader::from_bytes(&reply.bytes).expect("header only");
        assert_eq!(header.signature, [0; 16], "nothing to sign yet");
        assert_eq!(header.body_size_bytes, 0);
        header
    }

    fn inbox_dir(&self, coin: Coin) -> PathBuf {
        self.env.inbox().inbox_dir(coin.mailbox())
    }

    fn tell_path(&self, coin: Coin, guid: [u8; 16]) -> PathBuf {
        self.env.inbox().tell_path(coin.mailbox(), Guid(guid))
    }

    fn balance(&self, code: &str) -> Option<u64> {
        self.env
            .with_lockers(|lockers| lockers.balance(&locker(code)))
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn status_of(answer: &Answer) -> Status {
    answer.status()
}

fn assert_status_only(answer: &Answer, status: Status) {
    assert_eq!(answer.status(), status);
    assert_eq!(answer.header.body_size_bytes, 0, "status only");
    assert!(answer.payload.is_none());
}

// ---------------------------------------------------------------------------------------------
// Body builders
// ---------------------------------------------------------------------------------------------

fn recipient(coin: Coin, locker_text: &str) -> AddressEntry {
    AddressEntry::new(
        RecipientKind::To,
        coin.denomination,
        coin.serial_number,
        locker_from_ascii(locker_text).expect("locker"),
    )
}

/// A valid tell from SENDER: `server_count` servers, a body and one attachment.
fn tell_body(guid: [u8; 16], recipients: Vec<AddressEntry>, edit_sequence: u8) -> TellBody {
    tell_body_sized(guid, recipients, edit_sequence, 8, 2)
}

fn tell_body_sized(
    guid: [u8; 16],
    recipients: Vec<AddressEntry>,
    edit_sequence: u8,
    server_count: u8,
    file_count: u8,
) -> TellBody {
    let file_header = FileHeader {
        email_id: guid,
        sender_coin_id: 0x0006,
        sender_denomination: SENDER.denomination,
        sender_serial_number: SENDER.serial_number,
        sender_device_id: 3,
        client_timestamp_s: NOW_S as u32,
        locker_code: locker("DL"),
        total_file_size: 700,
        manifest_flags: MANIFEST_FLAG_CRC32_PRESENT,
        edit_sequence,
        parity_algo: 0,
        ..FileHeader::default()
    };
    let servers = (0..server_count)
        .map(|index| ServerEntry {
            stripe_index: index,
            stripe_type: u8::from(index + 1 == server_count),
            server_id: index,
            ..ServerEntry::default()
        })
        .collect();
    let manifest = (0..file_count)
        .map(|index| ManifestEntry {
            file_type: if index == 0 {
                FILE_TYPE_BODY
            } else {
                0x09u8.wrapping_add(index)
            },
            file_flags: if index == 0 { FILE_FLAG_BODY } else { 2 },
            original_size: 700 + u64::from(index),
            crc32: u32::from(index) * 7,
            ..ManifestEntry::default()
        })
        .collect();
    let record = TellRecord::new_v1(file_header, servers, manifest);
    let routing = RoutingHeader {
        email_id: guid,
        total_file_size: 700,
        client_timestamp_s: NOW_S as u32,
        ..RoutingHeader::default()
    };
    TellBody::new(preamble(SENDER, guid[0]), routing, recipients, record)
}

fn guid(n: u8) -> [u8; 16] {
    let mut bytes = [0xA0; 16];
    bytes[15] = n;
    bytes
}

fn upload_body(guid: [u8; 16], file_type: u8, data: Vec<u8>, locker_text: &str) -> UploadBody {
    UploadBody {
        preamble: preamble(SENDER, 0x21),
        guid,
        locker_code: locker(locker_text),
        file_type,
        storage_duration: StorageDuration::Permanent,
        data,
    }
}

fn download_body(guid: [u8; 16], file_type: u8, page_number: u32) -> DownloadBody {
    DownloadBody {
        preamble: preamble(RECIPIENT, 0x31),
        guid,
        locker_code: locker("DL"),
        file_type,
        bytes_per_page: 0,
        page_number,
    }
}

fn peek_body(coin: Coin, since_timestamp_s: u32) -> PeekBody {
    PeekBody {
        preamble: preamble(coin, 0x41),
        since_timestamp_s,
    }
}

fn ping_body(coin: Coin) -> PingBody {
    PingBody::with_timestamp(preamble(coin, 0x42), 0)
}

/// Sends a valid tell to RECIPIENT and checks it was delivered.
async fn deliver(f: &Fixture, guid: [u8; 16], edit_sequence: u8) -> Vec<u8> {
    let body = tell_body(guid, vec![recipient(RECIPIENT, "PAY")], edit_sequence);
    let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
    body.record.to_bytes()
}

async fn upload(f: &Fixture, guid: [u8; 16], file_type: u8, data: Vec<u8>) {
    let body = upload_body(guid, file_type, data, "PAY");
    let answer = f.call(Command::Upload, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
}

fn set_mtime(path: &Path, unix_s: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open tell");
    file.set_modified(UNIX_EPOCH + Duration::from_secs(unix_s))
        .expect("set mtime");
}

// ---------------------------------------------------------------------------------------------
// Header and packet errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn header_errors_in_order() {
    let f = fixture().await;
    let body = peek_body(RECIPIENT, 0).to_bytes();
    let good = RequestMeta {
        raida_id: RAIDA,
        command: Command::Peek,
        encryption_type: EncryptionType::Aes128Ctr,
        key_denomination: RECIPIENT.denomination,
        key_serial_number: RECIPIENT.serial_number,
        nonce: [9; 8],
    }
    .header(0);
    type Mutation = fn(&mut RequestHeader);
    let cases: [(Mutation, Status); 9] = [
        (|h| h.version = 2, Status::InvalidRouting),
        (|h| h.split_id = 1, Status::InvalidSplitId),
        (|h| h.raida_id = RAIDA + 1, Status::InvalidRaidaId),
        (|h| h.coin_id = 7, Status::InvalidCoinId),
        (|h| h.command_group = 9, Status::InvalidCommandGroup),
        (|h| h.command_code = 60, Status::InvalidCommand),
        (|h| h.encryption_type = 0, Status::InvalidEncryption),
        (
            |h| h.key_serial_number = STRANGER.serial_number,
            Status::InvalidEncryption,
        ),
        // Earlier rules win: a wrong version and a wrong split id is 255.
        (
            |h| {
                h.version = 0;
                h.split_id = 4;
            },
            Status::InvalidRouting,
        ),
    ];
    for (mutate, status) in cases {
        let mut header = good;
        mutate(&mut header);
        let packet = encode_request_with_header(&header, &RECIPIENT.an, &body);
        let reply = f.call_unsigned(&packet).await;
        assert_eq!(reply.status(), Some(status), "{header:?}");
        assert_eq!(reply.command_group, header.command_group);
        assert_eq!(reply.echo, [9, 9], "echo of request bytes 30-31");
    }
}

#[tokio::test]
async fn body_size_and_terminator_errors() {
    let f = fixture().await;
    let body = peek_body(RECIPIENT, 0).to_bytes();
    let (packet, _) = f.packet(Command::Peek, RECIPIENT, &body);
    // One byte more or less than body_size: 16.
    let mut long = packet.clone();
    long.push(0);
    assert_eq!(
        f.call_unsigned(&long).await.status(),
        Some(Status::InvalidPacketLength)
    );
    assert_eq!(
        f.call_unsigned(&packet[..packet.len() - 1]).await.status(),
        Some(Status::InvalidPacketLength)
    );
    // A header shorter than 32 bytes, and nothing at all: 16.
    for short in [&packet[..20], &[][..]] {
        let Outcome::Reply(reply) = handle_request(&f.env, short).await else {
            panic!("a reply");
        };
        let header = ResponseHeader::from_bytes(&reply.bytes).expect("header");
        assert_eq!(header.status(), Some(Status::InvalidPacketLength));
    }
    // A wrong terminator: 33.
    let mut bad_eof = packet.clone();
    let last = bad_eof.len() - 1;
    bad_eof[last] = 0x3F;
    assert_eq!(
        f.call_unsigned(&bad_eof).await.status(),
        Some(Status::InvalidEof)
    );
    // A body of one byte cannot hold the terminator: 16.
    let mut header = RequestHeader::from_bytes(&packet[..32]).expect("header");
    header.body_size_bytes = 1;
    let mut tiny = header.to_bytes();
    tiny.push(0x3E);
    assert_eq!(
        f.call_unsigned(&tiny).await.status(),
        Some(Status::InvalidPacketLength)
    );
    // A body that is only the terminator has no challenge: 16.
    header.body_size_bytes = 2;
    let mut empty = header.to_bytes();
    empty.extend_from_slice(&[0x3E, 0x3E]);
    assert_eq!(
        f.call_unsigned(&empty).await.status(),
        Some(Status::InvalidPacketLength)
    );
}

// ---------------------------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn echo_250_encrypted_and_plaintext() {
    let f = fixture().await;
    let body = EchoBody {
        challenge: Challenge::from_random([5; 12]),
    }
    .to_bytes();
    let answer = f.call(Command::Echo, SENDER, &body).await;
    assert_status_only(&answer, Status::Success);
    assert_eq!(answer.header.command_group, 0);

    // Encryption type 0 is allowed for echo. As on the public server (DECISIONS.md "Interop"),
    // bytes 17–21 are ignored: even a coin this RAIDA holds does not sign, the signature is
    // the challenge as it is (challenge XOR a zero key).
    let meta = RequestMeta {
        raida_id: RAIDA,
        command: Command::Echo,
        encryption_type: EncryptionType::None,
        key_denomination: SENDER.denomination,
        key_serial_number: SENDER.serial_number,
        nonce: [1; 8],
    };
    let packet = encode_request(&meta, &[0; 16], &body);
    let sent = Sent {
        key: [0; 16],
        nonce: [1; 8],
        challenge: Challenge::from_random([5; 12]),
        body_plain_size_bytes: body.len(),
    };
    let answer = f.send(&packet, &sent).await;
    assert_status_only(&answer, Status::Success);
    assert_eq!(&answer.header.signature, &body[..16]);

    // Bad challenge CRC: 37, still signed.
    let mut bad = body.clone();
    bad[15] ^= 1;
    let answer = f.call(Command::Echo, SENDER, &bad).await;
    assert_status_only(&answer, Status::InvalidCrc);
    // An echo body with extra bytes: 16.
    let mut long = body;
    long.push(0);
    assert_status_only(
        &f.call(Command::Echo, SENDER, &long).await,
        Status::InvalidPacketLength,
    );
}

// ---------------------------------------------------------------------------------------------
// Upload
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn upload_250_stores_pays_and_replaces() {
    let f = fixture().await;
    f.recorder.take();
    upload(&f, guid(1), FILE_TYPE_BODY, b"stripe one".to_vec()).await;
    assert_eq!(f.balance("PAY"), Some(9), "upload_fee 1 spent");
    let stored = f
        .env
        .stripes()
        .get(Guid(guid(1)), FILE_TYPE_BODY, NOW_S)
        .await
        .expect("get");
    assert_eq!(stored.as_deref(), Some(&b"stripe one"[..]));
    let events = f.recorder.take();
    assert!(events.contains(&Event::Stripe {
        guid: Guid(guid(1)),
        file_type: FILE_TYPE_BODY,
        size_bytes: 10,
        expires_at_unix_s: None,
        fee_spent: 1,
    }));
    assert!(events.contains(&Event::Request {
        command: Some(Command::Upload),
        outcome: RequestOutcome::Replied { status: 250 },
        caller: Some(SENDER.mailbox()),
    }));
    // A retry replaces; a week-long stripe expires a week later on the server clock.
    let mut body = upload_body(guid(1), FILE_TYPE_BODY, b"two".to_vec(), "PAY");
    body.storage_duration = StorageDuration::Week;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    let week_s = 7 * 86_400;
    assert!(f.recorder.take().contains(&Event::Stripe {
        guid: Guid(guid(1)),
        file_type: FILE_TYPE_BODY,
        size_bytes: 3,
        expires_at_unix_s: Some(NOW_S + week_s),
        fee_spent: 1,
    }));
    let stripes = f.env.stripes();
    let now = NOW_S + week_s - 1;
    let get = stripes.get(Guid(guid(1)), FILE_TYPE_BODY, now).await;
    assert_eq!(get.expect("get").as_deref(), Some(&b"two"[..]));
    let gone = stripes
        .get(Guid(guid(1)), FILE_TYPE_BODY, NOW_S + week_s)
        .await;
    assert_eq!(gone.expect("get"), None);
}

#[tokio::test]
async fn upload_errors() {
    let f = fixture().await;
    let good = upload_body(guid(2), FILE_TYPE_BODY, vec![1; 40], "PAY");
    let stripe_path = f.env.stripes().stripe_path(Guid(guid(2)), FILE_TYPE_BODY);

    // 16: data_length disagrees with the body size.
    let mut bytes = good.to_bytes();
    bytes[85] = 41;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &bytes).await,
        Status::InvalidPacketLength,
    );
    // 40: preamble denomination outside -8..=6 (before the coin lookup).
    let mut body = good.clone();
    body.preamble.denomination = 7;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::InvalidSnOrDenomination,
    );
    // 8: preamble coin not held here (the key coin is).
    let mut body = good.clone();
    body.preamble = preamble(STRANGER, 3);
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::CoinNotFound,
    );
    // 200: wrong AN.
    let mut body = good.clone();
    body.preamble.an = [0; 16];
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::InvalidAn,
    );
    // 198: storage_duration 9; but a wrong AN wins over it (field rules come last).
    let mut bytes = good.to_bytes();
    bytes[81] = 9;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &bytes).await,
        Status::InvalidParameter,
    );
    bytes[40] ^= 1;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &bytes).await,
        Status::InvalidAn,
    );
    // ... and a length error wins over it.
    let mut bytes = good.to_bytes();
    bytes[81] = 9;
    bytes[85] = 39;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &bytes).await,
        Status::InvalidPacketLength,
    );
    // 169: an empty locker, an unknown locker, a locker short of the fee.
    for locker_code in [[0u8; 16], locker("NOSUCH"), locker("POOR")] {
        let mut body = good.clone();
        body.locker_code = locker_code;
        assert_status_only(
            &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
            Status::PaymentRequired,
        );
    }
    assert_eq!(f.balance("PAY"), Some(10), "no refused upload paid");
    assert_eq!(f.balance("POOR"), Some(0));
    assert!(!stripe_path.exists(), "no refused upload stored anything");
}

#[tokio::test]
async fn upload_fee_zero_still_needs_a_locker_and_store_failure_refunds() {
    let f = fixture_with(Settings {
        upload_fee: 0,
        ..Settings::default()
    })
    .await;
    let mut body = upload_body(guid(3), 1, vec![2; 5], "NOSUCH");
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    body.locker_code = [0; 16];
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::PaymentRequired,
    );

    // A stripe directory that is a file: the store fails, 194, and the fee comes back.
    let f = fixture().await;
    let stripes = f.env.stripes().dir().to_path_buf();
    std::fs::remove_dir(&stripes).expect("remove stripes dir");
    std::fs::write(&stripes, b"not a dir").expect("file in its place");
    let body = upload_body(guid(3), 1, vec![2; 5], "TWO");
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::Filesystem,
    );
    assert_eq!(f.balance("TWO"), Some(2), "refunded");
}

// ---------------------------------------------------------------------------------------------
// Tell
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tell_250_publishes_verbatim_and_notifies() {
    let f = fixture().await;
    let mut subscription = f.env.watch().subscribe(RECIPIENT.mailbox());
    f.recorder.take();
    let body = tell_body(
        guid(4),
        vec![recipient(RECIPIENT, "PAY"), recipient(FEE_BOX, "TWO")],
        0,
    );
    let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
    let record = body.record.to_bytes();
    let on_disk = std::fs::read(f.tell_path(RECIPIENT, guid(4))).expect("tell file");
    assert_eq!(on_disk, record, "the record, verbatim");
    assert!(
        f.inbox_dir(RECIPIENT).ends_with("mailboxes/01/2002/inbox"),
        "{}",
        f.inbox_dir(RECIPIENT).display()
    );
    assert!(
        f.tell_path(RECIPIENT, guid(4))
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name == format!("00000000{}.tell", Guid(guid(4)))),
        "file name 00000000{{GUID}}.tell"
    );
    // FEE_BOX charges 3 and TWO holds 2: refused, and nothing is spent.
    assert!(!f.tell_path(FEE_BOX, guid(4)).exists());
    assert_eq!(f.balance("TWO"), Some(2));
    assert_eq!(
        f.balance("PAY"),
        Some(10),
        "the inbox fee is checked, not spent"
    );
    assert!(subscription.has_changed(), "parked pings are woken");
    tokio::time::timeout(Duration::from_millis(50), subscription.changed())
        .await
        .expect("woken");
    let events = f.recorder.take();
    assert!(events.contains(&Event::Published {
        mailbox: RECIPIENT.mailbox(),
        guid: Guid(guid(4)),
        edit_sequence: 0,
        stored: record.clone(),
        claimed: 700,
        stored_size: 700,
    }));
    assert!(events.contains(&Event::Refused {
        recipient_index: 1,
        refusal: RecipientRefusal::FeeUnpaid {
            fee: 3,
            balance: Some(2)
        },
    }));
    assert!(events.contains(&Event::TellHandled {
        status: 250,
        rule: None,
        delivered_count: 1
    }));
}

#[tokio::test]
async fn tell_18_when_no_recipient_is_delivered() {
    let f = fixture().await;
    let mut bad_denomination = recipient(RECIPIENT, "PAY");
    bad_denomination.denomination = 9;
    let mut bad_coin_id = recipient(RECIPIENT, "PAY");
    bad_coin_id.coin_id = 5;
    let mut empty_key = recipient(RECIPIENT, "PAY");
    empty_key.locker_payment_key = [0; 16];
    let unpaid = recipient(FEE_BOX, "NOSUCH");
    let body = tell_body(
        guid(5),
        vec![bad_denomination, bad_coin_id, empty_key, unpaid],
        0,
    );
    f.recorder.take();
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::WrongRaida,
    );
    let refusals: Vec<RecipientRefusal> = f
        .recorder
        .take()
        .into_iter()
        .filter_map(|event| match event {
            Event::Refused { refusal, .. } => Some(refusal),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals,
        vec![
            RecipientRefusal::BadDenomination,
            RecipientRefusal::BadCoinId,
            RecipientRefusal::EmptyLockerKey,
            RecipientRefusal::FeeUnpaid {
                fee: 3,
                balance: None
            },
        ]
    );
    // A missing fee record counts as 0: an unknown (but non-empty) locker pays it.
    let body = tell_body(guid(5), vec![recipient(RECIPIENT, "NOSUCH")], 0);
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    // A recipient whose inbox cannot be written: refused, 18 (never 194).
    let mailbox_dir = f
        .env
        .inbox()
        .mailbox_root()
        .join(format!("{:02x}", FEE_BOX.denomination as u8));
    std::fs::write(&mailbox_dir, b"a file where the directory goes").expect("block");
    let body = tell_body(guid(6), vec![recipient(FEE_BOX, "PAY")], 0);
    f.recorder.take();
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::WrongRaida,
    );
    assert!(f.recorder.take().iter().any(|event| matches!(
        event,
        Event::Refused {
            refusal: RecipientRefusal::Filesystem { .. },
            ..
        }
    )));
}

#[tokio::test]
async fn tell_preamble_and_length_errors() {
    let f = fixture().await;
    let good = tell_body(guid(7), vec![recipient(RECIPIENT, "PAY")], 0);
    // 16: one byte short, one byte long, address_count 0, server_count 0.
    let bytes = good.to_bytes();
    for broken in [
        bytes[..bytes.len() - 1].to_vec(),
        [&bytes[..], &[0]].concat(),
        {
            let mut zero = bytes.clone();
            zero[48 + 29] = 0;
            zero
        },
        {
            let mut zero = bytes.clone();
            zero[48 + 30] = 0;
            zero
        },
    ] {
        assert_status_only(
            &f.call(Command::Tell, SENDER, &broken).await,
            Status::InvalidPacketLength,
        );
    }
    // 40, 8, 200 from the preamble.
    let mut body = good.clone();
    body.preamble.denomination = -9;
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::InvalidSnOrDenomination,
    );
    let mut body = good.clone();
    body.preamble = preamble(STRANGER, 7);
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::CoinNotFound,
    );
    let mut body = good.clone();
    body.preamble.an[3] ^= 1;
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::InvalidAn,
    );
    // stripe_count != server_count with a correctly sized body: 198, not 16.
    let mut body = good.clone();
    body.record.file_header.stripe_count = 9;
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::InvalidParameter,
    );
    assert!(!f.inbox_dir(RECIPIENT).exists(), "nothing published");
}

#[tokio::test]
async fn tell_198_for_every_field_rule() {
    let f = fixture().await;
    type Breaker = fn(&mut TellBody);
    let cases: Vec<(Breaker, TellRule)> = vec![
        (
            |b| b.record.file_header.sender_coin_id = 7,
            TellRule::SenderCoinId,
        ),
        (
            |b| b.record.file_header.sender_denomination = 2,
            TellRule::SenderIdentity,
        ),
        (
            |b| b.record.file_header.sender_serial_number = 1,
            TellRule::SenderIdentity,
        ),
        (
            |b| b.routing.client_timestamp_s -= 61,
            TellRule::RoutingTimestamp,
        ),
        (
            |b| b.routing.client_timestamp_s += 61,
            TellRule::RoutingTimestamp,
        ),
        (
            |b| b.record.file_header.client_timestamp_s -= 61,
            TellRule::FileHeaderTimestamp,
        ),
        (|b| b.routing.tell_type = 1, TellRule::RoutingTellType),
        (
            |b| b.record.file_header.tell_type = 2,
            TellRule::FileHeaderTellType,
        ),
        (
            |b| b.record.file_header.stripe_count = 33,
            TellRule::StripeCountRange,
        ),
        (
            |b| b.record.file_header.stripe_count = 7,
            TellRule::StripeCountServerCount,
        ),
        (
            |b| b.record.file_header.email_id[0] ^= 1,
            TellRule::EmailIdMismatch,
        ),
        (
            |b| b.record.file_header.manifest_version = 2,
            TellRule::ManifestVersion,
        ),
        (
            |b| b.record.file_header.file_count = 0,
            TellRule::FileCountZero,
        ),
        (
            |b| b.record.file_header.file_entry_size = 8,
            TellRule::FileEntrySize,
        ),
        (
            |b| b.record.file_header.file_count = 3,
            TellRule::ManifestLength,
        ),
        (
            |b| b.record.file_header.manifest_flags |= 0x80,
            TellRule::ManifestFlagsReserved,
        ),
        (
            |b| b.record.file_header.reserved[0] = 1,
            TellRule::FileHeaderReserved,
        ),
        (
            |b| b.record.manifest[1].reserved[1] = 1,
            TellRule::ManifestEntryReserved,
        ),
        (
            |b| b.record.manifest[0].file_type = 0x0A,
            TellRule::FirstEntryNotBody,
        ),
    ];
    for (index, (breaker, rule)) in cases.into_iter().enumerate() {
        let mut body = tell_body(guid(8), vec![recipient(RECIPIENT, "PAY")], 0);
        breaker(&mut body);
        f.recorder.take();
        let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
        assert_status_only(&answer, Status::InvalidParameter);
        let events = f.recorder.take();
        assert!(
            events.contains(&Event::TellHandled {
                status: 198,
                rule: Some(rule),
                delivered_count: 0
            }),
            "case {index}: {events:?}"
        );
    }
    // The skew window is the server clock's: the same tell passes once the clock moves.
    let mut body = tell_body(guid(8), vec![recipient(RECIPIENT, "PAY")], 0);
    body.routing.client_timestamp_s += 100;
    body.record.file_header.client_timestamp_s += 100;
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::InvalidParameter,
    );
    f.clock.advance_us(100 * US_PER_S);
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
}

#[tokio::test]
async fn edit_sequence_guard() {
    let f = fixture().await;
    let five = deliver(&f, guid(9), 5).await;
    let path = f.tell_path(RECIPIENT, guid(9));
    // An older edit: skipped; its only recipient skipped means zero deliveries: 18.
    let older = tell_body(guid(9), vec![recipient(RECIPIENT, "PAY")], 4);
    f.recorder.take();
    assert_status_only(
        &f.call(Command::Tell, SENDER, &older.to_bytes()).await,
        Status::WrongRaida,
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        five,
        "older edit refused"
    );
    let events = f.recorder.take();
    assert!(events.contains(&Event::Skipped {
        mailbox: RECIPIENT.mailbox(),
        incoming: 4,
        existing: 5
    }));
    assert!(events.contains(&Event::TellHandled {
        status: 18,
        rule: None,
        delivered_count: 0
    }));
    // Equal overwrites (an idempotent re-send), newer overwrites.
    deliver(&f, guid(9), 5).await;
    let six = deliver(&f, guid(9), 6).await;
    assert_eq!(std::fs::read(&path).expect("read"), six);
    // The guard is per GUID: another email's edit 0 is delivered.
    deliver(&f, guid(10), 0).await;
}

/// Stores the tell of `body` after uploading a body stripe of `stripe_size_bytes` (if any) and
/// returns the stored file's bytes.
async fn stored_after_upload(f: &Fixture, body: &TellBody, stripe: Option<(u8, usize)>) -> Vec<u8> {
    let email = body.routing.email_id;
    if let Some((file_type, size_bytes)) = stripe {
        upload(f, email, file_type, vec![0x77; size_bytes]).await;
    }
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    std::fs::read(f.tell_path(RECIPIENT, email)).expect("tell file")
}

fn total_file_size(record: &[u8]) -> u32 {
    u32::from_be_bytes(record[46..50].try_into().expect("4 bytes"))
}

#[tokio::test]
async fn total_file_size_is_overwritten_only_when_the_beacon_holds_the_body_stripe() {
    let f = fixture().await;
    // 8 stripes (7 data + parity) of a 1000-byte body stripe: estimate 7000. A claim of 100
    // is more than 5% below: overwritten in the stored file, bytes 46-49 only.
    let mut body = tell_body(guid(11), vec![recipient(RECIPIENT, "PAY")], 0);
    body.record.file_header.total_file_size = 100;
    f.recorder.take();
    let stored = stored_after_upload(&f, &body, Some((FILE_TYPE_BODY, 1000))).await;
    assert_eq!(total_file_size(&stored), 7000);
    let sent = body.record.to_bytes();
    assert_eq!(stored[..46], sent[..46]);
    assert_eq!(stored[50..], sent[50..]);
    assert!(f.recorder.take().iter().any(|event| matches!(
        event,
        Event::Published {
            claimed: 100,
            stored_size: 7000,
            ..
        }
    )));

    // Within 5% (6650 of 7000): kept.
    let mut body = tell_body(guid(12), vec![recipient(RECIPIENT, "PAY")], 0);
    body.record.file_header.total_file_size = 6650;
    let stored = stored_after_upload(&f, &body, Some((FILE_TYPE_BODY, 1000))).await;
    assert_eq!(total_file_size(&stored), 6650);
    assert_eq!(stored, body.record.to_bytes());

    // The beacon holds only an attachment stripe of that GUID: no check.
    let mut body = tell_body(guid(13), vec![recipient(RECIPIENT, "PAY")], 0);
    body.record.file_header.total_file_size = 100;
    let stored = stored_after_upload(&f, &body, Some((0x0A, 1000))).await;
    assert_eq!(stored, body.record.to_bytes());

    // No stripe at all.
    let mut body = tell_body(guid(14), vec![recipient(RECIPIENT, "PAY")], 0);
    body.record.file_header.total_file_size = 100;
    let stored = stored_after_upload(&f, &body, None).await;
    assert_eq!(stored, body.record.to_bytes());

    // Unknown parity_algo: skipped.
    let mut body = tell_body(guid(15), vec![recipient(RECIPIENT, "PAY")], 0);
    body.record.file_header.total_file_size = 100;
    body.record.file_header.parity_algo = 1;
    let stored = stored_after_upload(&f, &body, Some((FILE_TYPE_BODY, 1000))).await;
    assert_eq!(stored, body.record.to_bytes());

    // stripe_count 1: skipped.
    let mut body = tell_body_sized(guid(16), vec![recipient(RECIPIENT, "PAY")], 0, 1, 1);
    body.record.file_header.total_file_size = 100;
    let stored = stored_after_upload(&f, &body, Some((FILE_TYPE_BODY, 1000))).await;
    assert_eq!(stored, body.record.to_bytes());
}

// ---------------------------------------------------------------------------------------------
// Peek
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Ping
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ping_with_tells_answers_at_once() {
    let f = fixture().await;
    let record = deliver(&f, guid(70), 0).await;
    // The minimal ping body (preamble only) and rest_core's (with an ignored timestamp).
    let answer = f
        .call(
            Command::Ping,
            RECIPIENT,
            &PingBody::new(preamble(RECIPIENT, 1)).to_bytes(),
        )
        .await;
    assert_eq!(answer.status(), Status::Success);
    assert_eq!(answer.records(), vec![record]);
    assert!(!f.tell_path(RECIPIENT, guid(70)).exists());
}

async fn park(f: &Fixture, coin: Coin) -> (ParkedPing, Sent) {
    let body = ping_body(coin).to_bytes();
    let (packet, sent) = f.packet(Command::Ping, coin, &body);
    match handle_request(&f.env, &packet).await {
        Outcome::Park(parked) => (parked, sent),
        other => panic!("expected a park, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_ping_parks_and_a_tell_wakes_it() {
    let f = fixture().await;
    f.recorder.take();
    let (parked, sent) = park(&f, RECIPIENT).await;
    assert_eq!(parked.mailbox, RECIPIENT.mailbox());
    assert_eq!(parked.timeout, Duration::from_secs(900));
    assert_eq!(parked.deadline_unix_us, (NOW_S + 900) * US_PER_S);
    assert!(f.inbox_dir(RECIPIENT).is_dir(), "ping creates the inbox");
    let events = f.recorder.take();
    assert!(events.contains(&Event::Parked(RECIPIENT.mailbox())));
    assert!(events.contains(&Event::Request {
        command: Some(Command::Ping),
        outcome: RequestOutcome::Parked,
        caller: Some(RECIPIENT.mailbox()),
    }));
    assert!(!parked.has_changed());
    assert!(resume_ping(&f.env, &parked).await.is_none(), "still empty");

    let record = deliver(&f, guid(71), 0).await;
    assert!(parked.has_changed(), "the tell's rename notified the ping");
    f.clock.advance_us(3 * US_PER_S);
    let reply = resume_ping(&f.env, &parked).await.expect("tells now");
    let answer = f.decode(&reply.bytes, &sent, reply.deferred);
    assert_eq!(answer.status(), Status::Success);
    assert_eq!(answer.records(), vec![record]);
    assert_eq!(answer.header.execution_time_us, 3_000_000);
    assert!(f.recorder.take().contains(&Event::Resumed(250)));
}

#[tokio::test]
async fn ping_timeout_reply_is_status_only_and_signed() {
    for timeout_status in [17u8, 245] {
        let f = fixture_with(Settings {
            ping_timeout_status: timeout_status,
            ..Settings::default()
        })
        .await;
        let (parked, sent) = park(&f, RECIPIENT).await;
        f.clock.advance_us(900 * US_PER_S);
        let reply = ping_timeout_reply(&f.env, &parked);
        assert!(reply.deferred.is_none());
        assert_eq!(reply.bytes.len(), 32, "header only, no terminator");
        let answer = f.decode(&reply.bytes, &sent, None);
        assert_eq!(answer.header.status, timeout_status);
        assert!(answer.status().is_ping_timeout());
        assert_eq!(answer.header.body_size_bytes, 0);
        assert_eq!(answer.header.execution_time_us, 900_000_000);
    }
}

#[tokio::test]
async fn wait_parked_wakes_on_a_tell_or_times_out() {
    let f = fixture_with(Settings {
        ping_timeout_s: 1,
        ..Settings::default()
    })
    .await;
    let (mut parked, sent) = park(&f, RECIPIENT).await;
    let (reply, record) = tokio::join!(wait_parked(&f.env, &mut parked), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        deliver(&f, guid(72), 0).await
    });
    let answer = f.decode(&reply.bytes, &sent, reply.deferred);
    assert_eq!(answer.records(), vec![record]);

    let (mut parked, sent) = park(&f, RECIPIENT).await;
    let reply = wait_parked(&f.env, &mut parked).await;
    assert_eq!(f.decode(&reply.bytes, &sent, None).header.status, 17);
    assert!(f.recorder.take().contains(&Event::TimedOut(17)));
}

#[tokio::test]
async fn ping_errors() {
    let f = fixture().await;
    let good = ping_body(RECIPIENT);
    let bytes = good.to_bytes();
    // 16: shorter than the preamble.
    assert_status_only(
        &f.call(Command::Ping, RECIPIENT, &bytes[..47]).await,
        Status::InvalidPacketLength,
    );
    let mut bad_crc = bytes.clone();
    bad_crc[0] ^= 1;
    assert_status_only(
        &f.call(Command::Ping, RECIPIENT, &bad_crc).await,
        Status::InvalidCrc,
    );
    assert_status_only(
        &f.call(Command::Ping, RECIPIENT, &ping_body(STRANGER).to_bytes())
            .await,
        Status::CoinNotFound,
    );
    let mut wrong_an = good.clone();
    wrong_an.preamble.an[15] ^= 0x80;
    assert_status_only(
        &f.call(Command::Ping, RECIPIENT, &wrong_an.to_bytes()).await,
        Status::InvalidAn,
    );
    let (packet, _) = f.packet(Command::Ping, STRANGER, &bytes);
    assert_eq!(
        f.call_unsigned(&packet).await.status(),
        Some(Status::InvalidEncryption)
    );
    let (mut packet, _) = f.packet(Command::Ping, RECIPIENT, &bytes);
    let last = packet.len() - 1;
    packet[last] = 0x3D;
    assert_eq!(
        f.call_unsigned(&packet).await.status(),
        Some(Status::InvalidEof)
    );
    // 194: the inbox cannot be listed or created.
    let blocked = f.inbox_dir(RECIPIENT);
    std::fs::create_dir_all(blocked.parent().expect("parent")).expect("mkdir");
    std::fs::write(&blocked, b"file").expect("block");
    assert_status_only(
        &f.call(Command::Ping, RECIPIENT, &bytes).await,
        Status::Filesystem,
    );
}

// ---------------------------------------------------------------------------------------------
// Download
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn download_pages() {
    let f = fixture().await;
    let data: Vec<u8> = (0..5000u32).map(|n| n as u8).collect();
    upload(&f, guid(80), 0x0A, data.clone()).await;
    // Any caller key works and the preamble is not compared: here a preamble with a wrong AN.
    let mut body = download_body(guid(80), 0x0A, 0);
    body.preamble.an = [0; 16];
    let answer = f.call(Command::Download, SENDER, &body.to_bytes()).await;
    assert_eq!(answer.status(), Status::Success);
    let page = DownloadPage::from_bytes(answer.payload.as_ref().expect("payload")).expect("page");
    assert_eq!(page, DownloadPage::new(0x0A, 0, data));
    assert!(page.is_last());
    let payload = answer.payload.expect("payload");
    assert_eq!(&payload[..8], &[0x0A, 0x02, 0, 0, 0, 0, 0x13, 0x88]);

    // Page past the end: 198; unknown GUID or file type: 202.
    let past = download_body(guid(80), 0x0A, 1).to_bytes();
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &past).await,
        Status::InvalidParameter,
    );
    for (email, file_type) in [(guid(81), 0x0A), (guid(80), 0x0B)] {
        let body = download_body(email, file_type, 0).to_bytes();
        assert_status_only(
            &f.call(Command::Download, RECIPIENT, &body).await,
            Status::FileNotExist,
        );
    }
    // An empty stripe has one empty last page.
    upload(&f, guid(82), 1, Vec::new()).await;
    let answer = f
        .call(
            Command::Download,
            RECIPIENT,
            &download_body(guid(82), 1, 0).to_bytes(),
        )
        .await;
    let page = DownloadPage::from_bytes(&answer.payload.expect("payload")).expect("page");
    assert!(page.data.is_empty() && page.is_last());
    // Body length rule: 16.
    let mut long = download_body(guid(80), 0x0A, 0).to_bytes();
    long.push(0);
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &long).await,
        Status::InvalidPacketLength,
    );
}

#[tokio::test]
async fn download_of_an_expired_stripe_is_202() {
    let f = fixture().await;
    let mut body = upload_body(guid(83), 1, vec![1; 10], "PAY");
    body.storage_duration = StorageDuration::Day;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    let request = download_body(guid(83), 1, 0).to_bytes();
    assert_eq!(
        f.call(Command::Download, RECIPIENT, &request)
            .await
            .status(),
        Status::Success
    );
    f.clock.advance_us(86_400 * US_PER_S);
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &request).await,
        Status::FileNotExist,
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_closes_without_a_reply() {
    let f = fixture_with(Settings {
        rate_limit: Some(RateLimit {
            requests_max: 2,
            window_s: 10,
        }),
        ..Settings::default()
    })
    .await;
    let body = peek_body(RECIPIENT, 0).to_bytes();
    for _ in 0..2 {
        assert_eq!(
            status_of(&f.call(Command::Peek, RECIPIENT, &body).await),
            Status::Success
        );
    }
    let (packet, _) = f.packet(Command::Peek, RECIPIENT, &body);
    f.recorder.take();
    assert!(matches!(
        handle_request(&f.env, &packet).await,
        Outcome::Close
    ));
    assert!(f.recorder.take().contains(&Event::Request {
        command: Some(Command::Peek),
        outcome: RequestOutcome::Closed,
        caller: None,
    }));
    // Another key coin has its own budget; the next window opens again.
    assert_eq!(
        status_of(
            &f.call(Command::Peek, SENDER, &peek_body(SENDER, 0).to_bytes())
                .await
        ),
        Status::Success
    );
    f.clock.advance_us(10 * US_PER_S);
    assert_eq!(
        status_of(&f.call(Command::Peek, RECIPIENT, &body).await),
        Status::Success
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed packets
// ---------------------------------------------------------------------------------------------

/// Every file and directory under the data directory, with file contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

fn lockers(env: &Env) -> Vec<(Vec<u8>, u64)> {
    env.with_lockers(|lockers| {
        lockers
            .iter()
            .map(|(code, balance)| (code.to_vec(), balance))
            .collect()
    })
}

mod malformed {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Valid requests of every command, keyed so that they all pass.
    fn valid_packets(f: &Fixture) -> Vec<Vec<u8>> {
        let tell = tell_body(guid(90), vec![recipient(RECIPIENT, "PAY")], 1);
        let upload = upload_body(guid(91), 1, vec![9; 33], "PAY");
        let echo = EchoBody {
            challenge: Challenge::from_random([1; 12]),
        };
        [
            f.packet(Command::Echo, SENDER, &echo.to_bytes()).0,
            f.packet(Command::Upload, SENDER, &upload.to_bytes()).0,
            f.packet(Command::Tell, SENDER, &tell.to_bytes()).0,
            f.packet(Command::Ping, RECIPIENT, &ping_body(RECIPIENT).to_bytes())
                .0,
            f.packet(
                Command::Peek,
                RECIPIENT,
                &peek_body(RECIPIENT, 0).to_bytes(),
            )
            .0,
            f.packet(
                Command::Download,
                RECIPIENT,
                &download_body(guid(92), 1, 0).to_bytes(),
            )
            .0,
        ]
        .to_vec()
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Flip { index: usize, mask: u8 },
        Set { index: usize, value: u8 },
        Truncate { len: usize },
        Append { bytes: Vec<u8> },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(index, mask)| Mutation::Flip { index, mask }),
            (any::<usize>(), any::<u8>()).prop_map(|(index, value)| Mutation::Set { index, value }),
            any::<usize>().prop_map(|len| Mutation::Truncate { len }),
            proptest::collection::vec(any::<u8>(), 1..8)
                .prop_map(|bytes| Mutation::Append { bytes }),
        ]
    }

    fn apply(packet: &mut Vec<u8>, mutation: &Mutation) {
        match mutation {
            Mutation::Flip { index, mask } => {
                let len = packet.len();
                packet[index % len] ^= mask;
            }
            Mutation::Set { index, value } => {
                let len = packet.len();
                packet[index % len] = *value;
            }
            Mutation::Truncate { len } => packet.truncate(len % packet.len()),
            Mutation::Append { bytes } => packet.extend_from_slice(bytes),
        }
    }

    #[derive(Clone, Debug)]
    enum Input {
        Arbitrary(Vec<u8>),
        Mutated {
            which: usize,
            mutations: Vec<Mutation>,
        },
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..160).prop_map(Input::Arbitrary),
            // Arbitrary bytes behind a plausible header prefix get past the first checks.
            proptest::collection::vec(any::<u8>(), 0..120).prop_map(|tail| {
                let mut bytes = vec![1, 0, RAIDA, 3, 6, 73, 0, 6];
                bytes.extend(tail);
                Input::Arbitrary(bytes)
            }),
            (0..6usize, proptest::collection::vec(mutation(), 1..4))
                .prop_map(|(which, mutations)| Input::Mutated { which, mutations }),
        ]
    }

    #[test]
    fn malformed_packets_never_panic_nor_touch_stored_data() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let f = runtime.block_on(async {
            let f = fixture().await;
            deliver(&f, guid(93), 1).await;
            deliver(&f, guid(94), 1).await;
            upload(&f, guid(92), 1, vec![5; 100]).await;
            f
        });
        let valid = valid_packets(&f);
        let mut runner = TestRunner::new(Config {
            cases: 96,
            failure_persistence: None,
            ..Config::default()
        });
        let rejected_count = Cell::new(0u32);
        runner
            .run(&input(), |input| {
                let packet = match &input {
                    Input::Arbitrary(bytes) => bytes.clone(),
                    Input::Mutated { which, mutations } => {
                        let mut packet = valid[*which].clone();
                        for mutation in mutations {
                            if !packet.is_empty() {
                                apply(&mut packet, mutation);
                            }
                        }
                        packet
                    }
                };
                let files_before = snapshot(f.root());
                let lockers_before = lockers(&f.env);
                let outcome = runtime.block_on(handle_request(&f.env, &packet));
                let status = match &outcome {
                    Outcome::Reply(reply) => {
                        let header = ResponseHeader::from_bytes(&reply.bytes[..32])
                            .map_err(|error| TestCaseError::fail(error.to_string()))?;
                        Some(header.status)
                    }
                    Outcome::Park(_) => None,
                    Outcome::Close => return Err(TestCaseError::fail("rate limit is off")),
                };
                if let Outcome::Reply(reply) = outcome {
                    if let Some(deferred) = reply.deferred {
                        runtime.block_on(after_reply_written(&f.env, deferred));
                    }
                }
                if status.is_some_and(|status| status != Status::Success.code()) {
                    rejected_count.set(rejected_count.get() + 1);
                    prop_assert_eq!(snapshot(f.root()), files_before, "rejected: {:?}", status);
                    prop_assert_eq!(lockers(&f.env), lockers_before);
                }
                Ok(())
            })
            .expect("no malformed packet panics or changes stored data");
        let rejected_count = rejected_count.get();
        assert!(
            rejected_count > 48,
            "most inputs are rejected: {rejected_count}"
        );
    }
}
