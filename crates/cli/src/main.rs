//! `switchboard`: the WebSocket echo server, client, hub and load tool in one command.

mod bench;
mod colour;
mod connect;
mod echo;
mod exit;
mod net;
mod serve;

use clap::{Parser, Subcommand};

/// Switchboard: a WebSocket stack and real-time messaging server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (tracing syntax, e.g. `info`, `switchboard=debug`) [default: `warn`, and
    /// for `serve` the configuration's `log.level`, `info`].
    #[arg(long, global = true, env = "SWITCHBOARD_LOG")]
    log: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the real-time hub: channels, chat rooms, presence, history, an HTTP API and a chat
    /// page, on 127.0.0.1:8080 by default.
    Serve(serve::Args),
    /// Run a WebSocket echo server: every text and binary message goes back to its sender.
    Echo(echo::Args),
    /// Connect to a WebSocket server: lines from stdin go out, messages come in on stdout.
    Connect(Box<connect::Args>),
    /// Measure a WebSocket server: echo load (messages/s, MB/s, latency percentiles), connect
    /// rate, or idle connections held open; or a hub's fan-out to many subscribers (--fanout).
    Bench(bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` sets up its own logging, from its configuration.
    if !matches!(cli.command, Command::Serve(_)) {
        let filter = cli.log.as_deref().unwrap_or("warn");
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(colour::on_stderr())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        // The bench and the echo server size their own runtimes (--threads).
        Command::Bench(args) => bench::main(args),
        Command::Echo(args) => echo::main(args),
        Command::Serve(args) => match runtime() {
            Ok(runtime) => runtime.block_on(serve::run(args, cli.log)),
            Err(e) => exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
        },
        Command::Connect(args) => match runtime() {
            Ok(runtime) => {
                let code = runtime.block_on(connect::run(*args));
                // Reading stdin holds a blocking thread until a line or the end of the input
                // comes. Once the session is over nothing waits for it: a runtime dropped
                // normally would, and a server's close would leave us hanging on stdin.
                runtime.shutdown_background();
                code
            }
            Err(e) => exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
        },
    }
}
