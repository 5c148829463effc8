//! Choosing a proxy from environment variables, as curl does, with the lookup injectable so
//! that the rules are testable without touching the process environment.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::Proxy;
use crate::error::Result;

/// Where variables come from: the process environment, or a function given by the caller.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Proxy settings taken from environment variables.
///
/// # Which variable
///
/// The first variable that is set and not empty wins, in this order (lower case first, as
/// curl reads them):
///
/// | URL | variables |
/// |---|---|
/// | `wss://` | `wss_proxy`, `WSS_PROXY`, `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
/// | `ws://` | `ws_proxy`, `WS_PROXY`, `http_proxy`, `HTTP_PROXY`, `all_proxy`, `ALL_PROXY` |
///
/// `HTTP_PROXY` is skipped when `REQUEST_METHOD` is set: a CGI program gets the request's
/// `Proxy:` header as `HTTP_PROXY`, so a client could be made to send its traffic to an
/// attacker's proxy ("httpoxy"). The value is a proxy URL as [`Proxy::parse`] reads it; an
/// unparsable value is an error rather than a silent direct connection.
///
/// # Exceptions
///
/// No proxy is used for a host that `no_proxy` (or `NO_PROXY`) matches (see [`NoProxy`]),
/// nor for a loopback destination: `localhost`, `*.localhost`, `127.0.0.0/8` and `::1`. A
/// proxy's own loopback is a different machine's, so going through it to reach ours is never
/// what was meant, and it would break every local test and development server on a machine
/// with a corporate proxy configured (curl does proxy loopback unless `no_proxy` lists it;
/// this is the one deliberate difference). A proxy set explicitly with
/// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) is used for every host, loopback
/// included.
#[derive(Clone)]
pub struct ProxyEnv {
    lookup: Lookup,
}

impl ProxyEnv {
    /// Reads the process environment, at each [`proxy_for`](Self::proxy_for) call.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, which returns a variable's value by name: for tests,
    /// or for settings that come from a configuration file rather than the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }

    /// The proxy to use for a connection to `host:port` over `wss://` (`secure`) or `ws://`,
    /// or `None` to connect directly. `host` is a name or an IP address (IPv6 with or
    /// without brackets).
    ///
    /// Fails with [`Error::Config`](crate::Error::Config) if the chosen variable does not
    /// hold a usable proxy URL.
    pub fn proxy_for(&self, secure: bool, host: &str, port: u16) -> Result<Option<Proxy>> {
        let Some((name, value)) = self.proxy_variable(secure) else {
            return Ok(None);
        };
        if is_loopback(host) || self.no_proxy().matches(host, port) {
            return Ok(None);
        }
        Proxy::parse(&value)
            .map(Some)
            .map_err(|e| crate::Error::Config(format!("{name}: {e}")))
    }

    /// The `no_proxy` list in effect.
    pub fn no_proxy(&self) -> NoProxy {
        NoProxy::parse(&self.first(&["no_proxy", "NO_PROXY"]).unwrap_or_default().1)
    }

    /// The first proxy variable set for this kind of URL, with its name.
    fn proxy_variable(&self, secure: bool) -> Option<(&'static str, String)> {
        let cgi = self.get("REQUEST_METHOD").is_some();
        let names: &[&'static str] = match (secure, cgi) {
            (true, _) => &["wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY"],
            (false, false) => &["ws_proxy", "WS_PROXY", "http_proxy", "HTTP_PROXY"],
            (false, true) => &["ws_proxy", "WS_PROXY", "http_proxy"],
        };
        self.first(names)
            .or_else(|| self.first(&["all_proxy", "ALL_PROXY"]))
    }

    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|&name| self.get(name).map(|value| (name, value)))
    }

    /// A variable's value; empty counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }
}

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyEnv").finish_non_exhaustive()
    }
}

