//! Whole packets: header + encrypted body + terminator, the layer servers and clients call.
//!
//! A request on the wire is the 32-byte plaintext [`RequestHeader`], then `body_size` bytes:
//! the body encrypted with AES-128-CTR (counter from block 0, key = the AN named by header bytes
//! 17–21, nonce = header bytes 24–31), then the plaintext terminator `3E 3E`, which `body_size`
//! counts (peek page 003, "Wire packet"). Echo may use encryption type 0: the body is plaintext.
//!
//! A response is the 32-byte [`ResponseHeader`] alone (status-only: body size 0, no terminator)
//! or followed by the payload and `3E 3E` (body size = payload + 2). How the reply is protected
//! follows from the request's encryption type ([`ReplyProtection`], DECISIONS.md "Interop with
//! the public RAIDA server"):
//!
//! | request byte 16 | signature (response 16–31) | payload |
//! |---|---|---|
//! | 0, plaintext (echo only) | the challenge as it is; bytes 17–21 play no part | plaintext |
//! | 1, AES-128-CTR | challenge XOR the key AN | encrypted, counter from [`crate::crypto::ResponseCounter`] |
//!
//! A server reading a TCP stream reads 32 bytes, decodes the header, reads `body_size` more, and
//! calls [`RequestPacket::from_parts`]; a whole datagram or buffer goes through
//! [`RequestPacket::parse`]. Terminator problems surface as [`DecodeError`]s whose
//! [`DecodeError::status`] is the status to send: a body shorter than 2 bytes is 16, a body not
//! ending in `3E 3E` is 33.
//!
//! A client judges a reply's status byte first: only a 250 carries a signature and echo bytes
//! worth checking (a real RAIDA's header-error replies may carry echo `00 00` and a zero
//! signature). [`parse_protected_response`] / [`open_response_body`] read the payload the way
//! the request's [`ReplyProtection`] says; [`parse_response`] and [`decrypt_response_body`] are
//! their AES-128-CTR forms.

use crate::codec::{Codec, Reader};
use crate::crypto::{apply_keystream, signature, Challenge, Key, Nonce, ResponseCounter};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::{
    Command, EncryptionType, RequestHeader, ResponseHeader, BITFIELD_DEFAULT, FRAME_COUNT_DEFAULT,
    ROUTER_VERSION, SHARD_ID_DEFAULT, SPLIT_ID_SINGLE_FRAME,
};
use crate::limits::{
    BODY_SIZE_BYTES_MAX, COIN_ID_CLOUDCOIN, HEADER_SIZE_BYTES, RESPONSE_BODY_SIZE_BYTES_MAX,
    TERMINATOR, TERMINATOR_SIZE_BYTES,
};
use crate::status::Status;

/// What a client chooses for a request header; everything else takes the rest_core values
/// (version 1, split 0, shard 3, coin id `00 06`, bitfield 1, zero reserved bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestMeta {
    /// Target RAIDA index 0–24.
    pub raida_id: u8,
    /// The command.
    pub command: Command,
    /// [`EncryptionType::Aes128Ctr`] for QMail; [`EncryptionType::None`] only for echo.
    pub encryption_type: EncryptionType,
    /// Denomination of the coin whose AN keys the body.
    pub key_denomination: i8,
    /// Serial number of that coin.
    pub key_serial_number: u32,
    /// The AES-CTR nonce (caller-supplied randomness).
    pub nonce: Nonce,
}

impl RequestMeta {
    /// The header for a body of `body_size_bytes` (terminator included).
    pub fn header(&self, body_size_bytes: u16) -> RequestHeader {
        RequestHeader {
            version: ROUTER_VERSION,
            split_id: SPLIT_ID_SINGLE_FRAME,
            raida_id: self.raida_id,
            shard_id: SHARD_ID_DEFAULT,
            command_group: self.command.group(),
            command_code: self.command.code(),
            coin_id: COIN_ID_CLOUDCOIN,
            bitfield: BITFIELD_DEFAULT,
            reserved: [0; 7],
            encryption_type: self.encryption_type.code(),
            key_denomination: self.key_denomination,
            key_serial_number: self.key_serial_number,
            body_size_bytes,
            nonce: self.nonce,
        }
    }
}

