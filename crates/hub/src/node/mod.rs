//! The hub runtime: one node's connections, executing what their sessions decide against
//! the broker, history and presence engines.
//!
//! ```text
//!   WebSocket ──▶ Pump ──▶ Session::handle_frame ──▶ Actions ──▶ Broker / History / Presence
//!       ▲                                                             │ publish
//!       │                                                             ▼
//!       └──── Pump ◀── Outbox ◀── Fanout::deliver(Arc<Delivery>) ◀── Broker
//! ```
//!
//! A [`Node`] is shared (`Arc`) by every connection task and by the HTTP API. Each
//! connection runs in one task ([`Node::serve_protocol`], [`PlainSeat::serve`]) that owns
//! its WebSocket and its [`Session`](crate::Session), and drains its bounded [`Outbox`].

mod client;
mod fanout;
mod metrics;
mod outbox;
mod plain;
mod pump;
mod registry;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use client::ConnectionInfo;
pub use fanout::{Fanout, Receives};
pub use metrics::Metrics;
pub use outbox::{Item, Outbox, OutboxLimits, Taken};
pub use plain::{PlainAccess, PlainRoomError, PlainSeat};

use crate::broker::{Broker, Control, MemoryBroker};
use crate::channel::{ChannelName, Namespaces};
use crate::engine::EngineError;
use crate::history::{
    History, HistoryOptions, HistorySlice, MemoryHistory, Payload, Recovery, StreamPosition,
};
use crate::permission::Authenticator;
use crate::presence::{ClientInfo, MemoryPresence, Presence, PresenceStats};
use crate::protocol::DisconnectCode;
use crate::session::SessionConfig;
use registry::Registry;

/// What a node needs to know, beyond its engines.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The namespaces and their rules.
    pub namespaces: Namespaces,
    /// Per-connection limits of the protocol (rate limit, subscriptions).
    pub session: SessionConfig,
    /// How far behind a client may fall before it is disconnected as slow.
    pub outbox: OutboxLimits,
    /// How long a protocol client has to send `connect` after the WebSocket opens.
    /// Default 10 s: a connection that never says who it is only costs the server.
    pub connect_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            namespaces: Namespaces::default(),
            session: SessionConfig::default(),
            outbox: OutboxLimits::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The engines a node runs on: the memory ones by default ([`Engines::memory`]).
pub struct Engines {
    /// Publishing and delivery.
    pub broker: Arc<dyn Broker>,
    /// History reads: recovery and the `history` command.
    pub history: Arc<dyn History>,
    /// Who is in each channel.
    pub presence: Arc<dyn Presence>,
    /// Runs now and then to drop expired state, if the engine needs it.
    pub maintenance: Option<Arc<dyn Fn(Instant) + Send + Sync>>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines").finish_non_exhaustive()
    }
}

impl Engines {
    /// Engines that keep everything in this process: a single node.
    pub fn memory(fanout: &Arc<Fanout>) -> Self {
        // Epochs must differ across restarts (see `MemoryHistory::new`).
        let history = Arc::new(MemoryHistory::new(rand::random(), Duration::from_secs(300)));
        let maintenance = {
            let history = Arc::clone(&history);
            Arc::new(move |now| {
                history.purge_expired(now);
            })
        };
        Self {
            broker: Arc::new(MemoryBroker::new(Arc::clone(&history), Arc::clone(fanout))),
            history,
            presence: Arc::new(MemoryPresence::new()),
            maintenance: Some(maintenance),
        }
    }
}

/// One running hub node. See the [module documentation](self).
pub struct Node {
    pub(crate) config: NodeConfig,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) history: Arc<dyn History>,
    pub(crate) presence: Arc<dyn Presence>,
    pub(crate) fanout: Arc<Fanout>,
    pub(crate) metrics: Metrics,
    pub(crate) registry: Registry,
    maintenance: Option<Arc<dyn Fn(Instant) + Send + Sync>>,
    id: String,
    next_client: AtomicU64,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("clients", &self.registry.len())
            .finish_non_exhaustive()
    }
}

/// What the HTTP API's `info` returns.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// This node's id, random per start.
    pub node: String,
    /// The crate version.
    pub version: &'static str,
    /// Open client connections.
    pub clients: usize,
    /// Distinct users among them (anonymous counted once).
    pub users: usize,
    /// Channels with subscribers on this node.
    pub channels: usize,
    /// Subscriptions on this node.
    pub subscriptions: usize,
}

