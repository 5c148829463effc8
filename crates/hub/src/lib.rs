//! The real-time hub behind `switchboard serve`: channels multiplexed over one WebSocket,
//! plain chat rooms for any WebSocket client, presence, history with recovery after a
//! reconnect, JWT auth, an HTTP API for backends, and metrics.
//!
//! The crate has two layers. The **domain core** (`channel`, `protocol`, `session`,
//! `permission`, `rate_limit`, `history`, `presence`) is pure: no sockets, no clock, no
//! global random generator; time is passed in, so every rule is tested with tables. The
//! **runtime** (`broker`, `node`, `server`, `config`, `jwt`, `redis`) runs it on tokio and
//! `switchboard` WebSockets. One exception in the core, for a reason: [`JwtAuthenticator`]'s
//! [`Authenticator`](permission::Authenticator) implementation reads the wall clock, because
//! a token's expiry is a calendar time; its `authenticate_at` takes that clock as a
//! parameter, and the tests use it.
//!
//! The engines (broker, history, presence) are the in-memory ones by default, one node; on
//! [`redis`] many nodes share channels, history and presence and act as one hub.
//!
//! # Map
//!
//! ```text
//!  /ws (switchboard.v1.json)            /ws/{channel} (plain room)       POST /api/{method}
//!        │                                     │                                │
//!        ▼                                     ▼                                ▼
//!  node: a task per connection: Session ──▶ Actions ─────────────────▶ Node::publish, ...
//!        │                                                                       │
//!        ├─ subscribe ─▶ Fanout::add, History::since/position (no gap, no duplicate)
//!        ├─ publish ──▶ Broker::publish: History append + delivery, in offset order
//!        │                     │
//!        │                     ▼  Arc<Delivery>: the push encoded once
//!        │              Fanout::deliver ─▶ each subscriber's bounded Outbox
//!        ▼                                        │ (full: disconnect 4004, never wait)
//!  replies and deliveries ◀───────────────────────┘
//! ```
//!
//! The session (connect first, rate limit, permissions) turns each command into actions,
//! which the connection's task carries out against the engines. With the Redis engine,
//! `Broker::publish` stores and sends through Redis, and every node's pub/sub task hands
//! what arrives to its own `Fanout` (see [`redis`]).
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
//! | [`broker`] | the [`Broker`](broker::Broker) seam: publish and deliver in order |
//! | [`redis`] | the Redis engine: many nodes as one hub |
//! | [`engine`] | why the seams take `&self`, return owned values, are async and can fail |
//! | [`node`] | the runtime: connections, fan-out, outboxes, metrics |
//! | [`server`] | the HTTP routes, connection limits, graceful shutdown |
//! | [`config`] | `switchboard serve`'s configuration: file, environment, defaults |
//!
//! The wire protocol is specified for client authors in `docs/protocol.md`.
//!
//! # Example
//!
//! A hub on its defaults, and a plain WebSocket client chatting in a room:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchboard::Message;
//! use switchboard_hub::config::ServeConfig;
//! use switchboard_hub::node::Node;
//! use switchboard_hub::server::Server;
//!
//! let config = ServeConfig { listen: "127.0.0.1:0".parse()?, ..ServeConfig::default() };
//! let node = Node::memory(config.node_config(), Arc::new(switchboard_hub::jwt::NoTokens));
//! let server = Server::bind(&config, node).await?;
//! let addr = server.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(server.run(async { let _ = stopped.await; }));
//!
//! let (mut ws, _) = switchboard::connect(&format!("ws://{addr}/ws/lobby")).await?;
//! ws.send(Message::text("hello, room")).await?;
//! // Everyone in the room gets it, the sender too, exactly as sent.
//! assert_eq!(ws.recv().await.unwrap()?, Message::text("hello, room"));
//!
//! // A graceful shutdown tells clients to go elsewhere: close 1001, "going away".
//! let _ = stop.send(());
//! let close = ws.recv().await.unwrap()?;
//! assert!(matches!(close, Message::Close(Some(frame)) if frame.code.0 == 1001));
//! running.await??;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod broker;
pub mod channel;
pub mod config;
pub mod engine;
pub mod history;
pub mod jwt;
pub mod node;
pub mod permission;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod redis;
pub mod server;
pub mod session;

pub use channel::{ChannelName, ChannelNameError, NamespaceConfig, NamespaceError, Namespaces};
pub use engine::{EngineCounters, EngineError, EngineStatus};
pub use history::{
    History, HistoryOptions, HistorySlice, MemoryHistory, Payload, Publication, Recovery,
    StreamPosition,
};
pub use jwt::{JwtAuthenticator, JwtConfig, JwtConfigError};
pub use presence::{ClientInfo, MemoryPresence, Presence, PresenceStats};
pub use session::{Action, Context, Session, SessionConfig};
