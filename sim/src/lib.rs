//! raida-sim: a deterministic simulator for the QMail RAIDA protocol (group 6, commands
//! 70–74).
//!
//! One run puts 25 in-process RAIDA servers and many clients (mailboxes and their devices,
//! as tasks on a few client hosts) on turmoil's simulated network, clock and file system,
//! drives a seeded workload of emails through upload, tell, ping/peek and download, breaks
//! things on purpose, and then checks invariants over the recorded history.
//!
//! A run has two phases:
//! 1. **Safety phase** (`sim.duration_s`): the world injects faults — link loss, two-way and
//!    one-way partitions, power-loss crashes (also pinned to named server fs steps),
//!    restarts, skewed, drifting and stepping host clocks, replayed and duplicated tells,
//!    tells sent before their uploads, lost and corrupted stripes. Only safety invariants
//!    can be judged here: nothing wrong may be delivered, whatever is lost.
//! 2. **Healed phase** (bounded by `sim.heal_s`): every fault is repaired and the system
//!    must catch up: tells the beacons acknowledged arrive, files download.
//!
//! One `u64` seed determines everything — the fault rates (in swarm mode), every host
//! clock, the workload, turmoil's network and scheduling — so one seed is one run, and the
//! same seed gives the same trace bit for bit ([`trace::trace_digest`]). Every violation
//! is printed with the command that replays its seed.
//!
//! Modules:
//! - [`limits`]: every bound, with compile-time consistency checks.
//! - [`seed`]: the seed tree of independent, named random streams.
//! - [`scenario`]: the scenario TOML format and its validation.
//! - [`faults`]: every fault family: its knobs, its per-seed resolution (swarm), how it acts.
//! - [`clock`]: per-host wall clocks (offset, drift, steps) over simulated time.
//! - [`history`]: the event model the world records.
//! - [`checkers`]: one module per invariant over a history.
//! - [`trace`]: compact trace lines, JSON lines and the run digest.
//! - [`digest`]: the run digest itself: every field of every event, hashed without JSON.
//! - [`perfetto`]: a run exported as Chrome/Perfetto trace-event JSON.
//! - [`report`]: run summaries, verdicts and replay commands.
//! - [`run`]: running seeds one by one or on worker threads; scaling scenarios for CI.
//! - [`compare`]: two sides of one scenario (with and without extensions), judged.
//! - [`coverage`]: code probes hit over seeds; `expect.must_hit` judged.
//! - [`junit`]: JUnit XML results for CI.
//! - [`shard`]: sharded sweeps and merging their JSON results.
//! - [`shrink`]: making a failing seed's scenario smaller.
//! - [`tracecheck`]: re-checking saved traces; filtering replayed trace lines.
//! - [`tomlfile`]: writing scenario files that `compare` and `shrink` edit.
//! - [`world`]: the turmoil world (RAIDA, client and adversary hosts, recorder)
//!   and [`world::run_seed`].

/// Every program linking the simulator (the `raida-sim` command, its examples and tests)
/// allocates through jemalloc. With glibc's malloc, `malloc`, `free` and their bin upkeep
/// took about a fifth of storm's CPU (storm seed 0: 30–31 s of CPU with glibc, 22–25 s with
/// jemalloc). The allocator never reaches the simulation: nothing in it depends on where
/// memory lies, so a seed's run is the same with either.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod checkers;
pub mod clock;
pub mod compare;
pub mod coverage;
pub mod digest;
pub mod extensions;
pub mod faults;
pub mod history;
pub mod junit;
pub mod limits;
pub mod perfetto;
pub mod report;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod shard;
pub mod shrink;
pub mod tomlfile;
pub mod trace;
pub mod tracecheck;
pub mod world;
