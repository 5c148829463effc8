//! [`Acceptor`]: a server's handshake settings, applied to every connection.

use std::sync::Arc;

use switchboard_proto::handshake::{Accept, UpgradeRequest};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{accept_with, OriginPolicy, Rejection};
use crate::config::WebSocketConfig;
use crate::error::Result;
use crate::websocket::WebSocket;

/// What a server accepts: the connection settings, an [`OriginPolicy`], and the subprotocols
/// it speaks. Build it once, share it (cloning is cheap), and accept every connection with it.
///
/// Each handshake runs the same steps, in order:
///
/// 1. The request is read and validated; a malformed one is answered with its status (400,
///    405, 426 with `Sec-WebSocket-Version: 13`, 431, ...).
/// 2. The [`OriginPolicy`] runs; a refused `Origin` is answered with 403.
/// 3. A subprotocol is chosen: the first one in the **client's** list that the server speaks.
///    RFC 6455 1.9 has the client list them in its order of preference, so that order wins;
///    a server that wants its own order picks in the hook. When the client offers
///    subprotocols and none is supported, the handshake still succeeds without one, and the
///    client decides whether to go on (RFC 6455 4.1: it fails the connection if it needs
///    one); reject in the hook to refuse instead.
/// 4. The hook of [`accept_with`](Self::accept_with), if any, sees the request and the
///    prepared [`Accept`] and returns it (changed or not) or a [`Rejection`].
///
/// ```no_run
/// use switchboard::server::{Acceptor, OriginPolicy};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let acceptor = Acceptor::new()
///     .origin_policy(OriginPolicy::allow_list(["https://app.example.com"])?)
///     .protocols(["chat.v2", "chat.v1"]);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     tokio::spawn(async move {
///         if let Ok(mut ws) = acceptor.accept(stream).await {
///             while let Some(Ok(message)) = ws.recv().await {
///                 if message.is_data() && ws.send(message).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     });
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Acceptor {
    settings: Arc<Settings>,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    config: WebSocketConfig,
    origin: OriginPolicy,
    protocols: Vec<String>,
}

impl Acceptor {
    /// Default connection settings, any Origin, no subprotocols.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the connection settings (limits, keepalive, compression, handshake timeout).
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        Arc::make_mut(&mut self.settings).config = config;
        self
    }

    /// Sets which `Origin`s may connect.
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        Arc::make_mut(&mut self.settings).origin = policy;
        self
    }

    /// Sets the subprotocols this server speaks, replacing any set before. Names compare
    /// exactly (case-sensitively), as RFC 6455 4.1 has clients compare the answer.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Arc::make_mut(&mut self.settings).protocols =
            protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The connection settings.
    pub fn websocket_config(&self) -> &WebSocketConfig {
        &self.settings.config
    }

    /// The Origin policy.
    pub fn policy(&self) -> &OriginPolicy {
        &self.settings.origin
    }

    /// The subprotocols this server speaks.
    pub fn supported_protocols(&self) -> &[String] {
        &self.settings.protocols
    }

    /// The subprotocol this server would choose for `request`: the first one the client
    /// offers that the server speaks.
    pub fn select_protocol<'r>(&self, request: &'r UpgradeRequest) -> Option<&'r str> {
        request
            .subprotocols()
            .iter()
            .find(|offered| self.settings.protocols.contains(offered))
            .map(String::as_str)
    }

    /// Steps 2 and 3 without I/O: checks the Origin and prepares the [`Accept`] with the
    /// chosen subprotocol, or returns the 403 [`Rejection`]. The HTTP-server integrations
    /// and [`accept_with`](Self::accept_with) call this before their hook.
    pub fn decide(&self, request: &UpgradeRequest) -> Result<Accept, Rejection> {
        self.settings.origin.check(request)?;
        Ok(match self.select_protocol(request) {
            Some(protocol) => Accept::with_subprotocol(protocol),
            None => Accept::default(),
        })
    }

    /// Accepts a WebSocket on `io` (a `TcpStream`, a TLS stream, ...) with these settings.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
    /// state; close it.
    pub async fn accept<S>(&self, io: S) -> Result<WebSocket<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.accept_with(io, |_, accept| Ok(accept)).await
    }

    /// Accepts a WebSocket on `io` with these settings, letting `decide` see each request that
    /// passed the Origin policy (path, query, headers, cookies, Origin, offered subprotocols)
    /// together with the prepared [`Accept`], and return it (perhaps with another subprotocol
    /// or extra response headers such as `Set-Cookie`) or a [`Rejection`] (401 with
    /// `WWW-Authenticate`, 404, ...).
    ///
    /// Fails with [`Error::Handshake`](crate::Error::Handshake) when the request is malformed,
    /// refused by the policy or rejected by the hook (the HTTP answer is written first), and
    /// with [`Error::Timeout`](crate::Error::Timeout) after the configured handshake timeout.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
    /// state; close it.
    pub async fn accept_with<S, F>(&self, io: S, decide: F) -> Result<WebSocket<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(&UpgradeRequest, Accept) -> Result<Accept, Rejection>,
    {
        accept_with(io, &self.settings.config, |request| {
            decide(request, self.decide(request)?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &str) -> UpgradeRequest {
        let request = http::Request::builder()
            .uri("/")
            .header("host", "h")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", protocols)
            .header("origin", "https://evil.example")
            .body(())
            .unwrap();
        UpgradeRequest::from_request(&request).unwrap()
    }

    #[test]
    fn the_clients_order_of_preference_wins() {
        let acceptor = Acceptor::new().protocols(["v1", "v2", "v3"]);
        assert_eq!(acceptor.select_protocol(&request("v3, v1")), Some("v3"));
        assert_eq!(acceptor.select_protocol(&request("x, v2, v1")), Some("v2"));
        assert_eq!(acceptor.select_protocol(&request("x, V1")), None);
        let accept = acceptor.decide(&request("v2")).unwrap();
        assert_eq!(accept.subprotocol.as_deref(), Some("v2"));
        let accept = acceptor.decide(&request("y")).unwrap();
        assert_eq!(accept.subprotocol, None);
    }

    #[test]
    fn the_origin_policy_runs_first() {
        let acceptor = Acceptor::new()
            .protocols(["v1"])
            .origin_policy(OriginPolicy::SameOrigin);
        let rejection = acceptor.decide(&request("v1")).unwrap_err();
        assert_eq!(rejection.status(), http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn clones_share_settings_until_changed() {
        let a = Acceptor::new().protocols(["v1"]);
        let b = a.clone().protocols(["v2"]);
        assert_eq!(a.supported_protocols(), ["v1"]);
        assert_eq!(b.supported_protocols(), ["v2"]);
        assert_eq!(*a.policy(), OriginPolicy::Any);
        assert!(a.websocket_config().compression.is_some());
    }
}
