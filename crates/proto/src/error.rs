//! Typed errors. Each protocol error knows the close code it fails the connection with, and each
//! handshake error the HTTP status a server answers it with.

use std::fmt;

use http::StatusCode;

use crate::close::CloseCode;

/// The peer broke RFC 6455 or RFC 7692, or exceeded a limit. The connection fails with
/// [`close_code`](Self::close_code).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A reserved opcode (0x3-0x7, 0xB-0xF).
    ReservedOpcode(u8),
    /// RSV bits set that no negotiated extension owns (the bits as in the first byte).
    ReservedBits(u8),
    /// A server received an unmasked frame.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A control frame with FIN clear.
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong(u64),
    /// A 64-bit payload length with its most significant bit set.
    InvalidLength,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// Text that is not valid UTF-8 (a text message or a close reason).
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    InvalidClosePayload,
    /// A close frame with a code that must not appear on the wire.
    InvalidCloseCode(u16),
    /// A compressed message whose data does not inflate.
    InvalidCompressedData,
    /// A frame whose payload is larger than the frame size limit.
    FrameTooBig {
        /// The announced payload length.
        size: u64,
        /// The limit in force.
        limit: usize,
    },
    /// A message larger than the message size limit (after decompression).
    MessageTooBig {
        /// The limit in force.
        limit: usize,
    },
    /// A message in more fragments than the fragment limit.
    TooManyFragments {
        /// The limit in force.
        limit: usize,
    },
}

