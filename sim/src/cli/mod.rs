//! The `raida-sim` commands, one module each, over what they share: output formats, the
//! options of commands that run many seeds, argument parsers, exit statuses and writing
//! JUnit files.
//!
//! - [`seeds`] holds `run`, `replay` and `sweep`;
//! - [`compare`], [`coverage`], [`merge`], [`shrink`], [`check`] and [`perfetto`] each hold
//!   the command of that name.
//!
//! Every command exits 0 when what it judges holds, 1 when it does not, and 2 with
//! `error: ...` on stderr for bad arguments or files.

pub mod check;
pub mod compare;
pub mod coverage;
pub mod merge;
pub mod perfetto;
pub mod seeds;
pub mod shrink;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use raida_sim::checkers::Invariant;
use raida_sim::extensions::ExtensionName;
use raida_sim::junit::{TestSuite, TestSuites};
use raida_sim::report::ViolationFilter;
use raida_sim::scenario::Scenario;

/// Exit status when what a command judges does not hold.
pub const EXIT_FAIL: u8 = 1;
/// Exit status for bad arguments or files.
pub const EXIT_BAD_INPUT: u8 = 2;

/// How results print.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Format {
    /// The summary of each seed, for people.
    Text,
    /// One JSON object per seed per line (verdict, parameters, counts, digest, violations).
    Json,
}

/// Options shared by the commands that run many seeds.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Worker processes running seeds at once (at least 1).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the results as JUnit XML to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// List only the violations the scenario does not expect.
    #[arg(long)]
    pub only_unexpected: bool,
    /// Run every seed in this process instead of a fresh child process each.
    #[arg(long)]
    pub in_process: bool,
}

impl RunOptions {
    /// Which violations summaries list.
    pub fn filter(&self) -> ViolationFilter {
        if self.only_unexpected {
            ViolationFilter::OnlyUnexpected
        } else {
            ViolationFilter::All
        }
    }

    /// Refuses `--jobs 0`.
    pub fn check_jobs(&self) -> Result<(), ExitCode> {
        check_jobs(self.jobs)
    }
}

/// Refuses `--jobs 0`.
pub fn check_jobs(jobs: usize) -> Result<(), ExitCode> {
    if jobs == 0 {
        Err(bad_input("--jobs must be at least 1"))
    } else {
        Ok(())
    }
}

/// Prints `error: MESSAGE` and returns exit status 2.
pub fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Exit status 0 or 1.
pub fn exit(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    }
}

/// Loads a scenario file, or exits 2 naming what is wrong.
pub fn load(path: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|error| bad_input(&error.to_string()))
}

/// This executable, to run seeds in children of.
pub fn current_exe() -> Result<PathBuf, ExitCode> {
    std::env::current_exe()
        .map_err(|error| bad_input(&format!("cannot find this executable: {error}")))
}

/// Writes `suite` as a JUnit document to `path`, if one was asked for.
pub fn write_junit(path: Option<&Path>, suite: TestSuite) -> Result<(), ExitCode> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, TestSuites::one(suite).to_xml())
        .map_err(|error| bad_input(&format!("cannot write {}: {error}", path.display())))
}

/// A comma-separated list of extension names (`--with`, `--base`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ExtensionList(pub Vec<ExtensionName>);

/// Parses `--with`/`--base`: known names, comma-separated (empty entries ignored).
pub fn parse_extensions(text: &str) -> Result<ExtensionList, String> {
    let mut names = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(known) = ExtensionName::parse(name) else {
            let known: Vec<&str> = ExtensionName::all().iter().map(|n| n.as_str()).collect();
            return Err(format!(
                "unknown extension `{name}` (known: {})",
                known.join(", ")
            ));
        };
        if !names.contains(&known) {
            names.push(known);
        }
    }
    Ok(ExtensionList(names))
}

/// Parses an invariant name (`--violation`).
pub fn parse_invariant(text: &str) -> Result<Invariant, String> {
    Invariant::from_name(text).ok_or_else(|| {
        let known: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        format!("unknown invariant `{text}` (known: {})", known.join(", "))
    })
}
