//! Switchboard: WebSocket client and server for tokio.
#![forbid(unsafe_code)]

pub mod callbacks;
pub mod client;
mod config;
mod entropy;
mod error;
pub mod reconnect;
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
pub use switchboard_proto::{CloseCode, CloseFrame, Message, Utf8Bytes};
