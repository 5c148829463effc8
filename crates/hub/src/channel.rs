//! Channel names, namespaces and the per-namespace options.
//!
//! A channel name is validated once, when it enters the hub, and carried as a
//! [`ChannelName`] afterwards. The part before the first `:` is the channel's namespace
//! (`chat:lobby` is in namespace `chat`); a name without `:` is in the default namespace.
//! Each namespace has a [`NamespaceConfig`], looked up through [`Namespaces`].

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest channel name, in bytes. Names are map keys on every node and in Redis, and
/// they are repeated in every publication a client receives: a short cap keeps both cheap.
pub const MAX_CHANNEL_NAME_LEN: usize = 255;

/// A validated channel name.
///
/// Rules:
/// - 1 to [`MAX_CHANNEL_NAME_LEN`] bytes;
/// - only ASCII letters, digits and `_ - : . @ / =` (enough for `chat:lobby`,
///   `user:alice@example.com`, `doc/42`, base64-ish ids; nothing that needs escaping in a
///   URL path, a Redis key or a log line);
/// - no leading `:` (the namespace would be empty) and no trailing `:` (the name within the
///   namespace would be empty).
///
/// Further `:` are allowed and belong to the name: `chat:room:7` is `room:7` in `chat`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelName(String);

/// Why a string is not a [`ChannelName`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_CHANNEL_NAME_LEN`] bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// The name contains a character outside the allowed set.
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte index in the name.
        index: usize,
    },
    /// The name starts with `:`, so its namespace would be empty.
    LeadingColon,
    /// The name ends with `:`, so the name within its namespace would be empty.
    TrailingColon,
}

impl fmt::Display for ChannelNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("channel name is empty"),
            Self::TooLong { len } => write!(
                f,
                "channel name is {len} bytes long, the limit is {MAX_CHANNEL_NAME_LEN}"
            ),
            Self::InvalidCharacter { character, index } => write!(
                f,
                "channel name has {character:?} at byte {index}; allowed: A-Z a-z 0-9 _ - : . @ / ="
            ),
            Self::LeadingColon => f.write_str("channel name starts with ':' (empty namespace)"),
            Self::TrailingColon => f.write_str("channel name ends with ':'"),
        }
    }
}

impl std::error::Error for ChannelNameError {}

pub(crate) fn is_channel_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '@' | '/' | '=')
}

impl ChannelName {
    /// Validates `name` against the rules in the type's documentation.
    pub fn new(name: impl Into<String>) -> Result<Self, ChannelNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        if name.len() > MAX_CHANNEL_NAME_LEN {
            return Err(ChannelNameError::TooLong { len: name.len() });
        }
        if let Some((index, character)) = name.char_indices().find(|&(_, c)| !is_channel_char(c)) {
            return Err(ChannelNameError::InvalidCharacter { character, index });
        }
        if name.starts_with(':') {
            return Err(ChannelNameError::LeadingColon);
        }
        if name.ends_with(':') {
            return Err(ChannelNameError::TrailingColon);
        }
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace: the part before the first `:`, or `None` for the default namespace.
    pub fn namespace(&self) -> Option<&str> {
        self.0.split_once(':').map(|(namespace, _)| namespace)
    }
}

impl TryFrom<String> for ChannelName {
    type Error = ChannelNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl From<ChannelName> for String {
    fn from(name: ChannelName) -> Self {
        name.0
    }
}

impl AsRef<str> for ChannelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// What a namespace lets clients do, and what the hub keeps for its channels.
///
/// The defaults describe a channel that the server publishes into and authenticated clients
/// read: every capability that costs memory or lets a client write is off until asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Clients may publish into the channel with the `publish` command. Default `false`:
    /// publishing from a browser lets anyone who can subscribe write too, which most
    /// applications want only for chat-like namespaces; the server API can always publish.
    pub allow_publish_by_clients: bool,
    /// Clients may subscribe on their own (without a channel claim in their token). Default
    /// `true`, limited by `allow_anonymous`: a private namespace sets it to `false` and grants
    /// channels through the token's channel patterns.
    pub allow_subscribe_by_clients: bool,
    /// The hub tracks who is subscribed, for the `presence` and `presence_stats` commands.
    /// Default `false`: presence is a write on every subscribe and unsubscribe.
    pub presence: bool,
    /// Subscribers receive `join` and `leave` pushes. Default `false`: in a large channel this
    /// is a broadcast per subscriber change. Needs `presence`.
    pub join_leave: bool,
    /// How many publications the hub keeps per channel for `history` and for recovery after a
    /// reconnect. Default `0` (keep none): history is memory per channel.
    pub history_size: usize,
    /// How long a publication is kept. Default 5 minutes, long enough to cover a mobile client
    /// losing its network for a while, short enough that an idle channel's history goes away.
    /// A channel that received nothing for this long loses its stream (see `history`).
    pub history_ttl: Duration,
    /// Clients without a user id (connected without a token) may subscribe, and publish where
    /// publishing is allowed. Default `false`: anonymous access is an explicit choice.
    pub allow_anonymous: bool,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            allow_publish_by_clients: false,
            allow_subscribe_by_clients: true,
            presence: false,
            join_leave: false,
            history_size: 0,
            history_ttl: Duration::from_secs(300),
            allow_anonymous: false,
        }
    }
}

