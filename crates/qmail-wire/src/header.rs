//! The two 32-byte plaintext RAIDA packet headers, and the command and encryption-type numbers.
//!
//! Layouts are the tables of the peek page 003 ("Request header", "Response header") and
//! DECISIONS.md ("Request header", "Response header"). Every byte is a typed field, reserved
//! bytes included, so decoding then encoding any 32 bytes gives them back unchanged. Decoding
//! checks nothing but length: which values a server accepts is [`crate::validate`]'s business
//! (shard 0–[`SHARD_ID_MAX`], encryption type 0 for echo or 1, DECISIONS.md "Interop with the
//! public RAIDA server").

use crate::codec::{put_i8, put_u16, put_u24, put_u32, Codec, Reader};
use crate::error::DecodeError;
use crate::limits::{
    HEADER_SIZE_BYTES, NONCE_SIZE_BYTES, RESPONSE_BODY_SIZE_BYTES_MAX, SHARD_ID_MAX,
};
use crate::status::Status;

/// Request header byte 0: the only router version servers accept.
pub const ROUTER_VERSION: u8 = 1;
/// Request header byte 1: the split id of a standard single-frame request.
pub const SPLIT_ID_SINGLE_FRAME: u8 = 0;
/// Request header byte 3: the shard id current rest_core sends.
pub const SHARD_ID_DEFAULT: u8 = 3;
// The shard id our clients send is one servers accept.
const _: () = assert!(SHARD_ID_DEFAULT <= SHARD_ID_MAX);
/// Request header byte 8: the bitfield current rest_core sends.
pub const BITFIELD_DEFAULT: u8 = 1;
/// Response header bytes 4–5: the legacy frame count.
pub const FRAME_COUNT_DEFAULT: u16 = 1;
/// Command group of echo.
pub const COMMAND_GROUP_ECHO: u8 = 0;
/// Command group of QMail.
pub const COMMAND_GROUP_QMAIL: u8 = 6;

/// The commands this project speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Command {
    /// Group 0 code 0: health check (DECISIONS.md, "Echo").
    Echo,
    /// Group 6 code 70: store one stripe.
    Upload,
    /// Group 6 code 71: notify a beacon.
    Tell,
    /// Group 6 code 72: long-poll a beacon.
    Ping,
    /// Group 6 code 73: non-blocking beacon check.
    Peek,
    /// Group 6 code 74: fetch one page of a stripe.
    Download,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 6] = [
        Command::Echo,
        Command::Upload,
        Command::Tell,
        Command::Ping,
        Command::Peek,
        Command::Download,
    ];

    /// Request header byte 4.
    pub const fn group(self) -> u8 {
        match self {
            Command::Echo => COMMAND_GROUP_ECHO,
            _ => COMMAND_GROUP_QMAIL,
        }
    }

    /// Request header byte 5.
    pub const fn code(self) -> u8 {
        match self {
            Command::Echo => 0,
            Command::Upload => 70,
            Command::Tell => 71,
            Command::Ping => 72,
            Command::Peek => 73,
            Command::Download => 74,
        }
    }

    /// The command with this (group, code), if any.
    pub const fn from_group_code(group: u8, code: u8) -> Option<Command> {
        match (group, code) {
            (COMMAND_GROUP_ECHO, 0) => Some(Command::Echo),
            (COMMAND_GROUP_QMAIL, 70) => Some(Command::Upload),
            (COMMAND_GROUP_QMAIL, 71) => Some(Command::Tell),
            (COMMAND_GROUP_QMAIL, 72) => Some(Command::Ping),
            (COMMAND_GROUP_QMAIL, 73) => Some(Command::Peek),
            (COMMAND_GROUP_QMAIL, 74) => Some(Command::Download),
            _ => None,
        }
    }

    /// Lower-case name as the pages use it.
    pub const fn name(self) -> &'static str {
        match self {
            Command::Echo => "echo",
            Command::Upload => "upload",
            Command::Tell => "tell",
            Command::Ping => "ping",
            Command::Peek => "peek",
            Command::Download => "download",
        }
    }
}

/// Request header byte 16, as far as this project implements it. The public server also knows
/// 2 (locker key, 32-byte header) and 4 and 5 (48-byte headers); every byte other than 0 and 1
/// is answered with 27 here (DECISIONS.md, "Interop with the public RAIDA server").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EncryptionType {
    /// Plaintext body; allowed only for echo. The server ignores bytes 17–21, signs with the
    /// challenge as it is and sends any payload in plaintext.
    None = 0,
    /// AES-128-CTR keyed by the AN named in bytes 17–21; required for group 6.
    Aes128Ctr = 1,
}

