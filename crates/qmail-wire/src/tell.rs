//! The tell structures: routing header, recipient address entry, and the tell record (the
//! content of one `.tell` file: file header, server-location entries, file manifest).
//!
//! Layouts are the tables of the tell page 002; the record parsing rule is the peek/ping pages'
//! "Tell record structure". Every byte is a typed field, so all structures round-trip
//! byte-for-byte, reserved and invalid values included: decoders only refuse what cannot be laid
//! out. Which values a beacon accepts is [`crate::validate`]'s business.
//!
//! A record's size is `64 + 32 × M + manifest_len` where M is `stripe_count` (file-header byte
//! 29) and `manifest_len` is bytes 54–55: never `64 + 32 × M` alone, or the reader lands inside
//! the manifest. Inside a tell *request* M is the routing header's `server_count` instead (the
//! body-size formula uses it, DECISIONS.md), so a body whose `stripe_count` differs still decodes
//! and the validator can answer 198. A legacy (manifest v0) record may be followed by an 18-byte
//! footer (tag 0x50, length 16, recipient locker) in stored files and replies; the record reader
//! keeps it when the next bytes are exactly that tag and length.
//!
//! A manifest whose `manifest_len` is not a multiple of 16 is representable too: whole 16-byte
//! entries go to `manifest`, the remainder to `manifest_excess` (empty in every valid record).

use crate::codec::{put_i8, put_u16, put_u32, put_u64, Codec, Reader};
use crate::error::DecodeError;
use crate::limits::{
    ADDRESS_ENTRY_SIZE_BYTES, COIN_ID_CLOUDCOIN, FILE_HEADER_SIZE_BYTES, GUID_SIZE_BYTES,
    LEGACY_FOOTER_SIZE_BYTES, LOCKER_CODE_SIZE_BYTES, MANIFEST_ENTRY_SIZE_BYTES,
    ROUTING_HEADER_SIZE_BYTES, SERVER_ENTRY_SIZE_BYTES,
};
use std::net::{Ipv4Addr, SocketAddrV4};

/// `tell_type` of an email tell, the only one accepted today.
pub const TELL_TYPE_EMAIL: u8 = 0;
/// File-header `version` byte.
pub const FILE_HEADER_VERSION: u8 = 0x02;
/// `manifest_version` of a legacy pre-manifest record.
pub const MANIFEST_VERSION_LEGACY: u8 = 0;
/// `manifest_version` every new sender writes.
pub const MANIFEST_VERSION_CURRENT: u8 = 1;
/// `manifest_flags` bit 0: the 18-byte recipient footer is not part of the record.
pub const MANIFEST_FLAG_FOOTER_REMOVED: u8 = 0x01;
/// `manifest_flags` bit 1: every manifest entry carries a CRC-32.
pub const MANIFEST_FLAG_CRC32_PRESENT: u8 = 0x02;
/// `manifest_flags` bits 2–7, reserved (must be zero in manifest v1).
pub const MANIFEST_FLAGS_RESERVED_MASK: u8 = 0xFC;
/// `parity_algo` 0: RAID-5 XOR with one parity stripe (DECISIONS.md, "Striping").
pub const PARITY_ALGO_RAID5_XOR: u8 = 0;
/// Manifest `file_type` of the email body; always the first entry.
pub const FILE_TYPE_BODY: u8 = 0x01;
/// Manifest `file_type` of the first attachment; later ones count up from here.
pub const FILE_TYPE_ATTACHMENT_FIRST: u8 = 0x0A;
/// Manifest `file_flags` bit 0: the body.
pub const FILE_FLAG_BODY: u8 = 0x01;
/// Manifest `file_flags` bit 1: an attachment.
pub const FILE_FLAG_ATTACHMENT: u8 = 0x02;
/// Server entry `stripe_type` of a data stripe.
pub const STRIPE_TYPE_DATA: u8 = 0;
/// Server entry `stripe_type` of the parity stripe.
pub const STRIPE_TYPE_PARITY: u8 = 1;
/// Server entry bytes 20–21 of an IPv4-mapped address.
pub const IPV4_MARKER: [u8; 2] = [0xFF, 0xFF];
/// First byte of the legacy recipient footer.
pub const LEGACY_FOOTER_TAG: u8 = 0x50;
/// Second byte of the legacy recipient footer: the locker's length.
pub const LEGACY_FOOTER_LENGTH: u8 = 16;

