//! `switchboard bench`: a load generator for WebSocket servers.
//!
//! ```text
//! mod.rs     options; the run: open every connection (dial.rs), then warm up and measure
//!            (echo.rs) or hold them (idle.rs), then merge what each connection measured
//! dial.rs    TCP from spread loopback source addresses, the WebSocket handshake, wss://
//! payload.rs what the messages hold: letter patterns, or a JSON price ticker
//! echo.rs    the echo load over WebSocket and over raw TCP (calibration)
//! wire.rs    counting the WebSocket bytes on the wire (headers and compression included)
//! idle.rs    holding connections open
//! fanout.rs  hub fan-out (--fanout): subscribers in plain rooms on `switchboard serve`
//!            nodes, one publisher per channel; deliveries/s, delivery latency, losses
//! publish.rs fan-out's publishers, over a plain room or the HTTP API, and the stamps
//! fanout_report.rs  fan-out's table and JSON object
//! usage.rs   CPU time and memory from /proc: the server's (--server-pid) and the bench's
//! stats.rs   per-connection counters and HDR latency histograms
//! report.rs  the table and the JSON object
//! plot.rs    the latency distribution as an SVG chart
//! ```
//!
//! Each connection is one task on a multi-thread runtime. Connections open first (their
//! TCP connect plus handshake times go into a histogram); when every attempt has finished,
//! one shared [`Plan`] starts the warm-up and the measured window at the same instant for all.

mod dial;
mod echo;
mod fanout;
mod fanout_report;
mod idle;
mod payload;
mod plot;
mod publish;
mod report;
mod stats;
mod usage;
mod wire;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use switchboard::WebSocketConfig;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::exit;
use dial::Target;
use payload::{Kind, Payload};
use stats::{parse_duration, ConnStats};

/// The targets of echo and idle mode, which fan-out's own options cannot be used with. (Clap
/// excuses a missing `requires` when the required argument conflicts with one given, so
/// `requires = "fanout"` would not catch `bench URL --subscribers 5`.)
const ECHO_TARGETS: [&str; 2] = ["url", "raw_tcp"];

