//! The server side over real TCP on 127.0.0.1: the handshake hook, accepting with a
//! subprotocol and headers, rejecting with a status and body, the Origin policies, and the
//! answers to malformed requests.
#![allow(clippy::unwrap_used)]

mod server_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderValue, SET_COOKIE, WWW_AUTHENTICATE};
use http::StatusCode;
use server_support::{bounded, exchange, status_of, upgrade_request};
use switchboard::proto::handshake::{Accept, ClientOptions, UpgradeRequest};
use switchboard::proto::HandshakeError;
use switchboard::server::{Acceptor, OriginPolicy, Rejection};
use switchboard::{client_handshake, Error, Message, WebSocketConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

type Hook = Box<dyn FnOnce(&UpgradeRequest, Accept) -> Result<Accept, Rejection> + Send>;

/// Serves one connection with `acceptor` and `hook`, echoing messages until the client
/// closes. The task ends with the handshake's outcome and the negotiated subprotocol.
async fn serve_one(
    acceptor: Acceptor,
    hook: Hook,
) -> (SocketAddr, JoinHandle<switchboard::Result<Option<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = acceptor.accept_with(stream, hook).await?;
        let subprotocol = ws.subprotocol().map(str::to_owned);
        while let Some(message) = ws.recv().await {
            let message = message?;
            if message.is_data() {
                ws.send(message).await?;
            }
        }
        Ok(subprotocol)
    });
    (addr, task)
}

fn accept_all() -> Hook {
    Box::new(|_, accept| Ok(accept))
}

/// Connects with `options` and returns the client, the response headers and the task.
async fn connect(
    addr: SocketAddr,
    path: &str,
    options: ClientOptions,
) -> switchboard::Result<(switchboard::WebSocket<TcpStream>, http::Response<()>)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}{path}").parse().unwrap();
    client_handshake(stream, &url, options, &WebSocketConfig::default()).await
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    path: String,
    query: Option<String>,
    token: Option<String>,
    session: Option<String>,
    theme: Option<String>,
    origin: Option<String>,
    subprotocols: Vec<String>,
    prepared: Option<String>,
}

