//! The JWT rules as tables: (token, what the authenticator makes of it), on a fixed wall
//! clock. The keys are test-only fixtures (tests/fixtures/jwt/README.md).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde::Serialize;
use serde_json::json;

use super::*;
use crate::permission::ChannelPattern;

const SECRET: &str = "test-only secret, thirty-two bytes or more";
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/rsa_public.pem");
const RSA_1024_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/rsa1024_public.pem");
const EC_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/ec_private.pem");
const EC_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/ec_public.pem");
const EC_P384_PUBLIC: &str = include_str!("../../tests/fixtures/jwt/ec_p384_public.pem");

/// `{"alg":"none","typ":"JWT"}`, base64url-encoded: a header no library here would write.
const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

/// The wall clock in every table, in seconds since 1970 (November 2023).
const T: u64 = 1_700_000_000;

fn wall_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T)
}

/// All three keys, default leeway (5 s), no audience or issuer.
fn every_key() -> JwtConfig {
    JwtConfig {
        hmac_secret: Some(SECRET.into()),
        rsa_public_key: Some(RSA_PUBLIC.into()),
        ecdsa_public_key: Some(EC_PUBLIC.into()),
        ..JwtConfig::default()
    }
}

fn authenticator(config: &JwtConfig) -> JwtAuthenticator {
    JwtAuthenticator::new(config).unwrap()
}

/// The test key that signs `algorithm`.
fn signing_key(algorithm: Algorithm) -> EncodingKey {
    match algorithm {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
        other => panic!("no test key for {other:?}"),
    }
}

fn sign(algorithm: Algorithm, claims: &impl Serialize) -> String {
    sign_with(Header::new(algorithm), &signing_key(algorithm), claims)
}

fn sign_with(header: Header, key: &EncodingKey, claims: &impl Serialize) -> String {
    encode(&header, claims, key).unwrap()
}

fn alice() -> Claims {
    Claims {
        sub: "alice".into(),
        ..Claims::default()
    }
}

/// What `token` gives at `T`: the user and how long until the token expires, or the refusal.
fn outcome(
    authenticator: &JwtAuthenticator,
    token: &str,
) -> Result<(String, Option<Duration>), AuthError> {
    let now = Instant::now();
    let credentials = authenticator.authenticate_at(token, now, wall_clock())?;
    let lifetime = credentials.expires_at.map(|at| at - now);
    Ok((credentials.user_id, lifetime))
}

/// Alice, expiring `seconds` after `T` (never if `None`).
fn alice_for(seconds: Option<u64>) -> Result<(String, Option<Duration>), AuthError> {
    Ok(("alice".into(), seconds.map(Duration::from_secs)))
}

/// The parts of a token, header.payload.signature.
fn parts(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    parts.try_into().unwrap()
}

