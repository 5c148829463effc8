//! An axum 0.8 app with a WebSocket echo route beside a plain page.
//!
//! ```text
//! cargo run -p switchboard --features axum --example axum_server -- 127.0.0.1:8080
//! ```

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use switchboard::server::axum::WebSocketUpgrade;
use switchboard::server::hyper::HyperWebSocket;
use switchboard::server::{Acceptor, OriginPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    // Settings shared by every WebSocket route, kept in the app's state.
    let acceptor = Acceptor::new()
        .origin_policy(OriginPolicy::SameOrigin)
        .protocols(["echo"]);
    let app = Router::new()
        .route(
            "/",
            get(|| async { "Hello from axum; the echo is at /ws.\n" }),
        )
        .route("/ws", get(ws))
        .with_state(acceptor);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local} (WebSocket at ws://{local}/ws)");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Non-upgrade requests are refused by the extractor (426); a refused Origin gets 403.
async fn ws(State(acceptor): State<Acceptor>, ws: WebSocketUpgrade) -> Response {
    ws.acceptor(&acceptor).on_upgrade(echo)
}

async fn echo(mut ws: HyperWebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}
