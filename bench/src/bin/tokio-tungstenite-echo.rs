//! An echo server on tokio-tungstenite: `accept_async` for the handshake, then the connection
//! as a `Stream` of messages and a `Sink`, data messages fed back and flushed once per burst
//! (`echo_messages`, which is what the crate's echo example gets from `read.forward(write)`).
//! tungstenite answers pings and closes itself. It has no permessage-deflate.

use std::process::ExitCode;

use switchboard_bench_peers::{echo_messages, run, Options};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const NAME: &str = "tokio-tungstenite-echo";

fn main() -> ExitCode {
    let options = Options::from_args(NAME, false);
    run(NAME, &options, serve)
}

async fn serve(stream: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let _ = echo_messages(ws, |message: &Message| {
        message.is_text() || message.is_binary()
    })
    .await;
}
