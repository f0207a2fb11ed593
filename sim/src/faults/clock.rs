//! Clock faults: every host's wall clock gets an offset, a drift and maybe one step.
//!
//! The clock model itself is [`crate::clock::HostClock`]; this family draws each host's
//! clock from the seed (stream `("clock.raida", i)`, `("clock.client", i)` or
//! `"clock.adversary"`) within its knobs. A step takes effect by itself when the host reads
//! its clock; the [`super::driver::FaultDriver`] only records it.

use knobs::{Knob, Knobs, Vary, Visitor};
use rand::Rng;

use crate::clock::{ClockStep, HostClock};
use crate::limits::{
    CLOCK_DRIFT_PPM_MAX, CLOCK_SKEW_S_MAX, CLOCK_STEP_S_MAX, CLOCK_STEP_S_MIN, US_PER_S_I64,
};

/// Clock knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct ClockFaults {
    /// Per-host clock offset bound, seconds.
    pub clock_skew_s_max: u32,
    /// Per-host clock drift bound, ppm.
    pub clock_drift_ppm_max: u32,
    /// Chance per host of one clock step.
    pub clock_step_fraction: f64,
}

impl Knobs for ClockFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let max = i64::from(CLOCK_SKEW_S_MAX);
        v.knob(Knob::int("clock_skew_s_max", &mut self.clock_skew_s_max, 0..=max).vary(ON_OFF));
        let max = i64::from(CLOCK_DRIFT_PPM_MAX);
        v.knob(
            Knob::int(
                "clock_drift_ppm_max",
                &mut self.clock_drift_ppm_max,
                0..=max,
            )
            .vary(ON_OFF),
        );
        v.knob(Knob::fraction("clock_step_fraction", &mut self.clock_step_fraction).vary(PPM));
    }
}

/// Integers: off half the time, else uniform up to the configured value.
const ON_OFF: Vary = Vary::OnOff { per: 1 };
/// Fractions: off half the time, else uniform in whole parts per million.
pub(crate) const PPM: Vary = Vary::OnOff { per: 1_000_000 };

impl ClockFaults {
    /// True when every host clock is perfect.
    pub fn is_quiet(&self) -> bool {
        self.clock_skew_s_max == 0
            && self.clock_drift_ppm_max == 0
            && self.clock_step_fraction == 0.0
    }

    /// A host clock drawn from `rng` within these knobs: offset uniform in
    /// ±`clock_skew_s_max`, drift uniform in ±`clock_drift_ppm_max`, and with probability
    /// `clock_step_fraction` one step at a uniform time in the safety phase whose size is
    /// uniform in [`CLOCK_STEP_S_MIN`]..=[`CLOCK_STEP_S_MAX`] seconds either way (most steps
    /// jump across the 60-second tell window). Makes the same sequence of draws whatever the
    /// knobs, so turning one fault off does not reshuffle the others.
    pub fn host_clock<R: Rng + ?Sized>(&self, rng: &mut R, safety_phase_us: u64) -> HostClock {
        let skew_us = i64::from(self.clock_skew_s_max) * US_PER_S_I64;
        let drift_ppm_max = i64::from(self.clock_drift_ppm_max);
        let offset_us = rng.random_range(-skew_us..=skew_us);
        let drift_ppm = rng.random_range(-drift_ppm_max..=drift_ppm_max);
        let steps_now = rng.random_bool(self.clock_step_fraction);
        let at_sim_us = rng.random_range(0..=safety_phase_us.saturating_sub(1));
        let magnitude_us = rng.random_range(
            i64::from(CLOCK_STEP_S_MIN) * US_PER_S_I64..=i64::from(CLOCK_STEP_S_MAX) * US_PER_S_I64,
        );
        let backwards = rng.random_bool(0.5);
        let steps = if steps_now {
            let delta_us = if backwards {
                -magnitude_us
            } else {
                magnitude_us
            };
            vec![ClockStep {
                at_sim_us,
                delta_us,
            }]
        } else {
            Vec::new()
        };
        HostClock::new(offset_us, drift_ppm, steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::US_PER_S;
    use crate::seed::SeedTree;

    fn faults(skew_s: u32, drift_ppm: u32, step_fraction: f64) -> ClockFaults {
        ClockFaults {
            clock_skew_s_max: skew_s,
            clock_drift_ppm_max: drift_ppm,
            clock_step_fraction: step_fraction,
        }
    }

    #[test]
    fn generate_stays_within_the_seed_parameters() {
        let resolved = faults(90, 200, 1.0);
        let tree = SeedTree::new(3);
        let safety_us = 60 * US_PER_S;
        for host in 0..50 {
            let clock = resolved.host_clock(&mut tree.stream_for_host("clock", host), safety_us);
            assert!(clock.offset_us.abs() <= 90 * US_PER_S_I64);
            assert!(clock.drift_ppm.abs() <= 200);
            let [step] = clock.steps.as_slice() else {
                panic!("step fraction 1 gives one step: {clock:?}");
            };
            assert!(step.at_sim_us < safety_us);
            let magnitude = step.delta_us.unsigned_abs();
            assert!(magnitude >= u64::from(CLOCK_STEP_S_MIN) * US_PER_S);
            assert!(magnitude <= u64::from(CLOCK_STEP_S_MAX) * US_PER_S);
        }
    }

    #[test]
    fn generate_without_faults_is_ideal_and_deterministic() {
        let none = faults(0, 0, 0.0);
        let tree = SeedTree::new(9);
        let clock = none.host_clock(&mut tree.stream_for_host("clock", 1), 1);
        assert_eq!(clock, HostClock::ideal());
        let some = faults(30, 50, 0.5);
        let a = some.host_clock(&mut tree.stream_for_host("clock", 2), US_PER_S);
        let b = some.host_clock(&mut tree.stream_for_host("clock", 2), US_PER_S);
        assert_eq!(a, b);
    }
}
