//! The Redis engine: many `switchboard serve` nodes behind a load balancer act as one hub.
//!
//! ```text
//!  node A                         Redis shard (by channel)                     node B
//!  publish ──▶ PUBLISH script: offset = HINCRBY meta.s, XADD history, PUBLISH ──▶ pub/sub
//!                                                                          task per shard
//!                                                        decode once ──▶ Fanout::deliver
//!  subscribe ─▶ SUBSCRIBE on the shard's pub/sub connection, then read the position
//!  presence ──▶ a hash of entries and a sorted set of their expiry times, refreshed by
//!               the node that owns them; a dead node's entries expire
//! ```
//!
//! | file | what it holds |
//! | --- | --- |
//! | `keys.rs` | key names, and which shard a channel lives on |
//! | `codec.rs` | publications as Redis keeps and sends them |
//! | `scripts.rs` | the Lua scripts that make publish, read and presence atomic |
//! | `history.rs` | [`History`](crate::History) on Redis streams; recovery decisions |
//! | `presence.rs` | [`Presence`](crate::Presence) with expiring entries |
//! | `broker.rs` | [`Broker`](crate::broker::Broker): publish, subscribe, and the pub/sub task that reconnects and closes gaps |
//!
//! # Guarantees
//!
//! Offsets are assigned by Redis in one script per publication, which also appends to
//! history and publishes to the nodes, so every node sees a channel's publications in
//! offset order. A node that notices a gap (its pub/sub connection dropped, or an offset
//! skipped) fills it from history before delivering anything newer; if history no longer
//! covers it, or the stream's epoch changed (Redis restarted without persistence), it
//! disconnects that channel's subscribers with
//! [`INSUFFICIENT_STATE`](crate::protocol::DisconnectCode::INSUFFICIENT_STATE), and their
//! recovery then says whether it could continue. A publish that Redis did not store fails:
//! nothing is acknowledged that was not stored.

mod broker;
mod codec;
mod history;
mod keys;
mod presence;
mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};

use crate::channel::ChannelName;
use crate::engine::{EngineCounters, EngineError, EngineStatus};
use crate::history::StreamPosition;
use crate::node::{Engines, Fanout};
use crate::presence::ClientInfo;
use keys::{shard_of, ChannelKeys};
use scripts::Scripts;

/// How to reach Redis and how long things live there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// One URL per shard: `redis://[:PASSWORD@]HOST:PORT/[DB]`, or `rediss://` for TLS.
    /// Channels are spread over them by a hash of their name.
    pub urls: Vec<String>,
    /// What every key and pub/sub channel name starts with, so that several hubs can share
    /// one Redis. Default `switchboard`.
    pub prefix: String,
    /// How long a presence entry lives without being refreshed: how long a node that died
    /// keeps showing its clients. Nodes refresh their entries three times per period.
    /// Default 60 s.
    pub presence_ttl: Duration,
    /// How long one Redis operation may take before it fails (and a publish is refused).
    /// Default 2 s.
    pub timeout: Duration,
    /// How long a stream created by a read, with no publication yet, is kept. Default 300 s,
    /// as in memory.
    pub idle_stream_ttl: Duration,
}

impl RedisOptions {
    /// Options for these URLs, with the defaults for the rest.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            urls,
            prefix: "switchboard".into(),
            presence_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            idle_stream_ttl: Duration::from_secs(300),
        }
    }
}

/// What a shard's pub/sub task shares with subscribe and unsubscribe.
struct Subscriptions {
    /// Where SUBSCRIBE goes; `None` while the connection is down.
    sink: Option<PubSubSink>,
    /// The channels this node receives from the shard: resubscribed after a reconnect.
    channels: HashSet<ChannelName>,
}

/// One Redis server and the channels that hash to it.
struct Shard {
    index: usize,
    url: String,
    client: redis::Client,
    commands: ConnectionManager,
    subscriptions: tokio::sync::Mutex<Subscriptions>,
    /// The last position delivered to this node's subscribers, per channel.
    delivered: Mutex<HashMap<ChannelName, StreamPosition>>,
    pubsub_up: AtomicBool,
    commands_up: AtomicBool,
}

