//! Payload masking (RFC 6455 5.3).
//!
//! Every frame a client sends is XORed with a 4-byte key; the server XORs it back. This is the
//! one loop that touches every byte a server receives, so it has a fast path that works on
//! 16 bytes at a time (which the compiler turns into SIMD instructions) and a plain scalar
//! reference that the tests and property tests hold it to. The crate has no `unsafe` code, and
//! this path needs none: fixed-size chunks let the compiler drop the bounds checks.

/// XORs `buf` with `key`, where `buf` starts `offset` bytes into the frame's payload (so that a
/// payload processed in pieces gets the key bytes right).
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let word = u32::from_ne_bytes(key);
    let wide = u128::from(word) * 0x0000_0001_0000_0001_0000_0001_0000_0001;
    let mut chunks = buf.chunks_exact_mut(16);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(chunk);
        let masked = u128::from_ne_bytes(bytes) ^ wide;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // The tail starts at a multiple of 16, so the key phase is unchanged.
    apply_mask_scalar(chunks.into_remainder(), key, 0);
}

/// The reference implementation: one byte at a time, exactly as RFC 6455 5.3 states it
/// (`j = i MOD 4; transformed-octet-i = original-octet-i XOR masking-key-octet-j`).
pub fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// The key as seen from `offset` bytes into the payload.
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut rotated = key;
    rotated.rotate_left(offset % 4);
    rotated
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
