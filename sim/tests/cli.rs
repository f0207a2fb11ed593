//! The `raida-sim` command as users and CI run it: one seed names one run whichever way it
//! is run (`run --seed N` alone, among the default seeds, in a sweep on one worker or two),
//! JSON and JUnit results, and argument errors.
//!
//! Every seed of `run` and `sweep` runs in a fresh child process, so these tests drive the
//! real binary (`CARGO_BIN_EXE_raida-sim`) on a small scenario written to a temp directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use raida_sim::run::{SeedRecord, Verdict};

/// A small crash-and-loss scenario: every fault that once made a run depend on the process
/// (crashes tear down sockets, link loss draws from turmoil's RNG on every send).
const SCENARIO: &str = r#"
[scenario]
name = "cli-small"
seeds = [0, 1, 2]

[sim]
tick_ms = 20
duration_s = 12
heal_s = 40

[topology]
mailboxes = 12
client_hosts = 2

[workload]
emails = 12
recipients_max = 3
attachments_max = 1
attachment_size_bytes_max = 3000
body_size_bytes_max = 800
send_window_s = 8
poll = "ping"

[faults]
packet_loss = 0.01
crash_rate_per_host_per_min = 2.0
crash_at_steps = ["TellRenamed", "TellRead"]
crash_at_step_fraction = 0.2

[server]
ping_timeout_s = 5
delete_on_read = "after_reply"
inbox_dir_fsync = false

[expect]
violations = ["ack_durable", "liveness", "one_shot"]
"#;

fn write_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("cli-small.toml");
    std::fs::write(&path, SCENARIO).expect("temp dir is writable");
    path
}

fn raida_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .args(args)
        .output()
        .expect("raida-sim starts")
}

/// Seed → digest from `--format json` output (one record per line).
fn digests(output: &Output) -> BTreeMap<u64, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<SeedRecord>(line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .map(|record| {
            assert_ne!(record.verdict, Verdict::Panic, "{:?}", record.panic);
            let report = record.report.expect("a report");
            (record.seed, report.digest)
        })
        .collect()
}

#[test]
fn a_seed_names_one_run_however_it_is_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_scenario(dir.path());
    let path = path.to_str().expect("utf-8 temp path");

    let one_job = raida_sim(&[
        "sweep", path, "--seeds", "0..3", "--jobs", "1", "--format", "json",
    ]);
    let two_jobs = raida_sim(&[
        "sweep", path, "--seeds", "0..3", "--jobs", "2", "--format", "json",
    ]);
    let defaults = raida_sim(&["run", path, "--format", "json"]);
    let one_job = digests(&one_job);
    assert_eq!(one_job.len(), 3, "{one_job:?}");
    assert_eq!(digests(&two_jobs), one_job, "--jobs 2 against --jobs 1");
    assert_eq!(
        digests(&defaults),
        one_job,
        "run (default seeds) against sweep"
    );
    for seed in ["1", "2"] {
        let alone = raida_sim(&["run", path, "--seed", seed, "--format", "json"]);
        let alone = digests(&alone);
        let seed: u64 = seed.parse().expect("a number");
        assert_eq!(
            alone.get(&seed),
            one_job.get(&seed),
            "run --seed {seed} alone"
        );
    }
    // Seeds differ from each other: the digests are not all one constant.
    let distinct: std::collections::BTreeSet<&String> = one_job.values().collect();
    assert_eq!(distinct.len(), 3, "{one_job:?}");
}

#[test]
fn text_output_prints_every_digest_and_the_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_scenario(dir.path());
    let path = path.to_str().expect("utf-8 temp path");
    let output = raida_sim(&["run", path, "--seed", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\ndigest = "), "{stdout}");
    assert!(stdout.contains("wall_time_s = "), "{stdout}");
    let sweep = raida_sim(&["sweep", path, "--seeds", "0..=1"]);
    let stdout = String::from_utf8_lossy(&sweep.stdout);
    assert!(stdout.contains("seed 0 digest "), "{stdout}");
    assert!(stdout.contains("seed 1 digest "), "{stdout}");
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_scenario(dir.path());
    let path = path.to_str().expect("utf-8 temp path");
    for args in [
        vec!["sweep", path, "--seeds", "0..2", "--jobs", "0"],
        vec!["sweep", path, "--seeds", "5..2"],
        vec!["run", "/nonexistent/scenario.toml"],
    ] {
        let output = raida_sim(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    // One seed is a range too.
    let one = raida_sim(&["sweep", path, "--seeds", "2", "--format", "json"]);
    assert_eq!(digests(&one).len(), 1);
}

/// The JUnit file of a run: one case per seed, unexpected violations as failures with
/// their replay command, expected ones as system-out, and the must_find case.
#[test]
fn junit_files_have_a_case_per_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_scenario(dir.path());
    let path = path.to_str().expect("utf-8 temp path");
    let xml_path = dir.path().join("run.xml");
    let xml = xml_path.to_str().expect("utf-8");
    let run = raida_sim(&["run", path, "--jobs", "2", "--junit", xml]);
    let root = raida_sim::junit::parse(&std::fs::read_to_string(xml).expect("written"))
        .expect("well-formed XML");
    let suite = root.children_named("testsuite").next().expect("a suite");
    assert_eq!(suite.attribute("name"), Some("cli-small"));
    let cases: Vec<&raida_sim::junit::Element> = suite.children_named("testcase").collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names, ["seed 0", "seed 1", "seed 2", "must_find"]);
    assert!(cases
        .iter()
        .all(|c| c.attribute("classname") == Some("cli-small")));
    assert_eq!(run.status.code(), Some(0), "every violation is expected");
    assert_eq!(suite.attribute("failures"), Some("0"));
    let out: String = cases
        .iter()
        .flat_map(|c| c.children_named("system-out"))
        .map(|e| e.text.clone())
        .collect();
    assert!(out.contains("digest "), "{out}");

    // The same seeds judged strictly: each violation a failure with its replay command.
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        SCENARIO.replace(
            "violations = [\"ack_durable\", \"liveness\", \"one_shot\"]",
            "violations = []",
        ),
    )
    .expect("writable");
    let strict = strict.to_str().expect("utf-8");
    let sweep = raida_sim(&["sweep", strict, "--seeds", "0..2", "--junit", xml]);
    let root = raida_sim::junit::parse(&std::fs::read_to_string(xml).expect("written"))
        .expect("well-formed XML");
    let suite = root.children_named("testsuite").next().expect("a suite");
    let failures: Vec<&raida_sim::junit::Element> = suite
        .children_named("testcase")
        .flat_map(|case| case.children_named("failure"))
        .collect();
    assert_eq!(sweep.status.code(), Some(1), "the strict file fails");
    assert!(!failures.is_empty());
    for failure in failures {
        assert!(failure
            .attribute("message")
            .is_some_and(|m| m.starts_with("unexpected ")));
        assert!(failure
            .text
            .contains("replay: cargo run --release -p raida-sim -- replay"));
    }
    let must_find = suite
        .children_named("testcase")
        .find(|case| case.attribute("name") == Some("must_find"))
        .expect("must_find case");
    assert!(
        must_find.children_named("skipped").next().is_some(),
        "a range is not the default seeds"
    );
    let unwritable = raida_sim(&["run", path, "--seed", "0", "--junit", "/nonexistent/x.xml"]);
    assert_eq!(unwritable.status.code(), Some(2));
}
