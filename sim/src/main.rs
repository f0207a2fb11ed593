//! `raida-sim`: run, replay and sweep simulation scenarios.
//!
//! ```text
//! raida-sim run SCENARIO.toml [--seed N]
//! raida-sim replay SCENARIO.toml --seed N [--trace-out FILE]
//! raida-sim sweep SCENARIO.toml --seeds A..B [--jobs K]
//! raida-sim compare SCENARIO.toml --seeds A..B --with EXT[,EXT]
//! ```
//!
//! `compare` exits 0 after printing its table (it judges nothing), 2 for bad arguments or an
//! unknown extension name.
//!
//! Exit status: 0 when the scenario's expectations hold (no unexpected violation, no host
//! failure, and — over the scenario's default seeds — every `expect.must_find` invariant
//! violated by some seed), 1 when they do not, 2 for a bad scenario file or arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use raida_sim::compare::{compare, render};
use raida_sim::extensions::ExtensionName;
use raida_sim::report::{render_wall_time, replay_command, Outcome, SeedOutcome};
use raida_sim::run::{
    default_trace_path, parse_seed_range, run_one, sweep, write_json_trace, SeedRun,
};
use raida_sim::scenario::Scenario;

/// Deterministic simulation of the QMail RAIDA protocol.
#[derive(Debug, Parser)]
#[command(name = "raida-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one seed, or every default seed of the scenario one after another.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Run only this seed (must_find is then not judged).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run one seed and print its full trace.
    Replay {
        /// The scenario file.
        scenario: PathBuf,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the JSON-lines trace (default SCENARIO-NAME.seed-N.trace.jsonl).
        #[arg(long)]
        trace_out: Option<PathBuf>,
    },
    /// Run a range of seeds on worker threads and list the failing ones.
    Sweep {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B` or `A..=B`.
        #[arg(long)]
        seeds: String,
        /// Worker threads, each running whole simulations.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Run the same seeds without and with protocol extensions and print a table.
    Compare {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B` or `A..=B`.
        #[arg(long)]
        seeds: String,
        /// Extensions to add on every RAIDA and client, comma-separated
        /// (replay_guard, delivery_ack, attachment_count).
        #[arg(long = "with")]
        with: String,
    },
}

const EXIT_FAIL: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn load(path: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

/// Prints one seed's summary (or failure) and its wall time.
fn print_run(scenario: &Scenario, run: &SeedRun) {
    match &run.result {
        Ok(result) => {
            print!("{}", result.summary(scenario).render());
            if let Some(error) = &result.error {
                println!(
                    "host failure: {error}\n  replay: {}",
                    replay_command(&scenario.file_name, run.seed)
                );
            }
        }
        Err(panic) => println!(
            "run scenario={} seed={} PANICKED: {panic}\n  replay: {}",
            scenario.name,
            run.seed,
            replay_command(&scenario.file_name, run.seed)
        ),
    }
    println!("{}", render_wall_time(run.wall));
}

/// Judges runs as a whole: the scenario's outcome plus host failures and panics.
fn verdict(scenario: &Scenario, runs: &[SeedRun]) -> bool {
    let outcomes: Vec<SeedOutcome> = runs
        .iter()
        .filter_map(|run| run.result.as_ref().ok().map(|r| r.outcome.clone()))
        .collect();
    let outcome = Outcome::from_seeds(scenario, outcomes);
    for run in runs {
        if let Some(line) = run
            .failure_line(scenario)
            .filter(|_| run.result.as_ref().map_or(true, |r| r.error.is_some()))
        {
            println!("{line}");
        }
    }
    print!("{}", outcome.render());
    outcome.passed()
        && runs
            .iter()
            .all(|run| run.result.as_ref().is_ok_and(|r| r.error.is_none()))
}

fn exit(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    }
}

fn run(path: &Path, seed: Option<u64>) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seeds = seed.map_or_else(|| scenario.seeds.clone(), |seed| vec![seed]);
    let mut runs = Vec::with_capacity(seeds.len());
    for seed in seeds {
        let run = run_one(&scenario, seed);
        print_run(&scenario, &run);
        runs.push(run);
    }
    exit(verdict(&scenario, &runs))
}

