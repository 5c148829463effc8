//! [`ClientBuilder`]: every setting of a client connection, checked before any I/O.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{Response, Uri};
use switchboard_proto::entropy::Entropy;
use switchboard_proto::handshake::{parse_url, ClientHandshake, ClientOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::proxy::{Proxy, ProxyEnv};
use super::{run_handshake, tcp, with_config, MaybeTlsStream};
use crate::config::WebSocketConfig;
use crate::entropy::secure_entropy;
use crate::error::{Error, Result};
use crate::websocket::WebSocket;

/// The default [`ClientBuilder::connect_timeout`]: long enough for a slow DNS answer, a proxy
/// and a TLS handshake over a poor mobile link, short enough that a client stuck on an
/// unreachable address notices within a human's patience.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to a WebSocket server with custom headers, subprotocols, TLS, proxy and timeout
/// settings.
///
/// ```no_run
/// use std::time::Duration;
/// use switchboard::ClientBuilder;
///
/// # async fn run() -> switchboard::Result<()> {
/// let (mut ws, response) = ClientBuilder::new("wss://chat.example.com/socket")
///     .header("authorization", "Bearer abc123")
///     .subprotocol("chat.v2")
///     .origin("https://chat.example.com")
///     .connect_timeout(Duration::from_secs(5))
///     .connect()
///     .await?;
/// println!("subprotocol: {:?}", ws.subprotocol());
/// # Ok(()) }
/// ```
///
/// The builder is cheap to clone and can connect any number of times (a reconnecting client
/// calls [`connect`](Self::connect) once per attempt). Settings are checked when connecting,
/// before any I/O; [`check`](Self::check) checks them without connecting.
///
/// # Proxies
///
/// By default a proxy is taken from the environment for each connection, as
/// [`ProxyEnv`] describes (`wss_proxy`/`https_proxy` for `wss://`,
/// `ws_proxy`/`http_proxy` for `ws://`, `all_proxy`, `no_proxy`; never for loopback).
/// [`proxy`](Self::proxy) sets one explicitly, [`no_proxy`](Self::no_proxy) connects directly.
///
/// # TLS
///
/// `wss://` uses rustls with the `ring` provider, TLS 1.2 and 1.3, ALPN `http/1.1`, SNI from
/// the URL's host (an IP address is matched against the certificate's IP address entries),
/// and Mozilla's trust anchors (webpki-roots) unless [`ca_file`](Self::ca_file) or
/// [`native_roots`](Self::native_roots) say otherwise.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    options: ClientOptions,
    /// The first header that could not be used, reported by `connect`.
    invalid_header: Option<String>,
    config: WebSocketConfig,
    connect_timeout: Duration,
    proxy: ProxyMode,
    #[cfg(feature = "rustls")]
    tls: super::tls::TlsOptions,
}

#[derive(Debug, Clone)]
enum ProxyMode {
    Env(ProxyEnv),
    Explicit(Proxy),
    Direct,
}

/// What a connection attempt will do, decided before any I/O.
struct Plan {
    /// The host without IPv6 brackets, for DNS, proxies and TLS.
    host: String,
    port: u16,
    proxy: Option<Proxy>,
    #[cfg(feature = "rustls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    handshake: ClientHandshake,
}