/// The namespaces the hub knows, and the configuration of the default namespace.
///
/// Lookup is by the exact namespace name, the part of the channel name before the first `:`.
/// There is no prefix matching between namespaces: `chat:x` is in `chat`, never in `ch`.
/// A name without `:` is in the default namespace.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    default: NamespaceConfig,
    named: HashMap<String, NamespaceConfig>,
}

/// Why a channel's namespace cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The channel names a namespace that is not configured. Refusing it (rather than
    /// falling back to the default) keeps a typo from landing in a namespace with other rules.
    Unknown {
        /// The namespace the channel named.
        namespace: String,
    },
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { namespace } => write!(f, "unknown namespace {namespace:?}"),
        }
    }
}

impl std::error::Error for NamespaceError {}

impl Namespaces {
    /// Namespaces with `default` for channels without a namespace, and no named ones.
    pub fn new(default: NamespaceConfig) -> Self {
        Self {
            default,
            named: HashMap::new(),
        }
    }

    /// Adds or replaces the namespace `name`.
    pub fn with(mut self, name: impl Into<String>, config: NamespaceConfig) -> Self {
        self.named.insert(name.into(), config);
        self
    }

    /// The configuration of `channel`'s namespace.
    pub fn resolve(&self, channel: &ChannelName) -> Result<&NamespaceConfig, NamespaceError> {
        match channel.namespace() {
            None => Ok(&self.default),
            Some(namespace) => self
                .named
                .get(namespace)
                .ok_or_else(|| NamespaceError::Unknown {
                    namespace: namespace.to_owned(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_name_rules() {
        let long = "a".repeat(MAX_CHANNEL_NAME_LEN);
        let too_long = "a".repeat(MAX_CHANNEL_NAME_LEN + 1);
        let table: &[(&str, Result<(), ChannelNameError>)] = &[
            ("lobby", Ok(())),
            ("chat:lobby", Ok(())),
            ("chat:room:7", Ok(())),
            ("user:alice@example.com", Ok(())),
            ("doc/42=v-1_2.x", Ok(())),
            (&long, Ok(())),
            ("", Err(ChannelNameError::Empty)),
            (&too_long, Err(ChannelNameError::TooLong { len: 256 })),
            (":lobby", Err(ChannelNameError::LeadingColon)),
            ("chat:", Err(ChannelNameError::TrailingColon)),
            (":", Err(ChannelNameError::LeadingColon)),
            (
                "chat lobby",
                Err(ChannelNameError::InvalidCharacter {
                    character: ' ',
                    index: 4,
                }),
            ),
            (
                "chat:*",
                Err(ChannelNameError::InvalidCharacter {
                    character: '*',
                    index: 5,
                }),
            ),
            (
                "caf\u{e9}",
                Err(ChannelNameError::InvalidCharacter {
                    character: '\u{e9}',
                    index: 3,
                }),
            ),
            (
                "a\nb",
                Err(ChannelNameError::InvalidCharacter {
                    character: '\n',
                    index: 1,
                }),
            ),
        ];
        for (name, expected) in table {
            let got = ChannelName::new(*name).map(|_| ());
            assert_eq!(&got, expected, "{name:?}");
        }
    }

    #[test]
    fn namespace_is_the_part_before_the_first_colon() {
        let table = [
            ("lobby", None),
            ("chat:lobby", Some("chat")),
            ("chat:room:7", Some("chat")),
        ];
        for (name, namespace) in table {
            let channel = ChannelName::new(name).unwrap();
            assert_eq!(channel.namespace(), namespace, "{name}");
        }
    }

    #[test]
    fn serde_validates_channel_names() {
        let channel: ChannelName = serde_json::from_str(r#""chat:lobby""#).unwrap();
        assert_eq!(channel.as_str(), "chat:lobby");
        assert_eq!(serde_json::to_string(&channel).unwrap(), r#""chat:lobby""#);
        let error = serde_json::from_str::<ChannelName>(r#""chat:""#).unwrap_err();
        assert!(error.to_string().contains("ends with ':'"), "{error}");
    }

    #[test]
    fn namespace_lookup() {
        let chat = NamespaceConfig {
            allow_publish_by_clients: true,
            ..NamespaceConfig::default()
        };
        let namespaces = Namespaces::default().with("chat", chat.clone());
        let table: &[(&str, Result<&NamespaceConfig, NamespaceError>)] = &[
            ("lobby", Ok(&NamespaceConfig::default())),
            ("chat:lobby", Ok(&chat)),
            ("chat:room:7", Ok(&chat)),
            (
                "ch:lobby",
                Err(NamespaceError::Unknown {
                    namespace: "ch".into(),
                }),
            ),
            (
                "chatter:x",
                Err(NamespaceError::Unknown {
                    namespace: "chatter".into(),
                }),
            ),
        ];
        for (name, expected) in table {
            let channel = ChannelName::new(*name).unwrap();
            assert_eq!(&namespaces.resolve(&channel), expected, "{name}");
        }
    }
}