/// A locker code or locker key from ASCII text, NUL padded to 16 bytes; `None` if the text is
/// longer than 16 bytes or not ASCII.
pub fn locker_from_ascii(text: &str) -> Option<[u8; LOCKER_CODE_SIZE_BYTES]> {
    if !text.is_ascii() || text.len() > LOCKER_CODE_SIZE_BYTES {
        return None;
    }
    let mut locker = [0u8; LOCKER_CODE_SIZE_BYTES];
    locker[..text.len()].copy_from_slice(text.as_bytes());
    Some(locker)
}

/// Whether a locker key is empty: all sixteen bytes zero (tell page, address entries).
pub fn locker_is_empty(locker: &[u8; LOCKER_CODE_SIZE_BYTES]) -> bool {
    locker.iter().all(|byte| *byte == 0)
}

/// The tell routing header (`qmail_tell_req_t`), body offsets 48–95. Offsets below are from the
/// start of the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoutingHeader {
    /// 0–15: the email GUID; must equal the file header's.
    pub email_id: [u8; GUID_SIZE_BYTES],
    /// 16–19: total size; not validated on the routing header.
    pub total_file_size: u32,
    /// 20–23: reserved (beacon-local).
    pub reserved_1: [u8; 4],
    /// 24–27: sender clock, Unix seconds.
    pub client_timestamp_s: u32,
    /// 28: must be [`TELL_TYPE_EMAIL`].
    pub tell_type: u8,
    /// 29: number of address entries (R), must be > 0.
    pub address_count: u8,
    /// 30: number of server entries (M), must be > 0 and equal `stripe_count`.
    pub server_count: u8,
    /// 31–46: reserved for beacon-side payments; parsed, unused.
    pub beacon_payment_locker: [u8; LOCKER_CODE_SIZE_BYTES],
    /// 47: reserved (beacon-local).
    pub reserved_2: u8,
}

impl RoutingHeader {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = ROUTING_HEADER_SIZE_BYTES;
}

impl Codec for RoutingHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.email_id);
        put_u32(out, self.total_file_size);
        out.extend_from_slice(&self.reserved_1);
        put_u32(out, self.client_timestamp_s);
        out.push(self.tell_type);
        out.push(self.address_count);
        out.push(self.server_count);
        out.extend_from_slice(&self.beacon_payment_locker);
        out.push(self.reserved_2);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            email_id: r.read_array("routing.email_id")?,
            total_file_size: r.read_u32("routing.total_file_size")?,
            reserved_1: r.read_array("routing.reserved_1")?,
            client_timestamp_s: r.read_u32("routing.client_timestamp")?,
            tell_type: r.read_u8("routing.tell_type")?,
            address_count: r.read_u8("routing.address_count")?,
            server_count: r.read_u8("routing.server_count")?,
            beacon_payment_locker: r.read_array("routing.beacon_payment_locker")?,
            reserved_2: r.read_u8("routing.reserved_2")?,
        })
    }
}

/// Address entry byte 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecipientKind {
    /// 0.
    To = 0,
    /// 1.
    Cc = 1,
    /// 2.
    Bcc = 2,
    /// 3.
    Mass = 3,
}

impl RecipientKind {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this code, if known.
    pub const fn from_code(code: u8) -> Option<RecipientKind> {
        match code {
            0 => Some(RecipientKind::To),
            1 => Some(RecipientKind::Cc),
            2 => Some(RecipientKind::Bcc),
            3 => Some(RecipientKind::Mass),
            _ => None,
        }
    }
}

/// One recipient (`qmail_address_entry_t`), 32 bytes. The kind is kept as its raw byte so any
/// value round-trips; [`AddressEntry::kind`] interprets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressEntry {
    /// 0: recipient kind code ([`RecipientKind`]).
    pub kind_code: u8,
    /// 1–2: network id, `00 06`.
    pub coin_id: u16,
    /// 3: recipient mailbox denomination.
    pub denomination: i8,
    /// 4–7: recipient mailbox serial number.
    pub serial_number: u32,
    /// 8–23: funded locker paying this recipient's inbox fee; must not be all zero.
    pub locker_payment_key: [u8; LOCKER_CODE_SIZE_BYTES],
    /// 24–31: reserved (beacon-local).
    pub reserved: [u8; 8],
}

impl AddressEntry {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = ADDRESS_ENTRY_SIZE_BYTES;

    /// A standard entry: coin id `00 06`, zero reserved bytes.
    pub fn new(
        kind: RecipientKind,
        denomination: i8,
        serial_number: u32,
        locker_payment_key: [u8; LOCKER_CODE_SIZE_BYTES],
    ) -> Self {
        Self {
            kind_code: kind.code(),
            coin_id: COIN_ID_CLOUDCOIN,
            denomination,
            serial_number,
            locker_payment_key,
            reserved: [0; 8],
        }
    }

