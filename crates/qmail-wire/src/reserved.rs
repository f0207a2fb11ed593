//! The reserved bytes of every wire structure, as data.
//!
//! Page 001 ("Reserved bytes available for protocol extension") catalogues the reserved fields
//! so extensions know which slots are free; the tell page 002 ("Multiple reserved regions")
//! adds their scopes and notes that file-header bytes 57 and 58 now carry `edit_sequence` and
//! `parity_algo`, so only 59–63 remain. The peek page 003 adds the request/response header
//! reserved bytes and `total_tells`. [`RESERVED_FIELDS`] lists them all; encoders write whatever
//! bytes the structs hold (zero by `Default`) and decoders hand them back untouched, which the
//! tests check for every row.
//!
//! Offsets are from the start of the named [`Structure`]; for [`Structure::DownloadRequest`]
//! that is the start of the decrypted download body (preamble included), where DECISIONS.md puts
//! `bytes_per_page` at 81 (page 001 says "offset 32" of the request struct; DECISIONS.md follows
//! the public client).

use std::ops::Range;

/// A wire structure that holds reserved bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Structure {
    /// The 32-byte request header ([`crate::header::RequestHeader`]).
    RequestHeader,
    /// The 32-byte response header ([`crate::header::ResponseHeader`]).
    ResponseHeader,
    /// The 48-byte preamble ([`crate::preamble::Preamble`]).
    Preamble,
    /// The 48-byte tell routing header ([`crate::tell::RoutingHeader`]).
    RoutingHeader,
    /// The 32-byte recipient entry ([`crate::tell::AddressEntry`]).
    AddressEntry,
    /// The 64-byte file header ([`crate::tell::FileHeader`]).
    FileHeader,
    /// The 32-byte server-location entry ([`crate::tell::ServerEntry`]).
    ServerEntry,
    /// The 16-byte manifest entry ([`crate::tell::ManifestEntry`]).
    ManifestEntry,
    /// The 85-byte decrypted download body ([`crate::body::DownloadBody`]).
    DownloadRequest,
    /// The 8-byte ping/peek reply array header ([`crate::response::TellList`]).
    TellArrayHeader,
}

impl Structure {
    /// The structure's size on the wire.
    pub const fn size_bytes(self) -> usize {
        use crate::limits as l;
        match self {
            Structure::RequestHeader | Structure::ResponseHeader => l::HEADER_SIZE_BYTES,
            Structure::Preamble => l::PREAMBLE_SIZE_BYTES,
            Structure::RoutingHeader => l::ROUTING_HEADER_SIZE_BYTES,
            Structure::AddressEntry => l::ADDRESS_ENTRY_SIZE_BYTES,
            Structure::FileHeader => l::FILE_HEADER_SIZE_BYTES,
            Structure::ServerEntry => l::SERVER_ENTRY_SIZE_BYTES,
            Structure::ManifestEntry => l::MANIFEST_ENTRY_SIZE_BYTES,
            Structure::DownloadRequest => l::DOWNLOAD_BODY_SIZE_BYTES,
            Structure::TellArrayHeader => l::TELL_ARRAY_HEADER_SIZE_BYTES,
        }
    }
}

/// Who reads a reserved field today, which says what an extension placed there reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Stored by the beacon verbatim and read back by the recipient (tell → ping/peek →
    /// download): per-email metadata from sender to recipient.
    PassThrough,
    /// Read by the beacon only; never reaches the recipient.
    BeaconLocal,
    /// Sent by the client; the server reads and ignores it.
    ServerIgnored,
    /// Written by the server (zero today); read by the client.
    ServerFilled,
}

/// One reserved field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservedField {
    /// The structure it lives in.
    pub structure: Structure,
    /// The field's name, as the codec struct spells it.
    pub name: &'static str,
    /// Offset from the start of the structure.
    pub offset: usize,
    /// Width in bytes.
    pub size_bytes: usize,
    /// Who reads it.
    pub scope: Scope,
    /// Where in the pages it is catalogued.
    pub source: &'static str,
}

impl ReservedField {
    /// The byte range within the structure.
    pub const fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.size_bytes
    }

    /// Whether `offset..offset + size_bytes` lies inside this field (an empty range never does).
    pub const fn contains(&self, offset: usize, size_bytes: usize) -> bool {
        size_bytes > 0
            && offset >= self.offset
            && offset + size_bytes <= self.offset + self.size_bytes
    }
}

const fn reserved(
    structure: Structure,
    name: &'static str,
    offset: usize,
    size_bytes: usize,
    scope: Scope,
    source: &'static str,
) -> ReservedField {
    ReservedField {
        structure,
        name,
        offset,
        size_bytes,
        scope,
        source,
    }
}

