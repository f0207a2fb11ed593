//! The simulated world: one seed in, one recorded and checked run out.
//!
//! [`run_seed`] builds a turmoil simulation from a [`Scenario`] and a seed, drives it through
//! the safety phase (faults on) and the healed phase (faults repaired, bounded by
//! `sim.heal_s`), and hands the recorded [`History`] to the checkers.
//!
//! Everything derives from the seed through a [`SeedTree`]: the fault rates (swarm mode,
//! stream `"faults"`; the workload's shape knobs from the workload subtree's `"swarm"`), each host's clock (`("clock.raida", i)`, `("clock.client", i)`,
//! `"clock.adversary"`), every mailbox's coin ANs and the workload (`"workload"` subtree),
//! the fault schedule (`"faults.*"`), each server's RNG (`("raida.rng", i)`) and turmoil's
//! own RNG (key of `"turmoil"`: message latencies, link breaks, host order per step).
//!
//! The world has these hosts, registered in this order (turmoil's cost grows about with
//! the cube of the host count, so clients are few hosts running many tasks):
//! - `raida0`..`raida{n-1}`: real servers ([`hosts`]);
//! - `client0`..: the mailboxes' senders and devices ([`workload`]);
//! - `mallory`, only when the seed replays or duplicates tells or sends malformed requests:
//!   the adversary.
//!
//! The harness loop: apply due faults, `Sim::step`, flush the recorder, poll crash plans
//! and draw stripe damage ([`faults`]), then let each RAIDA's disk commit what its writeback
//! delay has passed ([`crate::faults::writeback`]). At `sim.duration_s` it heals everything and records
//! the phase change; it stops as soon as every expected delivery and download is done (see
//! [`World::quiescent`]) or `sim.heal_s` has passed.

pub mod hosts;
pub mod net;
mod quiescence;
pub mod recorder;
pub mod workload;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use qmail_client::stripe::DataStripeCount;
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::settings::Settings;

use self::hosts::{run_raida, RaidaHost, RaidaHostParts};
use self::net::{client_host_name, raida_host_name, ADVERSARY_HOST_NAME};
use self::quiescence::Quiescence;
use self::recorder::Recorder;
use self::workload::{Plan, Progress};
use crate::checkers::{check_all, Violation};
use crate::clock::HostClock;
use crate::faults::driver::FaultDriver;
use crate::faults::writeback::Writeback;
use crate::history::{EventKind, FaultKind, History, Host, Phase};
use crate::limits::{
    HISTORY_EVENTS_PER_DEVICE_HINT, HISTORY_EVENTS_PER_EMAIL_HINT, HISTORY_EVENTS_RESERVED_MAX,
    LOCKER_BALANCE, QUIESCENCE_CHECK_MS, SIM_EPOCH_UNIX_S, US_PER_MS, US_PER_S,
};
use crate::report::{SeedOutcome, SeedReport};
use crate::scenario::Scenario;
use crate::seed::SeedTree;
use crate::trace::{trace_digest, trace_line};

/// Extra simulated time turmoil is allowed beyond safety + heal (it never ends a run: the
/// harness stops stepping first).
const TURMOIL_DURATION_MARGIN_S: u64 = 60;
/// Longest the end-of-run disk audit may take, simulated seconds (within the margin).
const AUDIT_S_MAX: u64 = 30;
const _: () = assert!(AUDIT_S_MAX < TURMOIL_DURATION_MARGIN_S);

/// Client ports turmoil hands out. Its default (49152..=65535) wraps around within a minute
/// on a busy client host; the wider range makes a port's reuse come long after any server
/// let go of it. A port a server still holds (a half-open connection whose FIN was lost) is
/// skipped when the range wraps (turmoil patch 6).
const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 1024..=65535;

/// What one seed's run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The seed.
    pub seed: u64,
    /// The fault rates this seed ran with.
    pub faults: crate::faults::Faults,
    /// The workload this seed ran with (swarm varies its shape knobs).
    pub workload: crate::scenario::Workload,
    /// Everything that happened.
    pub history: History,
    /// Broken invariants, oldest first.
    pub violations: Vec<Violation>,
    /// The seed judged against the scenario's expectations.
    pub outcome: SeedOutcome,
    /// Simulated time when the run stopped, microseconds.
    pub sim_end_us: u64,
    /// FNV-1a-64 of the JSON-lines trace.
    pub digest: u64,
    /// Set when host software failed (returned an error): a bug, whatever the invariants say.
    pub error: Option<String>,
    /// Bytes on the wire: every byte written and read by every client connection.
    pub wire_bytes: u64,
    /// Requests on the wire: connections clients tried to open (one per attempt).
    pub requests: u64,
    /// Code probes the run hit, by name (crate `probe`: this thread's hits during the run).
    pub probes: BTreeMap<String, u64>,
}

