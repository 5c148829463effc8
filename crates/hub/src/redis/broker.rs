//! [`Broker`] on Redis: publish through the publish script; receive through one pub/sub
//! connection per shard, whose task reconnects with backoff, resubscribes, and closes any
//! gap a lost connection left before delivering anything newer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use switchboard::Utf8Bytes;

use super::codec::{decode_message, encode_body, encode_event, position_of, Message};
use super::history::Read;
use super::keys::{channel_of_pubsub, control_channel, pubsub_channel};
use super::{new_epoch, unavailable, RedisEngine, Shard};
use crate::broker::{Broker, Control, ControlHandler, Delivery};
use crate::channel::ChannelName;
use crate::engine::{EngineError, EngineStatus};
use crate::history::{HistoryOptions, Payload, Publication, Recovery, StreamPosition};
use crate::presence::ClientInfo;
use crate::protocol::{DisconnectCode, Push};

/// Reconnection delays of a shard's pub/sub connection: from 50 ms, doubling, to 2 s.
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

#[async_trait]
impl Broker for RedisEngine {
    async fn publish(
        &self,
        channel: &ChannelName,
        data: Payload,
        info: Option<ClientInfo>,
        history: HistoryOptions,
        _now: Instant,
    ) -> Result<StreamPosition, EngineError> {
        let shard = self.shard(channel);
        let keys = self.keys(channel);
        let ttl = history.ttl.max(Duration::from_millis(1));
        let meta_ttl = ttl.max(self.options.idle_stream_ttl);
        let mut invocation = self.scripts.publish.key(&keys.meta);
        invocation
            .key(&keys.history)
            .arg(&keys.pubsub)
            .arg(encode_body(&data, info.as_ref()))
            .arg(history.size)
            .arg(ttl.as_millis() as u64)
            .arg(meta_ttl.as_millis() as u64)
            .arg(new_epoch());
        let (offset, epoch): (u64, String) = self.invoke(shard, invocation, false).await?;
        // Delivered when it comes back over pub/sub, in Redis's order, like everyone
        // else's: delivering here as well would race with those.
        Ok(StreamPosition { offset, epoch })
    }

    async fn publish_event(&self, channel: &ChannelName, push: &Push) -> Result<(), EngineError> {
        // Serializing a push cannot fail.
        let json = serde_json::to_vec(push).unwrap_or_default();
        let keys = self.keys(channel);
        let mut command = redis::cmd("PUBLISH");
        command.arg(&keys.pubsub).arg(encode_event(&json));
        self.command::<i64>(self.shard(channel), &command, false)
            .await
            .map(drop)
    }

