//! Small networking helpers shared by the commands.

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Disables Nagle's algorithm: WebSocket messages are latency-sensitive and already batched
/// by the library's write coalescing.
pub(crate) fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Formats a listening address as a WebSocket URL.
pub(crate) fn ws_url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}")
}
