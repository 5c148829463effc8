//! This node's subscribers, by channel: where a delivery goes once the broker has it.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::outbox::Outbox;
use crate::broker::Delivery;
use crate::channel::ChannelName;
use crate::protocol::DisconnectCode;

/// Shards of the channel map. Subscribing takes one shard's write lock, delivering one
/// shard's read lock; with 64 of them, busy channels rarely contend.
const SHARDS: usize = 64;

type Shard = RwLock<HashMap<ChannelName, Vec<Arc<Outbox>>>>;

/// Channel → the outboxes of this node's subscribers.
///
/// Delivering is the hot path of fan-out: one read lock, then for each subscriber a
/// pointer copy into its outbox. Nothing is encoded or allocated per subscriber.
pub struct Fanout {
    shards: Box<[Shard]>,
    hasher: RandomState,
    delivered: AtomicU64,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("channels", &self.channels())
            .finish_non_exhaustive()
    }
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new()
    }
}

impl Fanout {
    /// An empty map.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            delivered: AtomicU64::new(0),
        }
    }

    fn shard(&self, channel: &ChannelName) -> &Shard {
        &self.shards[self.hasher.hash_one(channel) as usize % SHARDS]
    }

    /// Adds a subscriber; returns whether it is the channel's first on this node.
    pub fn add(&self, channel: &ChannelName, outbox: &Arc<Outbox>) -> bool {
        let mut shard = self
            .shard(channel)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let subscribers = shard.entry(channel.clone()).or_default();
        subscribers.push(Arc::clone(outbox));
        subscribers.len() == 1
    }

    /// Removes a subscriber; returns whether the channel has no subscriber left on this
    /// node. Removing one that is not there changes nothing.
    pub fn remove(&self, channel: &ChannelName, outbox: &Arc<Outbox>) -> bool {
        let mut shard = self
            .shard(channel)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = shard.get_mut(channel) else {
            return false;
        };
        let Some(index) = subscribers.iter().position(|s| Arc::ptr_eq(s, outbox)) else {
            return false;
        };
        subscribers.swap_remove(index);
        if subscribers.is_empty() {
            shard.remove(channel);
            return true;
        }
        false
    }

    /// Hands `delivery` to every subscriber of its channel on this node; returns how many
    /// took it (an overflowed outbox does not).
    pub fn deliver(&self, delivery: Arc<Delivery>) -> usize {
        let shard = self
            .shard(delivery.channel())
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = shard.get(delivery.channel()) else {
            return 0;
        };
        let taken = subscribers.iter().filter(|s| s.push(&delivery)).count();
        drop(shard);
        self.delivered.fetch_add(taken as u64, Ordering::Relaxed);
        taken
    }

    /// Whether `channel` has a subscriber on this node.
    pub fn has_subscribers(&self, channel: &ChannelName) -> bool {
        self.shard(channel)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(channel)
    }

    /// Asks every subscriber of `channel` on this node to disconnect with `code`; returns
    /// how many were asked.
    pub fn disconnect(&self, channel: &ChannelName, code: DisconnectCode, reason: &str) -> usize {
        let shard = self
            .shard(channel)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = shard.get(channel) else {
            return 0;
        };
        for outbox in subscribers {
            outbox.disconnect(code, reason);
        }
        subscribers.len()
    }

    /// How many channels have subscribers on this node.
    pub fn channels(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// How many subscriptions this node holds.
    pub fn subscriptions(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }

    /// Deliveries handed to outboxes since the start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}