impl EncryptionType {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The type with this code, if known.
    pub const fn from_code(code: u8) -> Option<EncryptionType> {
        match code {
            0 => Some(EncryptionType::None),
            1 => Some(EncryptionType::Aes128Ctr),
            _ => None,
        }
    }
}

/// The 32-byte plaintext request header. Offsets are in the field docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    /// 0: router version, [`ROUTER_VERSION`].
    pub version: u8,
    /// 1: split id, [`SPLIT_ID_SINGLE_FRAME`].
    pub split_id: u8,
    /// 2: target RAIDA index 0–24.
    pub raida_id: u8,
    /// 3: shard id.
    pub shard_id: u8,
    /// 4: command group.
    pub command_group: u8,
    /// 5: command code.
    pub command_code: u8,
    /// 6–7: coin id, `00 06`.
    pub coin_id: u16,
    /// 8: bitfield.
    pub bitfield: u8,
    /// 9–15: reserved, zero-filled by rest_core.
    pub reserved: [u8; 7],
    /// 16: encryption type ([`EncryptionType`]).
    pub encryption_type: u8,
    /// 17: denomination of the coin whose AN keys the body.
    pub key_denomination: i8,
    /// 18–21: serial number of that coin.
    pub key_serial_number: u32,
    /// 22–23: body size in bytes, counting the 2-byte terminator.
    pub body_size_bytes: u16,
    /// 24–31: AES-CTR nonce.
    pub nonce: [u8; NONCE_SIZE_BYTES],
}

impl RequestHeader {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = HEADER_SIZE_BYTES;

    /// The command named by bytes 4–5, if known.
    pub const fn command(&self) -> Option<Command> {
        Command::from_group_code(self.command_group, self.command_code)
    }

    /// Request bytes 30–31 (the last two nonce bytes), which the response echoes at 6–7.
    pub const fn echo_bytes(&self) -> [u8; 2] {
        [self.nonce[6], self.nonce[7]]
    }
}

impl Codec for RequestHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.version);
        out.push(self.split_id);
        out.push(self.raida_id);
        out.push(self.shard_id);
        out.push(self.command_group);
        out.push(self.command_code);
        put_u16(out, self.coin_id);
        out.push(self.bitfield);
        out.extend_from_slice(&self.reserved);
        out.push(self.encryption_type);
        put_i8(out, self.key_denomination);
        put_u32(out, self.key_serial_number);
        put_u16(out, self.body_size_bytes);
        out.extend_from_slice(&self.nonce);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // One length check up front, so a short header reports the whole header as truncated.
        let mut r = Reader::new(r.take("request_header", Self::SIZE_BYTES)?);
        Ok(Self {
            version: r.read_u8("version")?,
            split_id: r.read_u8("split_id")?,
            raida_id: r.read_u8("raida_id")?,
            shard_id: r.read_u8("shard_id")?,
            command_group: r.read_u8("command_group")?,
            command_code: r.read_u8("command_code")?,
            coin_id: r.read_u16("coin_id")?,
            bitfield: r.read_u8("bitfield")?,
            reserved: r.read_array("reserved")?,
            encryption_type: r.read_u8("encryption_type")?,
            key_denomination: r.read_i8("key_denomination")?,
            key_serial_number: r.read_u32("key_serial_number")?,
            body_size_bytes: r.read_u16("body_size")?,
            nonce: r.read_array("nonce")?,
        })
    }
}

/// The 32-byte plaintext response header. Offsets are in the field docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseHeader {
    /// 0: responding RAIDA index.
    pub raida_id: u8,
    /// 1: shard id; the legacy response path writes 0.
    pub shard_id: u8,
    /// 2: status code ([`Status`]).
    pub status: u8,
    /// 3: command group of the request.
    pub command_group: u8,
    /// 4–5: frame count, [`FRAME_COUNT_DEFAULT`].
    pub frame_count: u16,
    /// 6–7: echo of request bytes 30–31.
    pub echo: [u8; 2],
    /// 8: reserved, zero.
    pub reserved: u8,
    /// 9–11: body size (payload + 2-byte terminator, or 0), a u24 on the wire.
    pub body_size_bytes: u32,
    /// 12–15: server execution time in microseconds.
    pub execution_time_us: u32,
    /// 16–31: challenge XOR key AN.
    pub signature: [u8; 16],
}

impl ResponseHeader {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = HEADER_SIZE_BYTES;

    /// The status byte, if known.
    pub const fn status(&self) -> Option<Status> {
        Status::from_code(self.status)
    }

    /// Whether the status byte is 250. Only such a reply has echo bytes and a signature a
    /// client checks; any other status is the answer as it stands.
    pub const fn is_success(&self) -> bool {
        self.status == Status::Success.code()
    }
}

