//! `raida-sim`: run, replay, sweep, compare, merge, shrink and check simulation scenarios.
//!
//! ```text
//! raida-sim run SCENARIO.toml [--seed N] [--jobs K] [--format text|json] [--junit FILE]
//!                             [--only-unexpected] [--in-process]
//! raida-sim replay SCENARIO.toml --seed N [--trace-out FILE] [--only-unexpected]
//!                  [--email HEXPREFIX] [--mailbox D:SN] [--host NAME] [--from-s S] [--to-s S]
//! raida-sim sweep SCENARIO.toml --seeds A..B [--shard K/N] [--jobs K] [--format text|json]
//!                               [--junit FILE] [--only-unexpected] [--in-process]
//! raida-sim compare SCENARIO.toml --with EXT[,EXT] [--base EXT[,EXT]] [--seeds A..B]
//!                   [--jobs K] [--format text|json] [--junit FILE] [--in-process]
//! raida-sim merge SCENARIO.toml FILE... [--junit FILE]
//! raida-sim shrink SCENARIO.toml --seed N [--violation INVARIANT] [--out FILE] [--max-runs N]
//! raida-sim check TRACE.jsonl --scenario SCENARIO.toml [--only-unexpected]
//! raida-sim perfetto SCENARIO.toml --seed N [--out FILE] [--no-fs-steps]
//! raida-sim coverage SCENARIO.toml... [--seeds A..B] [--jobs K] [--format text|json]
//!                    [--in-process] | --list
//! ```
//!
//! Seeds run in fresh child processes (`run` without `--seed`, `sweep`, `compare`, every
//! `shrink` candidate): each child is `raida-sim run FILE --seed N --format json`, and
//! `compare`'s children add the hidden `--traffic` (their records then carry wire bytes,
//! requests and delivery latencies). The commands live in `cli/`, one module each.
//!
//! Exit status: 0 when what the command judges holds (a scenario's expectations: no
//! unexpected violation, no host failure, and — over the default seeds — every
//! `expect.must_find` invariant violated by some seed; for `compare`, no seed where the
//! `with` side violates an invariant the base side does not; for `coverage`, every
//! `expect.must_hit` probe hit by some default seed), 1 when it does not, 2 with
//! `error: ...` for a bad scenario file, trace file or arguments.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use raida_sim::checkers::Invariant;
use raida_sim::history::{Host, MailboxId};
use raida_sim::shard::Shard;
use raida_sim::shrink::MAX_RUNS_DEFAULT;
use raida_sim::tracecheck::{parse_email_prefix, parse_mailbox, parse_sim_seconds, TraceFilter};

use cli::compare::CompareArgs;
use cli::coverage::CoverageArgs;
use cli::shrink::ShrinkArgs;
use cli::{parse_extensions, parse_invariant, ExtensionList, Format, RunOptions, EXIT_BAD_INPUT};

/// Deterministic simulation of the QMail RAIDA protocol.
#[derive(Debug, Parser)]
#[command(name = "raida-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which trace lines `replay` prints (the JSON-lines file stays whole).
#[derive(Debug, clap::Args)]
struct FilterArgs {
    /// Only events about emails whose id starts with these hex digits.
    #[arg(long, value_parser = parse_email_prefix)]
    email: Option<String>,
    /// Only events about this mailbox, DENOM:SN (as trace lines print it).
    #[arg(long, value_parser = parse_mailbox)]
    mailbox: Option<MailboxId>,
    /// Only events on this host (raida07, client01, adversary, world) or faults touching it.
    #[arg(long, value_parser = |text: &str| text.parse::<Host>())]
    host: Option<Host>,
    /// Only events at or after this simulated second.
    #[arg(long, value_parser = parse_sim_seconds)]
    from_s: Option<u64>,
    /// Only events at or before this simulated second.
    #[arg(long, value_parser = parse_sim_seconds)]
    to_s: Option<u64>,
}

