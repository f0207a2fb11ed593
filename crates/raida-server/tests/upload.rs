//! Upload (70) through `handle_request`: one test per status the page lists, the locker fee,
//! replacement of a stored stripe, and the refund when storing fails.

mod common;

use common::*;

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
