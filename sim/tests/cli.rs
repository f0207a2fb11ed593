//! The `raida-sim` command as users and CI run it: one seed names one run whichever way it
//! is run (`run --seed N` alone, among the default seeds, in a sweep on one worker or two),
//! JSON results, and argument errors.
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
