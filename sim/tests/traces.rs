//! Working with traces: `check` re-checks a trace `replay` saved and finds what the run
//! found; `replay`'s filters print only the lines they select while the JSON file stays
//! whole.

mod common;

use common::{assert_bad_input, lossy, raida_sim, records, stdout, write};
use raida_sim::checkers::Invariant;

#[test]
fn a_saved_trace_checks_like_its_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let strict = write(dir.path(), "strict.toml", &lossy("violations = []"));
    let lenient = write(
        dir.path(),
        "lenient.toml",
        &lossy("violations = [\"ack_durable\"]"),
    );
    let run = raida_sim(&["run", &strict, "--seed", "0", "--format", "json"]);
    let report = records(&run)
        .pop()
        .and_then(|r| r.report)
        .expect("a report");
    let count = report
        .outcome
        .violated
        .get(&Invariant::AckDurable)
        .copied()
        .expect("seed 0 of the lossy scenario loses a tell");
    let trace = dir.path().join("t.jsonl");
    let trace = trace.to_str().expect("utf-8");
    let replay = raida_sim(&["replay", &strict, "--seed", "0", "--trace-out", trace]);
    assert_eq!(replay.status.code(), Some(1));

    let check = raida_sim(&["check", trace, "--scenario", &strict]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    let text = stdout(&check);
    assert!(
        text.contains(&format!("ack_durable = violated {count} (UNEXPECTED)")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("ack_durable at "))
            .count(),
        count
    );
    assert!(text.ends_with("verdict = FAIL\n"), "{text}");
    let check = raida_sim(&["check", trace, "--scenario", &lenient]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(stdout(&check).contains("(expected)"));
    let only = raida_sim(&["check", trace, "--scenario", &lenient, "--only-unexpected"]);
    assert!(
        !stdout(&only).contains("ack_durable at "),
        "{}",
        stdout(&only)
    );

    // A damaged trace is bad input naming the line.
    let text = std::fs::read_to_string(trace).expect("written");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{not json";
    let damaged = write(dir.path(), "damaged.jsonl", &lines.join("\n"));
    let output = raida_sim(&["check", &damaged, "--scenario", &strict]);
    assert_bad_input(&output, "damaged");
    assert!(
        common::stderr(&output).contains("line 3"),
        "{}",
        common::stderr(&output)
    );
    assert_bad_input(
        &raida_sim(&["check", "/nonexistent.jsonl", "--scenario", &strict]),
        "missing",
    );
}

/// The trace lines of a replay's stdout (they start with simulated seconds).
fn trace_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|line| !line.starts_with("shown: ") && !line.starts_with("trace: "))
        .collect()
}

/// (total events, lines shown) of a filtered replay, checking the file stays whole.
fn replay(dir: &std::path::Path, scenario: &str, filters: &[&str]) -> (String, usize) {
    let trace = dir.join("f.jsonl");
    let trace = trace.to_str().expect("utf-8");
    let mut args = vec!["replay", scenario, "--seed", "0", "--trace-out", trace];
    args.extend(filters);
    let output = raida_sim(&args);
    let text = stdout(&output);
    let written = std::fs::read_to_string(trace)
        .expect("written")
        .lines()
        .count();
    let shown = trace_lines(&text).len();
    if !filters.is_empty() {
        assert!(
            text.contains(&format!("shown: {shown} of {written} events")),
            "{text}"
        );
    }
    (text, written)
}

#[test]
fn replay_filters_select_lines_and_keep_the_file_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy("violations = []"));
    let (all, total) = replay(dir.path(), &scenario, &[]);
    let all_lines = trace_lines(&all);
    assert_eq!(all_lines.len(), total);

    let (text, _) = replay(dir.path(), &scenario, &["--host", "world"]);
    let lines = trace_lines(&text);
    assert!(!lines.is_empty() && lines.len() < total);
    assert!(
        lines.iter().all(|l| l.split(' ').nth(1) == Some("world")),
        "{text}"
    );

    // An email id from a tell_sent line, by its first 6 hex digits.
    let email = all_lines
        .iter()
        .find(|l| l.contains(" tell_sent "))
        .and_then(|l| l.split(' ').find_map(|w| w.strip_prefix("e=")))
        .expect("a tell was sent")[..6]
        .to_string();
    let (text, _) = replay(dir.path(), &scenario, &["--email", &email.to_uppercase()]);
    let lines = trace_lines(&text);
    assert!(!lines.is_empty() && lines.len() < total);
    assert!(
        lines.iter().all(|l| l.contains(&format!("e={email}"))),
        "{text}"
    );

    let mailbox = all_lines
        .iter()
        .find_map(|l| l.split(' ').find_map(|w| w.strip_prefix("m=")))
        .expect("a mailbox polled")
        .to_string();
    let (text, _) = replay(dir.path(), &scenario, &["--mailbox", &mailbox]);
    let lines = trace_lines(&text);
    assert!(!lines.is_empty() && lines.len() < total);
    // A tell_sent line names its recipients, not its sender (the mailbox may be either).
    assert!(
        lines
            .iter()
            .all(|l| l.contains(&mailbox) || l.contains(" tell_sent ")),
        "{text}"
    );

    let (text, _) = replay(
        dir.path(),
        &scenario,
        &["--from-s", "5", "--to-s", "6.5", "--host", "client00"],
    );
    let lines = trace_lines(&text);
    assert!(!lines.is_empty(), "{text}");
    for line in lines {
        let at: f64 = line
            .split(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("time");
        assert!((5.0..=6.5).contains(&at), "{line}");
        assert_eq!(line.split(' ').nth(1), Some("client00"), "{line}");
    }
    for bad in [
        vec!["--mailbox", "x"],
        vec!["--email", "zz"],
        vec!["--host", "server1"],
        vec!["--from-s", "-1"],
    ] {
        let mut args = vec!["replay", scenario.as_str(), "--seed", "0"];
        args.extend(bad.iter().copied());
        assert_bad_input(&raida_sim(&args), &bad.join(" "));
    }
}