impl RunResult {
    /// The run's report (parameters, counts, invariants, violations with replay commands,
    /// digest, verdict).
    pub fn report(&self, scenario: &Scenario) -> SeedReport {
        // The summary prints the workload as this seed resolved it.
        let mut scenario = scenario.clone();
        scenario.workload = self.workload;
        SeedReport::with_digest(
            &scenario,
            self.seed,
            &self.faults,
            &self.history,
            &self.violations,
            self.sim_end_us,
            self.digest,
        )
        .with_error(self.error.clone())
        .with_probes(self.probes.clone())
    }

    /// The compact trace, one line per event (built on demand: a storm seed has hundreds of
    /// thousands of events, and only tests and trace tools read the lines).
    pub fn trace_lines(&self) -> Vec<String> {
        self.history.events().iter().map(trace_line).collect()
    }

    /// True when every violation was expected and no host failed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.outcome.passed()
    }
}

/// The harness's view of the running world, shared with the fault driver.
#[derive(Debug)]
pub struct World {
    pub(crate) recorder: Recorder,
    pub(crate) raidas: Vec<Arc<RaidaHost>>,
    pub(crate) raida_ips: Vec<IpAddr>,
    pub(crate) client_ips: Vec<IpAddr>,
    pub(crate) client_hosts: u16,
    pub(crate) progress: Arc<Progress>,
    /// Some beacon runs `delivery_ack`: a tell whose reply a fault lost can still arrive, so
    /// a fault-explained loss does not end the run early.
    pub(crate) losses_recoverable: bool,
    /// What [`World::quiescent`] knows of the history so far.
    quiescence: Mutex<Quiescence>,
}

impl World {
    pub(crate) fn raida_count(&self) -> u8 {
        u8::try_from(self.raidas.len()).expect("at most 25 RAIDAs")
    }

    pub(crate) fn raida(&self, raida: u8) -> &RaidaHost {
        self.raidas
            .get(usize::from(raida))
            .expect("raida index within the topology")
    }

    /// True when nothing the healed phase waits for is left: every sender and the
    /// adversary finished, every tell a beacon acknowledged reached its mailbox (or a named
    /// fault destroyed it), and every received email's files were downloaded by some device
    /// of the mailbox (or two or more of a file's stripes were destroyed, or a newer
    /// revision of the email was sent or began uploading).
    pub fn quiescent(&self) -> bool {
        if !self.progress.idle() {
            return false;
        }
        let mut quiescence = self.quiescence.lock().expect("quiescence lock poisoned");
        self.recorder.with_history(|history| {
            quiescence.quiescent(history, self.losses_recoverable, &self.progress)
        })
    }
}

/// The server settings a scenario asks for (unset keys keep the server's defaults).
pub fn server_settings(scenario: &Scenario) -> Settings {
    let mut settings = scenario.server.clone();
    // The world connects many devices to few beacons; the front's defaults are sized for a
    // real machine. Let the scenario's tcp_capacity bound connections instead.
    let connections = usize::try_from(scenario.sim.tcp_capacity).unwrap_or(usize::MAX);
    settings.max_connections = settings.max_connections.max(connections);
    settings
}

/// This RAIDA's coins, lockers and inbox fees: every mailbox's AN here, every mailbox's
/// lockers with a balance that never runs out.
fn raida_tables(plan: &Plan, raida: u8) -> (CoinTable, LockerLedger, InboxFees) {
    let mut coins = CoinTable::new();
    for mailbox in &plan.mailboxes {
        let an = *mailbox
            .ans
            .get(usize::from(raida))
            .expect("one AN per RAIDA");
        coins.insert(mailbox.id.denom, mailbox.id.sn, an);
    }
    let lockers = LockerLedger::from_balances(plan.mailboxes.iter().flat_map(|mailbox| {
        [
            (mailbox.upload_locker, LOCKER_BALANCE),
            (mailbox.fee_locker, LOCKER_BALANCE),
        ]
    }));
    (coins, lockers, InboxFees::new())
}

