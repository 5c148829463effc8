//! Connection tokens as JSON Web Tokens (RFC 7519): [`JwtAuthenticator`] checks the token a
//! client sends with `connect` and turns its [`Claims`] into [`Credentials`].
//!
//! # Claims
//!
//! | claim | type | meaning |
//! | --- | --- | --- |
//! | `sub` | string, required, not empty | the user's id |
//! | `exp` | integer, seconds since 1970 | refused from then on, as expired ([`AuthError::Expired`]); without it the token never expires |
//! | `nbf` | integer, seconds since 1970 | refused before then |
//! | `aud` | string or array of strings | must name [`JwtConfig::audience`] when that is set, and be absent when it is not |
//! | `iss` | string | must equal [`JwtConfig::issuer`] when that is set |
//! | `info` | any JSON | [`Credentials::info`] |
//! | `channels` | array of [`ChannelPattern`](crate::permission::ChannelPattern)s | channels the connection may subscribe to |
//! | `publish` | array of channel patterns | channels the connection may publish into |
//!
//! `exp` and `nbf` are checked with [`JwtConfig::leeway_seconds`] of tolerance for clock
//! skew. A malformed claim (an `exp` that is not an integer, a pattern that does not parse)
//! refuses the token as [`AuthError::Invalid`].
//!
//! # Algorithms
//!
//! HS256 (a shared secret), RS256 (an RSA public key) and ES256 (an EC P-256 public key),
//! each only if its key is configured. The token's header names its algorithm; that picks
//! the one key allowed to check it, and nothing else does. So `none` is never accepted, nor
//! the classic algorithm confusion: an HS256 token whose "secret" is the server's RSA public
//! key (public, so anyone can sign with it) finds no HMAC key, or the real one, and fails.
//!
//! # Time
//!
//! `exp` and `nbf` count real time, but [`Authenticator::authenticate`] is given a monotonic
//! [`Instant`], which has no relation to the calendar. So the trait implementation reads the
//! wall clock, the one clock read in this crate, and passes it to
//! [`JwtAuthenticator::authenticate_at`], which tests and embedders call with a clock of
//! their own. The expiry becomes `now + (exp - wall clock)`, an [`Instant`] the session
//! can disconnect at.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
//! use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
//! use switchboard_hub::jwt::{Claims, JwtAuthenticator, JwtConfig};
//!
//! let secret = "a secret of at least thirty-two bytes";
//! let config = JwtConfig { hmac_secret: Some(secret.into()), ..JwtConfig::default() };
//! let authenticator = JwtAuthenticator::new(&config)?;
//!
//! // What the application's backend does:
//! let an_hour_from_now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
//! let claims = Claims {
//!     sub: "alice".into(),
//!     exp: Some(an_hour_from_now),
//!     channels: vec!["user:alice:*".into()],
//!     ..Claims::default()
//! };
//! let key = EncodingKey::from_secret(secret.as_bytes());
//! let token = encode(&Header::new(Algorithm::HS256), &claims, &key)?;
//!
//! // What the hub does with the token from `connect`:
//! let now = Instant::now();
//! let credentials = authenticator.authenticate_at(&token, now, SystemTime::now()).unwrap();
//! assert_eq!(credentials.user_id, "alice");
//! assert!(credentials.expires_at > Some(now + Duration::from_secs(3600)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::permission::{AuthError, Authenticator, Credentials};

mod claims;
mod config;

pub use claims::Claims;
pub use config::{JwtConfig, JwtConfigError};

/// Checks connection tokens that are JSON Web Tokens; see the [module docs](self) for the
/// claims and algorithms.
#[derive(Clone)]
pub struct JwtAuthenticator {
    /// One per configured key; a token is checked by the one for its algorithm, if any.
    verifiers: Vec<Verifier>,
    leeway: Duration,
}

#[derive(Clone)]
struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl JwtAuthenticator {
    /// An authenticator for `config`; refused if no key is set or a key is unusable.
    pub fn new(config: &JwtConfig) -> Result<Self, JwtConfigError> {
        let keys = [
            (
                Algorithm::HS256,
                config.hmac_secret.as_deref().map(config::hmac_key),
            ),
            (
                Algorithm::RS256,
                config.rsa_public_key.as_deref().map(config::rsa_key),
            ),
            (
                Algorithm::ES256,
                config.ecdsa_public_key.as_deref().map(config::ecdsa_key),
            ),
        ];
        let mut verifiers = Vec::new();
        for (algorithm, key) in keys {
            if let Some(key) = key {
                verifiers.push(Verifier {
                    algorithm,
                    key: key?,
                    validation: validation(algorithm, config),
                });
            }
        }
        if verifiers.is_empty() {
            return Err(JwtConfigError::NoKey);
        }
        Ok(Self {
            verifiers,
            leeway: Duration::from_secs(config.leeway_seconds),
        })
    }

    /// The credentials `token` proves at `now`, when the wall clock reads `wall_clock`.
    ///
    /// [`Authenticator::authenticate`] is this with [`SystemTime::now`].
    pub fn authenticate_at(
        &self,
        token: &str,
        now: Instant,
        wall_clock: SystemTime,
    ) -> Result<Credentials, AuthError> {
        // The header is read before the signature is checked, only to pick the key; `decode`
        // then checks the header again against that key's one algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        // RFC 7515 4.1.11: a token whose `crit` lists an extension the recipient does not
        // understand MUST be refused, and this one understands none.
        if header.crit.is_some() {
            return Err(AuthError::Invalid);
        }
        let verifier = self
            .verifiers
            .iter()
            .find(|verifier| verifier.algorithm == header.alg)
            .ok_or(AuthError::Invalid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)
            .map_err(|_| AuthError::Invalid)?
            .claims;
        // Only now, with the signature checked: a forged token is never called "expired".
        let expires_at = claims.expiry(now, wall_clock, self.leeway)?;
        claims.into_credentials(expires_at)
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, token: &str, now: Instant) -> Result<Credentials, AuthError> {
        self.authenticate_at(token, now, SystemTime::now())
    }
}

/// Keys are not shown: an HMAC secret must not reach a log.
impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<_> = self.verifiers.iter().map(|v| v.algorithm).collect();
        f.debug_struct("JwtAuthenticator")
            .field("algorithms", &algorithms)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

/// What jsonwebtoken checks for us: the signature, in `algorithm` only, and `aud` and `iss`.
fn validation(algorithm: Algorithm, config: &JwtConfig) -> Validation {
    let mut validation = Validation::new(algorithm);
    // `exp` and `nbf` are ours to check (`Claims::expiry`): jsonwebtoken reads the system
    // clock itself, and would make `exp` required.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.required_spec_claims.insert("sub".into());
    if let Some(audience) = &config.audience {
        validation.set_audience(&[audience]);
        validation.required_spec_claims.insert("aud".into());
    }
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims.insert("iss".into());
    }
    validation
}

#[cfg(test)]
mod tests;

/// The authenticator of a hub with no JWT configured: every token is refused, so only
/// anonymous connections get in (where a namespace allows them).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTokens;

impl Authenticator for NoTokens {
    fn authenticate(&self, _token: &str, _now: Instant) -> Result<Credentials, AuthError> {
        Err(AuthError::Invalid)
    }
}
