//! An axum 0.8 extractor for WebSocket upgrades (feature `axum`).
//!
//! ```no_run
//! use axum::response::Response;
//! use axum::routing::get;
//! use axum::Router;
//! use switchboard::server::axum::WebSocketUpgrade;
//! use switchboard::server::OriginPolicy;
//!
//! async fn chat(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat.v1"])
//!         .origin_policy(OriginPolicy::SameOrigin)
//!         .on_upgrade(|mut ws| async move {
//!             while let Some(Ok(message)) = ws.recv().await {
//!                 if message.is_data() && ws.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//! }
//!
//! let app: Router = Router::new().route("/chat", get(chat));
//! ```
//!
//! Requests that are not valid WebSocket upgrades are refused by the extractor with the
//! status the raw-stream server would send (400, 405, 426 with `Sec-WebSocket-Version: 13`,
//! ...). `Option<WebSocketUpgrade>` is `None` for requests without `Upgrade: websocket`, so one
//! route can serve a page and its WebSocket.

use std::future::Future;

use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::response::{IntoResponse, Response};
use ::hyper::upgrade::OnUpgrade;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use switchboard_proto::handshake::UpgradeRequest;

use super::hyper::{respond, take_on_upgrade, wants_websocket, HyperWebSocket};
use super::{Acceptor, OriginPolicy, Rejection};
use crate::config::WebSocketConfig;

/// Extracts a WebSocket upgrade request; answer it with
/// [`on_upgrade`](Self::on_upgrade).
///
/// Settings start from [`Acceptor::default`] (any Origin, no subprotocols); set them per
/// route with the builder methods, or all at once from shared state with
/// [`acceptor`](Self::acceptor).
pub struct WebSocketUpgrade {
    request: UpgradeRequest,
    on_upgrade: OnUpgrade,
    acceptor: Acceptor,
    headers: HeaderMap,
}

impl WebSocketUpgrade {
    /// The upgrade request: path, query, headers, cookies, Origin, offered subprotocols.
    pub fn request(&self) -> &UpgradeRequest {
        &self.request
    }

    /// Uses all of `acceptor`'s settings (connection settings, Origin policy, subprotocols).
    pub fn acceptor(mut self, acceptor: &Acceptor) -> Self {
        self.acceptor = acceptor.clone();
        self
    }

    /// Sets the subprotocols this route speaks; the first one in the client's list that is
    /// among them is chosen (see [`Acceptor`]).
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.acceptor = self.acceptor.protocols(protocols);
        self
    }

    /// Sets the connection settings.
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.acceptor = self.acceptor.config(config);
        self
    }

    /// Sets which `Origin`s may connect; others get 403 from
    /// [`on_upgrade`](Self::on_upgrade).
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.acceptor = self.acceptor.origin_policy(policy);
        self
    }

    /// Adds a header to the 101 response (`Set-Cookie`, say). Handshake headers
    /// (`Upgrade`, `Connection`, `Sec-WebSocket-*`) are the handshake's to set and are skipped.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The subprotocol [`on_upgrade`](Self::on_upgrade) will choose with the current settings.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.acceptor.select_protocol(&self.request)
    }

    /// Accepts the upgrade: returns the 101 response, and once axum has sent it, runs
    /// `callback` with the [`WebSocket`](crate::WebSocket) in a task of its own. If the Origin
    /// policy refuses the request, returns the 403 response instead and `callback` never
    /// runs; if the connection fails before the handover, `callback` does not run either (the
    /// failure is logged at debug level).
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(HyperWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut accept = match self.acceptor.decide(&self.request) {
            Ok(accept) => accept,
            Err(rejection) => return rejection.into_response(),
        };
        accept.headers.extend(self.headers);
        let (response, upgrading) = respond(
            &self.request,
            accept,
            self.on_upgrade,
            self.acceptor.websocket_config(),
        );
        tokio::spawn(async move {
            match upgrading.await {
                Ok(ws) => callback(ws).await,
                Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
            }
        });
        response
    }

    fn from_parts(parts: &mut Parts) -> Result<Self, Rejection> {
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        let request = UpgradeRequest::from_request(&head).map_err(|e| Rejection::for_error(&e))?;
        let on_upgrade = take_on_upgrade(&mut parts.extensions)?;
        Ok(Self {
            request,
            on_upgrade,
            acceptor: Acceptor::default(),
            headers: HeaderMap::new(),
        })
    }
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .field("acceptor", &self.acceptor)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        Self::from_parts(parts)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Rejection> {
        if !wants_websocket(&parts.headers) {
            return Ok(None);
        }
        Self::from_parts(parts).map(Some)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        Rejection::into_response(self)
    }
}