fn us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).expect("simulated time fits u64 microseconds")
}

/// The turmoil builder of one run.
fn builder(
    scenario: &Scenario,
    faults: &crate::faults::Faults,
    tree: &SeedTree,
) -> turmoil::Builder {
    let network = &faults.network;
    let mut builder = turmoil::Builder::new();
    let run_s = u64::from(scenario.sim.duration_s)
        + u64::from(scenario.sim.heal_s)
        + TURMOIL_DURATION_MARGIN_S;
    builder
        .rng_seed(tree.stream_key("turmoil"))
        .epoch(UNIX_EPOCH + Duration::from_secs(SIM_EPOCH_UNIX_S.unsigned_abs()))
        .tick_duration(Duration::from_millis(u64::from(scenario.sim.tick_ms)))
        .simulation_duration(Duration::from_secs(run_s))
        .tcp_capacity(usize::try_from(scenario.sim.tcp_capacity).unwrap_or(usize::MAX))
        .min_message_latency(Duration::from_millis(u64::from(network.latency_ms_min)))
        .max_message_latency(Duration::from_millis(u64::from(
            network.latency_ms_max.max(network.latency_ms_min),
        )))
        .ephemeral_ports(EPHEMERAL_PORTS)
        .enable_random_order();
    faults.interleave.configure(&mut builder);
    faults.storage.configure(&mut builder);
    builder
}

