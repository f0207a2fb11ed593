//! AES-128-CTR body encryption, the challenge, and the response signature.
//!
//! DECISIONS.md, "AES-128-CTR (encryption type 1)": the key is the 16-byte AN of the coin named
//! in request header bytes 17–21; the initial counter block is the 8 nonce bytes followed by 8
//! zero bytes, and it advances by one per 16-byte block as a single 128-bit big-endian integer
//! (wrapping). Every body byte except the final `3E 3E` is encrypted. The response payload uses
//! the same key and nonce; its counter either restarts at block 0 or continues after the
//! request's last block ([`ResponseCounter`]).
//!
//! The challenge is 12 random bytes and their big-endian CRC-32 (IEEE, as zlib). The response
//! signature is the decrypted challenge XOR the key AN ([`signature`]); a reply to a plaintext
//! (type 0) echo is signed with the challenge as it is, and its payload is never put through
//! the keystream (DECISIONS.md "Interop with the public RAIDA server";
//! [`crate::packet::ReplyProtection`] picks between the two). Nothing here draws randomness:
//! callers pass the 12 random bytes in.

use crate::limits::{
    AES_BLOCK_SIZE_BYTES, AN_SIZE_BYTES, CHALLENGE_RANDOM_SIZE_BYTES, CHALLENGE_SIZE_BYTES,
};
use aes::cipher::{KeyIvInit, StreamCipher};

type Aes128Ctr128Be = ctr::Ctr128BE<aes::Aes128>;

/// An AES-128 key: the AN of the coin that keys the body.
pub type Key = [u8; AN_SIZE_BYTES];

/// The 8-byte CTR nonce from request header bytes 24–31.
pub type Nonce = [u8; 8];

/// XORs `data` in place with the AES-128-CTR keystream whose first counter block is
/// `initial_counter` (incremented as a 128-bit big-endian integer). This is the raw CTR core
/// that NIST SP 800-38A F.5.1 describes; QMail code wants [`apply_keystream`].
pub fn apply_keystream_from_counter(key: &Key, initial_counter: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Aes128Ctr128Be::new(&(*key).into(), &(*initial_counter).into());
    cipher.apply_keystream(data);
}

/// The counter block for block index `block_index` of the stream keyed by `nonce`:
/// `(nonce ‖ 0⁸) + block_index` as a wrapping 128-bit big-endian integer.
pub fn counter_block(nonce: &Nonce, block_index: u128) -> [u8; 16] {
    let mut base = [0u8; 16];
    base[..8].copy_from_slice(nonce);
    u128::from_be_bytes(base)
        .wrapping_add(block_index)
        .to_be_bytes()
}

/// Encrypts or decrypts `data` in place with the QMail AES-128-CTR stream, starting at block
/// `start_block` of the stream (0 for request bodies; see [`ResponseCounter`] for responses).
pub fn apply_keystream(key: &Key, nonce: &Nonce, start_block: u128, data: &mut [u8]) {
    apply_keystream_from_counter(key, &counter_block(nonce, start_block), data);
}

/// Number of 16-byte counter blocks that encrypting `size_bytes` bytes uses up.
pub const fn blocks_used(size_bytes: usize) -> u128 {
    size_bytes.div_ceil(AES_BLOCK_SIZE_BYTES) as u128
}

/// Where the response payload's counter starts (DECISIONS.md setting `response_counter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResponseCounter {
    /// The counter starts again at block 0 (default).
    #[default]
    Restart,
    /// The counter continues after the last block the request body used.
    Continue,
}

impl ResponseCounter {
    /// The first counter block of the response payload, given how many bytes of the request body
    /// were encrypted (the body size less the 2-byte terminator).
    pub const fn start_block(self, request_encrypted_size_bytes: usize) -> u128 {
        match self {
            ResponseCounter::Restart => 0,
            ResponseCounter::Continue => blocks_used(request_encrypted_size_bytes),
        }
    }

    /// The setting's name as DECISIONS.md spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ResponseCounter::Restart => "restart",
            ResponseCounter::Continue => "continue",
        }
    }
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The 16-byte challenge at the start of every body: 12 random bytes then their big-endian
/// CRC-32. The field is public so tests can build challenges with a wrong CRC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Challenge(pub [u8; CHALLENGE_SIZE_BYTES]);

impl Challenge {
    /// A valid challenge from 12 caller-supplied random bytes.
    pub fn from_random(random: [u8; CHALLENGE_RANDOM_SIZE_BYTES]) -> Self {
        let mut bytes = [0u8; CHALLENGE_SIZE_BYTES];
        bytes[..CHALLENGE_RANDOM_SIZE_BYTES].copy_from_slice(&random);
        bytes[CHALLENGE_RANDOM_SIZE_BYTES..].copy_from_slice(&crc32(&random).to_be_bytes());
        let challenge = Self(bytes);
        assert!(challenge.is_valid());
        challenge
    }

    /// The 12 random bytes.
    pub fn random(&self) -> [u8; CHALLENGE_RANDOM_SIZE_BYTES] {
        let mut random = [0u8; CHALLENGE_RANDOM_SIZE_BYTES];
        random.copy_from_slice(&self.0[..CHALLENGE_RANDOM_SIZE_BYTES]);
        random
    }

    /// The CRC-32 as carried in bytes 12–15.
    pub fn crc_carried(&self) -> u32 {
        let [_, _, _, _, _, _, _, _, _, _, _, _, a, b, c, d] = self.0;
        u32::from_be_bytes([a, b, c, d])
    }

    /// Whether bytes 12–15 are the CRC-32 of bytes 0–11 (else the server answers 37).
    pub fn is_valid(&self) -> bool {
        self.crc_carried() == crc32(&self.random())
    }

