//! The broker seam: publishing into a channel and delivering to its subscribers, on this
//! node and, with a shared engine, on every node.
//!
//! # Why publishing is one step
//!
//! A publication gets its offset from the channel's stream and must reach subscribers in
//! offset order, or a client would see offset 7 before 6 and its recovery position would be
//! wrong. So appending to history and delivering happen together, under one lock per channel
//! in memory (and in one script in Redis, whose pub/sub then keeps the order). History reads
//! stay on the [`History`](crate::history::History) seam.
//!
//! # Delivery
//!
//! The broker hands each publication to the node's [`Fanout`](crate::node::Fanout) once, as
//! an `Arc<`[`Delivery`]`>`: the push frame is encoded once per node, and every subscriber's
//! outbox holds a pointer to the same bytes.

mod memory;

use std::time::Instant;

use async_trait::async_trait;
use switchboard::{Message, Utf8Bytes};

pub use memory::MemoryBroker;

use crate::channel::ChannelName;
use crate::engine::{EngineError, EngineStatus};
use crate::history::{HistoryOptions, Payload, Publication, StreamPosition};
use crate::presence::ClientInfo;
use crate::protocol::{encode_publication, Push};

/// The broker seam (see the [module documentation](self)). The shape follows
/// [`crate::engine`].
#[async_trait]
pub trait Broker: Send + Sync {
    /// Appends `data` to `channel`'s stream (kept as `history` says) and delivers it to the
    /// channel's subscribers, in offset order. Returns the publication's position.
    async fn publish(
        &self,
        channel: &ChannelName,
        data: Payload,
        info: Option<ClientInfo>,
        history: HistoryOptions,
        now: Instant,
    ) -> Result<StreamPosition, EngineError>;

    /// Delivers a join or leave push to the channel's subscribers; it is not stored.
    async fn publish_event(&self, channel: &ChannelName, push: &Push) -> Result<(), EngineError>;

    /// A subscriber to `channel` was added to this node's fanout: returns once this node
    /// receives the channel's publications, so that a stream position read afterwards
    /// misses nothing. Called for every subscriber, not only the first, so that a second
    /// subscriber also waits while the first one's subscription is still being set up. The
    /// memory broker needs nothing; a shared engine subscribes the node.
    async fn subscribe(&self, channel: &ChannelName) -> Result<(), EngineError>;

    /// The last subscriber to `channel` left this node's fanout: stop receiving it, unless
    /// a new subscriber has arrived meanwhile (the fanout is the truth).
    async fn unsubscribe(&self, channel: &ChannelName) -> Result<(), EngineError>;

    /// Tells every other node to carry out `control`. The memory broker has no other node.
    async fn broadcast(&self, _control: &Control) -> Result<(), EngineError> {
        Ok(())
    }

    /// Where controls from other nodes go: the node registers itself once it exists.
    fn on_control(&self, _handler: ControlHandler) {}

    /// Whether the engine can serve now, for `/health` and `/metrics`.
    fn status(&self) -> EngineStatus {
        EngineStatus {
            engine: "memory",
            healthy: true,
            detail: String::new(),
            counters: Default::default(),
        }
    }
}

/// A command every node carries out, so that the hub acts as one across nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Control {
    /// The HTTP API's `disconnect`: every connection of `user`, on every node.
    DisconnectUser {
        /// The user id (empty: anonymous connections).
        user: String,
        /// For the client's developer.
        reason: String,
    },
}

/// Receives the controls other nodes broadcast.
pub type ControlHandler = std::sync::Arc<dyn Fn(Control) + Send + Sync>;

/// One publication, join or leave on its way to every subscriber of a channel on this node,
/// encoded once.
#[derive(Debug)]
pub struct Delivery {
    channel: ChannelName,
    position: Option<StreamPosition>,
    json: Utf8Bytes,
    plain: Option<Message>,
}

impl Delivery {
    /// A publication at `epoch`, encoded for protocol and plain subscribers.
    pub fn publication(channel: ChannelName, publication: &Publication, epoch: &str) -> Self {
        let json = text(encode_publication(&channel, publication));
        let plain = match &publication.data {
            Payload::Json(bytes) | Payload::Text(bytes) => {
                Some(match Utf8Bytes::try_from(bytes.clone()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => Message::Binary(bytes.clone()),
                })
            }
            Payload::Binary(bytes) => Some(Message::Binary(bytes.clone())),
        };
        Self {
            channel,
            position: Some(StreamPosition {
                offset: publication.offset,
                epoch: epoch.to_owned(),
            }),
            json,
            plain,
        }
    }

    /// A push that is not a publication (join, leave): protocol subscribers only.
    pub fn event(channel: ChannelName, push: &Push) -> Self {
        // Serializing a push (strings, numbers and JSON values) cannot fail.
        let json = serde_json::to_string(push).unwrap_or_default();
        Self {
            channel,
            position: None,
            json: Utf8Bytes::from(json),
            plain: None,
        }
    }

    /// A join or leave push already encoded as JSON (by another node).
    pub fn event_encoded(channel: ChannelName, json: Utf8Bytes) -> Self {
        Self {
            channel,
            position: None,
            json,
            plain: None,
        }
    }

    /// The channel.
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// The publication's offset and epoch; `None` for a join or leave.
    pub fn position(&self) -> Option<&StreamPosition> {
        self.position.as_ref()
    }

    /// The frame for protocol subscribers.
    pub fn json(&self) -> &Utf8Bytes {
        &self.json
    }

    /// The message for plain-room subscribers; `None` for a join or leave.
    pub fn plain(&self) -> Option<&Message> {
        self.plain.as_ref()
    }

    /// The size an outbox counts for it.
    pub fn size(&self) -> usize {
        self.json.len()
    }
}

fn text(bytes: bytes::Bytes) -> Utf8Bytes {
    // The encoder writes JSON, which is UTF-8; a failure here would be a bug in it, and a
    // binary frame is still better than a panic in the publisher.
    Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from("{}"))
}
