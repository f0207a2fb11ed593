//! The `qmail` command: command line, profile and state directory, and one function per
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
//! The body file (type 0x01) is `Subject: S\n\n` followed by the body text; attachments are
//! 0x0A, 0x0B, … in command-line order. The protocol carries no file names, so `fetch`
//! writes `body.txt` and `attachment-0a.bin`, `attachment-0b.bin`, ….

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{ArgGroup, Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use qmail_wire::header::Command as WireCommand;
use qmail_wire::tell::{TellRecord, FILE_TYPE_BODY};
use qmail_wire::Codec;
use rand_chacha::ChaCha8Rng;

use crate::client::{Client, ClientParts};
use crate::clock::Clock;
use crate::error::{ClientError, RaidaRef};
use crate::identity::{Guid, MailboxId};
use crate::limits::{FILE_SIZE_BYTES_MAX, RAIDA_COUNT};
use crate::observer::{ClientObserver, StripeUploaded};
use crate::profile::{Profile, ProfileError};
use crate::receive::{Poll, ReceivedTell};
use crate::send::{Email, Recipient};
use crate::stripe::{self, DataStripeCount};
use crate::transport::TokioConnector;

pub mod echo;

/// Limits of the command (beside the library's [`crate::limits`]).
pub mod limits {
    use qmail_wire::limits::{GUID_SIZE_BYTES, TELL_RECORD_SIZE_BYTES_MAX};

    /// Largest `raida` provisioning file `init` reads (the server's own bound).
    pub const PROVISION_FILE_SIZE_BYTES_MAX: u64 = 64 << 20;

    /// Largest state file holding one tell record.
    pub const STATE_RECORD_SIZE_BYTES_MAX: u64 = TELL_RECORD_SIZE_BYTES_MAX as u64;

    /// Uploads and downloads of at least this many bytes show a progress bar (on a terminal).
    pub const PROGRESS_SIZE_BYTES_MIN: u64 = 256 * 1024;

    /// Fewest hex digits of a GUID prefix `fetch` accepts.
    pub const GUID_PREFIX_HEX_DIGITS_MIN: usize = 4;

    /// Hex digits of a whole GUID.
    pub const GUID_HEX_DIGITS: usize = 2 * GUID_SIZE_BYTES;

    const _: () = assert!(GUID_PREFIX_HEX_DIGITS_MIN >= 1);
    const _: () = assert!(GUID_PREFIX_HEX_DIGITS_MIN <= GUID_HEX_DIGITS);
    const _: () = assert!(STATE_RECORD_SIZE_BYTES_MAX < PROVISION_FILE_SIZE_BYTES_MAX);
    // A progress bar is for files larger than one stripe's upload.
    const _: () =
        assert!(PROGRESS_SIZE_BYTES_MIN > qmail_wire::limits::STRIPE_SIZE_BYTES_MAX as u64);
}

use self::limits::{
    GUID_HEX_DIGITS, GUID_PREFIX_HEX_DIGITS_MIN, PROGRESS_SIZE_BYTES_MIN,
    PROVISION_FILE_SIZE_BYTES_MAX, STATE_RECORD_SIZE_BYTES_MAX,
};

/// The profile format, shown by `qmail --help`.
pub const PROFILE_HELP: &str = "\
PROFILE FILE (--profile, TOML; `qmail init` writes one from a `raida` provisioning file):

  [identity]
  denomination = 1
  serial_number = 1000
  an = \"000102030405060708090a0b0c0d0e0f\"   # one AN for every RAIDA, or
  # ans = [\"...\", ...]                      # exactly 25, index = RAIDA id
  upload_locker = \"LOCKER000000\"            # pays uploads; or upload_locker_hex = 32 hex digits
  fee_locker = \"LOCKER000001\"               # pays recipients' inbox fees; or fee_locker_hex

  [directory]
  raidas = [\"127.0.0.1:18000\", ...]         # exactly 25 IPv4 addresses, index = RAIDA id
  default_beacon = \"serial_mod_25\"          # or a RAIDA index 0..=24

  [[directory.beacon]]                      # explicit beacons, any number
  denomination = 1
  serial_number = 1001
  raida = 3

  [config]                                  # every key optional
  connect_timeout_ms = 5000
  request_timeout_ms = 10000
  ping_read_timeout_s = 960                 # must exceed the beacons' ping_timeout_s
  retries_max = 3
  tell_retries_max = 0
  retry_backoff_ms = 200
  retry_backoff_max_ms = 5000
  response_counter = \"restart\"              # or \"continue\", as the servers
  data_stripe_count = 7
  send_policy = \"all_stripes\"               # or \"allow_one_missing_per_file\"
  storage_duration = \"month\"                # day week month three_months six_months year permanent
  concurrency_max = 8
  device_id = 0

STATE DIRECTORY (--state, default PROFILE.state): every tell a ping or peek receives is kept
there (the beacon deletes it on read) so `fetch GUID` can download that email later.

EXAMPLE (a local cluster):
  raida gen-provision --mailboxes 4 --lockers 2 --out prov.toml
  raida cluster --base-port 18000 --data data --provision prov.toml &
  qmail --profile alice.toml init --provision prov.toml --mailbox 1.1000 \\
        --base-addr 127.0.0.1:18000 --upload-locker LOCKER000000 --fee-locker LOCKER000001
  qmail --profile bob.toml init --provision prov.toml --mailbox 1.1001 \\
        --base-addr 127.0.0.1:18000 --upload-locker LOCKER000000 --fee-locker LOCKER000001
  qmail --profile alice.toml echo          # every RAIDA up and holding Alice's coin?
  qmail --profile alice.toml send --to 1.1001 --subject Hello --body 'Hi Bob' --attach a.pdf
  qmail --profile bob.toml ping
  qmail --profile bob.toml fetch GUID --out mail/
";

/// The `qmail` command line.
#[derive(Debug, Parser)]
#[command(
    name = "qmail",
    version,
    about = "A QMail client: send, receive and download email over 25 RAIDAs",
    after_long_help = PROFILE_HELP
)]
pub struct Cli {
    /// Profile file: identity, RAIDA directory, settings (format: `qmail --help`).
    #[arg(long, global = true, value_name = "FILE", default_value = "qmail.toml")]
    pub profile: PathBuf,
    /// Directory keeping received tells (default: the profile's path + `.state`).
    #[arg(long, global = true, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a profile for one mailbox (to --profile).
    Init(InitArgs),
    /// Send an email: upload every stripe, then tell each recipient's beacon.
    Send(SendArgs),
    /// Long-poll this mailbox's beacon once; keep and list the tells it returns.
    Ping,
    /// Check this mailbox's beacon without waiting; keep and list the tells it returns.
    Peek(PeekArgs),
    /// List the tells kept in the state directory.
    List,
    /// Download an email whose tell was received, rebuild and check every file.
    Fetch(FetchArgs),
    /// Health check: echo the profile's RAIDAs; print each one's status and round-trip time.
    Echo(echo::EchoArgs),
}

