//! The 48-byte universal QMail preamble (`qmail_preamble_t`): the first 48 bytes of every
//! decrypted QMail request body (page 001, "Universal preamble").
//!
//! | body offset | size | field |
//! |---|---|---|
//! | 0–15 | 16 | challenge (12 random + BE CRC-32) |
//! | 16–23 | 8 | session id, zero for QMail |
//! | 24–25 | 2 | coin type `00 06` |
//! | 26 | 1 | denomination (signed) |
//! | 27–30 | 4 | serial number (BE) |
//! | 31 | 1 | reserved (was device id) |
//! | 32–47 | 16 | AN |
//!
//! Decoding checks nothing but length; the challenge CRC (37), the denomination range (40) and
//! the AN (200) are checked by the server through [`crate::validate`].

use crate::codec::{put_i8, put_u16, put_u32, Codec, Reader};
use crate::crypto::Challenge;
use crate::error::DecodeError;
use crate::limits::{AN_SIZE_BYTES, COIN_ID_CLOUDCOIN, PREAMBLE_SIZE_BYTES};

/// The universal preamble. See the module docs for offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Preamble {
    /// 0–15: challenge.
    pub challenge: Challenge,
    /// 16–23: session id; all zero in standard QMail encryption mode.
    pub session_id: [u8; 8],
    /// 24–25: coin type, [`COIN_ID_CLOUDCOIN`].
    pub coin_id: u16,
    /// 26: mailbox/caller denomination (−8…+6 valid).
    pub denomination: i8,
    /// 27–30: mailbox/caller serial number.
    pub serial_number: u32,
    /// 31: reserved (was device id); the server reads and ignores it.
    pub reserved_byte_31: u8,
    /// 32–47: the caller's AN on this RAIDA.
    pub an: [u8; AN_SIZE_BYTES],
}

impl Preamble {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = PREAMBLE_SIZE_BYTES;

    /// A standard preamble: zero session id, coin type `00 06`, reserved byte 0.
    pub fn new(
        challenge: Challenge,
        denomination: i8,
        serial_number: u32,
        an: [u8; AN_SIZE_BYTES],
    ) -> Self {
        Self {
            challenge,
            session_id: [0; 8],
            coin_id: COIN_ID_CLOUDCOIN,
            denomination,
            serial_number,
            reserved_byte_31: 0,
            an,
        }
    }
}

impl Codec for Preamble {
    fn encode(&self, out: &mut Vec<u8>) {
        // Sized once: a body starts with its preamble, and growing an empty Vec field by
        // field reallocated it three times per request.
        out.reserve(Self::SIZE_BYTES);
        let start = out.len();
        out.extend_from_slice(self.challenge.as_bytes());
        out.extend_from_slice(&self.session_id);
        put_u16(out, self.coin_id);
        put_i8(out, self.denomination);
        put_u32(out, self.serial_number);
        out.push(self.reserved_byte_31);
        out.extend_from_slice(&self.an);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let preamble = Self {
            challenge: Challenge(r.read_array("challenge")?),
            session_id: r.read_array("session_id")?,
            coin_id: r.read_u16("coin_type")?,
            denomination: r.read_i8("denomination")?,
            serial_number: r.read_u32("serial_number")?,
            reserved_byte_31: r.read_u8("reserved_byte_31")?,
            an: r.read_array("an")?,
        };
        assert_eq!(r.offset() - start, Self::SIZE_BYTES);
        Ok(preamble)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_page_001() {
        let challenge = Challenge::from_random([1; 12]);
        let mut preamble = Preamble::new(challenge, -8, 0x0A0B_0C0D, [0xEE; 16]);
        preamble.reserved_byte_31 = 0x31;
        let bytes = preamble.to_bytes();
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[..16], challenge.as_bytes());
        assert_eq!(&bytes[16..24], &[0; 8]);
        assert_eq!(&bytes[24..26], &[0x00, 0x06]);
        assert_eq!(bytes[26], 0xF8);
        assert_eq!(&bytes[27..31], &[0x0A, 0x0B, 0x0C, 0x0D]);
        assert_eq!(bytes[31], 0x31);
        assert_eq!(&bytes[32..], &[0xEE; 16]);
        assert_eq!(Preamble::from_bytes(&bytes).unwrap(), preamble);
    }

    #[test]
    fn truncated_preamble_names_the_field() {
        let bytes = Preamble::default().to_bytes();
        let error = Preamble::from_bytes(&bytes[..40]).unwrap_err();
        assert_eq!(error.field, "an");
        assert_eq!(error.offset, 32);
    }
}
