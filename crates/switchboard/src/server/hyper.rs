//! Upgrading hyper 1.x requests to WebSockets (feature `hyper`).
//!
//! hyper parses the request; [`upgrade`] checks it with the same rules as the raw-stream
//! [`Acceptor::accept`] (a valid RFC 6455 upgrade, the Origin policy, a subprotocol) and
//! returns the `101 Switching Protocols` response for hyper to send, with an [`Upgrading`]
//! future that yields the [`WebSocket`] once hyper has handed over the connection. Serve
//! connections with upgrades enabled (`http1::Builder::serve_connection(..).with_upgrades()`),
//! or the upgrade never completes.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response};
//! use switchboard::server::{hyper::upgrade, Acceptor};
//!
//! async fn handle<B>(
//!     mut request: Request<B>,
//!     acceptor: Acceptor,
//! ) -> Result<Response<Full<Bytes>>, Infallible> {
//!     match upgrade(&mut request, &acceptor) {
//!         Ok((response, upgrading)) => {
//!             tokio::spawn(async move {
//!                 if let Ok(mut ws) = upgrading.await {
//!                     while let Some(Ok(message)) = ws.recv().await {
//!                         if message.is_data() && ws.send(message).await.is_err() {
//!                             break;
//!                         }
//!                     }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         Err(rejection) => Ok(rejection.into_response()),
//!     }
//! }
//! ```
//!
//! HTTP/2 (RFC 8441 extended CONNECT) is not supported: such requests are refused as not
//! being HTTP/1.1 upgrades.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::hyper::upgrade::OnUpgrade;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, UPGRADE};
use http::{Request, Response, StatusCode};
use switchboard_proto::extension::Extension;
use switchboard_proto::handshake::{accept_response, Accept, UpgradeRequest};
use switchboard_proto::Connection;

use super::{extension_configs, plain_text, Acceptor, Rejection};
use crate::config::WebSocketConfig;
use crate::error::{Error, Result};
use crate::websocket::{now, WebSocket};

pub use ::hyper::upgrade::Upgraded as HyperUpgraded;
pub use hyper_util::rt::TokioIo;

/// A WebSocket over a connection that hyper upgraded.
pub type HyperWebSocket = WebSocket<TokioIo<HyperUpgraded>>;

/// Whether `request` asks for a WebSocket (`Upgrade: websocket`), so a server can route it to
/// [`upgrade`] and serve other requests as plain HTTP. [`upgrade`] still checks the rest.
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    wants_websocket(request.headers())
}

/// Whether an `Upgrade` header holds the `websocket` token (RFC 6455 4.2.1 item 3).
pub(crate) fn wants_websocket(headers: &http::HeaderMap) -> bool {
    headers.get_all(UPGRADE).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}

/// Checks `request` as a WebSocket upgrade with `acceptor`'s rules, and on success returns
/// the 101 response to send and the [`Upgrading`] future to await (in a spawned task, after
/// the response is returned to hyper).
///
/// On failure the [`Rejection`] is the answer to send
/// ([`into_response`](Rejection::into_response)): 400/405/426/... for a malformed request,
/// 403 for a refused Origin.
///
/// The connection's `OnUpgrade` is taken out of the request's extensions, so call this
/// before consuming the request.
pub fn upgrade<B, R>(
    request: &mut Request<B>,
    acceptor: &Acceptor,
) -> Result<(Response<R>, Upgrading), Rejection>
where
    R: From<Bytes>,
{
    upgrade_with(request, acceptor, |_, accept| Ok(accept))
}