/// Options of `switchboard bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server, as a ws:// or wss:// URL.
    #[arg(required_unless_present_any = ["raw_tcp", "fanout"], conflicts_with = "raw_tcp")]
    url: Option<String>,
    /// Drive a raw TCP echo server at HOST:PORT instead, with the same message sizes
    /// (fixed-size framing); `switchboard echo --raw-tcp` is one. Shows how much load the
    /// tool itself can generate.
    #[arg(long, value_name = "HOST:PORT")]
    raw_tcp: Option<String>,
    /// Hub fan-out mode: subscribers join plain rooms (`/ws/{channel}`) on these
    /// `switchboard serve` nodes, given as base URLs (ws://HOST:PORT), spread over the channels
    /// and nodes round-robin; one publisher per channel publishes on the first node. Reports
    /// deliveries per second, publish-to-receipt latency, and losses and reorderings.
    #[arg(
        long,
        num_args = 1..,
        value_name = "NODE_URL",
        conflicts_with_all = [
            "url", "raw_tcp", "idle", "connections", "pipeline", "binary", "payload"
        ]
    )]
    fanout: Vec<String>,
    /// Fan-out: subscribers to open.
    #[arg(long, default_value_t = 100, conflicts_with_all = ECHO_TARGETS,
          value_parser = clap::value_parser!(u32).range(1..))]
    subscribers: u32,
    /// Fan-out: channels, named PREFIX0 to PREFIX{N-1} (see --channel-prefix), one publisher
    /// each.
    #[arg(long, default_value_t = 1, conflicts_with_all = ECHO_TARGETS,
          value_parser = clap::value_parser!(u32).range(1..))]
    channels: u32,
    /// Fan-out: the channel names' prefix.
    #[arg(
        long,
        default_value = "bench-",
        conflicts_with_all = ECHO_TARGETS,
        value_name = "PREFIX"
    )]
    channel_prefix: String,
    /// Fan-out: publications per second per channel.
    #[arg(long, default_value_t = 100.0, conflicts_with_all = ECHO_TARGETS,
          value_parser = publish::parse_rate)]
    rate: f64,
    /// Fan-out: how the publishers publish: `ws`, a plain-room connection to the channel (each
    /// message counts against the hub's `limits.commands_per_second`), or `api`, `POST
    /// /api/publish` with --api-key over a keep-alive HTTP/1.1 connection.
    #[arg(long, value_enum, default_value_t = publish::Via::Ws, conflicts_with_all = ECHO_TARGETS)]
    publish_via: publish::Via,
    /// Fan-out with `--publish-via api`: the hub's API key.
    #[arg(
        long,
        env = "SWITCHBOARD_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// Connections to open.
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Message size in bytes (fan-out: messages are padded to about this size; the smallest
    /// is about 30 bytes).
    #[arg(short, long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    size: u32,
    /// Send binary messages (text by default).
    #[arg(long)]
    binary: bool,
    /// What the messages hold: `letters` (exactly --size bytes), or `ticker`, JSON price
    /// updates of about 200 bytes each, as many per message as fit in --size (at least one);
    /// realistic input for --deflate. WebSocket only.
    #[arg(long, value_enum, default_value_t = Kind::Letters, conflicts_with = "raw_tcp")]
    payload: Kind,
    /// Messages in flight per connection.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pipeline: u32,
    /// Echo: send this many messages per second in all instead of as fast as echoes return.
    /// Each connection sends its --pipeline messages in one burst, the bursts spread evenly
    /// over time, each once the previous one is echoed. Servers compared at the same rate do
    /// the same work, so their CPU time per message compares directly; messages/s shows the
    /// rate achieved.
    #[arg(long, value_name = "PER_SECOND", value_parser = publish::parse_rate,
          conflicts_with_all = ["idle", "fanout"])]
    echo_rate: Option<f64>,
    /// How long to measure (after the warm-up), e.g. 10s, 500ms, 2m. In --idle mode: how long
    /// to hold the connections.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load sent before measuring starts, excluded from the results.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Worker threads of the load generator [default: one per core].
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Open at most this many connections per second.
    #[arg(long, value_name = "PER_SECOND")]
    connect_rate: Option<f64>,
    /// Connection attempts in progress at once. More than the server's listen backlog (128
    /// for many servers, `switchboard echo` included) overflows it; the kernel then drops
    /// SYNs and the client retries a second later, which shows up as 1 s handshakes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    connect_concurrency: u32,
    /// Open the connections and hold them, sending nothing (to measure a server's memory per
    /// connection). On 127.x targets each connection gets its own source address in
    /// 127.0.0.0/8, so tens of thousands do not run out of ports.
    #[arg(long)]
    idle: bool,
    /// Offer permessage-deflate (off by default: it measures the compressor, not the server).
    /// The bytes on the wire show what it saved.
    #[arg(long)]
    deflate: bool,
    /// The server's process id, when it runs on this machine: its CPU time over the measured
    /// window (per message, too) and its memory before connecting and while the connections
    /// are held (per connection, too) go into the report. Linux only (/proc). Fan-out: once
    /// per node, in the order of the node URLs, for CPU time per delivery over all of them.
    #[arg(long, value_name = "PID")]
    server_pid: Vec<u32>,
    /// DANGEROUS outside tests: do not verify a wss:// server's certificate.
    #[arg(long)]
    insecure: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the latency distribution chart to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(short, long)]
    quiet: bool,
}

/// The timeline every connection follows once all are open.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Echoes received before this are not counted.
    pub(crate) warmup_end: Instant,
    /// Connections stop here.
    pub(crate) end: Instant,
    /// Echoes received so far, for the progress bar.
    pub(crate) progress: Arc<Counter>,
}

impl Plan {
    /// Whether `now` is in the measured window.
    pub(crate) fn measuring(&self, now: Instant) -> bool {
        now >= self.warmup_end && now < self.end
    }
}