impl Codec for ResponseHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(
            self.body_size_bytes as usize <= RESPONSE_BODY_SIZE_BYTES_MAX,
            "response body_size {} does not fit 24 bits",
            self.body_size_bytes
        );
        let start = out.len();
        out.push(self.raida_id);
        out.push(self.shard_id);
        out.push(self.status);
        out.push(self.command_group);
        put_u16(out, self.frame_count);
        out.extend_from_slice(&self.echo);
        out.push(self.reserved);
        put_u24(out, self.body_size_bytes);
        put_u32(out, self.execution_time_us);
        out.extend_from_slice(&self.signature);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut r = Reader::new(r.take("response_header", Self::SIZE_BYTES)?);
        Ok(Self {
            raida_id: r.read_u8("raida_id")?,
            shard_id: r.read_u8("shard_id")?,
            status: r.read_u8("status")?,
            command_group: r.read_u8("command_group")?,
            frame_count: r.read_u16("frame_count")?,
            echo: r.read_array("echo")?,
            reserved: r.read_u8("reserved")?,
            body_size_bytes: r.read_u24("body_size")?,
            execution_time_us: r.read_u32("execution_time_us")?,
            signature: r.read_array("signature")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_header_bytes_match_the_page_table() {
        let header = RequestHeader {
            version: ROUTER_VERSION,
            split_id: SPLIT_ID_SINGLE_FRAME,
            raida_id: 7,
            shard_id: SHARD_ID_DEFAULT,
            command_group: Command::Peek.group(),
            command_code: Command::Peek.code(),
            coin_id: 0x0006,
            bitfield: BITFIELD_DEFAULT,
            reserved: [0; 7],
            encryption_type: EncryptionType::Aes128Ctr.code(),
            key_denomination: -2,
            key_serial_number: 0x0102_0304,
            body_size_bytes: 54,
            nonce: [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7],
        };
        let bytes = header.to_bytes();
        assert_eq!(
            bytes,
            [
                0x01, 0x00, 7, 0x03, 0x06, 0x49, 0x00, 0x06, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xFE,
                1, 2, 3, 4, 0x00, 0x36, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7
            ]
        );
        assert_eq!(RequestHeader::from_bytes(&bytes).unwrap(), header);
        assert_eq!(header.echo_bytes(), [0xA6, 0xA7]);
        assert_eq!(header.command(), Some(Command::Peek));
    }

    #[test]
    fn response_header_layout() {
        let header = ResponseHeader {
            raida_id: 24,
            shard_id: 0,
            status: Status::Success.code(),
            command_group: 6,
            frame_count: FRAME_COUNT_DEFAULT,
            echo: [0xA6, 0xA7],
            reserved: 0,
            body_size_bytes: 10,
            execution_time_us: 0x0000_1234,
            signature: [0x55; 16],
        };
        let bytes = header.to_bytes();
        assert_eq!(
            &bytes[..16],
            &[24, 0, 0xFA, 6, 0, 1, 0xA6, 0xA7, 0, 0, 0, 10, 0, 0, 0x12, 0x34]
        );
        assert_eq!(&bytes[16..], &[0x55; 16]);
        assert_eq!(ResponseHeader::from_bytes(&bytes).unwrap(), header);
        assert_eq!(header.status(), Some(Status::Success));
        assert!(header.is_success());
        assert!(!ResponseHeader {
            status: Status::InvalidShardId.code(),
            ..header
        }
        .is_success());
    }

    #[test]
    #[should_panic(expected = "does not fit 24 bits")]
    fn response_body_size_must_fit_u24() {
        ResponseHeader {
            body_size_bytes: 1 << 24,
            ..ResponseHeader::default()
        }
        .to_bytes();
    }

    #[test]
    fn commands_round_trip() {
        for command in Command::ALL {
            assert_eq!(
                Command::from_group_code(command.group(), command.code()),
                Some(command)
            );
        }
        assert_eq!(Command::from_group_code(6, 60), None);
        assert_eq!(Command::from_group_code(0, 70), None);
        assert_eq!(EncryptionType::from_code(2), None);
        assert_eq!(
            EncryptionType::from_code(1),
            Some(EncryptionType::Aes128Ctr)
        );
    }

    #[test]
    fn short_header_is_truncated() {
        let error = RequestHeader::from_bytes(&[0; 31]).unwrap_err();
        assert_eq!(error.field, "request_header");
        assert_eq!(error.offset, 0);
        let error = ResponseHeader::from_bytes(&[0; 33]).unwrap_err();
        assert_eq!(
            error.kind,
            crate::error::DecodeErrorKind::TrailingBytes { count: 1 }
        );
    }
}
