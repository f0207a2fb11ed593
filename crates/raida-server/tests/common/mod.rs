//! Fixtures shared by the command-handler tests (one test file per command): real encrypted
//! packets built with qmail-wire's client side go through `handle_request` on an `Env` over
//! the real file system (a temp dir) with a manual clock, and the replies are decoded with the
//! client side of the packet layer, signatures included. A recording observer keeps what the
//! server decided.
//!
//! Each test file uses only some of these helpers (and of the imports re-exported here for
//! them), hence the `allow`s.

#![allow(dead_code, unused_imports)]

pub use std::cell::Cell;
pub use std::collections::BTreeMap;
pub use std::path::{Path, PathBuf};
pub use std::sync::{Arc, Mutex};
pub use std::time::{Duration, UNIX_EPOCH};

pub use qmail_wire::body::{
    DownloadBody, EchoBody, PeekBody, PingBody, StorageDuration, TellBody, UploadBody,
};
pub use qmail_wire::codec::Codec;
pub use qmail_wire::crypto::{signature, Challenge, Key, ResponseCounter};
pub use qmail_wire::header::{Command, EncryptionType, RequestHeader, ResponseHeader};
pub use qmail_wire::packet::{
    encode_request, encode_request_with_header, parse_response, PayloadCipher, RequestMeta,
};
pub use qmail_wire::preamble::Preamble;
pub use qmail_wire::response::{DownloadPage, TellList};
pub use qmail_wire::tell::{
    locker_from_ascii, AddressEntry, FileHeader, ManifestEntry, RecipientKind, RoutingHeader,
    ServerEntry, TellRecord, FILE_FLAG_BODY, FILE_TYPE_BODY, MANIFEST_FLAG_CRC32_PRESENT,
};
pub use qmail_wire::validate::TellRule;
pub use qmail_wire::Status;

pub use raida_server::clock::{ManualClock, US_PER_S};
pub use raida_server::coins::{locker_code_from_ascii, CoinTable, InboxFees, LockerLedger};
pub use raida_server::env::{Env, EnvParts};
pub use raida_server::fs::{NoopHook, RealFs};
pub use raida_server::handler::{
    after_reply_written, handle_request, ping_timeout_reply, resume_ping, wait_parked,
    DeferredDelete, Outcome, ParkedPing,
};
pub use raida_server::observer::{
    DeleteWhen, Observer, RecipientRefusal, RequestOutcome, ServerEvent,
};
pub use raida_server::settings::{DeleteOnRead, RateLimit, ResponseCounterSetting, Settings};
pub use raida_server::store::inbox::DeleteFate;
pub use raida_server::store::Guid;
pub use raida_server::watch::MailboxId;

pub const RAIDA: u8 = 7;
pub const NOW_S: u64 = 1_750_000_000;

/// A coin this RAIDA holds (or, for `STRANGER`, does not).
#[derive(Clone, Copy, Debug)]
pub struct Coin {
    pub denomination: i8,
    pub serial_number: u32,
    pub an: Key,
}

impl Coin {
    pub fn mailbox(&self) -> MailboxId {
        MailboxId {
            denomination: self.denomination,
            serial_number: self.serial_number,
        }
    }
}

pub const SENDER: Coin = Coin {
    denomination: 1,
    serial_number: 1001,
    an: [0x51; 16],
};
pub const RECIPIENT: Coin = Coin {
    denomination: 1,
    serial_number: 2002,
    an: [0x52; 16],
};
/// A mailbox with an inbox fee of 3.
pub const FEE_BOX: Coin = Coin {
    denomination: -2,
    serial_number: 3003,
    an: [0x53; 16],
};
pub const STRANGER: Coin = Coin {
    denomination: 2,
    serial_number: 9999,
    an: [0x59; 16],
};

