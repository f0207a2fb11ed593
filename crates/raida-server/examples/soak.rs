//! `soak`: a bounded soak of real `raida serve` processes under `kill -9`.
//!
//! ```sh
//! cargo run --release -p raida-server --example soak -- --seconds 60 --clients 8 --seed 1
//! ```
//!
//! Starts the 25 RAIDAs of a cluster as 25 real daemon processes on loopback, each on its own
//! temp data directory (this program re-runs itself as `soak __serve serve …`, which is
//! exactly `raida serve`: `raida_server::daemon::run`), runs `--clients` mailboxes as client
//! tasks (the real `qmail-client` library) that send, poll and download, and meanwhile kills
//! one of the first `--raidas` RAIDAs with SIGKILL at seeded random moments and restarts it on
//! the same data directory and port. After `--seconds`, every RAIDA is up again and the run
//! checks that nothing acknowledged was lost: every tell a beacon answered 250 was delivered
//! or is still in its inbox, and every email whose stripes were acknowledged downloads byte
//! for byte with no stripe missing but the ones whose upload failed. It prints the counts and
//! exits 0 exactly when nothing was lost. See `soak/driver.rs` for the workload and the check.

#[path = "soak/driver.rs"]
mod driver;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    if rest.first().map(String::as_str) == Some(driver::SERVE_MODE) {
        return driver::serve_mode(&rest[1..]);
    }
    let options = driver::Options::parse_from(std::iter::once(program).chain(rest));
    let launcher = match driver::Launcher::this_program() {
        Ok(launcher) => launcher,
        Err(error) => {
            eprintln!("soak: cannot find this program: {error}");
            return ExitCode::FAILURE;
        }
    };
    match driver::run(&options, &launcher) {
        Ok(report) => {
            println!("{report}");
            if report.losses() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}
