//! The WebSocket endpoints: `/ws` (the protocol) and `/ws/{channel}` (plain rooms).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard::server::axum::WebSocketUpgrade;

use super::limits::{Permit, Refused};
use super::{AppState, Remote};
use crate::channel::ChannelName;
use crate::node::ConnectionInfo;
use crate::permission::{AuthError, Credentials};

/// The subprotocol of the multiplexed protocol.
pub const PROTOCOL: &str = "switchboard.v1.json";

/// The prefix of a token offered as a subprotocol, for browsers, which cannot set headers:
/// `new WebSocket(url, ["switchboard.v1.json", "token." + jwt])`.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "token.";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// Checks shutdown and the connection limits; a permit is one open connection.
fn admit(state: &AppState, remote: SocketAddr) -> Result<Permit, (StatusCode, &'static str)> {
    if state.node.is_shutting_down() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "server shutting down"));
    }
    match state.limits.acquire(remote.ip()) {
        Ok(permit) => Ok(permit),
        Err(refused) => {
            crate::node::Metrics::add(&state.node.metrics().connections_refused, 1);
            Err(match refused {
                Refused::Total => (StatusCode::SERVICE_UNAVAILABLE, "too many connections"),
                Refused::PerIp => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many connections from this address",
                ),
            })
        }
    }
}

/// The token from the query string, or else from an offered `token.` subprotocol.
fn transport_token(query: TokenQuery, ws: &WebSocketUpgrade) -> Option<String> {
    query.token.or_else(|| {
        ws.request()
            .subprotocols()
            .iter()
            .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX).map(str::to_owned))
    })
}

pub(crate) async fn protocol(
    State(state): State<AppState>,
    ConnectInfo(Remote(remote)): ConnectInfo<Remote>,
    Query(query): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let permit = match admit(&state, remote) {
        Ok(permit) => permit,
        Err((status, message)) => return refuse(status, message),
    };
    let token = transport_token(query, &ws);
    let node = state.node.clone();
    crate::node::Metrics::add(&node.metrics().connections_accepted, 1);
    ws.acceptor(&state.protocol_acceptor)
        .on_upgrade(move |socket| async move {
            let info = ConnectionInfo {
                token,
                remote: Some(remote),
            };
            node.serve_protocol(socket, info).await;
            drop(permit);
        })
}

pub(crate) async fn plain(
    State(state): State<AppState>,
    ConnectInfo(Remote(remote)): ConnectInfo<Remote>,
    Path(channel): Path<String>,
    Query(query): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let channel = match ChannelName::new(channel) {
        Ok(channel) => channel,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let credentials = match transport_token(query, &ws) {
        None => Credentials::anonymous(),
        Some(token) => match state.node.authenticate(&token, Instant::now()) {
            Ok(credentials) => credentials,
            Err(AuthError::Expired) => return refuse(StatusCode::UNAUTHORIZED, "token expired"),
            Err(_) => return refuse(StatusCode::UNAUTHORIZED, "invalid token"),
        },
    };
    let access = match state.node.check_plain(&channel, &credentials) {
        Ok(access) => access,
        Err(error @ crate::node::PlainRoomError::UnknownChannel) => {
            return refuse(StatusCode::NOT_FOUND, &error.to_string())
        }
        Err(error) => return refuse(StatusCode::FORBIDDEN, &error.to_string()),
    };
    let permit = match admit(&state, remote) {
        Ok(permit) => permit,
        Err((status, message)) => return refuse(status, message),
    };
    // In the room before the 101, so nothing published once the client has it is missed.
    let Some(seat) = state.node.seat_plain(channel, credentials, access).await else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "channel not available, retry later",
        );
    };
    crate::node::Metrics::add(&state.node.metrics().connections_accepted, 1);
    ws.acceptor(&state.plain_acceptor)
        .on_upgrade(move |socket| async move {
            seat.serve(socket).await;
            drop(permit);
        })
}
