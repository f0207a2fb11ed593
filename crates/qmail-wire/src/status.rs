//! The RAIDA status byte (response header byte 2), as far as QMail and its packet layer use it.
//!
//! Codes and symbols come from the status tables of pages 001–004 and from DECISIONS.md (header
//! checks 2, 3, 7, 255; echo; "Interop with the public RAIDA server": 4 for a shard above 3, 27
//! for an encryption type other than 0 and 1). Codes 5 and 6 are not in the pages: they are the
//! standard RAIDA `protocol.h` values for an unknown command group and an unknown command code,
//! which a server needs for requests outside group 0 / group 6. Every symbol is the one the
//! public server's `protocol.h` gives the code.

use std::fmt;

macro_rules! statuses {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $symbol:literal; )*) => {
        /// A RAIDA status code. See the module docs for where each comes from.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Status {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl Status {
            /// Every status, in code order.
            pub const ALL: &'static [Status] = &[$(Status::$variant,)*];

            /// The byte on the wire.
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The `protocol.h` symbol (`ERROR_*` or `STATUS_SUCCESS`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Status::$variant => $symbol, )*
                }
            }

            /// The status with this code, if the project knows it.
            pub const fn from_code(code: u8) -> Option<Status> {
                match code {
                    $( $code => Some(Status::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// Request header byte 1 (split id) is not 0 (DECISIONS.md).
    InvalidSplitId = 2, "ERROR_INVALID_SPLIT_ID";
    /// Request header byte 2 names another RAIDA (DECISIONS.md).
    InvalidRaidaId = 3, "ERROR_INVALID_RAIDA_ID";
    /// Request header byte 3 (shard id) is above 3 (DECISIONS.md, "Interop").
    InvalidShardId = 4, "ERROR_INVALID_SHARD_ID";
    /// Unknown command group (standard RAIDA `protocol.h`, not in the QMail pages).
    InvalidCommandGroup = 5, "ERROR_INVALID_COMMAND_GROUP";
    /// Unknown command code within a known group (standard RAIDA `protocol.h`).
    InvalidCommand = 6, "ERROR_INVALID_COMMAND";
    /// Request header bytes 6–7 are not `00 06` (DECISIONS.md).
    InvalidCoinId = 7, "ERROR_INVALID_COIN_ID";
    /// The (denomination, SN) of the preamble is not loaded on this RAIDA.
    CoinNotFound = 8, "ERROR_COIN_NOT_FOUND";
    /// Body too short, sizes disagree, or a tell count is zero.
    InvalidPacketLength = 16, "ERROR_INVALID_PACKET_LENGTH";
    /// A parked ping expired (ping page 004: the current server's timeout status).
    UdpFrameTimeout = 17, "ERROR_UDP_FRAME_TIMEOUT";
    /// Tell: no recipient inbox was written.
    WrongRaida = 18, "ERROR_WRONG_RAIDA";
    /// Request header byte 16 is an encryption type other than 0 and 1 (DECISIONS.md,
    /// "Interop": the public server answers 27 for every type it does not know).
    InvalidEncryptionCode = 27, "ERROR_INVALID_ENCRYPTION_CODE";
    /// The body does not end in `3E 3E`.
    InvalidEof = 33, "ERROR_INVALID_EOF";
    /// The body cannot be decrypted: unknown key coin, key denomination outside −8…+6, or
    /// encryption type 0 on a command other than echo.
    InvalidEncryption = 34, "ERROR_INVALID_ENCRYPTION";
    /// The decrypted challenge CRC does not match.
    InvalidCrc = 37, "ERROR_INVALID_CRC";
    /// A denomination outside −8…+6.
    InvalidSnOrDenomination = 40, "ERROR_INVALID_SN_OR_DENOMINATION";
    /// A locker payment could not be taken.
    PaymentRequired = 169, "ERROR_PAYMENT_REQUIRED";
    /// The server's filesystem failed.
    Filesystem = 194, "ERROR_FILESYSTEM";
    /// A field value failed validation.
    InvalidParameter = 198, "ERROR_INVALID_PARAMETER";
    /// The preamble AN is not the stored AN.
    InvalidAn = 200, "ERROR_INVALID_AN";
    /// Download: no such (GUID, file_type).
    FileNotExist = 202, "ERROR_FILE_NOT_EXIST";
    /// The long-poll timeout some clients expect (`RAIDA_STATUS_TIMEOUT`); clients must accept it
    /// as well as 17 (DECISIONS.md).
    Timeout = 245, "RAIDA_STATUS_TIMEOUT";
    /// Success.
    Success = 250, "STATUS_SUCCESS";
    /// The server could not allocate memory.
    MemoryAlloc = 254, "ERROR_MEMORY_ALLOC";
    /// Request header byte 0 (router version) is not 1 (DECISIONS.md).
    InvalidRouting = 255, "ERROR_INVALID_ROUTING";
}

impl Status {
    /// Whether this status means a parked ping timed out without mail: 17, or the 245 some
    /// clients expect (DECISIONS.md, `ping_timeout_status`).
    pub const fn is_ping_timeout(self) -> bool {
        matches!(self, Status::UdpFrameTimeout | Status::Timeout)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(*status));
        }
        let known = (0..=u8::MAX).filter_map(Status::from_code).count();
        assert_eq!(known, Status::ALL.len());
    }

    #[test]
    fn codes_match_the_pages() {
        let expected: [(u8, &str); 24] = [
            (2, "ERROR_INVALID_SPLIT_ID"),
            (3, "ERROR_INVALID_RAIDA_ID"),
            (4, "ERROR_INVALID_SHARD_ID"),
            (5, "ERROR_INVALID_COMMAND_GROUP"),
            (6, "ERROR_INVALID_COMMAND"),
            (7, "ERROR_INVALID_COIN_ID"),
            (8, "ERROR_COIN_NOT_FOUND"),
            (16, "ERROR_INVALID_PACKET_LENGTH"),
            (17, "ERROR_UDP_FRAME_TIMEOUT"),
            (18, "ERROR_WRONG_RAIDA"),
            (27, "ERROR_INVALID_ENCRYPTION_CODE"),
            (33, "ERROR_INVALID_EOF"),
            (34, "ERROR_INVALID_ENCRYPTION"),
            (37, "ERROR_INVALID_CRC"),
            (40, "ERROR_INVALID_SN_OR_DENOMINATION"),
            (169, "ERROR_PAYMENT_REQUIRED"),
            (194, "ERROR_FILESYSTEM"),
            (198, "ERROR_INVALID_PARAMETER"),
            (200, "ERROR_INVALID_AN"),
            (202, "ERROR_FILE_NOT_EXIST"),
            (245, "RAIDA_STATUS_TIMEOUT"),
            (250, "STATUS_SUCCESS"),
            (254, "ERROR_MEMORY_ALLOC"),
            (255, "ERROR_INVALID_ROUTING"),
        ];
        assert_eq!(expected.len(), Status::ALL.len());
        for (code, name) in expected {
            let status = Status::from_code(code).expect("known code");
            assert_eq!(status.name(), name);
        }
        assert_eq!(Status::Success.to_string(), "STATUS_SUCCESS (250)");
        assert!(Status::UdpFrameTimeout.is_ping_timeout());
        assert!(Status::Timeout.is_ping_timeout());
        assert!(!Status::Success.is_ping_timeout());
    }
}
