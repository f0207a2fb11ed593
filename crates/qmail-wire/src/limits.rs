//! Every size, count and range of the QMail wire format, in one place.
//!
//! The numbers come from the protocol pages in `shared/spec/` (tell page 002, peek page 003,
//! ping page 004, overview page 001) and from `DECISIONS.md` (upload and download layouts, the
//! AES counter, the tell skew). The compile-time asserts at the bottom tie them together so a
//! change to one that breaks another fails the build instead of a test.

/// Largest request body the 16-bit `body_size` header field can declare. The count includes the
/// 2-byte `3E 3E` terminator (DECISIONS.md, "Request header").
pub const BODY_SIZE_BYTES_MAX: usize = 65_535;

/// Size of the plaintext RAIDA request header and of the response header (peek page 003).
pub const HEADER_SIZE_BYTES: usize = 32;

/// Size of the universal QMail preamble at the start of every decrypted body (page 001).
pub const PREAMBLE_SIZE_BYTES: usize = 48;

/// The plaintext end-of-body marker; counted in `body_size`, never encrypted.
pub const TERMINATOR: [u8; 2] = [0x3E, 0x3E];

/// Size of [`TERMINATOR`].
pub const TERMINATOR_SIZE_BYTES: usize = TERMINATOR.len();

/// Size of the challenge at the start of every body: 12 random bytes + a 4-byte CRC-32.
pub const CHALLENGE_SIZE_BYTES: usize = 16;

/// Number of random bytes in a challenge.
pub const CHALLENGE_RANDOM_SIZE_BYTES: usize = 12;

/// Size of an AN (authenticity number), the AES-128 key.
pub const AN_SIZE_BYTES: usize = 16;

/// Size of a file/email GUID.
pub const GUID_SIZE_BYTES: usize = 16;

/// Size of a locker code or locker key (ASCII, NUL padded).
pub const LOCKER_CODE_SIZE_BYTES: usize = 16;

/// Size of the AES-CTR nonce carried in request header bytes 24–31.
pub const NONCE_SIZE_BYTES: usize = 8;

/// Size of one AES block, the unit the CTR counter advances by.
pub const AES_BLOCK_SIZE_BYTES: usize = 16;

/// Upload fields after the preamble and before the data: GUID 16, locker code 16, file_type 1,
/// storage_duration 1, data_length 4 (DECISIONS.md, "Upload (70) request body").
pub const UPLOAD_FIELDS_SIZE_BYTES: usize = GUID_SIZE_BYTES + LOCKER_CODE_SIZE_BYTES + 1 + 1 + 4;

/// Upload body bytes that are not stripe data: preamble, upload fields, terminator.
pub const UPLOAD_FIXED_SIZE_BYTES: usize =
    PREAMBLE_SIZE_BYTES + UPLOAD_FIELDS_SIZE_BYTES + TERMINATOR_SIZE_BYTES;

/// Largest stripe one upload can carry: the body maximum less the fixed upload bytes.
pub const STRIPE_SIZE_BYTES_MAX: usize = BODY_SIZE_BYTES_MAX - UPLOAD_FIXED_SIZE_BYTES;

/// Download request fields after the preamble: GUID 16, locker code 16, file_type 1,
/// bytes_per_page 1, page_number 3 (DECISIONS.md, "Download (74) request body").
pub const DOWNLOAD_FIELDS_SIZE_BYTES: usize = GUID_SIZE_BYTES + LOCKER_CODE_SIZE_BYTES + 1 + 1 + 3;

/// Decrypted download request body size (without the terminator).
pub const DOWNLOAD_BODY_SIZE_BYTES: usize = PREAMBLE_SIZE_BYTES + DOWNLOAD_FIELDS_SIZE_BYTES;

/// Decrypted peek request body size (without the terminator): preamble + since_timestamp.
pub const PEEK_BODY_SIZE_BYTES: usize = PREAMBLE_SIZE_BYTES + 4;

/// Decrypted echo request body size (without the terminator): the challenge alone.
pub const ECHO_BODY_SIZE_BYTES: usize = CHALLENGE_SIZE_BYTES;

