//! Name resolution and TCP connection: every address of a host, in the resolver's order.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// The least time one address gets when several share a deadline, so that a slow but
/// working first address is not cut short just because more addresses follow.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// Resolves `host` (a name, or an IP address without brackets) to its first address.
pub(crate) async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    addresses(host, port)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| no_address(host))
}

/// Connects to `host:port`, trying each resolved address (IPv6 and IPv4, in the order the
/// resolver returns them) until one accepts, and returns the last error if none does.
///
/// With a `deadline`, the time left is shared among the addresses not yet tried (each gets
/// at least [`MIN_ATTEMPT`]), so that an unreachable first address does not use up the
/// whole connect timeout. Without one, each attempt takes as long as the OS allows and the
/// caller bounds the total.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    deadline: Option<Instant>,
) -> io::Result<TcpStream> {
    let addresses = addresses(host, port).await?;
    let mut last_error = no_address(host);
    let count = addresses.len();
    for (i, address) in addresses.into_iter().enumerate() {
        let attempt = TcpStream::connect(address);
        let result = match deadline {
            None => attempt.await,
            Some(deadline) => {
                let left = u32::try_from(count - i).unwrap_or(u32::MAX);
                let remaining = deadline.saturating_duration_since(Instant::now());
                let share = (remaining / left).max(MIN_ATTEMPT.min(remaining));
                match tokio::time::timeout(share, attempt).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connecting to {address} timed out"),
                    )),
                }
            }
        };
        match result {
            Ok(stream) => {
                // WebSocket messages are latency-sensitive and the library already coalesces
                // its writes: Nagle's algorithm would only add delay.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => {
                tracing::debug!(%address, "connect failed: {error}");
                last_error = error;
            }
        }
    }
    Err(last_error)
}

async fn addresses(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    // An IP literal needs no resolver (and must not go to one).
    if let Ok(ip) = host.parse() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

fn no_address(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolved to no address"),
    )
}
