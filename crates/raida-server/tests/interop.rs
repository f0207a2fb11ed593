//! Interop with the public RAIDA server (DECISIONS.md, "Interop with the public RAIDA
//! server"), server side: every golden request of `golden` (shared with
//! `qmail-client/tests/interop.rs`, where the client judges the same replies) goes through
//! `handle_request` on RAIDA 7, under both `response_counter` settings, and the answer must be
//! the golden reply byte for byte, the execution-time field 12–15 aside.
//!
//! The cases pin the header check order (version, split, RAIDA id, shard, group and command,
//! coin id, encryption type, key coin), 27 for encryption types 2–255, 4 for a shard above 3,
//! 34 for an unknown key coin or key denomination, 37 for a wrong AN, and the type-0 echo
//! signed with the challenge as it is even when bytes 17–21 name a held coin. Every reply
//! echoes request bytes 30–31, header errors included.

#[path = "../../qmail-client/tests/golden/mod.rs"]
mod golden;

use golden::{hex, server, to_hex, without_execution_time, CASES};
use raida_server::env::Env;
use raida_server::handler::{handle_request, Outcome};
use raida_server::settings::{RateLimit, ResponseCounterSetting, Settings};

async fn answer(env: &Env, request: &[u8]) -> Vec<u8> {
    match handle_request(env, request).await {
        Outcome::Reply(reply) => {
            assert!(reply.deferred.is_none());
            reply.bytes
        }
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[tokio::test]
async fn every_golden_request_is_answered_byte_for_byte() {
    for counter in [
        ResponseCounterSetting::Restart,
        ResponseCounterSetting::Continue,
    ] {
        let (_dir, env) = server(Settings {
            response_counter: counter,
            ..Settings::default()
        })
        .await;
        for case in CASES {
            let reply = answer(&env, &hex(case.request)).await;
            assert_eq!(reply[2], case.status, "{} ({counter:?})", case.name);
            assert_eq!(
                to_hex(&without_execution_time(&reply)),
                to_hex(&hex(case.reply)),
                "{} ({counter:?})",
                case.name
            );
        }
    }
}

/// The request bytes 30–31 come back on every reply, header errors included (our server's
/// choice; the public one may send `00 00` there).
#[tokio::test]
async fn every_reply_echoes_request_bytes_30_and_31() {
    let (_dir, env) = server(Settings::default()).await;
    for case in CASES {
        let mut request = hex(case.request);
        request[30] = 0x3C;
        request[31] = 0xC3;
        // (A type-1 body now decrypts under another nonce: its challenge fails, 37.)
        let reply = answer(&env, &request).await;
        assert_eq!(&reply[6..8], &[0x3C, 0xC3], "{}", case.name);
    }
}

/// A plaintext echo names no key coin: bytes 17–21 are not looked up, so the per-coin rate
/// limit (which counts type-1 requests of a held coin) does not apply to it.
#[tokio::test]
async fn plaintext_echo_is_not_counted_against_the_coin_it_names() {
    let (_dir, env) = server(Settings {
        rate_limit: Some(RateLimit {
            requests_max: 1,
            window_s: 60,
        }),
        ..Settings::default()
    })
    .await;
    let plain = CASES
        .iter()
        .find(|case| case.name == "echo_type0_names_held_coin")
        .expect("case");
    let encrypted = CASES
        .iter()
        .find(|case| case.name == "echo_type1_held_coin")
        .expect("case");
    for _ in 0..3 {
        let reply = answer(&env, &hex(plain.request)).await;
        assert_eq!(to_hex(&reply), to_hex(&hex(plain.reply)));
    }
    assert_eq!(
        to_hex(&answer(&env, &hex(encrypted.request)).await),
        to_hex(&hex(encrypted.reply))
    );
    assert!(matches!(
        handle_request(&env, &hex(encrypted.request)).await,
        Outcome::Close
    ));
}
