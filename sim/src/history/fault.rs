//! [`FaultKind`]: what the world broke, as the history records it. Variants that destroy or
//! duplicate specific data name it (email, revision, stripe), so checkers can attribute a
//! violation to the fault on its path.

use serde::{Deserialize, Serialize};

use super::EmailId;

/// What the world broke. Variants that destroy or duplicate specific data say which.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// A host's clock jumped by `delta_us`.
    ClockStep {
        /// Signed jump, microseconds.
        delta_us: i64,
    },
    /// Links of the listed hosts became lossy or broke (turmoil `fail_rate`).
    LinkLoss,
    /// Two-way partition between the listed hosts (first against the rest).
    Partition,
    /// One-way partition from the first listed host to the second.
    OnewayPartition,
    /// Network faults of the listed hosts (all hosts when the list is empty) were repaired.
    Heal,
    /// Power loss: pending file operations dropped; at a named fs step when `step` is set.
    Crash {
        /// One of `raida_server::fs::Step::NAMES`, or `None` for a crash at a random time.
        step: Option<String>,
    },
    /// The software restarted (turmoil `bounce`), keeping pending file operations.
    Restart,
    /// The adversary re-sent a captured tell.
    Replay {
        /// Email of the replayed tell.
        email_id: EmailId,
        /// Its edit_sequence.
        edit_sequence: u8,
    },
    /// A tell was sent twice.
    DuplicateTell {
        /// Email of the duplicated tell.
        email_id: EmailId,
        /// Its edit_sequence.
        edit_sequence: u8,
    },
    /// An email's tells were sent before its uploads finished.
    TellBeforeUpload {
        /// The email.
        email_id: EmailId,
    },
    /// One stored stripe was deleted.
    StripeLost {
        /// The email (file GUID).
        email_id: EmailId,
        /// The file.
        file_type: u8,
        /// The stripe's index in its file's stripe set.
        stripe_index: u8,
    },
    /// One stored stripe's bytes were changed.
    StripeCorrupted {
        /// The email (file GUID).
        email_id: EmailId,
        /// The file.
        file_type: u8,
        /// The stripe's index in its file's stripe set.
        stripe_index: u8,
    },
    /// A RAIDA's yield points were armed (at the start of the run): its handlers may pause
    /// after the named file-system steps listed in the event's detail.
    Interleave,
    /// A RAIDA's file-system call failed with an injected I/O error (EIO).
    IoError {
        /// The operation (`read`, `write`, `sync`, `rename`, ...).
        op: String,
        /// The path it named.
        path: String,
    },
    /// A read on a RAIDA returned one byte flipped (a silent media error; the disk is intact).
    ReadCorrupted {
        /// The file read.
        path: String,
    },
    /// A write on a RAIDA failed because its disk was full (ENOSPC).
    DiskFull {
        /// The file written.
        path: String,
    },
    /// A crash applied a pending write to a file only in part (a torn write).
    TornWrite {
        /// The file torn.
        path: String,
    },
    /// The adversary sent a malformed request (`crate::faults::malformed`) and got this
    /// answer; recorded when the answer came or the attempt ended.
    MalformedRequest {
        /// What was wrong with it (`MalformedKind::name`).
        request: String,
        /// The RAIDA it went to.
        raida: u8,
        /// The status answered; `None` when no reply came.
        status: Option<u8>,
        /// The GUID the request named (a tell's, an upload's, a download's), if any.
        email_id: Option<EmailId>,
    },
}

impl FaultKind {
    /// Every fault name, in declaration order (used for per-kind counts).
    pub const NAMES: [&'static str; 18] = [
        "clock_step",
        "link_loss",
        "partition",
        "oneway_partition",
        "heal",
        "crash",
        "restart",
        "replay",
        "duplicate_tell",
        "tell_before_upload",
        "stripe_lost",
        "stripe_corrupted",
        "interleave",
        "io_error",
        "read_corrupted",
        "disk_full",
        "torn_write",
        "malformed_request",
    ];

    /// Stable snake_case name.
    pub const fn name(&self) -> &'static str {
        match self {
            FaultKind::ClockStep { .. } => "clock_step",
            FaultKind::LinkLoss => "link_loss",
            FaultKind::Partition => "partition",
            FaultKind::OnewayPartition => "oneway_partition",
            FaultKind::Heal => "heal",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Replay { .. } => "replay",
            FaultKind::DuplicateTell { .. } => "duplicate_tell",
            FaultKind::TellBeforeUpload { .. } => "tell_before_upload",
            FaultKind::StripeLost { .. } => "stripe_lost",
            FaultKind::StripeCorrupted { .. } => "stripe_corrupted",
            FaultKind::Interleave => "interleave",
            FaultKind::IoError { .. } => "io_error",
            FaultKind::ReadCorrupted { .. } => "read_corrupted",
            FaultKind::DiskFull { .. } => "disk_full",
            FaultKind::TornWrite { .. } => "torn_write",
            FaultKind::MalformedRequest { .. } => "malformed_request",
        }
    }

    /// The (email, edit_sequence) of a tell this fault sends again (replay or duplicate).
    pub const fn resent_tell(&self) -> Option<(EmailId, u8)> {
        match self {
            FaultKind::Replay {
                email_id,
                edit_sequence,
            }
            | FaultKind::DuplicateTell {
                email_id,
                edit_sequence,
            } => Some((*email_id, *edit_sequence)),
            _ => None,
        }
    }

    /// Faults that break connections or networks (an in-flight reply may be lost).
    pub const fn is_network(&self) -> bool {
        matches!(
            self,
            FaultKind::LinkLoss | FaultKind::Partition | FaultKind::OnewayPartition
        )
    }

    /// The file a storage fault hit (`None` for every other fault).
    pub fn storage_path(&self) -> Option<&str> {
        match self {
            FaultKind::IoError { path, .. }
            | FaultKind::ReadCorrupted { path }
            | FaultKind::DiskFull { path }
            | FaultKind::TornWrite { path } => Some(path),
            _ => None,
        }
    }

    /// Faults that can destroy a published tell or the reply carrying it.
    pub const fn can_destroy_tell(&self) -> bool {
        self.is_network() || matches!(self, FaultKind::Crash { .. } | FaultKind::Restart)
    }
}
