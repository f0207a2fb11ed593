//! `raida-sim`: run, replay and sweep simulation scenarios.
//!
//! ```text
//! raida-sim run SCENARIO.toml [--seed N] [--jobs K] [--format text|json] [--only-unexpected]
//! raida-sim replay SCENARIO.toml --seed N [--trace-out FILE] [--only-unexpected]
//! raida-sim sweep SCENARIO.toml --seeds A..B [--jobs K] [--format text|json] [--only-unexpected]
//! raida-sim compare SCENARIO.toml --seeds A..B --with EXT[,EXT]
//! ```
//!
//! Every seed of `run` (without `--seed`) and `sweep` runs in a fresh child process
//! ([`raida_sim::run::ChildRunner`]); `--in-process` runs them in this one instead (a
//! debugging aid: a seed's result must not, and no longer does, depend on it).
//!
//! `compare` exits 0 after printing its table (it judges nothing), 2 for bad arguments or an
//! unknown extension name.
//!
//! Exit status: 0 when the scenario's expectations hold (no unexpected violation, no host
//! failure, and — over the scenario's default seeds — every `expect.must_find` invariant
//! violated by some seed), 1 when they do not, 2 for a bad scenario file or arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use raida_sim::compare::{compare, render};
use raida_sim::extensions::ExtensionName;
use raida_sim::report::{render_wall_time, Outcome, SeedOutcome, ViolationFilter};
use raida_sim::run::{
    default_trace_path, parse_seed_range, run_full, run_one, sweep, write_json_trace, ChildRunner,
    SeedRun,
};
use raida_sim::scenario::Scenario;

/// Deterministic simulation of the QMail RAIDA protocol.
#[derive(Debug, Parser)]
#[command(name = "raida-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How results print.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Format {
    /// The summary of each seed, for people.
    Text,
    /// One JSON object per seed per line (verdict, parameters, counts, digest, violations).
    Json,
}

/// Options shared by the commands that run many seeds.
#[derive(Debug, Args)]
struct RunOptions {
    /// Worker processes running seeds at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// List only the violations the scenario does not expect.
    #[arg(long)]
    only_unexpected: bool,
    /// Run every seed in this process instead of a fresh child process each.
    #[arg(long)]
    in_process: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one seed, or every default seed of the scenario (each in a fresh process).
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Run only this seed (must_find is then not judged).
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        options: RunOptions,
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
        /// List only the violations the scenario does not expect.
        #[arg(long)]
        only_unexpected: bool,
    },
    /// Run a range of seeds (each in a fresh process) and list the failing ones.
    Sweep {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B`, `A..=B` or one seed `N`.
        #[arg(long)]
        seeds: String,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run the same seeds without and with protocol extensions and print a table.
    Compare {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B`, `A..=B` or one seed `N`.
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

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn load(path: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|error| bad_input(&error.to_string()))
}

fn filter(only_unexpected: bool) -> ViolationFilter {
    if only_unexpected {
        ViolationFilter::OnlyUnexpected
    } else {
        ViolationFilter::All
    }
}

/// Prints one seed's summary (or failure) and its wall time, or its JSON record.
fn print_run(scenario: &Scenario, run: &SeedRun, options: &RunOptions) {
    if options.format == Format::Json {
        match serde_json::to_string(&run.record()) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("error: seed {} does not serialize: {error}", run.seed),
        }
        return;
    }
    match &run.result {
        Ok(report) => print!("{}", report.render_with(filter(options.only_unexpected))),
        Err(panic) => println!(
            "run scenario={} seed={} PANICKED: {panic}\n  replay: {}",
            scenario.name,
            run.seed,
            raida_sim::report::replay_command(&scenario.file_name, run.seed)
        ),
    }
    println!("{}", render_wall_time(run.wall));
}

