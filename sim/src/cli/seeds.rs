//! `run`, `replay` and `sweep`: running seeds of one scenario and judging them.
//!
//! Every seed of `run` (without `--seed`) and `sweep` runs in a fresh child process
//! ([`ChildRunner`]); `--in-process` runs them in this one instead (a debugging aid: a
//! seed's result must not, and no longer does, depend on it). `sweep --shard K/N` runs only
//! the seeds of the range that belong to shard K ([`Shard`]). `replay` prints the trace
//! lines its filters select and writes the whole JSON-lines trace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use raida_sim::compare::Traffic;
use raida_sim::junit::TestSuite;
use raida_sim::report::{render_wall_time, replay_command, Outcome, SeedOutcome};
use raida_sim::run::{
    default_trace_path, parse_seed_range, run_full, run_one, sweep, write_json_trace, ChildRunner,
    SeedRun,
};
use raida_sim::scenario::Scenario;
use raida_sim::shard::Shard;
use raida_sim::trace::trace_line;
use raida_sim::tracecheck::TraceFilter;

use super::{bad_input, current_exe, exit, load, write_junit, Format, RunOptions};

/// Prints one seed's summary (or failure) and its wall time, or its JSON record.
fn print_run(scenario: &Scenario, run: &SeedRun, options: &RunOptions) {
    if options.format == Format::Json {
        print_json(&run.record());
        return;
    }
    match &run.result {
        Ok(report) => print!("{}", report.render_with(options.filter())),
        Err(panic) => println!(
            "run scenario={} seed={} PANICKED: {panic}\n  replay: {}",
            scenario.name,
            run.seed,
            replay_command(&scenario.file_name, run.seed)
        ),
    }
    println!("{}", render_wall_time(run.wall));
}

fn print_json(record: &raida_sim::run::SeedRecord) {
    match serde_json::to_string(record) {
        Ok(line) => println!("{line}"),
        Err(error) => eprintln!("error: seed {} does not serialize: {error}", record.seed),
    }
}

/// Judges runs as a whole: the scenario's outcome plus host failures and panics. The
/// verdict goes to stdout in text mode, to stderr in JSON mode (stdout holds only records).
/// Writes the JUnit file when asked. Returns the exit status.
fn verdict(scenario: &Scenario, runs: &[SeedRun], options: &RunOptions) -> ExitCode {
    let outcomes: Vec<SeedOutcome> = runs
        .iter()
        .filter_map(|run| run.result.as_ref().ok().map(|r| r.outcome.clone()))
        .collect();
    let outcome = Outcome::from_seeds(scenario, outcomes);
    let mut text = String::new();
    for run in runs {
        let host_failed = run.result.as_ref().map_or(true, |r| r.error.is_some());
        if let Some(line) = run.failure_line(scenario).filter(|_| host_failed) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text.push_str(&outcome.render());
    match options.format {
        Format::Text => print!("{text}"),
        Format::Json => eprint!("{text}"),
    }
    let suite = TestSuite::for_runs(scenario, runs, &outcome);
    if let Err(code) = write_junit(options.junit.as_deref(), suite) {
        return code;
    }
    exit(
        outcome.passed()
            && runs
                .iter()
                .all(|run| run.result.as_ref().is_ok_and(|r| r.error.is_none())),
    )
}

/// Runs `seeds` as `options` say: in fresh child processes unless `--in-process`.
fn run_seeds(
    path: &Path,
    scenario: &Scenario,
    seeds: &[u64],
    options: &RunOptions,
    on_done: impl FnMut(&SeedRun),
) -> Result<Vec<SeedRun>, ExitCode> {
    options.check_jobs()?;
    if options.in_process {
        let run = |seed| run_one(scenario, seed);
        return Ok(sweep(seeds, options.jobs, run, on_done));
    }
    let runner = ChildRunner {
        exe: current_exe()?,
        scenario_path: path.to_path_buf(),
    };
    Ok(sweep(seeds, options.jobs, |seed| runner.run(seed), on_done))
}

/// `run`: one seed in this process, or the default seeds each in a child.
pub fn run(path: &Path, seed: Option<u64>, traffic: bool, options: &RunOptions) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let runs = match seed {
        // One seed: this process is fresh, run it here.
        Some(seed) => {
            if let Err(code) = options.check_jobs() {
                return code;
            }
            vec![run_here(&scenario, seed, traffic, options)]
        }
        None => {
            let seeds = scenario.seeds.clone();
            let print = |run: &SeedRun| print_run(&scenario, run, options);
            match run_seeds(path, &scenario, &seeds, options, print) {
                Ok(runs) => runs,
                Err(code) => return code,
            }
        }
    };
    verdict(&scenario, &runs, options)
}

