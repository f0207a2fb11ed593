//! Download (74) through `handle_request`: pages of a stored stripe, and 202 for an expired
//! one.

mod common;

use common::*;

#[tokio::test]
async fn download_pages() {
    let f = fixture().await;
    let data: Vec<u8> = (0..5000u32).map(|n| n as u8).collect();
    upload(&f, guid(80), 0x0A, data.clone()).await;
    // Any caller key works and the preamble is not compared: here a preamble with a wrong AN.
    let mut body = download_body(guid(80), 0x0A, 0);
    body.preamble.an = [0; 16];
    let answer = f.call(Command::Download, SENDER, &body.to_bytes()).await;
    assert_eq!(answer.status(), Status::Success);
    let page = DownloadPage::from_bytes(answer.payload.as_ref().expect("payload")).expect("page");
    assert_eq!(page, DownloadPage::new(0x0A, 0, data));
    assert!(page.is_last());
    let payload = answer.payload.expect("payload");
    assert_eq!(&payload[..8], &[0x0A, 0x02, 0, 0, 0, 0, 0x13, 0x88]);

    // Page past the end: 198; unknown GUID or file type: 202.
    let past = download_body(guid(80), 0x0A, 1).to_bytes();
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &past).await,
        Status::InvalidParameter,
    );
    for (email, file_type) in [(guid(81), 0x0A), (guid(80), 0x0B)] {
        let body = download_body(email, file_type, 0).to_bytes();
        assert_status_only(
            &f.call(Command::Download, RECIPIENT, &body).await,
            Status::FileNotExist,
        );
    }
    // An empty stripe has one empty last page.
    upload(&f, guid(82), 1, Vec::new()).await;
    let answer = f
        .call(
            Command::Download,
            RECIPIENT,
            &download_body(guid(82), 1, 0).to_bytes(),
        )
        .await;
    let page = DownloadPage::from_bytes(&answer.payload.expect("payload")).expect("page");
    assert!(page.data.is_empty() && page.is_last());
    // Body length rule: 16.
    let mut long = download_body(guid(80), 0x0A, 0).to_bytes();
    long.push(0);
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &long).await,
        Status::InvalidPacketLength,
    );
}

#[tokio::test]
async fn download_of_an_expired_stripe_is_202() {
    let f = fixture().await;
    let mut body = upload_body(guid(83), 1, vec![1; 10], "PAY");
    body.storage_duration = StorageDuration::Day;
    assert_status_only(
        &f.call(Command::Upload, SENDER, &body.to_bytes()).await,
        Status::Success,
    );
    let request = download_body(guid(83), 1, 0).to_bytes();
    assert_eq!(
        f.call(Command::Download, RECIPIENT, &request)
            .await
            .status(),
        Status::Success
    );
    f.clock.advance_us(86_400 * US_PER_S);
    assert_status_only(
        &f.call(Command::Download, RECIPIENT, &request).await,
        Status::FileNotExist,
    );
}