/// Judges runs as a whole: the scenario's outcome plus host failures and panics. The
/// verdict goes to stdout in text mode, to stderr in JSON mode (stdout holds only records).
fn verdict(scenario: &Scenario, runs: &[SeedRun], format: Format) -> bool {
    let outcomes: Vec<SeedOutcome> = runs
        .iter()
        .filter_map(|run| run.result.as_ref().ok().map(|r| r.outcome.clone()))
        .collect();
    let outcome = Outcome::from_seeds(scenario, outcomes);
    let mut text = String::new();
    for run in runs {
        if let Some(line) = run
            .failure_line(scenario)
            .filter(|_| run.result.as_ref().map_or(true, |r| r.error.is_some()))
        {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text.push_str(&outcome.render());
    match format {
        Format::Text => print!("{text}"),
        Format::Json => eprint!("{text}"),
    }
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

/// Runs `seeds` as `options` say: in fresh child processes unless `--in-process`.
fn run_seeds(
    path: &Path,
    scenario: &Scenario,
    seeds: &[u64],
    options: &RunOptions,
    mut on_done: impl FnMut(&SeedRun),
) -> Result<Vec<SeedRun>, ExitCode> {
    if options.jobs == 0 {
        return Err(bad_input("--jobs must be at least 1"));
    }
    if options.in_process {
        return Ok(sweep(
            seeds,
            options.jobs,
            |seed| run_one(scenario, seed),
            on_done,
        ));
    }
    let exe = std::env::current_exe()
        .map_err(|error| bad_input(&format!("cannot find this executable: {error}")))?;
    let runner = ChildRunner {
        exe,
        scenario_path: path.to_path_buf(),
    };
    Ok(sweep(
        seeds,
        options.jobs,
        |seed| runner.run(seed),
        |run| on_done(run),
    ))
}

fn run(path: &Path, seed: Option<u64>, options: &RunOptions) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let runs = match seed {
        // One seed: this process is fresh, run it here.
        Some(seed) => {
            if options.jobs == 0 {
                return bad_input("--jobs must be at least 1");
            }
            let run = run_one(&scenario, seed);
            print_run(&scenario, &run, options);
            vec![run]
        }
        None => {
            let seeds = scenario.seeds.clone();
            match run_seeds(path, &scenario, &seeds, options, |run| {
                print_run(&scenario, run, options)
            }) {
                Ok(runs) => runs,
                Err(code) => return code,
            }
        }
    };
    exit(verdict(&scenario, &runs, options.format))
}

fn replay(path: &Path, seed: u64, trace_out: Option<PathBuf>, only_unexpected: bool) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let (result, wall) = run_full(&scenario, seed);
    let run = SeedRun {
        seed,
        result: result
            .as_ref()
            .map(|run| run.report(&scenario))
            .map_err(Clone::clone),
        wall,
    };
    if let Ok(result) = &result {
        for line in &result.trace_lines {
            println!("{line}");
        }
        let trace_path = trace_out.unwrap_or_else(|| default_trace_path(&scenario, seed));
        match write_json_trace(result, &trace_path) {
            Ok(lines) => println!("trace: {lines} events written to {}", trace_path.display()),
            Err(error) => {
                return bad_input(&format!("cannot write {}: {error}", trace_path.display()));
            }
        }
    }
    let options = RunOptions {
        jobs: 1,
        format: Format::Text,
        only_unexpected,
        in_process: true,
    };
    print_run(&scenario, &run, &options);
    exit(run.passed())
}

fn sweep_command(path: &Path, seeds: &str, options: &RunOptions) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let range = match parse_seed_range(seeds) {
        Ok(range) => range,
        Err(message) => return bad_input(&format!("--seeds {message}")),
    };
    let seeds: Vec<u64> = range.collect();
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {elapsed} ({msg})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = 0u64;
    let runs = match run_seeds(path, &scenario, &seeds, options, |run| {
        if options.format == Format::Json {
            bar.suspend(|| print_run(&scenario, run, options));
        }
        if !run.passed() {
            failed += 1;
            if let Some(line) = run.failure_line(&scenario) {
                bar.println(line);
            }
        }
        bar.set_message(format!("{failed} failing"));
        bar.inc(1);
    }) {
        Ok(runs) => runs,
        Err(code) => return code,
    };
    bar.finish();
    let failing = runs.iter().filter(|run| !run.passed()).count();
    let line = format!(
        "sweep {}: {} seeds, {failing} failing",
        scenario.name,
        runs.len()
    );
    match options.format {
        Format::Text => {
            for run in &runs {
                if let Ok(report) = &run.result {
                    println!("seed {} digest {}", run.seed, report.digest);
                }
            }
            println!("{line}");
        }
        Format::Json => eprintln!("{line}"),
    }
    exit(verdict(&scenario, &runs, options.format))
}

fn compare_command(path: &Path, seeds: &str, with: &str) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seeds: Vec<u64> = match parse_seed_range(seeds) {
        Ok(range) => range.collect(),
        Err(error) => return bad_input(&format!("--seeds: {error}")),
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
                let known: Vec<&str> = ExtensionName::all().iter().map(|n| n.as_str()).collect();
                return bad_input(&format!(
                    "--with: unknown extension `{name}` (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    if names.is_empty() {
        return bad_input("--with names no extension");
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
        Command::Run {
            scenario,
            seed,
            options,
        } => run(&scenario, seed, &options),
        Command::Replay {
            scenario,
            seed,
            trace_out,
            only_unexpected,
        } => replay(&scenario, seed, trace_out, only_unexpected),
        Command::Sweep {
            scenario,
            seeds,
            options,
        } => sweep_command(&scenario, &seeds, &options),
        Command::Compare {
            scenario,
            seeds,
            with,
        } => compare_command(&scenario, &seeds, &with),
    }
}
