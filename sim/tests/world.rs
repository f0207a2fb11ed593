//! The world end to end: the happy path holds every invariant, faults fire and heal, and the
//! CLI reports bad scenario files with their location.

use std::path::Path;
use std::process::Command;

use raida_sim::history::{EventKind, FaultKind, Host, Phase};
use raida_sim::scenario::Scenario;
use raida_sim::world::{run_seed, RunResult};

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"))
}

fn inline(body: &str) -> Scenario {
    Scenario::from_toml_str(
        &format!("[scenario]\nname = \"test\"\n{body}"),
        "tests/inline.toml",
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

fn faults(run: &RunResult) -> Vec<(u64, FaultKind, Vec<Host>)> {
    run.history
        .faults()
        .map(|(event, fault, hosts)| (event.at_sim_us, fault.clone(), hosts.to_vec()))
        .collect()
}

#[test]
fn smoke_holds_every_invariant_on_its_default_seeds() {
    let scenario = scenario_file("smoke");
    for seed in scenario.seeds.clone() {
        let run = run_seed(&scenario, seed);
        assert_eq!(run.error, None, "seed {seed}");
        assert!(
            run.violations.is_empty(),
            "seed {seed}:\n{}",
            run.report(&scenario).render()
        );
        let counts = run.report(&scenario).counts().clone();
        assert_eq!(
            counts.emails,
            u64::from(scenario.workload.emails),
            "seed {seed}"
        );
        assert_eq!(counts.tells_sent, counts.tells_sent_ok, "seed {seed}");
        assert!(counts.tells_received >= counts.tells_sent, "seed {seed}");
        assert!(counts.downloads >= counts.emails, "seed {seed}");
        assert_eq!(counts.downloads_failed, 0, "seed {seed}");
        assert!(run.history.healed_at_us().is_some());
        assert!(run.passed());
    }
}

#[test]
fn a_crash_at_a_named_step_fires_and_the_host_comes_back() {
    // Every completed TellRenamed on the one beacon crashes it (fraction 1).
    let scenario = inline(
        "[sim]\nduration_s = 20\nheal_s = 30\n\
         [topology]\nmailboxes = 4\nclient_hosts = 1\nbeacon = \"fixed:3\"\n\
         [workload]\nemails = 6\nrecipients_max = 2\nsend_window_s = 10\npoll = \"peek\"\n\
         attachments_max = 1\n\
         [faults]\ncrash_at_steps = [\"TellRenamed\"]\ncrash_at_step_fraction = 1.0\n",
    );
    let run = run_seed(&scenario, 5);
    assert_eq!(run.error, None);
    let faults = faults(&run);
    let crash_at = faults
        .iter()
        .find(|(_, fault, hosts)| {
            *fault
                == FaultKind::Crash {
                    step: Some("TellRenamed".into()),
                }
                && hosts == &[Host::Raida(3)]
        })
        .map(|(at, _, _)| *at)
        .expect("the crash at TellRenamed fired");
    let last_restart = faults
        .iter()
        .filter(|(at, fault, hosts)| {
            *at >= crash_at && *fault == FaultKind::Restart && hosts == &[Host::Raida(3)]
        })
        .map(|(at, _, _)| *at)
        .max()
        .expect("the crashed beacon was restarted");
    let crashes = faults
        .iter()
        .filter(|(_, fault, hosts)| {
            matches!(fault, FaultKind::Crash { .. }) && hosts == &[Host::Raida(3)]
        })
        .count();
    let restarts = faults
        .iter()
        .filter(|(_, fault, hosts)| *fault == FaultKind::Restart && hosts == &[Host::Raida(3)])
        .count();
    assert_eq!(crashes, restarts, "every crash is followed by a restart");
    let answered_after = run.history.events().iter().any(|event| {
        event.at_sim_us > last_restart
            && matches!(event.kind, EventKind::PollDone { beacon: 3, .. })
    });
    assert!(answered_after, "the restarted beacon answers polls again");
}

#[test]
fn a_partition_fires_and_is_repaired() {
    let scenario = inline(
        "[sim]\nduration_s = 12\nheal_s = 30\n\
         [topology]\nmailboxes = 4\nclient_hosts = 2\n\
         [workload]\nemails = 4\nrecipients_max = 2\nsend_window_s = 6\npoll = \"peek\"\n\
         [faults]\npartition_fraction = 0.5\noneway_partition_fraction = 0.5\n",
    );
    let run = run_seed(&scenario, 2);
    assert_eq!(run.error, None);
    let faults = faults(&run);
    let healed_at = run.history.healed_at_us().expect("healed");
    let partitions: Vec<&(u64, FaultKind, Vec<Host>)> = faults
        .iter()
        .filter(|(_, fault, _)| matches!(fault, FaultKind::Partition | FaultKind::OnewayPartition))
        .collect();
    assert!(!partitions.is_empty(), "a partition fired: {faults:?}");
    for (at, fault, hosts) in partitions {
        assert!(*at < healed_at, "partitions fire in the safety phase");
        assert!(hosts.len() >= 2, "{fault:?} names both sides: {hosts:?}");
        assert!(hosts.iter().any(|h| matches!(h, Host::Client(_))));
        assert!(hosts.iter().any(|h| matches!(h, Host::Raida(_))));
        let repaired = faults.iter().any(|(heal_at, heal, heal_hosts)| {
            *heal == FaultKind::Heal
                && heal_at >= at
                && (heal_hosts.is_empty() || heal_hosts == hosts)
        });
        assert!(repaired, "{fault:?} at {at} is repaired");
    }
    let phases: Vec<Phase> = run
        .history
        .events()
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::PhaseChange { phase } => Some(phase),
            _ => None,
        })
        .collect();
    assert_eq!(phases, vec![Phase::Safety, Phase::Healed]);
}

#[test]
fn the_cli_names_file_line_and_key_of_a_bad_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[scenario]\nname = \"bad\"\n[faults]\npacket_los = 0.1\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .arg("run")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:4:1"), "{stderr}");
    assert!(stderr.contains("faults.packet_los"), "{stderr}");
}

#[test]
fn the_cli_runs_and_replays_a_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny.toml");
    std::fs::write(
        &path,
        "[scenario]\nname = \"tiny\"\nseeds = [4]\n[sim]\nduration_s = 6\nheal_s = 20\n\
         [topology]\nmailboxes = 3\nclient_hosts = 1\n[workload]\nemails = 2\n\
         recipients_max = 2\nsend_window_s = 3\n",
    )
    .expect("write");
    let run = Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .arg("run")
        .arg(&path)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("run scenario=tiny seed=4"), "{stdout}");
    assert!(stdout.contains("wall_time_s = "), "{stdout}");
    assert!(stdout.contains("PASS: 1/1 seeds as expected"), "{stdout}");
    let trace = dir.path().join("tiny.jsonl");
    let replay = Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .args(["replay"])
        .arg(&path)
        .args(["--seed", "4", "--trace-out"])
        .arg(&trace)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(" world phase - - safety"), "{stdout}");
    let written = std::fs::read_to_string(&trace).expect("trace written");
    let history = raida_sim::trace::read_json_lines(written.as_bytes()).expect("parses back");
    assert!(history.len() > 10);
    let digest_line = format!("digest = {:016x}", raida_sim::trace::trace_digest(&history));
    assert!(stdout.contains(&digest_line), "{digest_line} in\n{stdout}");
}