/// Every reserved field of the QMail wire format.
pub const RESERVED_FIELDS: &[ReservedField] = &[
    reserved(Structure::RequestHeader, "reserved", 9, 7, Scope::ServerIgnored,
        "peek page 003 request header: 9-15 reserved, zero-filled by rest_core"),
    reserved(Structure::ResponseHeader, "reserved", 8, 1, Scope::ServerFilled,
        "peek page 003 response header: 8 reserved, zero"),
    reserved(Structure::Preamble, "reserved_byte_31", 31, 1, Scope::ServerIgnored,
        "page 001 catalogue: universal preamble byte 31 (was device id)"),
    reserved(Structure::RoutingHeader, "reserved_1", 20, 4, Scope::BeaconLocal,
        "page 001 catalogue and tell page 002: routing reserved_1, body 68-71"),
    reserved(Structure::RoutingHeader, "beacon_payment_locker", 31, 16, Scope::BeaconLocal,
        "tell page 002 routing header 79-94: reserved for future beacon-side payments, parsed, unused"),
    reserved(Structure::RoutingHeader, "reserved_2", 47, 1, Scope::BeaconLocal,
        "page 001 catalogue and tell page 002: routing reserved_2, body 95"),
    reserved(Structure::AddressEntry, "reserved", 24, 8, Scope::BeaconLocal,
        "page 001 catalogue and tell page 002: address entry reserved 24-31"),
    reserved(Structure::FileHeader, "reserved", 59, 5, Scope::PassThrough,
        "tell page 002: file header 59-63 (57 edit_sequence and 58 parity_algo are defined)"),
    reserved(Structure::ServerEntry, "opaque", 3, 17, Scope::PassThrough,
        "tell page 002: server entry 3-19 opaque, zero-filled"),
    reserved(Structure::ServerEntry, "trailing", 28, 4, Scope::PassThrough,
        "tell page 002: server entry 28-31 trailing, zero-filled"),
    reserved(Structure::ManifestEntry, "reserved", 2, 2, Scope::PassThrough,
        "tell page 002: manifest entry 2-3 reserved, pass-through"),
    reserved(Structure::DownloadRequest, "bytes_per_page", 81, 1, Scope::ServerIgnored,
        "page 001 catalogue; DECISIONS.md download body 81"),
    reserved(Structure::TellArrayHeader, "total_tells", 1, 2, Scope::ServerFilled,
        "peek page 003 tell-list payload 1-2: zero-filled by the server"),
    reserved(Structure::TellArrayHeader, "reserved", 3, 5, Scope::ServerFilled,
        "page 001 catalogue: response array header reserved 3-7"),
];

/// The reserved field `name` of `structure`.
pub fn field(structure: Structure, name: &str) -> Option<&'static ReservedField> {
    RESERVED_FIELDS
        .iter()
        .find(|field| field.structure == structure && field.name == name)
}

/// Every reserved field of `structure`.
pub fn fields_of(structure: Structure) -> impl Iterator<Item = &'static ReservedField> {
    RESERVED_FIELDS
        .iter()
        .filter(move |field| field.structure == structure)
}

