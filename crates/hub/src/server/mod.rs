//! The HTTP side of `switchboard serve`: one port for the chat page, the WebSocket
//! endpoints, the HTTP API, `/health` and `/metrics`.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the chat page (and `/chat.js`, `/chat.css`) |
//! | `GET /ws` | WebSocket, subprotocol `switchboard.v1.json` (`docs/protocol.md`) |
//! | `GET /ws/{channel}` | WebSocket plain room |
//! | `POST /api/{method}` | the HTTP API ([`api`](self) module docs) |
//! | `GET /health` | 200 `{"status":"ok"}`, 503 while shutting down |
//! | `GET /metrics` | Prometheus text format |

mod api;
mod limits;
mod pages;
mod tls;
mod ws;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use switchboard::proto::Limits;
use switchboard::{Acceptor, OriginPolicy, WebSocketConfig};
use tokio::net::TcpListener;

pub use api::MAX_BROADCAST_CHANNELS;
pub use ws::{PROTOCOL, TOKEN_SUBPROTOCOL_PREFIX};

use crate::config::ServeConfig;
use crate::node::Node;
use limits::ConnectionLimits;

/// The client's address, as axum's connect info, for plain and TLS listeners alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote(pub(crate) SocketAddr);

/// The plain listener, with Nagle's algorithm off on every connection (as the TLS listener
/// does): a delivery is a small message that must leave now, not wait for the next one.
pub(crate) struct PlainListener(TcpListener);

impl axum::serve::Listener for PlainListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // Refused only on a socket that is already closing; the connection then ends anyway.
        let _ = tcp.set_nodelay(true);
        (tcp, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, PlainListener>>
    for Remote
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, PlainListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for Remote
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    node: Arc<Node>,
    protocol_acceptor: Arc<Acceptor>,
    plain_acceptor: Arc<Acceptor>,
    limits: Arc<ConnectionLimits>,
    api_key: Option<Arc<str>>,
    chat_page: bool,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// The bound socket, plain or with TLS.
enum Bound {
    Plain(TcpListener),
    Tls(tls::TlsListener),
}

/// A bound, not yet running, hub server.
pub struct Server {
    listener: Bound,
    local_addr: SocketAddr,
    router: Router,
    node: Arc<Node>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

fn websocket_config(config: &ServeConfig) -> WebSocketConfig {
    let limits = &config.limits;
    let mut frame_limits = Limits::default();
    frame_limits.max_frame_size = limits.max_message_size;
    frame_limits.max_message_size = limits.max_message_size;
    let compression = limits
        .compression
        .then(switchboard::proto::extension::deflate::DeflateConfig::default);
    WebSocketConfig::default()
        .limits(frame_limits)
        .keepalive(
            Some(Duration::from_secs(limits.ping_interval_secs)),
            Some(Duration::from_secs(limits.ping_timeout_secs)),
        )
        .compression(compression)
}

impl Server {
    /// Binds `config.listen` and prepares a node on `node`'s engines.
    pub async fn bind(config: &ServeConfig, node: Arc<Node>) -> Result<Self, StartError> {
        // The certificate is loaded before binding, so a bad file fails with its name.
        let tls = match &config.tls {
            Some(tls) => Some(
                switchboard::server::tls::acceptor(&tls.cert, &tls.key)
                    .map_err(|e| StartError(format!("tls: {e}")))?,
            ),
            None => None,
        };
        let origin = if config.allowed_origins.is_empty() {
            OriginPolicy::SameOrigin
        } else {
            OriginPolicy::allow_list(config.allowed_origins.iter().map(String::as_str))
                .map_err(|e| StartError(format!("allowed_origins: {e}")))?
        };
        let websocket = websocket_config(config);
        let protocol_acceptor = Acceptor::new()
            .config(websocket.clone())
            .origin_policy(origin.clone())
            .protocols([PROTOCOL]);
        let plain_acceptor = Acceptor::new().config(websocket).origin_policy(origin);
        let state = AppState {
            node: Arc::clone(&node),
            protocol_acceptor: Arc::new(protocol_acceptor),
            plain_acceptor: Arc::new(plain_acceptor),
            limits: ConnectionLimits::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            api_key: config.api_key.as_deref().map(Arc::from),
            chat_page: config.chat_page,
        };
        let router = Router::new()
            .route("/", get(pages::index))
            .route("/chat.js", get(pages::chat_js))
            .route("/chat.css", get(pages::chat_css))
            .route("/health", get(pages::health))
            .route("/metrics", get(pages::metrics))
            .route("/ws", get(ws::protocol))
            .route("/ws/{*channel}", get(ws::plain))
            .route("/api/{method}", post(api::handle))
            .with_state(state);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
        let listener = match tls {
            None => Bound::Plain(listener),
            Some(acceptor) => Bound::Tls(
                tls::TlsListener::new(listener, acceptor)
                    .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?,
            ),
        };
        Ok(Self {
            listener,
            local_addr,
            router,
            node,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// Whether it serves https:// and wss://.
    pub fn is_tls(&self) -> bool {
        matches!(self.listener, Bound::Tls(_))
    }

    /// The node behind the server.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops accepting, tells
    /// every WebSocket client to reconnect elsewhere (`disconnect` 4000, close 1001), and
    /// waits for them for up to `shutdown_timeout_secs`.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            node,
            shutdown_timeout,
            ..
        } = self;
        match listener {
            Bound::Plain(listener) => {
                let listener = PlainListener(listener);
                serve(listener, router, node, shutdown_timeout, shutdown).await
            }
            Bound::Tls(listener) => serve(listener, router, node, shutdown_timeout, shutdown).await,
        }
    }
}

/// Runs the server on `listener` until `shutdown`, then shuts down (see [`Server::run`]).
async fn serve<L>(
    listener: L,
    router: Router,
    node: Arc<Node>,
    shutdown_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> Remote: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    {
        let maintenance = tokio::spawn(Arc::clone(&node).run_maintenance(Duration::from_secs(5)));
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router.into_make_service_with_connect_info::<Remote>();
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .into_future();
        tokio::pin!(serving);
        let result = tokio::select! {
            // Only an accept error ends serving before the shutdown signal.
            result = &mut serving => result,
            () = shutdown => {
                // Stop accepting, then drain WebSocket clients (detached from HTTP once
                // upgraded) and HTTP requests in flight side by side, both bounded.
                tracing::info!("shutting down: asking clients to reconnect elsewhere");
                let _ = stop_http.send(());
                let (left, http) = tokio::join!(
                    node.shutdown(shutdown_timeout),
                    tokio::time::timeout(shutdown_timeout, &mut serving),
                );
                if left > 0 {
                    tracing::warn!(left, "shutdown deadline passed with clients still connected");
                }
                http.unwrap_or(Ok(()))
            }
        };
        maintenance.abort();
        result
    }
}
