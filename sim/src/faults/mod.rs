//! Every fault the simulator injects, one module per family, each owning its knobs (the
//! `[faults]` keys, their ranges and how swarm varies them), what the seed resolves them to,
//! and how the fault acts on the world:
//!
//! | family | knobs | acts through |
//! |---|---|---|
//! | [`clock`] | `clock_skew_s_max`, `clock_drift_ppm_max`, `clock_step_fraction` | each host's [`crate::clock::HostClock`] |
//! | [`network`] | `packet_loss`, `latency_ms_min/max`, `partition_fraction`, `oneway_partition_fraction` | turmoil links |
//! | [`crash`] | `crash_rate_per_host_per_min`, `crash_at_steps`, `crash_at_step_fraction` | power loss and restart of RAIDA hosts |
//! | [`adversary`] | `replay_fraction`, `duplicate_tell_fraction`, `tell_before_upload_fraction`, `replay_delay_s_max`, `timestamp_split_fraction` | the insider host `mallory` and the senders' order of steps |
//! | [`stripes`] | `stripe_loss_fraction`, `stripe_corrupt_fraction` | each RAIDA's maintenance task, on its disk |
//! | [`interleave`] | `fs_latency_ms_max`, `yield_step_fraction`, `yield_ms_max` | turmoil's fs latency and the servers' step hooks |
//! | [`writeback`] | `writeback_s` | the RAIDAs' disks committing pending operations on their own |
//! | [`storage`] | `io_error_rate`, `read_corruption_rate`, `disk_capacity_bytes`, `torn_write_block_bytes` | the RAIDAs' file systems ([`storage::StorageFs`]) and turmoil's disk model |
//! | [`malformed`] | `malformed_requests_per_min` | the insider host `mallory` sending requests a buggy or hostile client would |
//!
//! A knob is written in two places: its field, and its line in the family's
//! [`knobs::Knobs::visit`]. That line carries the key, the range (validation), the print
//! order and the swarm variation, so parsing, the run summary and swarm resolution all come
//! from it. [`driver::FaultDriver`] is the schedule that applies them during a run.
//!
//! **Swarm.** With `swarm = true` the seed picks each rate, TigerBeetle-VOPR style: from the
//! seed's `"faults"` stream, in visit order, each on/off knob is off half the time and
//! otherwise uniform between 0 and its configured value; `latency_ms_max` is uniform between
//! `latency_ms_min` and its value; each listed crash step is kept with chance 1/2. Integers are
//! drawn as `u32` and fractions in whole steps as `u64`, which fixes how much of the stream
//! each draw takes (`sim/tests/snapshots.rs` pins a swarm run's trace).

pub mod adversary;
pub mod clock;
pub mod crash;
pub mod driver;
pub mod interleave;
pub mod malformed;
pub mod network;
pub mod storage;
pub mod stripes;
pub mod writeback;

use knobs::{Knob, Knobs, Value, Vary, Visitor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::seed::SeedTree;

pub use adversary::AdversaryFaults;
pub use clock::ClockFaults;
pub use crash::CrashFaults;
pub use interleave::InterleaveFaults;
pub use malformed::MalformedFaults;
pub use network::NetworkFaults;
pub use storage::StorageFaults;
pub use stripes::StripeFaults;
pub use writeback::WritebackFaults;

/// `[faults]`: as configured (maxima when `swarm` is on), or as one seed resolved them.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Faults {
    /// Let the seed choose each rate (default false).
    pub swarm: bool,
    /// Host clocks.
    pub clock: ClockFaults,
    /// Links.
    pub network: NetworkFaults,
    /// Power loss.
    pub crash: CrashFaults,
    /// The insider.
    pub adversary: AdversaryFaults,
    /// Stored stripes.
    pub stripes: StripeFaults,
    /// Requests overlapping inside a server's handlers.
    pub interleave: InterleaveFaults,
    /// The disks' own commits of pending operations (visited last: adding it left every
    /// other knob's swarm draws where they were).
    pub writeback: WritebackFaults,
    /// The RAIDAs' disks (visited after writeback, for the same reason).
    pub storage: StorageFaults,
    /// Malformed requests (visited after `writeback`, for the same reason).
    pub malformed: MalformedFaults,
}

impl Knobs for Faults {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        visitor.knob(Knob::bool("swarm", &mut self.swarm));
        self.clock.visit(visitor);
        self.network.visit(visitor);
        self.crash.visit(visitor);
        self.adversary.visit(visitor);
        self.stripes.visit(visitor);
        self.interleave.visit(visitor);
        self.writeback.visit(visitor);
        self.storage.visit(visitor);
        self.malformed.visit(visitor);
    }
}

