//! Payload masking (RFC 6455 5.3).
//!
//! Every frame a client sends is XORed with a 4-byte key; the server XORs it back. This is the
//! one loop that touches every byte a server receives, so it has a fast path over 8-byte words,
//! which the compiler vectorizes (SSE2 `pxor` on baseline x86-64, AVX2 where enabled), and a
//! plain scalar reference that the tests and property tests hold it to. The crate has no
//! `unsafe` code, and this path needs none: fixed-size chunks let the compiler drop the bounds
//! checks. (A `u128` version looked wider but compiled to pairs of scalar 64-bit XORs: the
//! `mask` benchmark measured the `u64` loop 1.3 to 1.8 times faster.) `apply_mask_ascii` is the
//! same loop, also ORing the unmasked words together, so that a server learns whether a text
//! payload is ASCII (hence valid UTF-8) without a second pass over it.

/// XORs `buf` with `key`, where `buf` starts `offset` bytes into the frame's payload (so that a
/// payload processed in pieces gets the key bytes right).
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    mask_words(buf, key, offset);
}

/// [`apply_mask`], also telling whether the unmasked bytes are all ASCII: text that is ASCII
/// is valid UTF-8, so a server can skip a second pass over a text payload it just unmasked.
pub fn apply_mask_ascii(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    mask_words(buf, key, offset) & 0x8080_8080_8080_8080 == 0
}

/// Masks `buf` and returns the OR of its bytes after masking, spread over a word (every byte
/// lands in some byte of the result, so its high bits say whether any byte is over 0x7F).
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4], offset: usize) -> u64 {
    // The key as seen from `offset`, as a little-endian word: byte j is key[(offset + j) % 4].
    let word = u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32);
    // u64 chunks: LLVM vectorizes this loop (SSE2 on baseline x86-64, AVX2 where enabled);
    // a u128 XOR is lowered to two scalar 64-bit XORs instead.
    let wide = u64::from(word) * 0x0000_0001_0000_0001;
    let mut seen = 0u64;
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let unmasked = u64::from_le_bytes(bytes) ^ wide;
        seen |= unmasked;
        chunk.copy_from_slice(&unmasked.to_le_bytes());
    }
    // The tail starts at a multiple of 8, so the key phase is unchanged.
    let mut rest = chunks.into_remainder();
    if rest.len() >= 4 {
        let (head, tail) = rest.split_at_mut(4);
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(head);
        let unmasked = u32::from_le_bytes(bytes) ^ word;
        seen |= u64::from(unmasked);
        head.copy_from_slice(&unmasked.to_le_bytes());
        rest = tail;
    }
    for (byte, k) in rest.iter_mut().zip(word.to_le_bytes()) {
        *byte ^= k;
        seen |= u64::from(*byte);
    }
    seen
}

/// The reference implementation: one byte at a time, exactly as RFC 6455 5.3 states it
/// (`j = i MOD 4; transformed-octet-i = original-octet-i XOR masking-key-octet-j`).
pub fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod rfc6455_5_3_masking {
    use super::*;

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn fast_equals_scalar_for_every_length_and_offset() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            for offset in 0..8 {
                let mut fast = data[..len].to_vec();
                let mut slow = data[..len].to_vec();
                apply_mask(&mut fast, key, offset);
                apply_mask_scalar(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn ascii_verdict_matches_the_unmasked_bytes() {
        let key = [0x80, 0x01, 0xff, 0x7f];
        for len in 0..40 {
            for high in (0..len).map(Some).chain([None]) {
                let mut plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                if let Some(i) = high {
                    plain[i] = 0xc3;
                }
                let mut masked = plain.clone();
                apply_mask_scalar(&mut masked, key, 1);
                assert_eq!(
                    apply_mask_ascii(&mut masked, key, 1),
                    high.is_none(),
                    "len {len} high byte at {high:?}"
                );
                assert_eq!(masked, plain);
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for split in 0..data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(pieces, whole, "split {split}");
        }
    }
}