/// Runs one seed of a scenario to the end and checks it.
pub fn run_seed(scenario: &Scenario, seed: u64) -> RunResult {
    // This thread runs the whole world: its probe table is this run's from here on.
    let _ = probe::take();
    let tree = SeedTree::new(seed);
    let faults = scenario.faults.resolve(&tree);
    let plan = Plan::generate(scenario, &faults, &tree.subtree("workload"));
    let safety_us = scenario.safety_phase_us();
    let raida_clocks: Vec<HostClock> = (0..scenario.topology.raidas)
        .map(|raida| {
            faults.clock.host_clock(
                &mut tree.stream_for_host("clock.raida", u64::from(raida)),
                safety_us,
            )
        })
        .collect();
    let client_clocks: Vec<HostClock> = (0..scenario.topology.client_hosts)
        .map(|client| {
            faults.clock.host_clock(
                &mut tree.stream_for_host("clock.client", u64::from(client)),
                safety_us,
            )
        })
        .collect();
    let adversary_clock = faults
        .clock
        .host_clock(&mut tree.stream("clock.adversary"), safety_us);

    let recorder = Recorder::with_event_capacity(history_events_hint(scenario));
    let settings = server_settings(scenario);
    let mut sim = builder(scenario, &faults, &tree).build();

    let raidas: Vec<Arc<RaidaHost>> = raida_clocks
        .iter()
        .enumerate()
        .map(|(index, clock)| {
            let index = u8::try_from(index).expect("at most 25 RAIDAs");
            let (coins, lockers, inbox_fees) = raida_tables(&plan, index);
            Arc::new(
                RaidaHost::new(
                    RaidaHostParts {
                        index,
                        clock: clock.clone(),
                        settings: settings.clone(),
                        coins,
                        lockers,
                        inbox_fees,
                        rng_seed: tree.stream_key_for_host("raida.rng", u64::from(index)),
                        data_stripes: DataStripeCount::new(usize::from(
                            scenario.workload.data_stripes,
                        ))
                        .expect("scenario validation bounds data_stripes"),
                        yields: faults.interleave.yield_points(&tree, index),
                        disk: faults.storage.for_raida(&tree, index, recorder.clone()),
                    },
                    recorder.clone(),
                )
                .with_extensions(scenario.extensions.clone()),
            )
        })
        .collect();
    let raida_ips: Vec<IpAddr> = raidas
        .iter()
        .map(|host| {
            let name = raida_host_name(host.index());
            let ip = sim.lookup(name.as_str());
            let host = host.clone();
            sim.host(name, move || run_raida(host.clone()));
            ip
        })
        .collect();

    let directory = workload::directory(&plan, &raida_ips);
    let resolved_workload = plan.workload;
    let config = workload::client_config(scenario, &settings);
    let mailbox_count = u32::try_from(plan.mailboxes.len()).expect("mailboxes fit u32");
    let malformed = faults.malformed.schedule(
        &tree,
        &settings,
        scenario.topology.raidas,
        mailbox_count,
        safety_us,
    );
    let needs_adversary = plan.needs_adversary() || !malformed.is_empty();
    let shared = Arc::new(
        workload::Shared::new(
            plan,
            directory,
            config,
            settings.ping_timeout_status,
            recorder.clone(),
        )
        .with_extensions(scenario.extensions.clone()),
    );
    let client_ips: Vec<IpAddr> = client_clocks
        .iter()
        .enumerate()
        .map(|(index, clock)| {
            let index = u16::try_from(index).expect("client hosts fit u16");
            let name = client_host_name(index);
            let ip = sim.lookup(name.as_str());
            let host = Arc::new(workload::ClientHost::new(
                index,
                clock.clone(),
                shared.clone(),
            ));
            sim.host(name, move || workload::run_client_host(host.clone()));
            ip
        })
        .collect();
    if needs_adversary {
        let host = Arc::new(
            crate::faults::adversary::AdversaryHost::new(
                adversary_clock.clone(),
                shared.clone(),
                tree.stream_key("adversary"),
            )
            .with_malformed(malformed, scenario.topology.raidas),
        );
        sim.host(ADVERSARY_HOST_NAME, move || {
            crate::faults::adversary::run_adversary(host.clone())
        });
    }

    let world = World {
        recorder: recorder.clone(),
        raidas,
        raida_ips,
        client_ips,
        client_hosts: scenario.topology.client_hosts,
        progress: shared.progress.clone(),
        losses_recoverable: scenario
            .extensions
            .raidas
            .keys()
            .any(|name| name.as_str() == raida_server::extension::delivery_ack::NAME),
        quiescence: Mutex::new(Quiescence::default()),
    };
    let mut clocks: Vec<(Host, &HostClock)> = Vec::new();
    for (index, clock) in raida_clocks.iter().enumerate() {
        clocks.push((Host::Raida(u8::try_from(index).unwrap_or(u8::MAX)), clock));
    }
    for (index, clock) in client_clocks.iter().enumerate() {
        clocks.push((
            Host::Client(u16::try_from(index).unwrap_or(u16::MAX)),
            clock,
        ));
    }
    if needs_adversary {
        clocks.push((Host::Adversary, &adversary_clock));
    }
    let mut driver = FaultDriver::new(scenario, &faults, &tree, &clocks);
    net::start_run(
        &recorder,
        hosts_by_ip(&sim, &world.raida_ips, &world.client_ips, needs_adversary),
    );
    let writeback = Writeback::new(&faults.writeback, &tree, &world.raida_ips);
    let (sim_end_us, error) = drive(scenario, &mut sim, &world, &mut driver, &writeback);
    let wire_bytes = net::wire_bytes();
    let requests = net::connections();
    let probes = probe::take()
        .into_iter()
        .map(|(name, hits)| (name.to_string(), hits))
        .collect();

    let history = recorder.take_history();
    let violations = check_all(&history, &scenario.check_context());
    let outcome = SeedOutcome::new(scenario, seed, &violations);
    let digest = trace_digest(&history);
    RunResult {
        seed,
        faults,
        workload: resolved_workload,
        history,
        violations,
        outcome,
        sim_end_us,
        digest,
        error,
        wire_bytes,
        requests,
        probes,
    }
}

/// Every host of the run by its turmoil address.
fn hosts_by_ip(
    sim: &turmoil::Sim<'_>,
    raida_ips: &[IpAddr],
    client_ips: &[IpAddr],
    with_adversary: bool,
) -> BTreeMap<IpAddr, Host> {
    let raidas = raida_ips.iter().enumerate().map(|(index, ip)| {
        let index = u8::try_from(index).expect("RAIDA indexes fit u8");
        (*ip, Host::Raida(index))
    });
    let clients = client_ips.iter().enumerate().map(|(index, ip)| {
        let index = u16::try_from(index).expect("client hosts fit u16");
        (*ip, Host::Client(index))
    });
    let adversary = with_adversary.then(|| (sim.lookup(ADVERSARY_HOST_NAME), Host::Adversary));
    raidas.chain(clients).chain(adversary).collect()
}

