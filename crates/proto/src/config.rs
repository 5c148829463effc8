//! Limits and connection settings. Every limit is on by default, and each default says why.

use std::time::Duration;

/// Bounds on what a peer can make us buffer or do. All are on by default.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame, in bytes. Default 16 MiB.
    ///
    /// Checked on the frame header, before any payload is buffered, so a peer that announces a
    /// huge frame fails with 1009 at once. 16 MiB fits file-chunk uploads and the largest
    /// single-frame messages of the Autobahn suite; lower it for chat-sized traffic.
    pub max_frame_size: usize,
    /// Largest message, in bytes, after reassembly and after decompression. Default 16 MiB.
    ///
    /// This is the memory one connection can pin with one message, and it is also the cap on
    /// inflated output, so a compression bomb fails with 1009 instead of exhausting memory.
    pub max_message_size: usize,
    /// Most frames in one message. Default 131 072.
    ///
    /// Without it a peer could keep a message open forever with empty continuation frames.
    /// The default lets a 4 MiB message arrive in 64-byte fragments (as Autobahn 9.3.1 sends it)
    /// while still ending any endless message.
    pub max_fragments: usize,
    /// Largest opening-handshake head (request or response line plus headers). Default 16 KiB.
    ///
    /// Browsers send well under 4 KiB even with cookies; 16 KiB leaves room for large cookies
    /// and tokens while bounding what an unauthenticated peer can make us buffer.
    pub max_head_size: usize,
    /// Most header fields in the handshake head. Default 64.
    pub max_headers: usize,
    /// Longest line in the handshake head, in bytes. Default 8 KiB, as common HTTP servers use.
    pub max_line_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_fragments: 1 << 17,
            max_head_size: 16 << 10,
            max_headers: 64,
            max_line_length: 8 << 10,
        }
    }
}

impl Limits {
    /// No practical limits on frames and messages (`usize::MAX`), for trusted peers and test
    /// rigs. Handshake limits keep their defaults.
    pub fn unlimited_messages() -> Self {
        Self {
            max_frame_size: usize::MAX,
            max_message_size: usize::MAX,
            max_fragments: usize::MAX,
            ..Self::default()
        }
    }
}

/// Settings of one connection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Size limits.
    pub limits: Limits,
    /// Answer every ping with a pong carrying the same payload (RFC 6455 5.5.2 says we MUST
    /// answer). Default true. Turn it off only to answer pings yourself with
    /// [`Connection::pong`](crate::Connection::pong).
    pub auto_pong: bool,
    /// Send a ping this often, to keep intermediaries from dropping an idle connection and to
    /// detect a dead peer. Default 20 s, under the 30-60 s idle timeouts common in load
    /// balancers. `None` disables keepalive pings.
    ///
    /// Each ping is also when the connection frees send buffers that large messages grew
    /// (see [`Connection::handle_timeout`](crate::Connection::handle_timeout)); with pings
    /// off, they are kept for the next large message.
    pub ping_interval: Option<Duration>,
    /// Fail the connection with 1011 if a keepalive ping gets no pong within this long. Default
    /// 20 s. `None` waits forever.
    pub ping_timeout: Option<Duration>,
    /// How long to wait for the peer's close frame after sending ours, and (as a client) for the
    /// server to close TCP after the closing handshake. Default 10 s. The tokio layer also gives
    /// the bytes still queued when a connection ends this long to be written.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            auto_pong: true,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Some(Duration::from_secs(20)),
            close_timeout: Duration::from_secs(10),
        }
    }
}
