//! The library's error type.

use std::{fmt, io};

use switchboard_proto::{CloseCode, HandshakeError, ProtocolError};

use crate::client::proxy::ProxyError;

/// Everything that can go wrong with a WebSocket connection.
///
/// A normal close is not an error: the stream yields the peer's `Message::Close` and then ends.
/// Errors are final: after one, the connection is failed and later calls return
/// [`Error::Closed`].
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The transport failed (connection reset, broken pipe, TLS failure, ...), or a proxy
    /// refused to open a tunnel: then the inner error is a [`ProxyError`] (see
    /// [`proxy_error`](Error::proxy_error)) and its kind says what the refusal means
    /// (`PermissionDenied`, `ConnectionRefused`, `HostUnreachable`, ...), as it would for a
    /// direct connection.
    Io(io::Error),
    /// The peer broke the protocol; we sent a close frame with
    /// [`close_code`](ProtocolError::close_code) and closed the connection.
    Protocol(ProtocolError),
    /// The opening handshake failed or was refused.
    Handshake(HandshakeError),
    /// The peer did not answer a keepalive ping in time (closed with 1011).
    KeepaliveTimeout,
    /// The connection ended without a closing handshake (1006): the peer vanished or did not
    /// answer our close frame within the close timeout.
    AbnormalClosure,
    /// The connection is closing or closed: nothing more can be sent.
    Closed,
    /// An argument the protocol cannot carry (a ping payload over 125 bytes, a reserved close
    /// code).
    InvalidInput(&'static str),
    /// Connecting, the TLS handshake or the WebSocket handshake took longer than allowed.
    Timeout(&'static str),
    /// The URL, a proxy or TLS settings are unusable.
    Config(String),
}

impl Error {
    /// The close code that describes this error, as the browser API would report it.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::Protocol(e) => e.close_code(),
            Error::KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            Error::Closed | Error::InvalidInput(_) => CloseCode::NORMAL_CLOSURE,
            Error::Io(_)
            | Error::AbnormalClosure
            | Error::Handshake(_)
            | Error::Timeout(_)
            | Error::Config(_) => CloseCode::ABNORMAL_CLOSURE,
        }
    }
}

impl Error {
    /// The proxy's refusal, if this error is one (a 407, a SOCKS5 reply code, ...).
    pub fn proxy_error(&self) -> Option<&ProxyError> {
        match self {
            Error::Io(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::KeepaliveTimeout => f.write_str("keepalive ping timed out"),
            Error::AbnormalClosure => f.write_str("connection closed without a closing handshake"),
            Error::Closed => f.write_str("connection is closed"),
            Error::InvalidInput(what) => write!(f, "invalid input: {what}"),
            Error::Timeout(what) => write!(f, "{what} timed out"),
            Error::Config(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Io(io::Error::new(e.io_kind(), e))
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<switchboard_proto::Error> for Error {
    fn from(e: switchboard_proto::Error) -> Self {
        use switchboard_proto::Error as P;
        match e {
            P::Protocol(e) => Error::Protocol(e),
            P::KeepaliveTimeout => Error::KeepaliveTimeout,
            P::AbnormalClosure => Error::AbnormalClosure,
            P::InvalidInput(what) => Error::InvalidInput(what),
            _ => Error::Closed,
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
