//! An echo server on sockudo-ws: `handshake::server_handshake` for the HTTP/1.1 upgrade (what
//! `WebSocketServer::<Http1>::accept_raw` runs; that type is built only with the crate's http2
//! or http3 features), then the connection as a `Stream` of messages and a
//! `Sink`, data messages fed back and flushed once per burst (`echo_messages`; sockudo-ws
//! documents `feed` then `flush` at batch boundaries as its batching idiom). The library answers
//! pings and closes itself, and pings idle clients after 30 s (its default).
//!
//! With `--deflate` the handshake is done here instead, as the crate's Autobahn server does
//! it, because `accept` does not negotiate permessage-deflate: the offer goes through
//! `negotiate_server_deflate` with the library's default settings (zlib level 6, 32 KiB
//! windows, context takeover), and a negotiated connection is a `CompressedWebSocketStream`.

use std::process::ExitCode;

use bytes::BytesMut;
use sockudo_ws::deflate::{negotiate_server_deflate, DeflateConfig};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request, server_handshake};
use sockudo_ws::{CompressedWebSocketStream, Config, Message, Role, WebSocketStream};
use switchboard_bench_peers::{echo_messages, run, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "sockudo-ws-echo";

/// The most a handshake request may take before the connection is dropped.
const MAX_REQUEST: usize = 16 << 10;

fn main() -> ExitCode {
    let options = Options::from_args(NAME, true);
    let deflate = options.deflate;
    run(NAME, &options, move |stream| async move {
        if deflate {
            let _ = serve_deflate(stream).await;
        } else {
            serve(stream).await;
        }
    })
}

fn is_data(message: &Message) -> bool {
    message.is_text() || message.is_binary()
}

async fn serve(mut stream: TcpStream) {
    let Ok(handshake) = server_handshake(&mut stream).await else {
        return;
    };
    // Frames that came with the request are the connection's first bytes.
    let ws = WebSocketStream::from_raw_with_leftover(
        stream,
        Role::Server,
        Config::default(),
        handshake.leftover,
    );
    let _ = echo_messages(ws, is_data).await;
}

async fn serve_deflate(mut stream: TcpStream) -> sockudo_ws::Result<()> {
    let mut buffer = BytesMut::with_capacity(4096);
    let (negotiated, consumed) = loop {
        if stream.read_buf(&mut buffer).await? == 0 || buffer.len() > MAX_REQUEST {
            return Ok(());
        }
        if let Some((request, consumed)) = parse_request(&buffer)? {
            let negotiated = request
                .extensions
                .and_then(|offers| negotiate_server_deflate(offers, &DeflateConfig::default()));
            let accept = generate_accept_key(request.key);
            let extension = negotiated.as_ref().map(|n| n.to_response_header());
            stream
                .write_all(&build_response(&accept, None, extension.as_deref()))
                .await?;
            break (negotiated, consumed);
        }
    };
    // Frames that came with the request are the connection's first bytes.
    let leftover = Some(buffer.split_off(consumed).freeze()).filter(|rest| !rest.is_empty());
    let config = Config::default();
    match negotiated {
        Some(negotiation) => {
            let ws = CompressedWebSocketStream::server_with_leftover(
                stream,
                config,
                negotiation.config,
                leftover,
            );
            echo_messages(ws, is_data).await
        }
        None => {
            let ws =
                WebSocketStream::from_raw_with_leftover(stream, Role::Server, config, leftover);
            echo_messages(ws, is_data).await
        }
    }
}
