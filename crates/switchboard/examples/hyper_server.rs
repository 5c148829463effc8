//! A hyper 1.x HTTP server that upgrades `/ws` to a WebSocket echo and answers every other
//! path with a plain page.
//!
//! ```text
//! cargo run -p switchboard --features hyper --example hyper_server -- 127.0.0.1:8080
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use switchboard::server::hyper::{upgrade, TokioIo, Upgrading};
use switchboard::server::{Acceptor, OriginPolicy};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let acceptor = Acceptor::new().origin_policy(OriginPolicy::SameOrigin);
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local} (WebSocket at ws://{local}/ws)");
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, acceptor.clone()));
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                // Without this, hyper never hands the connection over.
                .with_upgrades();
            if let Err(e) = connection.await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn handle(
    mut request: Request<Incoming>,
    acceptor: Acceptor,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        return Ok(Response::new(Full::from("Hello over plain HTTP.\n")));
    }
    match upgrade(&mut request, &acceptor) {
        Ok((response, upgrading)) => {
            // The handover happens after hyper sends this response: wait for it elsewhere.
            tokio::spawn(echo(upgrading));
            Ok(response)
        }
        // 400/405/426 for malformed requests, 403 for a refused Origin.
        Err(rejection) => Ok(rejection.into_response()),
    }
}

async fn echo(upgrading: Upgrading) {
    let mut ws = match upgrading.await {
        Ok(ws) => ws,
        Err(e) => return eprintln!("upgrade failed: {e}"),
    };
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}
