//! The fault schedule: what the world breaks, when, and how it heals.
//!
//! [`FaultDriver::new`] turns the seed's [`ResolvedFaults`] into a schedule before the run
//! starts, drawing every time and choice from named seed streams so that turning one fault
//! off does not reshuffle the others:
//! - random crashes: a Poisson process per RAIDA at `crash_rate_per_host_per_min` (stream
//!   `("faults.crash", raida)`), each followed by a restart after a seeded downtime in
//!   [`CRASH_DOWNTIME_S_MIN`]..=[`CRASH_DOWNTIME_S_MAX`] s;
//! - partitions: each simulated second one roll for a two-way and one for a one-way
//!   partition (stream `"faults.partition"`). A two-way partition cuts one client host from
//!   a random third (at most) of the RAIDAs; a one-way partition cuts one direction between
//!   one client host and one RAIDA. Each is repaired after a seeded
//!   [`PARTITION_S_MIN`]..=[`PARTITION_S_MAX`] s. While one partition is in effect further
//!   rolls are skipped, so repairs never undo each other;
//! - clock steps: taken from the hosts' [`HostClock`]s (which apply them by themselves);
//!   the driver only records each when it takes effect.
//!
//! Faults that depend on what the run does are drawn as the run goes, from the
//! `"faults.runtime"` stream, in simulation order (itself fixed by the seed):
//! - crashes at named fs steps: each RAIDA's [`CrashPlan`] is armed at a step chosen
//!   uniformly from `crash_at_steps`, at an occurrence drawn geometrically with
//!   `crash_at_step_fraction` (so each occurrence crashes with that chance). The harness
//!   polls the plans after every step; a fired plan has parked its task right after the
//!   step, and the driver crashes the host (power loss) and schedules the restart;
//! - stripe loss and corruption: for every stripe a server reports stored, one draw decides
//!   loss (`stripe_loss_fraction`), corruption (`stripe_corrupt_fraction`) or neither; the
//!   damage is done on the RAIDA's real simulated disk by its maintenance task.
//!
//! Link loss is a turmoil link `fail_rate` on every client↔RAIDA link for the whole safety
//! phase. turmoil's fail rate breaks the whole link (everything in flight is dropped; the
//! link is repaired on a later send), and a broken link also ends an explicit one-way
//! partition on it early: with both faults on, a one-way partition may heal before its
//! recorded repair. Every fault is recorded as `FaultFired` (host `world`), naming the hosts
//! it touched; [`FaultDriver::heal`] repairs everything and records `Heal`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use raida_server::fs::Step;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use turmoil::Sim;

use super::hosts::{MaintenanceAction, MaintenanceCommand};
use super::World;
use crate::clock::HostClock;
use crate::history::{EventKind, FaultKind, Host};
use crate::limits::{
    CRASH_DOWNTIME_S_MAX, CRASH_DOWNTIME_S_MIN, CRASH_STEP_OCCURRENCE_MAX, PARTITION_S_MAX,
    PARTITION_S_MIN, STRIPE_FAULT_DELAY_S_MAX, US_PER_S,
};
use crate::scenario::{ResolvedFaults, Scenario};
use crate::seed::SeedTree;

/// The fs step a scenario names, if the server reports one by that name.
pub fn step_by_name(name: &str) -> Option<Step> {
    Step::ALL.into_iter().find(|step| step.to_string() == name)
}

/// One partition: a client host against some RAIDAs, both ways or one way.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartitionSpec {
    /// The client host.
    pub client: u16,
    /// The RAIDAs cut from it.
    pub raidas: Vec<u8>,
    /// `None`: both ways. `Some(true)`: client → RAIDA dropped. `Some(false)`: RAIDA → client.
    pub oneway_client_to_raida: Option<bool>,
    /// How long it lasts.
    pub duration_us: u64,
}

impl PartitionSpec {
    /// The hosts to name in the fault event: the cut side first.
    fn hosts(&self) -> Vec<Host> {
        let client = Host::Client(self.client);
        let raidas = self.raidas.iter().map(|raida| Host::Raida(*raida));
        match self.oneway_client_to_raida {
            Some(false) => raidas.chain([client]).collect(),
            _ => [client].into_iter().chain(raidas).collect(),
        }
    }

