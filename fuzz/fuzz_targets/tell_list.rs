//! Fuzz `TellList::from_bytes`: never panics, and whatever decodes re-encodes byte-identical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmail_wire::response::TellList;
use qmail_wire::Codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = TellList::from_bytes(data) {
        assert_eq!(value.to_bytes(), data);
    }
});