/// The `body_size` of a plaintext body of `body_plain_size_bytes`; panics (caller bug) if the
/// body does not fit a request.
fn request_body_size(body_plain_size_bytes: usize) -> u16 {
    let body_size_bytes = body_plain_size_bytes + TERMINATOR_SIZE_BYTES;
    assert!(
        body_size_bytes <= BODY_SIZE_BYTES_MAX,
        "request body of {body_plain_size_bytes} bytes does not fit BODY_SIZE_BYTES_MAX"
    );
    body_size_bytes as u16
}

/// A complete request: header, body encrypted under `key` (or plaintext for encryption type 0),
/// terminator, with `body_size` set.
pub fn encode_request(meta: &RequestMeta, key: &Key, body_plain: &[u8]) -> Vec<u8> {
    let header = meta.header(request_body_size(body_plain.len()));
    encode_request_with_header(&header, key, body_plain)
}

/// Like [`encode_request`] with a caller-built header (for tests that need unusual header
/// bytes). `body_size_bytes` is overwritten with the real size; the body is encrypted when
/// `encryption_type` is 1 and written in plaintext otherwise.
pub fn encode_request_with_header(header: &RequestHeader, key: &Key, body_plain: &[u8]) -> Vec<u8> {
    let header = RequestHeader {
        body_size_bytes: request_body_size(body_plain.len()),
        ..*header
    };
    let mut out = Vec::with_capacity(HEADER_SIZE_BYTES + usize::from(header.body_size_bytes));
    header.encode(&mut out);
    let body_start = out.len();
    out.extend_from_slice(body_plain);
    if header.encryption_type == EncryptionType::Aes128Ctr.code() {
        apply_keystream(key, &header.nonce, 0, &mut out[body_start..]);
    }
    out.extend_from_slice(&TERMINATOR);
    assert_eq!(
        out.len(),
        HEADER_SIZE_BYTES + usize::from(header.body_size_bytes)
    );
    out
}

/// The body without its terminator: 16 (as [`DecodeErrorKind::Truncated`]) if shorter than the
/// terminator, 33 ([`DecodeErrorKind::BadTerminator`]) if it does not end in `3E 3E`. Offsets
/// are from the start of the body.
pub fn strip_terminator(body: &[u8]) -> Result<&[u8], DecodeError> {
    let Some(content_size_bytes) = body.len().checked_sub(TERMINATOR_SIZE_BYTES) else {
        return Err(DecodeError::new(
            "terminator",
            0,
            DecodeErrorKind::Truncated {
                needed_bytes: TERMINATOR_SIZE_BYTES,
                available_bytes: body.len(),
            },
        ));
    };
    let (content, terminator) = body.split_at(content_size_bytes);
    if terminator != TERMINATOR {
        let found = [terminator[0], terminator[1]];
        return Err(DecodeError::new(
            "terminator",
            content_size_bytes,
            DecodeErrorKind::BadTerminator { found },
        ));
    }
    Ok(content)
}

/// Decrypts an encrypted request body (terminator already stripped), counter from block 0.
pub fn decrypt_body(key: &Key, nonce: &Nonce, encrypted: &[u8]) -> Vec<u8> {
    let mut plain = encrypted.to_vec();
    apply_keystream(key, nonce, 0, &mut plain);
    plain
}

/// A request split into its header and its body bytes (terminator included, still encrypted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPacket<'a> {
    /// The plaintext header.
    pub header: RequestHeader,
    /// The `body_size` bytes after the header: encrypted body then terminator.
    pub body: &'a [u8],
}

