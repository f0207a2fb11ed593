//! Crash faults: power loss of RAIDA hosts, at random times and at named file-system steps.
//!
//! - **Random crashes**: a Poisson process per RAIDA at `crash_rate_per_host_per_min`
//!   (stream `("faults.crash", raida)`), each followed by a restart after a seeded downtime
//!   in [`CRASH_DOWNTIME_S_MIN`]..=[`CRASH_DOWNTIME_S_MAX`] s.
//! - **Crashes at steps**: each RAIDA's crash plan (shared with its server's step hook) is
//!   armed at a step chosen uniformly from `crash_at_steps`, at an occurrence drawn
//!   geometrically with `crash_at_step_fraction` (so each occurrence crashes with that
//!   chance), from the `"faults.runtime"` stream in simulation order. The harness polls the
//!   plans after every step; a fired plan has parked its task right after the step, and the
//!   host loses power there.
//!
//! A crash is a power loss: turmoil (patched, `third_party/turmoil/PATCHES.md`) drops the
//! host's unsynced file-system operations and sends nothing from its sockets.

use knobs::{Knob, Knobs, Vary, Visitor};
use raida_server::fs::Step;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clock::PPM;
use crate::limits::{
    CRASH_DOWNTIME_S_MAX, CRASH_DOWNTIME_S_MIN, CRASH_RATE_PER_HOST_PER_MIN_MAX,
    CRASH_STEP_OCCURRENCE_MAX, US_PER_S,
};
use crate::seed::SeedTree;
use crate::world::World;

/// Crash knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct CrashFaults {
    /// Crashes per RAIDA per simulated minute.
    pub crash_rate_per_host_per_min: f64,
    /// Server fs steps to crash at (names of [`Step::NAMES`]).
    pub crash_at_steps: Vec<String>,
    /// Chance a listed step crashes its host when reached.
    pub crash_at_step_fraction: f64,
}

impl Knobs for CrashFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let rate_max = CRASH_RATE_PER_HOST_PER_MIN_MAX;
        v.knob(
            Knob::real(
                "crash_rate_per_host_per_min",
                &mut self.crash_rate_per_host_per_min,
                0.0..=rate_max,
            )
            .vary(Vary::OnOff { per: 1_000 }),
        );
        v.knob(
            Knob::names("crash_at_steps", &mut self.crash_at_steps, &Step::NAMES)
                .vary(Vary::Subset),
        );
        v.knob(
            Knob::fraction("crash_at_step_fraction", &mut self.crash_at_step_fraction).vary(PPM),
        );
    }
}

/// A random crash: when, which RAIDA, for how long.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ScheduledCrash {
    /// Simulated time, microseconds.
    pub at_us: u64,
    /// The RAIDA.
    pub raida: u8,
    /// Time until its restart.
    pub downtime_us: u64,
}

impl CrashFaults {
    /// True when no host crashes.
    pub fn is_quiet(&self) -> bool {
        self.crash_rate_per_host_per_min == 0.0 && self.crash_at_step_fraction == 0.0
    }

    /// After swarm: a step fraction without steps to crash at means nothing.
    pub fn settle(&mut self) {
        if self.crash_at_steps.is_empty() {
            self.crash_at_step_fraction = 0.0;
        }
    }

    /// The steps crashes are pinned to.
    pub fn steps(&self) -> Vec<Step> {
        self.crash_at_steps
            .iter()
            .map(|name| name.parse().expect("the knob admits step names only"))
            .collect()
    }

    /// Every random crash of the safety phase, RAIDA by RAIDA.
    pub fn schedule(&self, tree: &SeedTree, raidas: u8, safety_end_us: u64) -> Vec<ScheduledCrash> {
        let rate_per_s = self.crash_rate_per_host_per_min / 60.0;
        let mut out = Vec::new();
        if rate_per_s <= 0.0 {
            return out;
        }
        for raida in 0..raidas {
            let mut rng = tree.stream_for_host("faults.crash", u64::from(raida));
            let mut at_s = 0.0f64;
            loop {
                let u: f64 = rng.random();
                at_s += -(1.0 - u).ln() / rate_per_s;
                let downtime_us = draw_downtime_us(&mut rng);
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                // A finite, non-negative time in seconds, checked below against the phase end.
                let at_us = (at_s * US_PER_S as f64) as u64;
                if !at_s.is_finite() || at_us >= safety_end_us {
                    break;
                }
                out.push(ScheduledCrash {
                    at_us,
                    raida,
                    downtime_us,
                });
            }
        }
        out
    }

    /// Arms RAIDA `raida`'s crash plan, if crashes at steps are on.
    pub fn arm(&self, steps: &[Step], raida: u8, world: &World, rng: &mut ChaCha8Rng) {
        if steps.is_empty() || self.crash_at_step_fraction <= 0.0 {
            return;
        }
        let index = rng.random_range(0..steps.len());
        let occurrence = geometric_occurrence(rng, self.crash_at_step_fraction);
        let Some(step) = steps.get(index).copied() else {
            return;
        };
        world.raida(raida).crash_plan().arm(step, occurrence);
    }
}

/// A restart delay in [`CRASH_DOWNTIME_S_MIN`]..=[`CRASH_DOWNTIME_S_MAX`] s.
pub fn draw_downtime_us(rng: &mut ChaCha8Rng) -> u64 {
    rng.random_range(
        u64::from(CRASH_DOWNTIME_S_MIN) * US_PER_S..=u64::from(CRASH_DOWNTIME_S_MAX) * US_PER_S,
    )
}

/// The occurrence at which a plan fires when each occurrence fires with chance `p`.
fn geometric_occurrence(rng: &mut ChaCha8Rng, p: f64) -> u64 {
    let u: f64 = rng.random();
    if p >= 1.0 {
        return 1;
    }
    assert!(p > 0.0, "an unarmed plan has no occurrence");
    let trials = ((1.0 - u).ln() / (1.0 - p).ln()).floor();
    #[allow(clippy::cast_precision_loss)] // The cap is far below 2^52.
    let cap = CRASH_STEP_OCCURRENCE_MAX as f64;
    if trials.is_finite() && trials >= 0.0 && trials < cap {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Checked just above.
        let trials = trials as u64;
        1 + trials
    } else {
        CRASH_STEP_OCCURRENCE_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn geometric_occurrences_follow_their_chance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(geometric_occurrence(&mut rng, 1.0), 1);
        let draws: Vec<u64> = (0..4_000)
            .map(|_| geometric_occurrence(&mut rng, 0.1))
            .collect();
        assert!(draws.iter().all(|k| *k >= 1));
        #[allow(clippy::cast_precision_loss)]
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        assert!((8.5..11.5).contains(&mean), "mean {mean} for p = 0.1");
    }

    #[test]
    fn random_crashes_follow_the_rate() {
        let faults = CrashFaults {
            crash_rate_per_host_per_min: 6.0,
            ..CrashFaults::default()
        };
        let crashes = faults.schedule(&SeedTree::new(2), 25, 60 * US_PER_S);
        // 6 per minute for 25 hosts over a minute: about 150.
        assert!((100..=200).contains(&crashes.len()), "{}", crashes.len());
        assert!(crashes
            .iter()
            .all(|c| c.at_us < 60 * US_PER_S && c.raida < 25));
    }
}
