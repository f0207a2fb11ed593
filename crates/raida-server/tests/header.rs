//! Header and packet errors through `handle_request`: the header checks in the public RAIDA
//! server's order, then body size and terminator (see `raida_server::handler`).

mod common;

use common::*;

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
