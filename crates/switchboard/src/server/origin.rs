//! Which `Origin`s may open a WebSocket (RFC 6455 10.2, RFC 6454): [`OriginPolicy`] and its
//! patterns, pure functions of the request with table tests.

use std::fmt;
use std::str::FromStr;

use http::header::CONTENT_TYPE;
use http::StatusCode;
use switchboard_proto::handshake::UpgradeRequest;

use super::{plain_text, Rejection};
use crate::error::Error;

/// Which `Origin`s may open a WebSocket; a refused one is answered with 403 Forbidden.
///
/// Browsers send `Origin` on every WebSocket handshake and let any page connect anywhere,
/// with the user's cookies. A server that authenticates by cookie must therefore check
/// `Origin`, or any site the user visits can talk to it as the user (cross-site WebSocket
/// hijacking, RFC 6455 10.2).
///
/// The check only defends against browsers: a non-browser client sends whatever `Origin` it
/// likes, or none. That is why a request **without** `Origin` passes the
/// [`SameOrigin`](Self::SameOrigin) and [`AllowList`](Self::AllowList) policies: it comes
/// from a program, not from a page (browsers always send the header on WebSocket requests),
/// and refusing it would stop command-line tools and other servers without stopping an
/// attacker, who would just add the header. Authenticate such clients with a token; to
/// require `Origin` anyway, check [`UpgradeRequest::origin`] in the hook.
///
/// Hosts compare without regard to ASCII case. Ports compare after filling in the scheme's
/// default (80 for `http` and `ws`, 443 for `https` and `wss`), so `https://a.example` and
/// `https://a.example:443` are the same origin. The `null` origin (sandboxed frames, `file:`
/// pages, some redirects) is refused by [`SameOrigin`](Self::SameOrigin), and by
/// [`AllowList`](Self::AllowList) unless the list holds the `null` pattern.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Every request, with any `Origin` or none. The default, as for a server with no
    /// cookie-based sessions (a public feed, a token-authenticated API).
    #[default]
    Any,
    /// The `Origin`'s host and port must equal the `Host` header: only pages served by this
    /// same host may connect. The scheme is not compared, since a server behind a TLS proxy
    /// cannot tell whether the page's `https` matches its own plain connection.
    ///
    /// Requests without `Origin` pass (see above for why).
    SameOrigin,
    /// The `Origin` must match one of these patterns.
    ///
    /// Requests without `Origin` pass (see above for why). Build the list with
    /// [`OriginPolicy::allow_list`].
    AllowList(Vec<OriginPattern>),
}

impl OriginPolicy {
    /// An allow list parsed from patterns such as `https://app.example.com`,
    /// `https://*.example.com` or `http://localhost:*` (see [`OriginPattern`]).
    ///
    /// Fails with [`Error::Config`] naming the first pattern that does not parse.
    pub fn allow_list<I>(patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        patterns
            .into_iter()
            .map(|pattern| pattern.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Self::AllowList)
    }

    /// Whether a request with this `Origin` and `Host` header value may connect.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            // No Origin: not a browser, so not what this check defends against.
            return true;
        };
        match self {
            Self::Any => true,
            Self::SameOrigin => {
                let (Some(origin), Some(host)) = (SerializedOrigin::parse(origin), host) else {
                    return false;
                };
                let Some((host, port)) = split_authority(host) else {
                    return false;
                };
                // Without a port, Host means the default one of the page's scheme.
                let port = match port {
                    Some(port) => parse_port(port),
                    None => Some(default_port(&origin.scheme).unwrap_or(0)),
                };
                host.eq_ignore_ascii_case(&origin.host) && port == Some(origin.port)
            }
            Self::AllowList(patterns) => {
                if origin == "null" {
                    return patterns.contains(&OriginPattern::Null);
                }
                SerializedOrigin::parse(origin)
                    .is_some_and(|origin| patterns.iter().any(|pattern| pattern.matches(&origin)))
            }
        }
    }

    /// Checks `request`'s `Origin` against this policy; a refusal is a 403 Forbidden.
    pub fn check(&self, request: &UpgradeRequest) -> Result<(), Rejection> {
        if self.allows(request.origin(), request.host()) {
            return Ok(());
        }
        tracing::debug!(origin = ?request.origin(), host = ?request.host(), "Origin refused");
        Err(
            Rejection::new(StatusCode::FORBIDDEN, "Origin not allowed\n")
                .with_header(CONTENT_TYPE, plain_text()),
        )
    }
}

