//! A fake RAIDA network for the client's tests: 25 tokio listeners on 127.0.0.1 that speak
//! QMail through qmail-wire, with per-RAIDA faults the real server does not offer (silence,
//! dropped connections, corrupted downloads), an inbox the test can stuff with raw records
//! (legacy v0 with footers), and a chosen ping-timeout status.
//!
//! It is deliberately simple: tells overwrite, pings on an empty inbox answer the timeout
//! status after a short pause, download pages are the whole stripe. A tell skips the
//! recipients whose mailbox the fake does not know and answers 18 (`ERROR_WRONG_RAIDA`, "zero
//! deliveries") when it delivered to none — the answer of a beacon that checks its
//! recipients are provisioned. Each poll's preamble byte 31 is recorded (extensions write it).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qmail_client::{
    Client, ClientObserver, ClientParts, Config, Directory, Identity, MailboxId, ManualClock,
    TokioConnector,
};
use qmail_wire::body::RequestBody;
use qmail_wire::crypto::{signature, Key, ResponseCounter};
use qmail_wire::header::{EncryptionType, RequestHeader};
use qmail_wire::packet::{encode_response, PayloadCipher, RequestPacket, ResponseMeta};
use qmail_wire::response::DownloadPage;
use qmail_wire::validate::validate_challenge;
use qmail_wire::{Codec, Status};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const RAIDA_COUNT: usize = 25;
pub const NOW_S: u64 = 1_750_000_000;

/// How one fake RAIDA misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Accepts and closes at once.
    Down,
    /// Accepts and never answers.
    Silent,
    /// Flips bit 0 of the first byte of every downloaded page (a data bit of every file).
    CorruptDownloads,
    /// Drops the next `n` connections, then behaves.
    DropFirst(u32),
    /// Answers with a signature that is not the challenge XOR the AN.
    BadSignature,
    /// Answers in the name of another RAIDA.
    WrongRaidaId,
    /// Answers every request with this status in the public RAIDA server's header-error
    /// form: echo bytes `00 00`, zero signature (DECISIONS.md, "Interop").
    HeaderError(u8),
}

/// The AN of `mailbox` on RAIDA `raida`, as both the fake and the test identities use it.
pub fn an_of(mailbox: MailboxId, raida: usize) -> Key {
    let mut an = [0u8; 16];
    an[0] = mailbox.denomination as u8;
    an[1..5].copy_from_slice(&mailbox.serial_number.to_be_bytes());
    an[5] = raida as u8;
    an[15] = 0xA5;
    an
}

pub fn identity(mailbox: MailboxId) -> Identity {
    let mut ans = [[0u8; 16]; RAIDA_COUNT];
    for (raida, slot) in ans.iter_mut().enumerate() {
        *slot = an_of(mailbox, raida);
    }
    let locker = |text: &str| qmail_wire::tell::locker_from_ascii(text).expect("ascii");
    Identity::new(mailbox, ans, locker("UPLOAD"), locker("FEES")).expect("valid identity")
}

#[derive(Default)]
pub struct State {
    pub stripes: BTreeMap<([u8; 16], u8), Vec<u8>>,
    /// Raw stored records per mailbox, in arrival order.
    pub inbox: BTreeMap<MailboxId, Vec<Vec<u8>>>,
    pub uploads: u32,
    pub tells: u32,
    /// Preamble byte 31 of every ping and peek, in arrival order.
    pub poll_byte_31: Vec<u8>,
}

pub struct FakeRaida {
    pub index: u8,
    pub mode: Mutex<Mode>,
    pub state: Mutex<State>,
    pub ping_timeout_status: Mutex<u8>,
    pub response_counter: Mutex<ResponseCounter>,
    pub connections: AtomicU32,
    mailboxes: Vec<MailboxId>,
}

impl FakeRaida {
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn uploads(&self) -> u32 {
        self.state.lock().unwrap().uploads
    }

