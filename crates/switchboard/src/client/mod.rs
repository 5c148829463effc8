//! Opening WebSocket connections (RFC 6455 4.1).

use http::{Response, Uri};
use switchboard_proto::handshake::{ClientHandshake, ClientOptions};
use switchboard_proto::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::WebSocketConfig;
use crate::entropy::secure_entropy;
use crate::error::{Error, Result};
use crate::server::extension_configs;
use crate::websocket::{now, WebSocket};

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
    mut options: ClientOptions,
    config: &WebSocketConfig,
) -> Result<(WebSocket<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    options.extensions.extend(extension_configs(config));
    options.limits = config.protocol.limits.clone();
    let handshake = handshake(io, url, options, config);
    tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout("WebSocket handshake"))?
}

async fn handshake<S>(
    mut io: S,
    url: &Uri,
    options: ClientOptions,
    config: &WebSocketConfig,
) -> Result<(WebSocket<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut entropy = secure_entropy();
    let mut handshake = ClientHandshake::new(url, options, &mut entropy)?;
    io.write_all(handshake.request_bytes()).await?;
    io.flush().await?;
    let mut chunk = vec![0u8; HEAD_READ_SIZE];
    let outcome = loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let Some(outcome) = handshake.receive_bytes(&chunk[..n])? {
            break outcome;
        }
    };
    let mut conn = Connection::client(config.protocol.clone(), now(), entropy)
        .with_extension(outcome.negotiated.extension)
        .with_read_buffer(outcome.leftover);
    conn.receive_buffered(now());
    let ws = WebSocket::from_connection(io, conn, config, outcome.negotiated.subprotocol);
    Ok((ws, outcome.response))
}
