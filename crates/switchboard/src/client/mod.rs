//! Opening WebSocket connections (RFC 6455 4.1).
//!
//! [`connect`] and [`ClientBuilder`] take a `ws://` or `wss://` URL and do everything up to an
//! open [`WebSocket`]:
//!
//! ```text
//! URL ──> proxy choice (explicit, environment, none)          proxy/env.rs
//!     ──> DNS, TCP to each address in turn                    tcp.rs
//!         (or to the proxy, then CONNECT / SOCKS5)            proxy/
//!     ──> TLS for wss:// (rustls, SNI, ALPN http/1.1)         tls.rs
//!     ──> the opening handshake on the same bytes             client_handshake
//!     ──> WebSocket<MaybeTlsStream>                           stream.rs
//! ```
//!
//! Everything before the handshake is bounded by [`ClientBuilder::connect_timeout`]; the
//! handshake by [`WebSocketConfig::handshake_timeout`]. [`client_handshake`] alone runs the
//! handshake over a transport the caller connected (a Unix socket, an in-memory pipe, a
//! custom tunnel).

mod builder;
pub mod proxy;
mod stream;
mod tcp;
#[cfg(feature = "rustls")]
mod tls;

use http::{Response, Uri};
use switchboard_proto::handshake::{ClientHandshake, ClientOptions};
use switchboard_proto::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use builder::ClientBuilder;
pub use stream::MaybeTlsStream;

use crate::config::WebSocketConfig;
use crate::entropy::secure_entropy;
use crate::error::{Error, Result};
use crate::server::extension_configs;
use crate::websocket::{now, WebSocket};

/// Connects to a `ws://` or `wss://` URL with the default settings: permessage-deflate
/// offered, webpki-roots trust anchors for `wss://`, a proxy from the environment if one is
/// set for this URL (see [`ProxyEnv`](proxy::ProxyEnv)), a 10 s connect timeout and a 10 s
/// handshake timeout.
///
/// Returns the connection and the server's 101 response. Use [`ClientBuilder`] for headers,
/// subprotocols, TLS and proxy settings. Fails with [`Error::Io`] if the server cannot be
/// reached (connection refused, DNS failure, TLS failure) or a proxy refuses
/// ([`Error::proxy_error`]), [`Error::Timeout`] if a deadline passes, and [`Error::Handshake`] if the server refuses the
/// upgrade or answers wrongly.
///
/// ```no_run
/// # async fn run() -> switchboard::Result<()> {
/// let (mut ws, _response) = switchboard::connect("wss://echo.example.com/").await?;
/// ws.send("hello").await?;
/// let echo = ws.recv().await;
/// # Ok(()) }
/// ```
///
/// # Cancel safety
///
/// Dropping the future abandons the attempt and closes whatever was connected so far; nothing
/// is left behind. Calling again starts from the beginning.
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
    ClientBuilder::new(url).connect().await
}

const HEAD_READ_SIZE: usize = 4096;

/// Performs the client's opening handshake for `url` over an already connected transport
/// (TCP, TLS, a proxy tunnel, ...), offering permessage-deflate unless `config` turns it off.
///
/// Returns the connection and the server's 101 response. Fails with [`Error::Handshake`] if
/// the server refuses ([`HandshakeError::UnexpectedStatus`](switchboard_proto::HandshakeError))
/// or answers wrongly, and with [`Error::Timeout`] after `config.handshake_timeout`.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
/// state; close it.
pub async fn client_handshake<S>(
    io: S,
    url: &Uri,
    options: ClientOptions,
    config: &WebSocketConfig,
) -> Result<(WebSocket<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut entropy = secure_entropy();
    let handshake = ClientHandshake::new(url, with_config(options, config), &mut entropy)?;
    run_handshake(io, handshake, entropy, config).await
}

/// Adds what `config` decides to the caller's options: the extensions to offer and the
/// bounds on the response head.
pub(crate) fn with_config(mut options: ClientOptions, config: &WebSocketConfig) -> ClientOptions {
    options.extensions.extend(extension_configs(config));
    options.limits = config.protocol.limits.clone();
    options
}

/// Runs a prepared handshake over `io` within `config.handshake_timeout`; `entropy` then
/// masks the connection's frames.
pub(crate) async fn run_handshake<S>(
    io: S,
    handshake: ClientHandshake,
    entropy: impl FnMut(&mut [u8]) + Send + 'static,
    config: &WebSocketConfig,
) -> Result<(WebSocket<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let exchange = exchange(io, handshake, entropy, config);
    tokio::time::timeout(config.handshake_timeout, exchange)
        .await
        .map_err(|_| Error::Timeout("WebSocket handshake"))?
}

async fn exchange<S>(
    mut io: S,
    mut handshake: ClientHandshake,
    entropy: impl FnMut(&mut [u8]) + Send + 'static,
    config: &WebSocketConfig,
) -> Result<(WebSocket<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(handshake.request_bytes()).await?;
    io.flush().await?;
    let mut chunk = vec![0u8; HEAD_READ_SIZE];
    let outcome = loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let Some(outcome) = handshake.receive_bytes(chunk.get(..n).unwrap_or_default())? {
            break outcome;
        }
    };
    let mut conn = Connection::client(config.protocol.clone(), now(), entropy)
        .with_extension(outcome.negotiated.extension)
        .with_read_buffer(outcome.leftover);
    // Frames that arrived with the response are processed now, not at the next read.
    conn.receive_buffered(now());
    let ws = WebSocket::from_connection(io, conn, config, outcome.negotiated.subprotocol);
    Ok((ws, outcome.response))
}
