//! Opening the benchmark's connections: TCP (from a spread of loopback source addresses when
//! the target is on loopback), then the WebSocket handshake.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use http::Uri;
use switchboard::proto::handshake::ClientOptions;
use switchboard::{client_handshake, ClientBuilder, MaybeTlsStream, WebSocketConfig};
use tokio::net::{TcpSocket, TcpStream};

use super::echo::CountedWs;
use super::wire::Counted;

/// How long the TCP connect may take; the WebSocket handshake has its own bound in the config.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `errno` for "too many open files" on Linux and the BSDs (macOS included).
const EMFILE: i32 = 24;

/// What the benchmark talks to.
#[derive(Debug)]
pub(crate) enum Target {
    /// A `ws://` server: we connect TCP ourselves (to choose the source address) and run the
    /// handshake over it.
    Ws {
        url: String,
        uri: Uri,
        addr: SocketAddr,
    },
    /// A `wss://` server: the library's client does TCP, TLS and the handshake.
    Wss {
        url: String,
        builder: Box<ClientBuilder>,
    },
    /// A raw TCP echo, for calibration.
    RawTcp { addr: SocketAddr },
}

impl Target {
    /// Parses and resolves the target once, so name lookups are not part of what is measured.
    pub(crate) async fn resolve(
        url: Option<&str>,
        raw_tcp: Option<&str>,
        config: &WebSocketConfig,
        insecure: bool,
    ) -> Result<Self, String> {
        if let Some(addr) = raw_tcp {
            return Ok(Target::RawTcp {
                addr: lookup(addr).await?,
            });
        }
        let url = url.ok_or("give a ws:// or wss:// URL, or --raw-tcp HOST:PORT")?;
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        match uri.scheme_str() {
            Some("ws") => {
                // `host()` keeps an IPv6 literal's brackets, which the resolver wants.
                let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
                let port = uri.port_u16().unwrap_or(80);
                let addr = lookup(&format!("{host}:{port}")).await?;
                Ok(Target::Ws {
                    url: url.to_owned(),
                    uri,
                    addr,
                })
            }
            Some("wss") => {
                let mut builder = ClientBuilder::new(url).config(config.clone()).no_proxy();
                if insecure {
                    builder = builder.danger_accept_invalid_certs();
                }
                builder.check().map_err(|e| e.to_string())?;
                Ok(Target::Wss {
                    url: url.to_owned(),
                    builder: Box::new(builder),
                })
            }
            _ => Err(crate::net::not_a_websocket_url(url)),
        }
    }

    /// How the target is shown in the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Ws { url, .. } | Target::Wss { url, .. } => url.clone(),
            Target::RawTcp { addr } => format!("tcp://{addr}"),
        }
    }

    /// Whether this is the raw TCP calibration target.
    pub(crate) fn is_raw_tcp(&self) -> bool {
        matches!(self, Target::RawTcp { .. })
    }

    /// Opens connection number `index` over TCP only (raw TCP mode).
    pub(crate) async fn dial_tcp(&self, index: usize) -> Result<TcpStream, String> {
        match self {
            Target::Ws { addr, .. } | Target::RawTcp { addr } => {
                tcp(*addr, index).await.map_err(|e| describe_io(&e))
            }
            Target::Wss { .. } => Err("raw TCP to a wss:// target".into()),
        }
    }

    /// Opens connection number `index` and runs the WebSocket handshake, counting the bytes
    /// on the wire from the first one.
    pub(crate) async fn dial_ws(
        &self,
        index: usize,
        config: &WebSocketConfig,
    ) -> Result<CountedWs, String> {
        match self {
            Target::Ws { uri, addr, .. } => {
                let stream = tcp(*addr, index).await.map_err(|e| describe_io(&e))?;
                let stream = Counted::new(MaybeTlsStream::Plain(stream));
                let (ws, _response) =
                    client_handshake(stream, uri, ClientOptions::default(), config)
                        .await
                        .map_err(|e| describe_ws(&e))?;
                Ok(ws)
            }
            Target::Wss { builder, .. } => builder
                .connect_wrapped(Counted::new)
                .await
                .map(|(ws, _)| ws)
                .map_err(|e| describe_ws(&e)),
            Target::RawTcp { .. } => Err("a WebSocket handshake with a raw TCP target".into()),
        }
    }
}

async fn lookup(host_port: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host_port} resolves to no address"))
}

/// The source address for connection `index` to `target`: when the target is on IPv4
/// loopback, each connection gets its own address in 127.0.0.0/8 (127.0.0.1, 127.0.0.2, ...,
/// 127.255.255.254), so the ~28,000 ephemeral ports of one source address never run out.
pub(crate) fn source_for(index: usize, target: SocketAddr) -> Option<SocketAddr> {
    let IpAddr::V4(ip) = target.ip() else {
        return None;
    };
    if !ip.is_loopback() {
        return None;
    }
    // 2^24 - 2 usable host addresses: skip 127.0.0.0 and 127.255.255.255.
    const HOSTS: u32 = (1 << 24) - 2;
    let offset = u32::try_from(index % HOSTS as usize).unwrap_or(0);
    let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + offset);
    Some(SocketAddr::new(IpAddr::V4(source), 0))
}

async fn tcp(addr: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(source) = source_for(index, addr) {
        socket.bind(source)?;
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP connect timed out"))??;
    crate::net::tune(&stream);
    Ok(stream)
}

/// Whether `message` (from [`describe_io`]) says the process ran out of file descriptors.
pub(crate) fn is_out_of_files(message: &str) -> bool {
    message.contains("(EMFILE)")
}

fn describe_io(error: &io::Error) -> String {
    if error.raw_os_error() == Some(EMFILE) {
        format!("{error} (EMFILE)")
    } else {
        error.to_string()
    }
}

fn describe_ws(error: &switchboard::Error) -> String {
    match error {
        switchboard::Error::Io(io) => describe_io(io),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_get_one_source_address_per_connection() {
        let target: SocketAddr = "127.0.0.1:9001".parse().unwrap_or_else(|_| unreachable!());
        let source = |i| source_for(i, target).map(|s| s.ip().to_string());
        assert_eq!(source(0).as_deref(), Some("127.0.0.1"));
        assert_eq!(source(1).as_deref(), Some("127.0.0.2"));
        assert_eq!(source(254).as_deref(), Some("127.0.0.255"));
        assert_eq!(source(255).as_deref(), Some("127.0.1.0"));
        assert_eq!(source((1 << 24) - 3).as_deref(), Some("127.255.255.254"));
        assert_eq!(source((1 << 24) - 2).as_deref(), Some("127.0.0.1"));
        let remote: SocketAddr = "192.0.2.1:80".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(source_for(7, remote), None);
    }
}
