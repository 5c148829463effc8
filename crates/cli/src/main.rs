//! `switchboard`: the WebSocket echo server, client, hub and load tool in one command.

mod bench;
mod connect;
mod echo;
mod exit;
mod net;

use clap::{Parser, Subcommand};

/// Switchboard: a WebSocket stack and real-time messaging server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (tracing syntax, e.g. `info`, `switchboard=debug`).
    #[arg(long, global = true, env = "SWITCHBOARD_LOG", default_value = "warn")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a WebSocket echo server: every text and binary message goes back to its sender.
    Echo(echo::Args),
    /// Connect to a WebSocket server: lines from stdin go out, messages come in on stdout.
    Connect(Box<connect::Args>),
    /// Measure a WebSocket server: echo load (messages/s, MB/s, latency percentiles), connect
    /// rate, or idle connections held open.
    Bench(bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        // The bench and the echo server size their own runtimes (--threads).
        Command::Bench(args) => bench::main(args),
        Command::Echo(args) => echo::main(args),
        Command::Connect(args) => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(connect::run(*args)),
            Err(e) => exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
        },
    }
}
