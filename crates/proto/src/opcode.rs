//! Frame opcodes (RFC 6455 section 5.2 and 11.8).

use crate::error::ProtocolError;

/// The 4-bit opcode of a frame.
///
/// The reserved values 0x3-0x7 and 0xB-0xF are not representable: decoding them fails with
/// [`ProtocolError::ReservedOpcode`] (RFC 6455 5.2: "If an unknown opcode is received, the
/// receiving endpoint MUST _Fail the WebSocket Connection_").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the closing handshake.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// Parses the low four bits of a frame's first byte.
    pub fn from_u8(bits: u8) -> Result<Self, ProtocolError> {
        Ok(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: the opcodes with the high bit set (RFC 6455 5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_or_is_reserved() {
        for bits in 0u8..16 {
            match OpCode::from_u8(bits) {
                Ok(op) => assert_eq!(op.as_u8(), bits),
                Err(e) => {
                    assert!(matches!(bits, 0x3..=0x7 | 0xB..=0xF));
                    assert_eq!(e, ProtocolError::ReservedOpcode(bits));
                }
            }
        }
    }

    #[test]
    fn control_opcodes_have_the_high_bit() {
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Pong.is_control());
        assert!(!OpCode::Text.is_control());
        assert!(!OpCode::Binary.is_control());
        assert!(!OpCode::Continuation.is_control());
    }
}
