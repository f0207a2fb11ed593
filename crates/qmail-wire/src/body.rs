//! The decrypted request bodies of the six commands, without the `3E 3E` terminator (the
//! [`crate::packet`] layer adds and strips it).
//!
//! | command | body layout (offsets from the start of the decrypted body) | source |
//! |---|---|---|
//! | echo | challenge 0–15 | DECISIONS.md "Echo" |
//! | upload | preamble 0–47, GUID 48–63, locker code 64–79, file_type 80, storage_duration 81, data_length 82–85 (u32), data | DECISIONS.md "Upload" |
//! | tell | preamble, routing header 48–95, R × 32 address entries, tell record | tell page 002 |
//! | ping | preamble, then any bytes, which ping ignores (rest_core sends a 4-byte timestamp) | ping page 004 |
//! | peek | preamble, since_timestamp 48–51 (u32) | peek page 003 |
//! | download | preamble, GUID 48–63, locker code 64–79, file_type 80, bytes_per_page 81, page_number 82–84 (u24) | DECISIONS.md "Download" |
//!
//! Decoders check lengths before field values (DECISIONS.md "Length before fields"), so
//! [`DecodeError::status`] gives the status a server sends: an upload whose `data_length` is not
//! the number of bytes that follow is 16 even when its `storage_duration` is also unknown (198).
//! A tell body decodes only when its size is exactly `48 + 48 + 32R + 64 + 32M + manifest_len`
//! with R = `address_count` ≥ 1 and M = `server_count` ≥ 1 (else 16); every other tell rule is
//! [`crate::validate::validate_tell`]'s.

use crate::codec::{put_u24, put_u32, Codec, Reader};
use crate::crypto::Challenge;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::Command;
use crate::limits::{
    BODY_SIZE_BYTES_MAX, DOWNLOAD_BODY_SIZE_BYTES, GUID_SIZE_BYTES, LOCKER_CODE_SIZE_BYTES,
    PAGE_NUMBER_MAX, PREAMBLE_SIZE_BYTES, ROUTING_HEADER_SIZE_BYTES, STRIPE_SIZE_BYTES_MAX,
    TERMINATOR_SIZE_BYTES,
};
use crate::preamble::Preamble;
use crate::tell::{AddressEntry, RoutingHeader, TellRecord};

/// Echo (group 0, code 0): the challenge alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EchoBody {
    /// 0–15.
    pub challenge: Challenge,
}

impl Codec for EchoBody {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.challenge.as_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            challenge: Challenge(r.read_array("challenge")?),
        })
    }
}

/// Upload byte 81: how long the server keeps the stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum StorageDuration {
    /// 0: one day.
    Day = 0,
    /// 1: one week.
    Week = 1,
    /// 2: one month (30 days).
    Month = 2,
    /// 3: three months (90 days).
    ThreeMonths = 3,
    /// 4: six months (180 days).
    SixMonths = 4,
    /// 5: one year (365 days).
    Year = 5,
    /// 255: never expires.
    Permanent = 255,
}

impl StorageDuration {
    /// Every duration.
    pub const ALL: [StorageDuration; 7] = [
        StorageDuration::Day,
        StorageDuration::Week,
        StorageDuration::Month,
        StorageDuration::ThreeMonths,
        StorageDuration::SixMonths,
        StorageDuration::Year,
        StorageDuration::Permanent,
    ];

    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The duration with this code, if valid.
    pub const fn from_code(code: u8) -> Option<StorageDuration> {
        match code {
            0 => Some(StorageDuration::Day),
            1 => Some(StorageDuration::Week),
            2 => Some(StorageDuration::Month),
            3 => Some(StorageDuration::ThreeMonths),
            4 => Some(StorageDuration::SixMonths),
            5 => Some(StorageDuration::Year),
            255 => Some(StorageDuration::Permanent),
            _ => None,
        }
    }

    /// Seconds until expiry, `None` for permanent. DECISIONS.md names the periods without
    /// lengths; this crate fixes a month at 30 days and a year at 365.
    pub const fn duration_s(self) -> Option<u64> {
        const DAY_S: u64 = 86_400;
        match self {
            StorageDuration::Day => Some(DAY_S),
            StorageDuration::Week => Some(7 * DAY_S),
            StorageDuration::Month => Some(30 * DAY_S),
            StorageDuration::ThreeMonths => Some(90 * DAY_S),
            StorageDuration::SixMonths => Some(180 * DAY_S),
            StorageDuration::Year => Some(365 * DAY_S),
            StorageDuration::Permanent => None,
        }
    }
}