impl FilterArgs {
    fn filter(&self) -> TraceFilter {
        TraceFilter {
            email_prefix: self.email.clone(),
            mailbox: self.mailbox,
            host: self.host,
            from_us: self.from_s,
            to_us: self.to_s,
        }
    }
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
        /// With `--seed N --format json`: add the run's traffic to its record (compare's
        /// children).
        #[arg(long, hide = true)]
        traffic: bool,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run one seed and print its trace (the lines the filters select).
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
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run a range of seeds (each in a fresh process) and list the failing ones.
    Sweep {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B`, `A..=B` or one seed `N`.
        #[arg(long)]
        seeds: String,
        /// Run only shard K of N of the range: the seeds s with (s mod N) + 1 = K.
        #[arg(long, value_parser = Shard::parse)]
        shard: Option<Shard>,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run the same seeds on a base side and with extensions; fail where the extensions
    /// show a violation the base does not.
    Compare {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds `A..B`, `A..=B` or one seed `N` (default: the scenario's seeds).
        #[arg(long)]
        seeds: Option<String>,
        /// Extensions to add on every RAIDA and client, comma-separated
        /// (replay_guard, delivery_ack, attachment_count).
        #[arg(long = "with", value_parser = parse_extensions)]
        with: ExtensionList,
        /// Extensions the base side adds (default none: the scenario as written).
        #[arg(long, value_parser = parse_extensions)]
        base: Option<ExtensionList>,
        /// Worker processes running seeds at once (at least 1).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Run every seed in this process instead of a fresh child process each.
        #[arg(long)]
        in_process: bool,
    },
    /// Judge a scenario over the union of shards' `--format json` results.
    Merge {
        /// The scenario file.
        scenario: PathBuf,
        /// JSON-lines result files (one per shard).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Make a failing seed's scenario smaller while the same violation persists.
    Shrink {
        /// The scenario file.
        scenario: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// The invariant to keep violated (default: the seed's first unexpected one).
        #[arg(long, value_parser = parse_invariant)]
        violation: Option<Invariant>,
        /// Where to write the result (default SCENARIO-NAME.shrunk.seed-N.toml).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Candidates to run at most.
        #[arg(long, default_value_t = MAX_RUNS_DEFAULT)]
        max_runs: usize,
    },
    /// Run one seed and write it as Chrome/Perfetto trace-event JSON (ui.perfetto.dev).
    Perfetto {
        /// The scenario file.
        scenario: PathBuf,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the JSON (default SCENARIO-NAME.seed-N.perfetto.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Leave out the RAIDAs' file-system steps (smaller file).
        #[arg(long)]
        no_fs_steps: bool,
    },
    /// Run scenarios' seeds and count the code probes they hit; judge `expect.must_hit`.
    Coverage {
        /// Scenario files.
        scenarios: Vec<PathBuf>,
        /// Seeds `A..B`, `A..=B` or one seed `N` for every scenario (default: each one's
        /// seeds; must_hit is judged only when they include the default list).
        #[arg(long)]
        seeds: Option<String>,
        /// Worker processes running seeds at once (at least 1).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Run every seed in this process instead of a fresh child process each.
        #[arg(long)]
        in_process: bool,
        /// Only list the declared probes (no scenario needed).
        #[arg(long)]
        list: bool,
    },
    /// Re-check a saved JSON-lines trace against a scenario's expectations.
    Check {
        /// The trace (`replay` writes one).
        trace: PathBuf,
        /// The scenario it ran (its settings and expectations).
        #[arg(long)]
        scenario: PathBuf,
        /// List only the violations the scenario does not expect.
        #[arg(long)]
        only_unexpected: bool,
    },
}

fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run {
            scenario,
            seed,
            traffic,
            options,
        } => cli::seeds::run(&scenario, seed, traffic, &options),
        Command::Replay {
            scenario,
            seed,
            trace_out,
            only_unexpected,
            filter,
        } => {
            let options = RunOptions {
                jobs: 1,
                format: Format::Text,
                junit: None,
                only_unexpected,
                in_process: true,
            };
            cli::seeds::replay(&scenario, seed, trace_out, &filter.filter(), &options)
        }
        Command::Sweep {
            scenario,
            seeds,
            shard,
            options,
        } => cli::seeds::sweep_command(&scenario, &seeds, shard, &options),
        Command::Compare {
            scenario,
            seeds,
            with,
            base,
            jobs,
            format,
            junit,
            in_process,
        } => cli::compare::compare_command(&CompareArgs {
            path: scenario,
            seeds,
            with,
            base: base.unwrap_or_default(),
            jobs,
            format,
            junit,
            in_process,
        }),
        Command::Merge {
            scenario,
            files,
            junit,
        } => cli::merge::merge_command(&scenario, &files, junit.as_deref()),
        Command::Shrink {
            scenario,
            seed,
            violation,
            out,
            max_runs,
        } => cli::shrink::shrink_command(&ShrinkArgs {
            path: scenario,
            seed,
            violation,
            out,
            max_runs,
        }),
        Command::Check {
            trace,
            scenario,
            only_unexpected,
        } => cli::check::check_command(&trace, &scenario, only_unexpected),
        Command::Perfetto {
            scenario,
            seed,
            out,
            no_fs_steps,
        } => cli::perfetto::perfetto_command(&scenario, seed, out, !no_fs_steps),
        Command::Coverage {
            scenarios,
            seeds,
            jobs,
            format,
            in_process,
            list,
        } => cli::coverage::coverage_command(&CoverageArgs {
            scenarios,
            seeds,
            jobs,
            format,
            in_process,
            list,
        }),
    }
}

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => dispatch(cli.command),
        Err(error) => {
            let _ = error.print();
            if error.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