    fn kind(&self) -> FaultKind {
        match self.oneway_client_to_raida {
            None => FaultKind::Partition,
            Some(_) => FaultKind::OnewayPartition,
        }
    }
}

/// Something the driver does at a given simulated time.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Action {
    /// Power loss at a random time.
    Crash { raida: u8, downtime_us: u64 },
    /// Restart a crashed RAIDA.
    Bounce { raida: u8 },
    /// Start a partition.
    Partition(PartitionSpec),
    /// End the partition started with this spec.
    Repair(PartitionSpec),
    /// A host clock's step takes effect (recording only; the clock applies it).
    ClockStep { host: Host, delta_us: i64 },
    /// Damage a stored stripe through the RAIDA's maintenance task.
    Stripe {
        raida: u8,
        command: MaintenanceCommand,
    },
}

/// Seconds in a range, drawn as microseconds.
fn draw_duration_us(rng: &mut ChaCha8Rng, min_s: u32, max_s: u32) -> u64 {
    rng.random_range(u64::from(min_s) * US_PER_S..=u64::from(max_s) * US_PER_S)
}

/// The occurrence at which a plan fires when each occurrence fires with chance `p`.
fn geometric_occurrence(rng: &mut ChaCha8Rng, p: f64) -> u64 {
    let u: f64 = rng.random();
    if p >= 1.0 {
        return 1;
    }
    assert!(p > 0.0, "an unarmed plan has no occurrence");
    let trials = ((1.0 - u).ln() / (1.0 - p).ln()).floor();
    if trials.is_finite() && trials >= 0.0 && trials < CRASH_STEP_OCCURRENCE_MAX as f64 {
        1 + trials as u64
    } else {
        CRASH_STEP_OCCURRENCE_MAX
    }
}

/// Applies the schedule to a running simulation.
#[derive(Debug)]
pub struct FaultDriver {
    faults: ResolvedFaults,
    safety_end_us: u64,
    queue: BTreeMap<(u64, u64), Action>,
    sequence: u64,
    runtime: ChaCha8Rng,
    crash_steps: Vec<Step>,
    down: Vec<bool>,
    partition_active: bool,
    healed: bool,
}

impl FaultDriver {
    /// The schedule of one seed. `clocks` are every host's clock (their steps are recorded).
    pub fn new(
        scenario: &Scenario,
        faults: &ResolvedFaults,
        tree: &SeedTree,
        clocks: &[(Host, &HostClock)],
    ) -> FaultDriver {
        let crash_steps: Vec<Step> = faults
            .crash_at_steps
            .iter()
            .map(|name| step_by_name(name).expect("scenario validation admits known steps only"))
            .collect();
        let mut driver = FaultDriver {
            faults: faults.clone(),
            safety_end_us: scenario.safety_phase_us(),
            queue: BTreeMap::new(),
            sequence: 0,
            runtime: tree.stream("faults.runtime"),
            crash_steps,
            down: vec![false; usize::from(scenario.topology.raidas)],
            partition_active: false,
            healed: false,
        };
        driver.schedule_crashes(scenario, tree);
        driver.schedule_partitions(scenario, tree);
        for (host, clock) in clocks {
            for step in &clock.steps {
                driver.push(
                    step.at_sim_us,
                    Action::ClockStep {
                        host: *host,
                        delta_us: step.delta_us,
                    },
                );
            }
        }
        driver
    }

    fn push(&mut self, at_us: u64, action: Action) {
        self.sequence += 1;
        self.queue.insert((at_us, self.sequence), action);
    }

    fn schedule_crashes(&mut self, scenario: &Scenario, tree: &SeedTree) {
        let rate_per_s = self.faults.crash_rate_per_host_per_min / 60.0;
        if rate_per_s <= 0.0 {
            return;
        }
        for raida in 0..scenario.topology.raidas {
            let mut rng = tree.stream_for_host("faults.crash", u64::from(raida));
            let mut at_s = 0.0f64;
            loop {
                let u: f64 = rng.random();
                at_s += -(1.0 - u).ln() / rate_per_s;
                let downtime_us =
                    draw_duration_us(&mut rng, CRASH_DOWNTIME_S_MIN, CRASH_DOWNTIME_S_MAX);
                let at_us = (at_s * US_PER_S as f64) as u64;
                if !at_s.is_finite() || at_us >= self.safety_end_us {
                    break;
                }
                self.push(at_us, Action::Crash { raida, downtime_us });
            }
        }
    }