/// How many events to reserve room for: the run's emails and devices times their usual
/// share, at most [`HISTORY_EVENTS_RESERVED_MAX`].
fn history_events_hint(scenario: &Scenario) -> usize {
    let emails = usize::try_from(scenario.workload.emails).unwrap_or(usize::MAX);
    let devices = usize::try_from(scenario.topology.mailboxes)
        .unwrap_or(usize::MAX)
        .saturating_mul(usize::from(scenario.topology.devices_per_mailbox));
    emails
        .saturating_mul(HISTORY_EVENTS_PER_EMAIL_HINT)
        .saturating_add(devices.saturating_mul(HISTORY_EVENTS_PER_DEVICE_HINT))
        .min(HISTORY_EVENTS_RESERVED_MAX)
}

/// The end-of-run disk audit: every RAIDA reads back each stripe it acknowledged, recording
/// the ones no longer intact (`StripeAudited`, judged by the `durable` checker) and the
/// ones on the disk that do not expire on time (`StripeExpiryAudited`, `expiry`). Steps the
/// simulation until every RAIDA is done. Returns like [`drive`].
fn audit_disks(sim: &mut turmoil::Sim<'_>, world: &World) -> (u64, Option<String>) {
    for raida in 0..world.raida_count() {
        world.raida(raida).request_audit();
    }
    let deadline_us = us(sim.elapsed()) + AUDIT_S_MAX * US_PER_S;
    loop {
        let now_us = us(sim.elapsed());
        let done = (0..world.raida_count())
            .all(|raida| world.raida(raida).audit_state() == hosts::AuditState::Done);
        if done {
            return (now_us, None);
        }
        if now_us >= deadline_us {
            let error = format!("the disk audit did not finish within {AUDIT_S_MAX} s");
            return (now_us, Some(error));
        }
        if let Err(error) = sim.step() {
            world.recorder.flush();
            return (us(sim.elapsed()), Some(error.to_string()));
        }
        world.recorder.flush();
    }
}

/// The harness loop. Returns the simulated end time and the host failure, if any.
fn drive(
    scenario: &Scenario,
    sim: &mut turmoil::Sim<'_>,
    world: &World,
    driver: &mut FaultDriver,
    writeback: &Writeback,
) -> (u64, Option<String>) {
    let safety_end_us = scenario.safety_phase_us();
    let heal_end_us = safety_end_us + u64::from(scenario.sim.heal_s) * US_PER_S;
    let check_every_us = u64::from(QUIESCENCE_CHECK_MS) * US_PER_MS;
    world.recorder.record_at(
        0,
        Host::World,
        EventKind::PhaseChange {
            phase: Phase::Safety,
        },
    );
    driver.start(sim, world);
    let mut healed = false;
    let mut next_check_us = safety_end_us;
    loop {
        let now_us = us(sim.elapsed());
        if !healed && now_us >= safety_end_us {
            world.progress.set_healed();
            driver.heal(now_us, sim, world);
            world.recorder.record_at(
                now_us,
                Host::World,
                EventKind::PhaseChange {
                    phase: Phase::Healed,
                },
            );
            healed = true;
        }
        if healed {
            if now_us >= heal_end_us {
                return audit_disks(sim, world);
            }
            if now_us >= next_check_us {
                world.recorder.flush();
                if world.quiescent() {
                    return audit_disks(sim, world);
                }
                next_check_us = now_us + check_every_us;
            }
        } else {
            driver.apply_due(now_us, sim, world);
        }
        if let Err(error) = sim.step() {
            world.recorder.flush();
            return (us(sim.elapsed()), Some(error.to_string()));
        }
        world.recorder.flush();
        driver.after_step(us(sim.elapsed()), sim, world);
        writeback.after_step(sim);
    }
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
    use std::path::Path;

    fn hint_of(relative: &str) -> usize {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(relative);
        history_events_hint(&Scenario::load(&path).expect("a shipped scenario"))
    }

    /// The history reserved for storm and storm-10k holds what seed 0 of each records
    /// (699,780 and 3,373,374 events), so neither copies its history as it grows.
    #[test]
    fn the_reserved_history_holds_the_storms_of_seed_0() {
        let storm = hint_of("storm.toml");
        assert!(
            (699_780..=HISTORY_EVENTS_RESERVED_MAX).contains(&storm),
            "{storm}"
        );
        let storm_10k = hint_of("large/storm-10k.toml");
        assert!(
            (3_373_374..=HISTORY_EVENTS_RESERVED_MAX).contains(&storm_10k),
            "{storm_10k}"
        );
        assert!(hint_of("smoke.toml") < storm);
    }
}
