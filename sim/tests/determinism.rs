//! The determinism meta-test: every scenario in `scenarios/`, one seed, run twice, must
//! give the same trace byte for byte.
//!
//! Scenarios are scaled down for CI with [`raida_sim::run::scaled_for_tests`] (at most 12
//! emails, 8 mailboxes, a 20 s safety phase and a 30 s heal bound): the faults, server
//! settings and topology shape stay, so each scaled run takes the scenario's code paths.

use std::path::{Path, PathBuf};

use raida_sim::run::scaled_for_tests;
use raida_sim::scenario::Scenario;
use raida_sim::trace::JsonLinesWriter;
use raida_sim::world::run_seed;

const EMAILS_MAX: u32 = 12;
const MAILBOXES_MAX: u32 = 8;
const DURATION_S_MAX: u32 = 20;
const HEAL_S_MAX: u32 = 30;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    files.sort();
    files
}

/// The full JSON-lines trace of one run (every field, every record byte).
fn trace_bytes(scenario: &Scenario, seed: u64) -> Vec<u8> {
    let run = run_seed(scenario, seed);
    assert_eq!(run.error, None, "{} seed {seed}", scenario.name);
    let mut writer = JsonLinesWriter::new(Vec::new());
    writer.write_history(&run.history).expect("in memory");
    let mut bytes = writer.into_inner().expect("in memory");
    for line in &run.trace_lines() {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

#[test]
fn every_scenario_replays_byte_for_byte() {
    let files = scenario_files();
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let full = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
        let scenario =
            scaled_for_tests(&full, EMAILS_MAX, MAILBOXES_MAX, DURATION_S_MAX, HEAL_S_MAX);
        let seed = *scenario.seeds.first().expect("a scenario has seeds");
        let first = trace_bytes(&scenario, seed);
        let second = trace_bytes(&scenario, seed);
        assert!(
            first.len() > 1_000,
            "{}: a run records events",
            scenario.name
        );
        if first != second {
            let line = first
                .split(|b| *b == b'\n')
                .zip(second.split(|b| *b == b'\n'))
                .position(|(a, b)| a != b);
            panic!(
                "{} seed {seed}: two runs differ (first differing line {line:?})",
                scenario.name
            );
        }
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let scenario = scaled_for_tests(
        &Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml"))
            .unwrap_or_else(|error| panic!("{error}")),
        6,
        6,
        10,
        20,
    );
    assert_ne!(trace_bytes(&scenario, 1), trace_bytes(&scenario, 2));
}
