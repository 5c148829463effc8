//! The axum extractor end to end over TCP on 127.0.0.1: echo with a subprotocol and a header,
//! refusals of non-upgrade and malformed requests, an Origin policy from shared state, a page
//! and its WebSocket on one route, and a handler that rejects.
#![allow(clippy::unwrap_used)]

mod server_support;

use std::net::SocketAddr;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::HeaderValue;
use http::StatusCode;
use server_support::{assert_echoes, bounded, response_head, status_of, upgrade_request};
use switchboard::proto::handshake::ClientOptions;
use switchboard::server::axum::WebSocketUpgrade;
use switchboard::server::hyper::HyperWebSocket;
use switchboard::server::{Acceptor, OriginPolicy, Rejection};
use switchboard::{client_handshake, Message, WebSocketConfig};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut ws: HyperWebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn ws_route(ws: WebSocketUpgrade) -> Response {
    assert_eq!(ws.request().path(), "/ws");
    ws.protocols(["v2", "v1"])
        .header(
            "x-served-by".parse().unwrap(),
            HeaderValue::from_static("axum"),
        )
        .on_upgrade(echo)
}

async fn checked_route(State(acceptor): State<Acceptor>, ws: WebSocketUpgrade) -> Response {
    ws.acceptor(&acceptor).on_upgrade(echo)
}

async fn maybe_route(ws: Option<WebSocketUpgrade>) -> Response {
    match ws {
        Some(ws) => ws.on_upgrade(echo),
        None => "a page\n".into_response(),
    }
}

async fn session_route(ws: WebSocketUpgrade) -> Response {
    if ws.request().cookie("session").is_none() {
        return Rejection::new(StatusCode::UNAUTHORIZED, "log in first\n").into_response();
    }
    ws.on_upgrade(echo)
}

async fn axum_server() -> SocketAddr {
    let acceptor = Acceptor::new().origin_policy(OriginPolicy::SameOrigin);
    let app = Router::new()
        .route("/ws", get(ws_route))
        .route("/checked", get(checked_route))
        .route("/maybe", get(maybe_route))
        .route("/session", get(session_route))
        .with_state(acceptor);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn an_axum_upgrade_echoes_with_subprotocol_and_header() {
    let addr = axum_server().await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/ws").parse().unwrap();
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["v1".into(), "v3".into()];
    let config = WebSocketConfig::default();
    let (mut client, response) = bounded(client_handshake(stream, &url, options, &config))
        .await
        .unwrap();
    assert_eq!(client.subprotocol(), Some("v1"));
    assert_eq!(response.headers()["x-served-by"], "axum");
    let messages = [
        Message::text("via axum"),
        Message::binary(vec![3u8; 50_000]),
    ];
    assert_echoes(&mut client, &messages).await;
}

#[tokio::test]
async fn the_extractor_refuses_what_is_not_an_upgrade() {
    let addr = axum_server().await;
    let head = response_head(addr, b"GET /ws HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(status_of(&head), 426, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nupgrade: websocket\r\n"),
        "{head}"
    );
    assert!(
        head.ends_with("missing \"Upgrade: websocket\" header\n"),
        "{head}"
    );

    let bad_version = upgrade_request("/ws", "h", "").replace("Version: 13", "Version: 12");
    let head = response_head(addr, bad_version.as_bytes()).await;
    assert_eq!(status_of(&head), 426, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n"),
        "{head}"
    );

    let bad_key = upgrade_request("/ws", "h", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "x");
    let head = response_head(addr, bad_key.as_bytes()).await;
    assert_eq!(status_of(&head), 400, "{head}");
}

#[tokio::test]
async fn the_origin_policy_from_state_answers_403() {
    let addr = axum_server().await;
    let evil = upgrade_request(
        "/checked",
        "example.com",
        "Origin: https://evil.example\r\n",
    );
    let head = response_head(addr, evil.as_bytes()).await;
    assert_eq!(status_of(&head), 403, "{head}");
    assert!(head.ends_with("Origin not allowed\n"), "{head}");
    let same = upgrade_request("/checked", "example.com", "Origin: https://example.com\r\n");
    let head = response_head(addr, same.as_bytes()).await;
    assert_eq!(status_of(&head), 101, "{head}");
}

#[tokio::test]
async fn one_route_serves_a_page_and_its_websocket() {
    let addr = axum_server().await;
    let head = response_head(addr, b"GET /maybe HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(head.ends_with("a page\n"), "{head}");
    let head = response_head(addr, upgrade_request("/maybe", "h", "").as_bytes()).await;
    assert_eq!(status_of(&head), 101, "{head}");
    // An upgrade request that is malformed is still refused, not served as a page.
    let bad = upgrade_request("/maybe", "h", "").replace("Version: 13", "Version: 1");
    let head = response_head(addr, bad.as_bytes()).await;
    assert_eq!(status_of(&head), 426, "{head}");
}

#[tokio::test]
async fn a_handler_can_reject_after_looking_at_the_request() {
    let addr = axum_server().await;
    let head = response_head(addr, upgrade_request("/session", "h", "").as_bytes()).await;
    assert_eq!(status_of(&head), 401, "{head}");
    assert!(head.ends_with("log in first\n"), "{head}");
    let with_cookie = upgrade_request("/session", "h", "Cookie: session=s1\r\n");
    let head = response_head(addr, with_cookie.as_bytes()).await;
    assert_eq!(status_of(&head), 101, "{head}");
}