    async fn subscribe(&self, channel: &ChannelName) -> Result<(), EngineError> {
        let shard = self.shard(channel);
        // While the pub/sub connection is being re-established (a Redis restart, a blip),
        // wait for it, up to the timeout, rather than fail at once.
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut subscriptions = loop {
            let subscriptions = shard.subscriptions.lock().await;
            if subscriptions.channels.contains(channel) {
                return Ok(());
            }
            if subscriptions.sink.is_some() {
                break subscriptions;
            }
            drop(subscriptions);
            if tokio::time::Instant::now() >= deadline {
                return Err(unavailable(format!(
                    "Redis {}: pub/sub not connected",
                    shard.url
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let Some(sink) = subscriptions.sink.as_mut() else {
            return Err(unavailable(format!(
                "Redis {}: pub/sub not connected",
                shard.url
            )));
        };
        let name = pubsub_channel(&self.options.prefix, channel.as_str());
        match tokio::time::timeout(self.options.timeout, sink.subscribe(&name)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(unavailable(format!("Redis {}: {error}", shard.url))),
            Err(_) => {
                return Err(unavailable(format!(
                    "Redis {}: SUBSCRIBE timed out",
                    shard.url
                )))
            }
        }
        subscriptions.channels.insert(channel.clone());
        drop(subscriptions);
        // Where delivery starts: a gap after this is noticed and filled.
        let position = self.read_stream(channel, Read::Position).await?.position;
        shard.delivered().entry(channel.clone()).or_insert(position);
        Ok(())
    }

    async fn unsubscribe(&self, channel: &ChannelName) -> Result<(), EngineError> {
        let shard = self.shard(channel);
        let mut subscriptions = shard.subscriptions.lock().await;
        if self.fanout.has_subscribers(channel) || !subscriptions.channels.remove(channel) {
            return Ok(());
        }
        shard.delivered().remove(channel);
        if let Some(sink) = subscriptions.sink.as_mut() {
            let name = pubsub_channel(&self.options.prefix, channel.as_str());
            match tokio::time::timeout(self.options.timeout, sink.unsubscribe(&name)).await {
                Ok(Ok(())) => {}
                // A stray subscription only costs messages this node drops.
                Ok(Err(error)) => return Err(unavailable(format!("Redis {}: {error}", shard.url))),
                Err(_) => {
                    return Err(unavailable(format!(
                        "Redis {}: UNSUBSCRIBE timed out",
                        shard.url
                    )))
                }
            }
        }
        Ok(())
    }

    async fn broadcast(&self, control: &Control) -> Result<(), EngineError> {
        let mut message = format!("{}\n", self.id).into_bytes();
        // Serializing strings cannot fail.
        let _ = serde_json::to_writer(&mut message, control);
        let mut command = redis::cmd("PUBLISH");
        command
            .arg(control_channel(&self.options.prefix))
            .arg(message);
        self.command::<i64>(&self.shards[0], &command, false)
            .await
            .map(drop)
    }

    fn on_control(&self, handler: ControlHandler) {
        // One node per engine: a second registration has nothing to add.
        let _ = self.control.set(handler);
    }

    fn status(&self) -> EngineStatus {
        self.health()
    }
}

impl RedisEngine {
    /// Holds shard `index`'s pub/sub connection, forever: connects, resubscribes this
    /// node's channels, closes the gaps a previous connection left, then delivers.
    pub(super) async fn run_pubsub(self: Arc<Self>, index: usize) {
        let shard = &self.shards[index];
        let mut delay = RECONNECT_MIN;
        let mut connected_before = false;
        loop {
            let connection =
                tokio::time::timeout(self.options.timeout, shard.client.get_async_pubsub()).await;
            let pubsub = match connection {
                Ok(Ok(pubsub)) => pubsub,
                failed => {
                    if delay == RECONNECT_MIN || delay == RECONNECT_MAX {
                        let error = match failed {
                            Ok(Err(error)) => error.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::warn!(shard = index, url = %shard.url, %error, "Redis pub/sub: cannot connect; retrying");
                    }
                    tokio::time::sleep(jittered(delay)).await;
                    delay = (delay * 2).min(RECONNECT_MAX);
                    continue;
                }
            };
            let (mut sink, mut stream) = pubsub.split();
            let channels = {
                let mut subscriptions = shard.subscriptions.lock().await;
                let channels: Vec<ChannelName> = subscriptions.channels.iter().cloned().collect();
                let mut names: Vec<String> = channels
                    .iter()
                    .map(|c| pubsub_channel(&self.options.prefix, c.as_str()))
                    .collect();
                if index == 0 {
                    names.push(control_channel(&self.options.prefix));
                }
                if !names.is_empty() {
                    let resubscribed =
                        tokio::time::timeout(self.options.timeout, sink.subscribe(&names)).await;
                    if !matches!(resubscribed, Ok(Ok(()))) {
                        drop(subscriptions);
                        tokio::time::sleep(jittered(delay)).await;
                        delay = (delay * 2).min(RECONNECT_MAX);
                        continue;
                    }
                }
                subscriptions.sink = Some(sink);
                channels
            };
            shard.pubsub_up.store(true, Ordering::Relaxed);
            delay = RECONNECT_MIN;
            if connected_before {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(shard = index, url = %shard.url, channels = channels.len(), "Redis pub/sub: reconnected");
            }
            connected_before = true;
            // The command connection broke with this one: have it reconnect now rather
            // than fail the next publish.
            let _ = self
                .command::<String>(shard, &redis::cmd("PING"), true)
                .await;
            // Whatever was published while this node was not listening.
            for channel in &channels {
                self.catch_up(shard, channel).await;
            }
            while let Some(message) = stream.next().await {
                self.dispatch(
                    shard,
                    message.get_channel_name(),
                    message.get_payload_bytes(),
                )
                .await;
            }
            shard.pubsub_up.store(false, Ordering::Relaxed);
            shard.subscriptions.lock().await.sink = None;
            tracing::warn!(shard = index, url = %shard.url, "Redis pub/sub: connection lost; reconnecting");
        }
    }

    /// Handles one pub/sub message: delivers it if it is the next in its channel, fills
    /// the gap first if it is not, and drops it if it was delivered already.
    async fn dispatch(&self, shard: &Shard, pubsub: &str, payload: &[u8]) {
        if shard.index == 0 && pubsub == control_channel(&self.options.prefix) {
            self.receive_control(payload);
            return;
        }
        let Some(channel) = channel_of_pubsub(&self.options.prefix, pubsub)
            .and_then(|name| ChannelName::new(name).ok())
        else {
            return;
        };
        let message = match decode_message(Bytes::copy_from_slice(payload)) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%channel, %error, "Redis pub/sub message dropped");
                return;
            }
        };
        let (publication, epoch) = match message {
            Message::Event(json) => {
                if let Ok(json) = Utf8Bytes::try_from(json) {
                    self.fanout
                        .deliver(Arc::new(Delivery::event_encoded(channel, json)));
                }
                return;
            }
            Message::Publication { publication, epoch } => (publication, epoch),
        };
        let last = shard.delivered().get(&channel).cloned();
        let subscribed = self.fanout.has_subscribers(&channel);
        match next_step(last.as_ref(), subscribed, publication.offset, &epoch) {
            Step::Deliver => self.deliver(shard, &channel, &publication, &epoch),
            Step::Skip => {}
            // History holds this one too.
            Step::FillGap => self.catch_up(shard, &channel).await,
            Step::StreamLost => self.lost(shard, &channel, position_of(&publication, &epoch)),
        }
    }

    /// A control from a node: `SENDER '\n' JSON`; this node's own are already done.
    fn receive_control(&self, payload: &[u8]) {
        let Some(newline) = payload.iter().position(|&b| b == b'\n') else {
            return;
        };
        if payload[..newline] == *self.id.as_bytes() {
            return;
        }
        match serde_json::from_slice::<Control>(&payload[newline + 1..]) {
            Ok(control) => {
                if let Some(handler) = self.control.get() {
                    handler(control);
                }
            }
            Err(error) => tracing::warn!(%error, "unknown control from another node dropped"),
        }
    }

    fn deliver(
        &self,
        shard: &Shard,
        channel: &ChannelName,
        publication: &Publication,
        epoch: &str,
    ) {
        shard
            .delivered()
            .insert(channel.clone(), position_of(publication, epoch));
        let delivery = Delivery::publication(channel.clone(), publication, epoch);
        self.fanout.deliver(Arc::new(delivery));
    }

    /// Delivers whatever history holds after the last position this node delivered in
    /// `channel`; if it cannot, the channel's subscribers are told to recover by
    /// reconnecting.
    async fn catch_up(&self, shard: &Shard, channel: &ChannelName) {
        let Some(last) = shard.delivered().get(channel).cloned() else {
            return;
        };
        match self.read_stream(channel, Read::Since(&last)).await {
            Ok(state) => match super::history::recovery(&last, None, state) {
                Recovery::Recovered(slice) => {
                    self.gaps_filled
                        .fetch_add(slice.publications.len() as u64, Ordering::Relaxed);
                    for publication in &slice.publications {
                        self.deliver(shard, channel, publication, &slice.position.epoch);
                    }
                }
                Recovery::Lost { position } => self.lost(shard, channel, position),
            },
            Err(error) => {
                tracing::warn!(%channel, %error, "cannot fill a gap in a channel");
                self.lost(shard, channel, last);
            }
        }
    }

    /// This node cannot tell its subscribers of `channel` what they missed: they reconnect
    /// and recover, and are told whether history still covers it.
    fn lost(&self, shard: &Shard, channel: &ChannelName, now_at: StreamPosition) {
        shard.delivered().insert(channel.clone(), now_at);
        self.streams_lost.fetch_add(1, Ordering::Relaxed);
        let told = self.fanout.disconnect(
            channel,
            DisconnectCode::INSUFFICIENT_STATE,
            "missed publications; reconnect and recover",
        );
        tracing::warn!(%channel, subscribers = told, "channel stream broken on this node; subscribers told to recover");
    }
}

/// What to do with a publication arriving over pub/sub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// It is the next one: deliver it.
    Deliver,
    /// Delivered already (or nobody here wants it): drop it.
    Skip,
    /// Publications before it were missed: deliver them from history first.
    FillGap,
    /// The stream restarted in another epoch: subscribers must recover.
    StreamLost,
}

/// Decides what to do with the publication at `offset` in `epoch`, given the last position
/// delivered on this node in its channel. `None` means subscribed a moment ago, before
/// that position was read: the read comes at or after this publication, and the
/// subscriber itself drops what it already has.
fn next_step(last: Option<&StreamPosition>, subscribed: bool, offset: u64, epoch: &str) -> Step {
    match last {
        None if subscribed => Step::Deliver,
        None => Step::Skip,
        Some(last) if last.epoch != epoch => Step::StreamLost,
        Some(last) if offset <= last.offset => Step::Skip,
        Some(last) if offset == last.offset + 1 => Step::Deliver,
        Some(_) => Step::FillGap,
    }
}

/// `delay` with up to a quarter more at random, so that nodes do not reconnect in step.
fn jittered(delay: Duration) -> Duration {
    delay + delay.mul_f64(rand::random::<f64>() * 0.25)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_arrival_is_delivered_once_in_order_or_its_gap_noticed() {
        let at = |offset: u64, epoch: &str| StreamPosition {
            offset,
            epoch: epoch.into(),
        };
        let table = [
            ("the next one", Some(at(4, "e")), 5, "e", Step::Deliver),
            ("a duplicate", Some(at(4, "e")), 4, "e", Step::Skip),
            ("an old one", Some(at(4, "e")), 2, "e", Step::Skip),
            ("one skipped", Some(at(4, "e")), 6, "e", Step::FillGap),
            ("a new epoch", Some(at(4, "e")), 1, "f", Step::StreamLost),
            ("before the start was read", None, 9, "e", Step::Deliver),
        ];
        for (name, last, offset, epoch, step) in table {
            assert_eq!(
                next_step(last.as_ref(), true, offset, epoch),
                step,
                "{name}"
            );
        }
        assert_eq!(next_step(None, false, 1, "e"), Step::Skip, "left already");
    }
}
