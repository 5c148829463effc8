//! A client that stays connected: it reconnects with backoff after drops, resubscribes in
//! `on_open`, and keeps messages sent while disconnected in a bounded queue. The callback API
//! has the shape of the browser's WebSocket and Python's `websocket-client`.
//!
//! Run a server, then the client, then stop and restart the server to watch it reconnect:
//!
//! ```text
//! cargo run -p switchboard-cli -- echo --listen 127.0.0.1:9001
//! cargo run -p switchboard --example reconnecting_client -- ws://127.0.0.1:9001
//! ```

use std::time::Duration;

use switchboard::reconnect::{BackoffPolicy, ReconnectOptions};
use switchboard::{Message, WebSocketApp};

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let options = ReconnectOptions::default().backoff(
        BackoffPolicy::default()
            .initial_delay(Duration::from_millis(500))
            .max_delay(Duration::from_secs(10)),
    );
    let mut sent = 0u32;
    let outcome = WebSocketApp::from_url(url)
        .options(options)
        .on_open(|opening| {
            println!("open (reconnect: {})", opening.opened().is_reconnect());
            // Runs on every (re)connect: subscribe again before anything queued goes out.
            opening.send(Message::text(r#"{"subscribe":"news"}"#));
        })
        .on_message(move |handle, message| {
            println!("message: {message:?}");
            sent += 1;
            if sent < 5 {
                let _ = handle.try_send(Message::text(format!("message {sent}")));
            } else {
                let _ = handle.close(switchboard::CloseCode::NORMAL_CLOSURE, "done");
            }
        })
        .on_reconnect(|_, next| {
            println!(
                "reconnecting in {:?} (attempt {})",
                next.delay, next.attempt
            )
        })
        .on_close(|_, closed| println!("closed: {} {:?}", closed.code, closed.reason))
        .on_error(|_, error| eprintln!("error: {error}"))
        .run_forever()
        .await;
    println!("stopped: {outcome:?}");
}
