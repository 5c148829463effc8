//! Close codes and the close frame payload (RFC 6455 sections 5.5.1 and 7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::utf8::Utf8Bytes;

/// A close status code (RFC 6455 7.4, IANA "WebSocket Close Code Number Registry").
///
/// An open newtype rather than a closed enum: applications may use any code in 3000-4999, and
/// the registry grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL_CLOSURE: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept (text to a binary-only endpoint, say).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved; never sent. Stands for "the close frame carried no code".
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: reserved; never sent. Stands for "the connection ended without a close frame".
    pub const ABNORMAL_CLOSURE: Self = Self(1006);
    /// 1007: message data inconsistent with its type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: temporary overload; try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: reserved; never sent. Stands for "the TLS handshake failed".
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether the code may appear in a close frame on the wire.
    ///
    /// RFC 6455 7.4.1/7.4.2 and the IANA registry: 1000-1003 and 1007-1014 are defined, 3000-4999
    /// belong to libraries and applications. 1004 is reserved, 1005, 1006 and 1015 MUST NOT be
    /// sent, and everything else below 3000 is unassigned, so receiving it is a protocol error.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The largest reason that fits a close frame: 125 bytes of payload minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// The body of a close frame that carried a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// A human-readable reason, at most [`MAX_REASON_LEN`] bytes of UTF-8.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`. The reason is cut at a character boundary if it
    /// is longer than [`MAX_REASON_LEN`] bytes, because a longer one cannot be sent.
    pub fn new(code: CloseCode, reason: &str) -> Self {
        let mut end = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            code,
            reason: Utf8Bytes::from(&reason[..end]),
        }
    }

    /// Parses a received close frame payload.
    ///
    /// Returns `Ok(None)` for an empty payload (the peer gave no code, which the application
    /// sees as 1005).
    pub fn parse(payload: Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            // RFC 6455 5.5.1: if there is a body, its first two bytes MUST be the status code.
            1 => Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                // RFC 6455 5.5.1: the reason is UTF-8 encoded data.
                let reason = Utf8Bytes::try_from(payload.slice(2..))
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// Writes the close frame payload: the code in network byte order, then the reason.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u16(self.code.0);
        dst.extend_from_slice(self.reason.as_bytes());
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} {:?}", self.code, self.reason.as_str())
        }
    }
}

#[cfg(test)]
mod rfc6455_7_4_close_codes {
    use super::*;

    #[test]
    fn defined_and_private_codes_are_valid() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(CloseCode(code).is_valid_on_wire(), "{code}");
        }
        for code in [3000, 3999, 4000, 4999] {
            assert!(CloseCode(code).is_valid_on_wire(), "{code}");
        }
    }

    #[test]
    fn reserved_and_unassigned_codes_are_invalid() {
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(code).is_valid_on_wire(), "{code}");
        }
    }
}

#[cfg(test)]
mod rfc6455_5_5_1_close_payload {
    use super::*;

    #[test]
    fn empty_payload_means_no_code() {
        assert_eq!(CloseFrame::parse(Bytes::new()), Ok(None));
    }

    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03])),
            Err(ProtocolError::InvalidClosePayload)
        );
    }

    #[test]
    fn code_and_reason_parse() {
        let frame = CloseFrame::parse(Bytes::from_static(b"\x03\xe8bye"))
            .unwrap()
            .unwrap();
        assert_eq!(frame.code, CloseCode::NORMAL_CLOSURE);
        assert_eq!(frame.reason.as_str(), "bye");
    }

    #[test]
    fn invalid_code_is_rejected() {
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(b"\x03\xed")),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
    }

    #[test]
    fn invalid_utf8_reason_is_rejected() {
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(b"\x03\xe8\xff")),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn encode_round_trips() {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "shutting down");
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        assert_eq!(&buf[..], b"\x03\xe9shutting down");
        assert_eq!(CloseFrame::parse(buf.freeze()), Ok(Some(frame)));
    }

    #[test]
    fn long_reason_is_cut_at_a_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let frame = CloseFrame::new(CloseCode::NORMAL_CLOSURE, &reason);
        assert!(frame.reason.len() <= MAX_REASON_LEN);
        assert_eq!(frame.reason.len() % 2, 0);
    }
}
