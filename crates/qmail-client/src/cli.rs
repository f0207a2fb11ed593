//! The `qmail` command: command line, profile and state directory, and one module per
//! subcommand, over the library's [`Client`].
//!
//! `src/bin/qmail.rs` only parses the command line, supplies the machine clock and an
//! OS-seeded RNG, and turns an error into a message and exit status 1. Everything else lives
//! here, so the end-to-end tests run exactly this code ([`run`]) against a real cluster with
//! their own clock, seed and output buffer.
//!
//! ```text
//! qmail [--profile FILE] [--state DIR] init --mailbox D.SN (--provision FILE | --an HEX)
//!                                      (--raidas A,B,… | --base-addr HOST:PORT) …
//! qmail … send --to D.SN … --subject S (--body TEXT | --body-file F) [--attach FILE …]
//! qmail … ping | peek [--since UNIX_S] | list | fetch GUID --out DIR
//! qmail … echo [--raida N | --all] [--plain]       (health check; see [`echo`])
//! ```
//!
//! # Modules
//!
//! ```text
//!  args      the clap command line, the profile format of `--help`, argument parsers
//!  error     CliError: every failure, as the message the binary prints
//!  init      `init`: a profile from a provisioning file
//!  send      `send`: compose, send, report each tell
//!  poll      `ping`, `peek`, `list`
//!  fetch     `fetch`: download, rebuild, write the files
//!  echo      `echo`: the health check
//!  body      the body file's format (subject, attachment names), output file names
//!  store     the state directory's kept tells
//!  output    hex, record lines, writing the report
//!  progress  the progress bar of large transfers
//!  files     bounded reads, atomic writes
//!  limits    the command's limits
//! ```
//!
//! # State directory
//!
//! A beacon deletes the tells a ping or peek returns, so the command keeps each one it
//! receives, before it prints anything, as `STATE/tells/{guid}.{edit_sequence:03}.tell` (the
//! record's exact bytes; written to a temp file, synced, renamed). `fetch` reads the newest
//! revision of a GUID (or of a unique GUID prefix) from there. `STATE` is `--state`, by
//! default the profile's path with `.state` appended.
//!
//! # Files of one email
//!
//! The body file (type 0x01) is a header block — `Subject: S`, then `Attachment-0a: NAME`
//! for each attachment — an empty line and the body text; attachments are 0x0A, 0x0B, … in
//! command-line order. The protocol carries no file names, so the body carries them (module
//! `body`): `fetch` writes `body.txt` and each attachment under its original name
//! (`attachment-0a.bin` when the name is missing or unsafe).

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::client::{Client, ClientParts};
use crate::clock::Clock;
use crate::observer::ClientObserver;
use crate::profile::Profile;
use crate::transport::TokioConnector;

mod args;
mod body;
pub mod echo;
mod error;
mod fetch;
mod files;
mod init;
pub mod limits;
mod output;
mod poll;
mod progress;
mod send;
mod store;
#[cfg(test)]
mod test_support;

pub use self::args::{
    parse_beacon, parse_guid, parse_mailbox, Cli, Command, FetchArgs, InitArgs, PeekArgs, SendArgs,
    PROFILE_HELP,
};
pub use self::body::{
    attachment_name, email_body, email_body_with_names, output_file_name, output_file_names,
    parse_body_headers, subject_of, BodyHeaders,
};
pub use self::error::CliError;
pub use self::files::default_state_dir;
pub use self::output::{describe_record, hex};
pub use self::store::{KeptTell, TellStore};

use self::output::emit;

/// What the command gets from its caller: the binary passes the machine clock, an OS-seeded
/// RNG and whether stdout is a terminal; tests pass their own.
pub struct RunEnv {
    /// Stamps tells and pings.
    pub clock: Arc<dyn Clock>,
    /// Draws GUIDs, nonces and challenges.
    pub rng: ChaCha8Rng,
    /// Whether large transfers may draw a progress bar (on stderr).
    pub progress: bool,
}

impl fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunEnv")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// Runs one `qmail` command, writing its report to `out`.
pub async fn run<W: Write>(cli: Cli, env: RunEnv, out: &mut W) -> Result<(), CliError> {
    let state_dir = cli
        .state
        .clone()
        .unwrap_or_else(|| default_state_dir(&cli.profile));
    let store = TellStore::new(&state_dir);
    match cli.command {
        Command::Init(args) => init::init(&cli.profile, &args, out),
        Command::List => poll::list(&store, out),
        Command::Send(args) => send::send(load_profile(&cli.profile)?, env, &args, out).await,
        Command::Ping => poll::poll(load_profile(&cli.profile)?, env, None, &store, out).await,
        Command::Peek(args) => {
            poll::poll(
                load_profile(&cli.profile)?,
                env,
                Some(args.since),
                &store,
                out,
            )
            .await
        }
        Command::Fetch(args) => {
            fetch::fetch(load_profile(&cli.profile)?, env, &args, &store, out).await
        }
        Command::Echo(args) => echo::echo(load_profile(&cli.profile)?, env, &args, out).await,
    }
}

fn load_profile(path: &Path) -> Result<Profile, CliError> {
    Profile::load(path).map_err(CliError::Profile)
}

fn client(
    profile: Profile,
    env: RunEnv,
    observer: Arc<dyn ClientObserver>,
) -> Result<Client<TokioConnector>, CliError> {
    let mut parts = ClientParts::new(
        profile.identity,
        Arc::new(profile.directory),
        TokioConnector,
        env.clock,
        env.rng,
    );
    parts.config = profile.config;
    parts.observer = observer;
    Ok(Client::new(parts)?.with_extensions(profile.extensions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::{parse, run_now};

    #[test]
    fn commands_without_a_usable_profile_or_tell_fail_with_a_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.toml");
        let cli = parse(&["--profile", missing.to_str().expect("utf-8"), "ping"]).expect("cli");
        let (result, _) = run_now(cli);
        let error = result.expect_err("no profile");
        assert!(matches!(error, CliError::Profile(_)));
        assert!(error.to_string().contains("missing.toml"), "{error}");
        let state = dir.path().join("st");
        let cli = parse(&["--state", state.to_str().expect("utf-8"), "list"]).expect("cli");
        let (result, out) = run_now(cli);
        result.expect("empty list");
        assert_eq!(out, "no tells kept\n");
    }
}