/// Upload (70): one stripe of one file. `data_length` (bytes 82–85) is not a field: it is
/// written as `data.len()` and on reading must equal the bytes that follow (else a
/// [`DecodeErrorKind::Mismatch`], status 16). `read` consumes the rest of the reader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UploadBody {
    /// 0–47.
    pub preamble: Preamble,
    /// 48–63: file GUID.
    pub guid: [u8; GUID_SIZE_BYTES],
    /// 64–79: locker code paying the upload fee (ASCII, NUL padded).
    pub locker_code: [u8; LOCKER_CODE_SIZE_BYTES],
    /// 80: file type (0x01 body, 0x0A+ attachments).
    pub file_type: u8,
    /// 81: storage duration.
    pub storage_duration: StorageDuration,
    /// 86…: the stripe, at most [`STRIPE_SIZE_BYTES_MAX`] bytes.
    pub data: Vec<u8>,
}

impl UploadBody {
    /// Body offset of `storage_duration`.
    pub const STORAGE_DURATION_OFFSET: usize = 81;
    /// Body offset of `data_length`.
    pub const DATA_LENGTH_OFFSET: usize = 82;
    /// Body offset of the data.
    pub const DATA_OFFSET: usize = 86;
}

impl Codec for UploadBody {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(
            self.data.len() <= STRIPE_SIZE_BYTES_MAX,
            "upload data of {} bytes exceeds STRIPE_SIZE_BYTES_MAX",
            self.data.len()
        );
        out.reserve(Self::DATA_OFFSET + self.data.len());
        self.preamble.encode(out);
        out.extend_from_slice(&self.guid);
        out.extend_from_slice(&self.locker_code);
        out.push(self.file_type);
        out.push(self.storage_duration.code());
        put_u32(out, self.data.len() as u32);
        out.extend_from_slice(&self.data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let preamble = Preamble::read(r)?;
        let guid = r.read_array("guid")?;
        let locker_code = r.read_array("locker_code")?;
        let file_type = r.read_u8("file_type")?;
        let storage_duration_offset = r.offset();
        let storage_duration_code = r.read_u8("storage_duration")?;
        let data_length_offset = r.offset();
        let data_length = r.read_u32("data_length")?;
        // Length before fields: the size rules (16) win over the storage-duration rule (198).
        if data_length as usize > STRIPE_SIZE_BYTES_MAX {
            return Err(DecodeError::new(
                "data_length",
                data_length_offset,
                DecodeErrorKind::LengthOutOfRange {
                    value: u64::from(data_length),
                    min: 0,
                    max: STRIPE_SIZE_BYTES_MAX as u64,
                },
            ));
        }
        let actual = r.remaining_bytes();
        if u64::from(data_length) != actual as u64 {
            return Err(DecodeError::new(
                "data_length",
                data_length_offset,
                DecodeErrorKind::Mismatch {
                    declared: u64::from(data_length),
                    actual: actual as u64,
                },
            ));
        }
        let storage_duration =
            StorageDuration::from_code(storage_duration_code).ok_or_else(|| {
                DecodeError::new(
                    "storage_duration",
                    storage_duration_offset,
                    DecodeErrorKind::InvalidValue {
                        value: u64::from(storage_duration_code),
                        expected: "0..=5 or 255",
                    },
                )
            })?;
        let data = r.take_rest().to_vec();
        Ok(Self {
            preamble,
            guid,
            locker_code,
            file_type,
            storage_duration,
            data,
        })
    }
}

/// Tell (71): preamble, routing header, recipients, and the record the beacon stores. Inside a
/// tell the record has `routing.server_count` server entries (see [`crate::tell`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TellBody {
    /// 0–47.
    pub preamble: Preamble,
    /// 48–95.
    pub routing: RoutingHeader,
    /// `address_count` entries from 96.
    pub recipients: Vec<AddressEntry>,
    /// The pass-through record: file header, `server_count` server entries, manifest.
    pub record: TellRecord,
}