/// The reserved field that wholly contains the claimed range `offset..offset + size_bytes` of
/// `structure`, if any: what a protocol extension must check before claiming bytes.
pub fn field_containing(
    structure: Structure,
    offset: usize,
    size_bytes: usize,
) -> Option<&'static ReservedField> {
    fields_of(structure).find(|field| field.contains(offset, size_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::DownloadBody;
    use crate::codec::Codec;
    use crate::header::{RequestHeader, ResponseHeader};
    use crate::preamble::Preamble;
    use crate::response::TellList;
    use crate::tell::{AddressEntry, FileHeader, ManifestEntry, RoutingHeader, ServerEntry};

    #[test]
    fn fields_lie_inside_their_structure_and_do_not_overlap() {
        for (index, field) in RESERVED_FIELDS.iter().enumerate() {
            assert!(field.size_bytes > 0);
            assert!(
                field.range().end <= field.structure.size_bytes(),
                "{field:?}"
            );
            for other in &RESERVED_FIELDS[index + 1..] {
                if other.structure == field.structure {
                    assert!(
                        field.range().end <= other.offset || other.range().end <= field.offset,
                        "{field:?} overlaps {other:?}"
                    );
                    assert_ne!(field.name, other.name);
                }
            }
        }
    }

    #[test]
    fn lookups() {
        let file_reserved = field(Structure::FileHeader, "reserved").unwrap();
        assert_eq!(file_reserved.range(), 59..64);
        assert_eq!(file_reserved.scope, Scope::PassThrough);
        assert!(field(Structure::FileHeader, "edit_sequence").is_none());
        assert_eq!(
            field_containing(Structure::FileHeader, 60, 2),
            Some(file_reserved)
        );
        assert_eq!(field_containing(Structure::FileHeader, 58, 2), None);
        assert_eq!(field_containing(Structure::FileHeader, 63, 2), None);
        assert_eq!(field_containing(Structure::FileHeader, 60, 0), None);
        assert_eq!(
            field_containing(Structure::RoutingHeader, 20, 4).map(|f| f.name),
            Some("reserved_1")
        );
        assert_eq!(fields_of(Structure::ServerEntry).count(), 2);
    }

    /// A zero-filled valid encoding of `structure`.
    fn sample(structure: Structure) -> Vec<u8> {
        match structure {
            Structure::RequestHeader => RequestHeader::default().to_bytes(),
            Structure::ResponseHeader => ResponseHeader::default().to_bytes(),
            Structure::Preamble => Preamble::default().to_bytes(),
            Structure::RoutingHeader => RoutingHeader::default().to_bytes(),
            Structure::AddressEntry => AddressEntry::default().to_bytes(),
            Structure::FileHeader => FileHeader::default().to_bytes(),
            Structure::ServerEntry => ServerEntry::default().to_bytes(),
            Structure::ManifestEntry => ManifestEntry::default().to_bytes(),
            Structure::DownloadRequest => DownloadBody::default().to_bytes(),
            Structure::TellArrayHeader => TellList::default().to_bytes(),
        }
    }

    /// Decodes `bytes` as `structure` and returns the named field's bytes, the re-encoding, and
    /// the re-encoding with only that struct field reset to its default.
    fn decode_field(structure: Structure, name: &str, bytes: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        macro_rules! fields {
            ($ty:ty, $($name:literal => $field:ident),+) => {{
                let value = <$ty>::from_bytes(bytes).unwrap();
                let mut cleared = <$ty>::from_bytes(bytes).unwrap();
                let held: Vec<u8> = match name {
                    $($name => {
                        cleared.$field = Default::default();
                        value.$field.to_be_bytes_vec()
                    })+
                    _ => panic!("no struct field for reserved field {name}"),
                };
                (held, value.to_bytes(), cleared.to_bytes())
            }};
        }
        match structure {
            Structure::RequestHeader => fields!(RequestHeader, "reserved" => reserved),
            Structure::ResponseHeader => fields!(ResponseHeader, "reserved" => reserved),
            Structure::Preamble => fields!(Preamble, "reserved_byte_31" => reserved_byte_31),
            Structure::RoutingHeader => fields!(RoutingHeader,
                "reserved_1" => reserved_1,
                "beacon_payment_locker" => beacon_payment_locker,
                "reserved_2" => reserved_2),
            Structure::AddressEntry => fields!(AddressEntry, "reserved" => reserved),
            Structure::FileHeader => fields!(FileHeader, "reserved" => reserved),
            Structure::ServerEntry => {
                fields!(ServerEntry, "opaque" => opaque, "trailing" => trailing)
            }
            Structure::ManifestEntry => fields!(ManifestEntry, "reserved" => reserved),
            Structure::DownloadRequest => fields!(DownloadBody, "bytes_per_page" => bytes_per_page),
            Structure::TellArrayHeader => {
                fields!(TellList, "total_tells" => total_tells, "reserved" => reserved)
            }
        }
    }

    /// Big-endian bytes of a field value, whatever its type.
    trait ToBeBytesVec {
        fn to_be_bytes_vec(&self) -> Vec<u8>;
    }
    impl ToBeBytesVec for u8 {
        fn to_be_bytes_vec(&self) -> Vec<u8> {
            vec![*self]
        }
    }
    impl ToBeBytesVec for u16 {
        fn to_be_bytes_vec(&self) -> Vec<u8> {
            self.to_be_bytes().to_vec()
        }
    }
    impl<const N: usize> ToBeBytesVec for [u8; N] {
        fn to_be_bytes_vec(&self) -> Vec<u8> {
            self.to_vec()
        }
    }

    /// For every catalogued field: non-zero bytes at the catalogued offset decode into the named
    /// struct field and re-encode byte-identical.
    #[test]
    fn every_reserved_field_passes_through_at_its_offset() {
        for (index, field) in RESERVED_FIELDS.iter().enumerate() {
            let mut bytes = sample(field.structure);
            let pattern: Vec<u8> = (0..field.size_bytes)
                .map(|i| 0xA0 ^ (index as u8) ^ ((i as u8) << 4) | 1)
                .collect();
            bytes[field.range()].copy_from_slice(&pattern);
            let (held, reencoded, cleared) = decode_field(field.structure, field.name, &bytes);
            assert_eq!(held, pattern, "{field:?}");
            assert_eq!(reencoded, bytes, "{field:?}");
            // Resetting that one struct field gives the all-default encoding back: the struct
            // field holds exactly the catalogued range and nothing else moved.
            assert_eq!(cleared, sample(field.structure), "{field:?}");
        }
    }
}
