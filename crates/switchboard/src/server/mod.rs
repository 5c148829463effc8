//! Accepting WebSocket connections (RFC 6455 4.2): read the upgrade request from any
//! transport, let the application decide, answer, and hand over a [`WebSocket`].
//!
//! Three ways in, from the simplest:
//!
//! - [`accept`] / [`accept_with`]: one connection, settings passed in, an optional hook.
//! - [`Acceptor`]: settings kept for every connection of a server (the
//!   [`WebSocketConfig`], an [`OriginPolicy`], the subprotocols the server speaks), with
//!   [`Acceptor::accept`] and [`Acceptor::accept_with`].
//! - An HTTP server that already parsed the request: `hyper` (feature `hyper`) and `axum`
//!   (feature `axum`) upgrade its requests with the same [`Acceptor`] rules.
//!
//! TLS (`wss://`) is a transport like any other: [`tls`] (feature `rustls`, on by default)
//! loads PEM files into a `TlsAcceptor`, and its streams go to [`Acceptor::accept`].

mod acceptor;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;
mod origin;
#[cfg(feature = "rustls")]
pub mod tls;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, Response, StatusCode};
use switchboard_proto::extension::ExtensionConfig;
use switchboard_proto::handshake::{
    error_response, reject_response, Accept, ServerHandshake, UpgradeRequest,
};
use switchboard_proto::{Connection, HandshakeError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use acceptor::Acceptor;
pub use origin::{OriginPattern, OriginPolicy};

use crate::config::WebSocketConfig;
use crate::error::{Error, Result};
use crate::websocket::{now, WebSocket};

/// How the handshake read buffer grows: one read of this size at a time.
const HEAD_READ_SIZE: usize = 4096;

/// An HTTP answer that refuses a WebSocket upgrade: a status, headers and a body.
///
/// Boxed inside, so that `Result<_, Rejection>` stays small on the path that accepts.
#[derive(Debug, Clone)]
pub struct Rejection {
    response: Box<Response<Bytes>>,
}

impl Rejection {
    /// A rejection with `status` and a short text body.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut response = Response::new(body.into());
        *response.status_mut() = status;
        Self {
            response: Box::new(response),
        }
    }

    /// The status, such as 401, 403 or 404.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response headers (for example `WWW-Authenticate`). `Content-Length` is set when
    /// the response is written.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The response headers, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.response.headers_mut()
    }

    /// The response body.
    pub fn body(&self) -> &Bytes {
        self.response.body()
    }

    /// Adds a response header (builder style), such as `WWW-Authenticate` on a 401. Headers
    /// with the same name are kept side by side, not replaced.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers_mut().append(name, value);
        self
    }

    /// The answer to a request that is not a valid WebSocket upgrade: the error's
    /// [`http_status`](HandshakeError::http_status), the headers that status calls for, and
    /// the error's text as a plain-text body. The same answer the raw-stream [`accept`]
    /// writes, for servers (hyper, axum) that write their own responses.
    pub fn for_error(error: &HandshakeError) -> Self {
        let status = error.http_status();
        let mut headers = HeaderMap::new();
        if status == StatusCode::UPGRADE_REQUIRED {
            // RFC 7231 6.5.15: a 426 response MUST send Upgrade with the protocols to use.
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        if *error == HandshakeError::UnsupportedVersion {
            // RFC 6455 4.4: answer an unsupported version with the versions we support.
            headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            // RFC 7231 6.5.5: a 405 response MUST list the allowed methods.
            headers.insert(ALLOW, HeaderValue::from_static("GET"));
        }
        headers.insert(CONTENT_TYPE, plain_text());
        let mut rejection = Self::new(status, format!("{error}\n"));
        *rejection.headers_mut() = headers;
        rejection
    }

    /// This rejection as an HTTP response, for servers that write their own (hyper, axum).
    /// The server adds `Content-Length`; the body type is any that converts from [`Bytes`]
    /// (`http_body_util::Full<Bytes>`, `axum::body::Body`, ...).
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        self.response.map(B::from)
    }
}

/// `Content-Type` of the short texts this module answers with.
fn plain_text() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

/// Accepts a WebSocket on `io` with the default configuration, taking every request: any
/// Origin, no subprotocol. [`Acceptor`] adds an Origin policy and subprotocols.
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
/// Every Origin reaches `decide`: check it there (see [`OriginPolicy::check`]), or use
/// [`Acceptor::accept_with`], which applies an [`OriginPolicy`] and picks a subprotocol
/// before its hook runs.
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
    // The handshake's state (the head as it arrives, the parsed request, the response, the
    // timer) is over a kilobyte and dead once the connection is open. Boxed, it is freed then;
    // inline, it would stay in the caller's future (and so in every connection's task) for as
    // long as the connection lives.
    let handshake = tokio::time::timeout(config.handshake_timeout, handshake(io, config, decide));
    Box::pin(handshake)
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
            let status = rejection.status();
            let response = reject_response(status, rejection.headers(), rejection.body());
            refuse(&mut io, &response).await;
            Err(HandshakeError::Rejected(status).into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_for_error_is_the_raw_stream_answer() {
        let errors = [
            HandshakeError::HeadTooLarge { limit: 1 },
            HandshakeError::TooManyHeaders { limit: 1 },
            HandshakeError::LineTooLong { limit: 1 },
            HandshakeError::MalformedHead("bad"),
            HandshakeError::MethodNotGet,
            HandshakeError::UnsupportedHttpVersion,
            HandshakeError::MissingHost,
            HandshakeError::MissingUpgrade,
            HandshakeError::MissingConnectionUpgrade,
            HandshakeError::InvalidKey,
            HandshakeError::UnsupportedVersion,
            HandshakeError::DuplicateHeader("Origin"),
            HandshakeError::InvalidHeader("Origin"),
            HandshakeError::InvalidUrl("bad"),
            HandshakeError::Rejected(StatusCode::FORBIDDEN),
            HandshakeError::AlreadyComplete,
        ];
        for error in errors {
            let rejection = Rejection::for_error(&error);
            let written =
                reject_response(rejection.status(), rejection.headers(), rejection.body());
            assert_eq!(written, error_response(&error), "{error:?}");
        }
    }

    #[test]
    fn rejection_into_response_keeps_everything() {
        let rejection = Rejection::new(StatusCode::UNAUTHORIZED, "who are you?")
            .with_header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic"),
            )
            .with_header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        let response: Response<Bytes> = rejection.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(challenges, ["Basic", "Bearer"]);
        assert_eq!(&response.body()[..], b"who are you?");
    }
}
