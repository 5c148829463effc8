//! What a [`JwtAuthenticator`](super::JwtAuthenticator) is configured with, how its keys are
//! loaded, and why a configuration is refused.

use std::fmt;

use jsonwebtoken::{DecodingKey, DecodingKeyKind};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

/// RFC 7518 3.2: an HS256 key MUST be at least as long as the hash output, 256 bits.
const MIN_HMAC_SECRET_BYTES: usize = 32;

/// RFC 7518 3.3: an RS256 key MUST be 2048 bits or larger.
const MIN_RSA_BITS: usize = 2048;

/// How connection tokens are checked. At least one key must be set; a token is accepted
/// only in an algorithm whose key is set.
///
/// In a configuration file (shown as JSON; every field may be left out):
///
/// ```json
/// { "hmac_secret": "at least 32 bytes of shared secret..",
///   "audience": "switchboard", "issuer": "https://app.example", "leeway_seconds": 5 }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The secret shared with the application's backend, which checks HS256 tokens; its
    /// UTF-8 bytes are the key. At least 32 bytes, as RFC 7518 section 3.2 requires of an
    /// HS256 key. Default none: HS256 tokens are refused.
    pub hmac_secret: Option<String>,
    /// The PEM text of the RSA public key that checks RS256 tokens (`BEGIN PUBLIC KEY` or
    /// `BEGIN RSA PUBLIC KEY`), at least 2048 bits as RFC 7518 section 3.3 requires.
    /// Default none: RS256 tokens are refused.
    pub rsa_public_key: Option<String>,
    /// The PEM text of the EC P-256 public key that checks ES256 tokens (`BEGIN PUBLIC
    /// KEY`). Default none: ES256 tokens are refused.
    pub ecdsa_public_key: Option<String>,
    /// The `aud` a token must name. Default none: then a token that has an `aud` claim is
    /// refused, since RFC 7519 section 4.1.3 says a recipient the claim does not name MUST
    /// reject the token.
    pub audience: Option<String>,
    /// The `iss` a token must have. Default none: any issuer, or none.
    pub issuer: Option<String>,
    /// How many seconds a token is still accepted after its `exp`, and already accepted
    /// before its `nbf`, for clock skew between the backend that issues tokens and this
    /// server. Default 5: without it, a backend whose clock runs a second ahead issues
    /// tokens with an `nbf` of "now" that are refused as not yet valid; 5 s is nothing next
    /// to a token's lifetime of minutes or hours.
    pub leeway_seconds: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            hmac_secret: None,
            rsa_public_key: None,
            ecdsa_public_key: None,
            audience: None,
            issuer: None,
            leeway_seconds: 5,
        }
    }
}

/// Hides the HMAC secret: configurations end up in logs.
impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("rsa_public_key", &self.rsa_public_key)
            .field("ecdsa_public_key", &self.ecdsa_public_key)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

/// Why a [`JwtConfig`] was refused. Found when the server starts, not at the first token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// None of `hmac_secret`, `rsa_public_key` and `ecdsa_public_key` is set, so no token
    /// could ever be accepted.
    NoKey,
    /// `hmac_secret` is shorter than 32 bytes.
    HmacSecretTooShort {
        /// Its length in bytes.
        bytes: usize,
    },
    /// `rsa_public_key` is not the PEM of an RSA public key (a private key is refused too:
    /// it belongs to whoever issues tokens, not here).
    InvalidRsaPublicKey,
    /// `rsa_public_key` is shorter than 2048 bits.
    RsaKeyTooSmall {
        /// Its modulus size in bits.
        bits: usize,
    },
    /// `ecdsa_public_key` is not the PEM of an EC public key on the P-256 curve.
    InvalidEcdsaPublicKey,
}

impl fmt::Display for JwtConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKey => f.write_str(
                "jwt: no key configured: set hmac_secret, rsa_public_key or ecdsa_public_key",
            ),
            Self::HmacSecretTooShort { bytes } => write!(
                f,
                "jwt: hmac_secret has {bytes} bytes; HS256 needs at least \
                 {MIN_HMAC_SECRET_BYTES} (RFC 7518 3.2)"
            ),
            Self::InvalidRsaPublicKey => {
                f.write_str("jwt: rsa_public_key is not the PEM of an RSA public key")
            }
            Self::RsaKeyTooSmall { bits } => write!(
                f,
                "jwt: rsa_public_key has {bits} bits; RS256 needs at least {MIN_RSA_BITS} \
                 (RFC 7518 3.3)"
            ),
            Self::InvalidEcdsaPublicKey => {
                f.write_str("jwt: ecdsa_public_key is not the PEM of a P-256 public key")
            }
        }
    }
}

impl std::error::Error for JwtConfigError {}

pub(super) fn hmac_key(secret: &str) -> Result<DecodingKey, JwtConfigError> {
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(JwtConfigError::HmacSecretTooShort {
            bytes: secret.len(),
        });
    }
    Ok(DecodingKey::from_secret(secret.as_bytes()))
}

pub(super) fn rsa_key(pem: &str) -> Result<DecodingKey, JwtConfigError> {
    let invalid = JwtConfigError::InvalidRsaPublicKey;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| invalid.clone())?;
    // jsonwebtoken only unwraps the PEM and parses the key at each token; parsing the same
    // bytes now refuses a private key or a truncated one at startup.
    let DecodingKeyKind::SecretOrDer(der) = key.kind() else {
        return Err(invalid);
    };
    let bits = rsa::RsaPublicKey::from_pkcs1_der(der)
        .map_err(|_| invalid)?
        .n()
        .bits();
    if bits < MIN_RSA_BITS {
        return Err(JwtConfigError::RsaKeyTooSmall { bits });
    }
    Ok(key)
}

pub(super) fn ecdsa_key(pem: &str) -> Result<DecodingKey, JwtConfigError> {
    let invalid = || JwtConfigError::InvalidEcdsaPublicKey;
    let key = DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| invalid())?;
    // As for RSA: parsed now, so that a key on another curve (P-384 is common) is refused
    // at startup instead of failing every token.
    let DecodingKeyKind::SecretOrDer(point) = key.kind() else {
        return Err(invalid());
    };
    p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| invalid())?;
    Ok(key)
}