impl Shard {
    fn delivered(&self) -> MutexGuard<'_, HashMap<ChannelName, StreamPosition>> {
        // Every critical section leaves the map consistent.
        self.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Redis as the hub's broker, history and presence. See the [module documentation](self).
pub struct RedisEngine {
    options: RedisOptions,
    shards: Vec<Shard>,
    fanout: Arc<Fanout>,
    scripts: Scripts,
    /// Presence entries this node owns, refreshed until removed.
    owned_presence: Mutex<HashMap<(ChannelName, String), ClientInfo>>,
    errors: AtomicU64,
    reconnects: AtomicU64,
    gaps_filled: AtomicU64,
    streams_lost: AtomicU64,
    /// Tells this engine's broadcasts from other nodes'.
    id: String,
    control: std::sync::OnceLock<crate::broker::ControlHandler>,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine")
            .field("shards", &self.shards.len())
            .field("prefix", &self.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisEngine {
    /// An engine over `options.urls`, delivering into `fanout`, with its background tasks
    /// (pub/sub per shard, presence refresh, health checks) started on the current tokio
    /// runtime. Redis need not be up: the engine connects when it can and reports its
    /// health meanwhile. Fails only for a URL that cannot be used.
    pub fn start(options: RedisOptions, fanout: Arc<Fanout>) -> Result<Arc<Self>, EngineError> {
        if options.urls.is_empty() {
            return Err(unavailable("no Redis URL given"));
        }
        let mut shards = Vec::with_capacity(options.urls.len());
        for (index, url) in options.urls.iter().enumerate() {
            let client = redis::Client::open(url.as_str())
                .map_err(|e| unavailable(format!("Redis URL {}: {e}", redact_url(url))))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(options.timeout))
                .set_response_timeout(Some(options.timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(1));
            let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(|e| unavailable(format!("Redis URL {}: {e}", redact_url(url))))?;
            shards.push(Shard {
                index,
                url: redact_url(url),
                client,
                commands,
                subscriptions: tokio::sync::Mutex::new(Subscriptions {
                    sink: None,
                    channels: HashSet::new(),
                }),
                delivered: Mutex::new(HashMap::new()),
                pubsub_up: AtomicBool::new(false),
                commands_up: AtomicBool::new(false),
            });
        }
        let engine = Arc::new(Self {
            options,
            shards,
            fanout,
            scripts: Scripts::new(),
            owned_presence: Mutex::new(HashMap::new()),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            gaps_filled: AtomicU64::new(0),
            streams_lost: AtomicU64::new(0),
            id: new_epoch(),
            control: std::sync::OnceLock::new(),
        });
        for index in 0..engine.shards.len() {
            tokio::spawn(Arc::clone(&engine).run_pubsub(index));
        }
        tokio::spawn(Arc::clone(&engine).run_health_checks());
        tokio::spawn(Arc::clone(&engine).run_presence_refresh());
        Ok(engine)
    }

    /// The engine as the node's broker, history and presence.
    pub fn engines(self: &Arc<Self>) -> Engines {
        Engines {
            broker: Arc::clone(self) as _,
            history: Arc::clone(self) as _,
            presence: Arc::clone(self) as _,
            maintenance: None,
        }
    }

    fn shard(&self, channel: &ChannelName) -> &Shard {
        &self.shards[shard_of(channel, self.shards.len())]
    }

    fn keys(&self, channel: &ChannelName) -> ChannelKeys {
        ChannelKeys::new(&self.options.prefix, channel)
    }

    /// Runs a script on `shard`, bounded by the timeout. An `idempotent` one runs once
    /// more if the connection turned out to be dropped (the manager reconnects on that
    /// error, so the first operation after a Redis restart would fail for nothing); one that
    /// must not run twice (a publish) fails instead, since the dropped connection may have
    /// lost the reply after Redis ran it. Records the shard's health from the outcome.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        shard: &Shard,
        invocation: redis::ScriptInvocation<'_>,
        idempotent: bool,
    ) -> Result<T, EngineError> {
        let invocation = &invocation;
        self.run(shard, idempotent, |mut connection| async move {
            invocation.invoke_async::<T>(&mut connection).await
        })
        .await
    }

    /// Runs one command on a shard, as [`invoke`](Self::invoke) does a script.
    async fn command<T: redis::FromRedisValue>(
        &self,
        shard: &Shard,
        command: &redis::Cmd,
        idempotent: bool,
    ) -> Result<T, EngineError> {
        self.run(shard, idempotent, |mut connection| async move {
            command.query_async::<T>(&mut connection).await
        })
        .await
    }

    async fn run<T, F, Fut>(
        &self,
        shard: &Shard,
        idempotent: bool,
        operation: F,
    ) -> Result<T, EngineError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempts = async {
            let mut result = operation(shard.commands.clone()).await;
            if idempotent
                && result
                    .as_ref()
                    .is_err_and(redis::RedisError::is_connection_dropped)
            {
                result = operation(shard.commands.clone()).await;
            }
            result
        };
        let result = tokio::time::timeout(self.options.timeout, attempts).await;
        let error = match result {
            Ok(Ok(value)) => {
                shard.commands_up.store(true, Ordering::Relaxed);
                return Ok(value);
            }
            Ok(Err(error)) => format!("Redis {}: {error}", shard.url),
            Err(_) => format!(
                "Redis {}: no answer within {:?}",
                shard.url, self.options.timeout
            ),
        };
        shard.commands_up.store(false, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        Err(unavailable(error))
    }

    /// Pings every shard every second, so `/health` tells the truth on an idle node too.
    async fn run_health_checks(self: Arc<Self>) {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            for shard in &self.shards {
                let was_up = shard.commands_up.load(Ordering::Relaxed);
                let now_up = self
                    .command::<String>(shard, &redis::cmd("PING"), true)
                    .await
                    .is_ok();
                if was_up != now_up {
                    if now_up {
                        tracing::info!(shard = shard.index, url = %shard.url, "Redis reachable");
                    } else {
                        tracing::warn!(shard = shard.index, url = %shard.url, "Redis unreachable");
                    }
                }
            }
        }
    }

