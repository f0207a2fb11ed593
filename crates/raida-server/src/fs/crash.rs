//! The simulator's [`StepHook`] (feature `sim`): a [`CrashPlan`] counts every completed
//! [`Step`] and names the one to park at; the [`CrashHook`] parks the task there forever, so
//! the harness can crash the host with the next operation not yet started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{BoxFuture, GoOn, Step, StepHook};

/// Where a [`CrashPlan`] fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The step after which the task parked.
    pub step: Step,
    /// Which occurrence of that step it was (1-based, counted since the counts were reset).
    pub occurrence: u64,
    /// The path the step touched.
    pub host_path: PathBuf,
}

/// "Park at the `occurrence`-th time `step` completes", plus a count of every step seen.
#[derive(Debug, Default)]
pub struct CrashPlan {
    target: Option<(Step, u64)>,
    seen: BTreeMap<Step, u64>,
    fired: Option<CrashPoint>,
}

impl CrashPlan {
    /// An unarmed plan: counts steps, never parks.
    pub fn new() -> CrashPlan {
        CrashPlan::default()
    }

    /// A plan armed at the `occurrence`-th completion of `step` (1-based).
    pub fn at(step: Step, occurrence: u64) -> CrashPlan {
        let mut plan = CrashPlan::new();
        plan.arm(step, occurrence);
        plan
    }

    /// Arms the plan at the `occurrence`-th completion of `step`, counted from now on top of
    /// the occurrences already seen. Clears an earlier firing.
    pub fn arm(&mut self, step: Step, occurrence: u64) {
        assert!(occurrence >= 1, "occurrences are 1-based");
        let seen = self.occurrences(step);
        self.target = Some((step, seen + occurrence));
        self.fired = None;
    }

    /// Stops the plan from firing (the counts continue).
    pub fn disarm(&mut self) {
        self.target = None;
    }

    /// Where the plan fired, if it has.
    pub fn fired(&self) -> Option<&CrashPoint> {
        self.fired.as_ref()
    }

    /// How often `step` has completed.
    pub fn occurrences(&self, step: Step) -> u64 {
        self.seen.get(&step).copied().unwrap_or(0)
    }

    /// Forgets the step counts and a firing (for example after the harness restarted a host).
    pub fn reset(&mut self) {
        self.seen.clear();
        self.fired = None;
        self.target = None;
    }

    /// Records `step` on `host_path`; returns true when this is the one to park at.
    fn record(&mut self, step: Step, host_path: &Path) -> bool {
        let count = self.seen.entry(step).or_insert(0);
        *count += 1;
        let occurrence = *count;
        if self.target != Some((step, occurrence)) {
            return false;
        }
        self.target = None;
        self.fired = Some(CrashPoint {
            step,
            occurrence,
            host_path: host_path.to_path_buf(),
        });
        true
    }
}

/// The simulator's hook: counts steps in a shared [`CrashPlan`] and parks the task forever at
/// the planned one, so the harness (which polls [`CrashHook::fired`] between sim steps) can
/// call `Sim::crash` on the host with the operation after that step not yet started.
#[derive(Clone, Debug, Default)]
pub struct CrashHook {
    plan: Arc<Mutex<CrashPlan>>,
}

impl CrashHook {
    /// A hook driven by `plan`, shared with the harness.
    pub fn new(plan: Arc<Mutex<CrashPlan>>) -> CrashHook {
        CrashHook { plan }
    }

    /// The shared plan.
    pub fn plan(&self) -> &Arc<Mutex<CrashPlan>> {
        &self.plan
    }

    /// Where the plan fired, if it has.
    pub fn fired(&self) -> Option<CrashPoint> {
        self.lock().fired().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CrashPlan> {
        // A poisoned lock means a test already panicked while holding it.
        self.plan.lock().expect("crash plan lock poisoned")
    }
}

impl CrashHook {
    /// Records that `step` completed on `host_path`; true when the plan fires here and the
    /// task must park (what [`StepHook::reached`] does, for hooks that wrap this one and
    /// decide without boxing a future per step).
    pub fn parks(&self, step: Step, host_path: &Path) -> bool {
        let park = self.lock().record(step, host_path);
        if park {
            tracing::debug!(%step, path = %host_path.display(), "crash plan fired; parking task");
        }
        park
    }
}

impl StepHook for CrashHook {
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
        if self.parks(step, host_path) {
            Box::pin(std::future::pending())
        } else {
            GoOn::boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn poll_once(future: &mut BoxFuture<'_, ()>) -> Poll<()> {
        let mut context = Context::from_waker(Waker::noop());
        future.as_mut().poll(&mut context)
    }

    #[test]
    fn crash_hook_parks_exactly_at_the_planned_occurrence() {
        let plan = Arc::new(Mutex::new(CrashPlan::at(Step::TellTempSynced, 2)));
        let hook = CrashHook::new(plan.clone());
        let path = Path::new("/inbox/.tmp.1");
        for step in [
            Step::TellTempCreated,
            Step::TellTempSynced,
            Step::TellRenamed,
        ] {
            let mut future = hook.reached(step, path);
            assert_eq!(poll_once(&mut future), Poll::Ready(()), "{step}");
        }
        assert_eq!(hook.fired(), None);
        let mut parked = hook.reached(Step::TellTempSynced, Path::new("/inbox/.tmp.2"));
        assert_eq!(poll_once(&mut parked), Poll::Pending);
        assert_eq!(poll_once(&mut parked), Poll::Pending, "stays parked");
        let fired = hook.fired().expect("fired");
        assert_eq!(fired.step, Step::TellTempSynced);
        assert_eq!(fired.occurrence, 2);
        assert_eq!(fired.host_path, PathBuf::from("/inbox/.tmp.2"));
        // It fires once; later steps (other tasks) continue.
        let mut after = hook.reached(Step::TellTempSynced, path);
        assert_eq!(poll_once(&mut after), Poll::Ready(()));
        let plan = plan.lock().expect("lock");
        assert_eq!(plan.occurrences(Step::TellTempSynced), 3);
        assert_eq!(plan.occurrences(Step::TellRenamed), 1);
        assert_eq!(plan.occurrences(Step::TellDeleted), 0);
    }

    #[test]
    fn crash_plan_arm_counts_from_now_and_disarm_stops_it() {
        let plan = Arc::new(Mutex::new(CrashPlan::new()));
        let hook = CrashHook::new(plan.clone());
        let path = Path::new("/p");
        let mut first = hook.reached(Step::StripeRenamed, path);
        assert_eq!(poll_once(&mut first), Poll::Ready(()));
        plan.lock().expect("lock").arm(Step::StripeRenamed, 1);
        plan.lock().expect("lock").disarm();
        let mut second = hook.reached(Step::StripeRenamed, path);
        assert_eq!(poll_once(&mut second), Poll::Ready(()), "disarmed");
        plan.lock().expect("lock").arm(Step::StripeRenamed, 1);
        let mut third = hook.reached(Step::StripeRenamed, path);
        assert_eq!(
            poll_once(&mut third),
            Poll::Pending,
            "armed relative to the count"
        );
        assert_eq!(hook.fired().map(|point| point.occurrence), Some(3));
        plan.lock().expect("lock").reset();
        assert_eq!(hook.fired(), None);
        assert_eq!(
            plan.lock().expect("lock").occurrences(Step::StripeRenamed),
            0
        );
    }
}