    /// The recipient kind, if the byte is a known one.
    pub const fn kind(&self) -> Option<RecipientKind> {
        RecipientKind::from_code(self.kind_code)
    }
}

impl Codec for AddressEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.kind_code);
        put_u16(out, self.coin_id);
        put_i8(out, self.denomination);
        put_u32(out, self.serial_number);
        out.extend_from_slice(&self.locker_payment_key);
        out.extend_from_slice(&self.reserved);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            kind_code: r.read_u8("address.type")?,
            coin_id: r.read_u16("address.coin_id")?,
            denomination: r.read_i8("address.denomination")?,
            serial_number: r.read_u32("address.serial_number")?,
            locker_payment_key: r.read_array("address.locker_payment_key")?,
            reserved: r.read_array("address.reserved")?,
        })
    }
}

/// The 64-byte file header (`qmail_file_header_t`), the start of every tell record. Offsets are
/// from the start of the record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileHeader {
    /// 0–15: email GUID, same as the routing header's.
    pub email_id: [u8; GUID_SIZE_BYTES],
    /// 16–17: must be `00 06`.
    pub sender_coin_id: u16,
    /// 18: must equal the preamble denomination.
    pub sender_denomination: i8,
    /// 19–22: must equal the preamble serial number.
    pub sender_serial_number: u32,
    /// 23: device tag; logged, not enforced.
    pub sender_device_id: u8,
    /// 24–27: sender clock, Unix seconds; checked independently of the routing timestamp.
    pub client_timestamp_s: u32,
    /// 28: must be [`TELL_TYPE_EMAIL`].
    pub tell_type: u8,
    /// 29: number of server entries (M), 1…32.
    pub stripe_count: u8,
    /// 30–45: locker/download key passed to the recipient.
    pub locker_code: [u8; LOCKER_CODE_SIZE_BYTES],
    /// 46–49: original size of the body file (0x01).
    pub total_file_size: u32,
    /// 50: [`FILE_HEADER_VERSION`].
    pub version: u8,
    /// 51: [`MANIFEST_VERSION_CURRENT`] or [`MANIFEST_VERSION_LEGACY`].
    pub manifest_version: u8,
    /// 52: number of manifest entries (N) in v1, 0 in v0.
    pub file_count: u8,
    /// 53: 16 in v1, 0 in v0.
    pub file_entry_size: u8,
    /// 54–55: manifest length in bytes; `file_count × file_entry_size` in v1, 0 in v0.
    pub manifest_len: u16,
    /// 56: bit 0 footer removed, bit 1 CRC-32 present, bits 2–7 reserved.
    pub manifest_flags: u8,
    /// 57: sender's revision counter (0 original, 1+ edits).
    pub edit_sequence: u8,
    /// 58: fault-tolerance algorithm ([`PARITY_ALGO_RAID5_XOR`]).
    pub parity_algo: u8,
    /// 59–63: reserved pass-through tail; must be zero in v1.
    pub reserved: [u8; 5],
}

impl FileHeader {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = FILE_HEADER_SIZE_BYTES;

    /// The record size the pages define: `64 + stripe_count × 32 + manifest_len` (without a
    /// legacy footer). This is how a reader advances from one record to the next.
    pub const fn record_size_bytes(&self) -> usize {
        FILE_HEADER_SIZE_BYTES
            + self.stripe_count as usize * SERVER_ENTRY_SIZE_BYTES
            + self.manifest_len as usize
    }

    /// Whether this is a legacy pre-manifest record.
    pub const fn is_legacy(&self) -> bool {
        self.manifest_version == MANIFEST_VERSION_LEGACY
    }

    /// The edit sequence the beacon compares: byte 57, or 0 for a legacy v0 record (tell page;
    /// DECISIONS.md "A reader of older records treats 57 as 0").
    pub const fn edit_sequence_effective(&self) -> u8 {
        if self.is_legacy() {
            0
        } else {
            self.edit_sequence
        }
    }

    /// Whether the manifest entries carry CRC-32s that a receiver must verify.
    pub const fn crc32_present(&self) -> bool {
        self.manifest_flags & MANIFEST_FLAG_CRC32_PRESENT != 0
    }
}