impl TellBody {
    /// A body whose routing `address_count` and `server_count` are set from the vectors.
    pub fn new(
        preamble: Preamble,
        routing: RoutingHeader,
        recipients: Vec<AddressEntry>,
        record: TellRecord,
    ) -> Self {
        let routing = RoutingHeader {
            address_count: u8::try_from(recipients.len()).expect("at most 255 recipients"),
            server_count: u8::try_from(record.servers.len()).expect("at most 255 servers"),
            ..routing
        };
        Self {
            preamble,
            routing,
            recipients,
            record,
        }
    }

    /// The header `body_size` this body needs: its encoded size plus the terminator.
    pub fn body_size_bytes(&self) -> usize {
        PREAMBLE_SIZE_BYTES
            + ROUTING_HEADER_SIZE_BYTES
            + self.recipients.len() * AddressEntry::SIZE_BYTES
            + self.record.size_bytes()
            + TERMINATOR_SIZE_BYTES
    }
}

impl Codec for TellBody {
    fn encode(&self, out: &mut Vec<u8>) {
        assert_eq!(
            usize::from(self.routing.address_count),
            self.recipients.len()
        );
        assert_eq!(
            usize::from(self.routing.server_count),
            self.record.servers.len()
        );
        out.reserve(self.body_size_bytes() - TERMINATOR_SIZE_BYTES);
        let start = out.len();
        self.preamble.encode(out);
        self.routing.encode(out);
        for recipient in &self.recipients {
            recipient.encode(out);
        }
        self.record.encode_in_tell(out);
        assert_eq!(
            out.len() - start + TERMINATOR_SIZE_BYTES,
            self.body_size_bytes()
        );
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let preamble = Preamble::read(r)?;
        let routing_offset = r.offset();
        let routing = RoutingHeader::read(r)?;
        let counts = [
            ("routing.address_count", 29, routing.address_count),
            ("routing.server_count", 30, routing.server_count),
        ];
        for (field, offset_in_routing, count) in counts {
            if count == 0 {
                return Err(DecodeError::new(
                    field,
                    routing_offset + offset_in_routing,
                    DecodeErrorKind::LengthOutOfRange {
                        value: 0,
                        min: 1,
                        max: u64::from(u8::MAX),
                    },
                ));
            }
        }
        let mut recipients = Vec::with_capacity(usize::from(routing.address_count));
        for _ in 0..routing.address_count {
            recipients.push(AddressEntry::read(r)?);
        }
        let record = TellRecord::read_in_tell(r, routing.server_count)?;
        Ok(Self {
            preamble,
            routing,
            recipients,
            record,
        })
    }
}

/// Ping (72): the preamble and whatever bytes follow it, kept verbatim.
///
/// The ping handler needs only the 48-byte preamble and ignores any bytes after it; current
/// rest_core sends a 4-byte timestamp there (body 54 with the terminator), the minimum is none
/// (body 50). So the extra bytes are held raw in `ignored_bytes` and every accepted length
/// round-trips; [`PingBody::ignored_timestamp`] reads them as rest_core's timestamp when there
/// are exactly four. `read` consumes the rest of the reader.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PingBody {
    /// 0–47.
    pub preamble: Preamble,
    /// 48…: ignored by the server.
    pub ignored_bytes: Vec<u8>,
}

impl PingBody {
    /// Most bytes that can follow the preamble in one body.
    pub const IGNORED_SIZE_BYTES_MAX: usize =
        BODY_SIZE_BYTES_MAX - TERMINATOR_SIZE_BYTES - PREAMBLE_SIZE_BYTES;

    /// The minimal ping: preamble only (body size 50).
    pub fn new(preamble: Preamble) -> Self {
        Self {
            preamble,
            ignored_bytes: Vec::new(),
        }
    }

    /// The rest_core ping: preamble and a 4-byte timestamp the server ignores (body size 54).
    pub fn with_timestamp(preamble: Preamble, timestamp_s: u32) -> Self {
        Self {
            preamble,
            ignored_bytes: timestamp_s.to_be_bytes().to_vec(),
        }
    }

    /// The ignored bytes read as rest_core's timestamp, when there are exactly four.
    pub fn ignored_timestamp(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.ignored_bytes.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    }
}

