//! The fault schedule: what the world breaks, when, and how it heals.
//!
//! [`FaultDriver::new`] turns one seed's resolved [`Faults`] into a schedule before the run
//! starts, each family drawing from its own named seed streams so that turning one fault off
//! does not reshuffle the others: random crashes ([`super::crash`]), partitions
//! ([`super::network`]), clock steps (taken from the hosts' clocks, which apply them by
//! themselves; the driver only records each when it takes effect).
//!
//! Faults that depend on what the run does are drawn as the run goes, from the
//! `"faults.runtime"` stream, in simulation order (itself fixed by the seed): crash plans
//! armed at named steps ([`super::crash`]) and damage to each stored stripe
//! ([`super::stripes`]).
//!
//! Every fault is recorded as `FaultFired` (host `world`), naming the hosts it touched;
//! [`FaultDriver::heal`] repairs everything and records `Heal`.

use std::collections::BTreeMap;

use raida_server::fs::Step;
use rand_chacha::ChaCha8Rng;
use turmoil::Sim;

use super::crash::draw_downtime_us;
use super::network::PartitionSpec;
use super::stripes::MaintenanceCommand;
use super::Faults;
use crate::clock::HostClock;
use crate::history::{FaultKind, Host};
use crate::scenario::Scenario;
use crate::seed::SeedTree;
use crate::world::World;

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

/// Applies the schedule to a running simulation.
#[derive(Debug)]
pub struct FaultDriver {
    faults: Faults,
    safety_end_us: u64,
    queue: BTreeMap<(u64, u64), Action>,
    sequence: u64,
    runtime: ChaCha8Rng,
    crash_steps: Vec<Step>,
    down: Vec<bool>,
    /// The step each RAIDA down now crashed at, if a crash plan fired (its restart hits the
    /// server's `crash_recovered` probe of that step).
    crashed_at_step: Vec<Option<Step>>,
    partition_active: bool,
    healed: bool,
}

impl FaultDriver {
    /// The schedule of one seed. `clocks` are every host's clock (their steps are recorded).
    pub fn new(
        scenario: &Scenario,
        faults: &Faults,
        tree: &SeedTree,
        clocks: &[(Host, &HostClock)],
    ) -> FaultDriver {
        let mut driver = FaultDriver {
            faults: faults.clone(),
            safety_end_us: scenario.safety_phase_us(),
            queue: BTreeMap::new(),
            sequence: 0,
            runtime: tree.stream("faults.runtime"),
            crash_steps: faults.crash.steps(),
            down: vec![false; usize::from(scenario.topology.raidas)],
            crashed_at_step: vec![None; usize::from(scenario.topology.raidas)],
            partition_active: false,
            healed: false,
        };
        let raidas = scenario.topology.raidas;
        for crash in faults.crash.schedule(tree, raidas, driver.safety_end_us) {
            let (raida, downtime_us) = (crash.raida, crash.downtime_us);
            driver.push(crash.at_us, Action::Crash { raida, downtime_us });
        }
        let partitions = faults.network.schedule_partitions(
            tree,
            scenario.sim.duration_s,
            scenario.topology.client_hosts,
            raidas,
        );
        for (at_us, spec) in partitions {
            driver.push(at_us, Action::Partition(spec));
        }
        for (host, clock) in clocks {
            for step in &clock.steps {
                let (host, delta_us) = (*host, step.delta_us);
                driver.push(step.at_sim_us, Action::ClockStep { host, delta_us });
            }
        }
        driver
    }

    fn push(&mut self, at_us: u64, action: Action) {
        self.sequence += 1;
        self.queue.insert((at_us, self.sequence), action);
    }

    /// Faults in effect from the start: link loss, file-system latency and yield points
    /// (recorded). Arms the crash-at-step plans.
    pub fn start(&mut self, sim: &mut Sim<'_>, world: &World) {
        self.faults.network.start_link_loss(sim, world);
        self.record_interleaving(world);
        for raida in 0..world.raida_count() {
            self.arm(raida, world);
        }
    }

    fn record_interleaving(&self, world: &World) {
        let latency_ms_max = self.faults.interleave.fs_latency_ms_max;
        if latency_ms_max > 0 {
            let hosts = (0..world.raida_count()).map(Host::Raida).collect();
            let detail = format!("every fs call sleeps 0..={latency_ms_max} ms");
            world.fault(0, FaultKind::Interleave, hosts, detail);
        }
        for raida in 0..world.raida_count() {
            let steps = world.raida(raida).yield_steps();
            if steps.is_empty() {
                continue;
            }
            let names: Vec<String> = steps.iter().map(ToString::to_string).collect();
            let detail = format!("may yield after {}", names.join(", "));
            world.fault(0, FaultKind::Interleave, vec![Host::Raida(raida)], detail);
        }
    }

