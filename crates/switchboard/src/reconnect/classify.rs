//! Which failures are worth a reconnect: pure functions from an [`Error`] or a close code to a
//! [`Verdict`], table-tested below.
//!
//! The rule of thumb: retry what time can fix (the network, a restarting or overloaded
//! server), stop on what it cannot (a bug on either side, a refusal, a bad configuration),
//! and stop quietly when the server says the session is over.

use std::io;
use std::ops::RangeInclusive;

use http::StatusCode;
use switchboard_proto::{CloseCode, HandshakeError};

use crate::error::Error;

/// What to do after a connection attempt failed or a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Reconnect after the backoff delay: the cause is likely to go away.
    Retry,
    /// Stop: retrying would fail the same way (a protocol bug, a refusal, a bad URL or
    /// configuration).
    Fatal,
    /// Stop: the session ended as it should (the server closed with 1000, or we closed).
    Done,
}

/// Classifies an error from connecting or from an open connection.
///
/// | Error | Verdict | Why |
/// |---|---|---|
/// | `Io` | Retry, except `PermissionDenied`, `InvalidInput` and `Unsupported`: Fatal | refused, reset, timed out, broken pipe, unreachable, DNS: the network or the server comes back. Being denied (by the OS, a firewall, or a proxy refusing our credentials or the destination), a rejected argument and an unsupported operation repeat identically. |
/// | `Timeout`, `KeepaliveTimeout`, `AbnormalClosure` | Retry | a slow or vanished peer or path |
/// | `Handshake(UnexpectedStatus)` / `Rejected` | see [`classify_status`] | |
/// | other `Handshake` errors | Fatal | the server does not speak WebSocket as asked (wrong accept key, unoffered subprotocol or extension, malformed response) or the URL is unusable |
/// | `Protocol` | Fatal | the peer's implementation is broken; it will be again |
/// | `Config`, `InvalidInput` | Fatal | our configuration or our caller |
/// | `Closed` | Done | the connection was closed on purpose |
///
/// Proxy refusals arrive as `Io` errors whose kind says whether they last (`PermissionDenied`)
/// or may pass (`ConnectionRefused`, `TimedOut`), and are classified by it.
///
/// TLS failures (certificates included) arrive as `Io` errors and are retried: certificates
/// get fixed on the server without the client changing, and the capped backoff keeps a
/// misconfigured client cheap. Each failure is still reported as an event.
pub fn classify(error: &Error) -> Verdict {
    match error {
        // A proxy that refuses our credentials will refuse them again; one that is overloaded
        // or cannot reach the server may not.
        Error::Io(_) if error.proxy_error().is_some() => match error.proxy_error() {
            Some(proxy) if proxy.is_transient() => Verdict::Retry,
            _ => Verdict::Fatal,
        },
        Error::Io(e) => match e.kind() {
            io::ErrorKind::PermissionDenied
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::Unsupported => Verdict::Fatal,
            _ => Verdict::Retry,
        },
        Error::Timeout(_) | Error::KeepaliveTimeout | Error::AbnormalClosure => Verdict::Retry,
        Error::Handshake(e) => classify_handshake(e),
        Error::Protocol(_) | Error::Config(_) | Error::InvalidInput(_) => Verdict::Fatal,
        Error::Closed => Verdict::Done,
    }
}

fn classify_handshake(error: &HandshakeError) -> Verdict {
    match error {
        HandshakeError::UnexpectedStatus(status) | HandshakeError::Rejected(status) => {
            classify_status(*status)
        }
        // Everything else means the server answered, and answered wrongly: the same server
        // will answer the same way next time.
        _ => Verdict::Fatal,
    }
}

/// Classifies the HTTP status of a refused opening handshake.
///
/// 5xx (the server or a proxy is failing or restarting), 429 Too Many Requests and 408
/// Request Timeout are Retry. Every other status is Fatal: 4xx say the request itself is
/// wrong (401/403 missing credentials, 404 wrong path, 426 version), 3xx redirects are the
/// connector's to follow, and 1xx/2xx mean the server is not a WebSocket endpoint.
pub fn classify_status(status: StatusCode) -> Verdict {
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Verdict::Retry
    } else {
        Verdict::Fatal
    }
}

