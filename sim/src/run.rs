//! Running seeds: each in a fresh child process (the default), or in this process.
//!
//! **One seed, one process.** A seed must name a run whatever ran before it. Like
//! FoundationDB's simulator (one simulation per process), `raida-sim run`, `sweep`,
//! `compare` and `shrink` run every seed in a child process of their own — `raida-sim run FILE --seed N --format json`,
//! the same command a user types — and read its [`SeedRecord`] back from the child's stdout.
//! Nothing a simulation leaves behind (tokio's process-wide task-id counter, allocator state,
//! thread-locals, a dependency's lazily initialised statics) can reach the next seed, and a
//! seed that aborts the process (stack overflow, out of memory) fails alone. The cost is one
//! process start per seed, a few milliseconds against runs of a second or more (README,
//! "Determinism"). In-process runs remain for tests and for a single seed (`run --seed N`
//! is itself a fresh process).
//!
//! A sweep hands whole seeds to `jobs` worker threads (any per-seed result: a [`SeedRun`],
//! or both sides of a `compare` row); each waits on its own children, so workers share
//! nothing but the result channel. A panic inside a run (a bug in a host or in
//! the world) is caught per seed and reported as that seed's failure, so one bad seed does not
//! hide the others.
//!
//! [`scaled_for_tests`] shrinks a scenario for CI (the determinism meta-test runs every
//! scenario file): it keeps every setting that decides *what* can happen — faults, server
//! settings, topology shape — and cuts only *how much* happens.

use std::fs::File;
use std::io::{self, BufWriter};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::compare::Traffic;
use crate::report::{replay_command, SeedReport};
use crate::scenario::Scenario;
use crate::trace::JsonLinesWriter;
use crate::world::{run_seed, RunResult};

/// Bytes of a failed child's stderr kept for its report.
const CHILD_STDERR_TAIL_BYTES: usize = 2_000;

/// One seed's run, or why it could not finish.
#[derive(Debug)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// The run's report, or the panic (or child failure) message.
    pub result: Result<SeedReport, String>,
    /// Wall time it took (never part of a summary or trace).
    pub wall: Duration,
}

/// A seed's verdict, as JSON results name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every violation expected, no host software failed.
    Pass,
    /// An unexpected violation, or host software failed.
    Fail,
    /// The run panicked (or its process died) before it could report.
    Panic,
}

/// One seed as `--format json` prints it (one object per line) and as a child process
/// hands it to its parent.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SeedRecord {
    /// The seed.
    pub seed: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// Wall time, milliseconds (the only non-reproducible field).
    pub wall_ms: u64,
    /// Why it panicked, when it did.
    pub panic: Option<String>,
    /// The run's report, unless it panicked.
    pub report: Option<SeedReport>,
    /// Traffic and latencies, when asked for (`run --seed N --traffic`, what `compare`'s
    /// children print); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
}

impl SeedRun {
    /// Whether the seed met the scenario's expectations and no host failed or panicked.
    pub fn passed(&self) -> bool {
        self.result.as_ref().is_ok_and(SeedReport::passed)
    }

    /// The seed's verdict.
    pub fn verdict(&self) -> Verdict {
        match &self.result {
            Err(_) => Verdict::Panic,
            Ok(report) if report.passed() => Verdict::Pass,
            Ok(_) => Verdict::Fail,
        }
    }

    /// The seed as a JSON record.
    pub fn record(&self) -> SeedRecord {
        SeedRecord {
            seed: self.seed,
            verdict: self.verdict(),
            wall_ms: u64::try_from(self.wall.as_millis()).unwrap_or(u64::MAX),
            panic: self.result.as_ref().err().cloned(),
            report: self.result.as_ref().ok().cloned(),
            traffic: None,
        }
    }

    /// The run a JSON record describes.
    pub fn from_record(record: SeedRecord) -> SeedRun {
        let result = match (record.report, record.panic) {
            (Some(report), None) => Ok(report),
            (_, Some(panic)) => Err(panic),
            (None, None) => Err("the record carries neither a report nor a panic".into()),
        };
        SeedRun {
            seed: record.seed,
            result,
            wall: Duration::from_millis(record.wall_ms),
        }
    }

