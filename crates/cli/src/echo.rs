//! `switchboard echo`: a WebSocket echo server, the peer for conformance suites and benchmarks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use switchboard::proto::handshake::Accept;
use switchboard::server::tls::{self, TlsAcceptor};
use switchboard::{accept_with, MessageRef, Outbox, WebSocketConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::exit;
use crate::net::{tune, ws_url};

/// Options of `switchboard echo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Refuse permessage-deflate (it is accepted when a client offers it).
    #[arg(long)]
    no_deflate: bool,
    /// Largest message accepted, in bytes (and largest frame).
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
    /// Serve wss:// with this PEM certificate chain (server certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS #8, PKCS #1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Echo raw TCP instead of WebSocket: every byte goes back as it came. The baseline that
    /// `switchboard bench --raw-tcp` measures, to show what the load generator can drive.
    #[arg(long, conflicts_with_all = ["tls_cert", "no_deflate"])]
    raw_tcp: bool,
    /// Worker threads of the server's runtime [default: one per core]. Benchmarks that pin the
    /// server to one core give it one thread, as they give every server they compare.
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// Runs `switchboard echo` on its own runtime, sized by `--threads`.
pub(crate) fn main(args: Args) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(usize::from(threads));
    }
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(e) => exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
    }
}

async fn run(args: Args) -> ExitCode {
    // Load the certificate before binding, so a bad file fails fast with its name.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls::acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(e) => return exit::fail(exit::FAILURE, e),
        },
        _ => None,
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            return exit::fail(
                exit::FAILURE,
                format!("cannot listen on {}: {e}", args.listen),
            )
        }
    };
    let local = listener.local_addr().unwrap_or(args.listen);
    if args.raw_tcp {
        println!("switchboard echo: listening on tcp://{local}");
        return raw_tcp(listener).await;
    }
    let mut config = WebSocketConfig::default();
    if args.no_deflate {
        config.compression = None;
    }
    config.protocol.limits.max_message_size = args.max_message_size;
    config.protocol.limits.max_frame_size = args.max_message_size;
    // Shared by every connection, rather than a copy in each connection's task.
    let config = Arc::new(config);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("switchboard echo: listening on {}", ws_url(scheme, local));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (config, tls) = (Arc::clone(&config), tls.clone());
                    tokio::spawn(serve(stream, peer, config, tls));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    debug!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => return ExitCode::from(exit::OK),
        }
    }
}

/// The raw TCP echo: one task per connection copying what it reads back to the sender.
async fn raw_tcp(listener: TcpListener) -> ExitCode {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((mut stream, peer)) => {
                    tune(&stream);
                    tokio::spawn(async move {
                        let (mut reader, mut writer) = stream.split();
                        if let Err(e) = tokio::io::copy(&mut reader, &mut writer).await {
                            debug!(%peer, "raw TCP echo ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    debug!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => return ExitCode::from(exit::OK),
        }
    }
}

/// One connection's task. Its future is the connection's memory while it is idle, so it holds
/// only what a plain connection needs: the TLS path, whose stream alone is over a kilobyte, is
/// boxed, and only TLS connections allocate it.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<WebSocketConfig>,
    tls: Option<TlsAcceptor>,
) {
    tune(&stream);
    match tls {
        None => echo(stream, peer, &config).await,
        Some(tls) => Box::pin(serve_tls(stream, peer, &config, &tls)).await,
    }
}

async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    config: &WebSocketConfig,
    tls: &TlsAcceptor,
) {
    // The TLS handshake gets the same bound as the WebSocket one.
    match tls::accept(tls, stream, config.handshake_timeout).await {
        Ok(stream) => echo(stream, peer, config).await,
        Err(e) => debug!(%peer, "{e}"),
    }
}

async fn echo<S>(stream: S, peer: SocketAddr, config: &WebSocketConfig)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws = match accept_with(stream, config, |_| Ok(Accept::default())).await {
        Ok(ws) => ws,
        Err(e) => return debug!(%peer, "handshake failed: {e}"),
    };
    // Each message is lent from the read buffer and its echo queued straight from there; the
    // echoes of everything one read brought leave in one write.
    let echo = |message: MessageRef<'_>, outbox: &mut Outbox<'_>| {
        if message.is_data() {
            // Fails only once the connection is closing, which `recv_with` then reports.
            let _ = outbox.send(message);
        }
    };
    while let Some(received) = ws.recv_with(echo).await {
        if let Err(e) = received {
            return debug!(%peer, "connection failed: {e}");
        }
    }
}
