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

/// The scheme of a `ws://` or `wss://` URL, as `"ws"` or `"wss"` whatever its case; `None` for
/// any other URL. The rest of the URL is the client builder's to check.
pub(crate) fn websocket_scheme(url: &str) -> Option<&'static str> {
    let (scheme, _) = url.split_once("://")?;
    ["ws", "wss"]
        .into_iter()
        .find(|known| scheme.eq_ignore_ascii_case(known))
}

/// The error for a URL that is not `ws://` or `wss://`.
pub(crate) fn not_a_websocket_url(url: &str) -> String {
    format!("{url}: expected a ws:// or wss:// URL")
}
