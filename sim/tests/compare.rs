//! `raida-sim compare` as CI runs it: it judges (exit 1 when the `with` side shows a
//! violation the base side does not, per seed), prints per-seed rows and latency
//! percentiles, speaks JSON and JUnit, compares extension A against B, and labels a base
//! side that already runs extensions by them.

mod common;

use common::{assert_bad_input, lossy, raida_sim, stdout, write};
use raida_sim::compare::{CompareSeedLine, CompareSummary, Side};
use raida_sim::junit;

const LENIENT: &str = "violations = [\"ack_durable\"]";

#[test]
fn delivery_ack_passes_against_the_base_and_json_matches_a_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy(LENIENT));
    let xml = dir.path().join("c.xml");
    let xml = xml.to_str().expect("utf-8");
    let output = raida_sim(&[
        "compare",
        &scenario,
        "--seeds",
        "0..3",
        "--with",
        "delivery_ack",
        "--jobs",
        "2",
        "--format",
        "json",
        "--junit",
        xml,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    let seeds: Vec<CompareSeedLine> = lines[..6]
        .iter()
        .map(|line| serde_json::from_str(line).expect("a seed line"))
        .collect();
    let summary: CompareSummary = serde_json::from_str(lines[6]).expect("a summary");
    assert!(summary.passed);
    assert_eq!(summary.seeds, vec![0, 1, 2]);
    assert_eq!(
        (summary.base.label.as_str(), summary.with.label.as_str()),
        ("base", "delivery_ack")
    );
    assert!(summary.base.latency_p50_ms.is_some() && summary.base.latency_p99_ms.is_some());
    assert!(summary.base.latency_p50_ms <= summary.base.latency_p99_ms);
    // The base side is the scenario as written: the digests a sweep prints.
    let sweep = raida_sim(&["sweep", &scenario, "--seeds", "0..3", "--format", "json"]);
    let swept: Vec<String> = common::records(&sweep)
        .into_iter()
        .map(|r| r.report.expect("report").digest)
        .collect();
    let base: Vec<String> = seeds
        .iter()
        .filter(|line| line.side == Side::Base)
        .map(|line| line.record.report.as_ref().expect("report").digest.clone())
        .collect();
    assert_eq!(base, swept);
    // In this process: the same runs.
    let here = raida_sim(&[
        "compare",
        &scenario,
        "--seeds",
        "0..3",
        "--with",
        "delivery_ack",
        "--in-process",
        "--format",
        "json",
    ]);
    let digests = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| serde_json::from_str::<CompareSeedLine>(line).ok())
            .filter(|line| line.kind == "seed")
            .map(|line| line.record.report.expect("report").digest)
            .collect()
    };
    assert_eq!(digests(&stdout(&here)), digests(&text));

    let root = junit::parse(&std::fs::read_to_string(xml).expect("written")).expect("XML");
    let suite = root.children_named("testsuite").next().expect("suite");
    assert_eq!(suite.attribute("name"), Some("lossy: base vs delivery_ack"));
    assert_eq!(suite.children_named("testcase").count(), 3);
    assert_eq!(suite.attribute("failures"), Some("0"));
}

#[test]
fn extension_a_against_b_fails_where_a_adds_a_violation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy(LENIENT));
    let output = raida_sim(&[
        "compare",
        &scenario,
        "--seeds",
        "0..3",
        "--with",
        "replay_guard",
        "--base",
        "delivery_ack",
        "--jobs",
        "2",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("compare lossy over 3 seeds: delivery_ack vs replay_guard\n"),
        "{text}"
    );
    assert!(
        text.contains("replay_guard violates ack_durable ("),
        "{text}"
    );
    assert!(text.contains("delivery_ack does not"), "{text}");
    assert!(
        text.contains("--with replay_guard --base delivery_ack"),
        "{text}"
    );
    for row in ["p50 latency to delivery ms", "p99 latency to delivery ms"] {
        assert!(text.contains(row), "{text}");
    }
    assert!(text.contains(" FAIL\n"), "per-seed rows: {text}");
    assert!(text.ends_with(" of 3 seeds\n"), "{text}");
}

#[test]
fn a_scenario_with_extensions_labels_its_base_side_by_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = lossy(LENIENT).replace("seeds = \"0..9\"", "seeds = [1]")
        + "\n[extensions]\nraidas = { delivery_ack = [0, 1, 2] }\n";
    let scenario = write(dir.path(), "mixed.toml", &text);
    // No --seeds: the scenario's own seeds.
    let output = raida_sim(&["compare", &scenario, "--with", "replay_guard"]);
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "compare lossy over 1 seeds: delivery_ack(some) vs replay_guard+delivery_ack(some)\n"
        ),
        "{text}"
    );
    assert!(output.status.code().is_some_and(|c| c < 2), "{text}");
}

#[test]
fn compare_arguments_are_checked_like_sweeps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy(LENIENT));
    for args in [
        vec!["--with", "delivery_ack", "--jobs", "0"],
        vec!["--with", "delivery_ack", "--seeds", "5..2"],
        vec!["--with", "nonsense"],
        vec!["--with", ""],
        vec!["--with", "delivery_ack", "--base", "nope"],
        vec!["--with", "delivery_ack", "--format", "xml"],
    ] {
        let mut full = vec!["compare", scenario.as_str()];
        full.extend(args.iter().copied());
        assert_bad_input(&raida_sim(&full), &args.join(" "));
    }
    // One seed is a range too.
    let one = raida_sim(&[
        "compare",
        &scenario,
        "--seeds",
        "2",
        "--with",
        "delivery_ack",
    ]);
    assert!(
        stdout(&one).starts_with("compare lossy over 1 seeds"),
        "{}",
        stdout(&one)
    );
}