    /// The engine's health: every shard must answer commands and hold its pub/sub
    /// connection.
    pub fn health(&self) -> EngineStatus {
        let down: Vec<String> = self
            .shards
            .iter()
            .filter(|s| {
                !s.commands_up.load(Ordering::Relaxed) || !s.pubsub_up.load(Ordering::Relaxed)
            })
            .map(|s| s.url.clone())
            .collect();
        EngineStatus {
            engine: "redis",
            healthy: down.is_empty(),
            detail: if down.is_empty() {
                String::new()
            } else {
                format!("Redis unreachable: {}", down.join(", "))
            },
            counters: EngineCounters {
                errors: self.errors.load(Ordering::Relaxed),
                reconnects: self.reconnects.load(Ordering::Relaxed),
                gaps_filled: self.gaps_filled.load(Ordering::Relaxed),
                streams_lost: self.streams_lost.load(Ordering::Relaxed),
            },
        }
    }

    /// For each shard, whether it answers and holds its pub/sub connection.
    pub fn shards_up(&self) -> Vec<bool> {
        self.shards
            .iter()
            .map(|s| s.commands_up.load(Ordering::Relaxed) && s.pubsub_up.load(Ordering::Relaxed))
            .collect()
    }
}

fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::Unavailable {
        reason: reason.into(),
    }
}

/// A new epoch: random, so that a stream recreated after Redis lost it never reuses one.
fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// `url` without its password, for logs, health and `--print-config`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_logs() {
        let table = [
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            (
                "redis://:s3cret@10.0.0.1:6379/0",
                "redis://<redacted>@10.0.0.1:6379/0",
            ),
            ("rediss://user:p@ss@host/", "rediss://<redacted>@host/"),
            ("not a url", "not a url"),
        ];
        for (url, shown) in table {
            assert_eq!(redact_url(url), shown);
        }
    }
}
