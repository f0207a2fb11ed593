//! The one error type of the wire layer: why a byte string is not a valid message.
//!
//! Every decoder in this crate returns [`DecodeError`]. It names the field that failed, the byte
//! offset of that field from the start of the buffer being decoded (the decrypted body for
//! bodies, the packet for headers and packets), and what was wrong. Encoding cannot fail: it
//! asserts its invariants, because a bad value there is a bug in the caller, not bad input.
//!
//! [`DecodeError::status`] maps an error to the status a RAIDA answers with when a *request*
//! fails to decode that way: length problems are 16 (`ERROR_INVALID_PACKET_LENGTH`), field values
//! are 198 (`ERROR_INVALID_PARAMETER`), a missing terminator is 33 (`ERROR_INVALID_EOF`). The
//! decoders check lengths before field values (DECISIONS.md, "Length before fields").

use crate::status::Status;
use std::fmt;

/// A byte string that does not decode. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Name of the field (or structure) that failed, as the pages spell it.
    pub field: &'static str,
    /// Byte offset of that field from the start of the decoded buffer.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with the field named by a [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The buffer ended inside the field.
    Truncated {
        /// Bytes the field needs.
        needed_bytes: usize,
        /// Bytes that were left.
        available_bytes: usize,
    },
    /// Bytes were left after a complete message.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The field holds a value outside its domain (an unknown enum value).
    InvalidValue {
        /// The value found.
        value: u64,
        /// What the field may hold.
        expected: &'static str,
    },
    /// A length or count field holds a value no valid layout has (for example a tell with
    /// `address_count == 0`, or a download page longer than 256 KiB).
    LengthOutOfRange {
        /// The value found.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A declared length disagrees with the bytes present (cross-field rule), for example an
    /// upload whose `data_length` is not the number of data bytes that follow.
    Mismatch {
        /// The value the field declares.
        declared: u64,
        /// The value the rest of the message implies.
        actual: u64,
    },
    /// The body does not end in `3E 3E`.
    BadTerminator {
        /// The last two bytes found.
        found: [u8; 2],
    },
}

impl DecodeError {
    /// Builds an error.
    pub const fn new(field: &'static str, offset: usize, kind: DecodeErrorKind) -> Self {
        Self {
            field,
            offset,
            kind,
        }
    }

    /// Status a RAIDA sends when a request fails to decode with this error: 33 for a bad
    /// terminator, 198 for a field value outside its domain (for example an unknown upload
    /// `storage_duration`), 16 for every length problem.
    pub const fn status(&self) -> Status {
        match self.kind {
            DecodeErrorKind::BadTerminator { .. } => Status::InvalidEof,
            DecodeErrorKind::InvalidValue { .. } => Status::InvalidParameter,
            DecodeErrorKind::Truncated { .. }
            | DecodeErrorKind::TrailingBytes { .. }
            | DecodeErrorKind::LengthOutOfRange { .. }
            | DecodeErrorKind::Mismatch { .. } => Status::InvalidPacketLength,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}` at offset {}: ", self.field, self.offset)?;
        match self.kind {
            DecodeErrorKind::Truncated {
                needed_bytes,
                available_bytes,
            } => write!(
                f,
                "truncated, needs {needed_bytes} bytes, {available_bytes} available"
            ),
            DecodeErrorKind::TrailingBytes { count } => write!(f, "{count} trailing bytes"),
            DecodeErrorKind::InvalidValue { value, expected } => {
                write!(f, "invalid value {value}, expected {expected}")
            }
            DecodeErrorKind::LengthOutOfRange { value, min, max } => {
                write!(f, "length {value} outside {min}..={max}")
            }
            DecodeErrorKind::Mismatch { declared, actual } => {
                write!(f, "declares {declared} but the message implies {actual}")
            }
            DecodeErrorKind::BadTerminator { found } => write!(
                f,
                "terminator is {:02X} {:02X}, expected 3E 3E",
                found[0], found[1]
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_field_and_offset() {
        let error = DecodeError::new(
            "data_length",
            82,
            DecodeErrorKind::Mismatch {
                declared: 10,
                actual: 9,
            },
        );
        let text = error.to_string();
        assert!(text.contains("data_length"), "{text}");
        assert!(text.contains("82"), "{text}");
    }

    #[test]
    fn status_mapping() {
        let kinds = [
            (
                DecodeErrorKind::Truncated {
                    needed_bytes: 2,
                    available_bytes: 1,
                },
                Status::InvalidPacketLength,
            ),
            (
                DecodeErrorKind::TrailingBytes { count: 1 },
                Status::InvalidPacketLength,
            ),
            (
                DecodeErrorKind::LengthOutOfRange {
                    value: 0,
                    min: 1,
                    max: 255,
                },
                Status::InvalidPacketLength,
            ),
            (
                DecodeErrorKind::Mismatch {
                    declared: 1,
                    actual: 2,
                },
                Status::InvalidPacketLength,
            ),
            (
                DecodeErrorKind::InvalidValue {
                    value: 9,
                    expected: "0..=5 or 255",
                },
                Status::InvalidParameter,
            ),
            (
                DecodeErrorKind::BadTerminator { found: [0, 0] },
                Status::InvalidEof,
            ),
        ];
        for (kind, status) in kinds {
            let error = DecodeError::new("f", 0, kind);
            assert_eq!(error.status(), status, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }
}
