//! Switchboard: WebSocket client and server for tokio.
#![forbid(unsafe_code)]

mod config;
mod error;
mod split;
mod websocket;

pub use config::WebSocketConfig;
pub use error::{Error, Result};
pub use split::{ReadHalf, WriteHalf};
pub use websocket::WebSocket;

pub use switchboard_proto as proto;
pub use switchboard_proto::{CloseCode, CloseFrame, Message, Utf8Bytes};
