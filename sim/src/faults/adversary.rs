//! Adversary faults: what an insider (the host `mallory`, holding every sender's keys) and a
//! careless sender do with tells.
//!
//! - `replay_fraction`: per tell, the adversary re-sends it after a seeded delay in
//!   [`crate::limits::REPLAY_DELAY_S_MIN`]..=[`crate::limits::REPLAY_DELAY_S_MAX`] s,
//!   re-encrypted in a fresh request with a fresh routing timestamp (the record, and so its
//!   file-header timestamp, unchanged);
//! - `duplicate_tell_fraction`: per tell, the adversary sends it again at once;
//! - `tell_before_upload_fraction`: per email revision, the sender tells before it uploads.
//!
//! Each revision's choices are drawn when the workload is planned
//! ([`crate::world::workload::Plan`]); the adversary host runs in
//! [`crate::world::workload`].

use knobs::{Knob, Knobs, Visitor};

use super::clock::PPM;

/// Adversary knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct AdversaryFaults {
    /// Chance per tell of a later replay by the adversary.
    pub replay_fraction: f64,
    /// Chance per tell of a duplicate send.
    pub duplicate_tell_fraction: f64,
    /// Chance per email revision of telling before uploading.
    pub tell_before_upload_fraction: f64,
}

impl Knobs for AdversaryFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::fraction("replay_fraction", &mut self.replay_fraction).vary(PPM));
        v.knob(
            Knob::fraction("duplicate_tell_fraction", &mut self.duplicate_tell_fraction).vary(PPM),
        );
        v.knob(
            Knob::fraction(
                "tell_before_upload_fraction",
                &mut self.tell_before_upload_fraction,
            )
            .vary(PPM),
        );
    }
}

impl AdversaryFaults {
    /// True when the adversary never acts and senders keep the protocol's order.
    pub fn is_quiet(&self) -> bool {
        self.replay_fraction == 0.0
            && self.duplicate_tell_fraction == 0.0
            && self.tell_before_upload_fraction == 0.0
    }
}