    fn schedule_partitions(&mut self, scenario: &Scenario, tree: &SeedTree) {
        let mut rng = tree.stream("faults.partition");
        let raidas = scenario.topology.raidas;
        let cut_max = (raidas / 3).max(1);
        for second in 0..scenario.sim.duration_s {
            for oneway in [false, true] {
                let chance = if oneway {
                    self.faults.oneway_partition_fraction
                } else {
                    self.faults.partition_fraction
                };
                // Draw every value every second, whatever the chance, so one fault's rate
                // does not shift the other's draws.
                let fires = rng.random_bool(chance);
                let client = rng.random_range(0..scenario.topology.client_hosts);
                let mut pool: Vec<u8> = (0..raidas).collect();
                let cut = if oneway {
                    1
                } else {
                    rng.random_range(1..=cut_max)
                };
                let mut cut_raidas = Vec::with_capacity(usize::from(cut));
                for _ in 0..cut {
                    let index = rng.random_range(0..pool.len());
                    cut_raidas.push(pool.swap_remove(index));
                }
                cut_raidas.sort_unstable();
                let client_to_raida: bool = rng.random();
                let duration_us = draw_duration_us(&mut rng, PARTITION_S_MIN, PARTITION_S_MAX);
                let offset_us = rng.random_range(0..US_PER_S);
                if !fires {
                    continue;
                }
                let spec = PartitionSpec {
                    client,
                    raidas: cut_raidas,
                    oneway_client_to_raida: oneway.then_some(client_to_raida),
                    duration_us,
                };
                self.push(
                    u64::from(second) * US_PER_S + offset_us,
                    Action::Partition(spec),
                );
            }
        }
    }

    /// Faults in effect from the start: link loss. Arms the crash-at-step plans.
    pub fn start(&mut self, sim: &mut Sim<'_>, world: &World) {
        if self.faults.packet_loss > 0.0 {
            for client in &world.client_ips {
                for raida in &world.raida_ips {
                    sim.set_link_fail_rate(*client, *raida, self.faults.packet_loss);
                }
            }
            let hosts = (0..world.client_hosts).map(Host::Client).collect();
            world.fault(
                0,
                FaultKind::LinkLoss,
                hosts,
                format!(
                    "fail_rate={} on every client-raida link",
                    self.faults.packet_loss
                ),
            );
        }
        for raida in 0..world.raida_count() {
            self.arm(raida, world);
        }
    }

    /// Arms RAIDA `raida`'s crash plan, if crashes at steps are on.
    fn arm(&mut self, raida: u8, world: &World) {
        if self.crash_steps.is_empty() || self.faults.crash_at_step_fraction <= 0.0 {
            return;
        }
        let index = self.runtime.random_range(0..self.crash_steps.len());
        let occurrence =
            geometric_occurrence(&mut self.runtime, self.faults.crash_at_step_fraction);
        let Some(step) = self.crash_steps.get(index).copied() else {
            return;
        };
        world.raida(raida).crash_plan().arm(step, occurrence);
    }

