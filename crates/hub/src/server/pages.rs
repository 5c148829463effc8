//! The built-in chat page, `/health` and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

const INDEX_HTML: &str = include_str!("../../assets/chat/index.html");
const CHAT_JS: &str = include_str!("../../assets/chat/chat.js");
const CHAT_CSS: &str = include_str!("../../assets/chat/chat.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn index(State(state): State<AppState>) -> Response {
    if !state.chat_page {
        return (
            StatusCode::NOT_FOUND,
            "the chat page is turned off (chat_page = false)\n",
        )
            .into_response();
    }
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub(crate) async fn chat_js() -> Response {
    asset("text/javascript; charset=utf-8", CHAT_JS)
}

pub(crate) async fn chat_css() -> Response {
    asset("text/css; charset=utf-8", CHAT_CSS)
}

/// 200 while the node serves; 503 once it is shutting down, or while its engine (Redis)
/// is unreachable, so a load balancer sends new clients to nodes that can serve them.
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let engine = state.node.engine_status();
    let status = if state.node.is_shutting_down() {
        "shutting down"
    } else if !engine.healthy {
        "engine unavailable"
    } else {
        "ok"
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({"status": status, "engine": engine});
    (code, axum::Json(body)).into_response()
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.node.render_metrics(),
    )
        .into_response()
}