/// `qmail init`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("keys").required(true).args(["provision", "an"])),
    group(ArgGroup::new("addresses").required(true).args(["raidas", "base_addr"]))
)]
pub struct InitArgs {
    /// The mailbox coin, DENOMINATION.SERIAL_NUMBER (e.g. 1.1000).
    #[arg(long, value_name = "D.SN", value_parser = parse_mailbox, allow_hyphen_values = true)]
    pub mailbox: MailboxId,
    /// A `raida` provisioning file holding the coin's ANs (`raida gen-provision` writes one).
    #[arg(long, value_name = "FILE")]
    pub provision: Option<PathBuf>,
    /// The coin's AN, the same on every RAIDA (32 lowercase hex digits).
    #[arg(long, value_name = "HEX")]
    pub an: Option<String>,
    /// The 25 RAIDA addresses, comma separated, in RAIDA index order.
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub raidas: Vec<SocketAddrV4>,
    /// RAIDA 0's address; RAIDA N listens on its port + N (the `raida cluster` layout).
    #[arg(long, value_name = "HOST:PORT")]
    pub base_addr: Option<SocketAddrV4>,
    /// Locker code paying upload fees (1-16 ASCII characters).
    #[arg(long, value_name = "CODE")]
    pub upload_locker: String,
    /// Locker code paying recipients' inbox fees (1-16 ASCII characters).
    #[arg(long, value_name = "CODE")]
    pub fee_locker: String,
    /// An explicit beacon, DENOMINATION.SERIAL_NUMBER=RAIDA (repeatable); other mailboxes use
    /// serial_number mod 25.
    #[arg(long, value_name = "D.SN=R", value_parser = parse_beacon, allow_hyphen_values = true)]
    pub beacon: Vec<(MailboxId, u8)>,
    /// Overwrite an existing profile.
    #[arg(long)]
    pub force: bool,
}

/// `qmail send`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("body_source").required(true).args(["body", "body_file"])))]
pub struct SendArgs {
    /// A To recipient, DENOMINATION.SERIAL_NUMBER (repeatable).
    #[arg(long, value_name = "D.SN", value_parser = parse_mailbox, allow_hyphen_values = true)]
    pub to: Vec<MailboxId>,
    /// A CC recipient (repeatable).
    #[arg(long, value_name = "D.SN", value_parser = parse_mailbox, allow_hyphen_values = true)]
    pub cc: Vec<MailboxId>,
    /// A BCC recipient (repeatable).
    #[arg(long, value_name = "D.SN", value_parser = parse_mailbox, allow_hyphen_values = true)]
    pub bcc: Vec<MailboxId>,
    /// The subject (one line).
    #[arg(long)]
    pub subject: String,
    /// The body text.
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,
    /// A file holding the body text.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// An attachment (repeatable; file types 0x0a, 0x0b, ... in this order).
    #[arg(long = "attach", value_name = "FILE")]
    pub attachments: Vec<PathBuf>,
    /// Revision number (file-header byte 57): 0 for a new email; a revision needs --guid.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub edit_sequence: u8,
    /// The email GUID (32 hex digits); default: a new random one.
    #[arg(long, value_name = "HEX", value_parser = parse_guid)]
    pub guid: Option<Guid>,
}

/// `qmail peek`.
#[derive(Debug, Args)]
pub struct PeekArgs {
    /// Only tells whose inbox file is newer than this Unix time (seconds).
    #[arg(long, value_name = "UNIX_S", default_value_t = 0)]
    pub since: u32,
}

/// `qmail fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The email's GUID, or a unique prefix of at least 4 hex digits.
    #[arg(value_name = "GUID")]
    pub guid: String,
    /// Directory to write the files to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

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