/// Whether `host` is this machine's loopback: `localhost` and its subdomains (RFC 6761 6.3),
/// `127.0.0.0/8` and `::1` (also as an IPv4-mapped address).
fn is_loopback(host: &str) -> bool {
    let host = normalize(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Lower case, without IPv6 brackets or a trailing root dot.
fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// A `no_proxy` list: hosts to reach directly even when a proxy is configured.
///
/// Entries are separated by commas or white space and compared without regard to case:
///
/// - `*` alone matches every host.
/// - A name such as `example.com` or `.example.com` (or `*.example.com`) matches that host
///   and all its subdomains (`api.example.com`), but not `badexample.com`.
/// - An IP address (`10.1.2.3`, `::1` or `[::1]`) matches that address only, and a CIDR
///   block (`10.0.0.0/8`, `fd00::/8`) the addresses in it. Names are not resolved to match
///   addresses: `ws://localhost` is not matched by `127.0.0.1`.
/// - A port after a name or address (`example.com:8080`, `[::1]:9001`) limits the entry to
///   that port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Everything,
    /// A lower-case domain without leading or trailing dots.
    Domain(String),
    Network(IpAddr, u8),
}

impl NoProxy {
    /// Parses a `no_proxy` value. Entries that mean nothing (an empty name, a bad CIDR
    /// prefix) are skipped, as curl skips them.
    pub fn parse(list: &str) -> Self {
        let entries = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter_map(parse_entry)
            .collect();
        Self { entries }
    }

    /// Whether a connection to `host:port` should bypass the proxy.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = normalize(host);
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| {
            if entry.port.is_some_and(|p| p != port) {
                return false;
            }
            match (&entry.pattern, ip) {
                (Pattern::Everything, _) => true,
                (Pattern::Network(net, prefix), Some(ip)) => in_network(ip, *net, *prefix),
                (Pattern::Domain(domain), None) => {
                    host == *domain
                        || host
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                _ => false,
            }
        })
    }
}

