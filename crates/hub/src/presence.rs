//! Who is subscribed to a channel: the [`Presence`] seam and its in-memory engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::channel::ChannelName;
use crate::engine::EngineError;

/// A connected client as other clients see it: in presence lists, join and leave pushes, and
/// as the author of a publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The connection's id, unique per connection and chosen by the hub.
    pub client_id: String,
    /// The user's id from the token; empty for an anonymous client.
    pub user_id: String,
    /// Application data about the connection (a display name, an avatar): the token's `info`
    /// claim, or for an anonymous connection what its `connect` said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
}

/// How many clients and distinct users are in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PresenceStats {
    /// Connections subscribed to the channel.
    pub num_clients: usize,
    /// Distinct user ids among them (the anonymous user counts once).
    pub num_users: usize,
}

/// The presence seam: per channel, the set of subscribed clients, keyed by client id.
///
/// The shape follows [`crate::engine`]: `&self`, owned values, fallible. A Redis engine will
/// keep each entry with an expiry that the hub refreshes while the client stays connected,
/// so a node that dies does not leave its clients present forever; the memory engine lives
/// and dies with the node, so its entries need no expiry.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Adds `client` to `channel`, or replaces the entry with the same client id.
    async fn add(&self, channel: &ChannelName, client: ClientInfo) -> Result<(), EngineError>;
    /// Removes the client `client_id` from `channel`; removing an absent client is not an error.
    async fn remove(&self, channel: &ChannelName, client_id: &str) -> Result<(), EngineError>;
    /// The clients in `channel`, ordered by client id.
    async fn list(&self, channel: &ChannelName) -> Result<Vec<ClientInfo>, EngineError>;
    /// The number of clients and distinct users in `channel`.
    async fn stats(&self, channel: &ChannelName) -> Result<PresenceStats, EngineError>;
}

/// Presence kept in this process's memory: the engine for a single node.
#[derive(Debug, Default)]
pub struct MemoryPresence {
    // A BTreeMap per channel gives `list` a stable order for free; channels with nobody
    // left are removed so that the map does not grow with every channel ever used.
    channels: Mutex<HashMap<ChannelName, BTreeMap<String, ClientInfo>>>,
}

impl MemoryPresence {
    /// An empty presence store.
    pub fn new() -> Self {
        Self::default()
    }

