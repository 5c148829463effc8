//! The real-time hub behind `switchboard serve`: channels multiplexed over one WebSocket,
//! chat rooms, presence, and history with recovery after a reconnect.
//!
//! This crate is, so far, the hub's **pure domain core**: no sockets, no async runtime, no
//! clock and no global random generator. Time and randomness are passed in, as in
//! `switchboard-proto`, so every rule is tested with tables. One exception, for a reason:
//! [`JwtAuthenticator`]'s [`Authenticator`](permission::Authenticator) implementation reads
//! the wall clock, because a token's expiry is a calendar time; its `authenticate_at` takes
//! that clock as a parameter, and the tests use it.
//!
//! # Map
//!
//! ```text
//!  WebSocket text frame (subprotocol switchboard.v1.json)
//!        │
//!        ▼
//!  protocol::decode_command ─── bad frame ──▶ error Reply (and a disconnect if malformed)
//!        │ Command
//!        ▼
//!  session::Session::handle(command, ctx)     connect first, rate limit, permissions
//!        │ Vec<Action>                          (permission, rate_limit, channel::Namespaces;
//!        │                                      connect's token: jwt::JwtAuthenticator)
//!        ▼
//!  the hub runtime (NOT YET) executes the actions:
//!        ├─ Subscribe ─▶ history::History::since / position   (recovery: no gap, no duplicate)
//!        │               presence::Presence::add, a join push
//!        ├─ Publish ──▶ history::History::append  ─▶ offset + epoch
//!        │              protocol::encode_publication: encoded once, as Bytes
//!        │              broker (NOT YET) ─▶ every subscriber's outbox shares those bytes
//!        ├─ Presence / PresenceStats / History ─▶ a Reply built from the engine's answer
//!        └─ Reply / Disconnect ─▶ the connection
//! ```
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`channel`] | validated [`ChannelName`]s, namespaces and their [`NamespaceConfig`] |
//! | [`protocol`] | the JSON wire types: commands, replies, pushes, error and disconnect codes |
//! | [`session`] | the per-connection state machine: command in, actions out |
//! | [`permission`] | credentials, channel patterns from a token, who may subscribe and publish |
//! | [`jwt`] | [`JwtAuthenticator`]: connection tokens as JWTs (HS256, RS256, ES256) |
//! | [`rate_limit`] | the per-connection token bucket |
//! | [`history`] | the [`History`] seam; [`MemoryHistory`], streams with offsets and epochs |
//! | [`presence`] | the [`Presence`] seam; [`MemoryPresence`] |
//! | [`engine`] | why the seams take `&self`, return owned values and can fail |
//!
//! # Not built yet
//!
//! Stated plainly, so nobody goes looking:
//!
//! - **The hub runtime** (not yet): the sharded channel → subscribers map, the bounded
//!   per-client outbox that disconnects a slow client with
//!   [`DisconnectCode::SLOW`](protocol::DisconnectCode::SLOW), and the loop that executes
//!   [`Action`]s and turns engine answers into replies.
//! - **The broker** (not yet): the seam that fans publications, joins and leaves out to
//!   other nodes; memory first, then Redis. History, presence and the broker will have Redis
//!   engines; only the memory ones exist.
//! - **The transport** (not yet): serving the protocol on `switchboard` WebSockets.
//! - **The HTTP API and metrics** (not yet): publishing, disconnecting and presence from
//!   the application's backend.
//! - **`switchboard serve`** (not yet): the command in `switchboard-cli` that runs all this.
//!
//! # Example
//!
//! A session turns frames into actions; history assigns offsets; a publication is encoded
//! once for all its subscribers.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_hub::history::{History, HistoryOptions, MemoryHistory};
//! use switchboard_hub::permission::{AuthError, Authenticator, Credentials};
//! use switchboard_hub::protocol::encode_publication;
//! use switchboard_hub::session::{Action, Context, Session, SessionConfig};
//! use switchboard_hub::{NamespaceConfig, Namespaces};
//!
//! struct NoTokens;
//! impl Authenticator for NoTokens {
//!     fn authenticate(&self, _: &str, _: Instant) -> Result<Credentials, AuthError> {
//!         Err(AuthError::Invalid)
//!     }
//! }
//!
//! let now = Instant::now();
//! let chat = NamespaceConfig { allow_anonymous: true, allow_publish_by_clients: true,
//!                              history_size: 100, ..NamespaceConfig::default() };
//! let namespaces = Namespaces::default().with("chat", chat);
//! let ctx = Context { now, namespaces: &namespaces, authenticator: &NoTokens };
//!
//! let mut session = Session::new("client-1", SessionConfig::default(), now);
//! session.handle_frame(br#"{"id":1,"method":"connect"}"#, &ctx);
//! let actions = session.handle_frame(
//!     br#"{"id":2,"method":"publish","params":{"channel":"chat:lobby","data":{"text":"hi"}}}"#,
//!     &ctx,
//! );
//! let Action::Publish { channel, data, client, options, .. } = &actions[0] else { panic!() };
//!
//! // What the hub will do with it:
//! let history = MemoryHistory::new(0x5eed, Duration::from_secs(300));
//! let position = history.append(channel, data.clone(), Some(client.clone()), options.history, now)?;
//! let slice = history.top(channel, 1, now)?;
//! let frame = encode_publication(channel, &slice.publications[0]);
//! assert_eq!(position.offset, 1);
//! assert!(frame.starts_with(br#"{"push":"publication","channel":"chat:lobby","offset":1,"data":{"text":"hi"}"#));
//! # Ok::<(), switchboard_hub::EngineError>(())
//! ```
#![forbid(unsafe_code)]

pub mod channel;
pub mod engine;
pub mod history;
pub mod jwt;
pub mod permission;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod session;

pub use channel::{ChannelName, ChannelNameError, NamespaceConfig, NamespaceError, Namespaces};
pub use engine::EngineError;
pub use history::{
    History, HistoryOptions, HistorySlice, MemoryHistory, Publication, Recovery, StreamPosition,
};
pub use jwt::{JwtAuthenticator, JwtConfig, JwtConfigError};
pub use presence::{ClientInfo, MemoryPresence, Presence, PresenceStats};
pub use session::{Action, Context, Session, SessionConfig};
