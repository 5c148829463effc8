//! Hub fan-out (`--fanout NODE_URL...`): how fast `switchboard serve` delivers one
//! publisher's messages to many subscribers.
//!
//! Subscriber `i` joins the plain room `/ws/{PREFIX}{i % channels}` on node
//! `(i / channels) % nodes`, so every channel's subscribers are spread over the nodes. Each
//! channel has one publisher on the first node ([`publish`](super::publish)), which starts
//! with the warm-up and sends [`Stamp`]s on schedule until the end of the measured window.
//!
//! A publication belongs to the window when its stamp does; a subscriber counts those it
//! receives (even after the window closes), their latency (receipt minus stamp) and their
//! order. When the publishers stop, each tells its channel's subscribers how many it sent, and
//! a subscriber stops once it has the last one, or [`DRAIN`] after the end. Expected
//! deliveries are, per subscriber, the publications of its channel in the window; what did
//! not arrive in order is missing.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use hdrhistogram::Histogram;
use switchboard::{CloseCode, Message, WebSocketConfig};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::dial::Target;
use super::echo::CountedWs;
use super::fanout_report::{Inputs, Report, Settings, Totals};
use super::publish::{nanos_since, Api, Link, Published, Publisher, Stamp, Via};
use super::report::ConnectPhase;
use super::stats::{histogram, record};
use super::{plot, progress_bar, show_progress, usage, Args, Plan};
use crate::exit;

/// How long subscribers wait after the window for the publications sent in it.
pub(crate) const DRAIN: Duration = Duration::from_secs(5);

/// Latency histograms the subscribers share, each behind its own lock (one histogram per
/// subscriber would take gigabytes at 10,000 subscribers).
const SHARDS: usize = 32;

/// What every subscriber shares.
struct Shared {
    config: WebSocketConfig,
    /// The stamps count from here.
    start: Instant,
    connect_rate: Option<f64>,
    gate: Semaphore,
    latency: Vec<Mutex<Histogram<u64>>>,
}

/// What one subscriber saw.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// The index of its channel.
    pub(crate) channel: usize,
    /// The index of its node.
    pub(crate) node: usize,
    /// Publications of the window it received.
    pub(crate) delivered: u64,
    /// Of those, how many had a sequence number no higher than one received before: a
    /// duplicate or a reordering.
    pub(crate) out_of_order: u64,
    /// Their payload bytes.
    pub(crate) bytes: u64,
    /// Messages without a stamp (someone else publishing in the channel).
    pub(crate) other: u64,
    /// Why it stopped early, if it did.
    pub(crate) error: Option<String>,
}

