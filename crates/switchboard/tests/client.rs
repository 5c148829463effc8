//! The URL client against real servers on loopback: ws:// over IPv4 and IPv6, request
//! headers, checks before any I/O, and failures (refused, 404, handshake and connect
//! timeouts). TLS is in `client_tls.rs`, proxies in `client_proxy.rs`.
//!
//! Every server binds 127.0.0.1:0 or [::1]:0, and every test is bounded.
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used)]

mod client_support;

use std::io;
use std::time::Duration;

use client_support::{bounded, echo_server, round_trip, spawn_echo};
use http::StatusCode;
use switchboard::client::proxy::ProxyScheme;
use switchboard::proto::handshake::Accept;
use switchboard::proto::HandshakeError;
use switchboard::{accept_with, ClientBuilder, CloseCode, Error, Message, Proxy, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn ws_echo_over_ipv4_with_deflate_offered_by_default() {
    bounded(async {
        let (addr, mut seen) = echo_server().await;
        let (mut ws, response) = switchboard::connect(&format!("ws://{addr}/chat?room=1"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert!(!ws.get_ref().is_tls());
        assert_eq!(ws.extension(), Some("permessage-deflate"));
        round_trip(&mut ws, "hello").await;
        let request = seen.recv().await.unwrap();
        assert_eq!(request.path, "/chat");
        let offered = request.headers["sec-websocket-extensions"]
            .to_str()
            .unwrap();
        assert!(offered.contains("permessage-deflate"), "{offered}");

        // Turned off in the config: not offered.
        let config = WebSocketConfig::default().compression(None);
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .config(config)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.extension(), None);
        round_trip(&mut ws, "plain").await;
        let request = seen.recv().await.unwrap();
        assert!(!request.headers.contains_key("sec-websocket-extensions"));
    })
    .await;
}

#[tokio::test]
async fn ws_echo_over_ipv6_literal_url() {
    bounded(async {
        let listener = match TcpListener::bind("[::1]:0").await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "skipped: this machine cannot bind [::1] ({e}), so it has no IPv6 loopback"
                );
                return;
            }
        };
        let addr = listener.local_addr().unwrap();
        let mut seen = spawn_echo(listener);
        let url = format!("ws://[::1]:{}/v6", addr.port());
        let (mut ws, _) = switchboard::connect(&url).await.unwrap();
        assert!(ws.get_ref().tcp().peer_addr().unwrap().is_ipv6());
        round_trip(&mut ws, "over IPv6").await;
        let request = seen.recv().await.unwrap();
        assert_eq!(request.headers["host"], format!("[::1]:{}", addr.port()));
    })
    .await;
}

/// Regression: a server-initiated close waited for the close timeout, because the server
/// kept reading after the client's close reply had completed the handshake, while the client
/// waited for the server to close TCP first. With a close timeout far beyond the test bound, the
/// old behaviour fails this test by timing out.
#[tokio::test]
async fn server_initiated_close_does_not_wait_for_the_close_timeout() {
    bounded(async {
        let mut config = WebSocketConfig::default();
        config.protocol.close_timeout = Duration::from_secs(3600);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_config = config.clone();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = accept_with(stream, &server_config, |_| Ok(Accept::default()))
                .await
                .unwrap();
            ws.send("bye").await.unwrap();
            ws.close(CloseCode::GOING_AWAY, "shutting down")
                .await
                .unwrap();
        });
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .config(config)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("bye"));
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
        assert!(ws.recv().await.is_none());
        assert_eq!(ws.close_code(), Some(CloseCode::GOING_AWAY));
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn headers_origin_and_subprotocols_reach_the_server() {
    bounded(async {
        let (addr, mut seen) = echo_server().await;
        let (mut ws, response) = ClientBuilder::new(format!("ws://{addr}/"))
            .header("authorization", "Bearer t0ken")
            .header("x-trace", "1")
            .header(http::header::HeaderName::from_static("x-trace"), "2")
            .origin("https://app.example")
            .subprotocol("chat.v1")
            .subprotocol("chat.v2")
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.subprotocol(), Some("chat.v2"));
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
        round_trip(&mut ws, "with headers").await;
        let request = seen.recv().await.unwrap();
        assert_eq!(request.headers["authorization"], "Bearer t0ken");
        let traces: Vec<_> = request.headers.get_all("x-trace").iter().collect();
        assert_eq!(traces, ["1", "2"]);
        assert_eq!(request.origin.as_deref(), Some("https://app.example"));
        assert_eq!(request.subprotocols, ["chat.v1", "chat.v2"]);
    })
    .await;
}