#[test]
fn tokens() {
    use AuthError::{Expired, Invalid};
    let hs256 = |claims: Claims| sign(Algorithm::HS256, &claims);
    let hs256_json = |claims: serde_json::Value| sign(Algorithm::HS256, &claims);
    let exp = |exp| {
        hs256(Claims {
            exp: Some(exp),
            ..alice()
        })
    };
    let nbf = |nbf| {
        hs256(Claims {
            nbf: Some(nbf),
            ..alice()
        })
    };
    let grants = |channels: &str, publish: &str| {
        let list = |p: &str| p.split_whitespace().map(str::to_owned).collect();
        hs256(Claims {
            channels: list(channels),
            publish: list(publish),
            ..alice()
        })
    };
    let signed_with = |header: Header, secret: &str| {
        sign_with(
            header,
            &EncodingKey::from_secret(secret.as_bytes()),
            &alice(),
        )
    };
    let rs256 = sign(Algorithm::RS256, &alice());
    let [rs256_header, _, rs256_signature] = parts(&rs256);
    let mallory = hs256(Claims {
        sub: "mallory".into(),
        ..alice()
    });
    let [_, mallory_payload, mallory_signature] = parts(&mallory);
    let crit = Header {
        crit: Some(vec!["exp".into()]),
        ..Header::new(Algorithm::HS256)
    };
    let other_secret = "another test-only secret, 32+ bytes long";
    // (case, token, outcome); the leeway is 5 s
    let table = [
        ("HS256", hs256(alice()), alice_for(None)),
        ("RS256", rs256.clone(), alice_for(None)),
        ("ES256", sign(Algorithm::ES256, &alice()), alice_for(None)),
        // exp
        ("exp in a minute", exp(T + 60), alice_for(Some(65))),
        ("expired", exp(T - 10), Err(Expired)),
        ("expired within the leeway", exp(T - 4), alice_for(Some(1))),
        ("expired as the leeway ends", exp(T - 5), Err(Expired)),
        ("exp past any Instant", exp(u64::MAX), alice_for(None)),
        (
            "exp not a number",
            hs256_json(json!({"sub": "alice", "exp": "soon"})),
            Err(Invalid),
        ),
        (
            "exp not an integer",
            hs256_json(json!({"sub": "alice", "exp": 1.7e9})),
            Err(Invalid),
        ),
        // nbf
        ("nbf passed", nbf(T - 10), alice_for(None)),
        ("nbf within the leeway", nbf(T + 5), alice_for(None)),
        ("not yet valid", nbf(T + 6), Err(Invalid)),
        ("valid from never", nbf(u64::MAX), Err(Invalid)),
        // sub
        ("no sub", hs256_json(json!({"exp": T + 60})), Err(Invalid)),
        ("empty sub", hs256(Claims::default()), Err(Invalid)),
        (
            "sub not a string",
            hs256_json(json!({"sub": 42})),
            Err(Invalid),
        ),
        // grants
        (
            "good patterns",
            grants("chat:lobby user:42:* *", "chat:*"),
            alice_for(None),
        ),
        (
            "bad channel pattern",
            grants("chat:lobby a*b", ""),
            Err(Invalid),
        ),
        ("bad publish pattern", grants("", "chat:"), Err(Invalid)),
        // an aud while no audience is configured: RFC 7519 4.1.3
        (
            "aud not for us",
            hs256(Claims {
                aud: vec!["hub".into()],
                ..alice()
            }),
            Err(Invalid),
        ),
        // signatures and headers
        (
            "wrong secret",
            signed_with(Header::new(Algorithm::HS256), other_secret),
            Err(Invalid),
        ),
        (
            "HS384: not accepted",
            signed_with(Header::new(Algorithm::HS384), SECRET),
            Err(Invalid),
        ),
        ("crit header", signed_with(crit, SECRET), Err(Invalid)),
        (
            "alg none",
            format!("{NONE_HEADER}.{mallory_payload}."),
            Err(Invalid),
        ),
        (
            "alg none, with a signature",
            format!("{NONE_HEADER}.{mallory_payload}.{mallory_signature}"),
            Err(Invalid),
        ),
        (
            "payload swapped under a signature",
            format!("{rs256_header}.{mallory_payload}.{rs256_signature}"),
            Err(Invalid),
        ),
        (
            "signature cut short",
            rs256[..rs256.len() - 4].to_owned(),
            Err(Invalid),
        ),
    ];
    let authenticator = authenticator(&every_key());
    for (case, token, expected) in table {
        assert_eq!(outcome(&authenticator, &token), expected, "{case}");
    }
}

#[test]
fn garbage_is_refused_without_panic() {
    let long = "a".repeat(100_000);
    let table = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "not a token",
        "e30.e30.",    // {} as header: no alg
        "e30.e30.e30", // the same, with a "signature"
        "%%%.%%%.%%%",
        "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.!!!.!!!",
        "\u{0}\u{7f}.\u{fffd}.\u{1F600}",
        &long,
    ];
    let authenticator = authenticator(&every_key());
    for token in table {
        let got = authenticator.authenticate_at(token, Instant::now(), wall_clock());
        assert_eq!(got, Err(AuthError::Invalid), "{token:?}");
    }
}

#[test]
fn only_algorithms_with_a_key_are_accepted() {
    let hmac = JwtConfig {
        hmac_secret: Some(SECRET.into()),
        ..JwtConfig::default()
    };
    let rsa = JwtConfig {
        rsa_public_key: Some(RSA_PUBLIC.into()),
        ..JwtConfig::default()
    };
    let ecdsa = JwtConfig {
        ecdsa_public_key: Some(EC_PUBLIC.into()),
        ..JwtConfig::default()
    };
    // (config, accepted: HS256, RS256, ES256)
    let table = [
        (&hmac, [true, false, false]),
        (&rsa, [false, true, false]),
        (&ecdsa, [false, false, true]),
    ];
    let algorithms = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];
    for (config, accepted) in table {
        let authenticator = authenticator(config);
        for (algorithm, accepted) in algorithms.into_iter().zip(accepted) {
            let got = outcome(&authenticator, &sign(algorithm, &alice()));
            let expected = if accepted {
                alice_for(None)
            } else {
                Err(AuthError::Invalid)
            };
            assert_eq!(got, expected, "{algorithm:?} with {config:?}");
        }
    }
}

