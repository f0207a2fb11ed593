//! Tell (71) through `handle_request`: verbatim publish and the wake-up of parked pings, 18
//! when no recipient is delivered, the preamble and length errors, 198 for every field rule,
//! the edit_sequence guard and the total_file_size overwrite.

mod common;

use common::*;

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
    let on_disk = f.stored_record(RECIPIENT, guid(4));
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
async fn a_recipient_whose_mailbox_this_raida_does_not_hold_is_refused() {
    let f = fixture().await;
    let body = tell_body(guid(20), vec![recipient(STRANGER, "PAY")], 0);
    f.recorder.take();
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::WrongRaida,
    );
    assert!(f.recorder.take().contains(&Event::Refused {
        recipient_index: 0,
        refusal: RecipientRefusal::UnknownMailbox,
    }));
    assert!(
        !f.tell_path(STRANGER, guid(20)).exists(),
        "no inbox nobody can poll"
    );
    // Beside a held mailbox it is skipped and the other is told: 250.
    let body = tell_body(
        guid(21),
        vec![recipient(STRANGER, "PAY"), recipient(RECIPIENT, "PAY")],
        0,
    );
    assert_status_only(
        &f.call(Command::Tell, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    assert!(f.tell_path(RECIPIENT, guid(21)).exists());
    assert!(!f.tell_path(STRANGER, guid(21)).exists());
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
    // An older edit: skipped; its only recipient skipped means zero deliveries: 18.
    let older = tell_body(guid(9), vec![recipient(RECIPIENT, "PAY")], 4);
    f.recorder.take();
    assert_status_only(
        &f.call(Command::Tell, SENDER, &older.to_bytes()).await,
        Status::WrongRaida,
    );
    assert_eq!(
        f.stored_record(RECIPIENT, guid(9)),
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
    assert_eq!(f.stored_record(RECIPIENT, guid(9)), six);
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
    f.stored_record(RECIPIENT, email)
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
