//! Interop with the public RAIDA server (DECISIONS.md, "Interop with the public RAIDA
//! server"), client side. The golden cases of `golden` (shared with
//! `raida-server/tests/interop.rs`, where the server answers each request byte for byte) are
//! judged by the client's decoder ([`judge_reply_bytes`]), both as written and as our server
//! answers them live; then the whole client runs echo against our server and against a RAIDA
//! that answers in the public server's header-error form (echo `00 00`, zero signature).
//!
//! What the client must do: judge the status byte first; report a non-250 as that status,
//! named, with the RAIDA's index and address, without looking at echo bytes or signature;
//! check echo and signature only on 250; for a type-0 echo, verify the signature as the plain
//! challenge and never put a payload through a keystream.

mod golden;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use golden::{hex, server, AN_HELD, AN_WRONG, CASES, CHALLENGE, HELD, RAIDA, RAIDAX_REPLIES};
use qmail_client::error::{status_text, ReplyFault};
use qmail_client::transport::Connector;
use qmail_client::{
    judge_reply_bytes, Client, ClientError, ClientParts, Directory, Identity, MailboxId,
    ManualClock, RaidaRef, SentRequest,
};
use qmail_wire::crypto::{Challenge, ResponseCounter};
use qmail_wire::header::{Command, EncryptionType, RequestHeader};
use qmail_wire::packet::{encode_protected_response, ReplyProtection, ResponseMeta};
use qmail_wire::{Codec, Status};
use raida_server::env::Env;
use raida_server::handler::{handle_request, Outcome};
use raida_server::settings::Settings;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn addr(raida_index: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 18_000 + u16::from(raida_index)))
}

fn raida() -> RaidaRef {
    RaidaRef {
        index: RAIDA,
        addr: addr(RAIDA),
    }
}

fn challenge() -> Challenge {
    Challenge(hex(CHALLENGE).try_into().expect("16 bytes"))
}

/// The request of a golden case as its client sent it. A header naming no known command (the
/// group-9 case) is judged as the echo it otherwise is: a non-250 is judged by status alone.
fn sent(request: &[u8], client_an: [u8; 16]) -> SentRequest {
    let header = RequestHeader::from_bytes(&request[..32]).expect("32 bytes");
    let protection = match EncryptionType::from_code(header.encryption_type) {
        Some(encryption) => ReplyProtection::for_request(
            encryption,
            &client_an,
            &header.nonce,
            ResponseCounter::Restart,
            request.len() - 34,
        ),
        // No client sends types 2–255; their replies are never 250.
        None => ReplyProtection::Plaintext,
    };
    SentRequest {
        raida: raida(),
        command: header.command().unwrap_or(Command::Echo),
        header,
        challenge: challenge(),
        protection,
    }
}

/// What the client makes of `reply` to `sent`, as a status-only command does.
fn verdict(sent: &SentRequest, reply: &[u8]) -> Result<(), ClientError> {
    judge_reply_bytes(sent, reply)?.status_only(sent.raida, sent.command)
}

/// The verdict must be 250, or that status as a named [`ClientError::Status`] naming RAIDA 7
/// and its address.
fn assert_status_verdict(name: &str, result: Result<(), ClientError>, status: u8) {
    if status == Status::Success.code() {
        assert!(result.is_ok(), "{name}: {result:?}");
        return;
    }
    let error = result.expect_err(name);
    assert_eq!(error.status_code(), Some(status), "{name}: {error}");
    let text = error.to_string();
    let named = Status::from_code(status).expect("a named status");
    assert!(text.contains(&named.to_string()), "{name}: {text}");
    assert!(text.contains("RAIDA 7 (127.0.0.1:18007)"), "{name}: {text}");
    assert_eq!(status_text(status), named.to_string());
}

#[test]
fn client_judges_every_golden_reply() {
    for case in CASES {
        let sent = sent(&hex(case.request), case.client_an);
        assert_status_verdict(case.name, verdict(&sent, &hex(case.reply)), case.status);
    }
}