/// The attack: the server's RSA key is public, so an attacker signs an HS256 token with
/// its PEM text as the HMAC secret, hoping the server checks HS256 with "its key".
#[test]
fn algorithm_confusion_is_refused() {
    let forged = sign_with(
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        &alice(),
    );
    let rsa_only = JwtConfig {
        rsa_public_key: Some(RSA_PUBLIC.into()),
        ..JwtConfig::default()
    };
    for config in [rsa_only, every_key()] {
        let got = outcome(&authenticator(&config), &forged);
        assert_eq!(got, Err(AuthError::Invalid), "{config:?}");
    }
}

#[test]
fn claims_become_credentials() {
    let claims = Claims {
        sub: "alice".into(),
        exp: Some(T + 3600),
        info: Some(json!({"name": "Alice", "color": "teal"})),
        channels: vec!["chat:lobby".into(), "user:alice:*".into()],
        publish: vec!["chat:*".into()],
        ..Claims::default()
    };
    let no_leeway = JwtConfig {
        leeway_seconds: 0,
        ..every_key()
    };
    let now = Instant::now();
    let token = sign(Algorithm::ES256, &claims);
    let got = authenticator(&no_leeway).authenticate_at(&token, now, wall_clock());
    let pattern = |p| ChannelPattern::new(p).unwrap();
    let expected = Credentials {
        user_id: "alice".into(),
        info: Some(json!({"name": "Alice", "color": "teal"})),
        channels: vec![pattern("chat:lobby"), pattern("user:alice:*")],
        publish: vec![pattern("chat:*")],
        expires_at: Some(now + Duration::from_secs(3600)),
    };
    assert_eq!(got, Ok(expected));
}

#[test]
fn audience_and_issuer() {
    let config = JwtConfig {
        audience: Some("hub".into()),
        issuer: Some("https://app.example".into()),
        ..every_key()
    };
    let token = |aud: &[&str], iss: Option<&str>| {
        let claims = Claims {
            aud: aud.iter().map(|a| a.to_string()).collect(),
            iss: iss.map(str::to_owned),
            ..alice()
        };
        sign(Algorithm::RS256, &claims)
    };
    let app = Some("https://app.example");
    let refused = Err(AuthError::Invalid);
    // (case, token, outcome)
    let table = [
        ("aud and iss", token(&["hub"], app), alice_for(None)),
        (
            "aud among others",
            token(&["other", "hub"], app),
            alice_for(None),
        ),
        ("another aud", token(&["other"], app), refused.clone()),
        ("no aud", token(&[], app), refused.clone()),
        (
            "another iss",
            token(&["hub"], Some("https://evil.example")),
            refused.clone(),
        ),
        ("no iss", token(&["hub"], None), refused),
    ];
    let authenticator = authenticator(&config);
    for (case, token, expected) in table {
        assert_eq!(outcome(&authenticator, &token), expected, "{case}");
    }
}

