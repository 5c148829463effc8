//! Switchboard: WebSocket client and server for tokio, built on the sans-I/O core
//! [`switchboard_proto`]. Strict RFC 6455 and RFC 7692 (the whole Autobahn TestSuite
//! passes in both roles), permessage-deflate on by default, keepalive, backpressure, TLS,
//! proxies, and a client that reconnects by itself.
//!
//! # Map
//!
//! ```text
//!  server::{accept, accept_with, Acceptor}   read the upgrade request, run the hook and the
//!    server::OriginPolicy                      Origin policy, answer 101 or reject
//!    server::tls        (feature rustls)     wss:// from PEM files
//!    server::hyper      (feature hyper)      upgrade hyper 1.x requests
//!    server::axum       (feature axum)       the WebSocketUpgrade extractor
//!  client::{connect, ClientBuilder}          ws:// and wss:// URLs, headers, subprotocols,
//!    client::proxy                             HTTP CONNECT and SOCKS5 proxies (and *_proxy
//!    client::MaybeTlsStream                    environment variables), timeouts
//!  reconnect::Reconnecting                   reconnect with backoff; bounded send queue
//!  callbacks::WebSocketApp                   on_open / on_message / on_close / on_error
//!                 │
//!                 ▼
//!  WebSocket<S>   Stream + Sink of Message over any AsyncRead + AsyncWrite; cancel-safe;
//!                 split() into halves for two tasks; keepalive and close timers
//!                 │
//!                 ▼
//!  proto::Connection   (switchboard-proto) framing, UTF-8, closing, deflate, deadlines
//! ```
//!
//! # Example
//!
//! An echo server and a client, on loopback:
//!
//! ```
//! use switchboard::{CloseCode, Message};
//! use tokio::net::TcpListener;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("ws://{}/echo", listener.local_addr()?);
//!
//! // Server: accept one connection and echo every text and binary message.
//! tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut ws = switchboard::accept(tcp).await?;
//!     while let Some(message) = ws.recv().await {
//!         let message = message?;
//!         if message.is_data() {
//!             ws.send(message).await?;
//!         }
//!     }
//!     Ok::<_, switchboard::Error>(())
//! });
//!
//! // Client.
//! let (mut ws, _response) = switchboard::connect(&url).await?;
//! ws.send("hello").await?;
//! assert_eq!(ws.recv().await.transpose()?, Some(Message::text("hello")));
//! ws.close(CloseCode::NORMAL_CLOSURE, "bye").await?;
//! # Ok(())
//! # }
//! ```
//!
//! More in `examples/`: `echo_server`, `tls_echo_server`, `hyper_server`, `axum_server`,
//! `reconnecting_client`.
#![forbid(unsafe_code)]

pub mod callbacks;
pub mod client;
mod config;
mod entropy;
mod error;
mod read_buffer;
pub mod reconnect;
mod send_buffer;
pub mod server;
mod split;
mod websocket;

pub use callbacks::WebSocketApp;
pub use client::client_handshake;
pub use client::proxy::{Proxy, ProxyError};
pub use client::{connect, ClientBuilder, MaybeTlsStream};
pub use config::WebSocketConfig;
pub use error::{Error, Result};
pub use reconnect::Reconnecting;
pub use server::{accept, accept_with, Rejection};
pub use server::{Acceptor, OriginPolicy};
pub use split::{ReadHalf, WriteHalf};
pub use websocket::WebSocket;

pub use switchboard_proto as proto;
pub use switchboard_proto::{
    CloseCode, CloseFrame, Message, MessageRef, Outbox, Utf8Bytes, Utf8Ref,
};
