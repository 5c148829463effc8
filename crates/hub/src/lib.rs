//! The real-time hub behind `switchboard serve`: channels, presence, history and a JSON
//! protocol, as a pure domain core. Work in progress; the crate map grows with each module.
#![forbid(unsafe_code)]

pub mod channel;

pub use channel::{ChannelName, ChannelNameError, NamespaceConfig, NamespaceError, Namespaces};
