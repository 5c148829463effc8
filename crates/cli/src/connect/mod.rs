//! `switchboard connect`: a command-line WebSocket client.
//!
//! ```text
//!  mod.rs          flags, connecting, choosing the mode
//!  command.rs      a typed line or -x argument -> message or slash command
//!  interactive.rs  the line editor thread (stdin is a terminal)
//!  exec.rs         --exec: a child process's stdout/stdin as the two directions
//!  session.rs      the loop: commands out, messages in, the exit code (and --reconnect's)
//!  output.rs       stdout lines, the marked screen lines, a child's stdin
//!  trace.rs        --trace: the HTTP heads and every frame header, from the raw bytes
//! ```

mod command;
mod exec;
mod interactive;
mod output;
mod session;
mod trace;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use switchboard::reconnect::ReconnectOptions;
use switchboard::{ClientBuilder, Error, Proxy, Reconnecting, WebSocketConfig};

use crate::{exit, net};
use output::Output;
use session::Behaviour;
use trace::{Sink, Traced};

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
    /// Send lines as binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Send a keepalive ping every SECS seconds and fail the connection if no pong comes
    /// back within as long; 0 turns keepalive off.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    ping_interval: u64,
    /// Reconnect with backoff when the connection drops (messages typed meanwhile wait).
    #[arg(long)]
    reconnect: bool,
    /// Print the first text or binary message received, then close and exit.
    #[arg(long)]
    once: bool,
    /// Send this message after connecting (repeatable, in order); slash commands work here
    /// too, e.g. -x "/close 4000 bye". Then carry on with stdin, or with --once wait for one
    /// reply (stdin is then not read).
    #[arg(short = 'x', long = "execute", value_name = "MESSAGE")]
    execute: Vec<String>,
    /// Run CMD (with `sh -c`): each line it prints is sent, each message received is a line
    /// on its stdin; when it exits, close normally and exit.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["echo"])]
    exec: Option<String>,
    /// After the input ends (stdin EOF, --exec exits), wait SECS seconds for replies before
    /// closing. With --once, how long to wait for the message.
    #[arg(long, value_name = "SECS")]
    wait: Option<f64>,
    /// Send lines starting with / as they are: no slash commands.
    #[arg(long)]
    no_slash: bool,
    /// Print the handshake and every frame in (<) and out (>) on stderr: opcode, FIN, RSV,
    /// length, mask and a payload preview. Credentials in headers are hidden.
    #[arg(long)]
    trace: bool,
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
    // 0 turns keepalive off; otherwise the pong timeout is the interval too.
    let interval = (args.ping_interval > 0).then(|| Duration::from_secs(args.ping_interval));
    config = config.keepalive(interval, interval);
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

/// What to add when a `wss://` URL reached a server that answered without TLS: rustls's own
/// words for it ("corrupt message of type InvalidContentType") do not say so.
fn plain_server_hint(url: &str, error: &Error) -> Option<&'static str> {
    use switchboard::server::tls::rustls::{Error as TlsError, InvalidMessage};
    let Error::Io(e) = error else { return None };
    let tls = e.get_ref()?.downcast_ref::<TlsError>()?;
    let wss = net::websocket_scheme(url) == Some("wss");
    let not_tls = matches!(
        tls,
        TlsError::InvalidMessage(InvalidMessage::InvalidContentType)
    );
    (wss && not_tls).then_some(" (the server did not answer in TLS: for one without it, use ws://)")
}