fn parse_entry(text: &str) -> Option<Entry> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text == "*" {
        return Some(Entry {
            pattern: Pattern::Everything,
            port: None,
        });
    }
    let (host, port) = split_port(text)?;
    if let Some((address, prefix)) = host.split_once('/') {
        let ip: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        return (prefix <= max).then_some(Entry {
            pattern: Pattern::Network(ip, prefix),
            port,
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        return Some(Entry {
            pattern: Pattern::Network(ip, prefix),
            port,
        });
    }
    let domain = normalize(host);
    let domain = domain.trim_start_matches("*.").trim_start_matches('.');
    (!domain.is_empty()).then(|| Entry {
        pattern: Pattern::Domain(domain.to_owned()),
        port,
    })
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or block (no port: its
/// colons are taken) or a bare host; `None` for a bad port.
fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match text.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Some((text, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

/// Whether `ip` is in `net/prefix`; IPv4-mapped IPv6 addresses count as IPv4.
fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::client::proxy::ProxyScheme;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_lookup(move |name| vars.get(name).cloned())
    }

    /// The chosen proxy's host for `url`'s scheme, host and port, or "direct".
    fn chosen(env: &ProxyEnv, secure: bool, host: &str, port: u16) -> String {
        match env.proxy_for(secure, host, port).unwrap() {
            Some(proxy) => proxy.host().to_owned(),
            None => "direct".to_owned(),
        }
    }

    #[test]
    fn variable_precedence() {
        let all = [
            ("wss_proxy", "wss"),
            ("WSS_PROXY", "WSS"),
            ("https_proxy", "https"),
            ("HTTPS_PROXY", "HTTPS"),
            ("ws_proxy", "ws"),
            ("WS_PROXY", "WS"),
            ("http_proxy", "http"),
            ("HTTP_PROXY", "HTTP"),
            ("all_proxy", "all"),
            ("ALL_PROXY", "ALL"),
        ];
        let without = |names: &[&str]| -> ProxyEnv {
            let vars: Vec<_> = all
                .iter()
                .filter(|(name, _)| !names.contains(name))
                .copied()
                .collect();
            env(&vars)
        };
        // For each scheme, remove the winner and the next one in line takes over.
        let secure = ["wss", "WSS", "https", "HTTPS", "all", "ALL"];
        let plain = ["ws", "WS", "http", "HTTP", "all", "ALL"];
        for (order, is_secure) in [(secure, true), (plain, false)] {
            let mut removed: Vec<&str> = Vec::new();
            for expect in order {
                let got = chosen(&without(&removed), is_secure, "h", 1);
                assert_eq!(got, expect, "without {removed:?}");
                let name = all.iter().find(|(_, value)| *value == expect).unwrap().0;
                removed.push(name);
            }
        }
        // A wss:// URL never uses http_proxy, nor a ws:// URL https_proxy.
        assert_eq!(
            chosen(&env(&[("http_proxy", "p")]), true, "h", 443),
            "direct"
        );
        assert_eq!(
            chosen(&env(&[("https_proxy", "p")]), false, "h", 80),
            "direct"
        );
        assert_eq!(chosen(&env(&[]), false, "h", 80), "direct");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let vars = env(&[
            ("wss_proxy", ""),
            ("https_proxy", "  "),
            ("HTTPS_PROXY", "p"),
        ]);
        assert_eq!(chosen(&vars, true, "h", 443), "p");
        let vars = env(&[("https_proxy", "p"), ("no_proxy", "")]);
        assert_eq!(chosen(&vars, true, "h", 443), "p");
    }

    #[test]
    fn upper_case_http_proxy_is_ignored_under_cgi() {
        let vars = env(&[("HTTP_PROXY", "evil"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(chosen(&vars, false, "h", 80), "direct");
        let vars = env(&[("http_proxy", "ok"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(chosen(&vars, false, "h", 80), "ok");
    }

    #[test]
    fn proxy_urls_from_variables() {
        let vars = env(&[("https_proxy", "socks5h://u:p@sock:9050")]);
        let proxy = vars.proxy_for(true, "h", 443).unwrap().unwrap();
        assert_eq!(proxy.scheme(), ProxyScheme::Socks5h);
        assert_eq!(proxy.port(), 9050);
        assert_eq!(proxy.credentials().unwrap().password(), "p");
        let vars = env(&[("https_proxy", "ftp://u:secret@p")]);
        let error = vars.proxy_for(true, "h", 443).unwrap_err().to_string();
        assert!(error.starts_with("https_proxy: "), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn loopback_is_never_proxied_from_the_environment() {
        let vars = env(&[("all_proxy", "p")]);
        for host in [
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(chosen(&vars, false, host, 80), "direct", "{host}");
        }
        for host in ["localhost.example.com", "mylocalhost", "128.0.0.1", "::2"] {
            assert_eq!(chosen(&vars, false, host, 80), "p", "{host}");
        }
    }

    #[test]
    fn no_proxy_matching() {
        let list = "example.com, .corp.net *.wild.org,10.0.0.0/8 ,192.168.1.7,\
                    [fd00::1]:9001 fe80::/10 internal:8080 ,, bad/99 [::2] 1.2.3.4/33 h:x";
        let no_proxy = NoProxy::parse(list);
        for (host, port, bypass) in [
            ("example.com", 443, true),
            ("EXAMPLE.COM.", 443, true),
            ("api.example.com", 80, true),
            ("a.b.example.com", 80, true),
            ("badexample.com", 80, false),
            ("example.com.evil", 80, false),
            ("corp.net", 80, true),
            ("x.corp.net", 80, true),
            ("wild.org", 80, true),
            ("x.wild.org", 80, true),
            ("10.1.2.3", 80, true),
            ("11.1.2.3", 80, false),
            ("::ffff:10.0.0.1", 80, true),
            ("192.168.1.7", 80, true),
            ("192.168.1.8", 80, false),
            ("[fd00::1]", 9001, true),
            ("fd00::1", 9002, false),
            ("fe80::1234", 1, true),
            ("[::2]", 1, true),
            ("internal", 8080, true),
            ("internal", 8081, false),
            ("x.internal", 8080, true),
            ("other.net", 80, false),
        ] {
            assert_eq!(no_proxy.matches(host, port), bypass, "{host}:{port}");
        }
        assert!(NoProxy::parse("*").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
        // Only an entry that is exactly `*` matches everything.
        assert!(!NoProxy::parse("*foo").matches("anything", 1));
    }

    #[test]
    fn no_proxy_applies_to_the_environment_proxy() {
        let vars = env(&[("https_proxy", "p"), ("NO_PROXY", "example.com")]);
        assert_eq!(chosen(&vars, true, "api.example.com", 443), "direct");
        assert_eq!(chosen(&vars, true, "example.org", 443), "p");
        let vars = env(&[
            ("https_proxy", "p"),
            ("no_proxy", "example.org"),
            ("NO_PROXY", "example.com"),
        ]);
        assert_eq!(chosen(&vars, true, "example.com", 443), "p");
        let vars = env(&[("https_proxy", "p"), ("no_proxy", "*")]);
        assert_eq!(chosen(&vars, true, "example.com", 443), "direct");
    }
}