impl Codec for PingBody {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.ignored_bytes.len() <= Self::IGNORED_SIZE_BYTES_MAX);
        out.reserve(PREAMBLE_SIZE_BYTES + self.ignored_bytes.len());
        self.preamble.encode(out);
        out.extend_from_slice(&self.ignored_bytes);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let preamble = Preamble::read(r)?;
        let ignored_size_bytes = r.remaining_bytes();
        if ignored_size_bytes > Self::IGNORED_SIZE_BYTES_MAX {
            return Err(DecodeError::new(
                "ping.ignored_bytes",
                r.offset(),
                DecodeErrorKind::LengthOutOfRange {
                    value: ignored_size_bytes as u64,
                    min: 0,
                    max: Self::IGNORED_SIZE_BYTES_MAX as u64,
                },
            ));
        }
        Ok(Self {
            preamble,
            ignored_bytes: r.take_rest().to_vec(),
        })
    }
}

/// Peek (73): preamble and the mtime filter (52 bytes; 54 with the terminator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeekBody {
    /// 0–47.
    pub preamble: Preamble,
    /// 48–51: return only tells whose file mtime is greater than this; 0 for all.
    pub since_timestamp_s: u32,
}

impl Codec for PeekBody {
    fn encode(&self, out: &mut Vec<u8>) {
        self.preamble.encode(out);
        put_u32(out, self.since_timestamp_s);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            preamble: Preamble::read(r)?,
            since_timestamp_s: r.read_u32("since_timestamp")?,
        })
    }
}

/// Download (74): which page of which stripe (85 bytes; 87 with the terminator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DownloadBody {
    /// 0–47. The server does not compare its AN (the wire key authenticates).
    pub preamble: Preamble,
    /// 48–63: file GUID.
    pub guid: [u8; GUID_SIZE_BYTES],
    /// 64–79: locker code; read, not enforced.
    pub locker_code: [u8; LOCKER_CODE_SIZE_BYTES],
    /// 80: file type.
    pub file_type: u8,
    /// 81: reserved; the server ignores it (pages are always 256 KiB).
    pub bytes_per_page: u8,
    /// 82–84: page number, a u24 on the wire (at most [`PAGE_NUMBER_MAX`]).
    pub page_number: u32,
}

impl Codec for DownloadBody {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.page_number <= PAGE_NUMBER_MAX);
        out.reserve(DOWNLOAD_BODY_SIZE_BYTES);
        self.preamble.encode(out);
        out.extend_from_slice(&self.guid);
        out.extend_from_slice(&self.locker_code);
        out.push(self.file_type);
        out.push(self.bytes_per_page);
        put_u24(out, self.page_number);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            preamble: Preamble::read(r)?,
            guid: r.read_array("guid")?,
            locker_code: r.read_array("locker_code")?,
            file_type: r.read_u8("file_type")?,
            bytes_per_page: r.read_u8("bytes_per_page")?,
            page_number: r.read_u24("page_number")?,
        })
    }
}

/// Any request body, tagged by command: what a server decodes after decrypting.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestBody {
    /// Echo.
    Echo(EchoBody),
    /// Upload.
    Upload(UploadBody),
    /// Tell.
    Tell(TellBody),
    /// Ping.
    Ping(PingBody),
    /// Peek.
    Peek(PeekBody),
    /// Download.
    Download(DownloadBody),
}

impl RequestBody {
    /// Decodes the decrypted body (terminator stripped) of `command`; trailing bytes rejected.
    pub fn decode(command: Command, body_plain: &[u8]) -> Result<Self, DecodeError> {
        Ok(match command {
            Command::Echo => RequestBody::Echo(EchoBody::from_bytes(body_plain)?),
            Command::Upload => RequestBody::Upload(UploadBody::from_bytes(body_plain)?),
            Command::Tell => RequestBody::Tell(TellBody::from_bytes(body_plain)?),
            Command::Ping => RequestBody::Ping(PingBody::from_bytes(body_plain)?),
            Command::Peek => RequestBody::Peek(PeekBody::from_bytes(body_plain)?),
            Command::Download => RequestBody::Download(DownloadBody::from_bytes(body_plain)?),
        })
    }

    /// The command this body belongs to.
    pub fn command(&self) -> Command {
        match self {
            RequestBody::Echo(_) => Command::Echo,
            RequestBody::Upload(_) => Command::Upload,
            RequestBody::Tell(_) => Command::Tell,
            RequestBody::Ping(_) => Command::Ping,
            RequestBody::Peek(_) => Command::Peek,
            RequestBody::Download(_) => Command::Download,
        }
    }