/// Runs the fan-out benchmark.
pub(crate) async fn run(args: Args, threads: usize) -> ExitCode {
    if args.publish_via == Via::Api && args.api_key.is_none() {
        return exit::fail(exit::FAILURE, "--publish-via api needs --api-key KEY");
    }
    let mut config = WebSocketConfig::default();
    if !args.deflate {
        config.compression = None;
    }
    let limits = &mut config.protocol.limits;
    limits.max_message_size = limits.max_message_size.max(args.size as usize + 64);
    limits.max_frame_size = limits.max_frame_size.max(args.size as usize + 64);
    let channels: Vec<String> = (0..args.channels)
        .map(|c| format!("{}{c}", args.channel_prefix))
        .collect();
    let (nodes, rooms) = match resolve(&args.fanout, &channels, &config, args.insecure).await {
        Ok(resolved) => resolved,
        Err(e) => return exit::fail(exit::FAILURE, e),
    };
    let mut server_before = Vec::new();
    for &pid in &args.server_pid {
        match usage::sample(pid) {
            Ok(sample) => server_before.push((pid, sample)),
            Err(e) => return exit::fail(exit::FAILURE, format!("--server-pid {pid}: {e}")),
        }
    }
    let client_before = usage::sample(std::process::id()).ok();
    let shared = Arc::new(Shared {
        config,
        start: Instant::now(),
        connect_rate: args.connect_rate.filter(|rate| *rate > 0.0),
        gate: Semaphore::new(args.connect_concurrency as usize),
        latency: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
    });
    let subscribers = args.subscribers as usize;

    // The publishers' connections first: without them there is nothing to measure.
    if let (Via::Api, Some(key)) = (args.publish_via, &args.api_key) {
        if let Err(e) = check_api(&nodes[0], subscribers, key).await {
            return exit::fail(exit::FAILURE, e);
        }
    }
    let links = match open_links(&args, &nodes[0], &rooms[0], subscribers, &shared).await {
        Ok(links) => links,
        Err(e) => return exit::fail(exit::CONNECT_FAILED, e),
    };

    // Then every subscriber; each waits for the plan.
    let lasts: Vec<_> = channels
        .iter()
        .map(|_| watch::channel(None::<u64>))
        .collect();
    let (plan_tx, plan_rx) = watch::channel(None::<Plan>);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let connecting = Instant::now();
    for index in 0..subscribers {
        let channel = index % channels.len();
        let node = (index / channels.len()) % nodes.len();
        let target = rooms[node][channel].clone();
        let (shared, opened, plan) = (shared.clone(), opened_tx.clone(), plan_rx.clone());
        let last = lasts[channel].1.clone();
        let slot = Slot {
            index,
            channel,
            node,
            connecting,
        };
        tasks.spawn(subscriber(slot, target, shared, opened, plan, last));
    }
    drop(opened_tx);
    let bar = progress_bar(args.quiet, u64::from(args.subscribers));
    let mut connect = ConnectPhase::new(u64::from(args.subscribers));
    while let Some(opened) = opened_rx.recv().await {
        connect.add(opened);
        bar.inc(1);
    }
    connect.finish(connecting.elapsed());

    // Warm up and measure, everyone on one clock; the publishers start with the warm-up.
    let begin = Instant::now();
    let plan = Plan {
        warmup_end: begin + args.warmup,
        end: begin + args.warmup + args.duration,
        progress: Arc::default(),
    };
    let _ = plan_tx.send(Some(plan.clone()));
    let mut publishers = JoinSet::new();
    for (index, (link, (last, _))) in links.into_iter().zip(lasts).enumerate() {
        let publisher = Publisher {
            channel: channels[index].clone(),
            index,
            of: channels.len(),
            rate: args.rate,
            size: args.size as usize,
            start: shared.start,
            begin,
            last,
        };
        let plan = plan.clone();
        publishers.spawn(async move { (index, publisher.run(link, plan).await) });
    }
    let watch = |pid, before| tokio::spawn(usage::watch(pid, before, plan.clone()));
    let server_watches: Vec<_> = server_before
        .into_iter()
        .map(|(p, b)| watch(p, b))
        .collect();
    let client_watch = client_before.map(|before| watch(std::process::id(), before));
    let ticker = tokio::spawn(show_progress(bar.clone(), plan.clone(), false));

    let mut published: Vec<Published> = channels.iter().map(|_| Published::default()).collect();
    while let Some(joined) = publishers.join_next().await {
        match joined {
            Ok((index, result)) => published[index] = result,
            Err(e) => published[0].error = Some(format!("publisher task failed: {e}")),
        }
    }
    let mut received = Vec::with_capacity(subscribers);
    let mut totals = Totals::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some(result)) => received.push(result),
            Ok(None) => {}
            Err(e) => totals.error(format!("subscriber task failed: {e}")),
        }
    }
    ticker.abort();
    bar.finish_and_clear();
    let mut servers = Vec::new();
    for watch in server_watches {
        if let Ok(readings) = watch.await {
            servers.push(readings);
        }
    }
    let client = match client_watch {
        Some(watch) => watch.await.ok(),
        None => None,
    };
    let mut latency = histogram();
    for shard in &shared.latency {
        let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // Same bounds everywhere, so adding cannot fail.
        let _ = latency.add(&*shard);
    }

    let report = Report::new(Inputs {
        nodes: args.fanout.clone(),
        settings: Settings {
            subscribers: args.subscribers,
            channels: args.channels,
            channel_prefix: args.channel_prefix.clone(),
            rate_per_channel: args.rate,
            publish_via: args.publish_via.name(),
            message_size: args.size,
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            drain_s: DRAIN.as_secs_f64(),
            threads,
        },
        connect,
        published: &published,
        received: &received,
        totals,
        latency: &latency,
        servers,
        client,
        window: args.duration,
    });
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = &args.plot {
        let svg = plot::svg(&latency, &report.title());
        if let Err(e) = std::fs::write(path, svg) {
            let message = format!("cannot write {}: {e}", path.display());
            return exit::fail(exit::FAILURE, message);
        }
    }
    if report.connect.opened == 0 {
        return exit::fail(exit::CONNECT_FAILED, "no subscriber could connect");
    }
    ExitCode::from(exit::OK)
}

