//! Golden interop cases, shared by `raida-server/tests/interop.rs` (the server answers each
//! request byte for byte) and `qmail-client/tests/interop.rs` (the client judges each reply).
//!
//! Every byte below follows from DECISIONS.md, "Interop with the public RAIDA server", and was
//! computed outside this code base (Python's `cryptography` AES-CTR and `zlib.crc32`), so a
//! change to the codec cannot silently move the expectations with it:
//!
//! - RAIDA 7 holds coin (1, 0x00012345) with [`AN_HELD`], and also has an entry for the
//!   out-of-range denomination (7, 0x00012345), which must still be refused.
//! - Every request carries the challenge [`CHALLENGE`] (random bytes 01…0c, CRC-32 `925fc655`)
//!   and nonce `a0…a7`, so every reply of our server echoes `a6 a7`.
//! - Type 1 bodies are AES-128-CTR under the client's AN with counter block `a0…a7 ‖ 0⁸`.
//! - A reply is 32 bytes: RAIDA 7, shard 0, status, group, frame count `00 01`, echo, 0, body
//!   size 0, execution time 0 (ignored when the server's clock moved), signature.
//!
//! [`RAIDAX_REPLIES`] are header-error replies in the public server's form: echo `00 00` and
//! a zero signature. A client must surface their status, named, not an echo mismatch.
//! [`server`] builds the RAIDA 7 the cases expect.

#![allow(dead_code)]

use std::sync::Arc;

use raida_server::clock::{ManualClock, US_PER_S};
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::env::{Env, EnvParts};
use raida_server::fs::{NoopHook, RealFs};
use raida_server::settings::Settings;

/// The RAIDA every case addresses.
pub const RAIDA: u8 = 7;
/// The AN of the held coin on RAIDA 7.
pub const AN_HELD: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];
/// An AN the server does not hold for the coin (a client with a stale or wrong AN).
pub const AN_WRONG: [u8; 16] = [
    0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00,
];
/// The AN a client of the unknown coin (1, 0x00054321) uses.
pub const AN_STRANGER: [u8; 16] = [0x5a; 16];
/// The key of a plaintext request (not used for anything).
pub const NO_KEY: [u8; 16] = [0; 16];
/// The held coin (denomination, serial number).
pub const HELD: (i8, u32) = (1, 0x0001_2345);
/// A table entry with a denomination outside −8…+6.
pub const BAD_DENOMINATION: (i8, u32) = (7, 0x0001_2345);
/// The challenge at the start of every request body.
pub const CHALLENGE: &str = "0102030405060708090a0b0c925fc655";

/// One request and our server's reply to it.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// What it shows.
    pub name: &'static str,
    /// The request: 32-byte header, then body (challenge, plain or encrypted, and `3e3e`).
    pub request: &'static str,
    /// The reply: header bytes 0–15, then the signature.
    pub reply: &'static str,
    /// Response byte 2.
    pub status: u8,
    /// The AN the client keyed the request with ([`NO_KEY`] for plaintext).
    pub client_an: [u8; 16],
}

/// A header-error reply as the public server sends it.
#[derive(Clone, Copy, Debug)]
pub struct RaidaxReply {
    /// Response byte 2.
    pub status: u8,
    /// The 32 bytes.
    pub reply: &'static str,
}

