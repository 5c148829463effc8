//! What the storage seams ([`History`](crate::history::History),
//! [`Presence`](crate::presence::Presence), and the broker to come) have in common.
//!
//! # Why the seams are shaped this way
//!
//! The in-memory engine is the default and runs on one node; a Redis engine will let many
//! nodes share channels. Both implement the same traits, so the traits follow what Redis
//! needs rather than what memory allows:
//!
//! - **Methods take `&self`.** A Redis client is shared by every connection; the memory
//!   engine keeps its state behind a lock. The hub holds one `Arc<dyn History>`.
//! - **Every method can fail** with [`EngineError`]. Memory never does; Redis can be down.
//! - **Inputs and outputs are owned values**, never borrows into the store, iterators or
//!   callbacks. That is what makes the later step to `async fn` (for a Redis round trip)
//!   mechanical: the same signatures with `async` in front, and the memory engine answering
//!   at once. The traits are synchronous today because nothing async exists yet and the
//!   core stays free of any runtime.
//! - **Time is passed in** (`now`), as in the protocol core: the memory engine expires
//!   entries against it and tests move it; Redis will use its own key expiry and ignore it.

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
