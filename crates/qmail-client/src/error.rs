//! The one error type of the client: [`ClientError`].
//!
//! Every error about a request names the RAIDA (index and address) and the command; a status
//! error names the status by its `protocol.h` symbol and code. A reply's status byte is judged
//! first: any status but 250 becomes [`ClientError::Status`] as it stands, and only a 250 can
//! be a [`ReplyFault`] (wrong echo bytes or signature; DECISIONS.md "Interop with the public
//! RAIDA server": a real RAIDA's header-error replies carry echo `00 00` and a zero signature). Errors above the request layer
//! (a send whose uploads did not all land, a file that cannot be rebuilt) carry the per-stripe
//! errors that caused them, so a report says which stripe failed where and why.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use qmail_wire::header::Command;
use qmail_wire::{DecodeError, Status};

use crate::config::ConfigError;
use crate::identity::Guid;
use crate::stripe::StripeError;

/// One RAIDA, as errors and observer events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RaidaRef {
    /// RAIDA index 0–24.
    pub index: u8,
    /// The address the client used.
    pub addr: SocketAddr,
}

impl fmt::Display for RaidaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RAIDA {} ({})", self.index, self.addr)
    }
}

/// Which step of one request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportPhase {
    /// Opening the TCP connection.
    Connect,
    /// Writing the request.
    Write,
    /// Reading the 32-byte response header.
    ReadHeader,
    /// Reading the `body_size` bytes after it.
    ReadBody,
}

impl fmt::Display for TransportPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportPhase::Connect => "connect",
            TransportPhase::Write => "write",
            TransportPhase::ReadHeader => "read of the response header",
            TransportPhase::ReadBody => "read of the response body",
        })
    }
}

/// Why a 250 reply is not a valid answer to the request it follows (other statuses are never
/// checked this way), or why a reply cannot be framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyFault {
    /// Response byte 0 names another RAIDA.
    WrongRaidaId { found: u8 },
    /// Response byte 3 is not the request's command group.
    WrongCommandGroup { found: u8 },
    /// Response bytes 6–7 do not echo request bytes 30–31.
    EchoMismatch { expected: [u8; 2], found: [u8; 2] },
    /// A success reply whose signature is not the challenge XOR the AN (or, for a plaintext
    /// type-0 echo, not the challenge itself).
    BadSignature,
    /// The declared body is larger than any valid reply to this command.
    BodyTooLarge {
        size_bytes: usize,
        size_bytes_max: usize,
    },
    /// A success reply with a payload where the command has none.
    UnexpectedPayload { size_bytes: usize },
    /// A success reply without the payload the command needs.
    MissingPayload,
    /// The payload does not decode (with the agreed `response_counter`).
    Decode(DecodeError),
    /// A download page that is not the page asked for.
    WrongPage { reason: String },
}

impl fmt::Display for ReplyFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongRaidaId { found } => write!(f, "reply names RAIDA {found}"),
            Self::WrongCommandGroup { found } => write!(f, "reply names command group {found}"),
            Self::EchoMismatch { expected, found } => write!(
                f,
                "reply echoes {:02x}{:02x}, expected {:02x}{:02x}",
                found[0], found[1], expected[0], expected[1]
            ),
            Self::BadSignature => write!(
                f,
                "reply signature is not the challenge XOR the AN (the challenge, for type 0)"
            ),
            Self::BodyTooLarge {
                size_bytes,
                size_bytes_max,
            } => write!(
                f,
                "reply body of {size_bytes} bytes exceeds the {size_bytes_max} this command allows"
            ),
            Self::UnexpectedPayload { size_bytes } => {
                write!(f, "unexpected reply payload of {size_bytes} bytes")
            }
            Self::MissingPayload => write!(f, "success reply without its payload"),
            Self::Decode(error) => write!(
                f,
                "reply payload does not decode (is response_counter the server's?): {error}"
            ),
            Self::WrongPage { reason } => write!(f, "wrong download page: {reason}"),
        }
    }
}

/// One stripe that could not be stored or fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeFailure {
    /// The file (0x01 body, 0x0A.. attachments).
    pub file_type: u8,
    /// Stripe index 0..=N (N is the parity stripe).
    pub stripe_index: usize,
    /// The RAIDA that should hold it.
    pub raida_index: u8,
    /// Why it failed.
    pub error: ClientError,
}