#[tokio::test]
async fn client_judges_the_servers_live_answers_the_same_way() {
    let (_dir, env) = server(Settings::default()).await;
    for case in CASES {
        let request = hex(case.request);
        let Outcome::Reply(reply) = handle_request(&env, &request).await else {
            panic!("{}: a reply", case.name);
        };
        let sent = sent(&request, case.client_an);
        assert_status_verdict(case.name, verdict(&sent, &reply.bytes), case.status);
    }
}

#[test]
fn public_server_header_errors_surface_as_their_status() {
    let requests = CASES
        .iter()
        .filter(|case| case.name.starts_with("echo_type"))
        .map(|case| sent(&hex(case.request), case.client_an));
    for sent in requests {
        for raidax in RAIDAX_REPLIES {
            let reply = hex(raidax.reply);
            assert_eq!(&reply[6..8], &[0, 0], "echo bytes 00 00");
            assert_eq!(&reply[16..], &[0; 16], "zero signature");
            let name = format!("status {} to {:?}", raidax.status, sent.protection);
            assert_status_verdict(&name, verdict(&sent, &reply), raidax.status);
        }
    }
}

fn case(name: &str) -> &'static golden::Case {
    CASES
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

#[test]
fn only_a_250_is_checked_for_echo_bytes_and_signature() {
    let type1 = case("echo_type1_held_coin");
    let sent1 = sent(&hex(type1.request), type1.client_an);
    let reply = hex(type1.reply);
    let mut no_echo = reply.clone();
    no_echo[6..8].fill(0);
    assert!(matches!(
        verdict(&sent1, &no_echo),
        Err(ClientError::BadReply {
            fault: ReplyFault::EchoMismatch {
                expected: [0xa6, 0xa7],
                found: [0, 0]
            },
            ..
        })
    ));
    let mut unsigned = reply.clone();
    unsigned[16..].fill(0);
    assert!(matches!(
        verdict(&sent1, &unsigned),
        Err(ClientError::BadReply {
            fault: ReplyFault::BadSignature,
            ..
        })
    ));
    // The same 250 judged as a reply to a plaintext request: the signature is not the
    // challenge.
    let plain_view = SentRequest {
        protection: ReplyProtection::Plaintext,
        ..sent1
    };
    assert!(matches!(
        verdict(&plain_view, &reply),
        Err(ClientError::BadReply {
            fault: ReplyFault::BadSignature,
            ..
        })
    ));
    // A type-0 reply naming a held coin is signed with the challenge alone: a client that
    // expected challenge XOR AN (the old rule) would refuse it.
    let type0 = case("echo_type0_names_held_coin");
    let sent0 = sent(&hex(type0.request), AN_HELD);
    assert_eq!(sent0.protection, ReplyProtection::Plaintext);
    assert!(verdict(&sent0, &hex(type0.reply)).is_ok());
    let xor_view = SentRequest {
        protection: ReplyProtection::for_request(
            EncryptionType::Aes128Ctr,
            &AN_HELD,
            &sent0.header.nonce,
            ResponseCounter::Restart,
            16,
        ),
        ..sent0
    };
    assert!(matches!(
        verdict(&xor_view, &hex(type0.reply)),
        Err(ClientError::BadReply {
            fault: ReplyFault::BadSignature,
            ..
        })
    ));
}