impl Node {
    /// A node on the in-memory engines.
    pub fn memory(config: NodeConfig, authenticator: Arc<dyn Authenticator>) -> Arc<Self> {
        let fanout = Arc::new(Fanout::new());
        let engines = Engines::memory(&fanout);
        Self::new(config, authenticator, fanout, engines)
    }

    /// A node on the given engines; `fanout` is the map the broker delivers into.
    pub fn new(
        config: NodeConfig,
        authenticator: Arc<dyn Authenticator>,
        fanout: Arc<Fanout>,
        engines: Engines,
    ) -> Arc<Self> {
        let node = Arc::new(Self {
            config,
            authenticator,
            broker: engines.broker,
            history: engines.history,
            presence: engines.presence,
            fanout,
            metrics: Metrics::default(),
            registry: Registry::default(),
            maintenance: engines.maintenance,
            id: format!("{:08x}", rand::random::<u32>()),
            next_client: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&node);
        node.broker.on_control(Arc::new(move |control| {
            if let Some(node) = weak.upgrade() {
                node.apply(control);
            }
        }));
        node
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The node's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Checks a token as `connect` would: refused, expired, or the credentials.
    pub fn authenticate(
        &self,
        token: &str,
        now: Instant,
    ) -> Result<crate::permission::Credentials, crate::permission::AuthError> {
        let credentials = self.authenticator.authenticate(token, now)?;
        match credentials.expires_at {
            Some(at) if at <= now => Err(crate::permission::AuthError::Expired),
            _ => Ok(credentials),
        }
    }

    /// A new client id, unique across nodes (the node id is random) and connections.
    pub(crate) fn next_client_id(&self) -> String {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id)
    }

    /// The namespace options of `channel`, or an error for an unknown namespace.
    fn history_options(&self, channel: &ChannelName) -> Result<HistoryOptions, ApiError> {
        let namespace = self
            .config
            .namespaces
            .resolve(channel)
            .map_err(|_| ApiError::UnknownChannel)?;
        Ok(HistoryOptions {
            size: namespace.history_size,
            ttl: namespace.history_ttl,
        })
    }

    /// Publishes from the server side (the HTTP API): no client, no client permissions.
    pub async fn publish(
        &self,
        channel: &ChannelName,
        data: Payload,
    ) -> Result<StreamPosition, ApiError> {
        let options = self.history_options(channel)?;
        let position = self
            .broker
            .publish(channel, data, None, options, Instant::now())
            .await?;
        Metrics::add(&self.metrics.publications, 1);
        Ok(position)
    }

    /// Who is in `channel`.
    pub async fn presence(&self, channel: &ChannelName) -> Result<Vec<ClientInfo>, ApiError> {
        self.presence_enabled(channel)?;
        Ok(self.presence.list(channel).await?)
    }

    /// How many are in `channel`.
    pub async fn presence_stats(&self, channel: &ChannelName) -> Result<PresenceStats, ApiError> {
        self.presence_enabled(channel)?;
        Ok(self.presence.stats(channel).await?)
    }

    fn presence_enabled(&self, channel: &ChannelName) -> Result<(), ApiError> {
        let namespace = self
            .config
            .namespaces
            .resolve(channel)
            .map_err(|_| ApiError::UnknownChannel)?;
        if namespace.presence {
            Ok(())
        } else {
            Err(ApiError::NotEnabled("presence"))
        }
    }

    /// The latest `limit` publications in `channel`, or those after `since`.
    pub async fn history(
        &self,
        channel: &ChannelName,
        limit: usize,
        since: Option<&StreamPosition>,
    ) -> Result<HistorySlice, ApiError> {
        let options = self.history_options(channel)?;
        if options.size == 0 {
            return Err(ApiError::NotEnabled("history"));
        }
        let now = Instant::now();
        match since {
            None => Ok(self.history.top(channel, limit, now).await?),
            Some(position) => match self
                .history
                .since(channel, position, Some(limit), now)
                .await?
            {
                Recovery::Recovered(slice) => Ok(slice),
                Recovery::Lost { position } => Err(ApiError::Unrecoverable(position)),
            },
        }
    }

    /// Disconnects every connection of `user` (code 4005, no reconnect) on this node and,
    /// through the engine, on every other; returns how many were on this node. Fails if the
    /// other nodes could not be told.
    pub async fn disconnect_user(&self, user: &str, reason: &str) -> Result<usize, ApiError> {
        let here = self.disconnect_here(user, reason);
        let control = Control::DisconnectUser {
            user: user.to_owned(),
            reason: reason.to_owned(),
        };
        self.broker.broadcast(&control).await?;
        Ok(here)
    }

    fn disconnect_here(&self, user: &str, reason: &str) -> usize {
        self.registry
            .disconnect(|entry| entry.user == user, DisconnectCode::FORCED, reason)
    }

    /// Carries out a control another node broadcast.
    fn apply(&self, control: Control) {
        match control {
            Control::DisconnectUser { user, reason } => {
                let count = self.disconnect_here(&user, &reason);
                tracing::debug!(%user, count, "disconnected on another node's request");
            }
        }
    }

    /// Counts for the API's `info`.
    pub fn info(&self) -> NodeInfo {
        let (clients, users) = self.registry.counts();
        NodeInfo {
            node: self.id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            clients,
            users,
            channels: self.fanout.channels(),
            subscriptions: self.fanout.subscriptions(),
        }
    }

    /// The metrics page.
    pub fn render_metrics(&self) -> String {
        let info = self.info();
        let engine = self.engine_status();
        let counters = engine.counters;
        let gauges = [
            (
                "switchboard_channels",
                "Channels with subscribers on this node.",
                info.channels as u64,
            ),
            (
                "switchboard_subscriptions",
                "Subscriptions on this node.",
                info.subscriptions as u64,
            ),
            (
                "switchboard_users",
                "Distinct users connected to this node.",
                info.users as u64,
            ),
            (
                "switchboard_engine_up",
                "1 while every part of the engine (each Redis shard) answers, else 0.",
                u64::from(engine.healthy),
            ),
        ];
        let totals = [
            (
                "switchboard_deliveries_total",
                "Deliveries handed to subscribers' outboxes.",
                self.fanout.delivered(),
            ),
            (
                "switchboard_engine_errors_total",
                "Engine operations that failed (Redis unreachable, timed out).",
                counters.errors,
            ),
            (
                "switchboard_engine_reconnects_total",
                "Pub/sub connections to Redis re-established after a loss.",
                counters.reconnects,
            ),
            (
                "switchboard_engine_gaps_filled_total",
                "Publications delivered from history because pub/sub had missed them.",
                counters.gaps_filled,
            ),
            (
                "switchboard_engine_streams_lost_total",
                "Times a channel's subscribers here were told to recover (4006).",
                counters.streams_lost,
            ),
        ];
        self.metrics.render(&gauges, &totals)
    }

    /// Whether the engine can serve now.
    pub fn engine_status(&self) -> crate::engine::EngineStatus {
        self.broker.status()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Asks every connection to end with a reconnect hint (`disconnect` code 4000, then
    /// close 1001) and waits until they have, or `deadline` has passed. Connections
    /// arriving meanwhile are refused by the server.
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.registry
            .disconnect(|_| true, DisconnectCode::SHUTDOWN, "server shutting down");
        let until = tokio::time::Instant::now() + deadline;
        while self.registry.len() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.registry.len()
    }

    /// Runs the engines' upkeep (dropping expired history) every `every`, forever.
    pub async fn run_maintenance(self: Arc<Self>, every: Duration) {
        let Some(maintenance) = self.maintenance.clone() else {
            return;
        };
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            maintenance(Instant::now());
        }
    }
}

/// Why a server-side operation failed; the HTTP API maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The channel's namespace is not configured.
    UnknownChannel,
    /// The namespace has this feature off.
    NotEnabled(&'static str),
    /// `since` cannot be continued from; the stream is now here.
    Unrecoverable(StreamPosition),
    /// An engine failed.
    Engine(EngineError),
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        Self::Engine(error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownChannel => f.write_str("unknown channel namespace"),
            Self::NotEnabled(feature) => write!(f, "{feature} is not enabled in this namespace"),
            Self::Unrecoverable(_) => f.write_str("position can no longer be continued from"),
            Self::Engine(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// The payload of a JSON value published through the API.
pub fn json_payload(value: &serde_json::Value) -> Payload {
    // Serializing a `Value` cannot fail.
    Payload::Json(Bytes::from(serde_json::to_vec(value).unwrap_or_default()))
}
