//! An echo server on tokio-websockets: `ServerBuilder::accept` for the handshake, then the
//! connection as a `Stream` of messages and a `Sink`, data messages fed back and flushed once
//! per burst (`echo_messages`). The library answers pings and closes itself.

use std::process::ExitCode;

use switchboard_bench_peers::{echo_messages, run, Options};
use tokio::net::TcpStream;
use tokio_websockets::{Message, ServerBuilder};

const NAME: &str = "tokio-websockets-echo";

fn main() -> ExitCode {
    let options = Options::from_args(NAME, false);
    run(NAME, &options, serve)
}

async fn serve(stream: TcpStream) {
    let Ok((_request, ws)) = ServerBuilder::new().accept(stream).await else {
        return;
    };
    let _ = echo_messages(ws, |message: &Message| {
        message.is_text() || message.is_binary()
    })
    .await;
}
