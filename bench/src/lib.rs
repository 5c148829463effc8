//! What the peer echo servers share: the command line, the runtime, the accept loop, and the
//! echo loop for libraries whose connections are a `Stream` of messages and a `Sink` for them.
//!
//! Every binary takes the same flags and prints `listening on ADDR` on stdout once it accepts
//! connections, which is the line `scripts/bench-suite.sh` waits for:
//!
//! ```text
//! --listen ADDR   address to listen on (default 127.0.0.1:0, a free port)
//! --threads N     tokio worker threads (default: $ECHO_THREADS, else one per core)
//! --deflate       negotiate permessage-deflate (only servers whose library supports it)
//! ```
//!
//! Each server is written the way its library's documentation and examples write an echo
//! server, with the fastest idiom they offer, and nothing else: no tuning of socket buffers,
//! allocators or limits beyond the defaults, so that every server, `switchboard echo` included,
//! is measured as a user would first write it.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};

/// The options of every echo server.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub threads: Option<usize>,
    pub deflate: bool,
}

impl Options {
    /// Parses the command line; prints the usage and exits with 2 on a mistake. `--deflate` is
    /// accepted only when `deflate` says the library supports it.
    pub fn from_args(name: &str, deflate: bool) -> Options {
        let usage = format!(
            "usage: {name} [--listen ADDR] [--threads N]{}",
            if deflate { " [--deflate]" } else { "" }
        );
        let fail = |message: String| -> ! {
            eprintln!("{name}: {message}\n{usage}");
            std::process::exit(2)
        };
        let mut options = Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: None,
            deflate: false,
        };
        if let Ok(threads) = std::env::var("ECHO_THREADS") {
            options.threads = Some(parse_threads(&threads).unwrap_or_else(|e| fail(e)));
        }
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .unwrap_or_else(|| fail(format!("{flag} needs a value")))
            };
            match arg.as_str() {
                "--listen" => {
                    let text = value("--listen");
                    options.listen = text
                        .parse()
                        .unwrap_or_else(|e| fail(format!("--listen {text}: {e}")));
                }
                "--threads" => {
                    let text = value("--threads");
                    options.threads = Some(parse_threads(&text).unwrap_or_else(|e| fail(e)));
                }
                "--deflate" if deflate => options.deflate = true,
                "-h" | "--help" => {
                    println!("{usage}");
                    std::process::exit(0)
                }
                other => fail(format!("unknown argument {other:?}")),
            }
        }
        options
    }
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(threads) if threads > 0 => Ok(threads),
        _ => Err(format!("threads: expected a positive number, got {text:?}")),
    }
}

/// Serves until killed: binds `options.listen` on a multi-thread runtime of `options.threads`
/// workers, prints `listening on ADDR`, and runs `serve` as one task per accepted connection
/// (with Nagle's algorithm off, as `switchboard echo` and every server here have it).
pub fn run<F, Fut>(name: &str, options: &Options, serve: F) -> ExitCode
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = options.threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(options.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("{name}: cannot listen on {}: {e}", options.listen);
                return ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().unwrap_or(options.listen);
        println!("{name}: listening on {local}");
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
}

/// Echoes every data message of a `Stream` + `Sink` connection until it ends.
///
/// Each message is fed to the sink (queued, not yet written), and the sink is flushed when no
/// further message is already waiting: a burst of messages that arrived together is answered
/// in one write. This is what `StreamExt::forward` does (tokio-tungstenite's own echo example
/// is `read.forward(write)`), without splitting the connection in two halves behind a lock.
pub async fn echo_messages<S, M, E>(mut ws: S, is_data: impl Fn(&M) -> bool) -> Result<(), E>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    while let Some(message) = ws.next().await {
        let mut message = message?;
        loop {
            if is_data(&message) {
                ws.feed(message).await?;
            }
            // Polling `next` once and dropping it loses nothing: the stream keeps its state.
            match ws.next().now_or_never() {
                Some(Some(next)) => message = next?,
                Some(None) => return ws.flush().await,
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