impl fmt::Display for StripeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "file {:#04x} stripe {} on RAIDA {}: {}",
            self.file_type, self.stripe_index, self.raida_index, self.error
        )
    }
}

/// Everything that can go wrong in the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A connect, write or read failed.
    Io {
        raida: RaidaRef,
        command: Command,
        phase: TransportPhase,
        kind: io::ErrorKind,
        message: String,
    },
    /// A connect, write or read took longer than its timeout.
    Timeout {
        raida: RaidaRef,
        command: Command,
        phase: TransportPhase,
        timeout: Duration,
    },
    /// The RAIDA answered with an error status.
    Status {
        raida: RaidaRef,
        command: Command,
        status_code: u8,
    },
    /// The reply is not a valid answer to the request.
    BadReply {
        raida: RaidaRef,
        command: Command,
        fault: ReplyFault,
    },
    /// The caller asked for something the protocol cannot carry.
    InvalidInput { reason: String },
    /// The settings are invalid.
    Config(ConfigError),
    /// A file is larger than the stripe set can carry; refused before any upload.
    FileTooLarge { file_type: u8, error: StripeError },
    /// Some stripes could not be stored, more than the send policy allows; no tell was sent.
    UploadIncomplete {
        email_id: Guid,
        failures: Vec<StripeFailure>,
    },
    /// A tell record that cannot be downloaded from (legacy v0, bad server entries, …).
    RecordUnusable { email_id: Guid, reason: String },
    /// A file could not be rebuilt: too many stripes missing or corrupt.
    FileUnrecoverable {
        email_id: Guid,
        file_type: u8,
        failures: Vec<StripeFailure>,
        cause: StripeError,
    },
}

impl ClientError {
    /// The status code of a [`ClientError::Status`].
    pub fn status_code(&self) -> Option<u8> {
        match self {
            Self::Status { status_code, .. } => Some(*status_code),
            _ => None,
        }
    }

    /// Whether a retry on a fresh connection may succeed: I/O failures, timeouts, and the
    /// transient server statuses 194 (`ERROR_FILESYSTEM`) and 254 (`ERROR_MEMORY_ALLOC`).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Timeout { .. } => true,
            Self::Status { status_code, .. } => matches!(
                Status::from_code(*status_code),
                Some(Status::Filesystem | Status::MemoryAlloc)
            ),
            _ => false,
        }
    }

    /// The RAIDA a request error is about.
    pub fn raida(&self) -> Option<RaidaRef> {
        match self {
            Self::Io { raida, .. }
            | Self::Timeout { raida, .. }
            | Self::Status { raida, .. }
            | Self::BadReply { raida, .. } => Some(*raida),
            _ => None,
        }
    }
}

