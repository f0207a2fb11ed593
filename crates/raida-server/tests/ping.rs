//! Ping (72) through `handle_request` and the long-poll helpers: an answer at once when tells
//! wait, parking, the wake-up by a tell, the signed timeout reply, and the errors.

mod common;

use common::*;

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
