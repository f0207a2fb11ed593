//! `raida-sim shrink`: a failing seed of a small lossy scenario (ack_durable unexpected), and
//! small variants of the loss, replay and crash-mid-publish scenarios (their expected
//! violations named with `--violation`), shrink to smaller scenario files that still fail
//! the same way when run again.

mod common;

use std::path::Path;

use common::{assert_bad_input, lossy, raida_sim, raida_sim_in, records, stdout, write};
use raida_sim::checkers::Invariant;
use raida_sim::scenario::Scenario;

/// Candidates each shrink may run (keeps every test well under a minute in release).
const MAX_RUNS: &str = "12";

/// `scenarios/NAME.toml` scaled down (30 s safety phase, 32 emails, 8 mailboxes), every
/// fault and server setting kept, written to `dir`.
fn small_variant(dir: &Path, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    let text = std::fs::read_to_string(path).expect("scenario file");
    let mut value: toml::Value = toml::from_str(&text).expect("toml");
    let root = value.as_table_mut().expect("a table");
    for (section, key, new) in [
        ("sim", "tick_ms", 20),
        ("sim", "duration_s", 30),
        ("sim", "heal_s", 90),
        ("topology", "mailboxes", 8),
        ("workload", "emails", 32),
        ("workload", "send_window_s", 20),
    ] {
        let table = root
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table
            .as_table_mut()
            .expect("a section")
            .insert(key.into(), toml::Value::Integer(new));
    }
    write(
        dir,
        &format!("{name}-small.toml"),
        &raida_sim::tomlfile::scenario_text(&value),
    )
}

/// The first of seeds 0..4 whose run violates `target`.
fn failing_seed(scenario: &str, target: Invariant) -> u64 {
    let output = raida_sim(&[
        "sweep", scenario, "--seeds", "0..4", "--jobs", "2", "--format", "json",
    ]);
    records(&output)
        .into_iter()
        .find(|record| {
            record
                .report
                .as_ref()
                .is_some_and(|r| r.outcome.violated.contains_key(&target))
        })
        .unwrap_or_else(|| panic!("no seed of {scenario} violates {target}"))
        .seed
}

/// Shrinks `seed` of `scenario` (keeping `violation` when given) in `dir`, checks the result
/// is smaller and still violates `target`, and returns the shrunk scenario.
fn shrink_and_check(
    dir: &Path,
    scenario: &str,
    seed: u64,
    violation: Option<Invariant>,
    target: Invariant,
) -> Scenario {
    let seed_text = seed.to_string();
    let mut args = vec![
        "shrink",
        scenario,
        "--seed",
        &seed_text,
        "--max-runs",
        MAX_RUNS,
    ];
    if let Some(invariant) = violation {
        args.extend(["--violation", invariant.name()]);
    }
    let output = raida_sim_in(dir, &args);
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{text}{}",
        common::stderr(&output)
    );
    assert!(text.contains(&format!("still violates {target}")), "{text}");
    let events: Vec<u64> = text
        .lines()
        .find_map(|line| line.strip_prefix("events "))
        .expect("an events line")
        .split(" -> ")
        .map(|n| n.parse().expect("a count"))
        .collect();
    assert!(events[1] < events[0], "the run shrank: {text}");
    let original = Scenario::load(Path::new(scenario)).expect("original");
    let out = dir.join(format!("{}.shrunk.seed-{seed}.toml", original.name));
    assert!(
        text.contains(&format!(
            "replay: cargo run --release -p raida-sim -- replay {}",
            out.file_name().and_then(|n| n.to_str()).expect("name")
        )),
        "{text}"
    );
    let shrunk = Scenario::load(&out).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(shrunk.seeds, vec![seed]);
    assert_eq!(shrunk.name, format!("{}-shrunk", original.name));
    assert!(
        shrunk.workload.emails < original.workload.emails
            || shrunk.topology.mailboxes < original.topology.mailboxes
            || shrunk.faults != original.faults,
        "{text}"
    );

    // Run again: the same invariant breaks.
    let out_text = out.to_str().expect("utf-8");
    let again = raida_sim(&["run", out_text, "--seed", &seed_text, "--format", "json"]);
    let record = records(&again).pop().expect("a record");
    let report = record.report.expect("a report");
    assert!(report.outcome.violated.contains_key(&target), "{report:?}");
    // The shrunk file's own verdict: an expected target is its must_find (pass), an
    // unexpected one fails it.
    let verdict = raida_sim(&["run", out_text]);
    let expected = original.expect.allows(target);
    assert_eq!(
        verdict.status.code(),
        Some(if expected { 0 } else { 1 }),
        "{}",
        stdout(&verdict)
    );
    shrunk
}

#[test]
fn an_unexpected_ack_durable_shrinks_and_still_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy("violations = []"));
    let seed = failing_seed(&scenario, Invariant::AckDurable);
    let shrunk = shrink_and_check(dir.path(), &scenario, seed, None, Invariant::AckDurable);
    assert!(shrunk.expect.must_find.is_empty());
}

#[test]
fn the_loss_scenario_shrinks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = small_variant(dir.path(), "loss");
    let seed = failing_seed(&scenario, Invariant::AckDurable);
    let target = Some(Invariant::AckDurable);
    let shrunk = shrink_and_check(dir.path(), &scenario, seed, target, Invariant::AckDurable);
    assert_eq!(shrunk.expect.must_find, vec![Invariant::AckDurable]);
}

#[test]
fn the_replay_scenario_shrinks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = small_variant(dir.path(), "replay");
    let seed = failing_seed(&scenario, Invariant::RevisionOrder);
    let target = Some(Invariant::RevisionOrder);
    shrink_and_check(
        dir.path(),
        &scenario,
        seed,
        target,
        Invariant::RevisionOrder,
    );
}

#[test]
fn the_crash_mid_publish_scenario_shrinks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = small_variant(dir.path(), "crash-mid-publish");
    let seed = failing_seed(&scenario, Invariant::AckDurable);
    let target = Some(Invariant::AckDurable);
    shrink_and_check(dir.path(), &scenario, seed, target, Invariant::AckDurable);
}

#[test]
fn shrink_refuses_what_it_cannot_shrink() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every violation expected: nothing unexpected to keep, unless one is named.
    let lenient = write(
        dir.path(),
        "lenient.toml",
        &lossy("violations = [\"ack_durable\"]"),
    );
    let output = raida_sim_in(
        dir.path(),
        &["shrink", &lenient, "--seed", "0", "--max-runs", "1"],
    );
    assert_bad_input(&output, "nothing unexpected");
    assert!(common::stderr(&output).contains("--violation"));
    let output = raida_sim_in(
        dir.path(),
        &[
            "shrink",
            &lenient,
            "--seed",
            "0",
            "--violation",
            "skew_consistency",
        ],
    );
    assert_bad_input(&output, "not violated");
    let output = raida_sim(&["shrink", &lenient, "--seed", "0", "--violation", "nonsense"]);
    assert_bad_input(&output, "unknown invariant");
    assert_bad_input(
        &raida_sim(&["shrink", "/nonexistent.toml", "--seed", "0"]),
        "no file",
    );
}