pub const CASES: &[Case] = &[
    // Type 0, bytes 17–21 zero: 250, signature = the challenge as it is.
    Case {
        name: "echo_type0_without_coin",
        request: "010007030000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "0700fa000001a6a70000000000000000 0102030405060708090a0b0c925fc655",
        status: 250,
        client_an: NO_KEY,
    },
    // Type 0, bytes 17–21 name the held coin: ignored; signature = the challenge, no XOR.
    Case {
        name: "echo_type0_names_held_coin",
        request: "010007030000000601000000000000000001000123450012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "0700fa000001a6a70000000000000000 0102030405060708090a0b0c925fc655",
        status: 250,
        client_an: NO_KEY,
    },
    // Shard 0 is accepted (0–3 are).
    Case {
        name: "echo_type0_shard_0",
        request: "010007000000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "0700fa000001a6a70000000000000000 0102030405060708090a0b0c925fc655",
        status: 250,
        client_an: NO_KEY,
    },
    // Type 1 keyed by the held coin: 250, signature = challenge XOR AN_HELD.
    Case {
        name: "echo_type1_held_coin",
        request: "010007030000000601000000000000000101000123450012a0a1a2a3a4a5a6a7 0228da7a76f6f291b5a541d6cdfaf0c63e3e",
        reply: "0700fa000001a6a70000000000000000 011321374153617f8193a1b75e8228aa",
        status: 250,
        client_an: AN_HELD,
    },
    // Type 1 encrypted with a wrong AN: the decrypted challenge fails its CRC, 37 (signed with that
    // garbage XOR AN_HELD, as every reply after the challenge is read).
    Case {
        name: "echo_type1_wrong_an",
        request: "010007030000000601000000000000000101000123450012a0a1a2a3a4a5a6a7 386a567cbd87a29e3553649e176ba0dd3e3e",
        reply: "070025000001a6a70000000000000000 3b51ad318a223170016584ff841378b1",
        status: 37,
        client_an: AN_WRONG,
    },
    // Type 1 keyed by a coin this RAIDA does not hold: 34, zero signature.
    Case {
        name: "echo_type1_unknown_key_coin",
        request: "010007030000000601000000000000000101000543210012a0a1a2a3a4a5a6a7 66042674c373a955f7c693e09ef5d9db3e3e",
        reply: "070022000001a6a70000000000000000 00000000000000000000000000000000",
        status: 34,
        client_an: AN_STRANGER,
    },
    // Type 1 keyed by denomination 7 (outside −8…+6), even though the server's table has (7, SN):
    // 34.
    Case {
        name: "echo_type1_key_denomination_7",
        request: "010007030000000601000000000000000107000123450012a0a1a2a3a4a5a6a7 0228da7a76f6f291b5a541d6cdfaf0c63e3e",
        reply: "070022000001a6a70000000000000000 00000000000000000000000000000000",
        status: 34,
        client_an: AN_HELD,
    },
    // Encryption type 2 (the public server's locker type, not implemented here): 27.
    Case {
        name: "echo_encryption_type_2",
        request: "010007030000000601000000000000000201000123450012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "07001b000001a6a70000000000000000 00000000000000000000000000000000",
        status: 27,
        client_an: NO_KEY,
    },
    // Encryption type 7 (unknown everywhere): 27.
    Case {
        name: "echo_encryption_type_7",
        request: "010007030000000601000000000000000701000123450012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "07001b000001a6a70000000000000000 00000000000000000000000000000000",
        status: 27,
        client_an: NO_KEY,
    },
    // Type 0 on a command other than echo keeps its 34.
    Case {
        name: "peek_encryption_type_0",
        request: "010007030649000601000000000000000001000123450012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070022060001a6a70000000000000000 00000000000000000000000000000000",
        status: 34,
        client_an: NO_KEY,
    },
    // Shard 4 (above 3): 4.
    Case {
        name: "echo_shard_4",
        request: "010007040000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070004000001a6a70000000000000000 00000000000000000000000000000000",
        status: 4,
        client_an: NO_KEY,
    },
    // Shard 4 and coin id 00 07: the shard is checked first, 4.
    Case {
        name: "echo_shard_4_before_coin_id",
        request: "010007040000000701000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070004000001a6a70000000000000000 00000000000000000000000000000000",
        status: 4,
        client_an: NO_KEY,
    },
    // Unknown group 9 and coin id 00 07: group before coin id, 5.
    Case {
        name: "group_9_before_coin_id",
        request: "010007030900000701000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070005090001a6a70000000000000000 00000000000000000000000000000000",
        status: 5,
        client_an: NO_KEY,
    },
    // Router version 2: 255.
    Case {
        name: "echo_version_2",
        request: "020007030000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "0700ff000001a6a70000000000000000 00000000000000000000000000000000",
        status: 255,
        client_an: NO_KEY,
    },
    // Split id 1: 2.
    Case {
        name: "echo_split_1",
        request: "010107030000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070002000001a6a70000000000000000 00000000000000000000000000000000",
        status: 2,
        client_an: NO_KEY,
    },
    // Addressed to RAIDA 8: 3.
    Case {
        name: "echo_raida_id_8",
        request: "010008030000000601000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070003000001a6a70000000000000000 00000000000000000000000000000000",
        status: 3,
        client_an: NO_KEY,
    },
    // Coin id 00 07: 7.
    Case {
        name: "echo_coin_id_7",
        request: "010007030000000701000000000000000000000000000012a0a1a2a3a4a5a6a7 0102030405060708090a0b0c925fc6553e3e",
        reply: "070007000001a6a70000000000000000 00000000000000000000000000000000",
        status: 7,
        client_an: NO_KEY,
    },
];

pub const RAIDAX_REPLIES: &[RaidaxReply] = &[
    // version 2: 255
    RaidaxReply {
        status: 255,
        reply: "0700ff000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // split id 1: 2
    RaidaxReply {
        status: 2,
        reply: "070002000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // RAIDA id 8: 3
    RaidaxReply {
        status: 3,
        reply: "070003000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // shard 4: 4
    RaidaxReply {
        status: 4,
        reply: "070004000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // coin id 00 07: 7
    RaidaxReply {
        status: 7,
        reply: "070007000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // encryption type 2: 27
    RaidaxReply {
        status: 27,
        reply: "07001b000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
    // unknown key coin: 34
    RaidaxReply {
        status: 34,
        reply: "070022000001 0000 00000000 00000000 00000000000000000000000000000000",
    },
];

/// The bytes of a hex string (spaces allowed).
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex: {text}");
    digits
        .chunks_exact(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(pair, 16).expect("hex digit")
        })
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A reply with its execution-time field (bytes 12–15) zeroed: the only bytes a golden
/// comparison ignores.
pub fn without_execution_time(reply: &[u8]) -> Vec<u8> {
    let mut reply = reply.to_vec();
    if let Some(time) = reply.get_mut(12..16) {
        time.fill(0);
    }
    reply
}

/// RAIDA 7 as the golden cases expect it: our real server over a temp dir with a manual
/// clock, holding [`HELD`] and the [`BAD_DENOMINATION`] entry, both with [`AN_HELD`].
pub async fn server(settings: Settings) -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut coins = CoinTable::new();
    coins.insert(HELD.0, HELD.1, AN_HELD);
    coins.insert(BAD_DENOMINATION.0, BAD_DENOMINATION.1, AN_HELD);
    let env = Env::new(EnvParts {
        clock: Arc::new(ManualClock::new(1_750_000_000 * US_PER_S)),
        fs: Arc::new(RealFs),
        hook: Arc::new(NoopHook),
        rng_seed: 15,
        root: dir.path().to_path_buf(),
        raida_id: RAIDA,
        process_id: 1,
        settings,
        coins,
        lockers: LockerLedger::new(),
        inbox_fees: InboxFees::new(),
    })
    .expect("env");
    env.prepare().await.expect("prepare");
    (dir, env)
}
