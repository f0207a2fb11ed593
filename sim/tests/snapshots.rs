//! Snapshot tests: the compact trace of a few fixed seeds of tiny scenarios, and one rendered
//! run summary, pinned in `tests/snapshots/*.snap`.
//!
//! A run is a pure function of its scenario and seed, so these snapshots change only when the
//! simulated behaviour changes: the protocol code, the world, the workload generator, the
//! seed tree or the trace format. They must hold under both debug and release builds (a
//! difference would mean the simulation depends on the build profile). After a deliberate
//! change, review the new traces and accept them with `INSTA_UPDATE=always cargo test -p
//! raida-sim --test snapshots` (or `cargo insta review`).

use std::path::Path;

use raida_sim::run::scaled_for_tests;
use raida_sim::scenario::Scenario;
use raida_sim::world::{run_seed, RunResult};

/// `scenarios/smoke.toml` loaded under a fixed, relative file name (the summary prints it).
fn smoke() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let text = std::fs::read_to_string(&path).expect("scenarios/smoke.toml is readable");
    Scenario::from_toml_str(&text, "scenarios/smoke.toml").unwrap_or_else(|error| panic!("{error}"))
}

/// Smoke shrunk to two emails between four mailboxes over a 10 s safety phase.
fn tiny_smoke() -> Scenario {
    scaled_for_tests(&smoke(), 2, 4, 10, 20)
}

/// `scenarios/storm.toml` (every fault, swarm on) shrunk to six emails between eight
/// mailboxes: pins how swarm resolves each knob from the seed, draw by draw.
fn tiny_swarm() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm.toml");
    let text = std::fs::read_to_string(&path).expect("scenarios/storm.toml is readable");
    let storm = Scenario::from_toml_str(&text, "scenarios/storm.toml")
        .unwrap_or_else(|error| panic!("{error}"));
    scaled_for_tests(&storm, 6, 8, 10, 20)
}

/// Two mailboxes on one beacon that crashes at every completed `TellRenamed`.
fn tiny_crash() -> Scenario {
    Scenario::from_toml_str(
        "[scenario]\nname = \"tiny-crash\"\nseeds = [3]\n\
         [sim]\nduration_s = 10\nheal_s = 30\n\
         [topology]\nmailboxes = 2\nclient_hosts = 1\nbeacon = \"fixed:4\"\n\
         [workload]\nemails = 2\nrecipients_max = 1\nsend_window_s = 4\npoll = \"ping\"\n\
         attachments_max = 1\nattachment_size_bytes_max = 2000\nbody_size_bytes_max = 500\n\
         [faults]\ncrash_at_steps = [\"TellRenamed\"]\ncrash_at_step_fraction = 1.0\n\
         [server]\nping_timeout_s = 5\ninbox_dir_fsync = false\n\
         [expect]\nviolations = [\"ack_durable\"]\n",
        "tests/tiny-crash.toml",
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

fn run(scenario: &Scenario, seed: u64) -> RunResult {
    let run = run_seed(scenario, seed);
    assert_eq!(run.error, None, "{} seed {seed}", scenario.name);
    run
}

fn compact_trace(run: &RunResult) -> String {
    let mut text = run.trace_lines().join("\n");
    text.push('\n');
    text
}

/// One test, so the runs happen one after another on one thread: two simulations running
/// at once on different threads of one process have been seen to order same-instant events
/// differently (the order two tasks of one host see a peer crash), so the snapshots are
/// taken with no other simulation running in this test binary.
#[test]
fn tiny_runs_match_their_snapshots() {
    let smoke = tiny_smoke();
    for seed in [0, 1] {
        let run = run(&smoke, seed);
        assert!(run.passed(), "tiny smoke seed {seed}");
        insta::assert_snapshot!(format!("tiny_smoke_seed_{seed}_trace"), compact_trace(&run));
    }

    let crash = tiny_crash();
    let run = run(&crash, 3);
    let crashed = run.trace_lines().iter().any(|line| {
        line.contains(" world fault - crash ") && line.contains("TellRenamed occurrence")
    });
    assert!(crashed, "the crash at TellRenamed fired");
    insta::assert_snapshot!("tiny_crash_at_tell_renamed_trace", compact_trace(&run));

    let run = run_seed(&smoke, 0);
    insta::assert_snapshot!("tiny_smoke_seed_0_summary", run.report(&smoke).render());

    let swarm = tiny_swarm();
    let run = run_seed(&swarm, 2);
    assert!(run.faults.swarm);
    insta::assert_snapshot!("tiny_swarm_seed_2_summary", run.report(&swarm).render());
    insta::assert_snapshot!("tiny_swarm_seed_2_trace", compact_trace(&run));
}
