//! Code probes end to end: a seed's run reports the probes it hit, and `raida-sim coverage`
//! judges `expect.must_hit` (exit 1 when a listed probe is never hit, 2 for an unknown one).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use raida_sim::run::run_one;
use raida_sim::scenario::Scenario;

/// A small healthy scenario whose devices long-poll, with `must_hit` filled in.
fn scenario_text(must_hit: &str) -> String {
    format!(
        r#"
[scenario]
name = "coverage-small"
seeds = [0, 1]

[sim]
tick_ms = 20
duration_s = 10
heal_s = 30

[topology]
mailboxes = 6
client_hosts = 1

[workload]
emails = 6
recipients_max = 2
attachments_max = 1
attachment_size_bytes_max = 2000
body_size_bytes_max = 500
send_window_s = 6
poll = "ping"

[server]
ping_timeout_s = 5

[expect]
must_hit = {must_hit}
"#
    )
}

fn write_scenario(dir: &Path, must_hit: &str) -> PathBuf {
    let path = dir.join("coverage-small.toml");
    std::fs::write(&path, scenario_text(must_hit)).expect("temp dir is writable");
    path
}

fn raida_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .args(args)
        .output()
        .expect("raida-sim starts")
}

#[test]
fn a_smoke_seed_reports_the_probes_it_hit() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let scenario = Scenario::load(&path).expect("smoke parses");
    let report = run_one(&scenario, 0).result.expect("seed 0 runs");
    assert!(!report.probes.is_empty(), "no probe hit");
    assert!(report.probes.values().all(|hits| *hits > 0));
    // Every accepted tell was answered 250 and every device long-polled or peeked.
    assert!(report
        .probes
        .get("server.status.250")
        .is_some_and(|hits| *hits > 0));
    for name in report.probes.keys() {
        assert!(
            raida_sim::coverage::declared_probe(name).is_some(),
            "{name} is declared by no registry"
        );
    }
    // The table is this run's alone: running the seed again reports the same hits.
    let again = run_one(&scenario, 0).result.expect("seed 0 runs");
    assert_eq!(again.probes, report.probes);
}

#[test]
fn coverage_fails_on_a_probe_no_seed_hits() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 254 (ERROR_MEMORY_ALLOC) is never sent: nothing in the server answers it.
    let path = write_scenario(dir.path(), r#"["server.ping.parked", "server.status.254"]"#);
    let path = path.to_str().expect("UTF-8 path");
    let output = raida_sim(&["coverage", path, "--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("must_hit server.status.254 FAILED"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("must_hit server.ping.parked FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("server.status.254"), "{stdout}");
    assert!(stdout.contains("NEVER HIT"), "{stdout}");

    let passing = write_scenario(dir.path(), r#"["server.ping.parked"]"#);
    let output = raida_sim(&[
        "coverage",
        passing.to_str().expect("UTF-8 path"),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(json["passed"], serde_json::Value::Bool(true));
    assert_eq!(json["coverage"]["seeds"], serde_json::json!(2));

    // A subset of the default seeds does not judge must_hit.
    let subset = write_scenario(dir.path(), r#"["server.status.254"]"#);
    let output = raida_sim(&[
        "coverage",
        subset.to_str().expect("UTF-8 path"),
        "--seeds",
        "0",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("not judged"));
}

#[test]
fn coverage_refuses_an_unknown_probe_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let must_hit = r#"["server.ping.nonsense"]"#;
    let path = write_scenario(dir.path(), must_hit);
    let line = 1 + scenario_text(must_hit)
        .lines()
        .position(|line| line.starts_with("must_hit"))
        .expect("the text has must_hit");
    let output = raida_sim(&["coverage", path.to_str().expect("UTF-8 path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let located = format!("coverage-small.toml:{line}:13: key `expect.must_hit`");
    assert!(stderr.contains(&located), "{stderr}");
    assert!(stderr.contains("server.ping.nonsense"), "{stderr}");
}

#[test]
fn coverage_lists_every_declared_probe() {
    let output = raida_sim(&["coverage", "--list"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let declared = raida_sim::coverage::declared().count();
    assert_eq!(stdout.lines().count(), declared);
    assert!(stdout.contains("server.crash_recovered.tell_renamed"));
    assert!(stdout.contains("client.rs.multi_loss"));
}
