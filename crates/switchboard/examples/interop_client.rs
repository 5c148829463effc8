//! Interop client: runs a fixed script against a third-party echo server and reports each step
//! as a JSON line on stdout. The exit status is 0 only if every step passed.
//!
//! Run by the interop tests (`tests/interop/`) against Python `websockets` and Node `ws`
//! servers:
//!
//! ```text
//! interop_client URL [--no-deflate] [--expect-extension yes|no] [--server-ping PAYLOAD]
//!                    [--large BYTES] [--close CODE REASON | --expect-close CODE REASON]
//!                    [--timeout SECONDS]
//! ```
//!
//! The script, in order; it stops at the first failed step:
//!
//! 1. `connect`: TCP, then the opening handshake; with `--expect-extension`, checks whether
//!    permessage-deflate was negotiated.
//! 2. `server_ping` (with `--server-ping P`): the server's ping with payload `P` arrives (the
//!    library has already answered it), then the server's text `pong:P` confirms that our
//!    pong reached it.
//! 3. `ping`: our ping; its pong comes back with the same payload.
//! 4. `text`, `binary`, `empty_text`, `large_text`, `large_binary` (`--large` bytes, default
//!    4 MiB): each message is echoed back unchanged. That is five data messages, for servers
//!    told to close after N of them.
//! 5. `close`: either we close with `--close CODE REASON` (default `4001 bye`) and the server
//!    answers with the same code, or, with `--expect-close CODE REASON`, the server closes
//!    with that code and reason and the stream reports it.
//!
//! Pings the server sends besides `--server-ping` (keepalives) are answered and skipped.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use switchboard::proto::handshake::{parse_url, ClientOptions};
use switchboard::{client_handshake, CloseCode, Message, WebSocket, WebSocketConfig};
use tokio::net::TcpStream;
use tokio::time::timeout;

const USAGE: &str = "usage: interop_client URL [--no-deflate] [--expect-extension yes|no] \
                     [--server-ping PAYLOAD] [--large BYTES] \
                     [--close CODE REASON | --expect-close CODE REASON] [--timeout SECONDS]";

/// How the connection ends.
#[derive(Debug)]
enum Ending {
    /// We close with this code and reason; the server must echo the code.
    Close(u16, String),
    /// The server closes with this code and reason.
    ExpectClose(u16, String),
}

#[derive(Debug)]
struct Args {
    url: String,
    /// Offer permessage-deflate (unless `--no-deflate`).
    deflate: bool,
    /// Whether permessage-deflate must have been negotiated; `None` accepts either.
    expect_extension: Option<bool>,
    server_ping: Option<String>,
    /// Size of the large messages, in bytes.
    large: usize,
    ending: Ending,
    /// Bound on each wait: connecting, each send, each receive, the closing handshake.
    timeout: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        url: String::new(),
        deflate: true,
        expect_extension: None,
        server_ping: None,
        large: 4 << 20,
        ending: Ending::Close(4001, "bye".into()),
        timeout: Duration::from_secs(20),
    };
    let mut url = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--no-deflate" => parsed.deflate = false,
            "--expect-extension" => {
                parsed.expect_extension = match value("--expect-extension")?.as_str() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    other => return Err(format!("--expect-extension: yes or no, not {other:?}")),
                }
            }
            "--server-ping" => parsed.server_ping = Some(value("--server-ping")?),
            "--large" => parsed.large = number(&value("--large")?)?,
            "--timeout" => parsed.timeout = Duration::from_secs(number(&value("--timeout")?)?),
            "--close" | "--expect-close" => {
                let code = number(&value(&arg)?)?;
                let reason = value(&arg)?;
                parsed.ending = if arg == "--close" {
                    Ending::Close(code, reason)
                } else {
                    Ending::ExpectClose(code, reason)
                };
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    parsed.url = url.ok_or("missing URL")?;
    Ok(parsed)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One step's result: a JSON line with `step`, `ok` and already-encoded extra fields.
fn report(step: &str, ok: bool, fields: &[(&str, String)]) {
    let mut line = format!("{{\"step\":{},\"ok\":{ok}", quote(step));
    for (name, value) in fields {
        let _ = write!(line, ",{}:{value}", quote(name));
    }
    line.push('}');
    println!("{line}");
}

/// A step that could not run to its end (timeout, transport error, early close).
fn abort(step: &str, error: impl std::fmt::Display) -> bool {
    report(step, false, &[("error", quote(&error.to_string()))]);
    false
}

fn optional(text: Option<&str>) -> String {
    text.map_or_else(|| "null".into(), quote)
}

/// A short description of a message for reports: its kind and size.
fn describe(message: &Message) -> String {
    let kind = match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
    };
    quote(&format!("{kind} ({} bytes)", message.len()))
}