impl<'a> RequestPacket<'a> {
    /// Splits a whole packet. The bytes after the header must be exactly `body_size`
    /// ([`DecodeErrorKind::Truncated`] or [`DecodeErrorKind::TrailingBytes`] otherwise).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = RequestHeader::read(&mut r)?;
        let body = r.take("body", usize::from(header.body_size_bytes))?;
        r.expect_empty("body")?;
        Ok(Self { header, body })
    }

    /// A packet from a header already read and the `body_size` bytes read after it.
    pub fn from_parts(header: RequestHeader, body: &'a [u8]) -> Result<Self, DecodeError> {
        let declared = usize::from(header.body_size_bytes);
        if body.len() != declared {
            return Err(DecodeError::new(
                "body_size",
                22,
                DecodeErrorKind::Mismatch {
                    declared: declared as u64,
                    actual: body.len() as u64,
                },
            ));
        }
        Ok(Self { header, body })
    }

    /// The command named by the header, if known.
    pub fn command(&self) -> Option<Command> {
        self.header.command()
    }

    /// The body without its terminator, still encrypted (see [`strip_terminator`]).
    pub fn encrypted_body(&self) -> Result<&'a [u8], DecodeError> {
        strip_terminator(self.body)
    }

    /// The decrypted body, terminator stripped. `encryption` is the type the server accepted
    /// for this header ([`crate::validate::validate_request_header`]); `key` is ignored for
    /// [`EncryptionType::None`].
    pub fn body_plain(
        &self,
        encryption: EncryptionType,
        key: &Key,
    ) -> Result<Vec<u8>, DecodeError> {
        let encrypted = self.encrypted_body()?;
        Ok(match encryption {
            EncryptionType::None => encrypted.to_vec(),
            EncryptionType::Aes128Ctr => decrypt_body(key, &self.header.nonce, encrypted),
        })
    }
}

/// What a server chooses for a response header; shard 0, frame count 1 and reserved 0 are fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResponseMeta {
    /// The responding RAIDA's index.
    pub raida_id: u8,
    /// The status.
    pub status: Status,
    /// The request's command group.
    pub command_group: u8,
    /// The request's bytes 30–31.
    pub echo: [u8; 2],
    /// Server execution time in microseconds.
    pub execution_time_us: u32,
    /// Challenge XOR key AN ([`crate::crypto::signature`]), or zero when there is none.
    pub signature: [u8; 16],
}

impl ResponseMeta {
    /// A reply to `request` from RAIDA `raida_id`: command group and echo bytes copied from the
    /// request, zero execution time and signature (set them before encoding if known).
    pub fn reply_to(request: &RequestHeader, raida_id: u8, status: Status) -> Self {
        Self {
            raida_id,
            status,
            command_group: request.command_group,
            echo: request.echo_bytes(),
            execution_time_us: 0,
            signature: [0; 16],
        }
    }

    fn header(&self, body_size_bytes: u32) -> ResponseHeader {
        ResponseHeader {
            raida_id: self.raida_id,
            shard_id: 0,
            status: self.status.code(),
            command_group: self.command_group,
            frame_count: FRAME_COUNT_DEFAULT,
            echo: self.echo,
            reserved: 0,
            body_size_bytes,
            execution_time_us: self.execution_time_us,
            signature: self.signature,
        }
    }
}

/// The key, nonce and first counter block of a response payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayloadCipher {
    /// The request's key AN.
    pub key: Key,
    /// The request's nonce.
    pub nonce: Nonce,
    /// First counter block ([`crate::crypto::ResponseCounter::start_block`]).
    pub start_block: u128,
}

/// How a reply is signed and its payload carried; it follows from the request's encryption
/// type (see the module docs' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyProtection {
    /// A reply to an encryption-type-0 request (echo only): signature = the challenge as it
    /// is, payload in plaintext. No AN is involved, even when bytes 17–21 name a held coin.
    Plaintext,
    /// A reply to an encryption-type-1 request: signature = challenge XOR `key`, payload
    /// encrypted under the request's key and nonce from `start_block`.
    Aes128Ctr(PayloadCipher),
}

impl ReplyProtection {
    /// The protection of a reply to a request of type `encryption` keyed by `key` (ignored
    /// for type 0) with `nonce`, whose body less its terminator was
    /// `request_encrypted_size_bytes` long, under the `response_counter` setting `counter`.
    pub fn for_request(
        encryption: EncryptionType,
        key: &Key,
        nonce: &Nonce,
        counter: ResponseCounter,
        request_encrypted_size_bytes: usize,
    ) -> Self {
        match encryption {
            EncryptionType::None => ReplyProtection::Plaintext,
            EncryptionType::Aes128Ctr => ReplyProtection::Aes128Ctr(PayloadCipher {
                key: *key,
                nonce: *nonce,
                start_block: counter.start_block(request_encrypted_size_bytes),
            }),
        }
    }

