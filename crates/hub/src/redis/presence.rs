//! [`Presence`] on Redis: per channel, a hash of client id → info, and a sorted set of
//! when each entry expires.
//!
//! A node refreshes the entries of its own clients three times per TTL; when a node dies
//! without removing them, they stop being refreshed and vanish from lists and counts one
//! TTL later. A Redis that restarted empty gets them back at the next refresh.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{unavailable, RedisEngine};
use crate::channel::ChannelName;
use crate::engine::EngineError;
use crate::presence::{ClientInfo, Presence, PresenceStats};

impl RedisEngine {
    async fn store_presence(
        &self,
        channel: &ChannelName,
        client: &ClientInfo,
    ) -> Result<(), EngineError> {
        let keys = self.keys(channel);
        // Serializing strings and a JSON value cannot fail.
        let info = serde_json::to_string(client).unwrap_or_default();
        let mut invocation = self.scripts.presence_add.key(&keys.presence);
        invocation
            .key(&keys.presence_expiry)
            .arg(&client.client_id)
            .arg(info)
            .arg(self.options.presence_ttl.as_millis() as u64);
        self.invoke::<i64>(self.shard(channel), invocation, true)
            .await
            .map(drop)
    }

    /// Refreshes this node's presence entries, three times per TTL, forever.
    pub(super) async fn run_presence_refresh(self: Arc<Self>) {
        let every = (self.options.presence_ttl / 3).max(Duration::from_millis(100));
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let owned: Vec<(ChannelName, ClientInfo)> = self
                .owned_presence
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|((channel, _), info)| (channel.clone(), info.clone()))
                .collect();
            for (channel, client) in owned {
                // Removed meanwhile: do not bring it back.
                if !self.owns(&channel, &client.client_id) {
                    continue;
                }
                if let Err(error) = self.store_presence(&channel, &client).await {
                    tracing::debug!(%channel, %error, "presence not refreshed");
                }
            }
        }
    }

    fn owns(&self, channel: &ChannelName, client_id: &str) -> bool {
        self.owned_presence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&(channel.clone(), client_id.to_owned()))
    }
}

#[async_trait]
impl Presence for RedisEngine {
    async fn add(&self, channel: &ChannelName, client: ClientInfo) -> Result<(), EngineError> {
        self.store_presence(channel, &client).await?;
        self.owned_presence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((channel.clone(), client.client_id.clone()), client);
        Ok(())
    }

    async fn remove(&self, channel: &ChannelName, client_id: &str) -> Result<(), EngineError> {
        // Forgotten first: even if Redis is down now, the entry is no longer refreshed and
        // expires by itself.
        self.owned_presence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(channel.clone(), client_id.to_owned()));
        let keys = self.keys(channel);
        let mut invocation = self.scripts.presence_remove.key(&keys.presence);
        invocation.key(&keys.presence_expiry).arg(client_id);
        self.invoke::<i64>(self.shard(channel), invocation, true)
            .await
            .map(drop)
    }

    async fn list(&self, channel: &ChannelName) -> Result<Vec<ClientInfo>, EngineError> {
        let keys = self.keys(channel);
        let mut invocation = self.scripts.presence_list.key(&keys.presence);
        invocation.key(&keys.presence_expiry);
        let shard = self.shard(channel);
        let entries: Vec<Vec<u8>> = self.invoke(shard, invocation, true).await?;
        let mut clients = entries
            .iter()
            .map(|json| serde_json::from_slice::<ClientInfo>(json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unavailable(format!("Redis {}: presence entry: {e}", shard.url)))?;
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }

    async fn stats(&self, channel: &ChannelName) -> Result<PresenceStats, EngineError> {
        let clients = self.list(channel).await?;
        let users: HashSet<&str> = clients.iter().map(|c| c.user_id.as_str()).collect();
        Ok(PresenceStats {
            num_clients: clients.len(),
            num_users: users.len(),
        })
    }
}
