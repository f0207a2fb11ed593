//! [`CliError`]: why a `qmail` command failed; its Display is the message the binary prints.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::error::ClientError;
use crate::profile::ProfileError;

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