    /// The challenge every body starts with.
    pub fn challenge(&self) -> &Challenge {
        match self {
            RequestBody::Echo(body) => &body.challenge,
            _ => {
                &self
                    .preamble()
                    .expect("every QMail body has a preamble")
                    .challenge
            }
        }
    }

    /// The preamble, for the five QMail commands.
    pub fn preamble(&self) -> Option<&Preamble> {
        match self {
            RequestBody::Echo(_) => None,
            RequestBody::Upload(body) => Some(&body.preamble),
            RequestBody::Tell(body) => Some(&body.preamble),
            RequestBody::Ping(body) => Some(&body.preamble),
            RequestBody::Peek(body) => Some(&body.preamble),
            RequestBody::Download(body) => Some(&body.preamble),
        }
    }

    /// The body bytes (without terminator).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            RequestBody::Echo(body) => body.to_bytes(),
            RequestBody::Upload(body) => body.to_bytes(),
            RequestBody::Tell(body) => body.to_bytes(),
            RequestBody::Ping(body) => body.to_bytes(),
            RequestBody::Peek(body) => body.to_bytes(),
            RequestBody::Download(body) => body.to_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    fn preamble() -> Preamble {
        Preamble::new(Challenge::from_random([5; 12]), 2, 4242, [0xAB; 16])
    }

    fn upload(data: Vec<u8>) -> UploadBody {
        UploadBody {
            preamble: preamble(),
            guid: [0x10; 16],
            locker_code: [0x20; 16],
            file_type: 0x01,
            storage_duration: StorageDuration::Week,
            data,
        }
    }

    #[test]
    fn peek_body_is_52_bytes() {
        let body = PeekBody {
            preamble: preamble(),
            since_timestamp_s: 0x0102_0304,
        };
        let bytes = body.to_bytes();
        assert_eq!(bytes.len() + 2, 54);
        assert_eq!(&bytes[48..], &[1, 2, 3, 4]);
        assert_eq!(PeekBody::from_bytes(&bytes).unwrap(), body);
        let error = PeekBody::from_bytes(&bytes[..51]).unwrap_err();
        assert_eq!(error.status(), Status::InvalidPacketLength);
    }

    #[test]
    fn upload_layout_follows_decisions() {
        let body = upload(vec![9, 8, 7]);
        let bytes = body.to_bytes();
        assert_eq!(bytes.len(), 48 + 38 + 3);
        assert_eq!(&bytes[48..64], &[0x10; 16]);
        assert_eq!(&bytes[64..80], &[0x20; 16]);
        assert_eq!(bytes[80], 0x01);
        assert_eq!(bytes[81], 1);
        assert_eq!(&bytes[82..86], &[0, 0, 0, 3]);
        assert_eq!(&bytes[86..], &[9, 8, 7]);
        assert_eq!(UploadBody::from_bytes(&bytes).unwrap(), body);
    }

    #[test]
    fn upload_of_the_largest_stripe_fills_the_body() {
        let body = upload(vec![0x5A; STRIPE_SIZE_BYTES_MAX]);
        let bytes = body.to_bytes();
        assert_eq!(bytes.len() + TERMINATOR_SIZE_BYTES, BODY_SIZE_BYTES_MAX);
        assert_eq!(UploadBody::from_bytes(&bytes).unwrap(), body);
    }

    /// Inputs longer than any request body still decode to something encodable, or fail.
    #[test]
    fn oversized_inputs_are_length_errors() {
        let mut bytes = upload(Vec::new()).to_bytes();
        let data_length = STRIPE_SIZE_BYTES_MAX as u32 + 1;
        bytes[82..86].copy_from_slice(&data_length.to_be_bytes());
        bytes.resize(86 + data_length as usize, 0);
        let error = UploadBody::from_bytes(&bytes).unwrap_err();
        assert!(matches!(
            error.kind,
            DecodeErrorKind::LengthOutOfRange { .. }
        ));
        assert_eq!(error.status(), Status::InvalidPacketLength);

        let mut bytes = PingBody::new(preamble()).to_bytes();
        bytes.resize(BODY_SIZE_BYTES_MAX - TERMINATOR_SIZE_BYTES, 0);
        let largest = PingBody::from_bytes(&bytes).unwrap();
        assert_eq!(largest.to_bytes(), bytes);
        bytes.push(0);
        let error = PingBody::from_bytes(&bytes).unwrap_err();
        assert_eq!(error.status(), Status::InvalidPacketLength);
    }