/// Largest page number a download request can name (`page_number` is a u24 on the wire).
pub const PAGE_NUMBER_MAX: u32 = (1 << 24) - 1;

/// Most stripes (server-location entries) one file can have (tell page: stripe_count 1…32).
pub const STRIPE_COUNT_MAX: usize = 32;

/// Fewest stripes one file can have.
pub const STRIPE_COUNT_MIN: usize = 1;

/// Most server-location entries in one tell; equals [`STRIPE_COUNT_MAX`] because the tell page
/// requires `server_count == stripe_count`.
pub const SERVER_COUNT_MAX: usize = STRIPE_COUNT_MAX;

/// Most tell records one ping/peek reply carries: `tell_count` is one byte.
pub const TELLS_PER_REPLY_MAX: usize = 255;

/// Size of one download page (the server hard-codes 256 KiB pages).
pub const PAGE_SIZE_BYTES: usize = 262_144;

/// Number of RAIDA servers (indices 0–24).
pub const RAIDA_COUNT: usize = 25;

/// Size of the tell file header (`qmail_file_header_t`).
pub const FILE_HEADER_SIZE_BYTES: usize = 64;

/// Size of one server-location entry.
pub const SERVER_ENTRY_SIZE_BYTES: usize = 32;

/// Size of one file manifest entry; also the only valid `file_entry_size` (manifest v1).
pub const MANIFEST_ENTRY_SIZE_BYTES: usize = 16;

/// Size of one tell recipient address entry (`qmail_address_entry_t`).
pub const ADDRESS_ENTRY_SIZE_BYTES: usize = 32;

/// Size of the tell routing header (`qmail_tell_req_t`), body offsets 48–95.
pub const ROUTING_HEADER_SIZE_BYTES: usize = 48;

/// Size of the ping/peek reply array header (`qmail_response_array_header_t`).
pub const TELL_ARRAY_HEADER_SIZE_BYTES: usize = 8;

/// Size of the legacy (manifest v0) recipient footer: tag 0x50, length 16, 16-byte locker.
pub const LEGACY_FOOTER_SIZE_BYTES: usize = 18;

/// Size of the download reply page header.
pub const PAGE_HEADER_SIZE_BYTES: usize = 8;

/// Smallest valid coin denomination (preamble, file header and address entries).
pub const DENOMINATION_MIN: i8 = -8;

/// Largest valid coin denomination.
pub const DENOMINATION_MAX: i8 = 6;

/// Default tolerance between a tell's timestamps and the beacon's clock (`tell_skew_s`).
pub const TELL_SKEW_S_DEFAULT: u64 = 60;

/// Most recipients one tell can name: `address_count` is one byte. [`TELL_BODY_SIZE_BYTES_MAX`]
/// shows that this many always fit in one body.
pub const RECIPIENTS_PER_TELL_MAX: usize = u8::MAX as usize;

/// Most files one manifest can list: `file_count` is one byte. The largest manifest
/// (`255 × 16 = 4080` bytes) fits the u16 `manifest_len`.
pub const FILES_PER_MANIFEST_MAX: usize = u8::MAX as usize;

/// Largest manifest a v1 record can carry.
pub const MANIFEST_SIZE_BYTES_MAX: usize = FILES_PER_MANIFEST_MAX * MANIFEST_ENTRY_SIZE_BYTES;

/// Largest valid tell record: file header, 32 server entries, 255 manifest entries.
pub const TELL_RECORD_SIZE_BYTES_MAX: usize =
    FILE_HEADER_SIZE_BYTES + STRIPE_COUNT_MAX * SERVER_ENTRY_SIZE_BYTES + MANIFEST_SIZE_BYTES_MAX;

/// Largest valid tell request body (with terminator): 255 recipients and the largest record.
pub const TELL_BODY_SIZE_BYTES_MAX: usize = PREAMBLE_SIZE_BYTES
    + ROUTING_HEADER_SIZE_BYTES
    + RECIPIENTS_PER_TELL_MAX * ADDRESS_ENTRY_SIZE_BYTES
    + TELL_RECORD_SIZE_BYTES_MAX
    + TERMINATOR_SIZE_BYTES;