    /// The encryption type of the request this reply answers.
    pub const fn encryption(&self) -> EncryptionType {
        match self {
            ReplyProtection::Plaintext => EncryptionType::None,
            ReplyProtection::Aes128Ctr(_) => EncryptionType::Aes128Ctr,
        }
    }

    /// Response bytes 16–31 of a reply to a request whose decrypted challenge is `challenge`.
    pub fn signature(&self, challenge: &Challenge) -> [u8; 16] {
        match self {
            ReplyProtection::Plaintext => *challenge.as_bytes(),
            ReplyProtection::Aes128Ctr(cipher) => signature(challenge, &cipher.key),
        }
    }

    /// Encrypts or decrypts a payload in place; plaintext payloads are left as they are.
    pub fn apply_to_payload(&self, payload: &mut [u8]) {
        match self {
            ReplyProtection::Plaintext => {}
            ReplyProtection::Aes128Ctr(cipher) => {
                apply_keystream(&cipher.key, &cipher.nonce, cipher.start_block, payload);
            }
        }
    }
}

/// A complete response. `payload` is `None` for a status-only reply (body size 0, no
/// terminator), or the protection of the request and the plaintext payload to protect and
/// terminate.
pub fn encode_protected_response(
    meta: &ResponseMeta,
    payload: Option<(&ReplyProtection, &[u8])>,
) -> Vec<u8> {
    let Some((protection, payload_plain)) = payload else {
        return meta.header(0).to_bytes();
    };
    let body_size_bytes = payload_plain.len() + TERMINATOR_SIZE_BYTES;
    assert!(
        body_size_bytes <= RESPONSE_BODY_SIZE_BYTES_MAX,
        "response payload of {} bytes does not fit the u24 body size",
        payload_plain.len()
    );
    let mut out = Vec::with_capacity(HEADER_SIZE_BYTES + body_size_bytes);
    meta.header(body_size_bytes as u32).encode(&mut out);
    let payload_start = out.len();
    out.extend_from_slice(payload_plain);
    protection.apply_to_payload(&mut out[payload_start..]);
    out.extend_from_slice(&TERMINATOR);
    assert_eq!(out.len(), HEADER_SIZE_BYTES + body_size_bytes);
    out
}

/// [`encode_protected_response`] for a reply to an AES-128-CTR request: the payload is
/// encrypted with `cipher`.
pub fn encode_response(meta: &ResponseMeta, payload: Option<(&PayloadCipher, &[u8])>) -> Vec<u8> {
    match payload {
        None => encode_protected_response(meta, None),
        Some((cipher, payload_plain)) => encode_protected_response(
            meta,
            Some((&ReplyProtection::Aes128Ctr(*cipher), payload_plain)),
        ),
    }
}

/// Reads the body after a response header: `None` when the body size is 0, else the
/// plaintext payload, opened as `protection` says. `body` must be exactly `body_size` bytes
/// (offsets in errors are from the start of the body).
pub fn open_response_body(
    header: &ResponseHeader,
    body: &[u8],
    protection: &ReplyProtection,
) -> Result<Option<Vec<u8>>, DecodeError> {
    let declared = header.body_size_bytes as usize;
    if body.len() != declared {
        return Err(DecodeError::new(
            "body_size",
            0,
            DecodeErrorKind::Mismatch {
                declared: declared as u64,
                actual: body.len() as u64,
            },
        ));
    }
    if declared == 0 {
        return Ok(None);
    }
    let mut payload = strip_terminator(body)?.to_vec();
    protection.apply_to_payload(&mut payload);
    Ok(Some(payload))
}

/// [`open_response_body`] for a reply to an AES-128-CTR request.
pub fn decrypt_response_body(
    header: &ResponseHeader,
    body: &[u8],
    cipher: &PayloadCipher,
) -> Result<Option<Vec<u8>>, DecodeError> {
    open_response_body(header, body, &ReplyProtection::Aes128Ctr(*cipher))
}