    fn key(&self, denomination: i8, serial_number: u32) -> Option<Key> {
        let mailbox = MailboxId::new(denomination, serial_number);
        self.mailboxes
            .contains(&mailbox)
            .then(|| an_of(mailbox, usize::from(self.index)))
    }

    async fn serve_connection(self: Arc<Self>, mut stream: tokio::net::TcpStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        let mode = {
            let mut mode = self.mode.lock().unwrap();
            let now = *mode;
            if let Mode::DropFirst(n) = now {
                *mode = if n <= 1 {
                    Mode::Normal
                } else {
                    Mode::DropFirst(n - 1)
                };
            }
            now
        };
        match mode {
            Mode::Down | Mode::DropFirst(_) => return,
            Mode::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Mode::Normal
            | Mode::CorruptDownloads
            | Mode::BadSignature
            | Mode::WrongRaidaId
            | Mode::HeaderError(_) => {}
        }
        let mut header_bytes = [0u8; 32];
        if stream.read_exact(&mut header_bytes).await.is_err() {
            return;
        }
        let header = RequestHeader::from_bytes(&header_bytes).expect("32 bytes");
        let mut body = vec![0u8; usize::from(header.body_size_bytes)];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = self.handle(&header, &body, mode).await;
        let _ = stream.write_all(&reply).await;
        let _ = stream.flush().await;
    }

    async fn handle(&self, header: &RequestHeader, body: &[u8], mode: Mode) -> Vec<u8> {
        let status_only = |status: Status| {
            encode_response(&ResponseMeta::reply_to(header, self.index, status), None)
        };
        if let Mode::HeaderError(status_code) = mode {
            let status = Status::from_code(status_code).expect("a known status");
            let mut meta = ResponseMeta::reply_to(header, self.index, status);
            meta.echo = [0, 0];
            return encode_response(&meta, None);
        }
        let Some(key) = self.key(header.key_denomination, header.key_serial_number) else {
            return status_only(Status::InvalidEncryption);
        };
        let packet = RequestPacket::from_parts(*header, body).expect("sized");
        let plain = match packet.body_plain(EncryptionType::Aes128Ctr, &key) {
            Ok(plain) => plain,
            Err(error) => return status_only(error.status()),
        };
        let command = header.command().expect("known command");
        let request = match RequestBody::decode(command, &plain) {
            Ok(request) => request,
            Err(error) => return status_only(error.status()),
        };
        if validate_challenge(request.challenge()).is_err() {
            return status_only(Status::InvalidCrc);
        }
        let mut meta = ResponseMeta::reply_to(header, self.index, Status::Success);
        meta.signature = signature(request.challenge(), &key);
        let counter = *self.response_counter.lock().unwrap();
        let cipher = PayloadCipher {
            key,
            nonce: header.nonce,
            start_block: counter.start_block(plain.len()),
        };
        let (status, payload) = self.dispatch(request, mode).await;
        meta.status = status;
        match mode {
            Mode::BadSignature => meta.signature[0] ^= 1,
            Mode::WrongRaidaId => meta.raida_id = (self.index + 1) % RAIDA_COUNT as u8,
            _ => {}
        }
        match payload {
            Some(payload) => encode_response(&meta, Some((&cipher, &payload))),
            None => encode_response(&meta, None),
        }
    }