impl Codec for FileHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.email_id);
        put_u16(out, self.sender_coin_id);
        put_i8(out, self.sender_denomination);
        put_u32(out, self.sender_serial_number);
        out.push(self.sender_device_id);
        put_u32(out, self.client_timestamp_s);
        out.push(self.tell_type);
        out.push(self.stripe_count);
        out.extend_from_slice(&self.locker_code);
        put_u32(out, self.total_file_size);
        out.push(self.version);
        out.push(self.manifest_version);
        out.push(self.file_count);
        out.push(self.file_entry_size);
        put_u16(out, self.manifest_len);
        out.push(self.manifest_flags);
        out.push(self.edit_sequence);
        out.push(self.parity_algo);
        out.extend_from_slice(&self.reserved);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            email_id: r.read_array("file_header.email_id")?,
            sender_coin_id: r.read_u16("file_header.sender_coin_id")?,
            sender_denomination: r.read_i8("file_header.sender_denomination")?,
            sender_serial_number: r.read_u32("file_header.sender_serial_number")?,
            sender_device_id: r.read_u8("file_header.sender_device_id")?,
            client_timestamp_s: r.read_u32("file_header.client_timestamp")?,
            tell_type: r.read_u8("file_header.tell_type")?,
            stripe_count: r.read_u8("file_header.stripe_count")?,
            locker_code: r.read_array("file_header.locker_code")?,
            total_file_size: r.read_u32("file_header.total_file_size")?,
            version: r.read_u8("file_header.version")?,
            manifest_version: r.read_u8("file_header.manifest_version")?,
            file_count: r.read_u8("file_header.file_count")?,
            file_entry_size: r.read_u8("file_header.file_entry_size")?,
            manifest_len: r.read_u16("file_header.manifest_len")?,
            manifest_flags: r.read_u8("file_header.manifest_flags")?,
            edit_sequence: r.read_u8("file_header.edit_sequence")?,
            parity_algo: r.read_u8("file_header.parity_algo")?,
            reserved: r.read_array("file_header.reserved")?,
        })
    }
}

/// One 32-byte server-location entry: which RAIDA holds which stripe, and where to reach it.
///
/// Bytes 20–21 are kept raw as `address_marker`. When they are `FF FF` (the IPv4-mapped form
/// every current sender writes), bytes 22–27 are an IPv4 address and port and
/// [`ServerEntry::socket_addr`] returns them; any other marker means the entry names no usable
/// address, `socket_addr` returns `None`, and a client falls back to its own directory entry for
/// `server_id`. Decoding never rejects the marker: the beacon passes entries through verbatim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServerEntry {
    /// 0: position of the stripe in the stripe set, 0…M−1.
    pub stripe_index: u8,
    /// 1: [`STRIPE_TYPE_DATA`] or [`STRIPE_TYPE_PARITY`].
    pub stripe_type: u8,
    /// 2: RAIDA index 0–24 holding the stripe.
    pub server_id: u8,
    /// 3–19: opaque, zero-filled by current senders (the peek page splits it into stripe-id
    /// reserved 3–9 and an IPv6 prefix 10–19).
    pub opaque: [u8; 17],
    /// 20–21: [`IPV4_MARKER`] for an IPv4-mapped address.
    pub address_marker: [u8; 2],
    /// 22–25: IPv4 octets of the storage RAIDA.
    pub ipv4: [u8; 4],
    /// 26–27: TCP port of the storage RAIDA.
    pub port: u16,
    /// 28–31: trailing bytes, zero-filled by current senders.
    pub trailing: [u8; 4],
}

impl ServerEntry {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = SERVER_ENTRY_SIZE_BYTES;

    /// An entry with an IPv4-mapped address and zero opaque/trailing bytes.
    pub fn new(stripe_index: u8, stripe_type: u8, server_id: u8, address: SocketAddrV4) -> Self {
        Self {
            stripe_index,
            stripe_type,
            server_id,
            opaque: [0; 17],
            address_marker: IPV4_MARKER,
            ipv4: address.ip().octets(),
            port: address.port(),
            trailing: [0; 4],
        }
    }

    /// The storage RAIDA's address, when bytes 20–21 are `FF FF`.
    pub fn socket_addr(&self) -> Option<SocketAddrV4> {
        (self.address_marker == IPV4_MARKER)
            .then(|| SocketAddrV4::new(Ipv4Addr::from(self.ipv4), self.port))
    }
}

impl Codec for ServerEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.stripe_index);
        out.push(self.stripe_type);
        out.push(self.server_id);
        out.extend_from_slice(&self.opaque);
        out.extend_from_slice(&self.address_marker);
        out.extend_from_slice(&self.ipv4);
        put_u16(out, self.port);
        out.extend_from_slice(&self.trailing);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            stripe_index: r.read_u8("server.stripe_index")?,
            stripe_type: r.read_u8("server.stripe_type")?,
            server_id: r.read_u8("server.server_id")?,
            opaque: r.read_array("server.opaque")?,
            address_marker: r.read_array("server.address_marker")?,
            ipv4: r.read_array("server.ipv4")?,
            port: r.read_u16("server.port")?,
            trailing: r.read_array("server.trailing")?,
        })
    }
}

