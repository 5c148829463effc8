//! The claims a connection token carries, and what they mean: [`Credentials`], valid from
//! `nbf` until `exp`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::permission::{AuthError, ChannelPattern, Credentials};

/// The claims of a connection token, as the backend that issues tokens writes them. Sign
/// them with `jsonwebtoken::encode` (or any JWT library: these are plain JSON fields).
///
/// Other claims (`iat`, `jti`, the application's own) are allowed and ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Claims {
    /// `sub`: the user's id. Required and not empty: a token always names a user, and an
    /// empty id would make the connection anonymous.
    pub sub: String,
    /// `exp`: when the token expires, in seconds since 1970 (an integer). Optional: a token
    /// without it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// `nbf`: the token is refused before this time, in seconds since 1970. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// `iss`: who issued the token; checked when the server is configured with an issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `aud`: who the token is for; checked when the server is configured with an audience.
    /// Written as a string when there is one, as an array otherwise (RFC 7519 4.1.3 allows
    /// both); read from either.
    #[serde(
        default,
        with = "string_or_array",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// `info`: any JSON about the connection, shown in presence and publications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
    /// `channels`: [`ChannelPattern`]s the connection may subscribe to, such as
    /// `chat:lobby`, `user:42:*` or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// `publish`: [`ChannelPattern`]s the connection may publish into.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<String>,
}

impl Claims {
    /// When the token stops being valid, as an [`Instant`]: `now` is the monotonic time and
    /// `wall_clock` the same moment in real time, which `exp` and `nbf` count in.
    pub(super) fn expiry(
        &self,
        now: Instant,
        wall_clock: SystemTime,
        leeway: Duration,
    ) -> Result<Option<Instant>, AuthError> {
        // A clock set before 1970 reads as 1970.
        let since_epoch = wall_clock
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        // RFC 7519 4.1.5: the current time MUST be after or equal to `nbf`.
        let early = |nbf| since_epoch.saturating_add(leeway) < Duration::from_secs(nbf);
        if self.nbf.is_some_and(early) {
            return Err(AuthError::Invalid);
        }
        let Some(exp) = self.exp else {
            return Ok(None);
        };
        // RFC 7519 4.1.4: the current time MUST be before `exp`. The leeway moves the
        // deadline itself, so that the session does not disconnect at once a client whose
        // token was just accepted within it.
        let remaining = Duration::from_secs(exp)
            .saturating_add(leeway)
            .checked_sub(since_epoch)
            .filter(|remaining| !remaining.is_zero())
            .ok_or(AuthError::Expired)?;
        // An `exp` later than an `Instant` can hold is as good as never.
        Ok(now.checked_add(remaining))
    }

    /// The credentials these claims grant, until `expires_at`.
    pub(super) fn into_credentials(
        self,
        expires_at: Option<Instant>,
    ) -> Result<Credentials, AuthError> {
        if self.sub.is_empty() {
            return Err(AuthError::Invalid);
        }
        Ok(Credentials {
            user_id: self.sub,
            info: self.info,
            channels: patterns(&self.channels)?,
            publish: patterns(&self.publish)?,
            expires_at,
        })
    }
}

/// One pattern that does not parse refuses the whole token rather than being skipped: the
/// issuer has a bug, and a refused connect shows it where a missing grant would not.
fn patterns(patterns: &[String]) -> Result<Vec<ChannelPattern>, AuthError> {
    patterns
        .iter()
        .map(|pattern| ChannelPattern::new(pattern).map_err(|_| AuthError::Invalid))
        .collect()
}

/// `aud` as RFC 7519 4.1.3 has it: one string, or an array of strings.
mod string_or_array {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub(super) fn serialize<S: Serializer>(
        values: &[String],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match values {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
    }
}
