//! Accepting WebSocket connections (RFC 6455 4.2): read the upgrade request from any
//! transport, let the application decide, answer, and hand over a [`WebSocket`].

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use switchboard_proto::extension::ExtensionConfig;
use switchboard_proto::handshake::{
    error_response, reject_response, Accept, ServerHandshake, UpgradeRequest,
};
use switchboard_proto::{Connection, HandshakeError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::WebSocketConfig;
use crate::error::{Error, Result};
use crate::websocket::{now, WebSocket};

/// How the handshake read buffer grows: one read of this size at a time.
const HEAD_READ_SIZE: usize = 4096;

/// An HTTP answer that refuses a WebSocket upgrade.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The status, such as 401, 403 or 404.
    pub status: StatusCode,
    /// Extra response headers (for example `WWW-Authenticate`).
    pub headers: HeaderMap,
    /// The response body.
    pub body: Bytes,
}

impl Rejection {
    /// A rejection with `status` and a short text body.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

/// Accepts a WebSocket on `io` with the default configuration, taking every request.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
/// state; close it.
pub async fn accept<S>(io: S) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(io, &WebSocketConfig::default(), |_| Ok(Accept::default())).await
}

/// Accepts a WebSocket on `io`, letting `decide` see the request (path, query, headers,
/// cookies, Origin, offered subprotocols) and accept it (choosing a subprotocol, adding
/// response headers) or reject it with an HTTP status and body.
///
/// Malformed or non-WebSocket requests are answered with the matching status (400, 405, 426
/// with `Sec-WebSocket-Version: 13`, 431, ...) and fail with [`Error::Handshake`]. The whole
/// handshake is bounded by `config.handshake_timeout` and the head limits of
/// `config.protocol.limits`.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
/// state; close it.
pub async fn accept_with<S, F>(io: S, config: &WebSocketConfig, decide: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> std::result::Result<Accept, Rejection>,
{
    let handshake = handshake(io, config, decide);
    tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout("WebSocket handshake"))?
}

async fn handshake<S, F>(mut io: S, config: &WebSocketConfig, decide: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> std::result::Result<Accept, Rejection>,
{
    let mut handshake = ServerHandshake::new(&config.protocol.limits);
    let mut chunk = vec![0u8; HEAD_READ_SIZE];
    let request = loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        match handshake.receive_bytes(&chunk[..n]) {
            Ok(Some(request)) => break request,
            Ok(None) => continue,
            Err(error) => {
                refuse(&mut io, &error_response(&error)).await;
                return Err(error.into());
            }
        }
    };
    match decide(&request) {
        Ok(accept) => {
            let extensions = extension_configs(config);
            let (response, negotiated, leftover) = handshake.accept(&request, accept, &extensions);
            io.write_all(&response).await?;
            io.flush().await?;
            let mut conn = Connection::server(config.protocol.clone(), now())
                .with_extension(negotiated.extension)
                .with_read_buffer(leftover);
            // Frames that arrived with the request are processed now, not at the next read.
            conn.receive_buffered(now());
            Ok(WebSocket::from_connection(
                io,
                conn,
                config,
                negotiated.subprotocol,
            ))
        }
        Err(rejection) => {
            let response = reject_response(rejection.status, &rejection.headers, &rejection.body);
            refuse(&mut io, &response).await;
            Err(HandshakeError::Rejected(rejection.status).into())
        }
    }
}

/// Writes a refusal and closes the transport; errors are moot at this point.
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, response: &[u8]) {
    let _ = io.write_all(response).await;
    let _ = io.shutdown().await;
}

/// The extensions this configuration offers (client) or accepts (server).
pub(crate) fn extension_configs(config: &WebSocketConfig) -> Vec<Arc<dyn ExtensionConfig>> {
    config
        .compression
        .iter()
        .map(|deflate| Arc::new(deflate.clone()) as Arc<dyn ExtensionConfig>)
        .collect()
}
