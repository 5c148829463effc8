//! Which end of the connection we are.

/// The endpoint's role, which decides masking (RFC 6455 5.1) and who closes TCP first (7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that sent the opening handshake request. It masks every frame it sends.
    Client,
    /// The endpoint that answered the opening handshake. It never masks.
    Server,
}

impl Role {
    /// Whether frames this endpoint sends are masked.
    pub fn masks_outgoing(self) -> bool {
        self == Role::Client
    }
}