    async fn dispatch(&self, request: RequestBody, mode: Mode) -> (Status, Option<Vec<u8>>) {
        match request {
            RequestBody::Echo(_) => (Status::Success, None),
            RequestBody::Upload(upload) => {
                let mut state = self.state.lock().unwrap();
                state.uploads += 1;
                state
                    .stripes
                    .insert((upload.guid, upload.file_type), upload.data);
                (Status::Success, None)
            }
            RequestBody::Tell(tell) => {
                let mut record = Vec::new();
                tell.record.encode_in_tell(&mut record);
                let mut state = self.state.lock().unwrap();
                state.tells += 1;
                let mut delivered_count = 0;
                for recipient in &tell.recipients {
                    let mailbox = MailboxId::new(recipient.denomination, recipient.serial_number);
                    if !self.mailboxes.contains(&mailbox) {
                        continue;
                    }
                    let inbox = state.inbox.entry(mailbox).or_default();
                    inbox.retain(|old| old[..16] != record[..16]);
                    inbox.push(record.clone());
                    delivered_count += 1;
                }
                if delivered_count == 0 {
                    return (Status::WrongRaida, None);
                }
                (Status::Success, None)
            }
            RequestBody::Ping(ping) => {
                self.state
                    .lock()
                    .unwrap()
                    .poll_byte_31
                    .push(ping.preamble.reserved_byte_31);
                let mailbox =
                    MailboxId::new(ping.preamble.denomination, ping.preamble.serial_number);
                match self.take_inbox(mailbox) {
                    Some(payload) => (Status::Success, Some(payload)),
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let code = *self.ping_timeout_status.lock().unwrap();
                        (Status::from_code(code).expect("known"), None)
                    }
                }
            }
            RequestBody::Peek(peek) => {
                self.state
                    .lock()
                    .unwrap()
                    .poll_byte_31
                    .push(peek.preamble.reserved_byte_31);
                let mailbox =
                    MailboxId::new(peek.preamble.denomination, peek.preamble.serial_number);
                (
                    Status::Success,
                    Some(self.take_inbox(mailbox).unwrap_or_else(|| vec![0; 8])),
                )
            }
            RequestBody::Download(download) => {
                let state = self.state.lock().unwrap();
                let Some(stripe) = state.stripes.get(&(download.guid, download.file_type)) else {
                    return (Status::FileNotExist, None);
                };
                if download.page_number > 0 {
                    return (Status::InvalidParameter, None);
                }
                let mut data = stripe.clone();
                if mode == Mode::CorruptDownloads {
                    if let Some(byte) = data.first_mut() {
                        *byte ^= 0x01;
                    }
                }
                let page = DownloadPage::new(download.file_type, download.page_number, data);
                (Status::Success, Some(page.to_bytes()))
            }
        }
    }

    /// Every record of `mailbox` as a tell-list payload, or `None` when there is none.
    fn take_inbox(&self, mailbox: MailboxId) -> Option<Vec<u8>> {
        let mut state = self.state.lock().unwrap();
        let records = state.inbox.remove(&mailbox).unwrap_or_default();
        if records.is_empty() {
            return None;
        }
        let mut payload = vec![records.len() as u8, 0, 0, 0, 0, 0, 0, 0];
        for record in records {
            payload.extend_from_slice(&record);
        }
        Some(payload)
    }

    /// Puts raw record bytes (any version, footer included) into `mailbox`'s inbox.
    pub fn stuff_inbox(&self, mailbox: MailboxId, raw: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .inbox
            .entry(mailbox)
            .or_default()
            .push(raw);
    }
}

pub struct World {
    pub raidas: Vec<Arc<FakeRaida>>,
    pub directory: Arc<Directory>,
    pub clock: Arc<ManualClock>,
}