impl ClientBuilder {
    /// A builder for connections to `url` (`ws://` or `wss://`), with the defaults of
    /// [`connect`](crate::connect).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            options: ClientOptions::default(),
            invalid_header: None,
            config: WebSocketConfig::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            proxy: ProxyMode::Env(ProxyEnv::from_env()),
            #[cfg(feature = "rustls")]
            tls: super::tls::TlsOptions::default(),
        }
    }

    /// Adds a request header, such as `Authorization` or `Cookie`; a name may be added more
    /// than once. `Authorization`, `Cookie` and `Proxy-Authorization` values are marked
    /// sensitive, so the builder's `Debug` output does not show them.
    ///
    /// Headers that the handshake itself writes (`Host`, `Upgrade`, `Connection`, `Origin`,
    /// `Sec-WebSocket-*`, ...) are refused with [`Error::Handshake`] when connecting; use
    /// [`origin`](Self::origin) and [`subprotocol`](Self::subprotocol) for those. A name or
    /// value that is not valid HTTP fails the connection with [`Error::Config`].
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(mut value)) => {
                // Keeps credentials out of `Debug` output (and so out of logs).
                if [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION].contains(&name) {
                    value.set_sensitive(true);
                }
                self.options.headers.append(name, value);
            }
            (Err(_), _) => {
                self.invalid_header
                    .get_or_insert_with(|| "invalid request header name".into());
            }
            (Ok(name), Err(_)) => {
                self.invalid_header
                    .get_or_insert_with(|| format!("invalid value for request header {name}"));
            }
        }
        self
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`); call once per subprotocol, most
    /// preferred first. [`WebSocket::subprotocol`] tells which one the server chose.
    pub fn subprotocol(mut self, name: impl Into<String>) -> Self {
        self.options.subprotocols.push(name.into());
        self
    }

    /// Sends an `Origin` header, as browsers do (servers may check it against
    /// cross-site WebSocket hijacking).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.options.origin = Some(origin.into());
        self
    }

    /// Sets the connection's settings: limits, keepalive, permessage-deflate (offered unless
    /// `compression` is `None`), buffer sizes and the handshake timeout.
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = config;
        self
    }

    /// Bounds the time from the start of [`connect`](Self::connect) to a ready transport:
    /// DNS, TCP (all addresses together), the proxy's tunnel and the TLS handshake. The
    /// WebSocket handshake that follows has its own bound,
    /// [`WebSocketConfig::handshake_timeout`]. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects through `proxy`, for every host (loopback included), ignoring the proxy
    /// environment variables.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyMode::Explicit(proxy);
        self
    }

    /// Chooses the proxy with these settings instead of the process environment's.
    pub fn proxy_env(mut self, env: ProxyEnv) -> Self {
        self.proxy = ProxyMode::Env(env);
        self
    }

    /// Connects directly: no proxy, and the proxy environment variables are not read.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyMode::Direct;
        self
    }

    /// Uses this rustls configuration for `wss://`, as it is: its roots, client
    /// certificate, verifier and ALPN list (set `alpn_protocols` to `http/1.1` or leave it
    /// empty). It cannot be combined with the other TLS settings of this builder.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// Trusts the CA certificates in this PEM file. Replaces the default trust anchors
    /// (webpki-roots), as curl's `--cacert` does; may be called several times, and combined
    /// with [`native_roots`](Self::native_roots). The file is read at each connection.
    #[cfg(feature = "rustls")]
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_files.push(path.into());
        self
    }

    /// Trusts the operating system's certificate store (through `rustls-native-certs`).
    /// Replaces the default trust anchors (webpki-roots); may be combined with
    /// [`ca_file`](Self::ca_file).
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self) -> Self {
        self.tls.native_roots = true;
        self
    }

    /// Presents a client certificate: the chain in the PEM file `cert` (leaf first) and its
    /// private key in the PEM file `key` (PKCS#8, PKCS#1 or SEC1). Read at each connection.
    #[cfg(feature = "rustls")]
    pub fn client_auth(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_auth = Some((cert.into(), key.into()));
        self
    }

    /// **Dangerous:** accepts any server certificate, expired, self-signed or for another
    /// name.
    ///
    /// The connection is still encrypted, but not authenticated: anyone who can intercept it
    /// (a hostile network, a compromised router or proxy) can pose as the server and read and
    /// change everything, credentials included. Use it only against a test server you control;
    /// for a private CA, use [`ca_file`](Self::ca_file) instead. A warning is logged at each
    /// connection.
    #[cfg(feature = "rustls")]
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.tls.accept_invalid_certs = true;
        self
    }

    /// Checks the settings without connecting: the URL, headers, subprotocols and origin, the
    /// TLS files, and the proxy (from the environment, if that is where it comes from).
    /// `connect` makes the same checks first.
    pub fn check(&self) -> Result<()> {
        self.plan(&mut secure_entropy()).map(drop)
    }

    /// Connects: resolves the host, opens TCP (directly or through the proxy), runs TLS for
    /// `wss://`, then the opening handshake.
    ///
    /// Returns the connection and the server's 101 response. Errors:
    ///
    /// - [`Error::Handshake`]: an unusable URL or request header (before any I/O), or a
    ///   server that refused the upgrade
    ///   ([`UnexpectedStatus`](switchboard_proto::HandshakeError::UnexpectedStatus) holds
    ///   its status) or answered wrongly;
    /// - [`Error::Config`]: unusable TLS files or settings, a bad proxy URL in the
    ///   environment, `wss://` without the `rustls` feature;
    /// - [`Error::Io`]: DNS, TCP (the last address's error) or TLS failures (certificate
    ///   errors included), or the proxy's refusal ([`Error::proxy_error`] returns it);
    /// - [`Error::Timeout`]: the connect timeout or the handshake timeout passed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes whatever was connected so far;
    /// nothing is left behind. Calling again starts from the beginning.
    pub async fn connect(&self) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        self.connect_wrapped(|transport| transport).await
    }

    /// Connects as [`connect`](Self::connect) does, but runs the opening handshake and the
    /// connection over `wrap(transport)`: the stream after TCP, the proxy and TLS, so the
    /// wrapper sees the plaintext HTTP upgrade and WebSocket frames. For tracing and
    /// byte counting; the wrapper must pass the bytes through unchanged.
    ///
    /// ```no_run
    /// use switchboard::{ClientBuilder, MaybeTlsStream};
    ///
    /// # async fn run() -> switchboard::Result<()> {
    /// // Any AsyncRead + AsyncWrite + Unpin wrapper works; this one just boxes the stream.
    /// let (ws, _response) = ClientBuilder::new("ws://127.0.0.1:9001/")
    ///     .connect_wrapped(|transport: MaybeTlsStream| Box::new(transport))
    ///     .await?;
    /// # drop(ws); Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As for [`connect`](Self::connect).
    pub async fn connect_wrapped<S, F>(&self, wrap: F) -> Result<(WebSocket<S>, Response<()>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(MaybeTlsStream) -> S,
    {
        let mut entropy = secure_entropy();
        let plan = self.plan(&mut entropy)?;
        let deadline = Instant::now() + self.connect_timeout;
        let transport = tokio::time::timeout_at(deadline, open(&plan, deadline))
            .await
            .map_err(|_| Error::Timeout("connect"))??;
        run_handshake(wrap(transport), plan.handshake, entropy, &self.config).await
    }

    fn plan(&self, entropy: &mut dyn Entropy) -> Result<Plan> {
        if let Some(message) = &self.invalid_header {
            return Err(Error::Config(message.clone()));
        }
        let url: Uri = parse_url(&self.url)?;
        let options = with_config(self.options.clone(), &self.config);
        let handshake = ClientHandshake::new(&url, options, entropy)?;
        let secure = url
            .scheme_str()
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss"));
        // parse_url has checked that there is a host.
        let host = url
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let proxy = match &self.proxy {
            ProxyMode::Env(env) => env.proxy_for(secure, &host, port)?,
            ProxyMode::Explicit(proxy) => Some(proxy.clone()),
            ProxyMode::Direct => None,
        };
        #[cfg(feature = "rustls")]
        let tls = secure.then(|| self.tls.client_config()).transpose()?;
        #[cfg(not(feature = "rustls"))]
        if secure {
            return Err(Error::Config(
                "wss:// URLs need the `rustls` feature of switchboard".into(),
            ));
        }
        Ok(Plan {
            host,
            port,
            proxy,
            #[cfg(feature = "rustls")]
            tls,
            handshake,
        })
    }
}

/// Opens the transport the plan describes; the caller bounds it with the connect timeout.
async fn open(plan: &Plan, deadline: Instant) -> Result<MaybeTlsStream> {
    let tcp: TcpStream = match &plan.proxy {
        Some(proxy) => {
            tracing::debug!(%proxy, host = %plan.host, port = plan.port, "connecting through a proxy");
            proxy.tunnel(&plan.host, plan.port, deadline).await?
        }
        None => tcp::connect(&plan.host, plan.port, Some(deadline)).await?,
    };
    #[cfg(feature = "rustls")]
    if let Some(config) = &plan.tls {
        let stream = super::tls::handshake(std::sync::Arc::clone(config), &plan.host, tcp).await?;
        return Ok(MaybeTlsStream::Rustls(Box::new(stream)));
    }
    Ok(MaybeTlsStream::Plain(tcp))
}
