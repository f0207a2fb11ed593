//! Sharded sweeps: which seeds shard K of N runs (`sweep --shard K/N`), and judging the
//! union of several shards' JSON results (`raida-sim merge`).
//!
//! **Slices.** Seed `s` belongs to shard `(s mod N) + 1`. A seed's shard depends only on the
//! seed and N — never on the range swept — so shards of one range are disjoint, cover it, and
//! stay the same when the range grows. CI spreads them over a matrix job
//! (`.github/workflows/sim-shards.yml`), one machine per shard: the runner fleet is the
//! distributed engine.
//!
//! **Merging.** Each shard's `--format json` output is JSON lines of
//! [`crate::run::SeedRecord`]s. [`Merged::read`] takes every record of every file; a seed
//! found twice must carry the same digest (or panic twice), or it is reported as
//! non-deterministic with both digests. Every run is judged again against the scenario
//! given to `merge` (not the one the shard loaded), `expect.must_find` is judged when the
//! union covers the scenario's default seeds, and unexpected violations, panics, host
//! failures and non-deterministic seeds fail.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use crate::junit::{Failure, TestSuite};
use crate::report::{Outcome, SeedOutcome};
use crate::run::{SeedRecord, SeedRun};
use crate::scenario::Scenario;

/// One of N disjoint slices of the seeds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Shard {
    /// 1-based index, `1..=count`.
    pub index: u64,
    /// How many shards, at least 1.
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` (1 ≤ K ≤ N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not K/N"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("{part:?} in {text:?} is not a positive integer"))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?} needs 1 <= K <= N"));
        }
        Ok(Shard { index, count })
    }

    /// Whether `seed` belongs to this shard.
    pub fn contains(self, seed: u64) -> bool {
        seed % self.count + 1 == self.index
    }

    /// The seeds of `seeds` in this shard, in order.
    pub fn select(self, seeds: impl IntoIterator<Item = u64>) -> Vec<u64> {
        seeds
            .into_iter()
            .filter(|&seed| self.contains(seed))
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A seed found twice with different results.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conflict {
    /// The seed.
    pub seed: u64,
    /// What the first record said (its digest, or `panic`), and where it was.
    pub first: (String, String),
    /// What the other record said, and where.
    pub second: (String, String),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "non-deterministic: seed {} digests {} ({}) and {} ({})",
            self.seed, self.first.0, self.first.1, self.second.0, self.second.1
        )
    }
}

/// The union of several shards' records.
#[derive(Debug, Default)]
pub struct Merged {
    /// One run per seed, in seed order, judged against the merge's scenario.
    pub runs: Vec<SeedRun>,
    /// Seeds whose records disagree.
    pub conflicts: Vec<Conflict>,
    /// Records read, duplicates included.
    pub record_count: usize,
}

/// A record's result in one word: its digest, or `panic`.
fn fingerprint(record: &SeedRecord) -> String {
    record
        .report
        .as_ref()
        .map_or_else(|| "panic".to_string(), |report| report.digest.clone())
}

impl Merged {
    /// Reads every file's JSON lines (blank lines skipped). Errors name the file and line:
    /// unreadable files, lines that are not records, records of another scenario.
    pub fn read(scenario: &Scenario, files: &[&Path]) -> Result<Merged, String> {
        let mut merged = Merged::default();
        let mut seen: BTreeMap<u64, (SeedRecord, String)> = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(file)
                .map_err(|error| format!("{}: cannot read: {error}", file.display()))?;
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let place = format!("{}:{}", file.display(), index + 1);
                let record = parse_record(scenario, line, &place)?;
                merged.record_count += 1;
                merged.add(&mut seen, record, place);
            }
        }
        merged.runs = seen
            .into_values()
            .map(|(record, _)| rejudged(scenario, record))
            .collect();
        Ok(merged)
    }

    fn add(
        &mut self,
        seen: &mut BTreeMap<u64, (SeedRecord, String)>,
        record: SeedRecord,
        place: String,
    ) {
        match seen.get(&record.seed) {
            None => {
                seen.insert(record.seed, (record, place));
            }
            Some((first, first_place)) => {
                // Verdicts are judged again below; the run itself is its digest.
                let (a, b) = (fingerprint(first), fingerprint(&record));
                if a != b {
                    self.conflicts.push(Conflict {
                        seed: record.seed,
                        first: (a, first_place.clone()),
                        second: (b, place),
                    });
                }
            }
        }
    }

    /// The seed list judged as a whole (must_find over the union).
    pub fn outcome(&self, scenario: &Scenario) -> Outcome {
        let outcomes = self
            .runs
            .iter()
            .filter_map(|run| run.result.as_ref().ok().map(|r| r.outcome.clone()))
            .collect();
        Outcome::from_seeds(scenario, outcomes)
    }

    /// True when the union meets the scenario's expectations, no run panicked or failed,
    /// and no seed disagrees with itself.
    pub fn passed(&self, scenario: &Scenario) -> bool {
        self.conflicts.is_empty()
            && self.outcome(scenario).passed()
            && self.runs.iter().all(|run| {
                run.result
                    .as_ref()
                    .is_ok_and(|report| report.error.is_none())
            })
    }

    /// The verdict as text: conflicts, panics and host failures, then the outcome.
    pub fn render(&self, scenario: &Scenario, file_count: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "merge {}: {file_count} files, {} records, {} seeds",
            scenario.name,
            self.record_count,
            self.runs.len()
        );
        for conflict in &self.conflicts {
            let _ = writeln!(out, "seed {} FAILED: {conflict}", conflict.seed);
        }
        for run in &self.runs {
            let host_failed = run.result.as_ref().map_or(true, |r| r.error.is_some());
            if let Some(line) = run.failure_line(scenario).filter(|_| host_failed) {
                let _ = writeln!(out, "{line}");
            }
        }
        out.push_str(&self.outcome(scenario).render());
        out
    }

    /// The JUnit suite of the union: one case per seed (conflicts as failures), then
    /// `must_find`.
    pub fn junit(&self, scenario: &Scenario) -> TestSuite {
        let mut suite = TestSuite::for_runs(scenario, &self.runs, &self.outcome(scenario));
        for conflict in &self.conflicts {
            let name = format!("seed {}", conflict.seed);
            if let Some(case) = suite.cases.iter_mut().find(|case| case.name == name) {
                case.failures.push(conflict_failure(conflict));
            }
        }
        suite
    }
}

fn conflict_failure(conflict: &Conflict) -> Failure {
    Failure {
        kind: "non_deterministic".into(),
        message: conflict.to_string(),
        detail: conflict.to_string(),
    }
}

fn parse_record(scenario: &Scenario, line: &str, place: &str) -> Result<SeedRecord, String> {
    let record: SeedRecord = serde_json::from_str(line)
        .map_err(|error| format!("{place}: not a seed record: {error}"))?;
    if let Some(report) = &record.report {
        if report.scenario != scenario.name {
            return Err(format!(
                "{place}: a record of scenario {:?}, not {:?}",
                report.scenario, scenario.name
            ));
        }
        if report.seed != record.seed {
            return Err(format!(
                "{place}: record of seed {} holds a report of seed {}",
                record.seed, report.seed
            ));
        }
    }
    Ok(record)
}

/// A record as a run, its violations judged against `scenario`.
fn rejudged(scenario: &Scenario, record: SeedRecord) -> SeedRun {
    let mut run = SeedRun::from_record(record);
    if let Ok(report) = &mut run.result {
        report.outcome = SeedOutcome::new(scenario, run.seed, &report.violations);
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse("3/3"), Ok(Shard { index: 3, count: 3 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", "1/2/3", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard::parse("2/3").expect("ok").to_string(), "2/3");
    }

    #[test]
    fn shards_partition_any_range_and_never_move_a_seed() {
        for count in 1..=5u64 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            for seed in 0..40u64 {
                let owners = shards.iter().filter(|shard| shard.contains(seed)).count();
                assert_eq!(owners, 1, "seed {seed} of {count} shards");
            }
            // A seed's shard does not depend on the range it was swept in.
            for shard in &shards {
                let short = shard.select(5..12);
                let long = shard.select(0..100);
                assert!(short.iter().all(|seed| long.contains(seed)));
            }
        }
        assert_eq!(Shard { index: 2, count: 3 }.select(0..9), vec![1, 4, 7]);
    }
}