    fn channels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ChannelName, BTreeMap<String, ClientInfo>>> {
        // Every operation leaves the map consistent before it can panic, so a poisoned lock
        // still guards valid data.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The memory engine answers at once, so its operations are plain methods; the [`Presence`]
/// implementation below wraps them.
impl MemoryPresence {
    /// See [`Presence::add`].
    pub fn add(&self, channel: &ChannelName, client: ClientInfo) {
        self.channels()
            .entry(channel.clone())
            .or_default()
            .insert(client.client_id.clone(), client);
    }

    /// See [`Presence::remove`].
    pub fn remove(&self, channel: &ChannelName, client_id: &str) {
        let mut channels = self.channels();
        if let Some(clients) = channels.get_mut(channel) {
            clients.remove(client_id);
            if clients.is_empty() {
                channels.remove(channel);
            }
        }
    }

    /// See [`Presence::list`].
    pub fn list(&self, channel: &ChannelName) -> Vec<ClientInfo> {
        self.channels()
            .get(channel)
            .map(|clients| clients.values().cloned().collect())
            .unwrap_or_default()
    }

    /// See [`Presence::stats`].
    pub fn stats(&self, channel: &ChannelName) -> PresenceStats {
        let channels = self.channels();
        let Some(clients) = channels.get(channel) else {
            return PresenceStats::default();
        };
        let users: BTreeSet<&str> = clients.values().map(|c| c.user_id.as_str()).collect();
        PresenceStats {
            num_clients: clients.len(),
            num_users: users.len(),
        }
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn add(&self, channel: &ChannelName, client: ClientInfo) -> Result<(), EngineError> {
        MemoryPresence::add(self, channel, client);
        Ok(())
    }

    async fn remove(&self, channel: &ChannelName, client_id: &str) -> Result<(), EngineError> {
        MemoryPresence::remove(self, channel, client_id);
        Ok(())
    }

    async fn list(&self, channel: &ChannelName) -> Result<Vec<ClientInfo>, EngineError> {
        Ok(MemoryPresence::list(self, channel))
    }

    async fn stats(&self, channel: &ChannelName) -> Result<PresenceStats, EngineError> {
        Ok(MemoryPresence::stats(self, channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(client_id: &str, user_id: &str) -> ClientInfo {
        ClientInfo {
            client_id: client_id.into(),
            user_id: user_id.into(),
            info: None,
        }
    }

    fn channel(name: &str) -> ChannelName {
        ChannelName::new(name).unwrap()
    }

    enum Op {
        Add(&'static str, &'static str, &'static str),
        Remove(&'static str, &'static str),
    }

    /// (operations, channel to look at, expected client ids, expected (clients, users))
    type Case = (
        &'static [Op],
        &'static str,
        &'static [&'static str],
        (usize, usize),
    );

    #[test]
    fn add_remove_list_stats() {
        use Op::{Add, Remove};
        let table: &[Case] = &[
            (&[], "a", &[], (0, 0)),
            (&[Add("a", "c1", "u1")], "a", &["c1"], (1, 1)),
            (&[Add("a", "c1", "u1")], "b", &[], (0, 0)),
            (
                &[Add("a", "c2", "u1"), Add("a", "c1", "u1")],
                "a",
                &["c1", "c2"],
                (2, 1),
            ),
            (
                &[Add("a", "c1", "u1"), Add("a", "c1", "u1")],
                "a",
                &["c1"],
                (1, 1),
            ),
            (
                &[Add("a", "c1", "u1"), Add("a", "c2", "u2")],
                "a",
                &["c1", "c2"],
                (2, 2),
            ),
            (
                &[Add("a", "c1", ""), Add("a", "c2", "")],
                "a",
                &["c1", "c2"],
                (2, 1),
            ),
            (&[Add("a", "c1", "u1"), Remove("a", "c1")], "a", &[], (0, 0)),
            (&[Remove("a", "c1")], "a", &[], (0, 0)),
            (
                &[
                    Add("a", "c1", "u1"),
                    Add("a", "c2", "u2"),
                    Remove("a", "c1"),
                ],
                "a",
                &["c2"],
                (1, 1),
            ),
        ];
        for (case, (ops, look_at, ids, (num_clients, num_users))) in table.iter().enumerate() {
            let presence = MemoryPresence::new();
            for op in *ops {
                match op {
                    Add(ch, c, u) => presence.add(&channel(ch), client(c, u)),
                    Remove(ch, c) => presence.remove(&channel(ch), c),
                }
            }
            let listed: Vec<String> = presence
                .list(&channel(look_at))
                .into_iter()
                .map(|c| c.client_id)
                .collect();
            assert_eq!(listed, *ids, "case {case}");
            let stats = presence.stats(&channel(look_at));
            assert_eq!(
                stats,
                PresenceStats {
                    num_clients: *num_clients,
                    num_users: *num_users
                },
                "case {case}"
            );
        }
    }

    #[test]
    fn empty_channels_are_forgotten() {
        let presence = MemoryPresence::new();
        presence.add(&channel("a"), client("c1", "u1"));
        presence.remove(&channel("a"), "c1");
        assert!(presence.channels().is_empty());
    }

    #[test]
    fn client_info_json() {
        let with_info = ClientInfo {
            info: Some(serde_json::json!({"name": "Alice"})),
            ..client("c1", "u1")
        };
        let json = r#"{"client_id":"c1","user_id":"u1","info":{"name":"Alice"}}"#;
        assert_eq!(serde_json::to_string(&with_info).unwrap(), json);
        assert_eq!(serde_json::from_str::<ClientInfo>(json).unwrap(), with_info);
        let bare = r#"{"client_id":"c1","user_id":"u1"}"#;
        assert_eq!(serde_json::to_string(&client("c1", "u1")).unwrap(), bare);
    }
}