impl ProtocolError {
    /// The close code the connection fails with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooBig { .. }
            | Self::MessageTooBig { .. }
            | Self::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The reason sent in the close frame: short, and without details of our internals.
    pub fn close_reason(&self) -> &'static str {
        match self {
            Self::ReservedOpcode(_) => "reserved opcode",
            Self::ReservedBits(_) => "reserved bits set",
            Self::UnmaskedFrame => "unmasked frame",
            Self::MaskedFrame => "masked frame",
            Self::FragmentedControlFrame => "fragmented control frame",
            Self::ControlFrameTooLong(_) => "control frame too long",
            Self::InvalidLength => "invalid payload length",
            Self::UnexpectedContinuation => "unexpected continuation frame",
            Self::ExpectedContinuation => "expected continuation frame",
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::InvalidClosePayload => "invalid close frame",
            Self::InvalidCloseCode(_) => "invalid close code",
            Self::InvalidCompressedData => "invalid compressed data",
            Self::FrameTooBig { .. } => "frame too big",
            Self::MessageTooBig { .. } => "message too big",
            Self::TooManyFragments { .. } => "too many fragments",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::ReservedBits(bits) => write!(f, "reserved bits {bits:#04x} set"),
            Self::ControlFrameTooLong(len) => {
                write!(f, "control frame with {len} bytes of payload (at most 125)")
            }
            Self::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            Self::FrameTooBig { size, limit } => {
                write!(f, "frame of {size} bytes exceeds the limit of {limit}")
            }
            Self::MessageTooBig { limit } => {
                write!(f, "message exceeds the limit of {limit} bytes")
            }
            Self::TooManyFragments { limit } => {
                write!(f, "message exceeds the limit of {limit} fragments")
            }
            other => f.write_str(other.close_reason()),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The opening handshake failed (RFC 6455 section 4).
///
/// On the server, [`http_status`](Self::http_status) is the status to answer with. On the
/// client, the error says which check of the server's response failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The HTTP head is larger than the head size limit.
    HeadTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The head has more header fields than the header count limit.
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// A line of the head is longer than the line length limit.
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// The bytes are not an HTTP/1.x head.
    MalformedHead(&'static str),
    /// The request method is not GET (RFC 6455 4.2.1 item 1).
    MethodNotGet,
    /// The HTTP version is older than 1.1 (RFC 6455 4.2.1 item 1, 4.2.2 for responses).
    UnsupportedHttpVersion,
    /// The request has no Host header (RFC 6455 4.2.1 item 2).
    MissingHost,
    /// No `Upgrade: websocket` token (RFC 6455 4.2.1 item 3, 4.1 response item 2).
    MissingUpgrade,
    /// No `Connection: Upgrade` token (RFC 6455 4.2.1 item 4, 4.1 response item 3).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing or is not 16 bytes in base64 (RFC 6455 4.2.1 item 5).
    InvalidKey,
    /// `Sec-WebSocket-Version` is not 13 (RFC 6455 4.2.1 item 6); answered with 426 and
    /// `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// A header that must appear at most once appears more than once.
    DuplicateHeader(&'static str),
    /// A header value could not be parsed.
    InvalidHeader(&'static str),
    /// The server answered with a status other than 101 (RFC 6455 4.1: the client MUST fail).
    UnexpectedStatus(StatusCode),
    /// `Sec-WebSocket-Accept` does not match the key we sent (RFC 6455 4.1 response item 4).
    InvalidAccept,
    /// The server chose a subprotocol the client did not offer (RFC 6455 4.1 item 6).
    SubprotocolNotOffered,
    /// The server chose an extension the client did not offer, or answered it with parameters
    /// that its offer did not allow (RFC 6455 4.1 item 5, RFC 7692 section 5).
    ExtensionNotOffered,
    /// The request target or URL cannot be used for a WebSocket.
    InvalidUrl(&'static str),
    /// The application rejected the request.
    Rejected(StatusCode),
    /// Bytes were fed to a handshake that already completed. They belong to the connection;
    /// this is a bug in the caller, answered with 500 if it ever reaches a response.
    AlreadyComplete,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } | Self::LineTooLong { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedHttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::MissingUpgrade | Self::MissingConnectionUpgrade | Self::UnsupportedVersion => {
                StatusCode::UPGRADE_REQUIRED
            }
            Self::Rejected(status) => *status,
            Self::AlreadyComplete => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { limit } => write!(f, "HTTP head exceeds {limit} bytes"),
            Self::TooManyHeaders { limit } => write!(f, "HTTP head has more than {limit} headers"),
            Self::LineTooLong { limit } => write!(f, "HTTP head line exceeds {limit} bytes"),
            Self::MalformedHead(what) => write!(f, "malformed HTTP head: {what}"),
            Self::MethodNotGet => f.write_str("the WebSocket handshake must use GET"),
            Self::UnsupportedHttpVersion => f.write_str("the WebSocket handshake needs HTTP/1.1"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::MissingUpgrade => f.write_str("missing \"Upgrade: websocket\" header"),
            Self::MissingConnectionUpgrade => f.write_str("missing \"Connection: Upgrade\" header"),
            Self::InvalidKey => f.write_str("missing or invalid Sec-WebSocket-Key"),
            Self::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version (need 13)"),
            Self::DuplicateHeader(name) => write!(f, "duplicate {name} header"),
            Self::InvalidHeader(name) => write!(f, "invalid {name} header"),
            Self::UnexpectedStatus(status) => write!(f, "server answered {status}, expected 101"),
            Self::InvalidAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::SubprotocolNotOffered => f.write_str("server chose a subprotocol not offered"),
            Self::ExtensionNotOffered => {
                f.write_str("server chose an extension or parameters not offered")
            }
            Self::InvalidUrl(what) => write!(f, "invalid WebSocket URL: {what}"),
            Self::Rejected(status) => write!(f, "handshake rejected with {status}"),
            Self::AlreadyComplete => f.write_str("the opening handshake is already complete"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Why a [`Connection`](crate::Connection) failed.
///
/// Fatal errors are sticky: once a connection has failed, every later call that can fail
/// returns the same error. A normal close is not an error; it is an
/// [`Message::Close`](crate::Message::Close) followed by the end of events.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The peer broke the protocol; we sent a close frame with the error's close code.
    Protocol(ProtocolError),
    /// The peer did not answer a keepalive ping in time; we closed with 1011.
    KeepaliveTimeout,
    /// The transport ended, or the close timeout expired, before the closing handshake
    /// finished (close code 1006, which is never sent on the wire).
    AbnormalClosure,
    /// Sending or closing after the connection's close frame was sent.
    Closed,
    /// The local side gave an argument the protocol cannot carry (a control payload over
    /// 125 bytes, a close code that must not be sent).
    InvalidInput(&'static str),
}

impl Error {
    /// The close code this error closed (or would close) the connection with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::Protocol(e) => e.close_code(),
            Self::KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            Self::AbnormalClosure => CloseCode::ABNORMAL_CLOSURE,
            Self::Closed | Self::InvalidInput(_) => CloseCode::NORMAL_CLOSURE,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::KeepaliveTimeout => f.write_str("keepalive ping timed out"),
            Self::AbnormalClosure => {
                f.write_str("the connection closed without a closing handshake")
            }
            Self::Closed => f.write_str("the connection is closing or closed"),
            Self::InvalidInput(what) => write!(f, "invalid input: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_map_to_their_close_codes() {
        assert_eq!(
            ProtocolError::InvalidUtf8.close_code(),
            CloseCode::INVALID_PAYLOAD
        );
        assert_eq!(
            ProtocolError::MessageTooBig { limit: 1 }.close_code(),
            CloseCode::MESSAGE_TOO_BIG
        );
        assert_eq!(
            ProtocolError::FrameTooBig { size: 2, limit: 1 }.close_code(),
            CloseCode::MESSAGE_TOO_BIG
        );
        assert_eq!(
            ProtocolError::TooManyFragments { limit: 1 }.close_code(),
            CloseCode::MESSAGE_TOO_BIG
        );
        assert_eq!(
            ProtocolError::ReservedOpcode(3).close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(
            ProtocolError::UnmaskedFrame.close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(
            Error::KeepaliveTimeout.close_code(),
            CloseCode::INTERNAL_ERROR
        );
    }

    #[test]
    fn handshake_errors_map_to_http_statuses() {
        assert_eq!(
            HandshakeError::UnsupportedVersion.http_status(),
            StatusCode::UPGRADE_REQUIRED
        );
        assert_eq!(
            HandshakeError::MethodNotGet.http_status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            HandshakeError::HeadTooLarge { limit: 1 }.http_status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            HandshakeError::InvalidKey.http_status(),
            StatusCode::BAD_REQUEST
        );
    }
}