    /// One line saying why a failing seed failed, with its replay command.
    pub fn failure_line(&self, scenario: &Scenario) -> Option<String> {
        let why = match &self.result {
            Err(panic) => format!("panicked: {panic}"),
            Ok(report) if report.passed() => return None,
            Ok(report) => match &report.error {
                Some(error) => format!("host software failed: {error}"),
                None => {
                    let names: Vec<&str> =
                        report.outcome.unexpected.iter().map(|i| i.name()).collect();
                    format!("unexpected {}", names.join(", "))
                }
            },
        };
        Some(format!(
            "seed {} FAILED: {why}\n  replay: {}",
            self.seed,
            replay_command(&scenario.file_name, self.seed)
        ))
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs one seed in this process, catching a panic; the full result (history, trace) too.
#[allow(clippy::disallowed_methods)] // Wall time of the harness, never seen by simulated code.
pub fn run_full(scenario: &Scenario, seed: u64) -> (Result<RunResult, String>, Duration) {
    // Wall time measures the harness only; it never reaches simulated code.
    let started = Instant::now();
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_seed(scenario, seed)))
        .map_err(|payload| panic_message(payload.as_ref()));
    (result, started.elapsed())
}

/// Runs one seed in this process, catching a panic.
pub fn run_one(scenario: &Scenario, seed: u64) -> SeedRun {
    let (result, wall) = run_full(scenario, seed);
    SeedRun {
        seed,
        result: result.map(|run| run.report(scenario)),
        wall,
    }
}

/// Runs seeds in fresh child processes of a `raida-sim` executable.
#[derive(Clone, Debug)]
pub struct ChildRunner {
    /// The `raida-sim` executable (`std::env::current_exe()` for the CLI itself).
    pub exe: PathBuf,
    /// The scenario file, as the user gave it (the child loads it again).
    pub scenario_path: PathBuf,
}

impl ChildRunner {
    /// Runs `seed` in a child: `EXE run SCENARIO --seed N --format json`.
    pub fn run(&self, seed: u64) -> SeedRun {
        SeedRun::from_record(self.run_with(seed, &[]))
    }

    /// Runs `seed` in a child with `extra` arguments after the usual ones and returns its
    /// record; a child that ends without one gives a [`Verdict::Panic`] record saying why.
    #[allow(clippy::disallowed_methods)] // Wall time of the child run, for the report only.
    pub fn run_with(&self, seed: u64, extra: &[&str]) -> SeedRecord {
        let started = Instant::now();
        let output = Command::new(&self.exe)
            .arg("run")
            .arg(&self.scenario_path)
            .arg("--seed")
            .arg(seed.to_string())
            .args(["--format", "json"])
            .args(extra)
            .output();
        let failed = |why: String| SeedRecord {
            seed,
            verdict: Verdict::Panic,
            wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            panic: Some(why),
            report: None,
            traffic: None,
        };
        let output = match output {
            Ok(output) => output,
            Err(error) => return failed(format!("cannot start {}: {error}", self.exe.display())),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let record = stdout
            .lines()
            .rev()
            .find(|line| line.starts_with('{'))
            .and_then(|line| serde_json::from_str::<SeedRecord>(line).ok());
        match record {
            Some(record) if record.seed == seed => record,
            _ => failed(format!(
                "the seed's process ended ({}) without a result; stderr: {}",
                output.status,
                stderr_tail(&output.stderr)
            )),
        }
    }
}

/// The last [`CHILD_STDERR_TAIL_BYTES`] of a child's stderr, trimmed.
fn stderr_tail(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let tail_start = stderr
        .char_indices()
        .rev()
        .nth(CHILD_STDERR_TAIL_BYTES)
        .map_or(0, |(index, _)| index);
    stderr
        .get(tail_start..)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Runs `seeds` on `jobs` worker threads (at least one), each seed through `run` (in this
/// process with [`run_one`], or in a child with [`ChildRunner::run`]; any per-seed result
/// `T`), calling `on_done` as each seed finishes (in completion order). Returns the results
/// in seed-list order.
pub fn sweep<T: Send>(
    seeds: &[u64],
    jobs: usize,
    run: impl Fn(u64) -> T + Sync,
    mut on_done: impl FnMut(&T),
) -> Vec<T> {
    let jobs = jobs.clamp(1, seeds.len().max(1));
    let next = AtomicU64::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, T)>();
    let mut runs: Vec<Option<T>> = (0..seeds.len()).map(|_| None).collect();
    let run = &run;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || loop {
                let position =
                    usize::try_from(next.fetch_add(1, Ordering::SeqCst)).unwrap_or(usize::MAX);
                let Some(seed) = seeds.get(position) else {
                    return;
                };
                if sender.send((position, run(*seed))).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        for (position, run) in receiver.iter() {
            on_done(&run);
            if let Some(slot) = runs.get_mut(position) {
                *slot = Some(run);
            }
        }
    });
    runs.into_iter().flatten().collect()
}

/// Parses a seed range `A..B` (or `A..=B`, or one seed `N`) as the CLI takes it.
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        (text, text, true)
    };
    let parse = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("{part:?} in {text:?} is not a non-negative integer"))
    };
    let start = parse(start)?;
    let end = parse(end)?;
    let end = if inclusive {
        end.checked_add(1)
            .ok_or_else(|| format!("{text:?} ends past u64"))?
    } else {
        end
    };
    if start >= end {
        return Err(format!("{text:?} holds no seed"));
    }
    Ok(start..end)
}