/// Largest body the 3-byte response `body_size` field can declare.
pub const RESPONSE_BODY_SIZE_BYTES_MAX: usize = (1 << 24) - 1;

/// Largest tell-list payload made of valid records.
pub const TELL_LIST_SIZE_BYTES_MAX: usize =
    TELL_ARRAY_HEADER_SIZE_BYTES + TELLS_PER_REPLY_MAX * TELL_RECORD_SIZE_BYTES_MAX;

/// The CloudCoin network ID carried as coin id / coin type (`00 06`).
pub const COIN_ID_CLOUDCOIN: u16 = 0x0006;

/// Largest shard id (request header byte 3) a server accepts; above it: 4
/// `ERROR_INVALID_SHARD_ID` (DECISIONS.md, "Interop with the public RAIDA server").
pub const SHARD_ID_MAX: u8 = 3;

// An upload of the largest stripe exactly fills the largest body.
const _: () = assert!(UPLOAD_FIXED_SIZE_BYTES == 48 + 38 + 2);
const _: () = assert!(STRIPE_SIZE_BYTES_MAX == 65_447);
const _: () = assert!(UPLOAD_FIXED_SIZE_BYTES + STRIPE_SIZE_BYTES_MAX == BODY_SIZE_BYTES_MAX);
// body_size is a u16 on the wire.
const _: () = assert!(BODY_SIZE_BYTES_MAX == u16::MAX as usize);
// The largest tell (255 recipients, 32 servers, 255 files) fits in one body.
const _: () = assert!(TELL_BODY_SIZE_BYTES_MAX <= BODY_SIZE_BYTES_MAX);
const _: () = assert!(TELL_RECORD_SIZE_BYTES_MAX < BODY_SIZE_BYTES_MAX);
// The largest manifest fits the u16 manifest_len field.
const _: () = assert!(MANIFEST_SIZE_BYTES_MAX <= u16::MAX as usize);
// tell_count, address_count, server_count and file_count are one byte each.
const _: () = assert!(TELLS_PER_REPLY_MAX == u8::MAX as usize);
const _: () = assert!(SERVER_COUNT_MAX == STRIPE_COUNT_MAX);
const _: () = assert!(STRIPE_COUNT_MAX <= u8::MAX as usize);
const _: () = assert!(STRIPE_COUNT_MIN >= 1 && STRIPE_COUNT_MIN <= STRIPE_COUNT_MAX);
// A full reply of the largest records, and a full download page, fit the u24 response body size.
const _: () =
    assert!(TELL_LIST_SIZE_BYTES_MAX + TERMINATOR_SIZE_BYTES <= RESPONSE_BODY_SIZE_BYTES_MAX);
const _: () = assert!(
    PAGE_HEADER_SIZE_BYTES + PAGE_SIZE_BYTES + TERMINATOR_SIZE_BYTES
        <= RESPONSE_BODY_SIZE_BYTES_MAX
);
// Fixed bodies fit in a request, and a legacy record with its footer is smaller than the max.
const _: () = assert!(DOWNLOAD_BODY_SIZE_BYTES == 85);
const _: () = assert!(PEEK_BODY_SIZE_BYTES + TERMINATOR_SIZE_BYTES == 54);
const _: () = assert!(
    FILE_HEADER_SIZE_BYTES + STRIPE_COUNT_MAX * SERVER_ENTRY_SIZE_BYTES + LEGACY_FOOTER_SIZE_BYTES
        <= TELL_RECORD_SIZE_BYTES_MAX
);
// The challenge is the first 16 bytes of the preamble; the AN is its last 16.
const _: () = assert!(CHALLENGE_SIZE_BYTES == CHALLENGE_RANDOM_SIZE_BYTES + 4);
const _: () =
    assert!(CHALLENGE_SIZE_BYTES + 8 + 2 + 1 + 4 + 1 + AN_SIZE_BYTES == PREAMBLE_SIZE_BYTES);
const _: () = assert!(RAIDA_COUNT <= u8::MAX as usize);
const _: () = assert!(DENOMINATION_MIN < 0 && DENOMINATION_MAX > 0);
