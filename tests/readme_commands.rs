//! The README's shell commands must work as written: every `raida` and `qmail` command in a
//! ```` ```sh ```` block of `README.md` is extracted (continuation lines joined, comments
//! dropped, `/tmp/…` and relative file arguments moved into a temp directory) and run through
//! the same entry points the programs run — `raida_server::daemon` and
//! `qmail_client::cli`, in this process, as `tests/e2e.rs` does (this root package cannot rely
//! on the `raida` and `qmail` binaries being built).
//!
//! Offline commands are run to completion and must succeed: `raida gen-provision`, `qmail
//! init`, anything with `--help` (which must print help, exit status 0). Commands that need a
//! running cluster or stay up (`raida serve`, `raida cluster`, `qmail send`, `ping`, `fetch`,
//! …) must parse: a flag the program does not know, a missing required flag or a bad value
//! fails the test with the README line. `cargo run -p raida-sim …`, `cargo test` and the like
//! are not `raida`/`qmail` commands and are left to their own tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use qmail_client::cli::{self as qmail_cli, RunEnv};
use qmail_client::Clock;
use raida_server::daemon;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which program a README command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program {
    Raida,
    Qmail,
}

/// One command found in the README.
#[derive(Clone, Debug)]
struct ReadmeCommand {
    program: Program,
    args: Vec<String>,
    line: String,
}

/// A fixed clock: `qmail init` reads none, but `RunEnv` wants one.
#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now_unix_s(&self) -> u64 {
        1_750_000_000
    }
}

/// The lines of every ```` ```sh ```` block, continuations joined.
fn sh_lines(readme: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if !in_sh {
            in_sh = trimmed == "```sh";
            continue;
        }
        if trimmed.starts_with("```") {
            in_sh = false;
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        lines.push(std::mem::take(&mut pending));
    }
    lines
}

/// Shell-like words of `line` up to an unquoted `#`: double and single quotes group.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The `raida`/`qmail` commands of the README's shell blocks.
fn readme_commands(readme: &str) -> Vec<ReadmeCommand> {
    let mut commands = Vec::new();
    for line in sh_lines(readme) {
        let words = words(&line);
        let Some(first) = words.first() else {
            continue;
        };
        // `qmail() { cargo run … qmail -- "$@"; }` defines the function the lines below use.
        if first.ends_with("()") {
            continue;
        }
        let (program, args) = match first.as_str() {
            "raida" => (Program::Raida, words[1..].to_vec()),
            "qmail" => (Program::Qmail, words[1..].to_vec()),
            "cargo" => {
                let Some(separator) = words.iter().position(|word| word == "--") else {
                    continue;
                };
                let bin = words
                    .windows(2)
                    .find(|pair| pair[0] == "--bin")
                    .map(|pair| pair[1].as_str());
                match bin {
                    Some("raida") => (Program::Raida, words[separator + 1..].to_vec()),
                    Some("qmail") => (Program::Qmail, words[separator + 1..].to_vec()),
                    _ => continue,
                }
            }
            _ => continue,
        };
        commands.push(ReadmeCommand {
            program,
            args,
            line: line.clone(),
        });
    }
    commands
}

/// What the README's placeholders stand for.
const PLACEHOLDERS: [(&str, &str); 1] = [("GUID", "0123456789abcdef0123456789abcdef")];

/// Moves file arguments into `dir`: `/tmp/X` becomes `dir/X`; a relative `*.toml`, `*.jpg`
/// or `…/` argument becomes `dir/…`. Placeholders (`GUID`) get a value of their shape.
fn relocate(args: &[String], dir: &Path) -> Vec<String> {
    let inside = |rest: &str| dir.join(rest).display().to_string();
    args.iter()
        .map(|arg| {
            if let Some((_, value)) = PLACEHOLDERS.iter().find(|(name, _)| name == arg) {
                (*value).to_string()
            } else if let Some(rest) = arg.strip_prefix("/tmp/") {
                inside(rest)
            } else if !arg.starts_with('-')
                && !arg.starts_with('/')
                && (arg.ends_with(".toml") || arg.ends_with(".jpg") || arg.ends_with('/'))
            {
                inside(arg)
            } else {
                arg.clone()
            }
        })
        .collect()
}