/// Deterministic bytes that do not compress (xorshift32).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 6455;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn large_text(len: usize) -> String {
    let line = "The quick brown fox jumps over the lazy dog, ünïcödé. ";
    let mut text = line.repeat(len / line.len() + 1);
    let mut end = len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

struct Client {
    ws: WebSocket<TcpStream>,
    timeout: Duration,
}

impl Client {
    /// The next message; with `skip_pings`, pings (already answered) are passed over.
    async fn next(&mut self, skip_pings: bool) -> Result<Message, String> {
        loop {
            match timeout(self.timeout, self.ws.recv()).await {
                Err(_) => return Err(format!("nothing received within {:?}", self.timeout)),
                Ok(None) => return Err("the connection ended".into()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(Message::Ping(_)))) if skip_pings => continue,
                Ok(Some(Ok(message))) => return Ok(message),
            }
        }
    }

    async fn send(&mut self, message: Message) -> Result<(), String> {
        match timeout(self.timeout, self.ws.send(message)).await {
            Err(_) => Err(format!("send did not finish within {:?}", self.timeout)),
            Ok(result) => result.map_err(|e| e.to_string()),
        }
    }

    /// Sends `message` and expects it back unchanged.
    async fn echo(&mut self, step: &str, message: Message) -> bool {
        let sent = describe(&message);
        if let Err(e) = self.send(message.clone()).await {
            return abort(step, e);
        }
        match self.next(true).await {
            Ok(received) => {
                let mut fields = vec![("sent", sent), ("received", describe(&received))];
                let same = received == message;
                if !same {
                    let first_difference = message
                        .as_bytes()
                        .iter()
                        .zip(received.as_bytes())
                        .position(|(a, b)| a != b);
                    fields.push((
                        "first_difference",
                        first_difference.map_or("null".into(), |i| i.to_string()),
                    ));
                }
                report(step, same, &fields);
                same
            }
            Err(e) => abort(step, e),
        }
    }

    async fn server_ping(&mut self, payload: &str) -> bool {
        let step = "server_ping";
        match self.next(false).await {
            Ok(Message::Ping(data)) if data == payload.as_bytes() => {}
            Ok(other) => return abort(step, format!("expected a ping, got {}", describe(&other))),
            Err(e) => return abort(step, e),
        }
        let confirmation = format!("pong:{payload}");
        match self.next(true).await {
            Ok(Message::Text(text)) if text.as_str() == confirmation => {
                report(step, true, &[("payload", quote(payload))]);
                true
            }
            Ok(other) => abort(step, format!("expected {confirmation:?}, got {other:?}")),
            Err(e) => abort(step, e),
        }
    }

    async fn ping(&mut self) -> bool {
        let payload = "our-ping";
        if let Err(e) = self.send(Message::Ping(payload.into())).await {
            return abort("ping", e);
        }
        match self.next(true).await {
            Ok(Message::Pong(data)) => {
                let ok = data == payload.as_bytes();
                let text = String::from_utf8_lossy(&data);
                report("ping", ok, &[("payload", quote(&text))]);
                ok
            }
            Ok(other) => abort("ping", format!("expected a pong, got {}", describe(&other))),
            Err(e) => abort("ping", e),
        }
    }

    /// We close; the server must answer with the same code.
    async fn close(&mut self, code: u16, reason: &str) -> bool {
        match timeout(self.timeout, self.ws.close(CloseCode(code), reason)).await {
            Err(_) => return abort("close", "the closing handshake did not finish"),
            Ok(Err(e)) => return abort("close", e),
            Ok(Ok(())) => {}
        }
        let echoed = self.ws.close_code().map(|c| c.0);
        let ok = echoed == Some(code);
        let fields = [
            ("code", echoed.map_or("null".into(), |c| c.to_string())),
            ("reason", optional(self.ws.close_reason())),
        ];
        report("close", ok, &fields);
        ok
    }

    /// The server closes with `code` and `reason`; the stream reports it, then ends.
    async fn expect_close(&mut self, code: u16, reason: &str) -> bool {
        let frame = match self.next(true).await {
            Ok(Message::Close(frame)) => frame,
            Ok(other) => return abort("close", format!("expected close, got {other:?}")),
            Err(e) => return abort("close", e),
        };
        // After the close frame the stream ends once the transport is closed.
        match timeout(self.timeout, self.ws.recv()).await {
            Ok(None) => {}
            Ok(Some(other)) => return abort("close", format!("after close: {other:?}")),
            Err(_) => return abort("close", "the stream did not end after the close frame"),
        }
        let (got_code, got_reason) = match &frame {
            Some(frame) => (Some(frame.code.0), Some(frame.reason.as_str())),
            None => (None, None),
        };
        let reported = self.ws.close_code().map(|c| c.0);
        let ok = got_code == Some(code) && got_reason == Some(reason) && reported == Some(code);
        let fields = [
            ("code", got_code.map_or("null".into(), |c| c.to_string())),
            ("reason", optional(got_reason)),
            (
                "close_code",
                reported.map_or("null".into(), |c| c.to_string()),
            ),
        ];
        report("close", ok, &fields);
        ok
    }
}

