//! Property tests over every wire type: round trips, strict prefixes, arbitrary and mutated
//! bytes, packet encryption, and the tell size rule. Case counts are kept modest (CI has two
//! cores); the fuzz targets in `fuzz/` run the same decoders without limits.

use crate::body::{
    DownloadBody, EchoBody, PeekBody, PingBody, RequestBody, StorageDuration, TellBody, UploadBody,
};
use crate::codec::Codec;
use crate::crypto::{Challenge, ResponseCounter};
use crate::error::DecodeError;
use crate::header::{Command, EncryptionType, RequestHeader, ResponseHeader};
use crate::limits::{FILE_HEADER_SIZE_BYTES, LEGACY_FOOTER_SIZE_BYTES, PREAMBLE_SIZE_BYTES};
use crate::packet::{
    encode_protected_response, encode_request, encode_response, parse_protected_response,
    parse_response, strip_terminator, PayloadCipher, ReplyProtection, RequestMeta, RequestPacket,
    ResponseMeta,
};
use crate::preamble::Preamble;
use crate::response::{DownloadPage, TellList};
use crate::status::Status;
use crate::tell::{
    AddressEntry, FileHeader, LegacyFooter, ManifestEntry, RoutingHeader, ServerEntry, TellRecord,
    LEGACY_FOOTER_TAG, MANIFEST_VERSION_CURRENT, MANIFEST_VERSION_LEGACY,
};
use crate::validate::validate_tell_body_size;
use proptest::prelude::*;

fn bytes_exact(size_bytes: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), size_bytes)
}

/// Any value of a fixed-size type: decode uniformly random bytes of its size (every byte
/// pattern of a fixed-size struct decodes).
fn fixed<T: Codec + std::fmt::Debug>(size_bytes: usize) -> impl Strategy<Value = T> {
    bytes_exact(size_bytes).prop_map(|bytes| T::from_bytes(&bytes).expect("fixed-size decode"))
}

fn arb_request_header() -> impl Strategy<Value = RequestHeader> {
    fixed(32)
}

fn arb_response_header() -> impl Strategy<Value = ResponseHeader> {
    fixed(32)
}

fn arb_preamble() -> impl Strategy<Value = Preamble> {
    fixed(48)
}

fn arb_routing() -> impl Strategy<Value = RoutingHeader> {
    fixed(48)
}

fn arb_address() -> impl Strategy<Value = AddressEntry> {
    fixed(32)
}

fn arb_server() -> impl Strategy<Value = ServerEntry> {
    fixed(32)
}

fn arb_manifest_entry() -> impl Strategy<Value = ManifestEntry> {
    fixed(16)
}

/// A file header whose first email-id byte is never the legacy footer tag, so a footerless
/// legacy record followed by it is never ambiguous (see `crate::tell`).
fn arb_file_header() -> impl Strategy<Value = FileHeader> {
    fixed::<FileHeader>(64).prop_map(|mut header| {
        if header.email_id[0] == LEGACY_FOOTER_TAG {
            header.email_id[0] = 0;
        }
        header
    })
}

/// A record with consistent counts. `stored`: as in a file or reply (stripe_count = servers,
/// maybe a legacy footer); otherwise as inside a tell (stripe_count arbitrary, no footer).
fn arb_record(stored: bool) -> impl Strategy<Value = TellRecord> {
    (
        arb_file_header(),
        prop::collection::vec(arb_server(), 0..4),
        prop::collection::vec(arb_manifest_entry(), 0..4),
        prop::collection::vec(any::<u8>(), 0..16),
        prop::option::of(any::<[u8; 16]>()),
        prop::bool::ANY,
    )
        .prop_map(
            move |(mut header, servers, manifest, excess, footer, legacy)| {
                if stored {
                    header.stripe_count = servers.len() as u8;
                }
                header.manifest_version = if legacy {
                    MANIFEST_VERSION_LEGACY
                } else {
                    header.manifest_version.max(MANIFEST_VERSION_CURRENT)
                };
                header.manifest_len = (manifest.len() * 16 + excess.len()) as u16;
                let legacy_footer = footer
                    .filter(|_| stored && legacy)
                    .map(|recipient_locker| LegacyFooter { recipient_locker });
                TellRecord {
                    file_header: header,
                    servers,
                    manifest,
                    manifest_excess: excess,
                    legacy_footer,
                }
            },
        )
}

fn arb_tell_body() -> impl Strategy<Value = TellBody> {
    (
        arb_preamble(),
        arb_routing(),
        prop::collection::vec(arb_address(), 1..4),
        arb_record(false).prop_filter("a tell has at least one server", |r| !r.servers.is_empty()),
    )
        .prop_map(|(preamble, routing, recipients, record)| {
            TellBody::new(preamble, routing, recipients, record)
        })
}