/// Parses a whole response: the header, and the payload (opened as `protection` says) if the
/// body size is not 0. Checks framing only: judging the status, echo and signature is the
/// caller's (status first).
pub fn parse_protected_response(
    bytes: &[u8],
    protection: &ReplyProtection,
) -> Result<(ResponseHeader, Option<Vec<u8>>), DecodeError> {
    let mut r = Reader::new(bytes);
    let header = ResponseHeader::read(&mut r)?;
    let body = r.take("body", header.body_size_bytes as usize)?;
    r.expect_empty("body")?;
    let payload = open_response_body(&header, body, protection).map_err(|error| DecodeError {
        offset: error.offset + HEADER_SIZE_BYTES,
        ..error
    })?;
    Ok((header, payload))
}

/// [`parse_protected_response`] for a reply to an AES-128-CTR request.
pub fn parse_response(
    bytes: &[u8],
    cipher: &PayloadCipher,
) -> Result<(ResponseHeader, Option<Vec<u8>>), DecodeError> {
    parse_protected_response(bytes, &ReplyProtection::Aes128Ctr(*cipher))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::PeekBody;
    use crate::crypto::{signature, Challenge, ResponseCounter};
    use crate::preamble::Preamble;
    use crate::response::TellList;

    const KEY: Key = [0x4B; 16];
    const NONCE: Nonce = [1, 2, 3, 4, 5, 6, 7, 8];

    fn meta(command: Command) -> RequestMeta {
        RequestMeta {
            raida_id: 11,
            command,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: 1,
            key_serial_number: 555,
            nonce: NONCE,
        }
    }

    fn peek_body() -> PeekBody {
        PeekBody {
            preamble: Preamble::new(Challenge::from_random([3; 12]), 1, 555, KEY),
            since_timestamp_s: 0,
        }
    }

    #[test]
    fn peek_request_is_32_plus_54() {
        let plain = peek_body().to_bytes();
        let packet = encode_request(&meta(Command::Peek), &KEY, &plain);
        assert_eq!(packet.len(), 32 + 54);
        assert_eq!(&packet[22..24], &[0x00, 0x36]);
        assert_eq!(&packet[packet.len() - 2..], &TERMINATOR);
        assert_ne!(&packet[32..84], plain.as_slice(), "body is encrypted");

        let parsed = RequestPacket::parse(&packet).unwrap();
        assert_eq!(parsed.command(), Some(Command::Peek));
        assert_eq!(parsed.body.len(), 54);
        let decrypted = parsed.body_plain(EncryptionType::Aes128Ctr, &KEY).unwrap();
        assert_eq!(decrypted, plain);
        assert_eq!(
            decrypt_body(&KEY, &NONCE, parsed.encrypted_body().unwrap()),
            plain
        );
        assert_eq!(PeekBody::from_bytes(&decrypted).unwrap(), peek_body());
    }

    #[test]
    fn echo_with_encryption_type_zero_is_plaintext() {
        let challenge = Challenge::from_random([9; 12]);
        let request = RequestMeta {
            command: Command::Echo,
            encryption_type: EncryptionType::None,
            ..meta(Command::Echo)
        };
        let packet = encode_request(&request, &[0; 16], challenge.as_bytes());
        assert_eq!(&packet[32..48], challenge.as_bytes());
        assert_eq!(&packet[4..6], &[0, 0]);
        assert_eq!(packet[16], 0);
        let parsed = RequestPacket::parse(&packet).unwrap();
        assert_eq!(
            parsed.body_plain(EncryptionType::None, &[0; 16]).unwrap(),
            challenge.as_bytes()
        );
    }

    #[test]
    fn terminator_errors_map_to_16_and_33() {
        let mut packet = encode_request(&meta(Command::Peek), &KEY, &peek_body().to_bytes());
        let last = packet.len() - 1;
        packet[last] = 0x3F;
        let parsed = RequestPacket::parse(&packet).unwrap();
        let error = parsed.encrypted_body().unwrap_err();
        assert_eq!(error.status(), Status::InvalidEof);
        assert_eq!(error.offset, 52);

        // A body of one byte has no room for the terminator: 16, not 33.
        let mut short = meta(Command::Ping).header(1).to_bytes();
        short.push(0x3E);
        let parsed = RequestPacket::parse(&short).unwrap();
        assert_eq!(
            parsed.encrypted_body().unwrap_err().status(),
            Status::InvalidPacketLength
        );
    }

    #[test]
    fn caller_built_header_keeps_its_bytes_but_not_its_body_size() {
        let mut header = meta(Command::Upload).header(999);
        header.version = 2;
        header.reserved = [7; 7];
        let plain = [1u8, 2, 3];
        let packet = encode_request_with_header(&header, &KEY, &plain);
        let parsed = RequestPacket::parse(&packet).unwrap();
        assert_eq!(parsed.header.version, 2);
        assert_eq!(parsed.header.reserved, [7; 7]);
        assert_eq!(parsed.header.body_size_bytes, 5);
        assert_eq!(
            parsed.body_plain(EncryptionType::Aes128Ctr, &KEY).unwrap(),
            plain
        );
        // Any type other than 1 is written in plaintext.
        header.encryption_type = 9;
        let packet = encode_request_with_header(&header, &KEY, &plain);
        assert_eq!(&packet[32..35], &plain);
    }

    #[test]
    fn packet_length_must_match_body_size() {
        let packet = encode_request(&meta(Command::Peek), &KEY, &peek_body().to_bytes());
        let error = RequestPacket::parse(&packet[..packet.len() - 1]).unwrap_err();
        assert_eq!(error.field, "body");
        assert!(matches!(error.kind, DecodeErrorKind::Truncated { .. }));
        let mut long = packet.clone();
        long.push(0);
        assert_eq!(
            RequestPacket::parse(&long).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes { count: 1 }
        );
        let header = RequestHeader::from_bytes(&packet[..32]).unwrap();
        assert!(RequestPacket::from_parts(header, &packet[32..]).is_ok());
        assert!(RequestPacket::from_parts(header, &packet[33..]).is_err());
    }

    #[test]
    fn status_only_response_has_no_body() {
        let request = meta(Command::Ping).header(54);
        let mut reply = ResponseMeta::reply_to(&request, 11, Status::UdpFrameTimeout);
        reply.signature = signature(&Challenge::from_random([1; 12]), &KEY);
        let bytes = encode_response(&reply, None);
        assert_eq!(bytes.len(), 32);
        assert_eq!(&bytes[9..12], &[0, 0, 0]);
        assert_eq!(bytes[2], 17);
        assert_eq!(&bytes[6..8], &[7, 8]);
        let cipher = PayloadCipher {
            key: KEY,
            nonce: NONCE,
            start_block: 0,
        };
        let (header, payload) = parse_response(&bytes, &cipher).unwrap();
        assert_eq!(header.status(), Some(Status::UdpFrameTimeout));
        assert_eq!(header.signature, reply.signature);
        assert_eq!(payload, None);
    }

    #[test]
    fn empty_peek_reply_has_body_size_10() {
        let request = meta(Command::Peek).header(54);
        let reply = ResponseMeta::reply_to(&request, 11, Status::Success);
        let cipher = PayloadCipher {
            key: KEY,
            nonce: NONCE,
            start_block: 0,
        };
        let payload = TellList::default().to_bytes();
        assert_eq!(payload, [0; 8]);
        let bytes = encode_response(&reply, Some((&cipher, &payload)));
        assert_eq!(bytes.len(), 32 + 10);
        assert_eq!(&bytes[9..12], &[0, 0, 10]);
        let (header, plain) = parse_response(&bytes, &cipher).unwrap();
        assert_eq!(header.body_size_bytes, 10);
        assert_eq!(
            TellList::from_bytes(&plain.unwrap()).unwrap(),
            TellList::default()
        );
    }

    /// A full request/response exchange under both response-counter settings, and what breaks
    /// when client and server disagree.
    #[test]
    fn round_trip_with_both_response_counters() {
        let plain = peek_body().to_bytes();
        let packet = encode_request(&meta(Command::Peek), &KEY, &plain);
        let parsed = RequestPacket::parse(&packet).unwrap();
        let encrypted_size_bytes = parsed.encrypted_body().unwrap().len();
        assert_eq!(encrypted_size_bytes, 52);
        let payload: Vec<u8> = (0..100u8).collect();
        let mut replies = Vec::new();
        for counter in [ResponseCounter::Restart, ResponseCounter::Continue] {
            let cipher = PayloadCipher {
                key: KEY,
                nonce: parsed.header.nonce,
                start_block: counter.start_block(encrypted_size_bytes),
            };
            let reply = ResponseMeta::reply_to(&parsed.header, 11, Status::Success);
            let bytes = encode_response(&reply, Some((&cipher, &payload)));
            let (_, decrypted) = parse_response(&bytes, &cipher).unwrap();
            assert_eq!(decrypted.as_deref(), Some(payload.as_slice()));
            replies.push((cipher, bytes));
        }
        assert_eq!(replies[1].0.start_block, 4);
        assert_ne!(replies[0].1, replies[1].1);
        // A client on the other setting decrypts garbage.
        let (_, wrong) = parse_response(&replies[1].1, &replies[0].0).unwrap();
        assert_ne!(wrong.as_deref(), Some(payload.as_slice()));
    }

    #[test]
    fn response_body_errors() {
        let cipher = PayloadCipher {
            key: KEY,
            nonce: NONCE,
            start_block: 0,
        };
        let reply = ResponseMeta::reply_to(&meta(Command::Download).header(87), 3, Status::Success);
        let mut bytes = encode_response(&reply, Some((&cipher, &[1, 2, 3])));
        assert!(parse_response(&bytes[..bytes.len() - 1], &cipher).is_err());
        let last = bytes.len() - 1;
        bytes[last] = 0;
        let error = parse_response(&bytes, &cipher).unwrap_err();
        assert_eq!(error.status(), Status::InvalidEof);
        assert_eq!(error.offset, 32 + 3);
        let header = ResponseHeader::from_bytes(&bytes[..32]).unwrap();
        assert!(decrypt_response_body(&header, &bytes[32..36], &cipher).is_err());
    }

    /// DECISIONS.md "Interop": a reply to a type-0 request is signed with the challenge as it
    /// is and carries its payload in plaintext; a type-1 reply XORs the AN and encrypts.
    #[test]
    fn reply_protection_follows_the_request_type() {
        let challenge = Challenge::from_random([0x5C; 12]);
        let plain = ReplyProtection::for_request(
            EncryptionType::None,
            &KEY,
            &NONCE,
            ResponseCounter::Continue,
            16,
        );
        assert_eq!(plain, ReplyProtection::Plaintext);
        assert_eq!(plain.encryption(), EncryptionType::None);
        assert_eq!(plain.signature(&challenge), *challenge.as_bytes());
        let aes = ReplyProtection::for_request(
            EncryptionType::Aes128Ctr,
            &KEY,
            &NONCE,
            ResponseCounter::Continue,
            17,
        );
        assert_eq!(
            aes,
            ReplyProtection::Aes128Ctr(PayloadCipher {
                key: KEY,
                nonce: NONCE,
                start_block: 2,
            })
        );
        assert_eq!(aes.signature(&challenge), signature(&challenge, &KEY));

        let request = meta(Command::Echo).header(18);
        let reply = ResponseMeta::reply_to(&request, 11, Status::Success);
        let payload = [1u8, 2, 3, 4, 5];
        let bytes = encode_protected_response(&reply, Some((&plain, &payload)));
        assert_eq!(&bytes[32..37], &payload, "type 0: no keystream");
        assert_eq!(&bytes[37..], &TERMINATOR);
        let (_, opened) = parse_protected_response(&bytes, &plain).unwrap();
        assert_eq!(opened.as_deref(), Some(&payload[..]));
        // A decoder that applied a keystream (even with a zero key) would garble it.
        let zero_key = PayloadCipher {
            key: [0; 16],
            nonce: NONCE,
            start_block: 0,
        };
        let (_, garbled) = parse_response(&bytes, &zero_key).unwrap();
        assert_ne!(garbled.as_deref(), Some(&payload[..]));

        let bytes = encode_protected_response(&reply, Some((&aes, &payload)));
        assert_ne!(&bytes[32..37], &payload);
        let ReplyProtection::Aes128Ctr(cipher) = aes else {
            unreachable!("built as AES above")
        };
        assert_eq!(bytes, encode_response(&reply, Some((&cipher, &payload))));
        let (_, opened) = parse_protected_response(&bytes, &aes).unwrap();
        assert_eq!(opened.as_deref(), Some(&payload[..]));
    }
}