/// `STATUS_NAME (code)`, or `unknown status (code)`.
pub fn status_text(status_code: u8) -> String {
    match Status::from_code(status_code) {
        Some(status) => status.to_string(),
        None => format!("unknown status ({status_code})"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn write_failures(f: &mut fmt::Formatter<'_>, failures: &[StripeFailure]) -> fmt::Result {
    for (position, failure) in failures.iter().enumerate() {
        let separator = if position == 0 { "" } else { "; " };
        write!(f, "{separator}{failure}")?;
    }
    Ok(())
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                raida,
                command,
                phase,
                kind,
                message,
            } => {
                write!(f, "{raida}: {} {phase} failed: ", command.name())?;
                if message.is_empty() {
                    write!(f, "{kind}")
                } else {
                    write!(f, "{message}")
                }
            }
            Self::Timeout {
                raida,
                command,
                phase,
                timeout,
            } => write!(
                f,
                "{raida}: {} {phase} timed out after {} ms",
                command.name(),
                timeout.as_millis()
            ),
            Self::Status {
                raida,
                command,
                status_code,
            } => write!(
                f,
                "{raida} answered {} with {}",
                command.name(),
                status_text(*status_code)
            ),
            Self::BadReply {
                raida,
                command,
                fault,
            } => write!(f, "{raida}: bad {} reply: {fault}", command.name()),
            Self::InvalidInput { reason } => write!(f, "invalid input: {reason}"),
            Self::Config(error) => write!(f, "{error}"),
            Self::FileTooLarge { file_type, error } => {
                write!(f, "file {file_type:#04x} refused before upload: {error}")
            }
            Self::UploadIncomplete { email_id, failures } => {
                write!(
                    f,
                    "email {}: {} stripes could not be stored, more than the send policy \
                     allows; no tell sent: ",
                    hex(email_id),
                    failures.len()
                )?;
                write_failures(f, failures)
            }
            Self::RecordUnusable { email_id, reason } => {
                write!(f, "email {}: tell record unusable: {reason}", hex(email_id))
            }
            Self::FileUnrecoverable {
                email_id,
                file_type,
                failures,
                cause,
            } => {
                let indexes: Vec<usize> = failures.iter().map(|f| f.stripe_index).collect();
                write!(
                    f,
                    "email {} file {file_type:#04x}: cannot rebuild ({cause}); stripes {} \
                     failed: ",
                    hex(email_id),
                    crate::stripe::index_list(&indexes)
                )?;
                write_failures(f, failures)
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<ConfigError> for ClientError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raida() -> RaidaRef {
        RaidaRef {
            index: 4,
            addr: SocketAddr::from(([10, 0, 0, 4], 7000)),
        }
    }

    #[test]
    fn status_error_names_raida_address_and_status() {
        let error = ClientError::Status {
            raida: raida(),
            command: Command::Upload,
            status_code: 169,
        };
        let text = error.to_string();
        assert!(text.contains("RAIDA 4"), "{text}");
        assert!(text.contains("10.0.0.4:7000"), "{text}");
        assert!(text.contains("ERROR_PAYMENT_REQUIRED (169)"), "{text}");
        assert!(text.contains("upload"), "{text}");
        assert!(!error.is_transient());
        assert_eq!(error.status_code(), Some(169));
        assert_eq!(status_text(99), "unknown status (99)");
    }

    #[test]
    fn errors_read_as_plain_words() {
        let reset = |message: &str| ClientError::Io {
            raida: raida(),
            command: Command::Download,
            phase: TransportPhase::ReadHeader,
            kind: io::ErrorKind::ConnectionReset,
            message: message.to_string(),
        };
        assert_eq!(
            reset("Connection reset by peer (os error 104)").to_string(),
            "RAIDA 4 (10.0.0.4:7000): download read of the response header failed: Connection \
             reset by peer (os error 104)"
        );
        assert_eq!(
            reset("").to_string(),
            "RAIDA 4 (10.0.0.4:7000): download read of the response header failed: connection \
             reset"
        );
        let timeout = ClientError::Timeout {
            raida: raida(),
            command: Command::Ping,
            phase: TransportPhase::Connect,
            timeout: Duration::from_millis(1_500),
        };
        assert_eq!(
            timeout.to_string(),
            "RAIDA 4 (10.0.0.4:7000): ping connect timed out after 1500 ms"
        );
        let unrecoverable = ClientError::FileUnrecoverable {
            email_id: [0xAB; 16],
            file_type: 0x0A,
            failures: Vec::new(),
            cause: StripeError::TooManyMissing {
                missing_indexes: vec![0, 3, 5],
            },
        };
        let text = unrecoverable.to_string();
        assert!(
            text.contains("cannot rebuild (stripes 0, 3 and 5 are missing"),
            "{text}"
        );
        assert!(!text.contains('['), "{text}");
        let fault = crate::stripe::StripeFault::Missing { stripe_index: 0 };
        assert_eq!(fault.to_string(), "stripe 0 was missing");
        let config = crate::config::Config {
            connect_timeout: Duration::ZERO,
            ..crate::config::Config::default()
        };
        let text = ClientError::from(config.validate().expect_err("zero")).to_string();
        assert_eq!(
            text,
            "setting `connect_timeout`: 0 ms is outside 1..=3600000 ms"
        );
    }

    #[test]
    fn transient_errors() {
        let filesystem = ClientError::Status {
            raida: raida(),
            command: Command::Download,
            status_code: 194,
        };
        assert!(filesystem.is_transient());
        let timeout = ClientError::Timeout {
            raida: raida(),
            command: Command::Peek,
            phase: TransportPhase::ReadHeader,
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        assert!(timeout.to_string().contains("read of the response header"));
        let bad = ClientError::BadReply {
            raida: raida(),
            command: Command::Peek,
            fault: ReplyFault::BadSignature,
        };
        assert!(!bad.is_transient());
        assert_eq!(bad.raida(), Some(raida()));
    }
}