#[test]
fn a_type0_payload_reply_is_read_as_plaintext() {
    let type0 = case("echo_type0_without_coin");
    let sent0 = sent(&hex(type0.request), [0; 16]);
    let mut meta = ResponseMeta::reply_to(&sent0.header, RAIDA, Status::Success);
    meta.signature = *challenge().as_bytes();
    let payload = b"a plaintext payload".to_vec();
    let reply = encode_protected_response(&meta, Some((&ReplyProtection::Plaintext, &payload)));
    assert_eq!(&reply[32..32 + payload.len()], payload.as_slice());
    let answer = judge_reply_bytes(&sent0, &reply).expect("judged");
    assert_eq!(answer.payload.as_deref(), Some(payload.as_slice()));
    // Echo has no payload: as a status-only answer it is refused, by size.
    assert!(matches!(
        answer.status_only(sent0.raida, Command::Echo),
        Err(ClientError::BadReply {
            fault: ReplyFault::UnexpectedPayload { size_bytes: 19 },
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// The whole client, over an in-memory connection
// ---------------------------------------------------------------------------------------------

/// What answers RAIDA 7's address: our server's `handle_request`, or a fixed reply.
enum Behind {
    Server(Arc<Env>),
    Canned(Vec<u8>),
}

/// A connector whose RAIDA 7 is `Behind` a `tokio::io::duplex` pipe; every other address
/// refuses.
struct PipeConnector {
    behind: Arc<Behind>,
}

impl Connector for PipeConnector {
    type Stream = tokio::io::DuplexStream;

    fn connect(
        &self,
        to: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        let behind = self.behind.clone();
        Box::pin(async move {
            if to != addr(RAIDA) {
                return Err(io::ErrorKind::ConnectionRefused.into());
            }
            let (client_end, mut server_end) = tokio::io::duplex(1 << 16);
            tokio::spawn(async move {
                let mut request = vec![0u8; 32];
                if server_end.read_exact(&mut request).await.is_err() {
                    return;
                }
                let body_size_bytes = usize::from(u16::from_be_bytes([request[22], request[23]]));
                request.resize(32 + body_size_bytes, 0);
                if server_end.read_exact(&mut request[32..]).await.is_err() {
                    return;
                }
                let reply = match &*behind {
                    Behind::Server(env) => match handle_request(env, &request).await {
                        Outcome::Reply(reply) => reply.bytes,
                        _ => return,
                    },
                    Behind::Canned(bytes) => bytes.clone(),
                };
                let _ = server_end.write_all(&reply).await;
            });
            Ok(client_end)
        })
    }
}

/// A client of the held coin whose AN on RAIDA 7 is `an_on_7`.
fn client(behind: Behind, an_on_7: [u8; 16]) -> Client<PipeConnector> {
    let mut ans = [[0x77; 16]; 25];
    ans[usize::from(RAIDA)] = an_on_7;
    let locker = qmail_wire::tell::locker_from_ascii("LOCKER").expect("ascii");
    let identity =
        Identity::new(MailboxId::new(HELD.0, HELD.1), ans, locker, locker).expect("identity");
    let directory = Directory::new((0..25).map(addr).collect()).expect("25 addresses");
    let mut parts = ClientParts::new(
        identity,
        Arc::new(directory),
        PipeConnector {
            behind: Arc::new(behind),
        },
        Arc::new(ManualClock::new(1_750_000_000)),
        ChaCha8Rng::seed_from_u64(15),
    );
    parts.config.retries_max = 0;
    Client::new(parts).expect("client")
}

#[tokio::test]
async fn client_echoes_our_server_in_both_encryption_types() {
    let (_dir, env) = server(Settings::default()).await;
    let env = Arc::new(env);
    let right = client(Behind::Server(env.clone()), AN_HELD);
    right.echo(RAIDA).await.expect("type 1, right AN");
    right
        .echo_with(RAIDA, EncryptionType::None)
        .await
        .expect("type 0");
    // With a wrong AN the encrypted echo is 37, named; the plaintext one does not involve the
    // AN and still gets 250.
    let wrong = client(Behind::Server(env), AN_WRONG);
    let error = wrong.echo(RAIDA).await.expect_err("wrong AN");
    assert_eq!(error.status_code(), Some(37));
    assert!(
        error
            .to_string()
            .contains("RAIDA 7 (127.0.0.1:18007) answered echo with ERROR_INVALID_CRC (37)"),
        "{error}"
    );
    wrong
        .echo_with(RAIDA, EncryptionType::None)
        .await
        .expect("type 0 ignores the coin");
}

#[tokio::test]
async fn client_reports_a_public_servers_header_error_as_its_status() {
    for raidax in RAIDAX_REPLIES {
        for encryption in [EncryptionType::Aes128Ctr, EncryptionType::None] {
            let canned = client(Behind::Canned(hex(raidax.reply)), AN_HELD);
            let error = canned
                .echo_with(RAIDA, encryption)
                .await
                .expect_err("a header error");
            assert!(
                matches!(error, ClientError::Status { status_code, .. } if status_code == raidax.status),
                "{error}"
            );
            let named = Status::from_code(raidax.status).expect("named");
            assert_eq!(
                error.to_string(),
                format!("RAIDA 7 (127.0.0.1:18007) answered echo with {named}")
            );
        }
    }
}
