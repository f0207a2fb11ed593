//! `qmail echo [--raida N | --all] [--plain]`: the health check an operator runs first.
//!
//! One echo (group 0, code 0; DECISIONS.md "Echo") to each RAIDA of the profile — all 25 by
//! default, or RAIDA N — at most `concurrency_max` in flight, each a single attempt (no
//! retries: the time printed is one round trip). One line per RAIDA, in index order:
//!
//! ```text
//! RAIDA  0  127.0.0.1:18000            0.4 ms  STATUS_SUCCESS (250)
//! RAIDA  1  127.0.0.1:18001            0.3 ms  ERROR_INVALID_CRC (37)
//! RAIDA  2  127.0.0.1:18002            0.1 ms  no reply: connect failed: connection refused
//! 23 of 25 RAIDAs answered 250
//! ```
//!
//! The status is judged first, as for every request (DECISIONS.md "Interop with the public
//! RAIDA server"), so a real RAIDA's header error shows as its named status. By default the
//! echo is encrypted (type 1): a 250 also proves the RAIDA holds this mailbox's coin and AN
//! (an unknown coin is 34, a wrong AN 37). `--plain` sends encryption type 0, which asks only
//! "is it up". The command fails (exit status 1) when any RAIDA did not answer 250.

use std::io::Write;
use std::time::Duration;

use clap::{ArgGroup, Args};
use qmail_wire::header::EncryptionType;

use super::{client, emit, CliError, RunEnv};
use crate::client::Client;
use crate::error::{status_text, ClientError, RaidaRef};
use crate::join::join_bounded;
use crate::limits::RAIDA_COUNT;
use crate::observer::NoopObserver;
use crate::profile::Profile;
use crate::transport::Connector;

/// `qmail echo`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["raida", "all"])))]
pub struct EchoArgs {
    /// Echo only RAIDA N (0..=24).
    #[arg(long, value_name = "N", value_parser = parse_raida_index)]
    pub raida: Option<u8>,
    /// Echo every RAIDA of the profile (the default).
    #[arg(long)]
    pub all: bool,
    /// Send the echo as plaintext (encryption type 0): checks that each RAIDA is up, not that
    /// it holds this mailbox's coin.
    #[arg(long)]
    pub plain: bool,
}

impl EchoArgs {
    /// The RAIDA indexes to echo, in order.
    pub fn targets(&self) -> Vec<u8> {
        match self.raida {
            Some(raida_index) => vec![raida_index],
            None => (0..RAIDA_COUNT as u8).collect(),
        }
    }

    /// Header byte 16 of every echo.
    pub fn encryption(&self) -> EncryptionType {
        if self.plain {
            EncryptionType::None
        } else {
            EncryptionType::Aes128Ctr
        }
    }
}

/// A RAIDA index, 0..=24.
pub fn parse_raida_index(text: &str) -> Result<u8, String> {
    text.parse::<u8>()
        .ok()
        .filter(|index| usize::from(*index) < RAIDA_COUNT)
        .ok_or_else(|| format!("`{text}`: expected a RAIDA index 0..=24"))
}

/// What one echo came to.
#[derive(Debug)]
pub struct EchoResult {
    /// The RAIDA.
    pub raida: RaidaRef,
    /// From the first byte sent to the last byte read (or the failure).
    pub round_trip: Duration,
    /// `Ok` for a 250.
    pub outcome: Result<(), ClientError>,
}

impl EchoResult {
    /// The status, or why there is none, as the report prints it.
    pub fn outcome_text(&self) -> String {
        match &self.outcome {
            Ok(()) => status_text(qmail_wire::Status::Success.code()),
            Err(ClientError::Status { status_code, .. }) => status_text(*status_code),
            Err(ClientError::Io { phase, kind, .. }) => {
                format!("no reply: {phase} failed: {kind}")
            }
            Err(ClientError::Timeout { phase, timeout, .. }) => {
                format!(
                    "no reply: {phase} timed out after {} ms",
                    timeout.as_millis()
                )
            }
            Err(ClientError::BadReply { fault, .. }) => format!("bad reply: {fault}"),
            Err(other) => other.to_string(),
        }
    }

    /// The report line: index, address, round-trip time, status.
    pub fn line(&self) -> String {
        let address = self.raida.addr.to_string();
        let round_trip_ms = self.round_trip.as_secs_f64() * 1000.0;
        format!(
            "RAIDA {:>2}  {address:<21} {round_trip_ms:>8.1} ms  {}",
            self.raida.index,
            self.outcome_text()
        )
    }
}