impl World {
    /// 25 fake RAIDAs that know `mailboxes`.
    pub async fn start(mailboxes: &[MailboxId]) -> World {
        let mut raidas = Vec::new();
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for index in 0..RAIDA_COUNT {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addrs.push(listener.local_addr().expect("addr"));
            let raida = Arc::new(FakeRaida {
                index: index as u8,
                mode: Mutex::new(Mode::Normal),
                state: Mutex::new(State::default()),
                ping_timeout_status: Mutex::new(Status::UdpFrameTimeout.code()),
                response_counter: Mutex::new(ResponseCounter::Restart),
                connections: AtomicU32::new(0),
                mailboxes: mailboxes.to_vec(),
            });
            raidas.push(raida.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(raida.clone().serve_connection(stream));
                }
            });
        }
        World {
            raidas,
            directory: Arc::new(Directory::new(addrs).expect("25 addresses")),
            clock: Arc::new(ManualClock::new(NOW_S)),
        }
    }

    /// Fast timeouts and backoff for tests.
    pub fn test_config() -> Config {
        Config {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(500),
            ping_read_timeout: Duration::from_secs(2),
            retries_max: 2,
            retry_backoff: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(40),
            ..Config::default()
        }
    }

    pub fn client(&self, mailbox: MailboxId, seed: u64) -> Client<TokioConnector> {
        self.client_with(mailbox, seed, Self::test_config(), None)
    }

    pub fn client_with(
        &self,
        mailbox: MailboxId,
        seed: u64,
        config: Config,
        observer: Option<Arc<dyn ClientObserver>>,
    ) -> Client<TokioConnector> {
        let mut parts = ClientParts::new(
            identity(mailbox),
            self.directory.clone(),
            TokioConnector,
            self.clock.clone(),
            ChaCha8Rng::seed_from_u64(seed),
        );
        parts.config = config;
        if let Some(observer) = observer {
            parts.observer = observer;
        }
        Client::new(parts).expect("valid client")
    }

    pub fn total_uploads(&self) -> u32 {
        self.raidas.iter().map(|raida| raida.uploads()).sum()
    }
}

/// Writes a `qmail` profile for `mailbox` over `directory` (its 25 addresses), with the AN
/// `an_of_raida(i)` for RAIDA i and fast timeouts; returns its path.
pub fn write_profile(
    dir: &std::path::Path,
    mailbox: MailboxId,
    directory: &Directory,
    an_of_raida: impl Fn(usize) -> Key,
) -> String {
    write_profile_with(dir, "profile.toml", mailbox, directory, an_of_raida, "")
}

/// [`write_profile`] to `dir/name`, with `extra_config` appended to its `[config]` table.
pub fn write_profile_with(
    dir: &std::path::Path,
    name: &str,
    mailbox: MailboxId,
    directory: &Directory,
    an_of_raida: impl Fn(usize) -> Key,
    extra_config: &str,
) -> String {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let ans: Vec<String> = (0..RAIDA_COUNT)
        .map(|raida| format!("\"{}\"", hex(&an_of_raida(raida))))
        .collect();
    let raidas: Vec<String> = (0..RAIDA_COUNT)
        .map(|raida| {
            let addr = directory.addr(raida as u8).expect("25 addresses");
            format!("\"{addr}\"")
        })
        .collect();
    let text = format!(
        "[identity]\ndenomination = {}\nserial_number = {}\nans = [{}]\n\
         upload_locker = \"UPLOAD\"\nfee_locker = \"FEES\"\n\n\
         [directory]\nraidas = [{}]\n\n\
         [config]\nconnect_timeout_ms = 500\nrequest_timeout_ms = 500\n\
         retry_backoff_ms = 10\nretry_backoff_max_ms = 40\n{extra_config}\n",
        mailbox.denomination,
        mailbox.serial_number,
        ans.join(", "),
        raidas.join(", ")
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write profile");
    path.to_str().expect("utf-8 path").to_string()
}

/// `qmail ARGS…` as `bin/qmail.rs` runs it, with a manual clock and a seeded RNG: its result
/// and what it printed.
pub async fn qmail(args: &[&str]) -> (Result<(), qmail_client::cli::CliError>, String) {
    use clap::Parser;
    let cli = qmail_client::cli::Cli::try_parse_from(
        std::iter::once("qmail").chain(args.iter().copied()),
    )
    .unwrap_or_else(|error| panic!("qmail {args:?}: {error}"));
    let env = qmail_client::cli::RunEnv {
        clock: Arc::new(ManualClock::new(NOW_S)),
        rng: ChaCha8Rng::seed_from_u64(7),
        progress: false,
    };
    let mut out = Vec::new();
    let result = qmail_client::cli::run(cli, env, &mut out).await;
    (result, String::from_utf8(out).expect("utf-8"))
}

/// Deterministic test bytes.
pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut value: u32 = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            value ^= value << 13;
            value ^= value >> 17;
            value ^= value << 5;
            (value >> 24) as u8
        })
        .collect()
}
