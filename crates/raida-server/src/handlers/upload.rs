//! Upload (70, DECISIONS.md "Upload"): store one stripe under (GUID, file_type).
//!
//! Order after the shared checks (body size = 48 + 38 + data_length + 2, else 16; preamble
//! 40 / 8 / 200; storage_duration 0…5 or 255, else 198 — held by the decoder until after the
//! preamble checks):
//!
//! 1. Pay: in one step under the ledger lock, check that the locker code is non-empty and
//!    holds `upload_fee`, and take the fee (else 169). Check and spend are one step so two
//!    concurrent uploads cannot both spend the locker's last coin. The spend is in memory.
//! 2. Store the stripe durably (temp, write, fsync, close, rename, and the directory fsync
//!    `stripe_dir_fsync` asks for), replacing any stripe of the same key, expiring at
//!    now + storage_duration on the server clock.
//! 3. Make the ledger durable (appended to `state/ledger.journal`, [`Env::persist_ledger`]).
//! 4. If 2 or 3 failed (an I/O error, a full disk), give the fee back and answer 194
//!    (ERROR_FILESYSTEM: "Server failed to create a directory, write a file", overview page
//!    001 "Status codes"); else 250.
//!
//! Why pay before storing: the reverse order could leave a stripe stored whose payment then
//! fails (a concurrent upload drained the locker), and a replaced stripe cannot be restored.
//! Why the ledger is written after the stripe and before the 250: every acknowledged upload's
//! fee is on the disk before the client hears 250, so a restart (SIGTERM, kill -9, power loss)
//! never credits it again; a crash before the ledger write loses only the debit of an upload
//! that was never acknowledged (its stripe may be on the disk; the retry replaces it and
//! pays). A failed store or ledger write refunds in memory and makes the refund durable too
//! (best effort: another upload's ledger write may already carry the debit). A failed store
//! never removes the stripe an earlier acknowledged upload of the same key left: the new one
//! only replaces it by the final rename.

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
    let durable = match stored {
        Ok(()) if fee == 0 => Ok(()),
        Ok(()) => env.persist_ledger().await,
        Err(error) => Err(error),
    };
    if let Err(error) = durable {
        refund(env, request_id, &body.locker_code, fee).await;
        tracing::warn!(request_id, %guid, file_type = body.file_type, %error,
            "upload failed on the file system: 194, fee refunded");
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

/// Gives `fee` back to the locker (in memory, then on the disk as far as it goes).
async fn refund(env: &Env, request_id: u64, locker: &crate::coins::LockerCode, fee: u64) {
    if fee == 0 {
        return;
    }
    if !env.with_lockers(|lockers| lockers.credit(locker, fee)) {
        tracing::error!(request_id, fee, "upload refund found no locker to credit");
        return;
    }
    if let Err(error) = env.persist_ledger().await {
        tracing::warn!(request_id, %error, "upload refund is not yet durable");
    }
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
