//! `merge`: judges a scenario over the union of several shards' JSON-lines results
//! ([`raida_sim::shard::Merged`]): unexpected violations, panics, host failures and seeds
//! whose shards disagree fail; `must_find` is judged when the union covers the default
//! seeds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raida_sim::shard::Merged;

use super::{bad_input, exit, load, write_junit};

/// `merge SCENARIO FILE... [--junit FILE]`.
pub fn merge_command(path: &Path, files: &[PathBuf], junit: Option<&Path>) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let merged = match Merged::read(&scenario, &files) {
        Ok(merged) => merged,
        Err(message) => return bad_input(&message),
    };
    print!("{}", merged.render(&scenario, files.len()));
    if let Err(code) = write_junit(junit, merged.junit(&scenario)) {
        return code;
    }
    exit(merged.passed(&scenario))
}