/// One entry of an [`OriginPolicy::AllowList`], parsed from text.
///
/// - `https://app.example.com`: exactly this origin (the scheme's default port).
/// - `https://app.example.com:8443`: this origin on port 8443 only.
/// - `https://*.example.com`: any subdomain of `example.com`, at any depth, but not
///   `example.com` itself (list it too if wanted), with this scheme and its default port.
/// - `http://localhost:*`: this scheme and host on any port (handy for development servers).
/// - `null`: the opaque origin browsers send from sandboxed frames and `file:` pages. Anyone
///   can produce it, so list it only on purpose.
///
/// Schemes and hosts are case-insensitive. An origin has no path, so a pattern with `/`
/// after the host (even a trailing one) is an error rather than silently never matching.
/// Internationalised domain names are written in their ASCII (`xn--`) form, as browsers send
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// The `null` origin.
    Null,
    /// A scheme, host and port pattern.
    Origin {
        /// The scheme, in lower case.
        scheme: String,
        /// The host: lower case; a leading `*.` matches any subdomain.
        host: String,
        /// The port; `None` matches any port (`:*`). Without a port in the pattern, the
        /// scheme's default port.
        port: Option<u16>,
    },
}

impl OriginPattern {
    fn matches(&self, origin: &SerializedOrigin) -> bool {
        let Self::Origin { scheme, host, port } = self else {
            return false;
        };
        if *scheme != origin.scheme || port.is_some_and(|port| port != origin.port) {
            return false;
        }
        match host.strip_prefix('*') {
            // `suffix` is `.example.com`: the origin needs at least one label before it.
            Some(suffix) => origin
                .host
                .strip_suffix(suffix)
                .is_some_and(|label| !label.is_empty()),
            None => *host == origin.host,
        }
    }
}

impl FromStr for OriginPattern {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::Config(format!("invalid origin pattern {text:?}: {why}"));
        if text == "null" {
            return Ok(Self::Null);
        }
        let (scheme, authority) = split_scheme(text).ok_or_else(|| {
            invalid("expected scheme://host[:port], such as https://app.example.com")
        })?;
        if authority.contains(['/', '?', '#']) {
            return Err(invalid("an origin has no path, query or fragment"));
        }
        let (host, port) = split_authority(authority).ok_or_else(|| invalid("bad host"))?;
        let wildcard = host.strip_prefix("*.");
        if !is_host(wildcard.unwrap_or(host)) {
            let why = "bad host (a wildcard is only allowed as a leading `*.`)";
            return Err(invalid(why));
        }
        let port = match port {
            Some("*") => None,
            Some(port) => Some(parse_port(port).ok_or_else(|| invalid("bad port"))?),
            None => Some(
                default_port(&scheme)
                    .ok_or_else(|| invalid("this scheme has no default port: give one"))?,
            ),
        };
        Ok(Self::Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Origin { scheme, host, port } => {
                write!(f, "{scheme}://{host}")?;
                match port {
                    None => f.write_str(":*"),
                    Some(port) if default_port(scheme) == Some(*port) => Ok(()),
                    Some(port) => write!(f, ":{port}"),
                }
            }
        }
    }
}