// ---------------------------------------------------------------------------------------------
// Recording observer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
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
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn take(&self) -> Vec<Event> {
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

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub env: Env,
    pub clock: ManualClock,
    pub recorder: Arc<Recorder>,
    pub nonce_seq: Mutex<u64>,
}

pub fn locker(text: &str) -> [u8; 16] {
    locker_code_from_ascii(text).expect("locker code")
}

pub async fn fixture_with(settings: Settings) -> Fixture {
    fixture_on(settings, Arc::new(RealFs)).await
}

/// A fixture whose server reaches its temp dir through `fs` (a fault-injecting wrapper).
pub async fn fixture_on(settings: Settings, fs: Arc<dyn raida_server::fs::Fs>) -> Fixture {
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
        fs,
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

pub async fn fixture() -> Fixture {
    fixture_with(Settings::default()).await
}

pub fn preamble(coin: Coin, seed: u8) -> Preamble {
    Preamble::new(
        Challenge::from_random([seed; 12]),
        coin.denomination,
        coin.serial_number,
        coin.an,
    )
}

/// A decoded reply.
#[derive(Debug)]
pub struct Answer {
    pub header: ResponseHeader,
    pub payload: Option<Vec<u8>>,
    pub deferred: Option<DeferredDelete>,
}

impl Answer {
    pub fn status(&self) -> Status {
        self.header.status().expect("known status")
    }

    pub fn tell_list(&self) -> TellList {
        let payload = self.payload.as_ref().expect("a tell-list payload");
        TellList::from_bytes(payload).expect("tell list decodes")
    }

    /// The raw records of a tell-list payload (verbatim file bytes).
    pub fn records(&self) -> Vec<Vec<u8>> {
        self.tell_list()
            .records
            .iter()
            .map(|record| record.to_bytes())
            .collect()
    }
}

/// What the client needs to read a reply to one request.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub key: Key,
    pub nonce: [u8; 8],
    pub challenge: Challenge,
    pub body_plain_size_bytes: usize,
}

impl Fixture {
    pub fn nonce(&self) -> [u8; 8] {
        let mut seq = self.nonce_seq.lock().expect("lock");
        *seq += 1;
        seq.to_be_bytes()
    }

    pub fn counter(&self) -> ResponseCounter {
        match self.env.settings().response_counter {
            ResponseCounterSetting::Restart => ResponseCounter::Restart,
            ResponseCounterSetting::Continue => ResponseCounter::Continue,
        }
    }

