//! Interleaving faults: make two requests on one server overlap inside a handler.
//!
//! turmoil's file system answers instantly, so without help every handler's chain of file
//! operations runs as one uninterrupted step and two requests for one mailbox (a scan and a
//! publish, a ping's subscribe and its final scan, the edit_sequence guard and the rename)
//! can never interleave on a server. Two knobs open that up:
//!
//! - `fs_latency_ms_max`: every file-system call through turmoil's tokio shim sleeps a
//!   latency drawn by turmoil (from its seeded RNG) between 0 and this bound (0: off). The
//!   sleep is in simulated time, so it costs nothing in wall time; it ends on a tick
//!   boundary, so a latency below `sim.tick_ms` still yields for one tick.
//! - `yield_step_fraction` and `yield_ms_max`: buggify-style yield points at the server's
//!   named file-system steps ([`raida_server::fs::Step`], reported to the step hook). For each
//!   RAIDA the seed picks a set of steps (each step kept with chance 1/2, stream
//!   `("faults.yield", raida)`), and each time one of them completes the task yields with
//!   chance `yield_step_fraction`, sleeping uniform `0..=yield_ms_max` ms (0: one
//!   `yield_now`). The same stream draws every decision, in the host's own order.
//!
//! The chosen steps are recorded at the start of the run (a `FaultFired` of kind
//! `yield_points` per RAIDA), so a trace shows where a seed may interleave.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use knobs::{Knob, Knobs, Visitor};
use raida_server::fs::{BoxFuture, CrashHook, CrashPlan, GoOn, Step, StepHook};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clock::PPM;
use crate::seed::SeedTree;

/// Largest file-system latency a scenario may ask for, milliseconds.
pub const FS_LATENCY_MS_MAX: u32 = 10_000;
/// Largest sleep at a yield point, milliseconds.
pub const YIELD_MS_MAX: u32 = 10_000;

/// Interleaving knobs.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct InterleaveFaults {
    /// Upper bound of every file-system call's latency, ms (0: instant).
    pub fs_latency_ms_max: u32,
    /// Chance that a chosen step yields when it completes.
    pub yield_step_fraction: f64,
    /// Longest sleep at a yield point, ms (0: `yield_now`).
    pub yield_ms_max: u32,
}

impl Knobs for InterleaveFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let latency = 0..=i64::from(FS_LATENCY_MS_MAX);
        let on_off = knobs::Vary::OnOff { per: 1 };
        v.knob(Knob::int("fs_latency_ms_max", &mut self.fs_latency_ms_max, latency).vary(on_off));
        v.knob(Knob::fraction("yield_step_fraction", &mut self.yield_step_fraction).vary(PPM));
        let sleep = 0..=i64::from(YIELD_MS_MAX);
        v.knob(Knob::int("yield_ms_max", &mut self.yield_ms_max, sleep));
    }
}

impl InterleaveFaults {
    /// True when handlers run without interleaving.
    pub fn is_quiet(&self) -> bool {
        self.fs_latency_ms_max == 0 && self.yield_step_fraction == 0.0
    }

    /// Longest one file-system call may be held: its latency plus a yield point's sleep,
    /// microseconds (configured maxima, so it bounds every seed a swarm draws).
    pub fn fs_call_delay_us_max(&self) -> u64 {
        if self.is_quiet() {
            return 0;
        }
        let yield_ms = if self.yield_step_fraction > 0.0 {
            self.yield_ms_max
        } else {
            0
        };
        (u64::from(self.fs_latency_ms_max) + u64::from(yield_ms)) * 1_000
    }

    /// Sets turmoil's file-system latency on the builder (every host).
    pub fn configure(&self, builder: &mut turmoil::Builder) {
        if self.fs_latency_ms_max == 0 {
            return;
        }
        builder
            .fs()
            .io_latency()
            .min_latency(Duration::ZERO)
            .max_latency(Duration::from_millis(u64::from(self.fs_latency_ms_max)));
    }

    /// RAIDA `raida`'s yield points: the steps drawn for it and the stream of decisions.
    pub fn yield_points(&self, tree: &SeedTree, raida: u8) -> YieldPoints {
        let mut rng = tree.stream_for_host("faults.yield", u64::from(raida));
        let steps: Vec<Step> = Step::ALL
            .into_iter()
            .filter(|_| rng.random_bool(0.5))
            .collect();
        let active = self.yield_step_fraction > 0.0;
        YieldPoints {
            steps: if active { steps } else { Vec::new() },
            fraction: self.yield_step_fraction,
            sleep_ms_max: self.yield_ms_max,
            rng,
        }
    }
}

