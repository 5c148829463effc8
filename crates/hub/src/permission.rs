//! Who a connection is ([`Credentials`], from an [`Authenticator`]) and what it may do in a
//! channel ([`Permissions`]).

use std::fmt;
use std::time::Instant;

use serde_json::Value;

use crate::channel::{is_channel_char, ChannelName, NamespaceConfig};
use crate::protocol::ErrorCode;

/// A channel, or every channel with a prefix, as granted by a token's channel claim:
/// `chat:lobby` is one channel, `user:42:*` every channel starting with `user:42:`, and `*`
/// every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelPattern {
    /// Exactly this channel.
    Exact(ChannelName),
    /// Every channel starting with this prefix (possibly empty).
    Prefix(String),
}

/// A string that is not a [`ChannelPattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern(pub String);

impl fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid channel pattern {:?}", self.0)
    }
}

impl std::error::Error for InvalidPattern {}

impl ChannelPattern {
    /// Parses a pattern: a channel name, or channel characters followed by one `*`.
    pub fn new(pattern: &str) -> Result<Self, InvalidPattern> {
        let invalid = || InvalidPattern(pattern.to_owned());
        match pattern.strip_suffix('*') {
            Some(prefix) if prefix.chars().all(is_channel_char) => {
                Ok(Self::Prefix(prefix.to_owned()))
            }
            Some(_) => Err(invalid()),
            None => ChannelName::new(pattern)
                .map(Self::Exact)
                .map_err(|_| invalid()),
        }
    }

    /// Whether `channel` is granted by this pattern.
    pub fn matches(&self, channel: &ChannelName) -> bool {
        match self {
            Self::Exact(name) => name == channel,
            Self::Prefix(prefix) => channel.as_str().starts_with(prefix.as_str()),
        }
    }
}

/// Who a connection is, once its token is checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Credentials {
    /// The user's id; empty for an anonymous connection.
    pub user_id: String,
    /// Application data about the connection, shown in presence and publications.
    pub info: Option<Value>,
    /// Channels the token grants subscribing to, even where clients may not subscribe on
    /// their own.
    pub channels: Vec<ChannelPattern>,
    /// Channels the token grants publishing into, even where clients may not publish on
    /// their own. Separate from `channels` so that a read grant never becomes a write.
    pub publish: Vec<ChannelPattern>,
    /// When the token expires; the session disconnects the client then.
    pub expires_at: Option<Instant>,
}

impl Credentials {
    /// An anonymous connection: no user id, no grants, no expiry.
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed, forged, or not for this server.
    Invalid,
    /// The token was valid but has expired.
    Expired,
}

/// Checks a connection's token. [`JwtAuthenticator`](crate::jwt::JwtAuthenticator) checks
/// JSON Web Tokens; tests and embedders may supply their own. Synchronous on purpose:
/// checking a signature is CPU work.
pub trait Authenticator: Send + Sync {
    /// The credentials `token` proves, at `now`.
    fn authenticate(&self, token: &str, now: Instant) -> Result<Credentials, AuthError>;
}

/// What a connection may do, from its credentials and each channel's namespace.
///
/// - **Subscribe**: a channel pattern in the token grants it; otherwise the namespace must
///   allow subscribing by clients, and an anonymous connection needs `allow_anonymous`.
/// - **Publish**: a publish pattern in the token grants it; otherwise the namespace must
///   allow publishing by clients, and an anonymous connection needs `allow_anonymous`. The
///   subscribe patterns (`channels`) do not grant publishing: a read grant must not become
///   a write.
/// - **Presence and history**: only in channels the connection is subscribed to (checked by
///   the session), so they reveal nothing a subscriber could not see.
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    credentials: &'a Credentials,
}

impl<'a> Permissions<'a> {
    /// The permissions of a connection with `credentials`.
    pub fn new(credentials: &'a Credentials) -> Self {
        Self { credentials }
    }

    fn is_anonymous(&self) -> bool {
        self.credentials.user_id.is_empty()
    }