/// A shared counter of echoes for the progress bar.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `count` at once (a batch of deliveries).
    pub(crate) fn add_many(&self, count: u64) {
        self.0.fetch_add(count, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How one connection ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It could not be opened (reported when it happened).
    Failed,
    /// Idle mode: held to the end, or lost with this reason.
    Held(Result<(), String>),
    /// Echo mode: what it measured.
    Echo(ConnStats),
}

/// Runs `switchboard bench` on its own runtime, sized by `--threads`.
pub(crate) fn main(args: Args) -> ExitCode {
    // Tens of thousands of connections need as many descriptors: take all the hard limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(run(args, threads))
}

/// Everything the connection tasks share.
struct Shared {
    target: Target,
    config: WebSocketConfig,
    payload: Payload,
    pipeline: usize,
    connections: usize,
    rate: Option<f64>,
    idle: bool,
    start: Instant,
    connect_rate: Option<f64>,
    gate: Semaphore,
}

async fn run(args: Args, threads: usize) -> ExitCode {
    if !args.fanout.is_empty() {
        return fanout::run(args, threads).await;
    }
    if args.server_pid.len() > 1 {
        return exit::fail(exit::FAILURE, "--server-pid more than once needs --fanout");
    }
    let server_pid = args.server_pid.first().copied();
    let mut config = WebSocketConfig::default();
    if !args.deflate {
        config.compression = None;
    }
    let size = args.size as usize;
    let limits = &mut config.protocol.limits;
    limits.max_message_size = limits.max_message_size.max(size);
    limits.max_frame_size = limits.max_frame_size.max(size);
    let target = match Target::resolve(
        args.url.as_deref(),
        args.raw_tcp.as_deref(),
        &config,
        args.insecure,
    )
    .await
    {
        Ok(target) => target,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    // The server's memory before any connection opens; a PID that cannot be read fails here.
    let server_before =
        server_pid.map(|pid| usage::sample(pid).map_err(|e| format!("--server-pid {pid}: {e}")));
    let server_before = match server_before.transpose() {
        Ok(sample) => sample,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    // The load generator's own, where /proc can tell it.
    let client_before = usage::sample(std::process::id()).ok();
    let shared = Arc::new(Shared {
        target,
        config,
        payload: Payload::new(args.payload, size, args.binary),
        pipeline: args.pipeline as usize,
        connections: args.connections as usize,
        rate: args.echo_rate,
        idle: args.idle,
        start: Instant::now(),
        connect_rate: args.connect_rate.filter(|rate| *rate > 0.0),
        gate: Semaphore::new(args.connect_concurrency as usize),
    });
    let bar = progress_bar(args.quiet, u64::from(args.connections));

    // Open every connection; each then waits for the plan.
    let (plan_tx, plan_rx) = watch::channel(None::<Plan>);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..args.connections as usize {
        let (shared, opened, plan) = (shared.clone(), opened_tx.clone(), plan_rx.clone());
        tasks.spawn(connection(index, shared, opened, plan));
    }
    drop(opened_tx);
    let mut connect = report::ConnectPhase::new(u64::from(args.connections));
    while let Some(opened) = opened_rx.recv().await {
        connect.add(opened);
        bar.inc(1);
    }
    connect.finish(shared.start.elapsed());
    if connect.out_of_files {
        eprintln!(
            "switchboard: out of file descriptors (EMFILE); raise the limit with `ulimit -n` \
             (the hard limit is {})",
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(_, hard)| hard)
        );
    }

    // Warm up and measure (or hold), all connections on one clock.
    let warmup = if args.idle {
        Duration::ZERO
    } else {
        args.warmup
    };
    let now = Instant::now();
    let plan = Plan {
        warmup_end: now + warmup,
        end: now + warmup + args.duration,
        progress: Arc::default(),
    };
    let _ = plan_tx.send(Some(plan.clone()));
    let watch = |pid, before| tokio::spawn(usage::watch(pid, before, plan.clone()));
    let server_watch = server_pid.zip(server_before).map(|(p, b)| watch(p, b));
    let client_watch = client_before.map(|before| watch(std::process::id(), before));
    let ticker = tokio::spawn(show_progress(bar.clone(), plan.clone(), args.idle));
    let mut merged = ConnStats::new();
    let mut held = report::Held::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Outcome::Echo(stats)) => merged.merge(&stats),
            Ok(Outcome::Held(result)) => held.add(result),
            Ok(Outcome::Failed) => {}
            Err(e) => merged.error(format!("connection task failed: {e}")),
        }
    }
    ticker.abort();
    bar.finish_and_clear();
    let server = match server_watch {
        Some(watch) => watch.await.ok(),
        None => None,
    };
    let client = match client_watch {
        Some(watch) => watch.await.ok(),
        None => None,
    };

    let report = report::Report::new(report::Inputs {
        target: shared.target.describe(),
        raw_tcp: shared.target.is_raw_tcp(),
        idle: args.idle,
        connections: args.connections,
        size: args.size,
        payload: args.payload,
        binary: args.binary,
        pipeline: args.pipeline,
        rate: args.echo_rate,
        duration: args.duration,
        warmup,
        threads,
        connect,
        held,
        stats: &merged,
        server,
        client,
    });
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = &args.plot {
        let svg = plot::svg(&merged.latency, &report.title());
        if let Err(e) = std::fs::write(path, svg) {
            return exit::fail(
                exit::FAILURE,
                format!("cannot write {}: {e}", path.display()),
            );
        }
    }
    if report.connect.opened == 0 {
        return exit::fail(exit::CONNECT_FAILED, "no connection could be opened");
    }
    ExitCode::from(exit::OK)
}

