//! A WebSocket echo server over TLS (`wss://`), from a PEM certificate chain and key.
//!
//! ```text
//! cargo run -p switchboard --example tls_echo_server -- cert.pem key.pem 127.0.0.1:9443
//! ```
//!
//! For a quick local test, make a self-signed pair with
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7
//! -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out cert.pem`.

use switchboard::server::{tls, Acceptor};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(cert), Some(key)) = (args.next(), args.next()) else {
        return Err("usage: tls_echo_server CERT.pem KEY.pem [ADDRESS]".into());
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9443".into());
    // Fails with a message naming the file if either is missing or unusable.
    let tls = tls::acceptor(&cert, &key)?;
    let acceptor = Acceptor::new();
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on wss://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (tls, acceptor) = (tls.clone(), acceptor.clone());
        tokio::spawn(async move {
            // The TLS handshake gets the same bound as the WebSocket one.
            let timeout = acceptor.websocket_config().handshake_timeout;
            let stream = match tls::accept(&tls, tcp, timeout).await {
                Ok(stream) => stream,
                Err(e) => return eprintln!("{peer}: {e}"),
            };
            let mut ws = match acceptor.accept(stream).await {
                Ok(ws) => ws,
                Err(e) => return eprintln!("{peer}: WebSocket handshake failed: {e}"),
            };
            while let Some(Ok(message)) = ws.recv().await {
                if message.is_data() && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}
