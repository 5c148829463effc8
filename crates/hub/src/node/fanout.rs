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

type Shard = RwLock<HashMap<ChannelName, Subscribers>>;

/// What a subscriber wants delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receives {
    /// Publications, joins and leaves: a protocol client.
    Everything,
    /// Publications only: a plain-room client, which has no way to show a join or a leave.
    /// Not handing it the events matters: each join in a room of N is otherwise N pushes
    /// that the connection then drops, and a crowd arriving or leaving at once could fill
    /// outboxes until they overflow.
    PublicationsOnly,
}

/// One channel's subscribers on this node.
#[derive(Default)]
struct Subscribers {
    everything: Vec<Arc<Outbox>>,
    publications_only: Vec<Arc<Outbox>>,
}

impl Subscribers {
    fn list(&mut self, receives: Receives) -> &mut Vec<Arc<Outbox>> {
        match receives {
            Receives::Everything => &mut self.everything,
            Receives::PublicationsOnly => &mut self.publications_only,
        }
    }

    fn len(&self) -> usize {
        self.everything.len() + self.publications_only.len()
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Outbox>> {
        self.everything.iter().chain(&self.publications_only)
    }
}

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
    pub fn add(&self, channel: &ChannelName, outbox: &Arc<Outbox>, receives: Receives) -> bool {
        let mut shard = self
            .shard(channel)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let subscribers = shard.entry(channel.clone()).or_default();
        subscribers.list(receives).push(Arc::clone(outbox));
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
        let mut found = false;
        for receives in [Receives::Everything, Receives::PublicationsOnly] {
            let list = subscribers.list(receives);
            if let Some(index) = list.iter().position(|s| Arc::ptr_eq(s, outbox)) {
                list.swap_remove(index);
                found = true;
                break;
            }
        }
        if found && subscribers.len() == 0 {
            shard.remove(channel);
            return true;
        }
        false
    }

    /// Hands `delivery` to every subscriber of its channel on this node that wants it (a
    /// join or leave goes to protocol clients only); returns how many took it (an overflowed
    /// outbox does not).
    pub fn deliver(&self, delivery: Arc<Delivery>) -> usize {
        let shard = self
            .shard(delivery.channel())
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = shard.get(delivery.channel()) else {
            return 0;
        };
        let taken = if delivery.plain().is_some() {
            subscribers.all().filter(|s| s.push(&delivery)).count()
        } else {
            let everything = subscribers.everything.iter();
            everything.filter(|s| s.push(&delivery)).count()
        };
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
        for outbox in subscribers.all() {
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
                    .map(Subscribers::len)
                    .sum::<usize>()
            })
            .sum()
    }

    /// Deliveries handed to outboxes since the start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::{Context, Poll, Waker};

    use bytes::Bytes;

    use super::*;
    use crate::history::{Payload, Publication};
    use crate::node::{Item, OutboxLimits};
    use crate::presence::ClientInfo;
    use crate::protocol::Push;

    fn queued(outbox: &Outbox) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        let mut items = VecDeque::<Item>::new();
        match outbox.poll_take(&mut cx, &mut items) {
            Poll::Ready(_) => items.len(),
            Poll::Pending => 0,
        }
    }

    #[test]
    fn joins_and_leaves_reach_protocol_clients_only_publications_everyone() {
        let channel = ChannelName::new("room").unwrap();
        let fanout = Fanout::new();
        let protocol = Arc::new(Outbox::new(OutboxLimits::default()));
        let plain = Arc::new(Outbox::new(OutboxLimits::default()));
        assert!(fanout.add(&channel, &protocol, Receives::Everything));
        assert!(!fanout.add(&channel, &plain, Receives::PublicationsOnly));
        assert_eq!(fanout.subscriptions(), 2);

        let join = Push::Join {
            channel: channel.clone(),
            info: ClientInfo {
                client_id: "c".into(),
                user_id: String::new(),
                info: None,
            },
        };
        assert_eq!(
            fanout.deliver(Arc::new(Delivery::event(channel.clone(), &join))),
            1
        );
        let publication = Publication {
            offset: 1,
            data: Payload::Text(Bytes::from_static(b"hi")),
            info: None,
        };
        let delivery = Delivery::publication(channel.clone(), &publication, "e");
        assert_eq!(fanout.deliver(Arc::new(delivery)), 2);
        assert_eq!((queued(&protocol), queued(&plain)), (2, 1));

        assert!(!fanout.remove(&channel, &plain));
        assert!(fanout.remove(&channel, &protocol), "the last one leaves");
        assert!(!fanout.has_subscribers(&channel));
    }
}
