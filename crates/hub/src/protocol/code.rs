//! Error codes in replies and disconnect codes in close frames.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a command failed: the `code` of an error reply.
///
/// An open newtype, like WebSocket close codes, so that a client built against an older
/// table still reads newer codes. Errors are per command: the connection stays open.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// 100: something failed inside the server; details are in its logs, never in the reply.
    pub const INTERNAL: Self = Self(100);
    /// 101: the connection has not connected yet, or its token was refused.
    pub const UNAUTHORIZED: Self = Self(101);
    /// 102: the channel is in a namespace the server does not know.
    pub const UNKNOWN_CHANNEL: Self = Self(102);
    /// 103: the client may not do this in this channel (anonymous, publishing not allowed,
    /// not subscribed, no matching channel claim).
    pub const PERMISSION_DENIED: Self = Self(103);
    /// 104: the method is not one this protocol version knows. The connection stays open,
    /// so a newer client can probe an older server.
    pub const METHOD_NOT_FOUND: Self = Self(104);
    /// 105: the connection is already subscribed to the channel.
    pub const ALREADY_SUBSCRIBED: Self = Self(105);
    /// 106: the connection is not subscribed to the channel it unsubscribes from.
    pub const NOT_SUBSCRIBED: Self = Self(106);
    /// 107: the command is malformed: not JSON, missing fields, an invalid channel name.
    pub const BAD_REQUEST: Self = Self(107);
    /// 108: a storage engine (history, presence, broker) cannot answer right now; retry later.
    pub const NOT_AVAILABLE: Self = Self(108);
    /// 109: the token has expired; connect again with a fresh one.
    pub const TOKEN_EXPIRED: Self = Self(109);
    /// 110: `connect` was sent on a connection that is already connected.
    pub const ALREADY_CONNECTED: Self = Self(110);
    /// 111: the connection sent commands faster than its rate limit allows.
    pub const LIMIT_EXCEEDED: Self = Self(111);
    /// 112: the `since` position of a history request can no longer be continued from (its
    /// epoch is gone, or history no longer reaches back to it).
    pub const UNRECOVERABLE_POSITION: Self = Self(112);

    /// The message an error reply with this code carries by default.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::INTERNAL => "internal server error",
            Self::UNAUTHORIZED => "unauthorized",
            Self::UNKNOWN_CHANNEL => "unknown channel",
            Self::PERMISSION_DENIED => "permission denied",
            Self::METHOD_NOT_FOUND => "method not found",
            Self::ALREADY_SUBSCRIBED => "already subscribed",
            Self::NOT_SUBSCRIBED => "not subscribed",
            Self::BAD_REQUEST => "bad request",
            Self::NOT_AVAILABLE => "not available",
            Self::TOKEN_EXPIRED => "token expired",
            Self::ALREADY_CONNECTED => "already connected",
            Self::LIMIT_EXCEEDED => "limit exceeded",
            Self::UNRECOVERABLE_POSITION => "unrecoverable position",
            _ => "error",
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({} {:?})", self.0, self.default_message())
    }
}

/// Why the server ends a connection: the `code` of a `disconnect` push, and the code of the
/// WebSocket close frame that follows it.
///
/// The codes are in 4000..=4999, the range RFC 6455 section 7.4.2 leaves to applications.
/// Each says whether a client should reconnect; the push carries that as `reconnect`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisconnectCode(pub u16);

impl DisconnectCode {
    /// 4000: the server is shutting down or restarting. Reconnect (to another node).
    pub const SHUTDOWN: Self = Self(4000);
    /// 4001: the client broke the protocol (malformed JSON, a command before `connect`).
    /// Do not reconnect: the same client would do it again.
    pub const BAD_REQUEST: Self = Self(4001);
    /// 4002: `connect` was refused (an invalid token). Do not reconnect with the same
    /// credentials.
    pub const UNAUTHORIZED: Self = Self(4002);
    /// 4003: the token expired (at `connect`, or while connected). Reconnect with a fresh
    /// token.
    pub const TOKEN_EXPIRED: Self = Self(4003);
    /// 4004: the client read too slowly and its outbox overflowed; the hub never slows a
    /// publisher for one slow subscriber. Reconnect, and recover from history.
    pub const SLOW: Self = Self(4004);
    /// 4005: the server's API disconnected the client (a ban, a logout). Do not reconnect.
    pub const FORCED: Self = Self(4005);
    /// 4006: this node lost part of a channel's stream (its engine was unreachable, or
    /// restarted and lost history), so it cannot vouch for what the client received.
    /// Reconnect and subscribe with recovery: the answer says whether history still covers
    /// the gap.
    pub const INSUFFICIENT_STATE: Self = Self(4006);

    /// Whether a client should reconnect after this code; unknown codes say yes, since
    /// a client that gives up for good on a code it does not know would be hard to recover.
    pub fn reconnect(self) -> bool {
        !matches!(self, Self::BAD_REQUEST | Self::UNAUTHORIZED | Self::FORCED)
    }

    /// The WebSocket close code that ends the connection: the disconnect code itself, except
    /// for a shutdown, which is 1001 "going away" as RFC 6455 section 7.4.1 defines it for a
    /// server that goes down (the `disconnect` push before it still says 4000).
    pub fn close_code(self) -> u16 {
        if self == Self::SHUTDOWN {
            1001
        } else {
            self.0
        }
    }
}

impl fmt::Debug for DisconnectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisconnectCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_and_named() {
        let codes = [
            ErrorCode::INTERNAL,
            ErrorCode::UNAUTHORIZED,
            ErrorCode::UNKNOWN_CHANNEL,
            ErrorCode::PERMISSION_DENIED,
            ErrorCode::METHOD_NOT_FOUND,
            ErrorCode::ALREADY_SUBSCRIBED,
            ErrorCode::NOT_SUBSCRIBED,
            ErrorCode::BAD_REQUEST,
            ErrorCode::NOT_AVAILABLE,
            ErrorCode::TOKEN_EXPIRED,
            ErrorCode::ALREADY_CONNECTED,
            ErrorCode::LIMIT_EXCEEDED,
            ErrorCode::UNRECOVERABLE_POSITION,
        ];
        let numbers: std::collections::BTreeSet<u32> = codes.iter().map(|c| c.0).collect();
        assert_eq!(numbers.len(), codes.len());
        for code in codes {
            assert_ne!(code.default_message(), "error", "{code:?}");
        }
        assert_eq!(ErrorCode(999).default_message(), "error");
    }

    #[test]
    fn disconnect_codes_say_whether_to_reconnect() {
        let table = [
            (DisconnectCode::SHUTDOWN, true),
            (DisconnectCode::BAD_REQUEST, false),
            (DisconnectCode::UNAUTHORIZED, false),
            (DisconnectCode::TOKEN_EXPIRED, true),
            (DisconnectCode::SLOW, true),
            (DisconnectCode::FORCED, false),
            (DisconnectCode::INSUFFICIENT_STATE, true),
            (DisconnectCode(4999), true),
        ];
        for (code, reconnect) in table {
            assert!((4000..=4999).contains(&code.0));
            assert_eq!(code.reconnect(), reconnect, "{code:?}");
        }
    }
}