/// Resolves every node once, then each node's plain room for every channel:
/// `(nodes, rooms[node][channel])`.
async fn resolve(
    urls: &[String],
    channels: &[String],
    config: &WebSocketConfig,
    insecure: bool,
) -> Result<(Vec<Arc<Target>>, Vec<Vec<Arc<Target>>>), String> {
    let mut nodes = Vec::new();
    let mut rooms = Vec::new();
    for url in urls {
        let node = Target::resolve(Some(url), None, config, insecure).await?;
        let base = url.trim_end_matches('/');
        let mut row = Vec::with_capacity(channels.len());
        for channel in channels {
            let room = format!("{base}/ws/{channel}");
            let target = match &node {
                // Same address: no need to look the name up again.
                Target::Ws { addr, .. } => Target::Ws {
                    uri: room.parse().map_err(|e| format!("{room}: {e}"))?,
                    url: room,
                    addr: *addr,
                },
                _ => Target::resolve(Some(&room), None, config, insecure).await?,
            };
            row.push(Arc::new(target));
        }
        nodes.push(Arc::new(node));
        rooms.push(row);
    }
    Ok((nodes, rooms))
}

/// Asks the node's HTTP API for `info`, so a wrong key or an API that is off stops the run
/// before any subscriber connects.
async fn check_api(node: &Arc<Target>, index: usize, key: &str) -> Result<(), String> {
    let mut api = Api::open(node.clone(), index, key).await?;
    let (status, body) = api.post("info", b"{}").await?;
    if status != 200 {
        let body = String::from_utf8_lossy(&body);
        return Err(format!("the HTTP API answered {status}: {body}"));
    }
    Ok(())
}

/// Opens one publishing connection per channel on the first node; fails on the first that
/// cannot open.
async fn open_links(
    args: &Args,
    node: &Arc<Target>,
    rooms: &[Arc<Target>],
    first_index: usize,
    shared: &Arc<Shared>,
) -> Result<Vec<Link>, String> {
    let key = args.api_key.clone().unwrap_or_default();
    let mut opening = JoinSet::new();
    for (channel, room) in rooms.iter().enumerate() {
        let (node, room, shared, key) = (node.clone(), room.clone(), shared.clone(), key.clone());
        let via = args.publish_via;
        opening.spawn(async move {
            let _permit = shared.gate.acquire().await.map_err(|e| e.to_string())?;
            let index = first_index + channel;
            let link = match via {
                Via::Ws => Link::Ws(Box::new(room.dial_ws(index, &shared.config).await?)),
                Via::Api => Link::Api(Api::open(node, index, &key).await?),
            };
            Ok::<_, String>((channel, link))
        });
    }
    let mut links: Vec<Option<Link>> = rooms.iter().map(|_| None).collect();
    while let Some(joined) = opening.join_next().await {
        let (channel, link) = joined
            .map_err(|e| format!("a publisher task failed: {e}"))?
            .map_err(|e| format!("a publisher could not connect: {e}"))?;
        links[channel] = Some(link);
    }
    links
        .into_iter()
        .map(|link| link.ok_or_else(|| "a publisher did not connect".to_owned()))
        .collect()
}

/// Which subscriber a task is.
struct Slot {
    index: usize,
    channel: usize,
    node: usize,
    /// When the subscribers started connecting (`--connect-rate` counts from there).
    connecting: Instant,
}

