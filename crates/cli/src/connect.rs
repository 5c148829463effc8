//! `switchboard connect`: a command-line WebSocket client.

use std::path::PathBuf;
use std::process::ExitCode;

use http::header::{HeaderName, HeaderValue};
use switchboard::{
    ClientBuilder, CloseCode, CloseFrame, Error, MaybeTlsStream, Message, Proxy, WebSocket,
    WebSocketConfig,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::exit;

/// Options of `switchboard connect`.
///
/// A proxy is taken from `wss_proxy`/`https_proxy` (wss://) or `ws_proxy`/`http_proxy`
/// (ws://), then `all_proxy`, unless `no_proxy` lists the host; loopback hosts are always
/// reached directly. `--proxy` overrides all of that.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server, as a ws:// or wss:// URL.
    url: String,
    /// Send every received text and binary message back until the server closes.
    #[arg(long)]
    echo: bool,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// Add a request header, as "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Send this Origin header.
    #[arg(long)]
    origin: Option<String>,
    /// Offer this subprotocol (repeatable, most preferred first).
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// Connect through this proxy: `http://[user:password@]host[:port]`,
    /// socks5://... (we resolve the server's name) or socks5h://... (the proxy does).
    /// Overrides the proxy environment variables.
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    proxy: Option<Proxy>,
    /// Trust the CA certificates in this PEM file instead of the built-in roots (repeatable).
    #[arg(long = "ca", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Present this client certificate chain (PEM) in the TLS handshake; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// DANGEROUS: do not verify the server's TLS certificate. The connection is encrypted but
    /// anyone on the network path can pose as the server and read or change everything sent,
    /// credentials included. Only for test servers you control; use --ca for a private CA.
    #[arg(long, conflicts_with = "ca_files")]
    insecure: bool,
}

/// Parses `Name: value` (RFC 9110 5: the value's surrounding whitespace is not part of it).
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("expected \"Name: value\", got {text:?}"))?;
    let name = HeaderName::try_from(name.trim()).map_err(|e| format!("header name: {e}"))?;
    let value = HeaderValue::try_from(value.trim()).map_err(|e| format!("header value: {e}"))?;
    Ok((name, value))
}

fn parse_proxy(text: &str) -> Result<Proxy, String> {
    Proxy::parse(text).map_err(|e| e.to_string())
}

fn builder(args: &Args) -> ClientBuilder {
    let mut config = WebSocketConfig::default();
    if args.no_deflate {
        config.compression = None;
    }
    let mut builder = ClientBuilder::new(args.url.clone()).config(config);
    for (name, value) in &args.headers {
        builder = builder.header(name.clone(), value.clone());
    }
    if let Some(origin) = &args.origin {
        builder = builder.origin(origin.clone());
    }
    for subprotocol in &args.subprotocols {
        builder = builder.subprotocol(subprotocol.clone());
    }
    if let Some(proxy) = &args.proxy {
        builder = builder.proxy(proxy.clone());
    }
    for ca in &args.ca_files {
        builder = builder.ca_file(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        builder = builder.client_auth(cert.clone(), key.clone());
    }
    if args.insecure {
        builder = builder.danger_accept_invalid_certs();
    }
    builder
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let builder = builder(&args);
    // Bad arguments (URL, headers, certificate files) are told apart from network failures.
    if let Err(e) = builder.check() {
        return exit::fail(exit::FAILURE, e);
    }
    if args.insecure && args.url.to_ascii_lowercase().starts_with("wss:") {
        eprintln!(
            "switchboard: WARNING: --insecure: the server's certificate is not verified; \
             anyone on the network path can impersonate it"
        );
    }
    let ws = match builder.connect().await {
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
async fn echo(mut ws: WebSocket<MaybeTlsStream>) -> ExitCode {
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
async fn pipe(mut ws: WebSocket<MaybeTlsStream>) -> ExitCode {
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
fn finish(ws: &WebSocket<MaybeTlsStream>, error: Option<Error>) -> ExitCode {
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
