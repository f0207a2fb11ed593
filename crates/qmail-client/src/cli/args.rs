//! The `qmail` command line: the clap definitions of every subcommand, the profile format
//! shown by `qmail --help`, and the parsers of mailbox, beacon and GUID arguments.

use std::net::SocketAddrV4;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

use super::echo;
use super::limits::GUID_HEX_DIGITS;
use crate::identity::{Guid, MailboxId};
use crate::limits::RAIDA_COUNT;

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
  parity_algo = \"xor\"                       # or \"reed_solomon\" (k parity stripes)
  parity_count = 2                          # reed_solomon only: k; N + k <= 25
  send_policy = \"all_stripes\"               # or \"allow_one_missing_per_file\"
  storage_duration = \"month\"                # day week month three_months six_months year permanent
  concurrency_max = 8
  device_id = 0
  extensions = [\"delivery_ack\"]             # protocol extensions, default none:
                                            # delivery_ack, attachment_count; the beacons
                                            # must run them too (raida --extension NAME)

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::hex;
    use crate::cli::test_support::parse;

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
        // Every extension the profile can turn on is named in the help.
        for name in crate::extension::names() {
            assert!(help.contains(name), "{name} missing from the help");
        }
    }
}
