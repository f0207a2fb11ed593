//! qmail-wire: the sans-IO codec and crypto of QMail (RAIDA group 6, commands 70–74, and echo).
//!
//! This crate turns bytes into typed messages and back, encrypts and decrypts bodies, and states
//! the server's byte-level rules as pure functions. It does no I/O, reads no clock and draws no
//! randomness: callers pass in bytes, keys (ANs), nonces, the 12 random challenge bytes and the
//! server's current time. The authority is `shared/spec/` (pages 000–004) and its
//! `DECISIONS.md`; every module says which table it implements.
//!
//! # Layers, bottom up
//!
//! ```text
//!  packet     header + AES-CTR(body) + 3E 3E; status-only or payload responses, protected
//!             as the request's encryption type says (ReplyProtection)
//!    |  uses
//!  header     RequestHeader / ResponseHeader (32 plaintext bytes each), Command, EncryptionType
//!  crypto     AES-128-CTR (nonce ‖ 0⁸, +1 per block), ResponseCounter, Challenge, signature, crc32
//!    |
//!  body       decrypted request bodies, terminator stripped: Echo, Upload, Tell, Ping, Peek,
//!             Download (+ RequestBody to dispatch on Command)
//!  response   decrypted response payloads: TellList (ping/peek), DownloadPage (download)
//!    |  built from
//!  preamble   the 48-byte universal preamble every QMail body starts with
//!  tell       RoutingHeader, AddressEntry, FileHeader, ServerEntry, ManifestEntry, TellRecord
//!    |  built on
//!  codec      Reader and the Codec trait (encode / read / to_bytes / from_bytes)
//!  error      DecodeError {field, offset, kind}; DecodeError::status() = the status to send
//!  status     Status: every RAIDA status code the project uses
//!  limits     every size, count and range, with compile-time asserts between them
//!
//!  validate   the server's byte-level rules, each returning the exact Status to send
//!  reserved   the catalogue of reserved bytes (structure, offset, size, scope)
//!  extension  the claim registry: which protocol extension owns which reserved bytes
//! ```
//!
//! # How a server uses it
//!
//! 1. Read 32 bytes, [`header::RequestHeader`] via [`codec::Codec::from_bytes`]; read
//!    `body_size` more bytes; [`packet::RequestPacket::from_parts`].
//! 2. [`validate::validate_request_header`] (255, 2, 3, 4, 5, 6, 7, then 34 or 27 for the
//!    encryption type), look up the key coin of a type-1 request (34; a type-0 echo names
//!    none), [`packet::RequestPacket::body_plain`] (16 or 33 via
//!    [`error::DecodeError::status`]).
//! 3. [`body::RequestBody::decode`] (16 or 198 via `DecodeError::status`),
//!    [`validate::validate_challenge`] (37), [`validate::validate_denomination`] (40), then the
//!    server's coin and AN checks, then command rules such as [`validate::validate_tell`].
//! 4. Answer with [`packet::encode_protected_response`]: status only, or a
//!    [`response::TellList`] / [`response::DownloadPage`] payload, signed and carried as the
//!    request's [`packet::ReplyProtection`] says (type 0: the challenge as it is, plaintext;
//!    type 1: challenge XOR AN, encrypted from [`crypto::ResponseCounter::start_block`]).
//!
//! A client does the mirror image: [`packet::encode_request`] with a body's `to_bytes()`, then
//! [`packet::parse_protected_response`], judging the status byte first (echo bytes and
//! signature only on 250, DECISIONS.md "Interop with the public RAIDA server"), then
//! `TellList::from_bytes` / `DownloadPage::from_bytes`.
//!
//! # Invariants
//!
//! - Decoding never panics, whatever the input; it returns a [`error::DecodeError`] naming the
//!   field and offset. Decoders check lengths before field values.
//! - Every structure keeps every byte (reserved and unknown values included), so for every
//!   accepted input `from_bytes(x)?.to_bytes() == x`.
//! - Encoding cannot fail; a value that cannot be encoded (a stripe larger than
//!   [`limits::STRIPE_SIZE_BYTES_MAX`], counts that disagree with vectors) is a caller bug and
//!   panics.

pub mod body;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod extension;
pub mod header;
pub mod limits;
pub mod packet;
pub mod preamble;
pub mod reserved;
pub mod response;
pub mod status;
pub mod tell;
pub mod validate;

#[cfg(test)]
mod proptests;

pub use codec::{Codec, Reader};
pub use error::{DecodeError, DecodeErrorKind};
pub use status::Status;
