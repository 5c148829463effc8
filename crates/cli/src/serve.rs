//! `switchboard serve`: the real-time hub (switchboard-hub), on its embedded in-memory
//! engine, or on Redis so that several nodes act as one hub.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use switchboard_hub::config::{LogFormat, ServeConfig};
use switchboard_hub::jwt::{JwtAuthenticator, NoTokens};
use switchboard_hub::node::{Fanout, Node};
use switchboard_hub::permission::Authenticator;
use switchboard_hub::redis::RedisEngine;
use switchboard_hub::server::{Server, PROTOCOL};

use crate::exit;

/// Options of `switchboard serve`. Flags override the configuration file, which overrides
/// the defaults; `SWITCHBOARD_*` environment variables sit between the file and the flags.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// A TOML configuration file (see `--print-config` for every field and its default).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Log lines as JSON objects instead of readable text.
    #[arg(long)]
    log_json: bool,
    /// Where channels, history and presence live: `memory` (one node), or a Redis URL
    /// (`redis://[:PASSWORD@]HOST:PORT/[DB]`, `rediss://` for TLS) shared by every node.
    /// Give it several times to shard channels over several Redis servers.
    #[arg(long, value_name = "memory|URL")]
    engine: Vec<String>,
}

/// Loads the configuration and applies the flags.
fn configuration(args: &Args) -> Result<ServeConfig, String> {
    let mut config = ServeConfig::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.log_json {
        config.log.format = LogFormat::Json;
    }
    if !args.engine.is_empty() {
        config.engine.redis = args
            .engine
            .iter()
            .filter(|engine| engine.as_str() != "memory")
            .cloned()
            .collect();
        config.validate().map_err(|e| e.to_string())?;
    }
    Ok(config)
}

fn init_logging(config: &ServeConfig, filter: Option<&str>) {
    // `RUST_LOG`, then `--log`/`SWITCHBOARD_LOG`, then the file's `log.level`.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| filter.map(str::to_owned))
        .unwrap_or_else(|| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::colour::on_stderr())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn authenticator(config: &ServeConfig) -> Result<Arc<dyn Authenticator>, String> {
    match &config.jwt {
        None => Ok(Arc::new(NoTokens)),
        Some(jwt) => JwtAuthenticator::new(jwt)
            .map(|a| Arc::new(a) as Arc<dyn Authenticator>)
            .map_err(|e| format!("jwt: {e}")),
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub(crate) async fn run(args: Args, log_filter: Option<String>) -> ExitCode {
    let config = match configuration(&args) {
        Ok(config) => config,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    if args.print_config {
        print!("{}", config.to_toml_redacted());
        return ExitCode::SUCCESS;
    }
    init_logging(&config, log_filter.as_deref());
    let authenticator = match authenticator(&config) {
        Ok(authenticator) => authenticator,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    let (node, engine) = match config.engine.redis_options() {
        None => (Node::memory(config.node_config(), authenticator), "memory"),
        Some(options) => {
            let fanout = Arc::new(Fanout::new());
            let redis = match RedisEngine::start(options, Arc::clone(&fanout)) {
                Ok(redis) => redis,
                Err(e) => return exit::fail(exit::FAILURE, format!("engine: {e}")),
            };
            let node = Node::new(config.node_config(), authenticator, fanout, redis.engines());
            (node, "redis")
        }
    };
    let server = match Server::bind(&config, node).await {
        Ok(server) => server,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    let addr = server.local_addr().unwrap_or(config.listen);
    announce(addr, server.is_tls(), &config);
    tracing::info!(%addr, engine, "hub started");
    match server.run(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("hub stopped");
            ExitCode::SUCCESS
        }
        Err(e) => exit::fail(exit::FAILURE, format!("server failed: {e}")),
    }
}

/// The first line is for scripts (`listening on URL`); the rest is for people.
fn announce(addr: SocketAddr, tls: bool, config: &ServeConfig) {
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let api = if config.api_key.is_some() {
        format!("POST {http}://{addr}/api/{{method}}  (Authorization: apikey KEY)")
    } else {
        "off (set api_key in the config file, or SWITCHBOARD_API_KEY)".to_owned()
    };
    let chat = if config.chat_page {
        format!("{http}://{addr}/")
    } else {
        "off".to_owned()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "switchboard serve: listening on {http}://{addr}");
    let _ = writeln!(out, "  chat page    {chat}");
    let _ = writeln!(
        out,
        "  protocol     {ws}://{addr}/ws  (subprotocol {PROTOCOL})"
    );
    let _ = writeln!(out, "  plain rooms  {ws}://{addr}/ws/{{channel}}");
    let _ = writeln!(out, "  HTTP API     {api}");
    let _ = writeln!(
        out,
        "  health       {http}://{addr}/health   metrics {http}://{addr}/metrics"
    );
    let engine = if config.engine.redis.is_empty() {
        "memory (one node)".to_owned()
    } else {
        let urls: Vec<String> = config
            .engine
            .redis
            .iter()
            .map(|url| switchboard_hub::redis::redact_url(url))
            .collect();
        format!("redis {}", urls.join(" "))
    };
    let _ = writeln!(out, "  engine       {engine}");
    let _ = out.flush();
}