    #[test]
    #[should_panic(expected = "exceeds STRIPE_SIZE_BYTES_MAX")]
    fn upload_larger_than_a_stripe_is_a_bug() {
        upload(vec![0; STRIPE_SIZE_BYTES_MAX + 1]).to_bytes();
    }

    #[test]
    fn upload_data_length_mismatch_is_16_before_duration_198() {
        let mut bytes = upload(vec![1, 2, 3]).to_bytes();
        bytes.push(4);
        let error = UploadBody::from_bytes(&bytes).unwrap_err();
        assert_eq!(error.field, "data_length");
        assert_eq!(error.offset, 82);
        assert_eq!(
            error.kind,
            DecodeErrorKind::Mismatch {
                declared: 3,
                actual: 4
            }
        );
        assert_eq!(error.status(), Status::InvalidPacketLength);

        bytes[81] = 6;
        assert_eq!(
            UploadBody::from_bytes(&bytes).unwrap_err().status(),
            Status::InvalidPacketLength
        );
        bytes.pop();
        let error = UploadBody::from_bytes(&bytes).unwrap_err();
        assert_eq!(error.field, "storage_duration");
        assert_eq!(error.offset, 81);
        assert_eq!(error.status(), Status::InvalidParameter);
    }

    #[test]
    fn storage_durations() {
        for duration in StorageDuration::ALL {
            assert_eq!(StorageDuration::from_code(duration.code()), Some(duration));
        }
        for code in 6..255 {
            assert_eq!(StorageDuration::from_code(code), None);
        }
        assert_eq!(StorageDuration::Day.duration_s(), Some(86_400));
        assert_eq!(StorageDuration::Permanent.duration_s(), None);
    }

    #[test]
    fn download_layout_follows_decisions() {
        let body = DownloadBody {
            preamble: preamble(),
            guid: [0x77; 16],
            locker_code: [0x66; 16],
            file_type: 0x0B,
            bytes_per_page: 0xEE,
            page_number: 0x01_0203,
        };
        let bytes = body.to_bytes();
        assert_eq!(bytes.len(), 85);
        assert_eq!(&bytes[80..], &[0x0B, 0xEE, 1, 2, 3]);
        assert_eq!(DownloadBody::from_bytes(&bytes).unwrap(), body);
    }

    #[test]
    fn ping_keeps_whatever_follows_the_preamble() {
        let minimal = PingBody::new(preamble());
        assert_eq!(minimal.to_bytes().len() + 2, 50);
        assert_eq!(minimal.ignored_timestamp(), None);
        let rest_core = PingBody::with_timestamp(preamble(), 0x6000_0000);
        let bytes = rest_core.to_bytes();
        assert_eq!(bytes.len() + 2, 54);
        let decoded = PingBody::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.ignored_timestamp(), Some(0x6000_0000));
        let odd = PingBody::from_bytes(&bytes[..50]).unwrap();
        assert_eq!(odd.ignored_bytes.len(), 2);
        assert_eq!(odd.to_bytes(), &bytes[..50]);
        assert!(PingBody::from_bytes(&bytes[..47]).is_err());
    }

    #[test]
    fn echo_is_the_challenge() {
        let body = EchoBody {
            challenge: Challenge::from_random([1; 12]),
        };
        assert_eq!(body.to_bytes(), body.challenge.0);
        let decoded = RequestBody::decode(Command::Echo, &body.to_bytes()).unwrap();
        assert_eq!(decoded.command(), Command::Echo);
        assert_eq!(decoded.challenge(), &body.challenge);
        assert!(decoded.preamble().is_none());
    }

    #[test]
    fn request_body_dispatch() {
        let peek = PeekBody {
            preamble: preamble(),
            since_timestamp_s: 0,
        };
        let decoded = RequestBody::decode(Command::Peek, &peek.to_bytes()).unwrap();
        assert_eq!(decoded, RequestBody::Peek(peek));
        assert_eq!(decoded.to_bytes(), peek.to_bytes());
        assert_eq!(decoded.preamble(), Some(&peek.preamble));
        assert_eq!(decoded.challenge(), &peek.preamble.challenge);
        assert!(RequestBody::decode(Command::Download, &peek.to_bytes()).is_err());
    }
}
