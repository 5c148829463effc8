//! Switchboard's sans-I/O WebSocket protocol core.
#![forbid(unsafe_code)]

pub mod close;
pub mod config;
pub mod connection;
pub mod entropy;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod opcode;
pub mod role;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits};
pub use connection::{Connection, Outgoing, State};
pub use entropy::Entropy;
pub use error::{Error, HandshakeError, ProtocolError};
pub use message::Message;
pub use opcode::OpCode;
pub use role::Role;
pub use utf8::{Utf8Bytes, Utf8Validator};