/// One 16-byte file manifest entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ManifestEntry {
    /// 0: [`FILE_TYPE_BODY`], or [`FILE_TYPE_ATTACHMENT_FIRST`] and up.
    pub file_type: u8,
    /// 1: [`FILE_FLAG_BODY`] or [`FILE_FLAG_ATTACHMENT`]; other bits reserved.
    pub file_flags: u8,
    /// 2–3: reserved pass-through; must be zero.
    pub reserved: [u8; 2],
    /// 4–11: original file size before striping and padding.
    pub original_size: u64,
    /// 12–15: CRC-32 of the original file when the header's crc32_present flag is set, else 0.
    pub crc32: u32,
}

impl ManifestEntry {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = MANIFEST_ENTRY_SIZE_BYTES;
}

impl Codec for ManifestEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.file_type);
        out.push(self.file_flags);
        out.extend_from_slice(&self.reserved);
        put_u64(out, self.original_size);
        put_u32(out, self.crc32);
        assert_eq!(out.len() - start, Self::SIZE_BYTES);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            file_type: r.read_u8("manifest.file_type")?,
            file_flags: r.read_u8("manifest.file_flags")?,
            reserved: r.read_array("manifest.reserved")?,
            original_size: r.read_u64("manifest.original_size")?,
            crc32: r.read_u32("manifest.crc32")?,
        })
    }
}

/// The 18-byte recipient footer of legacy (manifest v0) records: tag 0x50, length 16, then the
/// recipient locker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LegacyFooter {
    /// The 16-byte recipient locker.
    pub recipient_locker: [u8; LOCKER_CODE_SIZE_BYTES],
}

impl LegacyFooter {
    /// Size on the wire.
    pub const SIZE_BYTES: usize = LEGACY_FOOTER_SIZE_BYTES;

    /// Whether `bytes` start with a complete footer (tag, length, and 16 more bytes).
    pub fn is_next(bytes: &[u8]) -> bool {
        bytes.len() >= Self::SIZE_BYTES
            && bytes[0] == LEGACY_FOOTER_TAG
            && bytes[1] == LEGACY_FOOTER_LENGTH
    }
}

impl Codec for LegacyFooter {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(LEGACY_FOOTER_TAG);
        out.push(LEGACY_FOOTER_LENGTH);
        out.extend_from_slice(&self.recipient_locker);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag_offset = r.offset();
        let [tag, length] = r.read_array::<2>("legacy_footer.tag")?;
        if [tag, length] != [LEGACY_FOOTER_TAG, LEGACY_FOOTER_LENGTH] {
            return Err(DecodeError::new(
                "legacy_footer.tag",
                tag_offset,
                crate::error::DecodeErrorKind::InvalidValue {
                    value: u64::from(u16::from_be_bytes([tag, length])),
                    expected: "50 10",
                },
            ));
        }
        Ok(Self {
            recipient_locker: r.read_array("legacy_footer.recipient_locker")?,
        })
    }
}

/// One tell record: the pass-through blob of one `.tell` file. See the module docs for how its
/// size is found and why `servers`, `manifest` and `manifest_excess` are kept as read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TellRecord {
    /// The 64-byte file header.
    pub file_header: FileHeader,
    /// M server-location entries.
    pub servers: Vec<ServerEntry>,
    /// The whole 16-byte entries of the `manifest_len` manifest bytes.
    pub manifest: Vec<ManifestEntry>,
    /// Manifest bytes past the last whole entry (`manifest_len % 16` of them); empty when valid.
    pub manifest_excess: Vec<u8>,
    /// The legacy recipient footer, only on manifest v0 records read from files or replies.
    pub legacy_footer: Option<LegacyFooter>,
}

impl TellRecord {
    /// A manifest v1 record whose count fields agree with the vectors: sets `stripe_count`,
    /// `file_count`, `file_entry_size` (16), `manifest_len`, `manifest_version` (1), `version`
    /// (2) and the footer-removed flag; keeps every other field of `file_header`.
    pub fn new_v1(
        file_header: FileHeader,
        servers: Vec<ServerEntry>,
        manifest: Vec<ManifestEntry>,
    ) -> Self {
        let stripe_count = u8::try_from(servers.len()).expect("at most 255 server entries");
        let file_count = u8::try_from(manifest.len()).expect("at most 255 manifest entries");
        let manifest_len = u16::from(file_count) * MANIFEST_ENTRY_SIZE_BYTES as u16;
        let file_header = FileHeader {
            stripe_count,
            file_count,
            file_entry_size: MANIFEST_ENTRY_SIZE_BYTES as u8,
            manifest_len,
            manifest_version: MANIFEST_VERSION_CURRENT,
            version: FILE_HEADER_VERSION,
            manifest_flags: file_header.manifest_flags | MANIFEST_FLAG_FOOTER_REMOVED,
            ..file_header
        };
        let record = Self {
            file_header,
            servers,
            manifest,
            manifest_excess: Vec::new(),
            legacy_footer: None,
        };
        assert_eq!(record.size_bytes(), file_header.record_size_bytes());
        record
    }