/// One subscriber: opens its room, waits for the plan, receives until it has every
/// publication of the window (or the drain ends), closes. `None` if it could not open.
async fn subscriber(
    Slot {
        index,
        channel,
        node,
        connecting,
    }: Slot,
    target: Arc<Target>,
    shared: Arc<Shared>,
    opened: mpsc::UnboundedSender<Result<Duration, String>>,
    mut plan: watch::Receiver<Option<Plan>>,
    last: watch::Receiver<Option<u64>>,
) -> Option<Received> {
    if let Some(rate) = shared.connect_rate {
        let at = connecting + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
    }
    let permit = shared.gate.acquire().await.ok()?;
    let started = Instant::now();
    let ws = target.dial_ws(index, &shared.config).await;
    drop(permit);
    let mut ws = match ws {
        Ok(ws) => {
            let _ = opened.send(Ok(started.elapsed()));
            ws
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return None;
        }
    };
    drop(opened);
    let plan = plan.wait_for(Option::is_some).await.ok()?.clone()?;
    let mut receiver = Receiver {
        stats: Received {
            channel,
            node,
            ..Received::default()
        },
        window: (
            nanos_since(shared.start, plan.warmup_end),
            nanos_since(shared.start, plan.end),
        ),
        highest: None,
        samples: Vec::new(),
        shard: &shared.latency[index % SHARDS],
    };
    if let Err(e) = receiver.run(&mut ws, &plan, shared.start, last).await {
        receiver.stats.error = Some(e);
        return Some(receiver.stats);
    }
    let closing = ws.close(CloseCode::NORMAL_CLOSURE, "");
    let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
    Some(receiver.stats)
}

/// A subscriber's bookkeeping while it receives.
struct Receiver<'a> {
    stats: Received,
    /// The window's edges as stamps: `[start, end)` in nanoseconds since the run's start.
    window: (u64, u64),
    /// The highest sequence number received so far.
    highest: Option<u64>,
    /// Latencies of the current batch, in nanoseconds, recorded under one lock.
    samples: Vec<u64>,
    shard: &'a Mutex<Histogram<u64>>,
}

impl Receiver<'_> {
    async fn run(
        &mut self,
        ws: &mut CountedWs,
        plan: &Plan,
        start: Instant,
        mut last: watch::Receiver<Option<u64>>,
    ) -> Result<(), String> {
        let deadline = tokio::time::sleep_until((plan.end + DRAIN).into());
        tokio::pin!(deadline);
        // How many publications the channel had when its publisher stopped.
        let mut count = *last.borrow_and_update();
        loop {
            if count.is_some_and(|count| self.highest.map_or(0, |h| h + 1) >= count) {
                return Ok(());
            }
            let mut received = tokio::select! {
                biased;
                () = &mut deadline => return Ok(()),
                changed = last.changed(), if count.is_none() => {
                    // A publisher gone without a word published nothing more.
                    count = Some(changed.map_or(0, |()| last.borrow_and_update().unwrap_or(0)));
                    continue;
                }
                received = ws.recv() => received,
            };
            // This message and every one already buffered arrived now.
            let now = nanos_since(start, Instant::now());
            let before = self.stats.delivered;
            loop {
                match received {
                    Some(Ok(Message::Text(text))) => self.take(text.as_ref(), now),
                    Some(Ok(Message::Binary(bytes))) => self.take(&bytes, now),
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("the server closed the connection: {frame:?}"))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(e)) => return Err(format!("connection failed: {e}")),
                    None => return Err("the server closed the connection".into()),
                }
                // `recv` is cancel-safe, so polling it once and dropping it loses nothing.
                match ws.recv().now_or_never() {
                    Some(next) => received = next,
                    None => break,
                }
            }
            self.flush();
            plan.progress.add_many(self.stats.delivered - before);
        }
    }

    /// Counts one message received at `now` (nanoseconds since the run's start).
    fn take(&mut self, bytes: &[u8], now: u64) {
        let Some(stamp) = Stamp::decode(bytes) else {
            self.stats.other += 1;
            return;
        };
        let fresh = self.highest.is_none_or(|highest| stamp.seq > highest);
        if fresh {
            self.highest = Some(stamp.seq);
        }
        if stamp.t < self.window.0 || stamp.t >= self.window.1 {
            return;
        }
        self.stats.delivered += 1;
        self.stats.bytes += bytes.len() as u64;
        if !fresh {
            self.stats.out_of_order += 1;
        }
        self.samples.push(now.saturating_sub(stamp.t));
    }

    /// Records the batch's latencies.
    fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut histogram = self.shard.lock().unwrap_or_else(PoisonError::into_inner);
        for nanos in self.samples.drain(..) {
            record(&mut histogram, Duration::from_nanos(nanos));
        }
    }
}
