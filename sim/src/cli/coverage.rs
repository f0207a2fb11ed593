//! `coverage`: which code probes (crate `probe`: the server's and the client's registries)
//! the seeds of some scenarios hit, and each scenario's `expect.must_hit` judged.
//!
//! Every scenario's seeds (its default list, or `--seeds A..B`) run as `sweep` runs them, each
//! in a fresh child process (`--in-process`: on worker threads here); each child's JSON
//! record carries the probes its run hit. The output is one row per declared probe — hits
//! over every seed of every scenario, seeds hitting it, `NEVER HIT` when none did — then the
//! must_hit failures. `--list` prints the declared probes and runs nothing. Exit 1 when a
//! judged must_hit probe was never hit or a seed panicked (its probes are lost), 2 for bad
//! arguments or scenario files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use raida_sim::coverage::{declared, Coverage, MustHit};
use raida_sim::report::SeedReport;
use raida_sim::run::{parse_seed_range, run_one, sweep, ChildRunner, SeedRun};
use raida_sim::scenario::Scenario;

use super::{bad_input, check_jobs, current_exe, exit, load, Format};

/// What `coverage` was asked.
#[derive(Debug)]
pub struct CoverageArgs {
    /// Scenario files.
    pub scenarios: Vec<PathBuf>,
    /// Seeds for every scenario instead of its default list.
    pub seeds: Option<String>,
    /// Worker processes (threads with `in_process`) at once.
    pub jobs: usize,
    /// Output format.
    pub format: Format,
    /// Run seeds in this process.
    pub in_process: bool,
    /// Only list the declared probes.
    pub list: bool,
}

/// The JSON document `--format json` prints.
#[derive(Debug, Serialize)]
struct CoverageJson<'a> {
    coverage: &'a Coverage,
    must_hit: &'a [MustHit],
    panicked: &'a [String],
    passed: bool,
}

/// `coverage SCENARIO... [--seeds A..B] [--jobs N] [--format text|json] [--in-process]`,
/// or `coverage --list`.
pub fn coverage_command(args: &CoverageArgs) -> ExitCode {
    if args.list {
        print_declared();
        return ExitCode::SUCCESS;
    }
    if args.scenarios.is_empty() {
        return bad_input("coverage needs at least one scenario file (or --list)");
    }
    if let Err(code) = check_jobs(args.jobs) {
        return code;
    }
    let range = match args.seeds.as_deref().map(parse_seed_range).transpose() {
        Ok(range) => range,
        Err(message) => return bad_input(&format!("--seeds {message}")),
    };
    let mut scenarios = Vec::with_capacity(args.scenarios.len());
    for path in &args.scenarios {
        match load(path) {
            Ok(scenario) => scenarios.push((path.as_path(), scenario)),
            Err(code) => return code,
        }
    }
    let mut reports: Vec<SeedReport> = Vec::new();
    let mut must_hit = Vec::new();
    let mut panicked = Vec::new();
    for (path, scenario) in &scenarios {
        let seeds: Vec<u64> = range
            .clone()
            .map_or_else(|| scenario.seeds.clone(), Iterator::collect);
        let runs = match run_scenario(path, scenario, &seeds, args) {
            Ok(runs) => runs,
            Err(code) => return code,
        };
        eprintln!("coverage: {}: {} seeds run", scenario.file_name, runs.len());
        let start = reports.len();
        for run in runs {
            match run.result {
                Ok(report) => reports.push(report),
                Err(panic) => panicked.push(format!(
                    "seed {} of {} panicked (its probes are not counted): {panic}",
                    run.seed, scenario.file_name
                )),
            }
        }
        must_hit.push(MustHit::judge(scenario, &reports[start..]));
    }
    let coverage = Coverage::from_reports(&reports);
    let passed = panicked.is_empty() && must_hit.iter().all(MustHit::passed);
    match args.format {
        Format::Text => print!("{}", render(&coverage, &must_hit, &panicked, passed)),
        Format::Json => {
            let document = CoverageJson {
                coverage: &coverage,
                must_hit: &must_hit,
                panicked: &panicked,
                passed,
            };
            match serde_json::to_string(&document) {
                Ok(line) => println!("{line}"),
                Err(error) => return bad_input(&format!("coverage does not serialize: {error}")),
            }
        }
    }
    exit(passed)
}

/// Runs `seeds` of one scenario: in children of this executable unless `--in-process`.
fn run_scenario(
    path: &Path,
    scenario: &Scenario,
    seeds: &[u64],
    args: &CoverageArgs,
) -> Result<Vec<SeedRun>, ExitCode> {
    if args.in_process {
        return Ok(sweep(
            seeds,
            args.jobs,
            |seed| run_one(scenario, seed),
            |_| {},
        ));
    }
    let runner = ChildRunner {
        exe: current_exe()?,
        scenario_path: path.to_path_buf(),
    };
    Ok(sweep(seeds, args.jobs, |seed| runner.run(seed), |_| {}))
}

/// The table, the must_hit failures, the panics and the verdict.
fn render(coverage: &Coverage, must_hit: &[MustHit], panicked: &[String], passed: bool) -> String {
    let mut out = coverage.render();
    for judged in must_hit {
        out.push_str(&judged.render());
    }
    for line in panicked {
        out.push_str(line);
        out.push('\n');
    }
    let listed = must_hit.iter().filter(|judged| judged.judged).count();
    out.push_str(&format!(
        "{}: must_hit judged for {listed} of {} scenarios\n",
        if passed { "PASS" } else { "FAIL" },
        must_hit.len()
    ));
    out
}

/// `--list`: every declared probe with its registry and description.
fn print_declared() {
    let width = declared()
        .map(|(_, probe)| probe.name().len())
        .max()
        .unwrap_or(0);
    for (registry, probe) in declared() {
        println!(
            "{:width$}  {registry:6}  {}",
            probe.name(),
            probe.description()
        );
    }
}
