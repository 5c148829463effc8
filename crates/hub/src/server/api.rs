//! The HTTP API for backends: `POST /api/{method}` with `Authorization: apikey KEY`, JSON in
//! and out. Answers are `{"result": ...}` or `{"error": {"code": N, "message": "..."}}`, with
//! the protocol's error codes and a 4xx or 5xx status.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::channel::ChannelName;
use crate::history::{HistorySlice, StreamPosition};
use crate::node::{json_payload, ApiError, Metrics};
use crate::protocol::{ErrorCode, PublicationData};

/// The most channels one `broadcast` may name.
pub const MAX_BROADCAST_CHANNELS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    channel: ChannelName,
    data: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastRequest {
    channels: Vec<ChannelName>,
    data: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelRequest {
    channel: ChannelName,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryRequest {
    channel: ChannelName,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    since: Option<StreamPosition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectRequest {
    user: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// An API failure: the status and the error object.
struct Failure {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::UnknownChannel => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::UNKNOWN_CHANNEL, message)
            }
            ApiError::NotEnabled(_) => {
                Self::new(StatusCode::CONFLICT, ErrorCode::NOT_AVAILABLE, message)
            }
            ApiError::Unrecoverable(_) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::UNRECOVERABLE_POSITION,
                message,
            ),
            ApiError::Engine(error) => {
                tracing::warn!(%error, "API request failed in an engine");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::NOT_AVAILABLE,
                    "engine not available, retry later",
                )
            }
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|error| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BAD_REQUEST,
            format!("bad request body: {error}"),
        )
    })
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Failure> {
    let Some(expected) = state.api_key.as_deref() else {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::UNAUTHORIZED,
            "the HTTP API is off: set api_key in the configuration (or SWITCHBOARD_API_KEY)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("apikey "));
    match given {
        Some(key) if constant_time_eq(key.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UNAUTHORIZED,
            "wrong API key",
        )),
        None => Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UNAUTHORIZED,
            "missing header Authorization: apikey KEY",
        )),
    }
}

/// Compares without stopping at the first difference, so response times do not reveal how
/// much of a guessed key was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn handle(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    Metrics::add(&state.node.metrics().api_requests, 1);
    let result = match authorize(&state, &headers) {
        Ok(()) => call(&state, &method, &body).await,
        Err(failure) => Err(failure),
    };
    match result {
        Ok(result) => axum::Json(json!({ "result": result })).into_response(),
        Err(failure) => {
            Metrics::add(&state.node.metrics().api_errors, 1);
            failure.into_response()
        }
    }
}

async fn call(state: &AppState, method: &str, body: &[u8]) -> Result<Value, Failure> {
    let node = &state.node;
    match method {
        "publish" => {
            let request: PublishRequest = parse(body)?;
            let position = node
                .publish(&request.channel, json_payload(&request.data))
                .await?;
            Ok(json!({"epoch": position.epoch, "offset": position.offset}))
        }
        "broadcast" => {
            let request: BroadcastRequest = parse(body)?;
            if request.channels.len() > MAX_BROADCAST_CHANNELS {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BAD_REQUEST,
                    format!("at most {MAX_BROADCAST_CHANNELS} channels per broadcast"),
                ));
            }
            let payload = json_payload(&request.data);
            let mut responses = Vec::with_capacity(request.channels.len());
            for channel in &request.channels {
                responses.push(match node.publish(channel, payload.clone()).await {
                    Ok(position) => json!({
                        "channel": channel, "epoch": position.epoch, "offset": position.offset
                    }),
                    Err(error) => {
                        let failure = Failure::from(error);
                        json!({"channel": channel, "error": {
                            "code": failure.code, "message": failure.message
                        }})
                    }
                });
            }
            Ok(json!({ "responses": responses }))
        }
        "presence" => {
            let request: ChannelRequest = parse(body)?;
            let clients = node.presence(&request.channel).await?;
            Ok(json!({ "clients": clients }))
        }
        "presence_stats" => {
            let request: ChannelRequest = parse(body)?;
            let stats = node.presence_stats(&request.channel).await?;
            Ok(json!({"num_clients": stats.num_clients, "num_users": stats.num_users}))
        }
        "history" => {
            let request: HistoryRequest = parse(body)?;
            let limit = request.limit.unwrap_or(usize::MAX);
            let HistorySlice {
                publications,
                position,
            } = node
                .history(&request.channel, limit, request.since.as_ref())
                .await?;
            let publications: Vec<PublicationData> =
                publications.iter().map(PublicationData::from).collect();
            Ok(json!({
                "epoch": position.epoch, "offset": position.offset, "publications": publications
            }))
        }
        "disconnect" => {
            let request: DisconnectRequest = parse(body)?;
            let reason = request
                .reason
                .as_deref()
                .unwrap_or("disconnected by the server");
            let count = node.disconnect_user(&request.user, reason).await?;
            Ok(json!({ "disconnected": count }))
        }
        "info" => {
            let _: Empty = parse(body)?;
            Ok(serde_json::to_value(node.info()).unwrap_or_default())
        }
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "unknown API method {method:?}; methods: publish, broadcast, presence, \
                 presence_stats, history, disconnect, info"
            ),
        )),
    }
}
