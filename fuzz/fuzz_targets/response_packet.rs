//! Fuzz the client's response path: parse a response, decrypt its payload with a fixed cipher,
//! and decode the payload as a tell list and as a download page. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmail_wire::packet::{parse_response, PayloadCipher};
use qmail_wire::response::{DownloadPage, TellList};
use qmail_wire::Codec;

fuzz_target!(|data: &[u8]| {
    let cipher = PayloadCipher {
        key: [0x5A; 16],
        nonce: [0xA5; 8],
        start_block: 0,
    };
    let Ok((_header, Some(payload))) = parse_response(data, &cipher) else {
        return;
    };
    if let Ok(list) = TellList::from_bytes(&payload) {
        assert_eq!(list.to_bytes(), payload);
    }
    if let Ok(page) = DownloadPage::from_bytes(&payload) {
        assert_eq!(page.to_bytes(), payload);
    }
});