impl Faults {
    /// The rates one seed runs with. Without swarm they are the configured ones (and the
    /// seed's stream is not touched); with swarm, drawn from its `"faults"` stream.
    pub fn resolve(&self, tree: &SeedTree) -> Faults {
        let mut resolved = self.clone();
        if self.swarm {
            let mut swarm = Swarm {
                rng: tree.stream("faults"),
            };
            resolved.visit(&mut swarm);
            resolved.crash.settle();
        }
        resolved
    }

    /// Every rate as `(key, value)`, in print order.
    pub fn parameters(&self) -> Vec<(String, String)> {
        knobs::print(&mut self.clone())
    }

    /// True when no fault can fire (latency aside).
    pub fn is_quiet(&self) -> bool {
        self.clock.is_quiet()
            && self.network.is_quiet()
            && self.crash.is_quiet()
            && self.adversary.is_quiet()
            && self.stripes.is_quiet()
            && self.interleave.is_quiet()
            && self.storage.is_quiet()
            && self.malformed.is_quiet()
    }
}

/// Resolves knobs for one seed: applies each knob's [`Vary`] with draws from `rng`, in visit
/// order. A draw is made for every varied knob whatever its value, so one knob's setting
/// never shifts another's draws.
#[derive(Debug)]
pub struct Swarm {
    /// The stream the draws come from.
    pub rng: ChaCha8Rng,
}

impl Visitor for Swarm {
    fn knob(&mut self, knob: Knob<'_>) {
        match (knob.vary, knob.value) {
            (Vary::Fixed, _) => {}
            (Vary::OnOff { .. }, Value::Int { slot, .. }) => {
                let off = self.rng.random_bool(0.5);
                let value = self.rng.random_range(0..=swarm_u32(slot.get()));
                slot.set(if off { 0 } else { i64::from(value) });
            }
            (Vary::OnOff { per }, Value::Real { slot, .. }) => {
                let off = self.rng.random_bool(0.5);
                let per = f64::from(per);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                // A non-negative rate times a small step count: well inside u64.
                let max_units = (*slot * per).floor() as u64;
                let units = self.rng.random_range(0..=max_units);
                #[allow(clippy::cast_precision_loss)] // At most a few million steps.
                let value = units as f64 / per;
                *slot = if off { 0.0 } else { value };
            }
            (Vary::From(from), Value::Int { slot, .. }) => {
                let (from, to) = (swarm_u32(from), swarm_u32(slot.get()));
                let value = self.rng.random_range(from..=to.max(from));
                slot.set(i64::from(value));
            }
            (Vary::Subset, Value::Names { slot, .. }) => {
                slot.retain(|_| self.rng.random_bool(0.5));
            }
            (vary, value) => panic!("swarm cannot vary {value:?} by {vary:?}"),
        }
    }
}

/// A varied integer knob's value as `u32`: integers are drawn as `u32` (the width decides how
/// much of the stream a draw takes), and every varied integer knob fits one.
fn swarm_u32(value: i64) -> u32 {
    u32::try_from(value).expect("varied integer knobs fit u32")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_fault() -> Faults {
        let mut faults = Faults {
            swarm: true,
            ..Faults::default()
        };
        faults.clock.clock_skew_s_max = 90;
        faults.clock.clock_step_fraction = 0.1;
        faults.network.packet_loss = 0.05;
        faults.network.latency_ms_max = 50;
        faults.crash.crash_rate_per_host_per_min = 2.0;
        faults.crash.crash_at_steps = vec!["TellRenamed".into(), "TellRead".into()];
        faults.crash.crash_at_step_fraction = 0.2;
        faults.adversary.replay_fraction = 0.1;
        faults.stripes.stripe_loss_fraction = 0.01;
        faults
    }

    #[test]
    fn without_swarm_the_configured_rates_run() {
        let mut faults = every_fault();
        faults.swarm = false;
        assert_eq!(faults.resolve(&SeedTree::new(3)), faults);
    }

    #[test]
    fn swarm_picks_rates_within_bounds_and_turns_some_off() {
        let config = every_fault();
        let mut offs = 0;
        for seed in 0..64 {
            let resolved = config.resolve(&SeedTree::new(seed));
            assert_eq!(
                resolved,
                config.resolve(&SeedTree::new(seed)),
                "deterministic"
            );
            assert!(resolved.clock.clock_skew_s_max <= 90);
            assert!((0.0..=0.05).contains(&resolved.network.packet_loss));
            assert!((1..=50).contains(&resolved.network.latency_ms_max));
            assert!(resolved.crash.crash_rate_per_host_per_min <= 2.0);
            assert!(resolved
                .crash
                .crash_at_steps
                .iter()
                .all(|step| config.crash.crash_at_steps.contains(step)));
            if resolved.crash.crash_at_steps.is_empty() {
                assert_eq!(resolved.crash.crash_at_step_fraction, 0.0);
            }
            offs += usize::from(resolved.network.packet_loss == 0.0);
        }
        assert!((10..=54).contains(&offs), "about half off: {offs}");
    }
}