/// Echoes `targets` with at most the client's `concurrency_max` in flight; results in the
/// order of `targets`.
pub async fn echo_all<C: Connector>(
    client: &Client<C>,
    targets: &[u8],
    encryption: EncryptionType,
) -> Result<Vec<EchoResult>, ClientError> {
    let mut raidas = Vec::with_capacity(targets.len());
    for raida_index in targets {
        raidas.push(client.raida(*raida_index)?);
    }
    let echoes = raidas
        .into_iter()
        .map(|raida| {
            Box::pin(async move {
                let start = tokio::time::Instant::now();
                let outcome = client.echo_with(raida.index, encryption).await;
                EchoResult {
                    raida,
                    round_trip: start.elapsed(),
                    outcome,
                }
            })
        })
        .collect();
    Ok(join_bounded(echoes, client.config().concurrency_max).await)
}

/// `qmail echo`: prints one line per RAIDA and a summary; fails when any RAIDA did not
/// answer 250.
pub(super) async fn echo<W: Write>(
    mut profile: Profile,
    env: RunEnv,
    args: &EchoArgs,
    out: &mut W,
) -> Result<(), CliError> {
    // One attempt per RAIDA: the time printed is one round trip, and a down RAIDA is
    // reported without waiting through the backoff.
    profile.config.retries_max = 0;
    let client = client(profile, env, std::sync::Arc::new(NoopObserver))?;
    let targets = args.targets();
    let results = echo_all(&client, &targets, args.encryption()).await?;
    let mut text: String = results
        .iter()
        .map(|result| format!("{}\n", result.line()))
        .collect();
    let answered = results
        .iter()
        .filter(|result| result.outcome.is_ok())
        .count();
    text.push_str(&format!(
        "{answered} of {} RAIDAs answered 250\n",
        results.len()
    ));
    emit(out, &text)?;
    let failures: Vec<String> = results
        .iter()
        .filter(|result| result.outcome.is_err())
        .map(EchoResult::line)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: "echo".to_string(),
            failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportPhase;
    use std::net::SocketAddr;

    fn raida(index: u8) -> RaidaRef {
        RaidaRef {
            index,
            addr: SocketAddr::from(([127, 0, 0, 1], 18_000 + u16::from(index))),
        }
    }

    #[test]
    fn raida_indexes_parse_or_name_the_range() {
        assert_eq!(parse_raida_index("0"), Ok(0));
        assert_eq!(parse_raida_index("24"), Ok(24));
        assert!(parse_raida_index("25").unwrap_err().contains("0..=24"));
        assert!(parse_raida_index("-1").is_err());
        let all = EchoArgs {
            raida: None,
            all: false,
            plain: false,
        };
        assert_eq!(all.targets().len(), RAIDA_COUNT);
        assert_eq!(all.encryption(), EncryptionType::Aes128Ctr);
        let one = EchoArgs {
            raida: Some(7),
            all: false,
            plain: true,
        };
        assert_eq!(one.targets(), vec![7]);
        assert_eq!(one.encryption(), EncryptionType::None);
    }

    #[test]
    fn command_line_shapes() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(std::iter::once("qmail").chain(args.iter().copied()))
        };
        for args in [
            &["echo"][..],
            &["echo", "--all"],
            &["echo", "--raida", "24", "--plain"],
        ] {
            let cli = parse(args).expect("parses");
            assert!(
                matches!(cli.command, crate::cli::Command::Echo(_)),
                "{args:?}"
            );
        }
        assert!(parse(&["echo", "--raida", "3", "--all"]).is_err());
        assert!(parse(&["echo", "--raida", "25"]).is_err());
    }

    #[test]
    fn lines_name_index_address_time_and_status() {
        let ok = EchoResult {
            raida: raida(3),
            round_trip: Duration::from_micros(1_250),
            outcome: Ok(()),
        };
        assert_eq!(
            ok.line(),
            "RAIDA  3  127.0.0.1:18003            1.2 ms  STATUS_SUCCESS (250)"
        );
        let shard = EchoResult {
            raida: raida(12),
            round_trip: Duration::from_millis(2),
            outcome: Err(ClientError::Status {
                raida: raida(12),
                command: qmail_wire::header::Command::Echo,
                status_code: 4,
            }),
        };
        assert!(shard.line().starts_with("RAIDA 12  127.0.0.1:18012"));
        assert!(shard.line().ends_with("2.0 ms  ERROR_INVALID_SHARD_ID (4)"));
        let refused = EchoResult {
            raida: raida(2),
            round_trip: Duration::ZERO,
            outcome: Err(ClientError::Io {
                raida: raida(2),
                command: qmail_wire::header::Command::Echo,
                phase: TransportPhase::Connect,
                kind: std::io::ErrorKind::ConnectionRefused,
                message: "refused".to_string(),
            }),
        };
        assert_eq!(
            refused.outcome_text(),
            "no reply: connect failed: connection refused"
        );
    }
}