    /// Applies every scheduled action due at `now_us` (call before each `Sim::step`).
    pub fn apply_due(&mut self, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let action = entry.remove();
            self.apply(action, now_us, sim, world);
        }
    }

    fn apply(&mut self, action: Action, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        match action {
            Action::Crash { raida, downtime_us } => {
                if self.healed || self.is_down(raida) {
                    return;
                }
                self.crash(raida, None, String::new(), now_us, sim, world);
                self.push(now_us + downtime_us, Action::Bounce { raida });
            }
            Action::Bounce { raida } => self.bounce(raida, now_us, sim, world),
            Action::Partition(spec) => {
                if self.healed || self.partition_active {
                    return;
                }
                self.partition(&spec, sim, world);
                world.fault(now_us, spec.kind(), spec.hosts(), spec_detail(&spec));
                self.partition_active = true;
                self.push(now_us + spec.duration_us, Action::Repair(spec));
            }
            Action::Repair(spec) => {
                if self.healed {
                    return;
                }
                self.repair(&spec, sim, world);
                world.fault(
                    now_us,
                    FaultKind::Heal,
                    spec.hosts(),
                    "partition repaired".into(),
                );
                self.partition_active = false;
            }
            Action::ClockStep { host, delta_us } => {
                world.fault(
                    now_us,
                    FaultKind::ClockStep { delta_us },
                    vec![host],
                    format!("clock of {host} jumped {delta_us} us"),
                );
            }
            Action::Stripe { raida, command } => {
                if !self.healed {
                    world.raida(raida).push_maintenance(command);
                }
            }
        }
    }

    fn is_down(&self, raida: u8) -> bool {
        self.down.get(usize::from(raida)).copied().unwrap_or(false)
    }

    fn set_down(&mut self, raida: u8, down: bool) {
        if let Some(slot) = self.down.get_mut(usize::from(raida)) {
            *slot = down;
        }
    }

    fn crash(
        &mut self,
        raida: u8,
        step: Option<String>,
        detail: String,
        now_us: u64,
        sim: &mut Sim<'_>,
        world: &World,
    ) {
        assert!(!self.is_down(raida), "raida {raida} crashed twice");
        // A power loss: the (patched) turmoil crash sends nothing from the host's dropped
        // sockets, so peers learn of it through their own timeouts and resets, and the order
        // tokio drops the host's tasks in (set by process-wide task ids) reaches nothing.
        sim.crash(world.raida_ip(raida));
        world.raida(raida).crash_plan().reset();
        self.set_down(raida, true);
        world.fault(
            now_us,
            FaultKind::Crash { step },
            vec![Host::Raida(raida)],
            detail,
        );
    }

    fn bounce(&mut self, raida: u8, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        if !self.is_down(raida) {
            return;
        }
        sim.bounce(world.raida_ip(raida));
        self.set_down(raida, false);
        world.fault(
            now_us,
            FaultKind::Restart,
            vec![Host::Raida(raida)],
            String::new(),
        );
        if !self.healed {
            self.arm(raida, world);
        }
    }

    fn partition(&self, spec: &PartitionSpec, sim: &mut Sim<'_>, world: &World) {
        let client = world.client_ip(spec.client);
        for raida in &spec.raidas {
            let raida = world.raida_ip(*raida);
            match spec.oneway_client_to_raida {
                None => sim.partition(client, raida),
                Some(true) => sim.partition_oneway(client, raida),
                Some(false) => sim.partition_oneway(raida, client),
            }
        }
    }

    fn repair(&self, spec: &PartitionSpec, sim: &mut Sim<'_>, world: &World) {
        let client = world.client_ip(spec.client);
        for raida in &spec.raidas {
            let raida = world.raida_ip(*raida);
            match spec.oneway_client_to_raida {
                None => sim.repair(client, raida),
                Some(true) => sim.repair_oneway(client, raida),
                Some(false) => sim.repair_oneway(raida, client),
            }
        }
    }

    /// After each `Sim::step`: crash the hosts whose step plan fired, and draw stripe damage
    /// for the stripes stored during the step.
    pub fn after_step(&mut self, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        for raida in 0..world.raida_count() {
            if self.is_down(raida) {
                continue;
            }
            let Some(point) = world.raida(raida).crash_plan().fired().cloned() else {
                continue;
            };
            let detail = format!(
                "{} occurrence {} at {}",
                point.step,
                point.occurrence,
                point.host_path.display()
            );
            self.crash(
                raida,
                Some(point.step.to_string()),
                detail,
                now_us,
                sim,
                world,
            );
            let downtime_us = draw_duration_us(
                &mut self.runtime,
                CRASH_DOWNTIME_S_MIN,
                CRASH_DOWNTIME_S_MAX,
            );
            let at_us = if self.healed {
                now_us
            } else {
                now_us + downtime_us
            };
            self.push(at_us, Action::Bounce { raida });
        }
        for stored in world.recorder.take_stored_stripes() {
            let u: f64 = self.runtime.random();
            let delay_us = self
                .runtime
                .random_range(0..=u64::from(STRIPE_FAULT_DELAY_S_MAX) * US_PER_S);
            let seed: u64 = self.runtime.random();
            if self.healed {
                continue;
            }
            let action = if u < self.faults.stripe_loss_fraction {
                MaintenanceAction::Lose
            } else if u < self.faults.stripe_loss_fraction + self.faults.stripe_corrupt_fraction {
                MaintenanceAction::Corrupt { seed }
            } else {
                continue;
            };
            let at_us = now_us + delay_us;
            if at_us >= self.safety_end_us {
                continue;
            }
            let command = MaintenanceCommand {
                email_id: stored.email_id,
                file_type: stored.file_type,
                action,
            };
            self.push(
                at_us,
                Action::Stripe {
                    raida: stored.raida,
                    command,
                },
            );
        }
    }

    /// The end of the safety phase: disarm the plans, crash any host parked at a step, lift
    /// link loss and every partition, restart every crashed host. Records `Heal`.
    pub fn heal(&mut self, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        self.healed = true;
        for raida in 0..world.raida_count() {
            world.raida(raida).crash_plan().disarm();
        }
        self.after_step(now_us, sim, world);
        if self.faults.packet_loss > 0.0 {
            for client in &world.client_ips {
                for raida in &world.raida_ips {
                    sim.set_link_fail_rate(*client, *raida, 0.0);
                }
            }
        }
        let pending: Vec<Action> = std::mem::take(&mut self.queue).into_values().collect();
        for action in pending {
            match action {
                Action::Repair(spec) => self.repair(&spec, sim, world),
                Action::Bounce { .. }
                | Action::Crash { .. }
                | Action::Partition(_)
                | Action::ClockStep { .. }
                | Action::Stripe { .. } => {}
            }
        }
        self.partition_active = false;
        world.fault(
            now_us,
            FaultKind::Heal,
            Vec::new(),
            "every fault repaired".into(),
        );
        for raida in 0..world.raida_count() {
            self.bounce(raida, now_us, sim, world);
        }
    }

    /// RAIDAs down now.
    pub fn down_count(&self) -> usize {
        self.down.iter().filter(|down| **down).count()
    }
}