/// Which close codes from the server lead to a reconnect: the built-in table of
/// [`classify`](Self::classify) plus the codes you list.
///
/// Codes 3000-4999 are for libraries and applications (RFC 6455 7.4.2), so only the
/// application knows which of them mean "come back later". By default they are Fatal; list
/// the ones to retry:
///
/// ```
/// use switchboard::reconnect::{ClosePolicy, Verdict};
/// use switchboard::CloseCode;
///
/// // Our server closes with 4000 when it sheds load and 4100-4199 for maintenance.
/// let policy = ClosePolicy::default().retry_codes(4000..=4000).retry_codes(4100..=4199);
/// assert_eq!(policy.classify(CloseCode(4150)), Verdict::Retry);
/// assert_eq!(policy.classify(CloseCode(4001)), Verdict::Fatal);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosePolicy {
    /// Close codes after which to reconnect whatever the built-in table says. Empty by
    /// default. Checked first, so it can also overrule the table: list 1000 to keep a
    /// connection up even when the server ends it normally.
    pub retry: Vec<RangeInclusive<u16>>,
}

impl ClosePolicy {
    /// Adds codes to reconnect after (builder style).
    pub fn retry_codes(mut self, codes: RangeInclusive<u16>) -> Self {
        self.retry.push(codes);
        self
    }

    /// Classifies the close code the server closed with (1005 if its close frame had none).
    ///
    /// | Code | Verdict | Why |
    /// |---|---|---|
    /// | listed in [`retry`](Self::retry) | Retry | the application said so |
    /// | 1000 Normal Closure | Done | the purpose of the connection is fulfilled |
    /// | 1001 Going Away, 1006 Abnormal, 1011 Internal Error, 1012 Service Restart, 1013 Try Again Later, 1014 Bad Gateway | Retry | a server restarting, overloaded or failing, or a path that broke |
    /// | 1005 No Status | Retry | a close without a code is no statement that the session is over; only 1000 is |
    /// | 1002 Protocol Error, 1003 Unsupported Data, 1007 Invalid Payload, 1008 Policy Violation, 1009 Too Big, 1010 Mandatory Extension | Fatal | the server objects to what we send or are; we would do it again |
    /// | 3000-4999 not listed | Fatal | their meaning is the application's |
    /// | anything else (1004, 1015, unassigned) | Fatal | never valid in a close frame |
    pub fn classify(&self, code: CloseCode) -> Verdict {
        if self.retry.iter().any(|range| range.contains(&code.0)) {
            return Verdict::Retry;
        }
        classify_close(code)
    }
}

