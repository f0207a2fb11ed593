//! The send steps (`prepare`, `upload_all`, `tell_all`) against the fake network: in the
//! normal order they store exactly what `send_email` stores, with the placement of the
//! configured parity; told before uploaded, an email cannot be downloaded until its uploads
//! land.

mod common;

use std::collections::BTreeMap;

use common::{bytes, World};
use qmail_client::config::Parity;
use qmail_client::{ClientError, Config, DataStripeCount, Email, MailboxId, Poll, Recipient};
use qmail_wire::tell::TellRecord;

const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 2001);
const CAROL: MailboxId = MailboxId::new(2, 3002);
const DAVE: MailboxId = MailboxId::new(-1, 4026);

fn email() -> Email {
    let mut email = Email::new([0x42; 16], bytes(1, 7_000));
    email.attachments = vec![bytes(2, 90_000), bytes(3, 5)];
    // BOB and DAVE share beacon 1 (serial mod 25): one tell names both.
    email.recipients = vec![
        Recipient::to(BOB),
        Recipient::cc(CAROL),
        Recipient::bcc(DAVE),
    ];
    email
}

fn reed_solomon_config() -> Config {
    Config {
        data_stripe_count: DataStripeCount::new(5).expect("valid"),
        parity: Parity::ReedSolomon { parity_count: 3 },
        ..World::test_config()
    }
}

/// One RAIDA's stored stripes and inboxes.
type Stored = (
    BTreeMap<([u8; 16], u8), Vec<u8>>,
    BTreeMap<MailboxId, Vec<Vec<u8>>>,
);

/// Every RAIDA's stored stripes and inboxes, emptied.
fn take_state(world: &World) -> Vec<Stored> {
    world
        .raidas
        .iter()
        .map(|raida| {
            let state = std::mem::take(&mut *raida.state.lock().unwrap());
            (state.stripes, state.inbox)
        })
        .collect()
}

fn only_tell(poll: Poll) -> TellRecord {
    match poll {
        Poll::Tells(tells) if tells.len() == 1 => tells[0].record.clone(),
        other => panic!("expected one tell, got {other:?}"),
    }
}

#[tokio::test]
async fn the_steps_in_order_store_exactly_what_send_email_stores() {
    let world = World::start(&[ALICE, BOB, CAROL, DAVE]).await;
    for config in [World::test_config(), reed_solomon_config()] {
        let email = email();
        let one_call = world.client_with(ALICE, 1, config.clone(), None);
        let report = one_call.send_email(&email).await.expect("sent");
        assert!(report.all_told(), "{report:?}");
        let sent = take_state(&world);

        let stepped = world.client_with(ALICE, 1, config.clone(), None);
        let prepared = stepped.prepare(&email).expect("prepared");
        assert_eq!(prepared.placement(), &report.placement);
        assert_eq!(
            prepared.placement().raidas().len(),
            config.parity.stripe_count(config.data_stripe_count),
            "the placement honours the configured parity"
        );
        assert_eq!(prepared.placement().parity(), config.parity);
        assert_eq!(prepared.tell_groups().len(), 2, "BOB and DAVE share a tell");
        let uploads = stepped.upload_all(&prepared).await;
        assert!(uploads.all_stored(), "{uploads:?}");
        assert_eq!(uploads.stored_count(), report.stripes_uploaded);
        assert_eq!(uploads.allowed_by(config.send_policy), Ok(Vec::new()));
        let tells = stepped.tell_all(&prepared).await;
        assert_eq!(
            tells, report.tells,
            "same beacons, recipients, record bytes, statuses"
        );
        let stepped_state = take_state(&world);
        assert_eq!(
            stepped_state, sent,
            "the same stripes and records, byte for byte"
        );

        // Every stripe sits on the RAIDA its placement names.
        for (stripe_index, raida) in prepared.placement().raidas().iter().enumerate() {
            let (stripes, _) = &stepped_state[usize::from(*raida)];
            for file in prepared.files() {
                assert_eq!(
                    stripes.get(&(email.guid, file.file_type)),
                    file.stripes.get(stripe_index)
                );
            }
        }
    }
}

#[tokio::test]
async fn told_before_uploaded_the_download_fails_until_the_uploads_land() {
    let world = World::start(&[ALICE, BOB, CAROL, DAVE]).await;
    let alice = world.client_with(ALICE, 1, reed_solomon_config(), None);
    let email = email();
    let prepared = alice.prepare(&email).expect("prepared");
    let tells = alice.tell_all(&prepared).await;
    assert!(tells.iter().all(|tell| tell.result.is_ok()), "{tells:?}");
    assert_eq!(world.total_uploads(), 0);

    let bob = world.client(BOB, 2);
    let record = only_tell(bob.peek(0).await.expect("peek"));
    assert_eq!(
        record.file_header.stripe_count, 8,
        "5 data + 3 Reed-Solomon parity"
    );
    assert_eq!(record.file_header.parity_algo, 1);
    let error = bob
        .download_email(&record)
        .await
        .expect_err("no stripe is stored yet");
    assert!(
        matches!(error, ClientError::FileUnrecoverable { .. }),
        "{error}"
    );

    let uploads = alice.upload_all(&prepared).await;
    assert!(uploads.all_stored(), "{uploads:?}");
    let files = bob
        .download_email(&record)
        .await
        .expect("the uploads landed");
    let downloaded: Vec<&Vec<u8>> = files.iter().map(|file| &file.bytes).collect();
    let sent: Vec<&Vec<u8>> = std::iter::once(&email.body)
        .chain(&email.attachments)
        .collect();
    assert_eq!(downloaded, sent);
}