/// Why a `qmail` command failed. Display is the message the binary prints.
#[derive(Debug)]
pub enum CliError {
    /// The command line asks for something impossible.
    Usage(String),
    /// The profile could not be read or is invalid (file, line, key).
    Profile(ProfileError),
    /// A request or a transfer failed (names the RAIDA and the status).
    Client(ClientError),
    /// A file could not be read or written.
    File {
        /// What was being done ("read attachment", "write profile", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file's content is unusable (provisioning file, state record).
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No kept tell matches the GUID given to `fetch`.
    NotFound {
        /// The GUID or prefix asked for.
        guid: String,
        /// Where the tells are kept.
        state_dir: PathBuf,
    },
    /// Part of the work failed (some beacons not told, some files not rebuilt); what
    /// succeeded was printed.
    Incomplete {
        /// What was being done.
        what: String,
        /// One line per failure.
        failures: Vec<String>,
    },
    /// Standard output could not be written.
    Output(io::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message}"),
            Self::Profile(error) => write!(f, "profile {error}"),
            Self::Client(error) => write!(f, "{error}"),
            Self::File {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::Content { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::NotFound { guid, state_dir } => write!(
                f,
                "no received tell for GUID {guid} in {} (run `qmail ping` or `qmail peek` \
                 first)",
                state_dir.display()
            ),
            Self::Incomplete { what, failures } => {
                write!(f, "{what}: {} failed", failures.len())?;
                for failure in failures {
                    write!(f, "\n  {failure}")?;
                }
                Ok(())
            }
            Self::Output(error) => write!(f, "cannot write the output: {error}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

// ---------------------------------------------------------------------------------------------
// Argument parsers and small formats
// ---------------------------------------------------------------------------------------------

/// `D.SN`, e.g. `1.1000` or `-2.77`.
pub fn parse_mailbox(text: &str) -> Result<MailboxId, String> {
    let expected = || format!("`{text}`: expected DENOMINATION.SERIAL_NUMBER, e.g. 1.1000");
    let (denomination, serial_number) = text.split_once('.').ok_or_else(expected)?;
    let denomination: i8 = denomination.parse().map_err(|_| expected())?;
    let serial_number: u32 = serial_number.parse().map_err(|_| expected())?;
    let mailbox = MailboxId::new(denomination, serial_number);
    if !mailbox.is_valid() {
        return Err(format!(
            "`{text}`: denomination {denomination} is outside -8..=6"
        ));
    }
    Ok(mailbox)
}

/// `D.SN=R`: an explicit beacon.
pub fn parse_beacon(text: &str) -> Result<(MailboxId, u8), String> {
    let (mailbox, raida) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected DENOMINATION.SERIAL_NUMBER=RAIDA"))?;
    let raida_index: u8 = raida
        .parse()
        .ok()
        .filter(|index| usize::from(*index) < RAIDA_COUNT)
        .ok_or_else(|| format!("`{text}`: RAIDA index `{raida}` is outside 0..=24"))?;
    Ok((parse_mailbox(mailbox)?, raida_index))
}

/// A whole GUID, 32 hex digits (either case).
pub fn parse_guid(text: &str) -> Result<Guid, String> {
    let digits = text.to_ascii_lowercase();
    if digits.len() != GUID_HEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{text}`: expected {GUID_HEX_DIGITS} hex digits"));
    }
    let mut guid = [0u8; 16];
    for (byte, pair) in guid.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| format!("`{text}`: not hex"))?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("`{text}`: not hex"))?;
    }
    Ok(guid)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The body file of an email: `Subject: S\n\n` followed by the body text.
pub fn email_body(subject: &str, text: &[u8]) -> Result<Vec<u8>, CliError> {
    if subject.contains(['\n', '\r']) {
        return Err(CliError::Usage(
            "the subject must be one line (no line breaks)".to_string(),
        ));
    }
    let mut body = format!("Subject: {subject}\n\n").into_bytes();
    body.extend_from_slice(text);
    Ok(body)
}

/// The subject of a body file written by [`email_body`], if it has one.
pub fn subject_of(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"Subject: ")?;
    let end = rest.iter().position(|byte| *byte == b'\n')?;
    Some(String::from_utf8_lossy(rest.get(..end)?).into_owned())
}

/// The default state directory: the profile's path with `.state` appended.
pub fn default_state_dir(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_os_string();
    name.push(".state");
    PathBuf::from(name)
}

/// The file name `fetch` writes a file of type `file_type` to.
pub fn output_file_name(file_type: u8) -> String {
    if file_type == FILE_TYPE_BODY {
        "body.txt".to_string()
    } else {
        format!("attachment-{file_type:02x}.bin")
    }
}

fn file_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CliError {
    let path = path.to_path_buf();
    move |source| CliError::File {
        action,
        path,
        source,
    }
}

/// Reads a whole file, refusing one larger than `size_bytes_max` before reading it.
fn read_bounded(
    action: &'static str,
    path: &Path,
    size_bytes_max: u64,
) -> Result<Vec<u8>, CliError> {
    let size_bytes = fs::metadata(path).map_err(file_error(action, path))?.len();
    if size_bytes > size_bytes_max {
        return Err(CliError::Content {
            path: path.to_path_buf(),
            reason: format!("{size_bytes} bytes is more than the {size_bytes_max} allowed"),
        });
    }
    let bytes = fs::read(path).map_err(file_error(action, path))?;
    if bytes.len() as u64 > size_bytes_max {
        return Err(CliError::Content {
            path: path.to_path_buf(),
            reason: format!("grew past the {size_bytes_max} bytes allowed while read"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temp file beside it: write, sync, rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file path", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".tmp.");
    temp_name.push(name);
    let temp = dir.join(temp_name);
    let mut file = fs::File::create(&temp).map_err(file_error("create", &temp))?;
    file.write_all(bytes).map_err(file_error("write", &temp))?;
    file.sync_all().map_err(file_error("sync", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(file_error("rename into place", path))
}

fn emit<W: Write>(out: &mut W, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

// ---------------------------------------------------------------------------------------------
// State directory: received tells
// ---------------------------------------------------------------------------------------------

/// The received tells of one profile: `DIR/tells/{guid}.{edit:03}.tell`.
#[derive(Clone, Debug)]
pub struct TellStore {
    dir: PathBuf,
}

/// One kept tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptTell {
    /// Its file.
    pub path: PathBuf,
    /// The record.
    pub record: TellRecord,
}

impl TellStore {
    /// The store under state directory `state_dir`.
    pub fn new(state_dir: &Path) -> TellStore {
        TellStore {
            dir: state_dir.join("tells"),
        }
    }

    /// The state directory's `tells` folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(guid: &Guid, edit_sequence: u8) -> String {
        format!("{}.{edit_sequence:03}.tell", hex(guid))
    }

    /// Keeps `tell` (its exact bytes); a tell of the same GUID and edit replaces the file.
    pub fn save(&self, tell: &ReceivedTell) -> Result<PathBuf, CliError> {
        assert_eq!(
            TellRecord::from_bytes(&tell.raw).as_ref(),
            Ok(&tell.record),
            "a received tell's raw bytes are the record it was parsed into"
        );
        fs::create_dir_all(&self.dir).map_err(file_error("create", &self.dir))?;
        let header = &tell.record.file_header;
        let path = self.dir.join(Self::file_name(
            &header.email_id,
            tell.record.edit_sequence(),
        ));
        write_atomically(&path, &tell.raw)?;
        Ok(path)
    }

    /// Every kept tell, by file name (so by GUID, then edit).
    pub fn list(&self) -> Result<Vec<KeptTell>, CliError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(file_error("list", &self.dir)(error)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(file_error("list", &self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && name.ends_with(".tell") {
                names.push(name);
            }
        }
        names.sort();
        names.iter().map(|name| self.read(name)).collect()
    }

    fn read(&self, name: &str) -> Result<KeptTell, CliError> {
        let path = self.dir.join(name);
        let bytes = read_bounded("read", &path, STATE_RECORD_SIZE_BYTES_MAX)?;
        let record = TellRecord::from_bytes(&bytes).map_err(|error| CliError::Content {
            path: path.clone(),
            reason: format!("not a tell record: {error}"),
        })?;
        let expected = Self::file_name(&record.file_header.email_id, record.edit_sequence());
        if expected != name {
            return Err(CliError::Content {
                path,
                reason: format!("holds the record of {expected}"),
            });
        }
        Ok(KeptTell { path, record })
    }

    /// The newest revision of the one GUID that starts with `prefix` (hex, either case).
    pub fn find(&self, prefix: &str) -> Result<KeptTell, CliError> {
        let prefix = prefix.to_ascii_lowercase();
        let is_hex = prefix.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !is_hex || !(GUID_PREFIX_HEX_DIGITS_MIN..=GUID_HEX_DIGITS).contains(&prefix.len()) {
            return Err(CliError::Usage(format!(
                "`{prefix}`: expected a GUID, {GUID_PREFIX_HEX_DIGITS_MIN} to {GUID_HEX_DIGITS} \
                 hex digits"
            )));
        }
        let matching: Vec<KeptTell> = self
            .list()?
            .into_iter()
            .filter(|kept| hex(&kept.record.file_header.email_id).starts_with(&prefix))
            .collect();
        let guids: std::collections::BTreeSet<Guid> = matching
            .iter()
            .map(|kept| kept.record.file_header.email_id)
            .collect();
        if guids.len() > 1 {
            let listed: Vec<String> = guids.iter().map(|guid| hex(guid)).collect();
            return Err(CliError::Usage(format!(
                "GUID prefix `{prefix}` matches {} emails: {}",
                guids.len(),
                listed.join(", ")
            )));
        }
        matching
            .into_iter()
            .max_by_key(|kept| kept.record.edit_sequence())
            .ok_or_else(|| CliError::NotFound {
                guid: prefix,
                state_dir: self.dir.clone(),
            })
    }
}

/// One line about a tell record: GUID, edit, sender, files.
pub fn describe_record(record: &TellRecord) -> String {
    let header = &record.file_header;
    let files: Vec<String> = record
        .manifest
        .iter()
        .map(|entry| {
            let name = if entry.file_type == FILE_TYPE_BODY {
                "body".to_string()
            } else {
                format!("{:#04x}", entry.file_type)
            };
            format!("{name} {} B", entry.original_size)
        })
        .collect();
    format!(
        "mail {} edit {} from {}: {} files ({})",
        hex(&header.email_id),
        record.edit_sequence(),
        MailboxId::new(header.sender_denomination, header.sender_serial_number),
        record.manifest.len(),
        files.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// A progress bar fed by the client's observer hooks: bytes of stripes stored on upload,
/// download pages answered on download. Hidden unless enabled and the transfer is large.
#[derive(Clone, Debug)]
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(shown: bool, length: u64, template: &str) -> Progress {
        if !shown {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ClientObserver for Progress {
    fn stripe_uploaded(&self, event: &StripeUploaded) {
        self.bar.inc(event.size_bytes as u64);
    }

    fn request_answered(&self, _raida: RaidaRef, command: WireCommand, _status_code: u8) {
        if command == WireCommand::Download {
            self.bar.inc(1);
        }
    }
}

/// Bytes a send uploads: every file's N + 1 stripes.
fn upload_size_bytes(file_sizes: &[u64], data_stripe_count: DataStripeCount) -> u64 {
    file_sizes
        .iter()
        .map(|size| {
            stripe::stripe_size_bytes(*size, data_stripe_count)
                .saturating_mul(data_stripe_count.stripe_count() as u64)
        })
        .fold(0, u64::saturating_add)
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// Runs one `qmail` command, writing its report to `out`.
pub async fn run<W: Write>(cli: Cli, env: RunEnv, out: &mut W) -> Result<(), CliError> {
    let state_dir = cli
        .state
        .clone()
        .unwrap_or_else(|| default_state_dir(&cli.profile));
    let store = TellStore::new(&state_dir);
    match cli.command {
        Command::Init(args) => init(&cli.profile, &args, out),
        Command::List => list(&store, out),
        Command::Send(args) => send(load_profile(&cli.profile)?, env, &args, out).await,
        Command::Ping => poll(load_profile(&cli.profile)?, env, None, &store, out).await,
        Command::Peek(args) => {
            poll(
                load_profile(&cli.profile)?,
                env,
                Some(args.since),
                &store,
                out,
            )
            .await
        }
        Command::Fetch(args) => fetch(load_profile(&cli.profile)?, env, &args, &store, out).await,
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
    Ok(Client::new(parts)?)
}

async fn send<W: Write>(
    profile: Profile,
    env: RunEnv,
    args: &SendArgs,
    out: &mut W,
) -> Result<(), CliError> {
    let recipients: Vec<Recipient> = args
        .to
        .iter()
        .map(|m| Recipient::to(*m))
        .chain(args.cc.iter().map(|m| Recipient::cc(*m)))
        .chain(args.bcc.iter().map(|m| Recipient::bcc(*m)))
        .collect();
    if recipients.is_empty() {
        return Err(CliError::Usage(
            "name at least one recipient (--to, --cc or --bcc)".to_string(),
        ));
    }
    if args.edit_sequence > 0 && args.guid.is_none() {
        return Err(CliError::Usage(
            "a revision (--edit-sequence > 0) needs --guid of the original email".to_string(),
        ));
    }
    let text = match (&args.body, &args.body_file) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(path)) => read_bounded("read body file", path, FILE_SIZE_BYTES_MAX)?,
        _ => {
            return Err(CliError::Usage(
                "give exactly one of --body and --body-file".to_string(),
            ))
        }
    };
    let body = email_body(&args.subject, &text)?;
    let mut attachments = Vec::with_capacity(args.attachments.len());
    for path in &args.attachments {
        attachments.push(read_bounded("read attachment", path, FILE_SIZE_BYTES_MAX)?);
    }
    let file_sizes: Vec<u64> = std::iter::once(&body)
        .chain(&attachments)
        .map(|file| file.len() as u64)
        .collect();
    let total_bytes = upload_size_bytes(&file_sizes, profile.config.data_stripe_count);
    let progress = Progress::new(
        env.progress && total_bytes >= PROGRESS_SIZE_BYTES_MIN,
        total_bytes,
        "upload {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec}",
    );
    let client = client(profile, env, Arc::new(progress.clone()))?;
    let mut email = Email::new(args.guid.unwrap_or_else(|| client.random_guid()), body);
    email.edit_sequence = args.edit_sequence;
    email.attachments = attachments;
    email.recipients = recipients;
    let sent = client.send_email(&email).await;
    progress.finish();
    let report = sent?;
    let placement: Vec<String> = report
        .placement
        .raidas()
        .iter()
        .map(u8::to_string)
        .collect();
    let mut text = format!(
        "sent {} edit {}: {} files, {} stripes stored on RAIDAs {}\n",
        hex(&report.guid),
        report.edit_sequence,
        file_sizes.len(),
        report.stripes_uploaded,
        placement.join(",")
    );
    for failure in &report.stripes_failed {
        text.push_str(&format!("warning: stripe not stored: {failure}\n"));
    }
    let mut failures = Vec::new();
    for tell in &report.tells {
        let names: Vec<String> = tell.recipients.iter().map(MailboxId::to_string).collect();
        match &tell.result {
            Ok(()) => text.push_str(&format!(
                "told beacon RAIDA {} for {}\n",
                tell.beacon,
                names.join(", ")
            )),
            Err(error) => failures.push(format!("tell for {}: {error}", names.join(", "))),
        }
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: format!(
                "email {} is stored but telling its beacons",
                hex(&report.guid)
            ),
            failures,
        })
    }
}

async fn poll<W: Write>(
    profile: Profile,
    env: RunEnv,
    peek_since_unix_s: Option<u32>,
    store: &TellStore,
    out: &mut W,
) -> Result<(), CliError> {
    let client = client(profile, env, Arc::new(crate::observer::NoopObserver))?;
    let poll = match peek_since_unix_s {
        None => client.ping().await?,
        Some(since_unix_s) => client.peek(since_unix_s).await?,
    };
    let tells = match poll {
        Poll::Tells(tells) => tells,
        Poll::TimedOut => return emit(out, "no new mail (the long poll timed out)\n"),
        Poll::Empty => return emit(out, "no new mail\n"),
    };
    // Keep every tell before reporting any: the beacon has deleted them.
    let mut text = String::new();
    let mut failures = Vec::new();
    for tell in &tells {
        match store.save(tell) {
            Ok(_) => text.push_str(&format!("{}\n", describe_record(&tell.record))),
            Err(error) => failures.push(format!(
                "{} not kept: {error}",
                describe_record(&tell.record)
            )),
        }
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: "keeping the received tells".to_string(),
            failures,
        })
    }
}

fn list<W: Write>(store: &TellStore, out: &mut W) -> Result<(), CliError> {
    let kept = store.list()?;
    if kept.is_empty() {
        return emit(out, "no tells kept\n");
    }
    let text: String = kept
        .iter()
        .map(|kept| format!("{}\n", describe_record(&kept.record)))
        .collect();
    emit(out, &text)
}

async fn fetch<W: Write>(
    profile: Profile,
    env: RunEnv,
    args: &FetchArgs,
    store: &TellStore,
    out: &mut W,
) -> Result<(), CliError> {
    let kept = store.find(&args.guid)?;
    let record = &kept.record;
    let stripe_count = usize::from(record.file_header.stripe_count);
    let fetched: Vec<u64> = record
        .manifest
        .iter()
        .map(|entry| entry.original_size)
        .filter(|size| *size > 0)
        .collect();
    let total_bytes = fetched
        .iter()
        .fold(0, |sum: u64, size| sum.saturating_add(*size));
    let progress = Progress::new(
        env.progress && total_bytes >= PROGRESS_SIZE_BYTES_MIN,
        (fetched.len() * stripe_count) as u64,
        "download {bar:40} {pos}/{len} stripes",
    );
    let client = client(profile, env, Arc::new(progress.clone()))?;
    let results = client.download_files(record).await;
    progress.finish();
    fs::create_dir_all(&args.out).map_err(file_error("create", &args.out))?;
    let mut text = format!("{}\n", describe_record(record));
    let mut failures = Vec::new();
    for result in results? {
        let file = match result {
            Ok(file) => file,
            Err(error) => {
                failures.push(error.to_string());
                continue;
            }
        };
        let path = args.out.join(output_file_name(file.file_type));
        write_atomically(&path, &file.bytes)?;
        text.push_str(&format!(
            "wrote {} ({} bytes)",
            path.display(),
            file.bytes.len()
        ));
        if let Some(fault) = file.fault {
            text.push_str(&format!(
                "; stripe {} rebuilt from parity ({fault:?})",
                fault.stripe_index()
            ));
        }
        text.push('\n');
        if file.file_type == FILE_TYPE_BODY {
            if let Some(subject) = subject_of(&file.bytes) {
                text.push_str(&format!("subject: {subject}\n"));
            }
        }
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: format!("downloading email {}", hex(&record.file_header.email_id)),
            failures,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------------

fn init<W: Write>(profile_path: &Path, args: &InitArgs, out: &mut W) -> Result<(), CliError> {
    let ans = match (&args.provision, &args.an) {
        (Some(path), None) => ans_from_provision(path, args.mailbox)?,
        (None, Some(an)) => vec![an.to_ascii_lowercase(); RAIDA_COUNT],
        _ => {
            return Err(CliError::Usage(
                "give exactly one of --provision and --an".to_string(),
            ))
        }
    };
    let raidas = raida_addresses(args)?;
    let text = profile_text(args, &ans, &raidas);
    let source_name = profile_path.display().to_string();
    // The written file must load: check it as `Profile::load` will.
    Profile::parse(&text, &source_name).map_err(CliError::Profile)?;
    if profile_path.exists() && !args.force {
        return Err(CliError::Usage(format!(
            "{source_name} exists; pass --force to overwrite it"
        )));
    }
    write_atomically(profile_path, text.as_bytes())?;
    emit(
        out,
        &format!(
            "wrote {source_name} for mailbox {} (beacon RAIDA {})\n",
            args.mailbox,
            beacon_in(args, args.mailbox)
        ),
    )
}

fn beacon_in(args: &InitArgs, mailbox: MailboxId) -> u8 {
    args.beacon
        .iter()
        .rev()
        .find(|(listed, _)| *listed == mailbox)
        .map_or_else(
            || crate::directory::BeaconRule::SerialModulo.beacon_of(mailbox),
            |(_, raida)| *raida,
        )
}

fn raida_addresses(args: &InitArgs) -> Result<Vec<SocketAddrV4>, CliError> {
    match (&args.raidas[..], args.base_addr) {
        (raidas, None) if raidas.len() == RAIDA_COUNT => Ok(raidas.to_vec()),
        ([], Some(base)) => {
            let last_port = u32::from(base.port()) + RAIDA_COUNT as u32 - 1;
            if base.port() == 0 || last_port > u32::from(u16::MAX) {
                return Err(CliError::Usage(format!(
                    "--base-addr {base} cannot hold {RAIDA_COUNT} consecutive ports"
                )));
            }
            Ok((0..RAIDA_COUNT as u16)
                .map(|index| SocketAddrV4::new(*base.ip(), base.port() + index))
                .collect())
        }
        (raidas, None) => Err(CliError::Usage(format!(
            "--raidas lists {} addresses; give exactly {RAIDA_COUNT}",
            raidas.len()
        ))),
        _ => Err(CliError::Usage(
            "give exactly one of --raidas and --base-addr".to_string(),
        )),
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn profile_text(args: &InitArgs, ans: &[String], raidas: &[SocketAddrV4]) -> String {
    assert_eq!(ans.len(), RAIDA_COUNT, "one AN per RAIDA");
    assert_eq!(raidas.len(), RAIDA_COUNT, "one address per RAIDA");
    let mut text = format!(
        "# qmail profile of mailbox {}, written by `qmail init`. Format: `qmail --help`.\n\n\
         [identity]\ndenomination = {}\nserial_number = {}\n",
        args.mailbox, args.mailbox.denomination, args.mailbox.serial_number
    );
    if ans.iter().all(|an| Some(an) == ans.first()) {
        text.push_str(&format!("an = {}\n", toml_string(&ans[0])));
    } else {
        text.push_str("ans = [\n");
        for (index, an) in ans.iter().enumerate() {
            text.push_str(&format!("  {}, # RAIDA {index}\n", toml_string(an)));
        }
        text.push_str("]\n");
    }
    text.push_str(&format!(
        "upload_locker = {}\nfee_locker = {}\n\n[directory]\nraidas = [\n",
        toml_string(&args.upload_locker),
        toml_string(&args.fee_locker)
    ));
    for (index, addr) in raidas.iter().enumerate() {
        text.push_str(&format!("  \"{addr}\", # RAIDA {index}\n"));
    }
    text.push_str("]\ndefault_beacon = \"serial_mod_25\"\n");
    for (mailbox, raida) in &args.beacon {
        text.push_str(&format!(
            "\n[[directory.beacon]]\ndenomination = {}\nserial_number = {}\nraida = {raida}\n",
            mailbox.denomination, mailbox.serial_number
        ));
    }
    text
}

/// The 25 ANs (lowercase hex) of `mailbox` in a `raida` provisioning file: its `[[coin]]`
/// entry's `an` (repeated) or `ans`.
fn ans_from_provision(path: &Path, mailbox: MailboxId) -> Result<Vec<String>, CliError> {
    let bytes = read_bounded(
        "read provisioning file",
        path,
        PROVISION_FILE_SIZE_BYTES_MAX,
    )?;
    let content = |reason: String| CliError::Content {
        path: path.to_path_buf(),
        reason,
    };
    let text = String::from_utf8(bytes).map_err(|_| content("not UTF-8 text".to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| content(error.message().to_string()))?;
    let coins = table
        .get("coin")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| content("no [[coin]] entries".to_string()))?;
    let coin = coins
        .iter()
        .find(|coin| {
            coin.get("denomination").and_then(toml::Value::as_integer)
                == Some(i64::from(mailbox.denomination))
                && coin.get("serial_number").and_then(toml::Value::as_integer)
                    == Some(i64::from(mailbox.serial_number))
        })
        .ok_or_else(|| content(format!("no [[coin]] for mailbox {mailbox}")))?;
    let as_hex = |value: &toml::Value| value.as_str().map(str::to_ascii_lowercase);
    if let Some(an) = coin.get("an").and_then(as_hex) {
        return Ok(vec![an; RAIDA_COUNT]);
    }
    let ans: Option<Vec<String>> = coin
        .get("ans")
        .and_then(toml::Value::as_array)
        .map(|ans| ans.iter().map(as_hex).collect::<Option<Vec<String>>>())
        .and_then(|ans| ans);
    match ans {
        Some(ans) if ans.len() == RAIDA_COUNT => Ok(ans),
        _ => Err(content(format!(
            "the [[coin]] of mailbox {mailbox} has neither `an` nor {RAIDA_COUNT} `ans`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use rand_chacha::rand_core::SeedableRng;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("qmail").chain(args.iter().copied()))
    }

    fn env() -> RunEnv {
        RunEnv {
            clock: Arc::new(ManualClock::new(1_700_000_000)),
            rng: ChaCha8Rng::seed_from_u64(1),
            progress: false,
        }
    }

    fn run_now(cli: Cli) -> (Result<(), CliError>, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut out = Vec::new();
        let result = runtime.block_on(run(cli, env(), &mut out));
        (result, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn mailboxes_beacons_and_guids_parse_or_name_the_problem() {
        assert_eq!(parse_mailbox("1.1000"), Ok(MailboxId::new(1, 1000)));
        assert_eq!(parse_mailbox("-8.7"), Ok(MailboxId::new(-8, 7)));
        assert!(parse_mailbox("7.1").expect_err("range").contains("-8..=6"));
        assert!(parse_mailbox("1000").is_err());
        assert!(parse_mailbox("1.x").is_err());
        assert!(parse_mailbox("1.4294967296").is_err());
        assert_eq!(parse_beacon("2.5=24"), Ok((MailboxId::new(2, 5), 24)));
        assert!(parse_beacon("2.5=25")
            .expect_err("range")
            .contains("0..=24"));
        assert!(parse_beacon("2.5").is_err());
        let guid = parse_guid("00112233445566778899AABBCCDDEEFF").expect("hex");
        assert_eq!(hex(&guid), "00112233445566778899aabbccddeeff");
        assert!(parse_guid("0011").is_err());
        assert!(parse_guid("zz112233445566778899aabbccddeeff").is_err());
        assert!(parse_guid("+0112233445566778899aabbccddeeff").is_err());
    }

    #[test]
    fn command_line_shapes() {
        let cli = parse(&[
            "--profile",
            "a.toml",
            "send",
            "--to",
            "1.2",
            "--cc",
            "-1.3",
            "--bcc",
            "2.4",
            "--subject",
            "S",
            "--body",
            "B",
            "--attach",
            "x",
            "--attach",
            "y",
        ])
        .expect("parses");
        assert_eq!(cli.profile, PathBuf::from("a.toml"));
        let Command::Send(args) = cli.command else {
            panic!("send expected");
        };
        assert_eq!(args.cc, vec![MailboxId::new(-1, 3)]);
        assert_eq!(args.attachments.len(), 2);
        assert_eq!(args.edit_sequence, 0);
        // Exactly one body source.
        assert!(parse(&["send", "--to", "1.2", "--subject", "S"]).is_err());
        assert!(parse(&[
            "send",
            "--to",
            "1.2",
            "--subject",
            "S",
            "--body",
            "B",
            "--body-file",
            "f"
        ])
        .is_err());
        let cli = parse(&["fetch", "abcd", "--out", "d", "--state", "st"]).expect("parses");
        assert_eq!(cli.state, Some(PathBuf::from("st")));
        assert!(parse(&["peek", "--since", "-1"]).is_err());
        let help = Cli::try_parse_from(["qmail", "--help"])
            .expect_err("help")
            .to_string();
        assert!(help.contains("[identity]"), "{help}");
        assert!(help.contains("default_beacon"), "{help}");
    }

    #[test]
    fn body_file_format_and_subject() {
        let body = email_body("Hi there", b"line 1\nline 2").expect("one line");
        assert_eq!(body, b"Subject: Hi there\n\nline 1\nline 2");
        assert_eq!(subject_of(&body).as_deref(), Some("Hi there"));
        assert_eq!(subject_of(b"no subject"), None);
        assert!(matches!(
            email_body("two\nlines", b""),
            Err(CliError::Usage(_))
        ));
        assert_eq!(
            default_state_dir(Path::new("/x/alice.toml")),
            PathBuf::from("/x/alice.toml.state")
        );
        assert_eq!(output_file_name(0x01), "body.txt");
        assert_eq!(output_file_name(0x0B), "attachment-0b.bin");
    }

    fn record(guid: Guid, edit_sequence: u8) -> TellRecord {
        use qmail_wire::tell::{FileHeader, ManifestEntry, ServerEntry};
        let header = FileHeader {
            email_id: guid,
            sender_denomination: 1,
            sender_serial_number: 1000,
            edit_sequence,
            ..FileHeader::default()
        };
        let servers = (0..2)
            .map(|i| ServerEntry::new(i, i, i, SocketAddrV4::new([127, 0, 0, 1].into(), 9000)))
            .collect();
        let manifest = vec![ManifestEntry {
            file_type: FILE_TYPE_BODY,
            original_size: 12,
            ..ManifestEntry::default()
        }];
        TellRecord::new_v1(header, servers, manifest)
    }

    fn received(record: TellRecord) -> ReceivedTell {
        ReceivedTell {
            raw: record.to_bytes(),
            record,
        }
    }

    #[test]
    fn tell_store_keeps_exact_bytes_and_finds_the_newest_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TellStore::new(dir.path());
        assert_eq!(store.list().expect("empty"), Vec::new());
        let first = [0xAB; 16];
        let mut second = [0xAB; 16];
        second[15] = 0;
        for tell in [record(first, 0), record(first, 2), record(second, 1)] {
            let path = store.save(&received(tell.clone())).expect("saved");
            assert_eq!(fs::read(&path).expect("read"), tell.to_bytes());
        }
        assert_eq!(store.list().expect("list").len(), 3);
        let found = store.find(&hex(&first)).expect("found");
        assert_eq!(found.record, record(first, 2), "newest edit wins");
        assert!(
            matches!(store.find("abab"), Err(CliError::Usage(_))),
            "ambiguous"
        );
        assert!(
            matches!(store.find("ab"), Err(CliError::Usage(_))),
            "too short"
        );
        assert!(matches!(store.find("cdcd"), Err(CliError::NotFound { .. })));
        assert_eq!(
            store.find(&hex(&second)[..31]).expect("prefix").record,
            record(second, 1)
        );
        // A damaged state file is a typed error naming it, never a panic.
        fs::write(&found.path, b"garbage").expect("write");
        let error = store.list().expect_err("damaged");
        assert!(error.to_string().contains("not a tell record"), "{error}");
    }

    #[test]
    fn describe_names_guid_sender_and_files() {
        let line = describe_record(&record([0x01; 16], 3));
        assert_eq!(
            line,
            "mail 01010101010101010101010101010101 edit 3 from 1.1000: 1 files (body 12 B)"
        );
    }

    fn provision_file(dir: &Path) -> PathBuf {
        let ans: Vec<String> = (0..RAIDA_COUNT)
            .map(|i| format!("\"{:032x}\"", i + 1))
            .collect();
        let text = format!(
            "[[coin]]\ndenomination = 1\nserial_number = 1000\nan = \"{:032x}\"\n\n\
             [[coin]]\ndenomination = -2\nserial_number = 7\nans = [{}]\n\n\
             [[locker]]\ncode = \"PAYME\"\nbalance = 5\n",
            0xAA,
            ans.join(", ")
        );
        let path = dir.join("prov.toml");
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn init_writes_a_profile_that_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provision = provision_file(dir.path());
        let profile = dir.path().join("p.toml");
        let args = |mailbox: &str, force: bool| {
            let mut args = vec![
                "--profile".to_string(),
                profile.display().to_string(),
                "init".to_string(),
                "--mailbox".to_string(),
                mailbox.to_string(),
                "--provision".to_string(),
                provision.display().to_string(),
                "--base-addr".to_string(),
                "127.0.0.1:18000".to_string(),
                "--upload-locker".to_string(),
                "PAYME".to_string(),
                "--fee-locker".to_string(),
                "FEES \"x\"".to_string(),
                "--beacon".to_string(),
                "-2.7=9".to_string(),
            ];
            if force {
                args.push("--force".to_string());
            }
            Cli::try_parse_from(std::iter::once("qmail".to_string()).chain(args)).expect("cli")
        };
        let (result, out) = run_now(args("-2.7", false));
        result.expect("init");
        assert!(out.contains("beacon RAIDA 9"), "{out}");
        let loaded = Profile::load(&profile).expect("loads");
        assert_eq!(loaded.identity.mailbox, MailboxId::new(-2, 7));
        assert_eq!(
            loaded.identity.ans[24],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]
        );
        assert_eq!(loaded.directory.beacon_of(MailboxId::new(-2, 7)), 9);
        assert_eq!(
            loaded.directory.addr(24),
            Some("127.0.0.1:18024".parse().expect("a"))
        );
        // Existing file kept without --force.
        let (result, _) = run_now(args("1.1000", false));
        assert!(matches!(result, Err(CliError::Usage(_))));
        let (result, _) = run_now(args("1.1000", true));
        result.expect("forced");
        let mut same_an = [0u8; 16];
        same_an[15] = 0xAA;
        let loaded = Profile::load(&profile).expect("loads");
        assert_eq!(loaded.identity.ans, [same_an; RAIDA_COUNT]);
        // A coin the file does not hold.
        let (result, _) = run_now(args("1.999", true));
        let error = result.expect_err("unknown coin");
        assert!(
            error.to_string().contains("no [[coin]] for mailbox 1.999"),
            "{error}"
        );
    }

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

    #[test]
    fn upload_size_counts_every_stripe() {
        let n = DataStripeCount::new(7).expect("7");
        // 700 bytes: stripes of 100 bytes, 8 of them.
        assert_eq!(upload_size_bytes(&[700], n), 800);
        assert_eq!(upload_size_bytes(&[0, 1], n), 8);
    }
}
