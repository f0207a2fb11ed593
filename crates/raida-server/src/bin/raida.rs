//! The `raida` daemon: `raida serve`, `raida cluster`, `raida gen-provision`. All the code
//! lives in [`raida_server::daemon`]; this file only parses the command line, installs the
//! log subscriber and turns an error into a message and its exit status (2: usage, 1: other).

use std::process::ExitCode;

use clap::Parser;
use raida_server::daemon::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::init_tracing();
    match daemon::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raida: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