/// Runs one seed here and prints it; with `traffic` (what `compare`'s children are asked
/// for) its JSON record carries the run's [`Traffic`].
fn run_here(scenario: &Scenario, seed: u64, traffic: bool, options: &RunOptions) -> SeedRun {
    if !traffic {
        let run = run_one(scenario, seed);
        print_run(scenario, &run, options);
        return run;
    }
    let (result, wall) = run_full(scenario, seed);
    let measured = result.as_ref().ok().map(Traffic::from_run);
    let run = SeedRun {
        seed,
        result: result.map(|run| run.report(scenario)),
        wall,
    };
    if options.format == Format::Json {
        let mut record = run.record();
        record.traffic = measured;
        print_json(&record);
    } else {
        print_run(scenario, &run, options);
    }
    run
}

/// `replay`: one seed's trace lines (those `filter` selects), the whole JSON-lines trace to
/// a file, then its summary.
pub fn replay(
    path: &Path,
    seed: u64,
    trace_out: Option<PathBuf>,
    filter: &TraceFilter,
    options: &RunOptions,
) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let (result, wall) = run_full(&scenario, seed);
    if let Ok(result) = &result {
        let events = result.history.events();
        let shown = events.iter().filter(|event| filter.matches(event));
        let mut shown_count = 0usize;
        for event in shown {
            println!("{}", trace_line(event));
            shown_count += 1;
        }
        if !filter.is_empty() {
            println!("shown: {shown_count} of {} events", events.len());
        }
        let trace_path = trace_out.unwrap_or_else(|| default_trace_path(&scenario, seed));
        match write_json_trace(result, &trace_path) {
            Ok(lines) => println!("trace: {lines} events written to {}", trace_path.display()),
            Err(error) => {
                return bad_input(&format!("cannot write {}: {error}", trace_path.display()));
            }
        }
    }
    let run = SeedRun {
        seed,
        result: result.map(|run| run.report(&scenario)),
        wall,
    };
    print_run(&scenario, &run, options);
    exit(run.passed())
}

/// `sweep`: a range of seeds (or one shard of it), each in a child.
pub fn sweep_command(
    path: &Path,
    seeds: &str,
    shard: Option<Shard>,
    options: &RunOptions,
) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let range = match parse_seed_range(seeds) {
        Ok(range) => range,
        Err(message) => return bad_input(&format!("--seeds {message}")),
    };
    let seeds: Vec<u64> = match shard {
        Some(shard) => shard.select(range),
        None => range.collect(),
    };
    let runs = match sweep_with_progress(path, &scenario, &seeds, options) {
        Ok(runs) => runs,
        Err(code) => return code,
    };
    let failing = runs.iter().filter(|run| !run.passed()).count();
    let shard_note = shard.map_or(String::new(), |shard| format!(" (shard {shard})"));
    let line = format!(
        "sweep {}{shard_note}: {} seeds, {failing} failing",
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
    verdict(&scenario, &runs, options)
}

/// Runs a sweep's seeds under a progress bar, printing failures (and JSON records) as
/// they come.
fn sweep_with_progress(
    path: &Path,
    scenario: &Scenario,
    seeds: &[u64],
    options: &RunOptions,
) -> Result<Vec<SeedRun>, ExitCode> {
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {elapsed} ({msg})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = 0u64;
    let runs = run_seeds(path, scenario, seeds, options, |run| {
        if options.format == Format::Json {
            bar.suspend(|| print_run(scenario, run, options));
        }
        if !run.passed() {
            failed += 1;
            if let Some(line) = run.failure_line(scenario) {
                bar.println(line);
            }
        }
        bar.set_message(format!("{failed} failing"));
        bar.inc(1);
    })?;
    bar.finish();
    Ok(runs)
}
