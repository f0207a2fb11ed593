//! `shrink`: the smallest scenario file found under which a seed still violates the same
//! invariant ([`raida_sim::shrink::Shrinker`]), written to a file, with its replay command
//! and how much the run shrank. Prints each candidate as it is tried.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raida_sim::checkers::Invariant;
use raida_sim::shrink::{default_out_path, render, Shrinker};

use super::{bad_input, current_exe, load};

/// What `shrink` was asked.
#[derive(Debug)]
pub struct ShrinkArgs {
    /// The scenario file.
    pub path: PathBuf,
    /// The failing seed.
    pub seed: u64,
    /// The invariant to keep violated.
    pub violation: Option<Invariant>,
    /// Where to write the result.
    pub out: Option<PathBuf>,
    /// Candidates to run at most.
    pub max_runs: usize,
}

/// `shrink`: exit 0 with the file written; 2 for bad arguments or files, or a seed that
/// does not fail the way asked.
pub fn shrink_command(args: &ShrinkArgs) -> ExitCode {
    let scenario = match load(&args.path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let exe = match current_exe() {
        Ok(exe) => exe,
        Err(code) => return code,
    };
    let shrinker = Shrinker {
        exe,
        path: args.path.clone(),
        seed: args.seed,
        violation: args.violation,
        max_runs: args.max_runs,
    };
    let mut tried = 0usize;
    let shrunk = shrinker.shrink(|attempt| {
        tried += 1;
        let verdict = if attempt.kept { "kept" } else { "no" };
        println!("try {tried}: {}: {verdict}", attempt.change);
    });
    let shrunk = match shrunk {
        Ok(shrunk) => shrunk,
        Err(error) => return bad_input(&error.to_string()),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_path(&scenario, args.seed));
    if let Err(error) = std::fs::write(&out, &shrunk.text) {
        return bad_input(&format!("cannot write {}: {error}", out.display()));
    }
    print!("{}", render(&shrunk, Path::new(&out), args.seed));
    ExitCode::SUCCESS
}