    /// The 16 bytes on the wire.
    pub fn as_bytes(&self) -> &[u8; CHALLENGE_SIZE_BYTES] {
        &self.0
    }
}

/// The response signature: the decrypted challenge XOR the key AN (DECISIONS.md, "Response
/// header", bytes 16–31).
pub fn signature(challenge: &Challenge, an: &Key) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = challenge.0[index] ^ an[index];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{BlockCipherEncrypt, KeyInit};

    fn hex(text: &str) -> Vec<u8> {
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn array16(text: &str) -> [u8; 16] {
        hex(text).try_into().expect("16 bytes")
    }

    const NIST_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const NIST_COUNTER: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    const NIST_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                              30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const NIST_CIPHER: &str = "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
                               5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee";

    /// NIST SP 800-38A F.5.1 CTR-AES128.Encrypt and F.5.2 Decrypt on the raw CTR core.
    #[test]
    fn nist_sp800_38a_f51_raw_counter() {
        let key = array16(NIST_KEY);
        let counter = array16(NIST_COUNTER);
        let mut data = hex(NIST_PLAIN);
        apply_keystream_from_counter(&key, &counter, &mut data);
        assert_eq!(data, hex(NIST_CIPHER));
        apply_keystream_from_counter(&key, &counter, &mut data);
        assert_eq!(data, hex(NIST_PLAIN));
    }

    /// The same vector through the nonce ‖ 0 form: nonce f0…f7 at block index f8…ff is exactly
    /// the NIST initial counter, so QMail's stream from that block is the NIST ciphertext.
    #[test]
    fn nist_vector_through_nonce_form() {
        let key = array16(NIST_KEY);
        let nonce: Nonce = [0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7];
        let start_block = u128::from(u64::from_be_bytes([
            0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
        ]));
        assert_eq!(counter_block(&nonce, start_block), array16(NIST_COUNTER));
        let mut data = hex(NIST_PLAIN);
        apply_keystream(&key, &nonce, start_block, &mut data);
        assert_eq!(data, hex(NIST_CIPHER));
    }

    /// Keystream block i computed independently with the AES block cipher (ECB on the counter).
    fn keystream_reference(key: &Key, nonce: &Nonce, first_block: u128, blocks: usize) -> Vec<u8> {
        let cipher = aes::Aes128::new(&(*key).into());
        let mut out = Vec::new();
        for i in 0..blocks {
            let mut base = [0u8; 16];
            base[..8].copy_from_slice(nonce);
            let counter = u128::from_be_bytes(base).wrapping_add(first_block + i as u128);
            let mut block = counter.to_be_bytes().into();
            cipher.encrypt_block(&mut block);
            out.extend_from_slice(&block);
        }
        out
    }

    #[test]
    fn nonce_zero_counter_layout_matches_block_cipher() {
        let key = array16(NIST_KEY);
        let nonce: Nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            counter_block(&nonce, 0),
            [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut stream = vec![0u8; 5 * 16];
        apply_keystream(&key, &nonce, 0, &mut stream);
        assert_eq!(stream, keystream_reference(&key, &nonce, 0, 5));
    }

    #[test]
    fn counter_carries_across_the_64_bit_boundary() {
        let key = array16(NIST_KEY);
        let nonce: Nonce = [9, 9, 9, 9, 9, 9, 9, 0xFF];
        let start_block = u128::from(u64::MAX) - 1;
        assert_eq!(
            counter_block(&nonce, start_block + 2),
            [9, 9, 9, 9, 9, 9, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut stream = vec![0u8; 4 * 16];
        apply_keystream(&key, &nonce, start_block, &mut stream);
        assert_eq!(stream, keystream_reference(&key, &nonce, start_block, 4));
    }

    #[test]
    fn start_block_is_a_seek_into_the_stream() {
        let key = [7u8; 16];
        let nonce: Nonce = [3; 8];
        let mut whole = vec![0u8; 10 * 16];
        apply_keystream(&key, &nonce, 0, &mut whole);
        let mut tail = vec![0u8; 6 * 16];
        apply_keystream(&key, &nonce, 4, &mut tail);
        assert_eq!(tail, whole[4 * 16..]);
    }

    #[test]
    fn response_counter_start_blocks() {
        assert_eq!(ResponseCounter::Restart.start_block(52), 0);
        assert_eq!(ResponseCounter::Continue.start_block(0), 0);
        assert_eq!(ResponseCounter::Continue.start_block(16), 1);
        assert_eq!(ResponseCounter::Continue.start_block(17), 2);
        // A peek body encrypts 52 bytes: blocks 0..=3, so the response starts at block 4.
        assert_eq!(ResponseCounter::Continue.start_block(52), 4);
        assert_eq!(ResponseCounter::default(), ResponseCounter::Restart);
        assert_eq!(ResponseCounter::Continue.name(), "continue");
    }

    #[test]
    fn crc32_is_ieee() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn challenge_appends_big_endian_crc() {
        let random = *b"123456789abc";
        let challenge = Challenge::from_random(random);
        assert_eq!(challenge.random(), random);
        assert_eq!(&challenge.0[12..], &crc32(&random).to_be_bytes());
        assert!(challenge.is_valid());
        let mut broken = challenge;
        broken.0[0] ^= 1;
        assert!(!broken.is_valid());
        assert!(!Challenge([0; 16]).is_valid());
    }

    #[test]
    fn signature_is_challenge_xor_an() {
        let challenge = Challenge::from_random([0xAA; 12]);
        let an = [0x0F; 16];
        let signed = signature(&challenge, &an);
        for index in 0..16 {
            assert_eq!(signed[index] ^ an[index], challenge.0[index]);
        }
        assert_eq!(signature(&challenge, &[0; 16]), challenge.0);
    }
}