/// An `Origin` header value (RFC 6454 6.1): `scheme://host[:port]`, normalised.
#[derive(Debug, PartialEq, Eq)]
struct SerializedOrigin {
    /// Lower case.
    scheme: String,
    /// Lower case.
    host: String,
    /// The explicit port, or the scheme's default; 0 for a scheme with neither, which no
    /// port pattern holds (ports must be non-zero) but `:*` matches.
    port: u16,
}

impl SerializedOrigin {
    fn parse(value: &str) -> Option<Self> {
        let (scheme, authority) = split_scheme(value)?;
        let (host, port) = split_authority(authority)?;
        if !is_host(host) {
            return None;
        }
        let port = match port {
            Some(port) => parse_port(port)?,
            None => default_port(&scheme).unwrap_or(0),
        };
        Some(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Splits `scheme://rest`, checking the scheme (RFC 3986 3.1) and lowering its case.
fn split_scheme(text: &str) -> Option<(String, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    valid.then(|| (scheme.to_ascii_lowercase(), rest))
}

/// Splits `host[:port]`, where the host may be a bracketed IPv6 literal.
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, rest) = authority.split_at(end);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// A host as browsers serialise it: DNS labels (no empty ones but a final dot), an IPv4
/// address or a bracketed IPv6 literal; no user info, no wildcards, no spaces.
fn is_host(host: &str) -> bool {
    if let Some(literal) = host.strip_prefix('[') {
        return literal
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let labels = host.strip_suffix('.').unwrap_or(host);
    !labels.is_empty()
        && labels.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A decimal port from 1 to 65535.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&port| port != 0)
}

/// The default port of the schemes a WebSocket page or client uses.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, host: &str) -> UpgradeRequest {
        let mut builder = http::Request::builder()
            .uri("/chat")
            .header("host", host)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        UpgradeRequest::from_request(&builder.body(()).unwrap()).unwrap()
    }

    #[test]
    fn any_allows_everything() {
        for origin in [
            None,
            Some("null"),
            Some("https://evil.example"),
            Some("garbage"),
        ] {
            assert!(
                OriginPolicy::Any.allows(origin, Some("example.com")),
                "{origin:?}"
            );
        }
    }

    #[test]
    fn same_origin_table() {
        // (Origin, Host, allowed)
        let cases: &[(Option<&str>, &str, bool)] = &[
            (None, "example.com", true),
            (Some("https://example.com"), "example.com", true),
            (Some("http://example.com"), "example.com", true),
            (Some("https://EXAMPLE.com"), "example.COM", true),
            (Some("https://example.com"), "example.com:443", true),
            (Some("https://example.com:443"), "example.com", true),
            (Some("http://example.com"), "example.com:80", true),
            (Some("http://localhost:8080"), "localhost:8080", true),
            (Some("http://[::1]:8080"), "[::1]:8080", true),
            (Some("http://127.0.0.1:9"), "127.0.0.1:9", true),
            (Some("http://localhost:8080"), "localhost:8081", false),
            (Some("http://localhost:8080"), "localhost", false),
            (Some("https://example.com"), "example.com:80", false),
            (Some("https://example.com"), "example.com:8443", false),
            (Some("https://evil.example"), "example.com", false),
            (
                Some("https://example.com.evil.example"),
                "example.com",
                false,
            ),
            (Some("https://sub.example.com"), "example.com", false),
            (Some("null"), "example.com", false),
            (Some("example.com"), "example.com", false),
            (Some("https://user@example.com"), "example.com", false),
            (Some("https://example.com/"), "example.com", false),
            (Some("https://example.com:0"), "example.com:0", false),
            (Some("https://example.com:x"), "example.com:x", false),
        ];
        for &(origin, host, allowed) in cases {
            let policy = OriginPolicy::SameOrigin;
            assert_eq!(
                policy.allows(origin, Some(host)),
                allowed,
                "Origin {origin:?}, Host {host:?}"
            );
            assert_eq!(policy.check(&request(origin, host)).is_ok(), allowed);
        }
    }

