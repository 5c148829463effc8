//! wss:// and https:// for the hub: a listener that completes TLS handshakes before axum
//! sees the connections.
//!
//! Handshakes run in tasks of their own, each bounded in time, so a client that stalls
//! mid-handshake holds neither the accept loop nor anyone else's connection.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard::server::tls::{self, TlsAcceptor};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes finished but not yet taken by the server; beyond this the accept task waits,
/// and new TCP connections wait in the kernel's backlog.
const READY_QUEUE: usize = 1024;

/// A listener whose connections have completed their TLS handshake.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, remote) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait, as axum does.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tls::accept(&acceptor, tcp, HANDSHAKE_TIMEOUT).await {
                        Ok(stream) => {
                            let _ = sender.send((stream, remote)).await;
                        }
                        Err(error) => tracing::debug!(%remote, %error, "TLS handshake failed"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local_addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task never ends on its own; if it is gone, nothing will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