/// The default JSON-lines trace file of a replay: `SCENARIO-NAME.seed-N.trace.jsonl`.
pub fn default_trace_path(scenario: &Scenario, seed: u64) -> PathBuf {
    PathBuf::from(format!("{}.seed-{seed}.trace.jsonl", scenario.name))
}

/// Writes a run's history as JSON lines.
pub fn write_json_trace(run: &RunResult, path: &Path) -> io::Result<u64> {
    let mut writer = JsonLinesWriter::new(BufWriter::new(File::create(path)?));
    writer.write_history(&run.history)?;
    let lines = writer.lines();
    writer.into_inner()?;
    Ok(lines)
}

/// A smaller copy of `scenario` for CI: at most `emails` emails and `mailboxes` mailboxes,
/// a safety phase of at most `duration_s` seconds (the send window shrinks with it) and a
/// heal bound of at most `heal_s`. Everything else — faults, server settings, devices per
/// mailbox, client hosts, beacon policy — is kept, so the scaled run takes the same code
/// paths, only fewer times.
pub fn scaled_for_tests(
    scenario: &Scenario,
    emails: u32,
    mailboxes: u32,
    duration_s: u32,
    heal_s: u32,
) -> Scenario {
    let mut scaled = scenario.clone();
    scaled.workload.emails = scaled.workload.emails.min(emails);
    scaled.topology.mailboxes = scaled.topology.mailboxes.min(mailboxes).max(1);
    let recipients_cap = u8::try_from(scaled.topology.mailboxes).unwrap_or(u8::MAX);
    scaled.workload.recipients_max = scaled.workload.recipients_max.min(recipients_cap);
    scaled.workload.recipients_min = scaled
        .workload
        .recipients_min
        .min(scaled.workload.recipients_max);
    scaled.sim.duration_s = scaled.sim.duration_s.min(duration_s).max(1);
    scaled.workload.send_window_s = scaled
        .workload
        .send_window_s
        .min(scaled.sim.duration_s)
        .max(1);
    scaled.sim.heal_s = scaled.sim.heal_s.min(heal_s).max(1);
    scaled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse_and_refuse_nonsense() {
        assert_eq!(parse_seed_range("3..6"), Ok(3..6));
        assert_eq!(parse_seed_range("3..=6"), Ok(3..7));
        assert_eq!(parse_seed_range("7"), Ok(7..8));
        for bad in [
            "6..3",
            "3..3",
            "a..b",
            "x",
            "-1",
            "1..=18446744073709551615",
        ] {
            assert!(parse_seed_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scaling_keeps_faults_and_bounds_size() {
        let scenario = Scenario::from_toml_str(
            "[scenario]\nname = \"big\"\n[sim]\nduration_s = 100\nheal_s = 200\n\
             [topology]\nmailboxes = 50\n[workload]\nemails = 500\nrecipients_max = 5\n\
             send_window_s = 80\n[faults]\npacket_loss = 0.1\n",
            "big.toml",
        )
        .expect("parses");
        let scaled = scaled_for_tests(&scenario, 8, 4, 20, 30);
        assert_eq!(scaled.workload.emails, 8);
        assert_eq!(scaled.topology.mailboxes, 4);
        assert_eq!(scaled.workload.recipients_max, 4);
        assert_eq!(scaled.sim.duration_s, 20);
        assert_eq!(scaled.workload.send_window_s, 20);
        assert_eq!(scaled.sim.heal_s, 30);
        assert_eq!(scaled.faults, scenario.faults);
        assert_eq!(scaled.server, scenario.server);
    }

    #[test]
    fn default_trace_file_names_scenario_and_seed() {
        let scenario =
            Scenario::from_toml_str("[scenario]\nname = \"smoke\"\n", "smoke.toml").expect("ok");
        assert_eq!(
            default_trace_path(&scenario, 3),
            PathBuf::from("smoke.seed-3.trace.jsonl")
        );
    }
}
