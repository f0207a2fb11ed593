//! Helpers the CLI tests share: running the real `raida-sim` binary, writing scenario
//! files, reading `--format json` records, and a small lossy scenario.

#![allow(dead_code)] // Each test file uses some of these.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use raida_sim::run::SeedRecord;

/// A small lossy scenario: links break (delete_on_read = before_reply), so acknowledged
/// tells are lost with their ping replies (`ack_durable`). `EXPECT` is replaced by the
/// `[expect]` body. Runs take well under a second in release.
pub const LOSSY: &str = r#"
[scenario]
name = "lossy"
seeds = "0..9"

[sim]
tick_ms = 20
duration_s = 20
heal_s = 60

[topology]
mailboxes = 8
client_hosts = 2

[workload]
emails = 16
recipients_max = 3
attachments_max = 1
attachment_size_bytes_max = 4000
body_size_bytes_max = 1000
send_window_s = 12
poll = "ping"

[faults]
packet_loss = 0.04
latency_ms_min = 1
latency_ms_max = 20

[server]
ping_timeout_s = 5
delete_on_read = "before_reply"

[expect]
EXPECT
"#;

/// [`LOSSY`] with `expect` as its `[expect]` body.
pub fn lossy(expect: &str) -> String {
    LOSSY.replace("EXPECT", expect)
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).expect("temp dir is writable");
    path.to_str().expect("utf-8 temp path").to_string()
}

/// Runs the binary with `args`.
pub fn raida_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .args(args)
        .output()
        .expect("raida-sim starts")
}

/// Runs the binary in `dir`.
pub fn raida_sim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raida-sim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("raida-sim starts")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The seed records of `--format json` output, one per line.
pub fn records(output: &Output) -> Vec<SeedRecord> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Asserts exit status 2 and an `error: ` message.
pub fn assert_bad_input(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(output));
    assert!(
        stderr(output).starts_with("error: "),
        "{what}: {}",
        stderr(output)
    );
}