    /// An encrypted request keyed by `key`'s AN.
    pub fn packet(&self, command: Command, key: Coin, body_plain: &[u8]) -> (Vec<u8>, Sent) {
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

    pub fn decode(&self, bytes: &[u8], sent: &Sent, deferred: Option<DeferredDelete>) -> Answer {
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

    pub async fn send(&self, packet: &[u8], sent: &Sent) -> Answer {
        match handle_request(&self.env, packet).await {
            Outcome::Reply(reply) => self.decode(&reply.bytes, sent, reply.deferred),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    pub async fn call(&self, command: Command, key: Coin, body_plain: &[u8]) -> Answer {
        let (packet, sent) = self.packet(command, key, body_plain);
        let answer = self.send(&packet, &sent).await;
        assert_eq!(answer.header.command_group, command.group());
        assert_eq!(answer.header.echo, [packet[30], packet[31]]);
        answer
    }

    /// Sends a packet whose reply comes before decryption: zero signature, status only.
    pub async fn call_unsigned(&self, packet: &[u8]) -> ResponseHeader {
        let Outcome::Reply(reply) = handle_request(&self.env, packet).await else {
            panic!("expected a reply");
        };
        assert!(reply.deferred.is_none());
        let header = ResponseHeader::from_bytes(&reply.bytes).expect("header only");
        assert_eq!(header.signature, [0; 16], "nothing to sign yet");
        assert_eq!(header.body_size_bytes, 0);
        header
    }

    pub fn inbox_dir(&self, coin: Coin) -> PathBuf {
        self.env.inbox().inbox_dir(coin.mailbox())
    }

    pub fn tell_path(&self, coin: Coin, guid: [u8; 16]) -> PathBuf {
        self.env.inbox().tell_path(coin.mailbox(), Guid(guid))
    }

    /// The tell record stored in `coin`'s inbox for `guid` (the file's integrity trailer
    /// checked and stripped).
    pub fn stored_record(&self, coin: Coin, guid: [u8; 16]) -> Vec<u8> {
        let file = std::fs::read(self.tell_path(coin, guid)).expect("tell file");
        let record = raida_server::store::tell_file::decode_tell_file(&file).expect("good trailer");
        record.to_vec()
    }

    pub fn balance(&self, code: &str) -> Option<u64> {
        self.env
            .with_lockers(|lockers| lockers.balance(&locker(code)))
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

pub fn status_of(answer: &Answer) -> Status {
    answer.status()
}

pub fn assert_status_only(answer: &Answer, status: Status) {
    assert_eq!(answer.status(), status);
    assert_eq!(answer.header.body_size_bytes, 0, "status only");
    assert!(answer.payload.is_none());
}

// ---------------------------------------------------------------------------------------------
// Body builders
// ---------------------------------------------------------------------------------------------

pub fn recipient(coin: Coin, locker_text: &str) -> AddressEntry {
    AddressEntry::new(
        RecipientKind::To,
        coin.denomination,
        coin.serial_number,
        locker_from_ascii(locker_text).expect("locker"),
    )
}

/// A valid tell from SENDER: `server_count` servers, a body and one attachment.
pub fn tell_body(guid: [u8; 16], recipients: Vec<AddressEntry>, edit_sequence: u8) -> TellBody {
    tell_body_sized(guid, recipients, edit_sequence, 8, 2)
}

pub fn tell_body_sized(
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

pub fn guid(n: u8) -> [u8; 16] {
    let mut bytes = [0xA0; 16];
    bytes[15] = n;
    bytes
}

pub fn upload_body(guid: [u8; 16], file_type: u8, data: Vec<u8>, locker_text: &str) -> UploadBody {
    UploadBody {
        preamble: preamble(SENDER, 0x21),
        guid,
        locker_code: locker(locker_text),
        file_type,
        storage_duration: StorageDuration::Permanent,
        data,
    }
}

pub fn download_body(guid: [u8; 16], file_type: u8, page_number: u32) -> DownloadBody {
    DownloadBody {
        preamble: preamble(RECIPIENT, 0x31),
        guid,
        locker_code: locker("DL"),
        file_type,
        bytes_per_page: 0,
        page_number,
    }
}

pub fn peek_body(coin: Coin, since_timestamp_s: u32) -> PeekBody {
    PeekBody {
        preamble: preamble(coin, 0x41),
        since_timestamp_s,
    }
}

pub fn ping_body(coin: Coin) -> PingBody {
    PingBody::with_timestamp(preamble(coin, 0x42), 0)
}

/// Sends a valid tell to RECIPIENT and checks it was delivered.
pub async fn deliver(f: &Fixture, guid: [u8; 16], edit_sequence: u8) -> Vec<u8> {
    let body = tell_body(guid, vec![recipient(RECIPIENT, "PAY")], edit_sequence);
    let answer = f.call(Command::Tell, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
    body.record.to_bytes()
}

pub async fn upload(f: &Fixture, guid: [u8; 16], file_type: u8, data: Vec<u8>) {
    let body = upload_body(guid, file_type, data, "PAY");
    let answer = f.call(Command::Upload, SENDER, &body.to_bytes()).await;
    assert_status_only(&answer, Status::Success);
}

pub fn set_mtime(path: &Path, unix_s: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open tell");
    file.set_modified(UNIX_EPOCH + Duration::from_secs(unix_s))
        .expect("set mtime");
}