fn spec_detail(spec: &PartitionSpec) -> String {
    let direction = match spec.oneway_client_to_raida {
        None => "both ways",
        Some(true) => "client to raida dropped",
        Some(false) => "raida to client dropped",
    };
    format!("{direction} for {} us", spec.duration_us)
}

/// Records a fault from the harness (helper on [`World`]).
impl World {
    pub(crate) fn fault(&self, at_us: u64, fault: FaultKind, hosts: Vec<Host>, detail: String) {
        self.recorder.record_at(
            at_us,
            Host::World,
            EventKind::FaultFired {
                fault,
                hosts,
                detail,
            },
        );
    }

    pub(crate) fn raida_ip(&self, raida: u8) -> IpAddr {
        *self
            .raida_ips
            .get(usize::from(raida))
            .expect("raida index within the topology")
    }

    pub(crate) fn client_ip(&self, client: u16) -> IpAddr {
        *self
            .client_ips
            .get(usize::from(client))
            .expect("client index within the topology")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::KNOWN_CRASH_STEPS;
    use rand::SeedableRng;

    #[test]
    fn every_known_crash_step_is_a_server_step() {
        for name in KNOWN_CRASH_STEPS {
            assert!(step_by_name(name).is_some(), "{name} is not a server Step");
        }
        assert_eq!(step_by_name("TellExploded"), None);
    }

    #[test]
    fn geometric_occurrences_follow_their_chance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(geometric_occurrence(&mut rng, 1.0), 1);
        let draws: Vec<u64> = (0..4_000)
            .map(|_| geometric_occurrence(&mut rng, 0.1))
            .collect();
        assert!(draws.iter().all(|k| *k >= 1));
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        assert!((8.5..11.5).contains(&mean), "mean {mean} for p = 0.1");
    }

    #[test]
    fn partition_hosts_name_the_cut_side_first() {
        let spec = PartitionSpec {
            client: 1,
            raidas: vec![4],
            oneway_client_to_raida: Some(false),
            duration_us: 1,
        };
        assert_eq!(spec.hosts(), vec![Host::Raida(4), Host::Client(1)]);
        assert_eq!(spec.kind(), FaultKind::OnewayPartition);
        let two_way = PartitionSpec {
            oneway_client_to_raida: None,
            raidas: vec![2, 3],
            ..spec
        };
        assert_eq!(
            two_way.hosts(),
            vec![Host::Client(1), Host::Raida(2), Host::Raida(3)]
        );
        assert_eq!(two_way.kind(), FaultKind::Partition);
    }
}