    /// Encoded size in bytes, legacy footer included.
    pub fn size_bytes(&self) -> usize {
        FILE_HEADER_SIZE_BYTES
            + self.servers.len() * SERVER_ENTRY_SIZE_BYTES
            + self.manifest_size_bytes()
            + self.legacy_footer.map_or(0, |_| LEGACY_FOOTER_SIZE_BYTES)
    }

    /// Bytes of the manifest section as held: whole entries plus the excess.
    pub fn manifest_size_bytes(&self) -> usize {
        self.manifest.len() * MANIFEST_ENTRY_SIZE_BYTES + self.manifest_excess.len()
    }

    /// The edit sequence the beacon's "newer edit wins" guard compares.
    pub fn edit_sequence(&self) -> u8 {
        self.file_header.edit_sequence_effective()
    }

    /// Reads a record inside a tell request body, where the number of server entries is the
    /// routing header's `server_count` and no legacy footer can follow.
    pub fn read_in_tell(r: &mut Reader<'_>, server_count: u8) -> Result<Self, DecodeError> {
        let file_header = FileHeader::read(r)?;
        Self::read_after_header(r, file_header, server_count)
    }

    fn read_after_header(
        r: &mut Reader<'_>,
        file_header: FileHeader,
        server_count: u8,
    ) -> Result<Self, DecodeError> {
        let mut servers = Vec::with_capacity(usize::from(server_count));
        for _ in 0..server_count {
            servers.push(ServerEntry::read(r)?);
        }
        let manifest_bytes = r.take("manifest", usize::from(file_header.manifest_len))?;
        let mut chunks = manifest_bytes.chunks_exact(MANIFEST_ENTRY_SIZE_BYTES);
        let mut manifest = Vec::with_capacity(chunks.len());
        for chunk in chunks.by_ref() {
            manifest.push(ManifestEntry::from_bytes(chunk)?);
        }
        let manifest_excess = chunks.remainder().to_vec();
        Ok(Self {
            file_header,
            servers,
            manifest,
            manifest_excess,
            legacy_footer: None,
        })
    }

    /// Appends the record inside a tell request: like [`Codec::encode`] but the server-entry
    /// count is the routing header's (checked by the caller) and a footer is not allowed.
    pub fn encode_in_tell(&self, out: &mut Vec<u8>) {
        assert!(
            self.legacy_footer.is_none(),
            "a tell request carries no legacy footer"
        );
        self.encode_parts(out);
    }

    fn encode_parts(&self, out: &mut Vec<u8>) {
        assert_eq!(
            self.manifest_size_bytes(),
            usize::from(self.file_header.manifest_len),
            "manifest entries and excess must fill manifest_len"
        );
        assert!(self.manifest_excess.len() < MANIFEST_ENTRY_SIZE_BYTES);
        let start = out.len();
        self.file_header.encode(out);
        for server in &self.servers {
            server.encode(out);
        }
        for entry in &self.manifest {
            entry.encode(out);
        }
        out.extend_from_slice(&self.manifest_excess);
        if let Some(footer) = &self.legacy_footer {
            assert!(
                self.file_header.is_legacy(),
                "only manifest v0 records carry a legacy footer"
            );
            footer.encode(out);
        }
        assert_eq!(out.len() - start, self.size_bytes());
    }
}

impl Codec for TellRecord {
    /// Writes the record as stored in a `.tell` file or a reply.
    fn encode(&self, out: &mut Vec<u8>) {
        assert_eq!(
            self.servers.len(),
            usize::from(self.file_header.stripe_count),
            "a stored record has stripe_count server entries"
        );
        self.encode_parts(out);
    }

