//! The per-coin rate limit (setting `rate_limit`) through `handle_request`: an over-limit
//! request is dropped, its connection closed without a reply.

mod common;

use common::*;

#[tokio::test]
async fn rate_limit_closes_without_a_reply() {
    let f = fixture_with(Settings {
        rate_limit: Some(RateLimit {
            requests_max: 2,
            window_s: 10,
        }),
        ..Settings::default()
    })
    .await;
    let body = peek_body(RECIPIENT, 0).to_bytes();
    for _ in 0..2 {
        assert_eq!(
            status_of(&f.call(Command::Peek, RECIPIENT, &body).await),
            Status::Success
        );
    }
    let (packet, _) = f.packet(Command::Peek, RECIPIENT, &body);
    f.recorder.take();
    assert!(matches!(
        handle_request(&f.env, &packet).await,
        Outcome::Close
    ));
    assert!(f.recorder.take().contains(&Event::Request {
        command: Some(Command::Peek),
        outcome: RequestOutcome::Closed,
        caller: None,
    }));
    // Another key coin has its own budget; the next window opens again.
    assert_eq!(
        status_of(
            &f.call(Command::Peek, SENDER, &peek_body(SENDER, 0).to_bytes())
                .await
        ),
        Status::Success
    );
    f.clock.advance_us(10 * US_PER_S);
    assert_eq!(
        status_of(&f.call(Command::Peek, RECIPIENT, &body).await),
        Status::Success
    );
}