fn replay(path: &Path, seed: u64, trace_out: Option<PathBuf>) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let run = run_one(&scenario, seed);
    if let Ok(result) = &run.result {
        for line in &result.trace_lines {
            println!("{line}");
        }
        let trace_path = trace_out.unwrap_or_else(|| default_trace_path(&scenario, seed));
        match write_json_trace(result, &trace_path) {
            Ok(lines) => println!("trace: {lines} events written to {}", trace_path.display()),
            Err(error) => {
                eprintln!("error: cannot write {}: {error}", trace_path.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    print_run(&scenario, &run);
    exit(run.passed())
}

fn sweep_command(path: &Path, seeds: &str, jobs: usize) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let range = match parse_seed_range(seeds) {
        Ok(range) => range,
        Err(message) => {
            eprintln!("error: --seeds {message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let seeds: Vec<u64> = range.collect();
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {elapsed} ({msg})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = 0u64;
    let runs = sweep(&scenario, &seeds, jobs, |run| {
        if !run.passed() {
            failed += 1;
            if let Some(line) = run.failure_line(&scenario) {
                bar.println(line);
            }
        }
        bar.set_message(format!("{failed} failing"));
        bar.inc(1);
    });
    bar.finish();
    let failing: Vec<&SeedRun> = runs.iter().filter(|run| !run.passed()).collect();
    if jobs > 1 {
        confirm_alone(&scenario, &failing);
    }
    println!(
        "sweep {}: {} seeds, {} failing",
        scenario.name,
        runs.len(),
        failing.len()
    );
    exit(verdict(&scenario, &runs))
}

/// Re-runs each failing seed of a parallel sweep alone and compares trace digests, so the
/// replay command printed for it is known to reproduce it. A safety net: tokio's task ids
/// come from one process-wide counter, and anything in a run that depends on them (as crash
/// teardown once did) would make a seed's trace depend on what else ran in the process
/// (`sim/tests/parallel_determinism.rs`); a mismatch is printed loudly rather than hidden.
fn confirm_alone(scenario: &Scenario, failing: &[&SeedRun]) {
    for run in failing {
        let Ok(parallel) = &run.result else { continue };
        let alone = run_one(scenario, run.seed);
        match &alone.result {
            Ok(single) if single.digest == parallel.digest => {}
            Ok(single) => println!(
                "warning: seed {} ran differently alone (digest {:016x}) than in the sweep \
                 ({:016x}); alone it {}; replay: {}",
                run.seed,
                single.digest,
                parallel.digest,
                if single.passed() {
                    "passes"
                } else {
                    "fails too"
                },
                replay_command(&scenario.file_name, run.seed)
            ),
            Err(panic) => println!("warning: seed {} panicked alone: {panic}", run.seed),
        }
    }
}

fn compare_command(path: &Path, seeds: &str, with: &str) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seeds: Vec<u64> = match parse_seed_range(seeds) {
        Ok(range) => range.collect(),
        Err(error) => {
            eprintln!("error: --seeds: {error}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut names = Vec::new();
    for name in with
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match ExtensionName::parse(name) {
            Some(known) => names.push(known),
            None => {
                let known: Vec<&str> = ExtensionName::ALL.iter().map(|n| n.as_str()).collect();
                eprintln!(
                    "error: --with: unknown extension `{name}` (known: {})",
                    known.join(", ")
                );
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    if names.is_empty() {
        eprintln!("error: --with names no extension");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let stats = compare(&scenario, &seeds, &names);
    print!("{}", render(&scenario, &seeds, &stats));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run { scenario, seed } => run(&scenario, seed),
        Command::Replay {
            scenario,
            seed,
            trace_out,
        } => replay(&scenario, seed, trace_out),
        Command::Sweep {
            scenario,
            seeds,
            jobs,
        } => sweep_command(&scenario, &seeds, jobs),
        Command::Compare {
            scenario,
            seeds,
            with,
        } => compare_command(&scenario, &seeds, &with),
    }
}
