//! The base framing protocol (RFC 6455 5.2): frame headers and their encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! Header parsing checks what a header alone can break (reserved opcodes, control frame rules,
//! the 64-bit length's top bit). Rules that depend on the connection (masking by role, RSV bits
//! owned by extensions, continuation order, size limits) are checked by the receiver.

use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::opcode::OpCode;

/// The largest control frame payload (RFC 6455 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest possible header: 2 bytes, an 8-byte length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// The RSV1-3 bits, in their positions of the first byte (a mask of 0x70).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not hold a whole header yet, or the header and its
    /// length in bytes.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let fin = first & 0x80 != 0;
        let rsv = first & 0x70;
        let opcode = OpCode::from_u8(first & 0x0F)?;
        let masked = second & 0x80 != 0;
        let short_len = second & 0x7F;

        if opcode.is_control() {
            // RFC 6455 5.5: control frames MUST NOT be fragmented.
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            // RFC 6455 5.5: control frames MUST have a payload length of 125 bytes or less.
            if usize::from(short_len) > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::ControlFrameTooLong(u64::from(short_len)));
            }
        }

        let (payload_len, mut pos) = match short_len {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut len = [0u8; 8];
                    len.copy_from_slice(b);
                    let len = u64::from_be_bytes(len);
                    // RFC 6455 5.2: the most significant bit MUST be 0.
                    if len >> 63 != 0 {
                        return Err(ProtocolError::InvalidLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            len => (u64::from(len), 2),
        };

        let mask = if masked {
            match buf.get(pos..pos + 4) {
                Some(b) => {
                    pos += 4;
                    Some([b[0], b[1], b[2], b[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };

        let header = Self {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// The encoded length of this header.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the encoded header to `dst`, using the shortest length encoding
    /// (RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length").
    ///
    /// Each length form is appended as one fixed-size array: a copy of known size compiles to
    /// a couple of moves, where byte-by-byte appends each check the capacity. Always inlined:
    /// where the caller knows the length form or the mask, the other branches fold away.
    #[inline(always)]
    pub fn encode(&self, dst: &mut BytesMut) {
        let first = u8::from(self.fin) << 7 | (self.rsv & 0x70) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.payload_len {
            short @ 0..=125 => dst.extend_from_slice(&[first, mask_bit | short as u8]),
            medium @ 126..=0xFFFF => {
                let [high, low] = (medium as u16).to_be_bytes();
                dst.extend_from_slice(&[first, mask_bit | 126, high, low]);
            }
            long => {
                let mut bytes = [first, mask_bit | 127, 0, 0, 0, 0, 0, 0, 0, 0];
                bytes[2..].copy_from_slice(&long.to_be_bytes());
                dst.extend_from_slice(&bytes);
            }
        }
        if let Some(key) = self.mask {
            dst.extend_from_slice(&key);
        }
    }
}

#[cfg(test)]
mod rfc6455_5_7_examples {
    use super::*;

    fn parse_all(bytes: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(bytes).unwrap().unwrap()
    }

    #[test]
    fn single_frame_unmasked_text() {
        let (h, len) = parse_all(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(len, 2);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.mask, None);
        assert_eq!(h.payload_len, 5);
    }

    #[test]
    fn single_frame_masked_text() {
        let (h, len) = parse_all(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f]);
        assert_eq!(len, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(h.payload_len, 5);
    }

    #[test]
    fn fragmented_unmasked_text() {
        let (first, _) = parse_all(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert!(!first.fin);
        assert_eq!(first.opcode, OpCode::Text);
        let (last, _) = parse_all(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(last.fin);
        assert_eq!(last.opcode, OpCode::Continuation);
    }

    #[test]
    fn ping_and_masked_pong() {
        let (ping, _) = parse_all(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(ping.opcode, OpCode::Ping);
        let (pong, _) = parse_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f]);
        assert_eq!(pong.opcode, OpCode::Pong);
        assert!(pong.mask.is_some());
    }

    #[test]
    fn binary_256_bytes_uses_16_bit_length() {
        let (h, len) = parse_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.payload_len, len), (256, 4));
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(&out[..], &[0x82, 0x7E, 0x01, 0x00]);
    }

    #[test]
    fn binary_64_kib_uses_64_bit_length() {
        let bytes = [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        let (h, len) = parse_all(&bytes);
        assert_eq!((h.payload_len, len), (65536, 10));
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(&out[..], &bytes);
    }
}

#[cfg(test)]
mod rfc6455_5_2_header_rules {
    use super::*;

    #[test]
    fn incomplete_headers_need_more_bytes() {
        for bytes in [
            &[][..],
            &[0x81],
            &[0x82, 0x7E, 0x01],
            &[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0],
            &[0x81, 0x85, 0x37, 0xfa, 0x21],
        ] {
            assert_eq!(FrameHeader::parse(bytes), Ok(None), "{bytes:?}");
        }
    }

    #[test]
    fn top_bit_of_64_bit_length_is_rejected() {
        let bytes = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            FrameHeader::parse(&bytes),
            Err(ProtocolError::InvalidLength)
        );
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x83, 0x00]),
            Err(ProtocolError::ReservedOpcode(3))
        );
        assert_eq!(
            FrameHeader::parse(&[0x8B, 0x00]),
            Err(ProtocolError::ReservedOpcode(0xB))
        );
    }

    #[test]
    fn rsv_bits_are_reported_not_judged() {
        let (h, _) = FrameHeader::parse(&[0xC1, 0x00]).unwrap().unwrap();
        assert_eq!(h.rsv, 0x40);
    }

    #[test]
    fn encoding_uses_the_shortest_length() {
        for (len, header_len) in [(0u64, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            let mut out = BytesMut::new();
            h.encode(&mut out);
            assert_eq!(out.len(), header_len, "len {len}");
            assert_eq!(h.encoded_len(), header_len);
            assert_eq!(FrameHeader::parse(&out), Ok(Some((h, header_len))));
        }
    }
}

#[cfg(test)]
mod rfc6455_5_5_control_frames {
    use super::*;

    #[test]
    fn fragmented_control_frame_is_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }

    #[test]
    fn control_frame_over_125_bytes_is_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x89, 0x7E, 0x00, 0x7E]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
    }
}