#[tokio::test]
async fn bad_settings_fail_before_any_io() {
    bounded(async {
        // Port 9 (discard) on loopback: nothing is connected, so the errors below can only
        // come from the checks that run first.
        let builder = ClientBuilder::new("ws://127.0.0.1:9/").no_proxy();
        let bad_value = builder.clone().header("x-bad", "line\nbreak");
        assert!(matches!(bad_value.check(), Err(Error::Config(_))));
        assert!(matches!(bad_value.connect().await, Err(Error::Config(_))));
        let bad_name = builder.clone().header("bad name", "v");
        assert!(matches!(bad_name.check(), Err(Error::Config(_))));
        let reserved = builder.clone().header("host", "elsewhere");
        assert!(matches!(
            reserved.connect().await,
            Err(Error::Handshake(HandshakeError::InvalidHeader("Host")))
        ));
        let secret = builder.clone().header("authorization", "Bearer hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let duplicate = builder.clone().subprotocol("a").subprotocol("a");
        assert!(matches!(duplicate.check(), Err(Error::Handshake(_))));
        for url in ["http://127.0.0.1/", "ws://h/#fragment", "not a url"] {
            let result = ClientBuilder::new(url).connect().await;
            assert!(
                matches!(result, Err(Error::Handshake(HandshakeError::InvalidUrl(_)))),
                "{url}: {result:?}"
            );
        }
        let missing_ca = ClientBuilder::new("wss://127.0.0.1:9/").ca_file("/nonexistent/ca.pem");
        assert!(matches!(missing_ca.check(), Err(Error::Config(_))));
        // TLS files matter only for wss://.
        let plain = ClientBuilder::new("ws://127.0.0.1:9/").ca_file("/nonexistent/ca.pem");
        plain.check().unwrap();
    })
    .await;
}

#[tokio::test]
async fn connection_refused_is_an_io_error() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let result = switchboard::connect(&format!("ws://{addr}/")).await;
        match result {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_refused_upgrade_reports_the_status() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        let result = switchboard::connect(&format!("ws://{addr}/missing")).await;
        assert!(
            matches!(
                result,
                Err(Error::Handshake(HandshakeError::UnexpectedStatus(
                    StatusCode::NOT_FOUND
                )))
            ),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn handshake_timeout_against_a_silent_server() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts TCP, reads the request, never answers.
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        });
        let mut config = WebSocketConfig::default();
        config.handshake_timeout = Duration::from_millis(200);
        let result = ClientBuilder::new(format!("ws://{addr}/"))
            .config(config)
            .connect()
            .await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    })
    .await;
}

#[tokio::test]
async fn connect_timeout_covers_a_proxy_that_never_answers() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        });
        let proxy = Proxy::new(ProxyScheme::Http, "127.0.0.1", proxy_addr.port());
        let started = tokio::time::Instant::now();
        let result = ClientBuilder::new("ws://127.0.0.1:9/")
            .proxy(proxy)
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .await;
        assert!(
            matches!(result, Err(Error::Timeout("connect"))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await;
}

/// Counts the bytes each way, to show the wrapper carries the whole connection.
struct Counting {
    inner: switchboard::MaybeTlsStream,
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    written: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for Counting {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        poll
    }
}

impl tokio::io::AsyncWrite for Counting {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if let std::task::Poll::Ready(Ok(n)) = poll {
            self.written
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        poll
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn connect_wrapped_runs_the_handshake_and_frames_through_the_wrapper() {
    bounded(async {
        let (addr, _seen) = echo_server().await;
        let read = std::sync::Arc::default();
        let written = std::sync::Arc::default();
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .connect_wrapped(|inner| Counting {
                inner,
                read: std::sync::Arc::clone(&read),
                written: std::sync::Arc::clone(&written),
            })
            .await
            .unwrap();
        let after_handshake = written.load(std::sync::atomic::Ordering::Relaxed);
        // The request head went through the wrapper.
        assert!(after_handshake > 100, "{after_handshake}");
        assert!(read.load(std::sync::atomic::Ordering::Relaxed) > 100);
        ws.send("hello").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
        // A masked 5-byte frame: 2 header bytes, 4 mask bytes, 5 payload bytes (or fewer
        // if compressed, but some).
        assert!(written.load(std::sync::atomic::Ordering::Relaxed) > after_handshake);
    })
    .await;
}
