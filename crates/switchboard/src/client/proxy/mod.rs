//! Reaching a WebSocket server through an HTTP `CONNECT` proxy or a SOCKS5 proxy.
//!
//! A [`Proxy`] is set on the [`ClientBuilder`](crate::ClientBuilder) explicitly, or picked from
//! the environment (`wss_proxy`, `https_proxy`, `ws_proxy`, `http_proxy`, `all_proxy`,
//! `no_proxy`) by [`ProxyEnv`]. Either way the proxy only opens a byte tunnel to the server's
//! host and port; TLS for `wss://` then runs end to end inside the tunnel, so the proxy sees
//! neither the request nor the messages.
//!
//! - `http://` proxies get `CONNECT host:port HTTP/1.1` (RFC 9110 9.3.6), with
//!   `Proxy-Authorization: Basic` (RFC 7617) when the proxy has credentials.
//! - `socks5://` proxies get a SOCKS5 `CONNECT` (RFC 1928) with the address resolved here;
//!   `socks5h://` proxies get the host name and resolve it themselves (the proxy's DNS sees
//!   the name, ours does not). Credentials use username/password authentication (RFC 1929).

mod env;
mod error;
mod http_connect;
mod socks5;

use std::fmt;
use std::str::FromStr;

use http::Uri;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub use env::{NoProxy, ProxyEnv};
pub use error::{ProxyError, SocksReply};

use crate::client::tcp;
use crate::error::{Error, Result};

/// How a [`Proxy`] is spoken to.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// An HTTP proxy, asked to open a tunnel with `CONNECT` (`http://` URLs).
    Http,
    /// A SOCKS5 proxy given the server's resolved address (`socks5://` URLs).
    Socks5,
    /// A SOCKS5 proxy given the server's host name, resolved by the proxy (`socks5h://`).
    Socks5h,
}

impl ProxyScheme {
    /// The URL scheme for this kind of proxy.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    /// The port used when a proxy URL has none: 80 for HTTP proxies (the `http` scheme's
    /// port) and 1080 for SOCKS (the port IANA assigns to it).
    pub fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        }
    }
}

/// A user name and password for a proxy. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A proxy to reach WebSocket servers through.
///
/// Build one from a URL with [`Proxy::parse`] (`http://user:pass@proxy:3128`,
/// `socks5://proxy:1080`, `socks5h://proxy`; a URL without a scheme is an HTTP proxy, as in
/// curl) or with [`Proxy::new`]. `Debug` and `Display` do not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    scheme: ProxyScheme,
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

impl Proxy {
    /// A proxy at `host:port` (an IPv6 address without brackets).
    pub fn new(scheme: ProxyScheme, host: impl Into<String>, port: u16) -> Self {
        Self {
            scheme,
            host: host.into(),
            port,
            credentials: None,
        }
    }

    /// Parses a proxy URL: `scheme://[user[:password]@]host[:port][/]`, with the user name
    /// and password percent-encoded. Schemes: `http`, `socks5`, `socks5h`; none means
    /// `http`. Fails with [`Error::Config`] for anything else (`https://` proxies are not
    /// supported yet).
    pub fn parse(url: &str) -> Result<Self> {
        let invalid =
            |why: &str| Error::Config(format!("invalid proxy URL {:?}: {why}", redact(url)));
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri: Uri = full.parse().map_err(|_| invalid("not a URL"))?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => ProxyScheme::Http,
            Some("socks5") => ProxyScheme::Socks5,
            Some("socks5h") => ProxyScheme::Socks5h,
            Some("https") => return Err(invalid("HTTPS proxies are not supported")),
            _ => return Err(invalid("the scheme must be http, socks5 or socks5h")),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("a proxy URL has no path or query"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let mut proxy = Proxy::new(
            scheme,
            host,
            authority.port_u16().unwrap_or(scheme.default_port()),
        );
        if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user = percent_decode(user).ok_or_else(|| invalid("bad percent-encoding"))?;
            let password =
                percent_decode(password).ok_or_else(|| invalid("bad percent-encoding"))?;
            proxy.credentials = Some(Credentials::new(user, password));
        }
        Ok(proxy)
    }

