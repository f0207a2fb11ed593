//! `raida-sim perfetto SCENARIO --seed N [--out FILE] [--no-fs-steps]`: runs one seed with
//! every file-system step recorded and writes the run as Chrome/Perfetto trace-event JSON
//! (open it in ui.perfetto.dev). Prints the run's summary like `replay`; exits like it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Map};

use raida_sim::history::Host;
use raida_sim::perfetto::write_trace_json;
use raida_sim::run::{run_full, SeedRun};
use raida_sim::scenario::Scenario;
use raida_sim::world::recorder::{with_options, RecordOptions};

use raida_sim::report::ViolationFilter;

use super::{bad_input, exit, load};

/// Where the picture goes by default: `SCENARIO-NAME.seed-N.perfetto.json`.
pub fn default_perfetto_path(scenario: &Scenario, seed: u64) -> PathBuf {
    PathBuf::from(format!("{}.seed-{seed}.perfetto.json", scenario.name))
}

/// The hosts of a scenario's topology (every track appears even when a host stayed idle).
pub fn topology_hosts(scenario: &Scenario) -> Vec<Host> {
    let raidas = (0..scenario.topology.raidas).map(Host::Raida);
    let clients = (0..scenario.topology.client_hosts).map(Host::Client);
    raidas.chain(clients).collect()
}

/// `perfetto`: one seed, exported.
pub fn perfetto_command(path: &Path, seed: u64, out: Option<PathBuf>, fs_steps: bool) -> ExitCode {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let (result, wall) = with_options(RecordOptions { fs_steps }, || run_full(&scenario, seed));
    if let Ok(result) = &result {
        let out = out.unwrap_or_else(|| default_perfetto_path(&scenario, seed));
        let mut other = Map::new();
        other.insert("scenario".into(), json!(scenario.name));
        other.insert("seed".into(), json!(seed));
        other.insert("digest".into(), json!(format!("{:016x}", result.digest)));
        let written = File::create(&out).and_then(|file| {
            write_trace_json(
                BufWriter::new(file),
                &result.history,
                &result.violations,
                &topology_hosts(&scenario),
                other,
            )
        });
        match written {
            Ok(count) => println!(
                "perfetto: {count} trace events written to {}",
                out.display()
            ),
            Err(error) => return bad_input(&format!("cannot write {}: {error}", out.display())),
        }
    }
    let run = SeedRun {
        seed,
        result: result.map(|run| run.report(&scenario)),
        wall,
    };
    match &run.result {
        Ok(report) => print!("{}", report.render_with(ViolationFilter::All)),
        Err(panic) => println!(
            "run scenario={} seed={seed} PANICKED: {panic}",
            scenario.name
        ),
    }
    exit(run.passed())
}