async fn connect(args: &Args) -> Result<Client, String> {
    let url = parse_url(&args.url).map_err(|e| e.to_string())?;
    let host = url.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let port = url.port_u16().unwrap_or(80);
    let stream = match timeout(args.timeout, TcpStream::connect((host, port))).await {
        Err(_) => return Err(format!("no TCP connection within {:?}", args.timeout)),
        Ok(result) => result.map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?,
    };
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut config = WebSocketConfig::default();
    if !args.deflate {
        config.compression = None;
    }
    let (ws, response) = client_handshake(stream, &url, ClientOptions::default(), &config)
        .await
        .map_err(|e| e.to_string())?;
    let header = response
        .headers()
        .get("sec-websocket-extensions")
        .and_then(|v| v.to_str().ok());
    let negotiated = ws.extension();
    let ok = args
        .expect_extension
        .is_none_or(|expected| expected == (negotiated == Some("permessage-deflate")));
    if !ok {
        return Err(format!(
            "negotiated extension {negotiated:?} (response header {header:?}), expected {}",
            if args.expect_extension == Some(true) {
                "permessage-deflate"
            } else {
                "none"
            }
        ));
    }
    let fields = [
        ("extension", optional(negotiated)),
        ("response_header", optional(header)),
    ];
    report("connect", true, &fields);
    Ok(Client {
        ws,
        timeout: args.timeout,
    })
}

async fn run(args: &Args) -> bool {
    let mut client = match connect(args).await {
        Ok(client) => client,
        Err(e) => return abort("connect", e),
    };
    if let Some(payload) = &args.server_ping {
        if !client.server_ping(payload).await {
            return false;
        }
    }
    if !client.ping().await {
        return false;
    }
    let messages = [
        ("text", Message::text("héllo, switchboard ☃ 🌍")),
        (
            "binary",
            Message::binary((0..=255u8).cycle().take(1024).collect::<Vec<_>>()),
        ),
        ("empty_text", Message::text("")),
        ("large_text", Message::text(large_text(args.large))),
        ("large_binary", Message::binary(noise(args.large))),
    ];
    for (step, message) in messages {
        if !client.echo(step, message).await {
            return false;
        }
    }
    match &args.ending {
        Ending::Close(code, reason) => client.close(*code, reason).await,
        Ending::ExpectClose(code, reason) => client.expect_close(*code, reason).await,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("interop_client: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if run(&args).await {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
