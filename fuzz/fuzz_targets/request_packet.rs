//! Fuzz the server's request path: split a packet, strip the terminator, decrypt with a fixed
//! key, and decode the body of the named command. Nothing may panic; a decoded body re-encodes
//! to the decrypted bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmail_wire::body::RequestBody;
use qmail_wire::header::EncryptionType;
use qmail_wire::packet::RequestPacket;

const KEY: [u8; 16] = [0x5A; 16];

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = RequestPacket::parse(data) else {
        return;
    };
    let _ = qmail_wire::validate::validate_request_header(&packet.header, 0);
    let encryption = EncryptionType::from_code(packet.header.encryption_type)
        .unwrap_or(EncryptionType::Aes128Ctr);
    let Ok(plain) = packet.body_plain(encryption, &KEY) else {
        return;
    };
    if let Some(command) = packet.command() {
        if let Ok(body) = RequestBody::decode(command, &plain) {
            assert_eq!(body.to_bytes(), plain);
        }
    }
});
