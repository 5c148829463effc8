//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 sections 1.3, 4.1 and 4.2.2).
//!
//! The key is a nonce the client picks; the accept value proves that the server read it and
//! speaks WebSocket (a plain HTTP server, or a cache replaying an old response, cannot produce
//! it). It is not a security mechanism: it uses SHA-1 because the RFC says so.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::entropy::Entropy;

/// The GUID that RFC 6455 4.2.2 appends to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Bytes of randomness in a key (RFC 6455 4.1 item 7).
const KEY_BYTES: usize = 16;

/// Length of a key in base64: 16 bytes give 22 characters and two `=` of padding.
const KEY_BASE64_LEN: usize = 24;

/// Generates a `Sec-WebSocket-Key`: 16 bytes from `entropy`, in base64.
///
/// RFC 6455 4.1 item 7 asks for a nonce "randomly selected" for each connection, so pass a
/// generator seeded from the operating system in production.
pub fn generate_key(entropy: &mut dyn Entropy) -> String {
    let mut nonce = [0u8; KEY_BYTES];
    // RFC 6455 4.1: the key MUST be a nonce of 16 random bytes, base64-encoded.
    entropy.fill(&mut nonce);
    STANDARD.encode(nonce)
}

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2).
///
/// `key` is the header value exactly as sent, without surrounding whitespace; it is not
/// decoded first.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether a received `Sec-WebSocket-Key` is base64 of exactly 16 bytes (RFC 6455 4.2.1 item 5).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    if key.len() != KEY_BASE64_LEN {
        return false;
    }
    // The standard engine insists on canonical padding and zero trailing bits, so every
    // accepted key is the encoding a conforming client produces.
    let mut decoded = [0u8; KEY_BYTES + 2];
    matches!(STANDARD.decode_slice(key, &mut decoded), Ok(KEY_BYTES))
}

#[cfg(test)]
mod rfc6455_4_key {
    use super::*;

    #[test]
    fn rfc_section_1_3_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_section_4_2_2_example_key_is_valid() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
    }

    #[test]
    fn generated_key_is_16_bytes_from_the_entropy() {
        let mut counter = 0u8;
        let mut entropy = |dest: &mut [u8]| {
            for byte in dest {
                *byte = counter;
                counter = counter.wrapping_add(1);
            }
        };
        let key = generate_key(&mut entropy);
        // 0x00..=0x0f in base64.
        assert_eq!(key, "AAECAwQFBgcICQoLDA0ODw==");
        assert!(is_valid_key(key.as_bytes()));
    }

    #[test]
    fn keys_of_other_lengths_or_alphabets_are_invalid() {
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",     // no padding
            b"dGhlIHNhbXBsZSBub25jZQ==\r", // trailing byte
            b"dGhlIHNhbXBsZSBub25jZSE=",   // 17 bytes
            b"dGhlIHNhbXBsZSBub25j",       // 15 bytes
            b"dGhlIHNhbXBsZSBub25jZR==",   // non-zero trailing bits
            b"dGhlIHNhbXBsZSBub25jZ-==",   // URL-safe alphabet
            b"dGhlIHNhbXBsZSBub25jZQ=\xff",
        ] {
            assert!(!is_valid_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
