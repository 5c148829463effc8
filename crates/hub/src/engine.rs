//! What the engine seams ([`Broker`](crate::broker::Broker),
//! [`History`](crate::history::History), [`Presence`](crate::presence::Presence)) have in
//! common.
//!
//! # Why the seams are shaped this way
//!
//! The in-memory engine is the default and runs on one node; the Redis engine
//! ([`crate::redis`]) lets many nodes share channels. Both implement the same traits, so the
//! traits follow what Redis needs rather than what memory allows:
//!
//! - **Methods take `&self`.** A Redis client is shared by every connection; the memory
//!   engine keeps its state behind a lock. The hub holds one `Arc<dyn History>`.
//! - **Every method can fail** with [`EngineError`]. Memory never does; Redis can be down,
//!   and then a publish fails loudly instead of being lost.
//! - **Inputs and outputs are owned values**, never borrows into the store, iterators or
//!   callbacks, and **methods are `async`**: a Redis round trip awaits, the memory engine
//!   answers at once.
//! - **Time is passed in** (`now`), as in the protocol core: the memory engine expires
//!   entries against it and tests move it; Redis uses its own clock (`TIME` in its scripts),
//!   so that every node agrees, and ignores it.

use std::fmt;

/// What `/health` and `/metrics` say about the engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineStatus {
    /// `memory` or `redis`.
    pub engine: &'static str,
    /// Whether every part of the engine answers now.
    pub healthy: bool,
    /// What is wrong, when something is (for example, which Redis shard is unreachable).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// What the engine counted since the start, for `/metrics`.
    #[serde(skip)]
    pub counters: EngineCounters,
}

/// Engine events since the start; all zero for the memory engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Operations that failed (Redis unreachable, timed out, refused).
    pub errors: u64,
    /// Times a pub/sub connection was re-established after it was lost.
    pub reconnects: u64,
    /// Publications delivered from history because pub/sub had missed them.
    pub gaps_filled: u64,
    /// Times a channel's subscribers on this node were told to recover (4006).
    pub streams_lost: u64,
}

/// A storage engine could not do what was asked. The session reports it to the client as
/// [`ErrorCode::NOT_AVAILABLE`](crate::protocol::ErrorCode::NOT_AVAILABLE), without details:
/// what went wrong inside the engine is for the server's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine cannot be reached or refused the operation (for example, Redis is down).
    Unavailable {
        /// What happened, for the server's logs.
        reason: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { reason } => write!(f, "engine unavailable: {reason}"),
        }
    }
}

impl std::error::Error for EngineError {}
