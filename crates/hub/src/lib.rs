//! The real-time hub behind `switchboard serve`: channels, presence, history and a JSON
//! protocol, as a pure domain core. Work in progress; the crate map grows with each module.
#![forbid(unsafe_code)]

pub mod channel;
pub mod engine;
pub mod history;
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
pub use presence::{ClientInfo, MemoryPresence, Presence, PresenceStats};
