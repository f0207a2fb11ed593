//! Stripe faults: stored stripes lost or silently corrupted on a storage RAIDA's disk.
//!
//! For every stripe a server reports stored, one draw from the `"faults.runtime"` stream
//! decides loss (`stripe_loss_fraction`), corruption (`stripe_corrupt_fraction`) or neither,
//! and a delay of up to [`STRIPE_FAULT_DELAY_S_MAX`] s. The damage is done on the RAIDA's
//! real simulated disk by its maintenance task, through the same `SimFs` the server uses:
//! no special server code. Loss deletes the file (and syncs its directory); corruption flips
//! one data byte and writes the file back atomically. Either is recorded as a fault naming
//! the stripe index the server held, recomputed from the sender's public placement rule:
//! stripe `i` of an email goes to the RAIDA ranked `i` for its GUID, whatever its data
//! stripes and parity (every width's placement is a prefix of one ranking), so the index is
//! the RAIDA's rank, and emails of any width (workload `data_stripes_max`, Reed–Solomon)
//! are damaged and named alike.

use std::path::Path;

use knobs::{Knob, Knobs, Visitor};
use qmail_client::send::Placement;
use qmail_client::stripe::DataStripeCount;
use raida_server::env::Env;
use raida_server::fs::{Fs, SimFs};
use raida_server::store::Guid;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clock::PPM;
use crate::history::{EmailId, EventKind, FaultKind, Host};
use crate::limits::{DATA_STRIPES_PLACEABLE_MAX, STRIPE_FAULT_DELAY_S_MAX, US_PER_S};
use crate::world::recorder::Recorder;

/// Stripe knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct StripeFaults {
    /// Chance per stored stripe of deletion.
    pub stripe_loss_fraction: f64,
    /// Chance per stored stripe of corruption.
    pub stripe_corrupt_fraction: f64,
}

impl Knobs for StripeFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::fraction("stripe_loss_fraction", &mut self.stripe_loss_fraction).vary(PPM));
        v.knob(
            Knob::fraction("stripe_corrupt_fraction", &mut self.stripe_corrupt_fraction).vary(PPM),
        );
    }
}

impl StripeFaults {
    /// True when stored stripes stay intact.
    pub fn is_quiet(&self) -> bool {
        self.stripe_loss_fraction == 0.0 && self.stripe_corrupt_fraction == 0.0
    }

    /// What happens to one stored stripe, and after how long. Draws the same three values
    /// whatever the knobs.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> (Option<MaintenanceAction>, u64) {
        let u: f64 = rng.random();
        let delay_us = rng.random_range(0..=u64::from(STRIPE_FAULT_DELAY_S_MAX) * US_PER_S);
        let seed: u64 = rng.random();
        let action = if u < self.stripe_loss_fraction {
            Some(MaintenanceAction::Lose)
        } else if u < self.stripe_loss_fraction + self.stripe_corrupt_fraction {
            Some(MaintenanceAction::Corrupt { seed })
        } else {
            None
        };
        (action, delay_us)
    }
}

/// What the harness asks a RAIDA's maintenance task to do to one stored stripe.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MaintenanceAction {
    /// Delete the stripe file (durably).
    Lose,
    /// Flip one data byte, chosen by `seed`, writing the file back atomically.
    Corrupt {
        /// Picks the byte.
        seed: u64,
    },
}

/// One maintenance command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MaintenanceCommand {
    /// The file GUID.
    pub email_id: EmailId,
    /// The file.
    pub file_type: u8,
    /// What to do.
    pub action: MaintenanceAction,
}

