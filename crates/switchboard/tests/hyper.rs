//! Upgrading hyper 1.x requests end to end over TCP on 127.0.0.1: echo, a plain HTTP route
//! beside the WebSocket one, refusals as HTTP responses, and frames that arrive with the
//! request.
#![allow(clippy::unwrap_used)]

mod server_support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use server_support::{
    assert_echoes, bounded, masked_text, read_head_and_rest, response_head, status_of,
    upgrade_request,
};
use switchboard::proto::handshake::{Accept, ClientOptions, UpgradeRequest};
use switchboard::server::hyper::{is_upgrade_request, upgrade_with, TokioIo, Upgrading};
use switchboard::server::{Acceptor, OriginPolicy, Rejection};
use switchboard::{client_handshake, Message, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The hook: `session=bad` is refused with 401, everyone else gets an extra header.
fn hook(request: &UpgradeRequest, mut accept: Accept) -> Result<Accept, Rejection> {
    if request.cookie("session") == Some("bad") {
        return Err(Rejection::new(StatusCode::UNAUTHORIZED, "bad session\n")
            .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Cookie")));
    }
    accept
        .headers
        .insert("x-served-by", HeaderValue::from_static("hyper"));
    Ok(accept)
}

async fn echo(upgrading: Upgrading) {
    let Ok(mut ws) = upgrading.await else { return };
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn handle(
    mut request: Request<Incoming>,
    acceptor: Acceptor,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        let upgrade = is_upgrade_request(&request);
        return Ok(Response::new(Full::from(format!(
            "plain http, upgrade={upgrade}\n"
        ))));
    }
    match upgrade_with(&mut request, &acceptor, hook) {
        Ok((response, upgrading)) => {
            tokio::spawn(echo(upgrading));
            Ok(response)
        }
        Err(rejection) => Ok(rejection.into_response()),
    }
}

/// A hyper HTTP/1 server with upgrades on 127.0.0.1; it lives as long as the test's runtime.
async fn hyper_server(acceptor: Acceptor) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let service = service_fn(move |request| handle(request, acceptor.clone()));
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_hyper_upgrade_echoes_with_subprotocol_and_header() {
    let addr = hyper_server(Acceptor::new().protocols(["v2", "v1"])).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/ws").parse().unwrap();
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["v1".into(), "v2".into()];
    let config = WebSocketConfig::default();
    let (mut client, response) = bounded(client_handshake(stream, &url, options, &config))
        .await
        .unwrap();
    assert_eq!(client.subprotocol(), Some("v1"));
    assert_eq!(response.headers()["x-served-by"], "hyper");
    // permessage-deflate is negotiated through hyper too.
    assert_eq!(client.extension(), Some("permessage-deflate"));
    let messages = [
        Message::text("via hyper"),
        Message::binary(vec![9u8; 70_000]),
    ];
    assert_echoes(&mut client, &messages).await;
}

#[tokio::test]
async fn other_paths_are_plain_http() {
    let addr = hyper_server(Acceptor::new()).await;
    let head = response_head(addr, b"GET /page HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(head.ends_with("plain http, upgrade=false\n"), "{head}");
    let head = response_head(addr, upgrade_request("/page", "h", "").as_bytes()).await;
    assert!(head.ends_with("plain http, upgrade=true\n"), "{head}");
}

#[tokio::test]
async fn refusals_are_http_responses() {
    let acceptor = Acceptor::new().origin_policy(OriginPolicy::SameOrigin);
    let addr = hyper_server(acceptor).await;
    let valid = upgrade_request("/ws", "example.com", "");

    let head = response_head(addr, valid.replace("Version: 13", "Version: 7").as_bytes()).await;
    assert_eq!(status_of(&head), 426, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n"),
        "{head}"
    );

    let head = response_head(addr, valid.replace("GET", "POST").as_bytes()).await;
    assert_eq!(status_of(&head), 405, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("\r\nallow: get\r\n"),
        "{head}"
    );

    let evil = upgrade_request("/ws", "example.com", "Origin: https://evil.example\r\n");
    let head = response_head(addr, evil.as_bytes()).await;
    assert_eq!(status_of(&head), 403, "{head}");

    let same = upgrade_request("/ws", "example.com", "Origin: https://example.com\r\n");
    let head = response_head(addr, same.as_bytes()).await;
    assert_eq!(status_of(&head), 101, "{head}");

    let bad = upgrade_request("/ws", "example.com", "Cookie: session=bad\r\n");
    let head = response_head(addr, bad.as_bytes()).await;
    assert_eq!(status_of(&head), 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nwww-authenticate: cookie\r\n"),
        "{head}"
    );
    assert!(head.ends_with("bad session\n"), "{head}");
}

/// hyper may read the client's first frame together with the request head; the upgraded
/// connection must replay it before anything else.
#[tokio::test]
async fn a_frame_sent_with_the_request_is_not_lost() {
    let addr = hyper_server(Acceptor::new()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bytes = upgrade_request("/ws", "h", "").into_bytes();
    bytes.extend_from_slice(&masked_text("early"));
    stream.write_all(&bytes).await.unwrap();
    let (head, mut frame) = bounded(read_head_and_rest(&mut stream)).await;
    assert_eq!(status_of(&head), 101, "{head}");
    // Whatever followed the head in the same read, then the rest of the echoed frame.
    while frame.len() < 7 {
        let mut chunk = [0u8; 64];
        let n = bounded(stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0);
        frame.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(frame, b"\x81\x05early");
}