fn run_raida(args: &[String], line: &str) -> &'static str {
    let parsed = daemon::Cli::try_parse_from(
        std::iter::once("raida".to_string()).chain(args.iter().cloned()),
    );
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        let error = parsed.expect_err("--help stops the parse");
        assert_eq!(error.exit_code(), 0, "{line}: {error}");
        return "help";
    }
    let cli = parsed.unwrap_or_else(|error| panic!("README: {line}\n{error}"));
    match cli.command {
        daemon::Command::GenProvision(_) => {
            daemon::run(cli).unwrap_or_else(|error| panic!("README: {line}\n{error}"));
            "run"
        }
        _ => "parsed",
    }
}

fn run_qmail(args: &[String], line: &str, seed: u64) -> &'static str {
    let parsed = qmail_cli::Cli::try_parse_from(
        std::iter::once("qmail".to_string()).chain(args.iter().cloned()),
    );
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        let error = parsed.expect_err("--help stops the parse");
        assert_eq!(error.exit_code(), 0, "{line}: {error}");
        return "help";
    }
    let cli = parsed.unwrap_or_else(|error| panic!("README: {line}\n{error}"));
    if !matches!(cli.command, qmail_cli::Command::Init(_)) {
        return "parsed";
    }
    let env = RunEnv {
        clock: Arc::new(FixedClock),
        rng: ChaCha8Rng::seed_from_u64(seed),
        progress: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    runtime
        .block_on(qmail_cli::run(cli, env, &mut out))
        .unwrap_or_else(|error| panic!("README: {line}\n{error}"));
    "run"
}

#[test]
fn every_raida_and_qmail_command_in_the_readme_works_as_written() {
    let readme_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let commands = readme_commands(&readme);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut outcomes = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        let args = relocate(&command.args, dir.path());
        let outcome = match command.program {
            Program::Raida => run_raida(&args, &command.line),
            Program::Qmail => run_qmail(&args, &command.line, index as u64),
        };
        outcomes.push((command.program, args.first().cloned(), outcome));
    }
    let ran = |program: Program, subcommand: &str| {
        outcomes.iter().any(|(p, sub, outcome)| {
            *p == program && sub.as_deref() == Some(subcommand) && *outcome == "run"
        })
    };
    // The README's walk-through: provisioning, then a profile per mailbox.
    assert!(ran(Program::Raida, "gen-provision"), "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|(p, _, outcome)| *p == Program::Qmail && *outcome == "run"),
        "no qmail init ran: {outcomes:?}"
    );
    assert!(commands.len() >= 8, "too few commands found: {outcomes:?}");
    assert!(dir.path().join("prov.toml").is_file());
    assert!(dir.path().join("alice.toml").is_file());
}

#[test]
fn the_extractor_reads_blocks_continuations_quotes_and_comments() {
    let readme = "text\n```sh\nqmail --profile a.toml send --subject \"two words\"  # note\n\
                  cargo run --release -p raida-server --bin raida -- serve --id 3 \\\n    \
                  --data /tmp/x\ncargo run -p raida-sim -- run x.toml\n```\n```toml\nraida = 1\n```\n";
    let commands = readme_commands(readme);
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].program, Program::Qmail);
    assert_eq!(
        commands[0].args,
        ["--profile", "a.toml", "send", "--subject", "two words"]
    );
    assert_eq!(commands[1].program, Program::Raida);
    assert_eq!(commands[1].args, ["serve", "--id", "3", "--data", "/tmp/x"]);
    let moved = relocate(&commands[1].args, Path::new("/d"));
    assert_eq!(moved[4], "/d/x");
    assert_eq!(relocate(&commands[0].args, Path::new("/d"))[1], "/d/a.toml");
}