/// Classifies a close code with the built-in table alone (see [`ClosePolicy::classify`]).
pub fn classify_close(code: CloseCode) -> Verdict {
    match code {
        CloseCode::NORMAL_CLOSURE => Verdict::Done,
        CloseCode::GOING_AWAY
        | CloseCode::NO_STATUS_RECEIVED
        | CloseCode::ABNORMAL_CLOSURE
        | CloseCode::INTERNAL_ERROR
        | CloseCode::SERVICE_RESTART
        | CloseCode::TRY_AGAIN_LATER
        | CloseCode::BAD_GATEWAY => Verdict::Retry,
        _ => Verdict::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::ProtocolError;

    #[test]
    fn proxy_refusals_stop_and_proxy_outages_retry() {
        use crate::client::proxy::ProxyError;
        let proxy = |e: ProxyError| Error::Io(io::Error::other(e));
        assert_eq!(
            classify(&proxy(ProxyError::AuthenticationFailed)),
            Verdict::Fatal
        );
        assert_eq!(
            classify(&proxy(ProxyError::AuthenticationRequired)),
            Verdict::Fatal
        );
        assert_eq!(
            classify(&proxy(ProxyError::Status(StatusCode::FORBIDDEN))),
            Verdict::Fatal
        );
        assert_eq!(
            classify(&proxy(ProxyError::Status(StatusCode::BAD_GATEWAY))),
            Verdict::Retry
        );
    }

    #[test]
    fn close_code_table() {
        use Verdict::*;
        let table: &[(u16, Verdict)] = &[
            (1000, Done),
            (1001, Retry),
            (1002, Fatal),
            (1003, Fatal),
            (1004, Fatal),
            (1005, Retry),
            (1006, Retry),
            (1007, Fatal),
            (1008, Fatal),
            (1009, Fatal),
            (1010, Fatal),
            (1011, Retry),
            (1012, Retry),
            (1013, Retry),
            (1014, Retry),
            (1015, Fatal),
            (1016, Fatal),
            (2999, Fatal),
            (3000, Fatal),
            (3999, Fatal),
            (4000, Fatal),
            (4999, Fatal),
            (5000, Fatal),
        ];
        for &(code, verdict) in table {
            assert_eq!(
                classify_close(CloseCode(code)),
                verdict,
                "close code {code}"
            );
            let policy = ClosePolicy::default();
            assert_eq!(
                policy.classify(CloseCode(code)),
                verdict,
                "close code {code}"
            );
        }
    }

    #[test]
    fn listed_codes_retry_and_can_overrule_the_table() {
        let policy = ClosePolicy::default()
            .retry_codes(4000..=4009)
            .retry_codes(1000..=1000);
        for (code, verdict) in [
            (3999, Verdict::Fatal),
            (4000, Verdict::Retry),
            (4009, Verdict::Retry),
            (4010, Verdict::Fatal),
            (1000, Verdict::Retry),
            (1008, Verdict::Fatal),
        ] {
            assert_eq!(
                policy.classify(CloseCode(code)),
                verdict,
                "close code {code}"
            );
        }
    }

    #[test]
    fn status_table() {
        use Verdict::*;
        for (status, verdict) in [
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (504, Retry),
            (599, Retry),
            (429, Retry),
            (408, Retry),
            (400, Fatal),
            (401, Fatal),
            (403, Fatal),
            (404, Fatal),
            (426, Fatal),
            (301, Fatal),
            (200, Fatal),
            (100, Fatal),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(classify_status(status), verdict, "{status}");
            let error = Error::Handshake(HandshakeError::UnexpectedStatus(status));
            assert_eq!(classify(&error), verdict, "{status}");
        }
    }

    #[test]
    fn error_table() {
        use io::ErrorKind::*;
        use Verdict::*;
        let io = |kind: io::ErrorKind| Error::Io(io::Error::from(kind));
        let table: Vec<(Error, Verdict)> = vec![
            (io(ConnectionRefused), Retry),
            (io(ConnectionReset), Retry),
            (io(ConnectionAborted), Retry),
            (io(TimedOut), Retry),
            (io(BrokenPipe), Retry),
            (io(UnexpectedEof), Retry),
            (io(NotConnected), Retry),
            (io(AddrNotAvailable), Retry),
            (io(InvalidData), Retry),
            (io(Other), Retry),
            (io(HostUnreachable), Retry),
            (io(NetworkUnreachable), Retry),
            (io(PermissionDenied), Fatal),
            (io(InvalidInput), Fatal),
            (io(Unsupported), Fatal),
            (Error::Timeout("handshake"), Retry),
            (Error::KeepaliveTimeout, Retry),
            (Error::AbnormalClosure, Retry),
            (Error::Protocol(ProtocolError::MaskedFrame), Fatal),
            (Error::Protocol(ProtocolError::InvalidUtf8), Fatal),
            (Error::Handshake(HandshakeError::InvalidAccept), Fatal),
            (
                Error::Handshake(HandshakeError::SubprotocolNotOffered),
                Fatal,
            ),
            (Error::Handshake(HandshakeError::ExtensionNotOffered), Fatal),
            (
                Error::Handshake(HandshakeError::InvalidUrl("no host")),
                Fatal,
            ),
            (Error::Handshake(HandshakeError::MissingUpgrade), Fatal),
            (
                Error::Handshake(HandshakeError::MalformedHead("bad")),
                Fatal,
            ),
            (
                Error::Handshake(HandshakeError::Rejected(StatusCode::SERVICE_UNAVAILABLE)),
                Retry,
            ),
            (Error::Config("no TLS roots".into()), Fatal),
            (Error::InvalidInput("ping too long"), Fatal),
            (Error::Closed, Done),
        ];
        for (error, verdict) in table {
            assert_eq!(classify(&error), verdict, "{error:?}");
        }
    }
}
