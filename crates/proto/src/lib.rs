//! Switchboard's sans-I/O WebSocket protocol core: RFC 6455 and RFC 7692 (permessage-deflate)
//! as pure state machines. Bytes in, messages and bytes out; no sockets, no async runtime, no
//! clock and no global random generator (time and randomness are passed in).
//!
//! # Map
//!
//! ```text
//!  transport bytes ──> handshake::{ServerHandshake, ClientHandshake}   (section 4)
//!                          │  the head is parsed from the same buffer the frames follow in,
//!                          │  so no byte is lost at the hand-off
//!                          ▼
//!                      Connection ── receive_bytes / read_buffer + receive_buffered
//!                          │   frame::FrameHeader  (5.2)   mask (5.3)   utf8 (8.1)
//!                          │   extension::Extension  (RSV bits, per-message transform)
//!                          │     └─ extension::deflate  (RFC 7692)
//!                          │   close::CloseFrame (5.5.1, 7.4)   keepalive deadlines (5.5.2)
//!                          ▼
//!                      poll_event ──> Message      poll_transmit ──> Outgoing (bytes::Buf)
//!                      poll_timeout ──> Instant    handle_timeout(now)
//!                      or receive_buffered_with ──> f(MessageRef, &mut Outbox)
//! ```
//!
//! - [`handshake`]: the opening handshake in both roles, with bounded head parsing.
//! - [`Connection`]: framing, fragmentation, control frames, the closing handshake and
//!   keepalive after the handshake; see its module for the `receive_*` / verbs / `poll_*`
//!   method taxonomy.
//! - Messages can also be lent instead of handed over:
//!   [`Connection::receive_buffered_with`] passes each to a callback as a [`MessageRef`],
//!   straight from the read buffer when it arrived in one uncompressed frame under 16 KiB,
//!   with an [`Outbox`] for replies. That path takes no allocation, reference count or copy
//!   per message.
//! - [`extension`]: the extension seam and [`extension::deflate`].
//! - [`Config`] and [`Limits`]: every limit is on by default, each default explained.
//! - [`Error`], [`ProtocolError`], [`HandshakeError`]: typed errors that know their close
//!   code or HTTP status. A normal close is not an error.
//!
//! # Example
//!
//! A client and a server connection talking through memory instead of a socket:
//!
//! ```
//! use std::time::Instant;
//! use bytes::Buf;
//! use switchboard_proto::{CloseCode, Config, Connection, Message};
//!
//! let now = Instant::now();
//! // Clients mask their frames with keys from an entropy source you choose (use a CSPRNG).
//! let mut client = Connection::client(Config::default(), now, |buf: &mut [u8]| buf.fill(7));
//! let mut server = Connection::server(Config::default(), now);
//!
//! // Move whatever `from` wants to write into `to`.
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     while let Some(mut out) = from.poll_transmit() {
//!         while out.has_remaining() {
//!             let n = out.chunk().len();
//!             to.receive_bytes(now, out.chunk());
//!             out.advance(n);
//!         }
//!         // Optional: the written batch's chunk list serves the next one.
//!         from.reuse(out);
//!     }
//! }
//!
//! client.send(Message::text("hello"))?;
//! pump(&mut client, &mut server, now);
//! assert_eq!(server.poll_event()?, Some(Message::text("hello")));
//!
//! // The closing handshake: the server echoes the close frame.
//! client.close(now, CloseCode::NORMAL_CLOSURE, "bye")?;
//! pump(&mut client, &mut server, now);
//! assert!(matches!(server.poll_event()?, Some(Message::Close(Some(_)))));
//! pump(&mut server, &mut client, now);
//! assert!(matches!(client.poll_event()?, Some(Message::Close(Some(_)))));
//! assert!(server.wants_transport_close()); // RFC 6455 7.1.1: the server closes TCP first
//! # Ok::<(), switchboard_proto::Error>(())
//! ```
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
pub use connection::{Connection, Outbox, Outgoing, State};
pub use entropy::Entropy;
pub use error::{Error, HandshakeError, ProtocolError};
pub use message::{Message, MessageRef};
pub use opcode::OpCode;
pub use role::Role;
pub use utf8::{Utf8Bytes, Utf8Ref, Utf8Validator};
