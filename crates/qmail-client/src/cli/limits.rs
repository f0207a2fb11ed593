//! Limits of the `qmail` command (beside the library's [`crate::limits`]), with the
//! compile-time checks that tie them together.

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

/// Longest attachment name a body's header block carries (bytes): the usual file-system
/// bound on one name.
pub const ATTACHMENT_NAME_SIZE_BYTES_MAX: usize = 255;

const _: () = assert!(GUID_PREFIX_HEX_DIGITS_MIN >= 1);
const _: () = assert!(GUID_PREFIX_HEX_DIGITS_MIN <= GUID_HEX_DIGITS);
const _: () = assert!(STATE_RECORD_SIZE_BYTES_MAX < PROVISION_FILE_SIZE_BYTES_MAX);
// A header block naming every attachment at the longest name (plus its `Attachment-TT: `
// prefix and line break) fits the largest body file.
const _: () = assert!(
    ((ATTACHMENT_NAME_SIZE_BYTES_MAX + 17) as u64)
        * (crate::limits::ATTACHMENTS_PER_EMAIL_MAX as u64)
        < crate::limits::FILE_SIZE_BYTES_MAX
);
// A progress bar is for files larger than one stripe's upload.
const _: () = assert!(PROGRESS_SIZE_BYTES_MIN > qmail_wire::limits::STRIPE_SIZE_BYTES_MAX as u64);
