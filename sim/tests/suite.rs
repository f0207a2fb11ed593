//! The scenario suite: every scenario in `scenarios/` runs and must meet its own `[expect]`.
//!
//! For each scenario file the suite runs the default seed list and judges it with
//! [`Outcome`]: no seed may break an invariant the scenario does not list, no host may fail
//! or panic, and every `must_find` invariant must be violated by some seed. Every
//! `must_hit` code probe must be hit by some seed ([`MustHit`], from the probes the same
//! runs report: CI's coverage check costs no extra run). A scenario too large for CI (more
//! than [`EMAILS_FULL_MAX`] emails or [`DEVICES_FULL_MAX`] devices, like `storm`) runs scaled
//! down with [`scaled_for_tests`] on its first [`SCALED_SEEDS_COUNT`] seeds; its `must_find`
//! and `must_hit` are then not judged (a subset cannot promise them), but every other
//! expectation is.
//!
//! Seeds of one scenario run on worker threads ([`sweep`]). A failure prints each failing
//! seed with its replay command (and, for a scaled scenario, the scaling applied).

use std::path::{Path, PathBuf};
use std::time::Instant;

use raida_sim::coverage::MustHit;
use raida_sim::report::Outcome;
use raida_sim::run::{run_one, scaled_for_tests, sweep, SeedRun};
use raida_sim::scenario::Scenario;

/// A scenario with more emails than this runs scaled.
const EMAILS_FULL_MAX: u32 = 200;
/// A scenario with more devices (mailboxes × devices per mailbox) than this runs scaled.
const DEVICES_FULL_MAX: u32 = 200;
/// Scaled scenarios: emails, mailboxes, safety phase and heal bound, seconds.
const SCALED_EMAILS: u32 = 200;
const SCALED_MAILBOXES: u32 = 400;
const SCALED_DURATION_S: u32 = 30;
const SCALED_HEAL_S: u32 = 120;
/// Scaled scenarios run this many of their default seeds.
const SCALED_SEEDS_COUNT: usize = 4;

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

/// A scenario file under its repository-relative name, so replay commands run from the
/// repository root.
fn load(path: &Path) -> Scenario {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .expect("UTF-8 name");
    Scenario::from_toml_str(&text, &format!("scenarios/{file_name}"))
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The scenario as the suite runs it, and a note saying how it was shrunk (if it was).
fn suite_variant(full: &Scenario) -> (Scenario, Option<String>) {
    let devices = full
        .topology
        .mailboxes
        .saturating_mul(u32::from(full.topology.devices_per_mailbox));
    if full.workload.emails <= EMAILS_FULL_MAX && devices <= DEVICES_FULL_MAX {
        return (full.clone(), None);
    }
    let mut scaled = scaled_for_tests(
        full,
        SCALED_EMAILS,
        SCALED_MAILBOXES,
        SCALED_DURATION_S,
        SCALED_HEAL_S,
    );
    scaled.seeds.truncate(SCALED_SEEDS_COUNT);
    let note = format!(
        "scaled_for_tests(emails {SCALED_EMAILS}, mailboxes {SCALED_MAILBOXES}, \
         duration_s {SCALED_DURATION_S}, heal_s {SCALED_HEAL_S}), seeds {:?}; \
         must_find and must_hit not judged",
        scaled.seeds
    );
    (scaled, Some(note))
}

/// Every line a failing scenario prints: failing seeds with replay commands, then the
/// must_find and must_hit verdicts.
fn failure_report(scenario: &Scenario, note: Option<&str>, runs: &[SeedRun]) -> Option<String> {
    let outcomes = runs
        .iter()
        .filter_map(|run| run.result.as_ref().ok().map(|r| r.outcome.clone()))
        .collect();
    let mut outcome = Outcome::from_seeds(scenario, outcomes);
    if note.is_some() {
        outcome.missing_must_find.clear();
    }
    let reports = runs.iter().filter_map(|run| run.result.as_ref().ok());
    let must_hit = MustHit::judge(scenario, reports);
    let must_hit_failed = note.is_none() && !must_hit.passed();
    // Panics and host failures; unexpected violations are in the outcome's own lines.
    let seed_failures: Vec<String> = runs
        .iter()
        .filter(|run| run.result.as_ref().map_or(true, |r| r.error.is_some()))
        .filter_map(|run| run.failure_line(scenario))
        .collect();
    if seed_failures.is_empty() && outcome.passed() && !must_hit_failed {
        return None;
    }
    let mut text = format!("scenario {} ({}):\n", scenario.name, scenario.file_name);
    if let Some(note) = note {
        text.push_str(&format!("  run as {note}\n"));
    }
    for line in seed_failures {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&outcome.render());
    if must_hit_failed {
        text.push_str(&must_hit.render());
    }
    Some(text)
}

#[allow(clippy::disallowed_methods)] // Wall time of the harness, never seen by the simulation.
#[test]
fn every_scenario_meets_its_expectations() {
    let files = scenario_files();
    assert!(files.len() >= 8, "{files:?}");
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    let mut failures = Vec::new();
    for path in files {
        let full = load(&path);
        let (scenario, note) = suite_variant(&full);
        // Wall time is the harness's own; it never reaches the simulation.
        let started = Instant::now();
        let runs = sweep(
            &scenario.seeds,
            jobs,
            |seed| run_one(&scenario, seed),
            |_| {},
        );
        assert_eq!(runs.len(), scenario.seeds.len(), "{}", scenario.name);
        println!(
            "{}: {} seeds in {:.1} s{}",
            scenario.name,
            runs.len(),
            started.elapsed().as_secs_f64(),
            note.as_deref()
                .map_or(String::new(), |note| format!(" ({note})"))
        );
        if let Some(report) = failure_report(&scenario, note.as_deref(), &runs) {
            failures.push(report);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
