//! `check`: re-runs every checker on a saved JSON-lines trace (what `replay` writes) and
//! judges the violations against a scenario's `expect.violations`
//! ([`raida_sim::tracecheck::TraceCheck`]).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use raida_sim::trace::read_json_lines;
use raida_sim::tracecheck::TraceCheck;

use super::{bad_input, exit, load};

/// `check TRACE.jsonl --scenario FILE [--only-unexpected]`.
pub fn check_command(trace: &Path, scenario: &Path, only_unexpected: bool) -> ExitCode {
    let scenario = match load(scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let file = match File::open(trace) {
        Ok(file) => file,
        Err(error) => return bad_input(&format!("{}: cannot read: {error}", trace.display())),
    };
    let history = match read_json_lines(BufReader::new(file)) {
        Ok(history) => history,
        Err(error) => return bad_input(&format!("{}: {error}", trace.display())),
    };
    let check = TraceCheck::new(&scenario, &history);
    print!(
        "{}",
        check.render(&trace.display().to_string(), only_unexpected)
    );
    exit(check.passed())
}