/// Carries out `command` on RAIDA `raida`'s disk (inside its host) and records the fault.
/// `_data_stripes` (the scenario's default width) is no longer needed: the stripe index is
/// the RAIDA's rank for the GUID whatever the email's width ([`stripe_index_of`]).
pub async fn apply_maintenance(
    env: &Env,
    raida: u8,
    _data_stripes: DataStripeCount,
    recorder: &Recorder,
    command: MaintenanceCommand,
) {
    let Some(stripe_index) = stripe_index_of(command.email_id, raida) else {
        return;
    };
    let path = env
        .stripes()
        .stripe_path(Guid(command.email_id.0), command.file_type);
    let done = match command.action {
        MaintenanceAction::Lose => lose_file(&path).await,
        MaintenanceAction::Corrupt { seed } => corrupt_file(&path, seed).await,
    };
    let Some(detail) = done else {
        return;
    };
    let (email_id, file_type) = (command.email_id, command.file_type);
    let fault = match command.action {
        MaintenanceAction::Lose => FaultKind::StripeLost {
            email_id,
            file_type,
            stripe_index,
        },
        MaintenanceAction::Corrupt { .. } => FaultKind::StripeCorrupted {
            email_id,
            file_type,
            stripe_index,
        },
    };
    recorder.record(
        Host::Raida(raida),
        EventKind::FaultFired {
            fault,
            hosts: vec![Host::Raida(raida)],
            detail,
        },
    );
}

/// The stripe index RAIDA `raida` holds of email `email_id`, if it holds one: its rank in the
/// sender's public placement rule, a prefix of which places every width and parity.
pub fn stripe_index_of(email_id: EmailId, raida: u8) -> Option<u8> {
    let widest = DataStripeCount::new(usize::from(DATA_STRIPES_PLACEABLE_MAX))
        .expect("the placeable maximum is a valid width");
    Placement::from_guid(&email_id.0, widest)
        .ok()?
        .raidas()
        .iter()
        .position(|r| *r == raida)
        .and_then(|index| u8::try_from(index).ok())
}

/// Deletes a file and syncs its directory; `None` when there was nothing to delete.
async fn lose_file(path: &Path) -> Option<String> {
    SimFs.remove_file(path).await.ok()?;
    if let Some(dir) = path.parent() {
        // Best effort: an unsynced removal may come back after a crash, which is a (rarer)
        // loss that never happened; the fault is recorded either way.
        let _ = SimFs.sync_dir(dir).await;
    }
    Some(format!("deleted {}", path.display()))
}

/// Rewrites a stripe file with one data byte flipped (temp file, fsync, rename, dir sync).
/// `None` when the file is missing or holds no data bytes.
async fn corrupt_file(path: &Path, seed: u64) -> Option<String> {
    let mut bytes = SimFs.read(path).await.ok()?;
    let header = raida_server::limits::STRIPE_FILE_HEADER_SIZE_BYTES;
    let data_len = bytes.len().checked_sub(header).filter(|len| *len > 0)?;
    let offset = header + usize::try_from(seed % data_len as u64).ok()?;
    let byte = bytes.get_mut(offset)?;
    *byte ^= 0xFF;
    // A lying RAIDA, not a decaying disk: the stripe's own CRC is resealed, so the server
    // serves the wrong bytes as good and the client must find the lie by the file's CRC.
    // (Decay the server detects itself is covered by raida-server's storage-fault tests.)
    raida_server::store::stripes::reseal_stripe_file(&mut bytes);
    let temp = path.with_extension("corrupt.tmp");
    let mut file = SimFs.create_new(&temp).await.ok()?;
    file.write_all(&bytes).await.ok()?;
    file.sync_all().await.ok()?;
    file.close().await.ok()?;
    SimFs.rename(&temp, path).await.ok()?;
    if let Some(dir) = path.parent() {
        let _ = SimFs.sync_dir(dir).await;
    }
    Some(format!("flipped byte {offset} of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_client::config::Parity;

    #[test]
    fn a_stripe_is_named_by_its_index_in_every_width_and_parity() {
        let email_id = EmailId([7; 16]);
        for data_stripes in [1usize, 3, 7, 12, 20] {
            for parity in [Parity::Xor, Parity::ReedSolomon { parity_count: 3 }] {
                let width = DataStripeCount::new(data_stripes).expect("valid width");
                let Ok(placement) = Placement::from_guid_with_parity(&email_id.0, width, parity)
                else {
                    continue;
                };
                for (index, raida) in placement.raidas().iter().enumerate() {
                    assert_eq!(
                        stripe_index_of(email_id, *raida),
                        u8::try_from(index).ok(),
                        "N {data_stripes} {parity:?}"
                    );
                }
            }
        }
    }
}