    /// Sets the credentials to present to the proxy (builder style).
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// How the proxy is spoken to.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials presented to the proxy, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Connects to the proxy and asks it for a tunnel to `host:port`. `deadline` shares the
    /// time among the proxy's addresses; the caller bounds the whole exchange with it.
    pub(crate) async fn tunnel(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TcpStream> {
        let mut stream = tcp::connect(&self.host, self.port, Some(deadline)).await?;
        let credentials = self.credentials.as_ref();
        match self.scheme {
            ProxyScheme::Http => {
                http_connect::connect(&mut stream, host, port, credentials).await?
            }
            ProxyScheme::Socks5 => {
                let address = tcp::resolve(host, port).await?;
                let target = socks5::Target::Ip(address.ip());
                socks5::connect(&mut stream, target, port, credentials).await?;
            }
            ProxyScheme::Socks5h => {
                let target = match host.parse() {
                    Ok(ip) => socks5::Target::Ip(ip),
                    Err(_) => socks5::Target::Domain(host),
                };
                socks5::connect(&mut stream, target, port, credentials).await?;
            }
        }
        Ok(stream)
    }
}

impl FromStr for Proxy {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        Proxy::parse(url)
    }
}

impl fmt::Display for Proxy {
    /// The proxy's URL, with the password left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(credentials) = &self.credentials {
            write!(f, "{}@", credentials.username)?;
        }
        write!(f, "{}", authority(&self.host, self.port))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// `host:port`, with brackets around an IPv6 address (RFC 3986 3.2.2).
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A proxy URL with its password (if any) replaced, for error messages.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = url.get(start..).unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest.get(..authority_end).and_then(|a| a.rfind('@')) else {
        return url.to_owned();
    };
    let userinfo = rest.get(..at).unwrap_or_default();
    match userinfo.split_once(':') {
        Some((user, _)) => format!(
            "{}{user}:***{}",
            url.get(..start).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        ),
        None => url.to_owned(),
    }
}

/// Decodes `%XX` escapes (RFC 3986 2.1); `None` for a broken escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        for (url, scheme, host, port, credentials) in [
            ("http://proxy:3128", ProxyScheme::Http, "proxy", 3128, None),
            ("http://proxy:3128/", ProxyScheme::Http, "proxy", 3128, None),
            ("HTTP://proxy", ProxyScheme::Http, "proxy", 80, None),
            (
                "proxy.corp:8080",
                ProxyScheme::Http,
                "proxy.corp",
                8080,
                None,
            ),
            (
                "socks5://10.0.0.1",
                ProxyScheme::Socks5,
                "10.0.0.1",
                1080,
                None,
            ),
            (
                "socks5h://[::1]:9050",
                ProxyScheme::Socks5h,
                "::1",
                9050,
                None,
            ),
            (
                "http://user:p%40ss%3Aword@proxy:1",
                ProxyScheme::Http,
                "proxy",
                1,
                Some(("user", "p@ss:word")),
            ),
            (
                "socks5://user@p",
                ProxyScheme::Socks5,
                "p",
                1080,
                Some(("user", "")),
            ),
            (
                "http://a%20b:@p",
                ProxyScheme::Http,
                "p",
                80,
                Some(("a b", "")),
            ),
        ] {
            let proxy = Proxy::parse(url).unwrap();
            assert_eq!(proxy.scheme(), scheme, "{url}");
            assert_eq!(proxy.host(), host, "{url}");
            assert_eq!(proxy.port(), port, "{url}");
            let got = proxy.credentials().map(|c| (c.username(), c.password()));
            assert_eq!(got, credentials, "{url}");
        }
    }

    #[test]
    fn bad_proxy_urls_are_config_errors_without_the_password() {
        for url in [
            "https://proxy",
            "socks4://proxy",
            "ftp://proxy",
            "http://proxy/path",
            "http://proxy?x",
            "http://u:secret@proxy/x",
            "http://u:%zz@proxy",
            "http://",
            "",
        ] {
            match Proxy::parse(url) {
                Err(Error::Config(message)) => {
                    assert!(!message.contains("secret"), "{message}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let proxy = Proxy::parse("socks5h://alice:hunter2@[::1]:1080").unwrap();
        assert_eq!(proxy.to_string(), "socks5h://alice@[::1]:1080");
        assert!(!format!("{proxy:?}").contains("hunter2"));
        assert_eq!(redact("http://a:b@h:1/"), "http://a:***@h:1/");
        assert_eq!(redact("http://h:1/a@b"), "http://h:1/a@b");
    }
}