/// One RAIDA's yield points (kept across its reboots, so the stream continues).
#[derive(Debug)]
pub struct YieldPoints {
    /// Steps that may yield.
    pub steps: Vec<Step>,
    fraction: f64,
    sleep_ms_max: u32,
    rng: ChaCha8Rng,
}

impl YieldPoints {
    /// How long to yield after `step`, if at all: `Some(ZERO)` is one `yield_now`.
    fn decide(&mut self, step: Step) -> Option<Duration> {
        if !self.steps.contains(&step) {
            return None;
        }
        let yields = self.rng.random_bool(self.fraction);
        let sleep_ms = self.rng.random_range(0..=self.sleep_ms_max);
        yields.then(|| Duration::from_millis(u64::from(sleep_ms)))
    }
}

/// The simulator's step hook: the crash plan first (a planned crash parks the task there for
/// the harness to power the host off), then the yield points.
#[derive(Debug)]
pub struct SimStepHook {
    crash: CrashHook,
    yields: Arc<Mutex<YieldPoints>>,
}

impl SimStepHook {
    /// A hook over a host's crash plan and yield points (both shared with the harness and
    /// every boot of the host).
    pub fn new(plan: Arc<Mutex<CrashPlan>>, yields: Arc<Mutex<YieldPoints>>) -> SimStepHook {
        SimStepHook {
            crash: CrashHook::new(plan),
            yields,
        }
    }
}

impl StepHook for SimStepHook {
    /// Decides at once (a step is awaited as soon as it is reached), so the usual step, which
    /// neither parks nor yields, boxes no future.
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
        if self.crash.parks(step, host_path) {
            return Box::pin(std::future::pending());
        }
        let pause = self
            .yields
            .lock()
            .expect("yield points lock poisoned")
            .decide(step);
        match pause {
            None => GoOn::boxed(),
            Some(pause) if pause.is_zero() => Box::pin(tokio::task::yield_now()),
            Some(pause) => Box::pin(tokio::time::sleep(pause)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yield_points_follow_the_seed_and_the_fraction() {
        let faults = InterleaveFaults {
            yield_step_fraction: 0.5,
            yield_ms_max: 30,
            ..InterleaveFaults::default()
        };
        let tree = SeedTree::new(4);
        let mut points = faults.yield_points(&tree, 3);
        assert_eq!(points.steps, faults.yield_points(&tree, 3).steps, "seeded");
        assert!(!points.steps.is_empty() && points.steps.len() < Step::ALL.len());
        let chosen = points.steps[0];
        let decisions: Vec<Option<Duration>> = (0..400).map(|_| points.decide(chosen)).collect();
        let yields = decisions.iter().filter(|d| d.is_some()).count();
        assert!((150..=250).contains(&yields), "{yields} of 400 at 0.5");
        assert!(decisions
            .iter()
            .flatten()
            .all(|d| *d <= Duration::from_millis(30)));
        let unchosen = Step::ALL.into_iter().find(|s| !points.steps.contains(s));
        if let Some(step) = unchosen {
            assert_eq!(points.decide(step), None);
        }
    }

    /// The hook parks at the planned crash (and decides nothing there), yields where the
    /// points say, and is ready at once everywhere else.
    #[test]
    fn the_hook_parks_yields_or_goes_on() {
        use std::task::{Context, Poll, Waker};
        let faults = InterleaveFaults {
            yield_step_fraction: 1.0,
            yield_ms_max: 0,
            ..InterleaveFaults::default()
        };
        let points = faults.yield_points(&SeedTree::new(4), 3);
        let yielding = points.steps[0];
        let plain = Step::ALL.into_iter().find(|s| !points.steps.contains(s));
        let plain = plain.expect("some step does not yield");
        let plan = Arc::new(Mutex::new(CrashPlan::at(plain, 2)));
        let hook = SimStepHook::new(plan, Arc::new(Mutex::new(points)));
        let path = Path::new("/x");
        let mut context = Context::from_waker(Waker::noop());
        let mut poll = |step| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(async { hook.reached(step, path).as_mut().poll(&mut context) })
        };
        assert_eq!(poll(plain), Poll::Ready(()), "first occurrence: goes on");
        assert_eq!(poll(yielding), Poll::Pending, "a yield point yields once");
        assert_eq!(poll(plain), Poll::Pending, "second occurrence: parks");
        assert_eq!(poll(plain), Poll::Ready(()), "the plan fired once");
    }

    #[test]
    fn without_the_knob_nothing_yields() {
        let mut points = InterleaveFaults::default().yield_points(&SeedTree::new(1), 0);
        assert!(points.steps.is_empty());
        assert!(Step::ALL
            .into_iter()
            .all(|step| points.decide(step).is_none()));
    }
}
