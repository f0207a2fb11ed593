//! Sharded sweeps and `merge`: shards of a range are disjoint and cover it, merging their
//! JSON results judges the scenario as one sweep does (must_find included), a seed whose
//! shards disagree is caught, and a missing shard leaves must_find unjudged.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{assert_bad_input, lossy, raida_sim, records, stdout, write};
use raida_sim::junit;

/// ack_durable expected and required: every seed of this scenario violates it or not.
const LENIENT: &str = "violations = [\"ack_durable\"]\nmust_find = [\"ack_durable\"]";
/// one_shot required too, which link loss never breaks: fails whenever judged.
const WANTS_ONE_SHOT: &str =
    "violations = [\"ack_durable\", \"one_shot\"]\nmust_find = [\"ack_durable\", \"one_shot\"]";

/// Sweeps shard `k` of 3 over 0..9 into `dir/shard-k.jsonl`; returns the file.
fn shard(dir: &Path, scenario: &str, k: u64) -> String {
    let output = raida_sim(&[
        "sweep",
        scenario,
        "--seeds",
        "0..9",
        "--shard",
        &format!("{k}/3"),
        "--jobs",
        "2",
        "--format",
        "json",
    ]);
    assert!(output.status.code().is_some_and(|c| c < 2), "{output:?}");
    write(dir, &format!("shard-{k}.jsonl"), &stdout(&output))
}