    /// Whether the connection may subscribe to `channel`, in namespace `namespace`.
    pub fn check_subscribe(
        &self,
        channel: &ChannelName,
        namespace: &NamespaceConfig,
    ) -> Result<(), ErrorCode> {
        let granted = self.credentials.channels.iter().any(|p| p.matches(channel));
        let open = namespace.allow_subscribe_by_clients
            && (namespace.allow_anonymous || !self.is_anonymous());
        if granted || open {
            Ok(())
        } else {
            Err(ErrorCode::PERMISSION_DENIED)
        }
    }

    /// Whether the connection may publish into `channel`, in namespace `namespace`.
    pub fn check_publish(
        &self,
        channel: &ChannelName,
        namespace: &NamespaceConfig,
    ) -> Result<(), ErrorCode> {
        let granted = self.credentials.publish.iter().any(|p| p.matches(channel));
        let open = namespace.allow_publish_by_clients
            && (namespace.allow_anonymous || !self.is_anonymous());
        if granted || open {
            Ok(())
        } else {
            Err(ErrorCode::PERMISSION_DENIED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::new(name).unwrap()
    }

    #[test]
    fn patterns() {
        // (pattern, channel, matches)
        let table = [
            ("chat:lobby", "chat:lobby", true),
            ("chat:lobby", "chat:lobby2", false),
            ("user:42:*", "user:42:inbox", true),
            ("user:42:*", "user:420", false),
            ("user:4*", "user:420", true),
            ("*", "anything", true),
        ];
        for (pattern, name, matches) in table {
            let pattern = ChannelPattern::new(pattern).unwrap();
            assert_eq!(
                pattern.matches(&channel(name)),
                matches,
                "{pattern:?} {name}"
            );
        }
        for bad in ["", "a b", "**", "a*b", ":x", "caf\u{e9}*"] {
            assert!(ChannelPattern::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subscribe_and_publish_rules() {
        let patterns = |patterns: &[&str]| {
            patterns
                .iter()
                .map(|p| ChannelPattern::new(p).unwrap())
                .collect()
        };
        // A user with subscribe grants and publish grants.
        let user = |channels: &[&str], publish: &[&str]| Credentials {
            user_id: "alice".into(),
            channels: patterns(channels),
            publish: patterns(publish),
            ..Credentials::default()
        };
        let anonymous = Credentials::anonymous();
        let closed = NamespaceConfig {
            allow_subscribe_by_clients: false,
            ..NamespaceConfig::default()
        };
        let open = NamespaceConfig {
            allow_anonymous: true,
            allow_publish_by_clients: true,
            ..NamespaceConfig::default()
        };
        let default = NamespaceConfig::default();
        let denied = Err(ErrorCode::PERMISSION_DENIED);
        // (credentials, namespace, channel, may subscribe, may publish)
        let table = [
            (user(&[], &[]), &default, "a", Ok(()), denied),
            (anonymous.clone(), &default, "a", denied, denied),
            (anonymous.clone(), &open, "a", Ok(()), Ok(())),
            (user(&[], &[]), &open, "a", Ok(()), Ok(())),
            (user(&[], &[]), &closed, "a", denied, denied),
            (user(&["a"], &[]), &closed, "a", Ok(()), denied),
            (user(&["b:*"], &[]), &closed, "b:1", Ok(()), denied),
            (user(&["b:*"], &[]), &closed, "c:1", denied, denied),
            // A publish grant allows publishing where clients may not, and nothing else.
            (user(&[], &["a"]), &default, "a", Ok(()), Ok(())),
            (user(&[], &["a"]), &closed, "a", denied, Ok(())),
            (user(&[], &["b:*"]), &closed, "b:1", denied, Ok(())),
            (user(&[], &["b:*"]), &default, "c:1", Ok(()), denied),
            (user(&["*"], &["b:*"]), &closed, "c:1", Ok(()), denied),
        ];
        for (case, (credentials, namespace, name, subscribe, publish)) in
            table.into_iter().enumerate()
        {
            let permissions = Permissions::new(&credentials);
            let got = permissions.check_subscribe(&channel(name), namespace);
            assert_eq!(got, subscribe, "case {case}");
            let got = permissions.check_publish(&channel(name), namespace);
            assert_eq!(got, publish, "case {case}");
        }
    }
}
