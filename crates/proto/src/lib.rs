//! Switchboard's sans-I/O WebSocket protocol core.
#![forbid(unsafe_code)]

pub mod close;
pub mod config;
pub mod entropy;
pub mod error;
pub mod extension;
pub mod handshake;
pub mod opcode;
pub mod role;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits};
pub use entropy::Entropy;
pub use error::{Error, HandshakeError, ProtocolError};
pub use opcode::OpCode;
pub use role::Role;
pub use utf8::{Utf8Bytes, Utf8Validator};
