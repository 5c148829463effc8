//! What a proxy can refuse or get wrong, typed so that callers can tell a bad password from
//! a busy proxy.

use std::{fmt, io};

use http::StatusCode;

/// A proxy refused to open the tunnel, or answered in a way its protocol does not allow.
///
/// It reaches the caller inside an [`Error::Io`](crate::Error::Io), whose
/// [`proxy_error`](crate::Error::proxy_error) returns it, with the [`io::ErrorKind`] a
/// direct connection would have failed with (a SOCKS5 "connection refused" is
/// `ConnectionRefused`), so that code checking kinds works the same with and without a
/// proxy. Failing to reach the proxy at all is a plain I/O error; taking too long is an
/// [`Error::Timeout`](crate::Error::Timeout).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The proxy wants credentials and none were configured (HTTP 407 to a request without
    /// `Proxy-Authorization`; a SOCKS5 proxy that accepts none of the offered methods when
    /// only "no authentication" was offered).
    AuthenticationRequired,
    /// The proxy rejected the configured credentials (HTTP 407 to a request with
    /// `Proxy-Authorization`; RFC 1929 status other than 0).
    AuthenticationFailed,
    /// The HTTP proxy answered `CONNECT` with this non-2xx status (not 407). 502 and 504
    /// usually mean the proxy could not reach the server; 403 that policy forbids it.
    Status(StatusCode),
    /// The SOCKS5 proxy refused the `CONNECT` command with this reply code (RFC 1928 6).
    Socks(SocksReply),
    /// The SOCKS5 proxy accepts none of the authentication methods offered, although
    /// credentials were offered (RFC 1928 3: method X'FF').
    NoAcceptableMethod,
    /// The proxy's HTTP response head is larger than this many bytes.
    HeadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The proxy's answer breaks its protocol; the text says where.
    Malformed(&'static str),
}

impl ProxyError {
    /// Whether trying again later may succeed: the proxy or the network it reaches the server
    /// through is failing, rather than our configuration or credentials being wrong.
    ///
    /// True for 5xx, 408 and 429 answers and for the SOCKS5 failures that describe the network
    /// (general failure, network or host unreachable, connection refused, TTL expired).
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyError::Status(status) => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ProxyError::Socks(reply) => matches!(
                *reply,
                SocksReply::GENERAL_FAILURE
                    | SocksReply::NETWORK_UNREACHABLE
                    | SocksReply::HOST_UNREACHABLE
                    | SocksReply::CONNECTION_REFUSED
                    | SocksReply::TTL_EXPIRED
            ),
            _ => false,
        }
    }

    /// The kind of the [`io::Error`] that carries this error.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            ProxyError::AuthenticationRequired
            | ProxyError::AuthenticationFailed
            | ProxyError::NoAcceptableMethod => K::PermissionDenied,
            ProxyError::Status(status) if self.is_transient() => {
                if *status == StatusCode::GATEWAY_TIMEOUT || *status == StatusCode::REQUEST_TIMEOUT
                {
                    K::TimedOut
                } else {
                    K::ConnectionRefused
                }
            }
            ProxyError::Status(_) => K::PermissionDenied,
            ProxyError::Socks(reply) => match *reply {
                SocksReply::NOT_ALLOWED => K::PermissionDenied,
                SocksReply::NETWORK_UNREACHABLE => K::NetworkUnreachable,
                SocksReply::HOST_UNREACHABLE => K::HostUnreachable,
                SocksReply::CONNECTION_REFUSED => K::ConnectionRefused,
                SocksReply::TTL_EXPIRED => K::TimedOut,
                SocksReply::COMMAND_NOT_SUPPORTED | SocksReply::ADDRESS_TYPE_NOT_SUPPORTED => {
                    K::Unsupported
                }
                _ => K::Other,
            },
            ProxyError::HeadTooLarge { .. } | ProxyError::Malformed(_) => K::InvalidData,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::AuthenticationRequired => {
                f.write_str("the proxy requires credentials and none were given")
            }
            ProxyError::AuthenticationFailed => f.write_str("the proxy rejected the credentials"),
            ProxyError::Status(status) => write!(f, "the proxy answered CONNECT with {status}"),
            ProxyError::Socks(reply) => write!(f, "the SOCKS5 proxy refused: {reply}"),
            ProxyError::NoAcceptableMethod => {
                f.write_str("the SOCKS5 proxy accepts none of the offered authentication methods")
            }
            ProxyError::HeadTooLarge { limit } => {
                write!(f, "the proxy's response head exceeds {limit} bytes")
            }
            ProxyError::Malformed(what) => write!(f, "malformed proxy response: {what}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// A SOCKS5 reply code (RFC 1928 6, the `REP` field), with the RFC's names.
///
/// An open newtype: codes the RFC leaves unassigned are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocksReply(pub u8);

impl SocksReply {
    /// X'00' succeeded.
    pub const SUCCEEDED: SocksReply = SocksReply(0);
    /// X'01' general SOCKS server failure.
    pub const GENERAL_FAILURE: SocksReply = SocksReply(1);
    /// X'02' connection not allowed by ruleset.
    pub const NOT_ALLOWED: SocksReply = SocksReply(2);
    /// X'03' network unreachable.
    pub const NETWORK_UNREACHABLE: SocksReply = SocksReply(3);
    /// X'04' host unreachable.
    pub const HOST_UNREACHABLE: SocksReply = SocksReply(4);
    /// X'05' connection refused.
    pub const CONNECTION_REFUSED: SocksReply = SocksReply(5);
    /// X'06' TTL expired.
    pub const TTL_EXPIRED: SocksReply = SocksReply(6);
    /// X'07' command not supported.
    pub const COMMAND_NOT_SUPPORTED: SocksReply = SocksReply(7);
    /// X'08' address type not supported.
    pub const ADDRESS_TYPE_NOT_SUPPORTED: SocksReply = SocksReply(8);

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "succeeded",
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => return None,
        })
    }
}

impl fmt::Display for SocksReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unassigned reply code {}", self.0),
        }
    }
}
