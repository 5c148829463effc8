//! Exit codes that scripts can rely on.

use std::process::ExitCode;

/// A normal close, or a server that shut down cleanly.
pub(crate) const OK: u8 = 0;
/// Anything else that went wrong (bad arguments are clap's 2).
pub(crate) const FAILURE: u8 = 1;
/// The TCP connection (or TLS, or proxy) could not be made.
pub(crate) const CONNECT_FAILED: u8 = 3;
/// The server refused the WebSocket handshake (the HTTP status is printed).
pub(crate) const HANDSHAKE_REJECTED: u8 = 4;
/// The connection ended abnormally or with an error close code (printed).
pub(crate) const ABNORMAL_CLOSE: u8 = 5;

/// Prints a one-line error and returns `code`.
pub(crate) fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("switchboard: {message}");
    ExitCode::from(code)
}
