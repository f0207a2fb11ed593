//! A throughput benchmark: one full seed of `scenarios/storm.toml` (or another scenario),
//! timed on the wall clock.
//!
//! ```text
//! cargo run --release -p raida-sim --example storm_bench -- [--seed N] [--scenario PATH]
//! ```
//!
//! Prints the seed's counts, then emails per wall second and simulated seconds per wall
//! second. Wall time is measured here, around [`run_full`]; it never reaches the simulation,
//! so the run itself (and its digest) is the same as `raida-sim run` gives.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raida_sim::run::run_full;
use raida_sim::scenario::Scenario;

const USAGE: &str = "usage: storm_bench [--seed N] [--scenario PATH]";

struct Args {
    seed: u64,
    scenario: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 0,
        scenario: Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm.toml"),
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("{word} needs a value\n{USAGE}"))?;
        match word.as_str() {
            "--seed" => {
                args.seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value:?} is not a u64\n{USAGE}"))?;
            }
            "--scenario" => args.scenario = PathBuf::from(value),
            _ => return Err(format!("unknown argument {word:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "bench scenario={} seed={} mailboxes={} emails={}",
        scenario.name, args.seed, scenario.topology.mailboxes, scenario.workload.emails
    );
    let (result, wall) = run_full(&scenario, args.seed);
    let wall_s = wall.as_secs_f64();
    let result = match &result {
        Ok(result) => result,
        Err(panic) => {
            eprintln!("seed {} panicked: {panic}", args.seed);
            return ExitCode::FAILURE;
        }
    };
    let report = result.report(&scenario);
    let counts = report.counts();
    #[allow(clippy::cast_precision_loss)] // Microseconds of a run fit an f64's mantissa.
    let sim_s = result.sim_end_us as f64 / 1e6;
    #[allow(clippy::cast_precision_loss)] // Email counts fit an f64's mantissa.
    let emails = counts.emails as f64;
    println!(
        "events={} emails={} tells_sent={} polls={} downloads={}",
        result.history.len(),
        counts.emails,
        counts.tells_sent,
        counts.polls,
        counts.downloads
    );
    println!("violations={} verdict={}", result.violations.len(), {
        if result.passed() {
            "pass"
        } else {
            "FAIL"
        }
    });
    println!("wall_s = {wall_s:.3}");
    println!("sim_s = {sim_s:.3}");
    println!("emails_per_wall_s = {:.1}", emails / wall_s);
    println!("sim_s_per_wall_s = {:.3}", sim_s / wall_s);
    if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