/// One connection, from opening it to its outcome.
async fn connection(
    index: usize,
    shared: Arc<Shared>,
    opened: mpsc::UnboundedSender<Result<Duration, String>>,
    mut plan: watch::Receiver<Option<Plan>>,
) -> Outcome {
    if let Some(rate) = shared.connect_rate {
        let at = shared.start + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
    }
    let Ok(permit) = shared.gate.acquire().await else {
        return Outcome::Failed;
    };
    let started = Instant::now();
    let transport = if shared.target.is_raw_tcp() {
        shared.target.dial_tcp(index).await.map(Transport::Tcp)
    } else {
        let ws = shared.target.dial_ws(index, &shared.config).await;
        ws.map(|ws| Transport::Ws(Box::new(ws)))
    };
    drop(permit);
    let transport = match transport {
        Ok(transport) => {
            let _ = opened.send(Ok(started.elapsed()));
            transport
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return Outcome::Failed;
        }
    };
    drop(opened);
    let plan = match plan.wait_for(Option::is_some).await {
        Ok(plan) => plan.clone(),
        Err(_) => return Outcome::Failed,
    };
    let Some(plan) = plan else {
        return Outcome::Failed;
    };
    let (payload, pipeline) = (shared.payload.clone(), shared.pipeline);
    let pace = shared
        .rate
        .map(|rate| echo::Pace::new(rate, shared.connections, pipeline, index, Instant::now()));
    match (transport, shared.idle) {
        (Transport::Ws(ws), true) => Outcome::Held(idle::websocket(*ws, plan).await),
        (Transport::Tcp(stream), true) => Outcome::Held(idle::raw_tcp(stream, plan).await),
        (Transport::Ws(ws), false) => {
            Outcome::Echo(echo::websocket(*ws, payload, pipeline, plan, pace).await)
        }
        (Transport::Tcp(stream), false) => {
            Outcome::Echo(echo::raw_tcp(stream, payload, pipeline, plan, pace).await)
        }
    }
}

enum Transport {
    Ws(Box<echo::CountedWs>),
    Tcp(tokio::net::TcpStream),
}

fn progress_bar(quiet: bool, connections: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(connections);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("connecting");
    bar
}

/// Moves the bar through the warm-up and the measured window, with the current echo rate.
async fn show_progress(bar: ProgressBar, plan: Plan, idle: bool) {
    let total = plan.end.saturating_duration_since(Instant::now());
    bar.set_length(u64::try_from(total.as_millis()).unwrap_or(u64::MAX).max(1));
    bar.set_position(0);
    let begin = Instant::now();
    let mut last = (begin, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let elapsed = u64::try_from(now.duration_since(begin).as_millis()).unwrap_or(u64::MAX);
        bar.set_position(elapsed);
        if idle {
            bar.set_prefix("holding");
            continue;
        }
        bar.set_prefix(if now < plan.warmup_end {
            "warm-up"
        } else {
            "measuring"
        });
        let count = plan.progress.get();
        let seconds = now.duration_since(last.0).as_secs_f64();
        if seconds > 0.0 {
            let rate = (count - last.1) as f64 / seconds;
            bar.set_message(format!("{rate:.0} msg/s"));
        }
        last = (now, count);
    }
}
