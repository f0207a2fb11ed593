//! The byte reader, the big-endian writers and the [`Codec`] trait every wire type implements.
//!
//! Modelled on rustls `msgs/codec.rs`: a [`Reader`] walks a borrowed slice and every read names
//! the field it reads, so a short buffer becomes a [`DecodeError`] that says which field and at
//! which offset. Writing appends to a `Vec<u8>` and cannot fail. All multi-byte integers on the
//! QMail wire are big-endian.

use crate::error::{DecodeError, DecodeErrorKind};

/// A cursor over a borrowed byte slice. Reads never panic: running out of bytes is a
/// [`DecodeErrorKind::Truncated`] error naming the field.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// Bytes consumed so far: the offset of the next read from the start of the slice.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes not yet read.
    pub fn remaining_bytes(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining_bytes() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or(&[])
    }

    /// Consumes and returns `size_bytes` bytes of `field`.
    pub fn take(
        &mut self,
        field: &'static str,
        size_bytes: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let available_bytes = self.remaining_bytes();
        if size_bytes > available_bytes {
            return Err(DecodeError::new(
                field,
                self.offset,
                DecodeErrorKind::Truncated {
                    needed_bytes: size_bytes,
                    available_bytes,
                },
            ));
        }
        let start = self.offset;
        self.offset += size_bytes;
        assert!(self.offset <= self.bytes.len());
        Ok(&self.bytes[start..self.offset])
    }

    /// Consumes every remaining byte.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.peek_rest();
        self.offset = self.bytes.len();
        rest
    }

    /// Reads a fixed-size byte array.
    pub fn read_array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(field, N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// Reads one byte.
    pub fn read_u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.read_array::<1>(field)?[0])
    }

    /// Reads one signed byte (two's complement), as the denomination fields are.
    pub fn read_i8(&mut self, field: &'static str) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.read_array::<1>(field)?))
    }

    /// Reads a big-endian u16.
    pub fn read_u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a big-endian 3-byte unsigned integer.
    pub fn read_u24(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let [a, b, c] = self.read_array::<3>(field)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a big-endian u32.
    pub fn read_u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a big-endian u64.
    pub fn read_u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.read_array(field)?))
    }

    /// Fails with [`DecodeErrorKind::TrailingBytes`] unless every byte was read.
    pub fn expect_empty(&self, field: &'static str) -> Result<(), DecodeError> {
        let count = self.remaining_bytes();
        if count == 0 {
            Ok(())
        } else {
            Err(DecodeError::new(
                field,
                self.offset,
                DecodeErrorKind::TrailingBytes { count },
            ))
        }
    }
}

/// Appends a big-endian u16.
pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a big-endian 3-byte integer. Panics if `value` does not fit 24 bits (a caller bug).
pub fn put_u24(out: &mut Vec<u8>, value: u32) {
    assert!(
        value < (1 << 24),
        "u24 field value {value} does not fit 24 bits"
    );
    out.extend_from_slice(&value.to_be_bytes()[1..]);
}

/// Appends a big-endian u32.
pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a big-endian u64.
pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a signed byte.
pub fn put_i8(out: &mut Vec<u8>, value: i8) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// A wire type: encodes to bytes and decodes from them.
///
/// `encode` appends and is infallible (it asserts invariants a caller could break). `read`
/// consumes exactly the bytes of one value from a [`Reader`]. `from_bytes` additionally rejects
/// trailing bytes, so `from_bytes(x).to_bytes() == x` holds for every accepted `x`.
pub trait Codec: Sized {
    /// Appends the wire form of `self`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The wire form of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a value that spans all of `bytes`; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::read(&mut reader)?;
        if reader.remaining_bytes() > 0 {
            // Named only on failure: shortening the type name searches it for `::` (1% of a
            // storm's instructions when done for every decode).
            reader.expect_empty(type_short_name::<Self>())?;
        }
        Ok(value)
    }
}

/// The last path segment of a type name, used to name a whole structure in errors.
fn type_short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian() {
        let bytes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFF];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_u16("a").unwrap(), 0x0102);
        assert_eq!(r.read_u24("b").unwrap(), 0x030405);
        assert_eq!(r.read_u32("c").unwrap(), 0x0607_0809);
        assert_eq!(r.offset(), 9);
        assert_eq!(r.read_u8("d").unwrap(), 10);
        assert_eq!(r.read_i8("e").unwrap(), -1);
        assert!(r.is_empty());
        assert!(r.expect_empty("end").is_ok());
    }

    #[test]
    fn truncated_read_names_field_and_offset() {
        let mut r = Reader::new(&[1, 2, 3]);
        r.read_u8("first").unwrap();
        let error = r.read_u32("second").unwrap_err();
        assert_eq!(
            error,
            DecodeError::new(
                "second",
                1,
                DecodeErrorKind::Truncated {
                    needed_bytes: 4,
                    available_bytes: 2
                }
            )
        );
        // A failed read consumes nothing.
        assert_eq!(r.offset(), 1);
        assert_eq!(r.take_rest(), &[2, 3]);
    }

    #[test]
    fn writers_round_trip() {
        let mut out = Vec::new();
        put_u16(&mut out, 0xABCD);
        put_u24(&mut out, 0x12_3456);
        put_u32(&mut out, 0xDEAD_BEEF);
        put_u64(&mut out, 0x0102_0304_0506_0708);
        put_i8(&mut out, -8);
        let mut r = Reader::new(&out);
        assert_eq!(r.read_u16("a").unwrap(), 0xABCD);
        assert_eq!(r.read_u24("b").unwrap(), 0x12_3456);
        assert_eq!(r.read_u32("c").unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.read_u64("d").unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(r.read_i8("e").unwrap(), -8);
        assert!(r.is_empty());
    }

    #[test]
    #[should_panic(expected = "does not fit 24 bits")]
    fn put_u24_rejects_overflow() {
        put_u24(&mut Vec::new(), 1 << 24);
    }

    #[test]
    fn trailing_bytes_counted() {
        let mut r = Reader::new(&[0; 5]);
        r.take("x", 2).unwrap();
        assert_eq!(
            r.expect_empty("msg").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes { count: 3 }
        );
        assert_eq!(type_short_name::<DecodeError>(), "DecodeError");
    }
}
