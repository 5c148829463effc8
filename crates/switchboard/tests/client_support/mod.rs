//! Helpers shared by the client tests: a bound on every test, echo servers (ws:// and
//! wss://) that report what they see, a CA made at test time, and small proxies.
#![allow(dead_code, unreachable_pub)]

pub mod pki;
pub mod proxies;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use rustls::ServerConfig;
use switchboard::proto::handshake::Accept;
use switchboard::{accept_with, CloseCode, Message, WebSocket, WebSocketConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// No test here needs more than this; a hang fails instead of blocking the suite.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, test)
        .await
        .expect("the test timed out")
}

/// What the server saw of an upgrade request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub origin: Option<String>,
    pub subprotocols: Vec<String>,
    pub headers: HeaderMap,
}

/// Accepts WebSockets on any transport, reports each request on `seen`, picks `chat.v2` when
/// offered, and echoes data messages until the client closes.
pub async fn serve<S>(io: S, seen: mpsc::UnboundedSender<Seen>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default();
    let ws = accept_with(io, &config, |request| {
        let _ = seen.send(Seen {
            path: request.path().to_owned(),
            origin: request.origin().map(str::to_owned),
            subprotocols: request.subprotocols().to_vec(),
            headers: request.headers().clone(),
        });
        if request.subprotocols().iter().any(|p| p == "chat.v2") {
            Ok(Accept::with_subprotocol("chat.v2"))
        } else {
            Ok(Accept::default())
        }
    })
    .await;
    let Ok(mut ws) = ws else { return };
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// A ws:// echo server on `listener`; returns the channel of requests it sees.
pub fn spawn_echo(listener: TcpListener) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, tx.clone()));
        }
    });
    rx
}

pub async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (listener.local_addr().unwrap(), spawn_echo(listener))
}

/// A wss:// echo server; reports whether each client presented a certificate.
pub fn spawn_tls_echo(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> mpsc::UnboundedReceiver<bool> {
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = tx.send(tls.get_ref().1.peer_certificates().is_some());
                let (seen, _) = mpsc::unbounded_channel();
                serve(tls, seen).await;
            });
        }
    });
    rx
}

/// Sends a text message and expects it back, then closes normally.
pub async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>, text: &str) {
    ws.send(text).await.unwrap();
    let echoed = ws.recv().await.unwrap().unwrap();
    assert_eq!(echoed, Message::text(text));
    ws.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
}