/// [`upgrade`] with a hook, as for [`Acceptor::accept_with`]: `decide` sees the request that
/// passed the Origin policy and the prepared [`Accept`] (with the chosen subprotocol), and
/// returns it, changed or not, or a [`Rejection`].
pub fn upgrade_with<B, R, F>(
    request: &mut Request<B>,
    acceptor: &Acceptor,
    decide: F,
) -> Result<(Response<R>, Upgrading), Rejection>
where
    R: From<Bytes>,
    F: FnOnce(&UpgradeRequest, Accept) -> Result<Accept, Rejection>,
{
    let upgrade_request = validate(request)?;
    // Taken before deciding, so the hook only runs for connections that can switch. On a
    // refusal it is dropped, and hyper goes on with the connection as plain HTTP.
    let on_upgrade = take_on_upgrade(request.extensions_mut())?;
    let accept = decide(&upgrade_request, acceptor.decide(&upgrade_request)?)?;
    Ok(respond(
        &upgrade_request,
        accept,
        on_upgrade,
        acceptor.websocket_config(),
    ))
}

/// Validates the head of `request` as an RFC 6455 upgrade request.
fn validate<B>(request: &Request<B>) -> Result<UpgradeRequest, Rejection> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    UpgradeRequest::from_request(&head).map_err(|e| Rejection::for_error(&e))
}

/// The handle hyper left for taking the connection over. Missing when the request did not
/// come through a hyper HTTP/1 connection (an HTTP/2 request, or a test harness).
pub(crate) fn take_on_upgrade(extensions: &mut http::Extensions) -> Result<OnUpgrade, Rejection> {
    extensions.remove::<OnUpgrade>().ok_or_else(|| {
        // RFC 7231 6.5.15: 426 tells the client to retry on a connection that can switch.
        Rejection::new(
            StatusCode::UPGRADE_REQUIRED,
            "this HTTP connection cannot be upgraded\n",
        )
        .with_header(UPGRADE, http::HeaderValue::from_static("websocket"))
        .with_header(CONTENT_TYPE, plain_text())
    })
}

/// Builds the 101 response for an accepted request, and the future that completes the
/// upgrade.
pub(crate) fn respond<R: From<Bytes>>(
    request: &UpgradeRequest,
    accept: Accept,
    on_upgrade: OnUpgrade,
    config: &WebSocketConfig,
) -> (Response<R>, Upgrading) {
    let (head, negotiated) = accept_response(request, accept, &extension_configs(config));
    let (parts, ()) = head.into_parts();
    let response = Response::from_parts(parts, R::from(Bytes::new()));
    let upgrading = Upgrading {
        on_upgrade,
        pending: Some(Pending {
            config: config.clone(),
            extension: negotiated.extension,
            subprotocol: negotiated.subprotocol,
        }),
    };
    (response, upgrading)
}

/// Resolves to the [`WebSocket`] once hyper has sent the 101 response and handed over the
/// connection; fails with [`Error::Io`] if the connection closed first or was not served
/// with upgrades enabled.
///
/// Await it in a task of its own: hyper completes the upgrade only after the response has
/// been returned to it.
#[must_use = "the WebSocket is only available by awaiting this future"]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    pending: Option<Pending>,
}

/// What the handshake negotiated, kept until the connection is handed over.
struct Pending {
    config: WebSocketConfig,
    extension: Option<Box<dyn Extension>>,
    subprotocol: Option<String>,
}

impl Upgrading {
    /// The subprotocol the response agreed on.
    pub fn subprotocol(&self) -> Option<&str> {
        self.pending.as_ref()?.subprotocol.as_deref()
    }
}

impl Future for Upgrading {
    type Output = Result<HyperWebSocket>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx));
        let Some(pending) = this.pending.take() else {
            return Poll::Ready(Err(Error::InvalidInput(
                "Upgrading polled after completion",
            )));
        };
        let upgraded = upgraded.map_err(|e| Error::Io(std::io::Error::other(e)))?;
        // hyper's `Upgraded` first replays any bytes it read past the request head, so
        // frames the client sent right behind its request reach the connection in order.
        let connection = Connection::server(pending.config.protocol.clone(), now())
            .with_extension(pending.extension);
        Poll::Ready(Ok(WebSocket::from_connection(
            TokioIo::new(upgraded),
            connection,
            &pending.config,
            pending.subprotocol,
        )))
    }
}

impl std::fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrading")
            .field("subprotocol", &self.subprotocol())
            .field("extension", &self.pending.as_ref().map(|p| &p.extension))
            .finish_non_exhaustive()
    }
}
