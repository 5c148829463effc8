//! `switchboard connect`: a command-line WebSocket client.

use std::process::ExitCode;

use switchboard::proto::handshake::{parse_url, ClientOptions};
use switchboard::{
    client_handshake, CloseCode, CloseFrame, Error, Message, WebSocket, WebSocketConfig,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::exit;
use crate::net::tune;

/// Options of `switchboard connect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server, as a ws:// URL.
    url: String,
    /// Send every received text and binary message back until the server closes.
    #[arg(long)]
    echo: bool,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let url = match parse_url(&args.url) {
        Ok(url) => url,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    if url.scheme_str() != Some("ws") {
        return exit::fail(exit::FAILURE, "only ws:// URLs are supported by this build");
    }
    let host = url
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_u16().unwrap_or(80);
    let stream = match TcpStream::connect((host.as_str(), port)).await {
        Ok(stream) => stream,
        Err(e) => {
            return exit::fail(
                exit::CONNECT_FAILED,
                format!("cannot connect to {host}:{port}: {e}"),
            )
        }
    };
    tune(&stream);
    let mut config = WebSocketConfig::default();
    if args.no_deflate {
        config.compression = None;
    }
    let ws = match client_handshake(stream, &url, ClientOptions::default(), &config).await {
        Ok((ws, _response)) => ws,
        Err(Error::Handshake(e)) => return exit::fail(exit::HANDSHAKE_REJECTED, e),
        Err(e) => return exit::fail(exit::CONNECT_FAILED, e),
    };
    if args.echo {
        echo(ws).await
    } else {
        pipe(ws).await
    }
}

/// Sends every data message back until the server closes.
async fn echo(mut ws: WebSocket<TcpStream>) -> ExitCode {
    while let Some(received) = ws.recv().await {
        match received {
            Ok(message) if message.is_data() => {
                if let Err(e) = ws.send(message).await {
                    return finish(&ws, Some(e));
                }
            }
            Ok(_) => {}
            Err(e) => return finish(&ws, Some(e)),
        }
    }
    finish(&ws, None)
}

/// Each stdin line is a text message; each received message is a stdout line.
async fn pipe(mut ws: WebSocket<TcpStream>) -> ExitCode {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if let Err(e) = ws.send(Message::text(line)).await {
                        return finish(&ws, Some(e));
                    }
                }
                _ => {
                    // End of input: start the closing handshake, but keep printing what
                    // arrives until the server's close frame ends the stream.
                    stdin_open = false;
                    let close = Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "")));
                    if let Err(e) = ws.send(close).await {
                        return finish(&ws, Some(e));
                    }
                }
            },
            received = ws.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    let _ = stdout.write_all(text.as_bytes()).await;
                    let _ = stdout.write_all(b"\n").await;
                    let _ = stdout.flush().await;
                }
                Some(Ok(Message::Binary(data))) => {
                    let _ = stdout.write_all(&data).await;
                    let _ = stdout.write_all(b"\n").await;
                    let _ = stdout.flush().await;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return finish(&ws, Some(e)),
                None => return finish(&ws, None),
            },
        }
    }
}

/// The exit code for how the connection ended.
fn finish(ws: &WebSocket<TcpStream>, error: Option<Error>) -> ExitCode {
    if let Some(e) = error {
        return exit::fail(exit::ABNORMAL_CLOSE, e);
    }
    match ws.close_code() {
        Some(CloseCode::NORMAL_CLOSURE) | Some(CloseCode::NO_STATUS_RECEIVED) | None => {
            ExitCode::from(exit::OK)
        }
        Some(code) => {
            let reason = ws.close_reason().unwrap_or("");
            exit::fail(
                exit::ABNORMAL_CLOSE,
                format!("connection closed with {code} {reason}"),
            )
        }
    }
}
