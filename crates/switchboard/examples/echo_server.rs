//! A WebSocket echo server on plain TCP (`ws://`), with an Origin policy and a subprotocol.
//!
//! ```text
//! cargo run -p switchboard --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Then connect, for example with `switchboard connect ws://127.0.0.1:9001/`.

use switchboard::server::{Acceptor, OriginPolicy};
use switchboard::WebSocket;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let acceptor = Acceptor::new()
        // Pages from this host may connect; so may non-browser clients, which send no Origin.
        .origin_policy(OriginPolicy::SameOrigin)
        .protocols(["echo"]);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor.accept(stream).await {
                Ok(ws) => echo(ws).await,
                Err(e) => eprintln!("{peer}: handshake failed: {e}"),
            }
        });
    }
}

/// Sends every text and binary message back until the peer closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}
