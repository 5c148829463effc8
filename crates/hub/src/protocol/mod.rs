//! The wire protocol of the hub, subprotocol `switchboard.v1.json`: one JSON object per
//! WebSocket text frame.
//!
//! - The client sends [`Command`]s: `{"id": 1, "method": "subscribe", "params": {...}}`.
//! - The server answers each with a [`Reply`] carrying the same id: `{"id": 1, "result": ...}`
//!   or `{"id": 1, "error": {"code": 103, "message": "permission denied"}}` ([`ErrorCode`]).
//! - The server also sends [`Push`]es: publications, joins and leaves, and a `disconnect`
//!   ([`DisconnectCode`]) before it closes the connection.
//!
//! [`decode_command`] is the only parser of client input; it never panics and turns every
//! bad frame into the error reply it deserves.

mod code;
mod command;
mod push;
mod reply;

pub use code::{DisconnectCode, ErrorCode};
pub use command::{
    decode_command, ChannelParams, Command, ConnectParams, DecodeError, HistoryParams,
    PublishParams, Request, SubscribeParams, MAX_CONNECT_INFO_LEN,
};
pub use push::{encode_publication, payload_value, Push};
pub use reply::{ErrorReply, PublicationData, Reply, ReplyResult};

/// The WebSocket subprotocol name a client offers to speak this protocol.
pub const SUBPROTOCOL: &str = "switchboard.v1.json";