/// How the user talks to the connection.
enum Mode {
    Interactive,
    Pipe,
    Exec(String),
    /// No input: --echo, or -x with --once.
    None,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    if net::websocket_scheme(&args.url).is_none() {
        return exit::fail(exit::FAILURE, net::not_a_websocket_url(&args.url));
    }
    let builder = builder(&args);
    // Bad arguments (URL, headers, certificate files) are told apart from network failures.
    if let Err(e) = builder.check() {
        return exit::fail(exit::FAILURE, e);
    }
    if let Some(wait) = args.wait {
        if !(wait.is_finite() && wait >= 0.0) {
            return exit::fail(
                exit::FAILURE,
                format!("--wait: {wait} is not a number of seconds"),
            );
        }
    }
    let slash = !args.no_slash;
    let mut initial = Vec::new();
    for text in &args.execute {
        match command::parse(text, slash, args.binary) {
            Ok(command) => initial.push(command),
            Err(e) => return exit::fail(exit::FAILURE, format!("-x {text:?}: {e}")),
        }
    }
    if args.insecure && args.url.to_ascii_lowercase().starts_with("wss:") {
        eprintln!(
            "switchboard: WARNING: --insecure: the server's certificate is not verified; \
             anyone on the network path can impersonate it"
        );
    }
    let mode = if let Some(cmd) = &args.exec {
        Mode::Exec(cmd.clone())
    } else if args.echo || (args.once && !initial.is_empty()) {
        Mode::None
    } else if std::io::stdin().is_terminal() {
        Mode::Interactive
    } else {
        Mode::Pipe
    };
    let behaviour = Behaviour {
        once: args.once,
        wait: args.wait.map(Duration::from_secs_f64),
        echo: args.echo,
    };

    // The source, the output, and what must live as long as the session.
    let mut _child = None;
    let mut _terminal = None;
    let (source, output, trace_sink): (session::Source, Output, Option<Sink>) = match mode {
        Mode::Interactive => {
            let (commands, screen, terminal) =
                match interactive::start(slash, args.binary, crate::colour::on_stdout()) {
                    Ok(started) => started,
                    Err(e) => return exit::fail(exit::FAILURE, e),
                };
            _terminal = Some(terminal);
            let printer = screen.clone();
            let sink: Sink = Arc::new(move |line| printer.print(format!("trace: {line}")));
            screen.note(&format!("connecting to {} (/help for commands)", args.url));
            (Some(commands), Output::Screen(screen), Some(sink))
        }
        Mode::Pipe => {
            let lines = exec::lines(tokio::io::stdin(), args.binary);
            (
                Some(lines),
                Output::Lines(Box::new(tokio::io::stdout())),
                None,
            )
        }
        Mode::Exec(cmd) => match exec::start(&cmd, args.binary) {
            Ok((lines, output, child)) => {
                _child = Some(child);
                (Some(lines), output, None)
            }
            Err(e) => return exit::fail(exit::FAILURE, e),
        },
        Mode::None => (None, Output::Lines(Box::new(tokio::io::stdout())), None),
    };
    let trace_sink = args
        .trace
        .then(|| trace_sink.unwrap_or_else(|| Arc::new(|line| eprintln!("trace: {line}"))));

    if args.reconnect {
        let sink = trace_sink.clone();
        let connector = move || {
            let (builder, sink) = (builder.clone(), sink.clone());
            async move {
                let wrap = |transport| Traced::new(transport, sink);
                builder.connect_wrapped(wrap).await.map(|(ws, _)| ws)
            }
        };
        let client = Reconnecting::new(connector, ReconnectOptions::default());
        return session::run_reconnecting(client, initial, source, output, behaviour).await;
    }
    let connected = builder
        .connect_wrapped(|transport| Traced::new(transport, trace_sink))
        .await;
    let ws = match connected {
        Ok((ws, _response)) => ws,
        Err(Error::Handshake(e)) => return exit::fail(exit::HANDSHAKE_REJECTED, e),
        Err(e) => {
            let hint = plain_server_hint(&args.url, &e).unwrap_or_default();
            return exit::fail(
                exit::CONNECT_FAILED,
                format!("cannot connect to {}: {e}{hint}", args.url),
            );
        }
    };
    if let Output::Screen(screen) = &output {
        let mut note = String::from("connected");
        if let Some(subprotocol) = ws.subprotocol() {
            note.push_str(&format!(", subprotocol {subprotocol}"));
        }
        if let Some(extension) = ws.extension() {
            note.push_str(&format!(", {extension}"));
        }
        screen.note(&note);
    }
    session::run(ws, initial, source, output, behaviour).await
}
