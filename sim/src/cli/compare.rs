//! `compare`: the same seeds on the base side (the scenario plus `--base` extensions) and
//! the other side (plus `--with` extensions), each (side, seed) in a fresh child process on
//! a temporary copy of the scenario file with the side's extensions added (or all in this
//! process with `--in-process`). Prints per-seed rows, totals and the verdict (or JSON
//! lines), writes JUnit when asked, and exits 1 when the `with` side shows a violation the
//! base side does not ([`raida_sim::compare::Comparison`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raida_sim::compare::{
    compare_in_process, label, toml_with_extensions, Comparison, SeedRow, SideRun,
};
use raida_sim::extensions::ExtensionName;
use raida_sim::run::{parse_seed_range, sweep, ChildRunner};
use raida_sim::scenario::Scenario;
use raida_sim::tomlfile::scenario_text;

use super::{bad_input, check_jobs, current_exe, exit, load, write_junit, ExtensionList, Format};

/// What `compare` was asked.
#[derive(Debug)]
pub struct CompareArgs {
    /// The scenario file.
    pub path: PathBuf,
    /// Seeds `A..B`, `A..=B` or `N`; the scenario's default seeds when absent.
    pub seeds: Option<String>,
    /// Extensions of the other side.
    pub with: ExtensionList,
    /// Extensions of the base side.
    pub base: ExtensionList,
    /// Worker processes.
    pub jobs: usize,
    /// Output format.
    pub format: Format,
    /// JUnit file.
    pub junit: Option<PathBuf>,
    /// Run in this process.
    pub in_process: bool,
}

/// A side's scenario file: written to `dir`, parsed back.
fn side_file(
    dir: &Path,
    file: &toml::Value,
    name: &str,
    added: &[ExtensionName],
) -> Result<(PathBuf, Scenario), String> {
    let value = toml_with_extensions(file, added)?;
    let text = scenario_text(&value);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, &text)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    let scenario =
        Scenario::from_toml_str(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    Ok((path, scenario))
}

/// Runs both sides of every seed in children, `jobs` seeds at once.
fn in_children(
    args: &CompareArgs,
    scenario: &Scenario,
    seeds: &[u64],
) -> Result<Comparison, String> {
    let text = std::fs::read_to_string(&args.path)
        .map_err(|error| format!("{}: cannot read: {error}", args.path.display()))?;
    let file: toml::Value =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", args.path.display()))?;
    let exe = current_exe().map_err(|_| "cannot find this executable".to_string())?;
    let dir = tempfile::tempdir().map_err(|error| format!("cannot make a temp dir: {error}"))?;
    let (base_path, base) = side_file(dir.path(), &file, "base", &args.base.0)?;
    let (with_path, with) = side_file(dir.path(), &file, "with", &args.with.0)?;
    let runner = |scenario_path: PathBuf| ChildRunner {
        exe: exe.clone(),
        scenario_path,
    };
    let (base_runner, with_runner) = (runner(base_path), runner(with_path));
    let side =
        |runner: &ChildRunner, seed| SideRun::from_record(runner.run_with(seed, &["--traffic"]));
    let rows = sweep(
        seeds,
        args.jobs,
        |seed| SeedRow {
            seed,
            base: side(&base_runner, seed),
            with: side(&with_runner, seed),
        },
        |_| {},
    );
    Ok(Comparison::new(
        scenario,
        (label(&base), label(&with)),
        rerun_template(args),
        rows,
    ))
}

/// The command that re-runs one seed, `{seed}` standing for it.
fn rerun_template(args: &CompareArgs) -> String {
    let names = |list: &ExtensionList| {
        list.0
            .iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut command = format!(
        "cargo run --release -p raida-sim -- compare {} --seeds {{seed}} --with {}",
        args.path.display(),
        names(&args.with)
    );
    if !args.base.0.is_empty() {
        command.push_str(&format!(" --base {}", names(&args.base)));
    }
    command
}

/// `compare`.
pub fn compare_command(args: &CompareArgs) -> ExitCode {
    let scenario = match load(&args.path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    if let Err(code) = check_jobs(args.jobs) {
        return code;
    }
    if args.with.0.is_empty() {
        return bad_input("--with names no extension");
    }
    let seeds: Vec<u64> = match &args.seeds {
        None => scenario.seeds.clone(),
        Some(text) => match parse_seed_range(text) {
            Ok(range) => range.collect(),
            Err(error) => return bad_input(&format!("--seeds {error}")),
        },
    };
    let comparison = if args.in_process {
        let mut comparison = compare_in_process(&scenario, &seeds, &args.base.0, &args.with.0);
        comparison.rerun = rerun_template(args);
        comparison
    } else {
        match in_children(args, &scenario, &seeds) {
            Ok(comparison) => comparison,
            Err(message) => return bad_input(&message),
        }
    };
    match args.format {
        Format::Text => print!("{}", comparison.render()),
        Format::Json => {
            for line in comparison.json_lines() {
                println!("{line}");
            }
        }
    }
    if let Err(code) = write_junit(args.junit.as_deref(), comparison.junit()) {
        return code;
    }
    exit(comparison.passed())
}