    #[test]
    fn allow_list_table() {
        let policy = OriginPolicy::allow_list([
            "https://app.example.com",
            "https://*.example.org",
            "http://localhost:*",
            "https://Staging.Example.com:8443",
            "chrome-extension://abcdef:*",
        ])
        .unwrap();
        let cases: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some("https://app.example.com"), true),
            (Some("https://APP.EXAMPLE.COM"), true),
            (Some("HTTPS://app.example.com"), true),
            (Some("https://app.example.com:443"), true),
            (Some("https://app.example.com:8443"), false),
            (Some("http://app.example.com"), false),
            (Some("wss://app.example.com"), false),
            (Some("https://other.example.com"), false),
            (Some("https://app.example.com.evil.example"), false),
            (Some("https://evilapp.example.com"), false),
            // Wildcards: subdomains at any depth, not the parent, same scheme and port.
            (Some("https://a.example.org"), true),
            (Some("https://a.b.example.org"), true),
            (Some("https://example.org"), false),
            (Some("https://.example.org"), false),
            (Some("https://evilexample.org"), false),
            (Some("http://a.example.org"), false),
            (Some("https://a.example.org:8443"), false),
            // Any port.
            (Some("http://localhost"), true),
            (Some("http://localhost:3000"), true),
            (Some("https://localhost:3000"), false),
            (Some("https://staging.example.com:8443"), true),
            (Some("https://staging.example.com"), false),
            (Some("chrome-extension://abcdef"), true),
            // `null` only when listed.
            (Some("null"), false),
            (Some("garbage"), false),
            (Some(""), false),
        ];
        for &(origin, allowed) in cases {
            assert_eq!(
                policy.allows(origin, Some("ignored")),
                allowed,
                "Origin {origin:?}"
            );
            assert_eq!(policy.check(&request(origin, "h")).is_ok(), allowed);
        }
        let with_null = OriginPolicy::allow_list(["null"]).unwrap();
        assert!(with_null.allows(Some("null"), None));
        assert!(!with_null.allows(Some("NULL"), None));
        assert!(!with_null.allows(Some("https://a.example"), None));
        let empty = OriginPolicy::allow_list::<[&str; 0]>([]).unwrap();
        assert!(!empty.allows(Some("https://a.example"), None));
        assert!(empty.allows(None, None));
    }

    #[test]
    fn a_refusal_is_403_with_a_text_body() {
        let rejection = OriginPolicy::SameOrigin
            .check(&request(Some("https://evil.example"), "example.com"))
            .unwrap_err();
        assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            rejection.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(&rejection.body()[..], b"Origin not allowed\n");
    }

    #[test]
    fn patterns_parse_and_print() {
        let cases = [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM:443", "https://app.example.com"),
            ("https://*.example.com", "https://*.example.com"),
            ("http://localhost:*", "http://localhost:*"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("wss://example.com:8443", "wss://example.com:8443"),
            ("null", "null"),
        ];
        for (text, printed) in cases {
            let pattern: OriginPattern = text.parse().unwrap();
            assert_eq!(pattern.to_string(), printed);
        }
    }

    #[test]
    fn bad_patterns_are_config_errors() {
        for text in [
            "",
            "*",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/app",
            "https://example.com?x",
            "https://ex*ample.com",
            "https://*example.com",
            "https://*.*.example.com",
            "https://*",
            "https://example.com:0",
            "https://example.com:65536",
            "https://example.com:",
            "https://user@example.com",
            "https://exa mple.com",
            "https://[::1",
            "https://[zz]",
            "1https://example.com",
            "chrome-extension://abcdef",
            "NULL",
        ] {
            let err = text.parse::<OriginPattern>().unwrap_err();
            assert!(
                matches!(&err, Error::Config(why) if why.contains("invalid origin pattern")),
                "{text:?}: {err}"
            );
        }
        let err =
            OriginPolicy::allow_list(["https://ok.example", "https://bad.example/"]).unwrap_err();
        assert!(err.to_string().contains("https://bad.example/"), "{err}");
    }
}
