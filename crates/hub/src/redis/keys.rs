//! Where a channel lives in Redis: which shard, and the names of its keys.
//!
//! Every key of one channel is on one shard, so a Lua script can touch them all atomically.
//! The shard is chosen by a hash that every node computes the same way (FNV-1a of the
//! channel's name, not the process's randomized hasher), so all nodes agree without
//! talking to each other. Changing the list of Redis addresses moves channels between
//! shards: their history and presence start over in a new epoch, which clients are told.

use crate::channel::ChannelName;

/// The Redis keys and pub/sub channel of one hub channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelKeys {
    /// A hash: `e` the stream's epoch, `s` its top offset.
    pub(crate) meta: String,
    /// A Redis stream of publications, entry id `OFFSET-0`.
    pub(crate) history: String,
    /// A hash: client id → the client's info as JSON.
    pub(crate) presence: String,
    /// A sorted set: client id → when its presence entry expires (ms since the Unix epoch).
    pub(crate) presence_expiry: String,
    /// The pub/sub channel that carries its publications and events between nodes.
    pub(crate) pubsub: String,
}

impl ChannelKeys {
    /// The keys of `channel` under `prefix`.
    pub(crate) fn new(prefix: &str, channel: &ChannelName) -> Self {
        let channel = channel.as_str();
        Self {
            meta: format!("{prefix}:meta:{channel}"),
            history: format!("{prefix}:history:{channel}"),
            presence: format!("{prefix}:presence:{channel}"),
            presence_expiry: format!("{prefix}:presence-expiry:{channel}"),
            pubsub: pubsub_channel(prefix, channel),
        }
    }
}

/// The pub/sub channel name of `channel`.
pub(crate) fn pubsub_channel(prefix: &str, channel: &str) -> String {
    format!("{prefix}:ch:{channel}")
}

/// The pub/sub channel of controls between nodes (on the first shard). Its name cannot be
/// a hub channel's: those are `PREFIX:ch:...`.
pub(crate) fn control_channel(prefix: &str) -> String {
    format!("{prefix}:control")
}

/// The hub channel a pub/sub channel name belongs to, if it is one of ours.
pub(crate) fn channel_of_pubsub<'a>(prefix: &str, pubsub: &'a str) -> Option<&'a str> {
    pubsub.strip_prefix(prefix)?.strip_prefix(":ch:")
}

/// The shard (0..shards) that holds `channel`.
pub(crate) fn shard_of(channel: &ChannelName, shards: usize) -> usize {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = channel.as_str().bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    (hash % shards.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::new(name).expect("valid channel")
    }

    #[test]
    fn keys_name_the_channel_under_the_prefix() {
        let keys = ChannelKeys::new("sb", &channel("chat:lobby"));
        assert_eq!(keys.meta, "sb:meta:chat:lobby");
        assert_eq!(keys.history, "sb:history:chat:lobby");
        assert_eq!(keys.presence, "sb:presence:chat:lobby");
        assert_eq!(keys.presence_expiry, "sb:presence-expiry:chat:lobby");
        assert_eq!(keys.pubsub, "sb:ch:chat:lobby");
        assert_eq!(channel_of_pubsub("sb", &keys.pubsub), Some("chat:lobby"));
        assert_eq!(channel_of_pubsub("other", &keys.pubsub), None);
    }

    #[test]
    fn shards_are_stable_across_processes_and_spread() {
        // Fixed values: every node, whatever its build, must pick the same shard.
        assert_eq!(shard_of(&channel("lobby"), 1), 0);
        let picks: Vec<usize> = ["a", "c", "news", "chat:lobby"]
            .iter()
            .map(|name| shard_of(&channel(name), 3))
            .collect();
        assert_eq!(picks, [1, 0, 0, 1]);
        let mut counts = [0usize; 4];
        for n in 0..4000 {
            counts[shard_of(&channel(&format!("room-{n}")), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "uneven: {counts:?}");
    }
}