fn arb_upload() -> impl Strategy<Value = UploadBody> {
    (
        arb_preamble(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        prop::sample::select(StorageDuration::ALL.to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(preamble, guid, locker_code, file_type, storage_duration, data)| UploadBody {
                preamble,
                guid,
                locker_code,
                file_type,
                storage_duration,
                data,
            },
        )
}

fn arb_ping() -> impl Strategy<Value = PingBody> {
    (arb_preamble(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(
        |(preamble, ignored_bytes)| PingBody {
            preamble,
            ignored_bytes,
        },
    )
}

fn arb_tell_list() -> impl Strategy<Value = TellList> {
    (
        any::<u16>(),
        any::<[u8; 5]>(),
        prop::collection::vec(arb_record(true), 0..4),
    )
        .prop_map(|(total_tells, reserved, records)| TellList {
            total_tells,
            reserved,
            records,
        })
}

fn arb_download_page() -> impl Strategy<Value = DownloadPage> {
    (any::<[u8; 4]>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(head, data)| {
        DownloadPage {
            file_type: head[0],
            version: head[1],
            bytes_per_page_code: head[2],
            page_number_low: head[3],
            data,
        }
    })
}

/// `value` encodes, decodes to itself, and re-encodes byte-identical.
fn check_round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: &T) -> Vec<u8> {
    let bytes = value.to_bytes();
    let decoded = T::from_bytes(&bytes).expect("a valid encoding decodes");
    assert_eq!(&decoded, value);
    assert_eq!(decoded.to_bytes(), bytes);
    bytes
}

/// Every strict prefix of `bytes` fails with a typed error, except the lengths `allowed` says
/// are themselves complete messages.
fn check_prefixes_fail<T: Codec + std::fmt::Debug>(bytes: &[u8], allowed: impl Fn(usize) -> bool) {
    for size_bytes in 0..bytes.len() {
        let result = T::from_bytes(&bytes[..size_bytes]);
        if allowed(size_bytes) {
            let shorter = result.expect("allowed prefix is a complete message");
            assert_eq!(shorter.to_bytes(), &bytes[..size_bytes]);
        } else {
            let error: DecodeError = result.expect_err("strict prefix must not decode");
            assert!(error.offset <= size_bytes, "{error}");
        }
    }
}

/// Whatever `bytes` are, decoding does not panic, and whatever decodes re-encodes identically.
fn check_any_bytes<T: Codec>(bytes: &[u8]) {
    if let Ok(value) = T::from_bytes(bytes) {
        assert_eq!(value.to_bytes(), bytes);
    }
}

fn check_every_decoder(bytes: &[u8]) {
    check_any_bytes::<RequestHeader>(bytes);
    check_any_bytes::<ResponseHeader>(bytes);
    check_any_bytes::<Preamble>(bytes);
    check_any_bytes::<EchoBody>(bytes);
    check_any_bytes::<UploadBody>(bytes);
    check_any_bytes::<TellBody>(bytes);
    check_any_bytes::<PingBody>(bytes);
    check_any_bytes::<PeekBody>(bytes);
    check_any_bytes::<DownloadBody>(bytes);
    check_any_bytes::<RoutingHeader>(bytes);
    check_any_bytes::<AddressEntry>(bytes);
    check_any_bytes::<FileHeader>(bytes);
    check_any_bytes::<ServerEntry>(bytes);
    check_any_bytes::<ManifestEntry>(bytes);
    check_any_bytes::<TellRecord>(bytes);
    check_any_bytes::<TellList>(bytes);
    check_any_bytes::<DownloadPage>(bytes);
    for command in Command::ALL {
        if let Ok(body) = RequestBody::decode(command, bytes) {
            assert_eq!(body.to_bytes(), bytes);
        }
    }
    if let Ok(packet) = RequestPacket::parse(bytes) {
        let _ = packet.body_plain(EncryptionType::Aes128Ctr, &[1; 16]);
    }
    let _ = strip_terminator(bytes);
    let cipher = PayloadCipher {
        key: [2; 16],
        nonce: [3; 8],
        start_block: u128::MAX,
    };
    let _ = parse_response(bytes, &cipher);
    if let Ok((header, Some(payload))) =
        parse_protected_response(bytes, &ReplyProtection::Plaintext)
    {
        // A plaintext payload is the body less its terminator, byte for byte.
        assert_eq!(payload.len() + 2, header.body_size_bytes as usize);
        assert_eq!(&bytes[32..32 + payload.len()], payload.as_slice());
    }
}

/// Flips the bytes at `flips` (positions taken modulo the length).
fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for (position, mask) in flips {
            let index = position % bytes.len();
            bytes[index] ^= mask;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fixed_structures_round_trip(
        request in arb_request_header(),
        response in arb_response_header(),
        preamble in arb_preamble(),
        routing in arb_routing(),
        address in arb_address(),
        file_header in arb_file_header(),
        server in arb_server(),
        manifest in arb_manifest_entry(),
    ) {
        check_prefixes_fail::<RequestHeader>(&check_round_trip(&request), |_| false);
        check_prefixes_fail::<ResponseHeader>(&check_round_trip(&response), |_| false);
        check_prefixes_fail::<Preamble>(&check_round_trip(&preamble), |_| false);
        check_prefixes_fail::<RoutingHeader>(&check_round_trip(&routing), |_| false);
        check_prefixes_fail::<AddressEntry>(&check_round_trip(&address), |_| false);
        check_prefixes_fail::<FileHeader>(&check_round_trip(&file_header), |_| false);
        check_prefixes_fail::<ServerEntry>(&check_round_trip(&server), |_| false);
        check_prefixes_fail::<ManifestEntry>(&check_round_trip(&manifest), |_| false);
    }

    #[test]
    fn fixed_bodies_round_trip(
        challenge in any::<[u8; 16]>(),
        preamble in arb_preamble(),
        since in any::<u32>(),
        download in fixed::<DownloadBody>(85),
    ) {
        let echo = EchoBody { challenge: Challenge(challenge) };
        check_prefixes_fail::<EchoBody>(&check_round_trip(&echo), |_| false);
        let peek = PeekBody { preamble, since_timestamp_s: since };
        check_prefixes_fail::<PeekBody>(&check_round_trip(&peek), |_| false);
        check_prefixes_fail::<DownloadBody>(&check_round_trip(&download), |_| false);
    }

    #[test]
    fn upload_round_trips(body in arb_upload()) {
        let bytes = check_round_trip(&body);
        prop_assert_eq!(bytes.len(), 48 + 38 + body.data.len());
        check_prefixes_fail::<UploadBody>(&bytes, |_| false);
    }

    /// Ping keeps any bytes after the preamble, so every prefix of at least 48 bytes is itself a
    /// valid ping; shorter ones fail.
    #[test]
    fn ping_round_trips(body in arb_ping()) {
        let bytes = check_round_trip(&body);
        check_prefixes_fail::<PingBody>(&bytes, |size_bytes| size_bytes >= PREAMBLE_SIZE_BYTES);
    }

    #[test]
    fn tell_body_round_trips_and_has_the_page_size(body in arb_tell_body()) {
        let bytes = check_round_trip(&body);
        let r = body.recipients.len();
        let m = body.record.servers.len();
        let manifest_len = usize::from(body.record.file_header.manifest_len);
        prop_assert_eq!(bytes.len() + 2, 48 + 48 + 32 * r + 64 + 32 * m + manifest_len + 2);
        prop_assert_eq!(bytes.len() + 2, body.body_size_bytes());
        prop_assert!(validate_tell_body_size(
            bytes.len() + 2,
            body.routing.address_count,
            body.routing.server_count,
            body.record.file_header.manifest_len,
        ).is_ok());
        check_prefixes_fail::<TellBody>(&bytes, |_| false);
    }

    #[test]
    fn tell_record_round_trips(record in arb_record(true)) {
        let bytes = check_round_trip(&record);
        prop_assert_eq!(
            bytes.len(),
            record.file_header.record_size_bytes()
                + record.legacy_footer.map_or(0, |_| LEGACY_FOOTER_SIZE_BYTES)
        );
        let footer = record.legacy_footer.is_some();
        check_prefixes_fail::<TellRecord>(&bytes, |size_bytes| {
            footer && size_bytes == bytes.len() - LEGACY_FOOTER_SIZE_BYTES
        });
    }

    #[test]
    fn tell_list_round_trips(list in arb_tell_list()) {
        let bytes = check_round_trip(&list);
        prop_assert_eq!(bytes.len(), list.size_bytes());
        let last_has_footer = list.records.last().is_some_and(|r| r.legacy_footer.is_some());
        check_prefixes_fail::<TellList>(&bytes, |size_bytes| {
            last_has_footer && size_bytes == bytes.len() - LEGACY_FOOTER_SIZE_BYTES
        });
    }

    #[test]
    fn download_page_round_trips(page in arb_download_page()) {
        let bytes = check_round_trip(&page);
        check_prefixes_fail::<DownloadPage>(&bytes, |_| false);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_every_decoder(&bytes);
    }

    /// Valid messages with a few bytes flipped reach deep decoder paths; still no panic, and
    /// whatever decodes re-encodes identically.
    #[test]
    fn mutated_messages_never_panic(
        tell in arb_tell_body(),
        list in arb_tell_list(),
        upload in arb_upload(),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
    ) {
        for bytes in [tell.to_bytes(), list.to_bytes(), upload.to_bytes()] {
            check_every_decoder(&mutate(bytes, &flips));
        }
    }

    /// A tell body decodes exactly when the page's size rule holds for the counts and
    /// manifest_len found where the decoder reads them.
    #[test]
    fn tell_decode_agrees_with_the_size_rule(
        tell in arb_tell_body(),
        address_count in 0u8..5,
        server_count in 0u8..5,
        extra in -40i32..40,
    ) {
        let mut bytes = tell.to_bytes();
        bytes[48 + 29] = address_count;
        bytes[48 + 30] = server_count;
        let new_len = (bytes.len() as i32 + extra).max(0) as usize;
        bytes.resize(new_len, 0);
        let header_end = 96 + 32 * usize::from(address_count) + FILE_HEADER_SIZE_BYTES;
        let manifest_len_at = header_end - FILE_HEADER_SIZE_BYTES + 54;
        let size_rule = if bytes.len() >= header_end {
            let manifest_len = u16::from_be_bytes([bytes[manifest_len_at], bytes[manifest_len_at + 1]]);
            validate_tell_body_size(bytes.len() + 2, address_count, server_count, manifest_len)
        } else {
            Err(Status::InvalidPacketLength)
        };
        let decoded = TellBody::from_bytes(&bytes);
        prop_assert_eq!(decoded.is_ok(), size_rule.is_ok());
        if let Err(error) = decoded {
            prop_assert_eq!(error.status(), Status::InvalidPacketLength);
        }
    }

    #[test]
    fn request_packets_round_trip(
        body in prop::collection::vec(any::<u8>(), 0..200),
        key in any::<[u8; 16]>(),
        nonce in any::<[u8; 8]>(),
        raida_id in 0u8..25,
        command in prop::sample::select(Command::ALL.to_vec()),
    ) {
        let meta = RequestMeta {
            raida_id,
            command,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: 0,
            key_serial_number: 1,
            nonce,
        };
        let packet = encode_request(&meta, &key, &body);
        prop_assert_eq!(packet.len(), 32 + body.len() + 2);
        let parsed = RequestPacket::parse(&packet).unwrap();
        prop_assert_eq!(parsed.header, meta.header((body.len() + 2) as u16));
        prop_assert_eq!(parsed.body_plain(EncryptionType::Aes128Ctr, &key).unwrap(), body);
    }

    #[test]
    fn responses_round_trip_under_both_counters(
        payload in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        key in any::<[u8; 16]>(),
        nonce in any::<[u8; 8]>(),
        request_encrypted_size_bytes in 0usize..65_533,
        continue_counter in prop::bool::ANY,
        signature in any::<[u8; 16]>(),
        execution_time_us in any::<u32>(),
    ) {
        let counter = if continue_counter { ResponseCounter::Continue } else { ResponseCounter::Restart };
        let cipher = PayloadCipher {
            key,
            nonce,
            start_block: counter.start_block(request_encrypted_size_bytes),
        };
        let meta = ResponseMeta {
            raida_id: 1,
            status: Status::Success,
            command_group: 6,
            echo: [nonce[6], nonce[7]],
            execution_time_us,
            signature,
        };
        let bytes = encode_response(&meta, payload.as_deref().map(|p| (&cipher, p)));
        let (header, decrypted) = parse_response(&bytes, &cipher).unwrap();
        prop_assert_eq!(header.signature, signature);
        prop_assert_eq!(header.execution_time_us, execution_time_us);
        prop_assert_eq!(header.body_size_bytes as usize, payload.as_ref().map_or(0, |p| p.len() + 2));
        prop_assert_eq!(decrypted, payload);
    }

    /// A reply to a type-0 request carries its payload verbatim and decodes back to it.
    #[test]
    fn plaintext_replies_round_trip_verbatim(
        payload in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        signature in any::<[u8; 16]>(),
    ) {
        let meta = ResponseMeta {
            raida_id: 2,
            status: Status::Success,
            command_group: 0,
            echo: [1, 2],
            execution_time_us: 0,
            signature,
        };
        let protection = ReplyProtection::Plaintext;
        let bytes = encode_protected_response(&meta, payload.as_deref().map(|p| (&protection, p)));
        if let Some(payload) = &payload {
            prop_assert_eq!(&bytes[32..32 + payload.len()], payload.as_slice());
        }
        let (header, opened) = parse_protected_response(&bytes, &protection).unwrap();
        prop_assert_eq!(header.signature, signature);
        prop_assert_eq!(opened, payload);
    }
}
