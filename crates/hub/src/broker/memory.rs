//! The broker for one node: history in memory, delivery straight into the node's fanout.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;

use super::{Broker, Delivery};
use crate::channel::ChannelName;
use crate::engine::EngineError;
use crate::history::{HistoryOptions, MemoryHistory, Payload, Publication, StreamPosition};
use crate::node::Fanout;
use crate::presence::ClientInfo;
use crate::protocol::Push;

/// How many locks order publications. Publications in one channel take the same lock;
/// different channels rarely share one, so publishers in different channels do not wait
/// for each other.
const ORDER_LOCKS: usize = 64;

/// The single-node broker: appends to a [`MemoryHistory`] and delivers to the node's
/// [`Fanout`], both under a per-channel lock so that offsets reach subscribers in order.
pub struct MemoryBroker {
    history: Arc<MemoryHistory>,
    fanout: Arc<Fanout>,
    order: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker").finish_non_exhaustive()
    }
}

impl MemoryBroker {
    /// A broker over `history` delivering into `fanout`.
    pub fn new(history: Arc<MemoryHistory>, fanout: Arc<Fanout>) -> Self {
        Self {
            history,
            fanout,
            order: (0..ORDER_LOCKS).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(
        &self,
        channel: &ChannelName,
        data: Payload,
        info: Option<ClientInfo>,
        history: HistoryOptions,
        now: Instant,
    ) -> Result<StreamPosition, EngineError> {
        let lock = &self.order[self.hasher.hash_one(channel) as usize % ORDER_LOCKS];
        // Held across the append and the delivery, which never block: pushing into an
        // outbox is a short lock of its own.
        let _ordered = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let publication = Publication {
            offset: 0,
            data: data.clone(),
            info: info.clone(),
        };
        let position = self.history.append(channel, data, info, history, now);
        let publication = Publication {
            offset: position.offset,
            ..publication
        };
        let delivery = Delivery::publication(channel.clone(), &publication, &position.epoch);
        self.fanout.deliver(Arc::new(delivery));
        Ok(position)
    }

    async fn publish_event(&self, channel: &ChannelName, push: &Push) -> Result<(), EngineError> {
        self.fanout
            .deliver(Arc::new(Delivery::event(channel.clone(), push)));
        Ok(())
    }

    async fn subscribe(&self, _channel: &ChannelName) -> Result<(), EngineError> {
        Ok(())
    }

    async fn unsubscribe(&self, _channel: &ChannelName) -> Result<(), EngineError> {
        Ok(())
    }
}