#[test]
fn shards_partition_the_seeds_and_merge_to_one_sweeps_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "lossy.toml", &lossy(LENIENT));
    let files: Vec<String> = (1..=3).map(|k| shard(dir.path(), &scenario, k)).collect();
    let mut seen = BTreeSet::new();
    for (k, file) in (1..=3u64).zip(&files) {
        let text = std::fs::read_to_string(file).expect("written");
        for line in text.lines() {
            let record: raida_sim::run::SeedRecord = serde_json::from_str(line).expect("record");
            assert_eq!(record.seed % 3 + 1, k, "seed {} in shard {k}", record.seed);
            assert!(seen.insert(record.seed), "seed {} twice", record.seed);
        }
    }
    assert_eq!(seen, (0..9).collect::<BTreeSet<u64>>());

    let whole = raida_sim(&[
        "sweep", &scenario, "--seeds", "0..9", "--jobs", "2", "--format", "json",
    ]);
    let mut args = vec!["merge", scenario.as_str()];
    args.extend(files.iter().map(String::as_str));
    let merged = raida_sim(&args);
    assert_eq!(
        merged.status.code(),
        whole.status.code(),
        "{}",
        stdout(&merged)
    );
    assert_eq!(merged.status.code(), Some(0), "{}", stdout(&merged));
    let text = stdout(&merged);
    assert!(
        text.starts_with("merge lossy: 3 files, 9 records, 9 seeds\n"),
        "{text}"
    );
    assert!(text.contains("PASS: 9/9 seeds as expected"), "{text}");
    assert!(!text.contains("not judged"), "{text}");
    // The sweep's digests are the shards' digests.
    let whole_digests: BTreeSet<String> = records(&whole)
        .into_iter()
        .map(|r| r.report.expect("report").digest)
        .collect();
    let shard_digests: BTreeSet<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read")
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .map(|line| {
            serde_json::from_str::<raida_sim::run::SeedRecord>(&line)
                .expect("record")
                .report
                .expect("report")
                .digest
        })
        .collect();
    assert_eq!(whole_digests, shard_digests);

    // Judged against a stricter file, the same results fail, as its sweep does.
    let strict = write(dir.path(), "strict.toml", &lossy("violations = []"));
    let mut args = vec!["merge", strict.as_str()];
    args.extend(files.iter().map(String::as_str));
    let merged = raida_sim(&args);
    let swept = raida_sim(&["run", &strict, "--jobs", "2"]);
    assert_eq!(merged.status.code(), Some(1), "{}", stdout(&merged));
    assert_eq!(swept.status.code(), Some(1), "{}", stdout(&swept));
    assert!(stdout(&merged).contains("FAILED: unexpected ack_durable"));

    // must_find is judged over the union only when it covers the default seeds.
    let wants = write(dir.path(), "wants.toml", &lossy(WANTS_ONE_SHOT));
    let all = raida_sim(&["merge", &wants, &files[0], &files[1], &files[2]]);
    assert_eq!(all.status.code(), Some(1), "{}", stdout(&all));
    assert!(
        stdout(&all).contains("must_find one_shot FAILED"),
        "{}",
        stdout(&all)
    );
    let two = raida_sim(&["merge", &wants, &files[0], &files[2]]);
    assert_eq!(two.status.code(), Some(0), "{}", stdout(&two));
    assert!(
        stdout(&two).contains("must_find not judged: not every default seed was run"),
        "{}",
        stdout(&two)
    );

    // JUnit of a merge: a case per seed, and must_find.
    let xml_path = dir.path().join("merge.xml");
    let xml_arg = xml_path.to_str().expect("utf-8");
    let output = raida_sim(&[
        "merge", &wants, &files[0], &files[1], &files[2], "--junit", xml_arg,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let root = junit::parse(&std::fs::read_to_string(&xml_path).expect("written")).expect("XML");
    let suite = root.children_named("testsuite").next().expect("suite");
    let cases: Vec<&junit::Element> = suite.children_named("testcase").collect();
    assert_eq!(cases.len(), 10);
    let must_find = cases.last().expect("must_find case");
    assert_eq!(must_find.attribute("name"), Some("must_find"));
    assert_eq!(must_find.children_named("failure").count(), 1);

    tampered_digests_are_caught(dir.path(), &scenario, &files);
    bad_results_are_refused(dir.path(), &scenario, &files[0]);
}

/// A seed present in two files with different digests fails the merge.
fn tampered_digests_are_caught(dir: &Path, scenario: &str, files: &[String]) {
    let text = std::fs::read_to_string(&files[1]).expect("read");
    let line = text.lines().next().expect("a record");
    let mut record: raida_sim::run::SeedRecord = serde_json::from_str(line).expect("record");
    let report = record.report.as_mut().expect("report");
    let original = report.digest.clone();
    report.digest = "0123456789abcdef".into();
    let tampered = write(
        dir,
        "tampered.jsonl",
        &serde_json::to_string(&record).expect("json"),
    );
    let output = raida_sim(&[
        "merge", scenario, &files[0], &files[1], &files[2], &tampered,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let expected = format!(
        "non-deterministic: seed {} digests {original} (",
        record.seed
    );
    assert!(stdout(&output).contains(&expected), "{}", stdout(&output));
    assert!(stdout(&output).contains("and 0123456789abcdef ("));
    // The same record twice is no conflict.
    let again = raida_sim(&[
        "merge", scenario, &files[0], &files[1], &files[2], &files[1],
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

fn bad_results_are_refused(dir: &Path, scenario: &str, file: &str) {
    let garbage = write(dir, "garbage.jsonl", "{\"seed\": 1}\n");
    assert_bad_input(&raida_sim(&["merge", scenario, &garbage]), "not a record");
    let other = std::fs::read_to_string(file)
        .expect("read")
        .replace("\"scenario\":\"lossy\"", "\"scenario\":\"other\"");
    let other = write(dir, "other.jsonl", &other);
    assert_bad_input(&raida_sim(&["merge", scenario, &other]), "another scenario");
    assert_bad_input(
        &raida_sim(&["merge", scenario, "/nonexistent.jsonl"]),
        "missing",
    );
    assert_bad_input(&raida_sim(&["merge", scenario]), "no files");
    for shard in ["0/3", "4/3", "1/0", "x"] {
        let output = raida_sim(&["sweep", scenario, "--seeds", "0..3", "--shard", shard]);
        assert_bad_input(&output, shard);
    }
}
