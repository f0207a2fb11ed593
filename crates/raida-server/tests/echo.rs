//! Echo (group 0, code 0) through `handle_request`: 250, encrypted (type 1) and plaintext
//! (type 0).

mod common;

use common::*;

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