#[test]
fn configurations() {
    use JwtConfigError as E;
    let with = |hmac: Option<&str>, rsa: Option<&str>, ecdsa: Option<&str>| JwtConfig {
        hmac_secret: hmac.map(str::to_owned),
        rsa_public_key: rsa.map(str::to_owned),
        ecdsa_public_key: ecdsa.map(str::to_owned),
        ..JwtConfig::default()
    };
    // (case, config, outcome)
    let table = [
        ("no key", JwtConfig::default(), Err(E::NoKey)),
        (
            "only an audience",
            JwtConfig {
                audience: Some("hub".into()),
                ..JwtConfig::default()
            },
            Err(E::NoKey),
        ),
        ("secret", with(Some(SECRET), None, None), Ok(())),
        (
            "secret of 31 bytes",
            with(Some(&SECRET[..31]), None, None),
            Err(E::HmacSecretTooShort { bytes: 31 }),
        ),
        (
            "empty secret",
            with(Some(""), None, None),
            Err(E::HmacSecretTooShort { bytes: 0 }),
        ),
        ("RSA key", with(None, Some(RSA_PUBLIC), None), Ok(())),
        (
            "RSA: not a PEM",
            with(None, Some("not a key"), None),
            Err(E::InvalidRsaPublicKey),
        ),
        (
            "RSA: the private key",
            with(None, Some(RSA_PRIVATE), None),
            Err(E::InvalidRsaPublicKey),
        ),
        (
            "RSA: an EC key",
            with(None, Some(EC_PUBLIC), None),
            Err(E::InvalidRsaPublicKey),
        ),
        (
            "RSA: 1024 bits",
            with(None, Some(RSA_1024_PUBLIC), None),
            Err(E::RsaKeyTooSmall { bits: 1024 }),
        ),
        ("EC key", with(None, None, Some(EC_PUBLIC)), Ok(())),
        (
            "EC: not a PEM",
            with(None, None, Some("")),
            Err(E::InvalidEcdsaPublicKey),
        ),
        (
            "EC: the private key",
            with(None, None, Some(EC_PRIVATE)),
            Err(E::InvalidEcdsaPublicKey),
        ),
        (
            "EC: P-384",
            with(None, None, Some(EC_P384_PUBLIC)),
            Err(E::InvalidEcdsaPublicKey),
        ),
        (
            "EC: an RSA key",
            with(None, None, Some(RSA_PUBLIC)),
            Err(E::InvalidEcdsaPublicKey),
        ),
        (
            "one bad key of three",
            with(Some(SECRET), Some(RSA_PUBLIC), Some(EC_P384_PUBLIC)),
            Err(E::InvalidEcdsaPublicKey),
        ),
    ];
    for (case, config, expected) in table {
        let got = JwtAuthenticator::new(&config).map(|_| ());
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn config_from_json() {
    let config: JwtConfig = serde_json::from_str(r#"{"hmac_secret": "s", "issuer": "i"}"#).unwrap();
    let expected = JwtConfig {
        hmac_secret: Some("s".into()),
        issuer: Some("i".into()),
        ..JwtConfig::default()
    };
    assert_eq!(config, expected);
    assert_eq!(config.leeway_seconds, 5);
    let back: JwtConfig = serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
    assert_eq!(back, config);
    let typo = serde_json::from_str::<JwtConfig>(r#"{"hmac_secrets": "s"}"#).unwrap_err();
    assert!(typo.to_string().contains("unknown field"), "{typo}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = every_key();
    for shown in [
        format!("{config:?}"),
        format!("{:?}", authenticator(&config)),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    assert!(format!("{:?}", authenticator(&config)).contains("RS256"));
}

#[test]
fn aud_is_a_string_or_an_array() {
    // (aud, its JSON)
    let table = [
        (vec![], json!({"sub": "alice"})),
        (vec!["hub"], json!({"sub": "alice", "aud": "hub"})),
        (
            vec!["hub", "api"],
            json!({"sub": "alice", "aud": ["hub", "api"]}),
        ),
    ];
    for (aud, json) in table {
        let claims = Claims {
            aud: aud.iter().map(|a| a.to_string()).collect(),
            ..alice()
        };
        assert_eq!(serde_json::to_value(&claims).unwrap(), json);
        assert_eq!(serde_json::from_value::<Claims>(json).unwrap(), claims);
    }
}

/// The trait implementation reads the real wall clock.
#[test]
fn authenticate_reads_the_wall_clock() {
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let authenticator = authenticator(&every_key());
    let now = Instant::now();
    let fresh = sign(
        Algorithm::HS256,
        &Claims {
            exp: Some(unix_now + 600),
            ..alice()
        },
    );
    let expires_at = authenticator
        .authenticate(&fresh, now)
        .unwrap()
        .expires_at
        .unwrap();
    let lifetime = expires_at - now;
    assert!(
        lifetime > Duration::from_secs(590) && lifetime <= Duration::from_secs(606),
        "{lifetime:?}"
    );
    let old = sign(
        Algorithm::HS256,
        &Claims {
            exp: Some(T),
            ..alice()
        },
    );
    assert_eq!(
        authenticator.authenticate(&old, now),
        Err(AuthError::Expired)
    );
}