    /// Reads a record as stored in a `.tell` file or a reply: `stripe_count` server entries,
    /// `manifest_len` manifest bytes, then a legacy footer if this is a v0 record and the next
    /// bytes are `50 10` followed by at least 16 more.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let file_header = FileHeader::read(r)?;
        let mut record = Self::read_after_header(r, file_header, file_header.stripe_count)?;
        if file_header.is_legacy() && LegacyFooter::is_next(r.peek_rest()) {
            record.legacy_footer = Some(LegacyFooter::read(r)?);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeErrorKind;

    fn sample_header() -> FileHeader {
        FileHeader {
            email_id: [0x11; 16],
            sender_coin_id: COIN_ID_CLOUDCOIN,
            sender_denomination: 1,
            sender_serial_number: 1234,
            sender_device_id: 9,
            client_timestamp_s: 1_700_000_000,
            tell_type: TELL_TYPE_EMAIL,
            locker_code: locker_from_ascii("LOCKER").unwrap(),
            total_file_size: 5000,
            parity_algo: PARITY_ALGO_RAID5_XOR,
            ..FileHeader::default()
        }
    }

    fn sample_record(servers: usize, files: usize) -> TellRecord {
        let servers = (0..servers)
            .map(|i| {
                ServerEntry::new(
                    i as u8,
                    STRIPE_TYPE_DATA,
                    i as u8,
                    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i as u8), 18000 + i as u16),
                )
            })
            .collect();
        let manifest = (0..files)
            .map(|i| ManifestEntry {
                file_type: if i == 0 {
                    FILE_TYPE_BODY
                } else {
                    FILE_TYPE_ATTACHMENT_FIRST + i as u8 - 1
                },
                file_flags: if i == 0 {
                    FILE_FLAG_BODY
                } else {
                    FILE_FLAG_ATTACHMENT
                },
                reserved: [0; 2],
                original_size: 1000 * (i as u64 + 1),
                crc32: 0,
            })
            .collect();
        TellRecord::new_v1(sample_header(), servers, manifest)
    }

    #[test]
    fn file_header_offsets_match_the_tell_page() {
        let header = FileHeader {
            stripe_count: 8,
            version: 2,
            manifest_version: 1,
            file_count: 2,
            file_entry_size: 16,
            manifest_len: 32,
            manifest_flags: 0x03,
            edit_sequence: 0x57,
            parity_algo: 0x58,
            reserved: [0x59, 0x5A, 0x5B, 0x5C, 0x5D],
            ..sample_header()
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[16..18], &[0, 6]);
        assert_eq!(bytes[18], 1);
        assert_eq!(&bytes[19..23], &1234u32.to_be_bytes());
        assert_eq!(bytes[23], 9);
        assert_eq!(&bytes[24..28], &1_700_000_000u32.to_be_bytes());
        assert_eq!(bytes[29], 8);
        assert_eq!(&bytes[30..36], b"LOCKER");
        assert_eq!(&bytes[46..50], &5000u32.to_be_bytes());
        assert_eq!(&bytes[50..57], &[2, 1, 2, 16, 0, 32, 3]);
        assert_eq!(bytes[57], 0x57);
        assert_eq!(bytes[58], 0x58);
        assert_eq!(&bytes[59..64], &[0x59, 0x5A, 0x5B, 0x5C, 0x5D]);
        assert_eq!(FileHeader::from_bytes(&bytes).unwrap(), header);
        assert_eq!(header.record_size_bytes(), 64 + 8 * 32 + 32);
    }

    #[test]
    fn routing_and_address_offsets() {
        let routing = RoutingHeader {
            email_id: [0x22; 16],
            total_file_size: 0x0102_0304,
            reserved_1: [0xA1, 0xA2, 0xA3, 0xA4],
            client_timestamp_s: 0x0506_0708,
            tell_type: 0,
            address_count: 3,
            server_count: 8,
            beacon_payment_locker: [0x33; 16],
            reserved_2: 0xB2,
        };
        let bytes = routing.to_bytes();
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[16..20], &[1, 2, 3, 4]);
        assert_eq!(&bytes[20..24], &[0xA1, 0xA2, 0xA3, 0xA4]);
        assert_eq!(&bytes[24..28], &[5, 6, 7, 8]);
        assert_eq!(&bytes[28..31], &[0, 3, 8]);
        assert_eq!(&bytes[31..47], &[0x33; 16]);
        assert_eq!(bytes[47], 0xB2);
        assert_eq!(RoutingHeader::from_bytes(&bytes).unwrap(), routing);

        let mut entry = AddressEntry::new(RecipientKind::Bcc, -3, 77, [0x44; 16]);
        entry.reserved = [0xC0; 8];
        let bytes = entry.to_bytes();
        assert_eq!(&bytes[..8], &[2, 0, 6, 0xFD, 0, 0, 0, 77]);
        assert_eq!(&bytes[8..24], &[0x44; 16]);
        assert_eq!(&bytes[24..], &[0xC0; 8]);
        assert_eq!(AddressEntry::from_bytes(&bytes).unwrap(), entry);
        assert_eq!(entry.kind(), Some(RecipientKind::Bcc));
        entry.kind_code = 9;
        assert_eq!(entry.kind(), None);
    }

    #[test]
    fn server_entry_layout_and_marker() {
        let address = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 20), 0x1F90);
        let entry = ServerEntry::new(3, STRIPE_TYPE_PARITY, 17, address);
        let bytes = entry.to_bytes();
        assert_eq!(&bytes[..3], &[3, 1, 17]);
        assert_eq!(&bytes[3..20], &[0; 17]);
        assert_eq!(&bytes[20..28], &[0xFF, 0xFF, 192, 168, 1, 20, 0x1F, 0x90]);
        assert_eq!(&bytes[28..], &[0; 4]);
        assert_eq!(entry.socket_addr(), Some(address));
        let mut odd = bytes.clone();
        odd[20] = 0;
        let decoded = ServerEntry::from_bytes(&odd).unwrap();
        assert_eq!(decoded.socket_addr(), None);
        assert_eq!(decoded.to_bytes(), odd);
    }

    #[test]
    fn manifest_entry_layout() {
        let entry = ManifestEntry {
            file_type: 0x0A,
            file_flags: FILE_FLAG_ATTACHMENT,
            reserved: [0, 0],
            original_size: 0x0102_0304_0506_0708,
            crc32: 0xCAFE_BABE,
        };
        let bytes = entry.to_bytes();
        assert_eq!(
            bytes,
            [0x0A, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xCA, 0xFE, 0xBA, 0xBE]
        );
        assert_eq!(ManifestEntry::from_bytes(&bytes).unwrap(), entry);
    }

    #[test]
    fn v1_record_size_uses_manifest_len() {
        let record = sample_record(8, 3);
        let bytes = record.to_bytes();
        assert_eq!(bytes.len(), 64 + 8 * 32 + 3 * 16);
        assert_eq!(record.file_header.record_size_bytes(), bytes.len());
        assert_eq!(
            record.file_header.manifest_flags & MANIFEST_FLAG_FOOTER_REMOVED,
            1
        );
        assert_eq!(TellRecord::from_bytes(&bytes).unwrap(), record);
    }

    #[test]
    fn legacy_record_with_and_without_footer() {
        let mut record = sample_record(2, 0);
        record.file_header.manifest_version = MANIFEST_VERSION_LEGACY;
        record.file_header.file_entry_size = 0;
        record.file_header.manifest_flags = 0;
        record.file_header.edit_sequence = 7;
        assert_eq!(record.edit_sequence(), 0);
        let bare = record.to_bytes();
        assert_eq!(bare.len(), 64 + 2 * 32);
        assert_eq!(TellRecord::from_bytes(&bare).unwrap(), record);

        record.legacy_footer = Some(LegacyFooter {
            recipient_locker: [0x99; 16],
        });
        let with_footer = record.to_bytes();
        assert_eq!(with_footer.len(), 64 + 2 * 32 + 18);
        assert_eq!(&with_footer[bare.len()..bare.len() + 2], &[0x50, 0x10]);
        assert_eq!(TellRecord::from_bytes(&with_footer).unwrap(), record);

        // A v1 record followed by footer-looking bytes does not take them.
        let v1 = sample_record(1, 1);
        let mut bytes = v1.to_bytes();
        bytes.extend_from_slice(&with_footer[bare.len()..]);
        assert_eq!(
            TellRecord::from_bytes(&bytes).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes { count: 18 }
        );
    }

    #[test]
    fn odd_manifest_len_round_trips_through_the_excess() {
        let mut record = sample_record(1, 1);
        record.file_header.manifest_len = 21;
        record.manifest_excess = vec![1, 2, 3, 4, 5];
        let bytes = record.to_bytes();
        let decoded = TellRecord::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decoded.manifest.len(), 1);
        assert_eq!(decoded.manifest_excess, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn truncated_manifest_is_reported() {
        let bytes = sample_record(2, 2).to_bytes();
        let error = TellRecord::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(error.field, "manifest");
        assert_eq!(error.offset, 64 + 64);
    }

    #[test]
    fn lockers() {
        assert_eq!(locker_from_ascii("AB").unwrap()[..3], [b'A', b'B', 0]);
        assert!(locker_from_ascii("this is seventeen").is_none());
        assert!(locker_from_ascii("é").is_none());
        assert!(locker_is_empty(&[0; 16]));
        assert!(!locker_is_empty(&locker_from_ascii("x").unwrap()));
    }
}
