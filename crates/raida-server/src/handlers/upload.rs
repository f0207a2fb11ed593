//! Upload (70, DECISIONS.md "Upload"): store one stripe under (GUID, file_type).
//!
//! Order after the shared checks (body size = 48 + 38 + data_length + 2, else 16; preamble
//! 40 / 8 / 200; storage_duration 0…5 or 255, else 198 — held by the decoder until after the
//! preamble checks):
//!
//! 1. Pay: in one step under the ledger lock, check that the locker code is non-empty and
//!    holds `upload_fee`, and take the fee (else 169). Check and spend are one step so two
//!    concurrent uploads cannot both spend the locker's last coin.
//! 2. Store the stripe durably (temp, write, fsync, close, rename, and the directory fsync
//!    `stripe_dir_fsync` asks for), replacing any stripe of the same key, expiring at
//!    now + storage_duration on the server clock.
//! 3. If the store failed, refund the fee and answer 194; else 250.
//!
//! Why pay before storing: the reverse order could leave a stripe stored whose payment then
//! fails (a concurrent upload drained the locker), and a replaced stripe cannot be restored.
//! What a crash between 1 and 2 does: the ledger lives in memory and is rebuilt from the
//! provisioning file at start, so the debit vanishes with the crash; the upload was never
//! acknowledged, and its retry replaces whatever part of it survived. So no acknowledged
//! stripe is ever lost and no fee is kept for a stripe that was not stored. (A persistent
//! ledger would need the debit journaled with the stripe; there is none.)

use qmail_wire::body::UploadBody;
use qmail_wire::Status;

use super::{authenticate, CommandReply};
use crate::coins::PaymentError;
use crate::env::Env;
use crate::observer::ServerEvent;
use crate::store::Guid;

/// Handles an upload body.
pub(crate) async fn upload(env: &Env, request_id: u64, body: &UploadBody) -> CommandReply {
    CommandReply::Status(match upload_status(env, request_id, body).await {
        Ok(()) => Status::Success,
        Err(status) => status,
    })
}

async fn upload_status(env: &Env, request_id: u64, body: &UploadBody) -> Result<(), Status> {
    authenticate(env, &body.preamble)?;
    let fee = env.settings().upload_fee;
    pay(env, &body.locker_code, fee).map_err(|error| {
        tracing::debug!(request_id, %error, "upload payment refused");
        Status::PaymentRequired
    })?;
    let guid = Guid(body.guid);
    let now_s = env.clock().now_unix_s();
    let expires_at_unix_s = body
        .storage_duration
        .duration_s()
        .map(|duration_s| now_s.saturating_add(duration_s));
    let stored = env
        .stripes()
        .put(guid, body.file_type, &body.data, expires_at_unix_s)
        .await;
    if let Err(error) = stored {
        let refunded =
            fee == 0 || env.with_lockers(|lockers| lockers.credit(&body.locker_code, fee));
        tracing::warn!(request_id, %guid, file_type = body.file_type, %error, refunded,
            "upload could not store its stripe");
        return Err(Status::Filesystem);
    }
    env.observer().observe(&ServerEvent::StripeStored {
        raida_id: env.raida_id(),
        request_id,
        guid,
        file_type: body.file_type,
        size_bytes: body.data.len(),
        expires_at_unix_s,
        locker: body.locker_code,
        fee_spent: fee,
    });
    Ok(())
}

/// Takes `fee` from the locker; the code must be non-empty even when the fee is 0.
fn pay(env: &Env, locker: &crate::coins::LockerCode, fee: u64) -> Result<(), PaymentError> {
    if locker.iter().all(|byte| *byte == 0) {
        return Err(PaymentError::EmptyCode);
    }
    if fee == 0 {
        return Ok(());
    }
    env.with_lockers(|lockers| lockers.spend(locker, fee))
}