#[tokio::test]
async fn the_hook_sees_the_request_and_accepts_with_a_subprotocol_and_a_header() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = Arc::clone(&seen);
    let hook: Hook = Box::new(move |request, mut accept| {
        *record.lock().unwrap() = Seen {
            path: request.path().to_owned(),
            query: request.query().map(str::to_owned),
            token: request
                .headers()
                .get("x-token")
                .map(|v| v.to_str().unwrap().to_owned()),
            session: request.cookie("session").map(str::to_owned),
            theme: request.cookie("theme").map(str::to_owned),
            origin: request.origin().map(str::to_owned),
            subprotocols: request.subprotocols().to_vec(),
            prepared: accept.subprotocol.clone(),
        };
        accept
            .headers
            .insert(SET_COOKIE, HeaderValue::from_static("seen=1; HttpOnly"));
        Ok(accept)
    });
    let acceptor = Acceptor::new().protocols(["chat.v2", "chat.v1"]);
    let (addr, server) = serve_one(acceptor, hook).await;

    let mut options = ClientOptions::default();
    options.origin = Some("https://app.example.com".into());
    options.subprotocols = vec!["chat.v1".into(), "chat.v2".into()];
    options
        .headers
        .insert("x-token", HeaderValue::from_static("t0k"));
    options.headers.insert(
        "cookie",
        HeaderValue::from_static("session=abc; theme=dark"),
    );
    let (mut client, response) = bounded(connect(addr, "/rooms/7?user=ann&x=1", options))
        .await
        .unwrap();

    // The client's first preference that the server speaks, and the hook's header.
    assert_eq!(client.subprotocol(), Some("chat.v1"));
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    assert_eq!(response.headers()[SET_COOKIE], "seen=1; HttpOnly");
    client.send("hello").await.unwrap();
    let echoed = bounded(client.recv()).await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("hello"));
    bounded(client.close(switchboard::CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    let subprotocol = bounded(server).await.unwrap().unwrap();
    assert_eq!(subprotocol.as_deref(), Some("chat.v1"));

    assert_eq!(
        *seen.lock().unwrap(),
        Seen {
            path: "/rooms/7".into(),
            query: Some("user=ann&x=1".into()),
            token: Some("t0k".into()),
            session: Some("abc".into()),
            theme: Some("dark".into()),
            origin: Some("https://app.example.com".into()),
            subprotocols: vec!["chat.v1".into(), "chat.v2".into()],
            prepared: Some("chat.v1".into()),
        }
    );
}

#[tokio::test]
async fn the_hook_can_choose_another_offered_subprotocol() {
    let hook: Hook = Box::new(|request, mut accept| {
        assert_eq!(accept.subprotocol.as_deref(), Some("a"));
        accept.subprotocol = request.subprotocols().last().cloned();
        Ok(accept)
    });
    let (addr, server) = serve_one(Acceptor::new().protocols(["a", "b"]), hook).await;
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["a".into(), "b".into()];
    let (mut client, _) = bounded(connect(addr, "/", options)).await.unwrap();
    assert_eq!(client.subprotocol(), Some("b"));
    bounded(client.close(switchboard::CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    assert_eq!(
        bounded(server).await.unwrap().unwrap().as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn no_common_subprotocol_still_accepts_without_one() {
    let (addr, server) = serve_one(Acceptor::new().protocols(["a"]), accept_all()).await;
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["z".into()];
    let (mut client, response) = bounded(connect(addr, "/", options)).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(client.subprotocol(), None);
    bounded(client.close(switchboard::CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    assert_eq!(bounded(server).await.unwrap().unwrap(), None);
}

#[tokio::test]
async fn a_rejection_is_written_exactly_and_the_server_sees_why() {
    let hook: Hook = Box::new(|request, accept| {
        if request.cookie("session").is_some() {
            return Ok(accept);
        }
        Err(
            Rejection::new(StatusCode::UNAUTHORIZED, "log in first\n").with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chat\""),
            ),
        )
    });
    let (addr, server) = serve_one(Acceptor::new(), hook).await;
    let answer = exchange(addr, upgrade_request("/chat", "h", "").as_bytes()).await;
    assert_eq!(
        answer,
        "HTTP/1.1 401 Unauthorized\r\n\
         WWW-Authenticate: Bearer realm=\"chat\"\r\n\
         Content-Length: 13\r\n\
         Connection: close\r\n\
         \r\n\
         log in first\n"
    );
    let error = bounded(server).await.unwrap().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::Rejected(StatusCode::UNAUTHORIZED))
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_client_sees_the_rejection_status() {
    let hook: Hook = Box::new(|_, _| Err(Rejection::new(StatusCode::NOT_FOUND, "no such room")));
    let (addr, _server) = serve_one(Acceptor::new(), hook).await;
    let error = bounded(connect(addr, "/nowhere", ClientOptions::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::UnexpectedStatus(StatusCode::NOT_FOUND))
        ),
        "{error:?}"
    );
}

/// Each Origin policy against requests from several origins: 101 or 403.
#[tokio::test]
async fn origin_policies_answer_403_to_refused_origins() {
    let allow_list =
        OriginPolicy::allow_list(["https://app.example.com", "https://*.example.org"]).unwrap();
    let cases: &[(&OriginPolicy, Option<&str>, &str, u16)] = &[
        (
            &allow_list,
            Some("https://app.example.com"),
            "ws.example.com",
            101,
        ),
        (
            &allow_list,
            Some("https://a.b.example.org"),
            "ws.example.com",
            101,
        ),
        (&allow_list, None, "ws.example.com", 101),
        (
            &allow_list,
            Some("https://example.org"),
            "ws.example.com",
            403,
        ),
        (
            &allow_list,
            Some("https://evil.example"),
            "ws.example.com",
            403,
        ),
        (
            &allow_list,
            Some("http://app.example.com"),
            "ws.example.com",
            403,
        ),
        (&allow_list, Some("null"), "ws.example.com", 403),
        (
            &OriginPolicy::SameOrigin,
            Some("https://ws.example.com"),
            "ws.example.com",
            101,
        ),
        (
            &OriginPolicy::SameOrigin,
            Some("http://localhost:8080"),
            "localhost:8080",
            101,
        ),
        (&OriginPolicy::SameOrigin, None, "ws.example.com", 101),
        (
            &OriginPolicy::SameOrigin,
            Some("https://evil.example"),
            "ws.example.com",
            403,
        ),
        (
            &OriginPolicy::SameOrigin,
            Some("http://localhost:3000"),
            "localhost:8080",
            403,
        ),
        (
            &OriginPolicy::Any,
            Some("https://evil.example"),
            "ws.example.com",
            101,
        ),
    ];
    for &(policy, origin, host, status) in cases {
        let (addr, server) =
            serve_one(Acceptor::new().origin_policy(policy.clone()), accept_all()).await;
        let origin_line = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        let request = upgrade_request("/", host, &origin_line);
        // A refusal is answered and closed; an accepted connection is closed by the client
        // dropping it, so read only the head.
        let answer = server_support::response_head(addr, request.as_bytes()).await;
        assert_eq!(
            status_of(&answer),
            status,
            "{policy:?} {origin:?} {host}: {answer}"
        );
        if status == 403 {
            let error = bounded(server).await.unwrap().unwrap_err();
            assert!(matches!(
                error,
                Error::Handshake(HandshakeError::Rejected(StatusCode::FORBIDDEN))
            ));
        } else {
            server.abort();
        }
    }
}

#[tokio::test]
async fn a_refused_origin_never_reaches_the_hook() {
    let hook: Hook = Box::new(|_, _| panic!("the hook must not run"));
    let acceptor = Acceptor::new().origin_policy(OriginPolicy::SameOrigin);
    let (addr, server) = serve_one(acceptor, hook).await;
    let request = upgrade_request("/", "example.com", "Origin: https://evil.example\r\n");
    let answer = exchange(addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nOrigin not allowed\n"), "{answer}");
    assert!(bounded(server).await.unwrap().is_err());
}

/// Malformed and non-WebSocket requests get the status RFC 6455 and RFC 7231 call for.
#[tokio::test]
async fn malformed_requests_get_the_right_status() {
    let valid = upgrade_request("/", "h", "");
    let huge_header = format!("X-Filler: {}\r\n", "a".repeat(20_000));
    let cases: Vec<(String, u16, &[&str])> = vec![
        (
            valid.replace("Version: 13", "Version: 8"),
            426,
            &[
                "\r\nSec-WebSocket-Version: 13\r\n",
                "\r\nUpgrade: websocket\r\n",
            ],
        ),
        (valid.replace("GET", "POST"), 405, &["\r\nAllow: GET\r\n"]),
        (
            valid.replace("Upgrade: websocket\r\n", ""),
            426,
            &["\r\nUpgrade: websocket\r\n"],
        ),
        (
            valid.replace("Connection: Upgrade", "Connection: keep-alive"),
            426,
            &[],
        ),
        (valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"), 400, &[]),
        (valid.replace("Host: h\r\n", ""), 400, &[]),
        (valid.replace("HTTP/1.1", "HTTP/1.0"), 505, &[]),
        (
            valid.replace("Host: h\r\n", "Host: h\r\nno colon here\r\n"),
            400,
            &[],
        ),
        (upgrade_request("/", "h", &huge_header), 431, &[]),
    ];
    for (request, status, headers) in cases {
        let (addr, server) = serve_one(Acceptor::new(), accept_all()).await;
        let answer = exchange(addr, request.as_bytes()).await;
        assert_eq!(status_of(&answer), status, "{request:.60?} -> {answer}");
        for header in headers {
            assert!(answer.contains(header), "{header:?} missing in {answer}");
        }
        assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
        let error = bounded(server).await.unwrap().unwrap_err();
        assert!(matches!(error, Error::Handshake(_)), "{error:?}");
    }
}

#[tokio::test]
async fn a_silent_client_times_out() {
    let mut config = WebSocketConfig::default();
    config.handshake_timeout = Duration::from_millis(100);
    let (addr, server) = serve_one(Acceptor::new().config(config), accept_all()).await;
    let _idle = TcpStream::connect(addr).await.unwrap();
    let error = bounded(server).await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout(_)), "{error:?}");
}

#[tokio::test]
async fn the_free_functions_still_accept() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = switchboard::accept(stream).await.unwrap();
        let message = ws.recv().await.unwrap().unwrap();
        ws.send(message).await.unwrap();
        while ws.recv().await.is_some() {}
    });
    let (mut client, _) = bounded(connect(addr, "/", ClientOptions::default()))
        .await
        .unwrap();
    client.send(Message::binary(vec![7u8; 3])).await.unwrap();
    let echoed = bounded(client.recv()).await.unwrap().unwrap();
    assert_eq!(echoed, Message::binary(vec![7u8; 3]));
    bounded(client.close(switchboard::CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    bounded(server).await.unwrap();
}
