//! Settings for a connection: the protocol core's limits and timers plus the I/O layer's own.

use std::time::Duration;

use switchboard_proto::extension::deflate::DeflateConfig;
use switchboard_proto::{Config, Limits};

/// Settings for one WebSocket connection, client or server.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// The protocol core's settings: size limits, auto-pong, keepalive interval and timeout
    /// (20 s / 20 s), close timeout (10 s). See [`Config`] for each default and why.
    pub protocol: Config,
    /// permessage-deflate (RFC 7692): offered by clients and accepted by servers by default;
    /// `None` turns it off.
    pub compression: Option<DeflateConfig>,
    /// Backpressure high-water mark, in bytes. Default 128 KiB.
    ///
    /// `Sink::poll_ready` (and so `send`) waits while more than this is queued and not yet
    /// written, so a fast producer cannot grow memory without bound when the peer reads
    /// slowly. One message may overshoot it: a message is queued whole.
    pub write_buffer_size: usize,
    /// Largest room, in bytes, the read buffer makes for a read. Default 64 KiB. Reads start
    /// small (4 KiB) and grow while the transport keeps filling them, so idle connections stay
    /// cheap. A read takes all the room the buffer has, which can be more than this: up to
    /// four times as much while frames about as large as a read arrive back to back (so that
    /// the one cut off at the end of a read is not moved every time), and what a frame larger
    /// than a read needs while it accumulates.
    pub max_read_size: usize,
    /// How long the opening handshake (the HTTP upgrade exchange) may take. Default 10 s.
    ///
    /// A client's DNS, TCP, proxy and TLS steps come before it and have their own bound,
    /// [`ClientBuilder::connect_timeout`](crate::ClientBuilder::connect_timeout).
    pub handshake_timeout: Duration,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            protocol: Config::default(),
            compression: Some(DeflateConfig::default()),
            write_buffer_size: 128 << 10,
            max_read_size: 64 << 10,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl WebSocketConfig {
    /// Sets the size limits (builder style).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.protocol.limits = limits;
        self
    }

    /// Sets the keepalive ping interval and pong timeout; `None` turns either off.
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Option<Duration>) -> Self {
        self.protocol.ping_interval = interval;
        self.protocol.ping_timeout = timeout;
        self
    }

    /// Turns permessage-deflate on (with these settings) or off.
    pub fn compression(mut self, compression: Option<DeflateConfig>) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the backpressure high-water mark.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }
}