    fn arm(&mut self, raida: u8, world: &World) {
        self.faults
            .crash
            .arm(&self.crash_steps, raida, world, &mut self.runtime);
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
                spec.apply(sim, world);
                world.fault(now_us, spec.kind(), spec.hosts(), spec.detail());
                self.partition_active = true;
                self.push(now_us + spec.duration_us, Action::Repair(spec));
            }
            Action::Repair(spec) => {
                if self.healed {
                    return;
                }
                spec.repair(sim, world);
                let detail = "partition repaired".to_string();
                world.fault(now_us, FaultKind::Heal, spec.hosts(), detail);
                self.partition_active = false;
            }
            Action::ClockStep { host, delta_us } => {
                let detail = format!("clock of {host} jumped {delta_us} us");
                world.fault(
                    now_us,
                    FaultKind::ClockStep { delta_us },
                    vec![host],
                    detail,
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
        world.raida(raida).cancel_pending_publishes();
        self.set_down(raida, true);
        let hosts = vec![Host::Raida(raida)];
        world.fault(now_us, FaultKind::Crash { step }, hosts.clone(), detail);
        for path in sim.take_torn_writes(world.raida_ip(raida)) {
            let path = path.display().to_string();
            let detail = format!("{path}: the crash kept part of an un-synced write");
            world.fault(now_us, FaultKind::TornWrite { path }, hosts.clone(), detail);
        }
    }

    fn bounce(&mut self, raida: u8, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        if !self.is_down(raida) {
            return;
        }
        sim.bounce(world.raida_ip(raida));
        self.set_down(raida, false);
        let crashed_at = self.crashed_at_step.get_mut(usize::from(raida));
        if let Some(step) = crashed_at.and_then(Option::take) {
            probe::hit(raida_server::probes::crash_recovered(step));
        }
        let hosts = vec![Host::Raida(raida)];
        world.fault(now_us, FaultKind::Restart, hosts, String::new());
        if !self.healed {
            self.arm(raida, world);
        }
    }

    /// After each `Sim::step`: crash the hosts whose step plan fired, and draw stripe damage
    /// for the stripes stored during the step.
    pub fn after_step(&mut self, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        for raida in 0..world.raida_count() {
            if !self.is_down(raida) {
                self.crash_if_fired(raida, now_us, sim, world);
            }
        }
        for stored in world.recorder.take_stored_stripes() {
            let (action, delay_us) = self.faults.stripes.draw(&mut self.runtime);
            let at_us = now_us + delay_us;
            let Some(action) = action.filter(|_| !self.healed && at_us < self.safety_end_us) else {
                continue;
            };
            let command = MaintenanceCommand {
                email_id: stored.email_id,
                file_type: stored.file_type,
                action,
            };
            let raida = stored.raida;
            self.push(at_us, Action::Stripe { raida, command });
        }
    }

    fn crash_if_fired(&mut self, raida: u8, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        let Some(point) = world.raida(raida).crash_plan().fired().cloned() else {
            return;
        };
        let detail = format!(
            "{} occurrence {} at {}",
            point.step,
            point.occurrence,
            point.host_path.display()
        );
        let step = Some(point.step.to_string());
        self.crash(raida, step, detail, now_us, sim, world);
        if let Some(slot) = self.crashed_at_step.get_mut(usize::from(raida)) {
            *slot = Some(point.step);
        }
        let downtime_us = draw_downtime_us(&mut self.runtime);
        let at_us = if self.healed {
            now_us
        } else {
            now_us + downtime_us
        };
        self.push(at_us, Action::Bounce { raida });
    }

    /// The end of the safety phase: disarm the plans, crash any host parked at a step, lift
    /// link loss and every partition, restart every crashed host. Records `Heal`.
    pub fn heal(&mut self, now_us: u64, sim: &mut Sim<'_>, world: &World) {
        self.healed = true;
        for raida in 0..world.raida_count() {
            world.raida(raida).crash_plan().disarm();
        }
        self.after_step(now_us, sim, world);
        self.faults.network.stop_link_loss(sim, world);
        let pending: Vec<Action> = std::mem::take(&mut self.queue).into_values().collect();
        for action in pending {
            if let Action::Repair(spec) = action {
                spec.repair(sim, world);
            }
        }
        self.partition_active = false;
        for raida in 0..world.raida_count() {
            if let Some(disk) = world.raida(raida).disk() {
                disk.heal();
            }
        }
        if self.faults.storage.disk_capacity_bytes > 0 {
            for raida in 0..world.raida_count() {
                sim.set_fs_capacity(world.raida_ip(raida), None);
            }
        }
        let detail = "every fault repaired".to_string();
        world.fault(now_us, FaultKind::Heal, Vec::new(), detail);
        for raida in 0..world.raida_count() {
            self.bounce(raida, now_us, sim, world);
        }
    }

    /// RAIDAs down now.
    pub fn down_count(&self) -> usize {
        self.down.iter().filter(|down| **down).count()
    }
}
