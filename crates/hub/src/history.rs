//! A channel's stream of publications: the [`History`] seam and its in-memory engine.
//!
//! # Streams, offsets and epochs
//!
//! Every channel has a stream. Each publication appended to it gets the next offset (the
//! first is 1; an empty stream is at offset 0). The stream also has an **epoch**, a random
//! string chosen when the stream is created. Offsets only mean something within one epoch:
//! when a stream is lost (it expired, the node restarted, Redis evicted it), the next one
//! starts at offset 0 again, under a new epoch, so that a client's old `(offset, epoch)` can
//! never be mistaken for a position in the new stream.
//!
//! # Recovery
//!
//! A client that reconnects sends the last position it saw. [`History::since`] answers with
//! exactly the publications after that offset, in order, or with [`Recovery::Lost`]; never
//! with a gap or a duplicate. It recovers only when
//! - the epoch is the stream's current epoch, and
//! - the offset is not ahead of the stream, and
//! - the history still holds the publication right after it (offset + 1), and
//! - no more than `limit` publications were missed.
//!
//! Otherwise the client must reload its state from the application (and the hub tells it
//! so with a "could not recover" flag); it still gets the current position to continue from.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::channel::ChannelName;
use crate::engine::EngineError;
use crate::presence::ClientInfo;

/// A place in a channel's stream: the offset of the last publication seen, in an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The offset of the last publication; 0 before the first.
    pub offset: u64,
    /// The stream's epoch (see the module documentation).
    pub epoch: String,
}

/// A publication as stored in history and delivered to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// Its offset in the channel's stream.
    pub offset: u64,
    /// What was published, already encoded, so that it is encoded once and its bytes shared
    /// by every subscriber and by history.
    pub data: Payload,
    /// The client that published it, if a client did (the server API publishes without).
    pub info: Option<ClientInfo>,
}

/// What a publication carries, kept in the form it arrived in so that every kind of
/// subscriber gets it back unchanged.
///
/// Protocol clients publish JSON values. Plain-room clients (`/ws/{channel}`) publish bare
/// WebSocket messages: a text message that is one JSON value is kept as [`Payload::Json`]
/// (protocol subscribers see the value); any other text is [`Payload::Text`]; a binary
/// message is [`Payload::Binary`]. Plain subscribers receive each kind as the message it
/// came from; protocol subscribers receive text as a JSON string and binary as a base64
/// string with `"binary": true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// One encoded JSON value.
    Json(Bytes),
    /// UTF-8 text that is not one JSON value.
    Text(Bytes),
    /// Arbitrary bytes.
    Binary(Bytes),
}

impl Payload {
    /// The payload of a plain-room text message (see the type's documentation). `text` must
    /// be UTF-8, as a WebSocket text message is.
    pub fn from_text(text: Bytes) -> Self {
        if serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_ok() {
            Self::Json(text)
        } else {
            Self::Text(text)
        }
    }

    /// The bytes as stored.
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Self::Json(bytes) | Self::Text(bytes) | Self::Binary(bytes) => bytes,
        }
    }

    /// The size of the stored bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the stored bytes are empty (an empty text or binary message).
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

/// How much history to keep for a channel, from its namespace's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryOptions {
    /// How many publications to keep; 0 keeps none, but offsets and the epoch still advance.
    pub size: usize,
    /// How long each publication is kept, and how long the stream itself lives after its
    /// last publication before it is lost (and its next use starts a new epoch).
    pub ttl: Duration,
}

/// Publications in order with the stream's position after them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySlice {
    /// Publications, oldest first, with consecutive offsets.
    pub publications: Vec<Publication>,
    /// The stream's current position.
    pub position: StreamPosition,
}

/// The answer to [`History::since`].
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Every publication after the client's position: no gap, no duplicate.
    Recovered(HistorySlice),
    /// The client's position cannot be continued from; it must reload its state. `position`
    /// is where the stream is now, for the client to continue from after that.
    Lost {
        /// The stream's current position.
        position: StreamPosition,
    },
}

/// The history seam: streams of publications per channel.
///
/// The shape (`&self`, owned values, fallible, async, `now` passed in) is explained in
/// [`crate::engine`]. Publishing is not here: appending and delivering must happen in one
/// step so that subscribers see offsets in order, which is the
/// [`Broker`](crate::broker::Broker)'s job; this seam reads.
#[async_trait]
pub trait History: Send + Sync {
    /// The publications after `position`, if they can all be given (see the module
    /// documentation); `limit` caps how many may be missed and still recovered.
    async fn since(
        &self,
        channel: &ChannelName,
        position: &StreamPosition,
        limit: Option<usize>,
        now: Instant,
    ) -> Result<Recovery, EngineError>;

    /// The latest `limit` publications still kept, oldest first.
    async fn top(
        &self,
        channel: &ChannelName,
        limit: usize,
        now: Instant,
    ) -> Result<HistorySlice, EngineError>;

    /// The stream's current position. Creates the stream (with a new epoch) if needed, so a
    /// subscriber learns the epoch that the next publication will be in.
    async fn position(
        &self,
        channel: &ChannelName,
        now: Instant,
    ) -> Result<StreamPosition, EngineError>;
}

struct Entry {
    publication: Publication,
    expires_at: Instant,
}

struct Stream {
    epoch: String,
    top: u64,
    entries: VecDeque<Entry>,
    expires_at: Instant,
}

impl Stream {
    fn position(&self) -> StreamPosition {
        StreamPosition {
            offset: self.top,
            epoch: self.epoch.clone(),
        }
    }

    fn drop_expired(&mut self, now: Instant) {
        while self.entries.front().is_some_and(|e| e.expires_at <= now) {
            self.entries.pop_front();
        }
    }

    fn after(&self, offset: u64) -> Vec<Publication> {
        self.entries
            .iter()
            .filter(|e| e.publication.offset > offset)
            .map(|e| e.publication.clone())
            .collect()
    }
}

struct State {
    streams: HashMap<ChannelName, Stream>,
    epochs: EpochGenerator,
}

/// Epochs from a seed with splitmix64: a bijection on `u64`, so one generator never repeats
/// an epoch, and seeding it from the OS at start-up makes a restarted node's epochs new.
struct EpochGenerator {
    state: u64,
}

impl EpochGenerator {
    fn next(&mut self) -> String {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016x}", z ^ (z >> 31))
    }
}

/// History kept in this process's memory: a bounded ring of publications per channel.
///
/// Expired publications and streams are dropped when their channel is next used; call
/// [`purge_expired`](Self::purge_expired) now and then to drop those of channels nobody uses.
pub struct MemoryHistory {
    state: Mutex<State>,
    idle_stream_ttl: Duration,
}

impl std::fmt::Debug for MemoryHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHistory")
            .field("channels", &self.lock().streams.len())
            .finish_non_exhaustive()
    }
}

impl MemoryHistory {
    /// An empty history. `epoch_seed` must be random (the hub draws it from the OS): epochs
    /// are derived from it, and a node that restarts with the same seed would reuse epochs
    /// and let clients "recover" positions from the stream it lost.
    ///
    /// `idle_stream_ttl` is how long a stream created by a read ([`History::position`],
    /// [`History::since`], [`History::top`]), with no publication yet, is kept.
    pub fn new(epoch_seed: u64, idle_stream_ttl: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                streams: HashMap::new(),
                epochs: EpochGenerator { state: epoch_seed },
            }),
            idle_stream_ttl,
        }
    }

    /// Drops every expired publication and stream, and returns how many streams are left.
    pub fn purge_expired(&self, now: Instant) -> usize {
        let mut state = self.lock();
        state.streams.retain(|_, stream| stream.expires_at > now);
        for stream in state.streams.values_mut() {
            stream.drop_expired(now);
        }
        state.streams.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each operation leaves the state consistent before anything can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on `channel`'s live stream, creating one with a new epoch if it is missing
    /// or expired.
    fn with_stream<T>(
        &self,
        channel: &ChannelName,
        now: Instant,
        f: impl FnOnce(&mut Stream) -> T,
    ) -> T {
        let mut state = self.lock();
        let State { streams, epochs } = &mut *state;
        if streams.get(channel).is_some_and(|s| s.expires_at <= now) {
            streams.remove(channel);
        }
        let stream = streams.entry(channel.clone()).or_insert_with(|| Stream {
            epoch: epochs.next(),
            top: 0,
            entries: VecDeque::new(),
            expires_at: now + self.idle_stream_ttl,
        });
        stream.drop_expired(now);
        f(stream)
    }
}

/// The memory engine answers at once, so its operations are plain methods; the [`History`]
/// implementation below wraps them.
impl MemoryHistory {
    /// Appends a publication to `channel`'s stream and returns the stream's new position,
    /// whose offset is the publication's. Creates the stream (with a new epoch) if needed.
    pub fn append(
        &self,
        channel: &ChannelName,
        data: Payload,
        info: Option<ClientInfo>,
        options: HistoryOptions,
        now: Instant,
    ) -> StreamPosition {
        self.with_stream(channel, now, |stream| {
            stream.top += 1;
            let expires_at = now + options.ttl;
            stream.expires_at = stream.expires_at.max(expires_at);
            stream.entries.push_back(Entry {
                publication: Publication {
                    offset: stream.top,
                    data,
                    info,
                },
                expires_at,
            });
            while stream.entries.len() > options.size {
                stream.entries.pop_front();
            }
            stream.position()
        })
    }

    /// See [`History::since`].
    pub fn since(
        &self,
        channel: &ChannelName,
        position: &StreamPosition,
        limit: Option<usize>,
        now: Instant,
    ) -> Recovery {
        self.with_stream(channel, now, |stream| {
            let lost = Recovery::Lost {
                position: stream.position(),
            };
            if position.epoch != stream.epoch || position.offset > stream.top {
                return lost;
            }
            let missed = stream.top - position.offset;
            if limit.is_some_and(|limit| missed > limit as u64) {
                return lost;
            }
            // Entries are contiguous up to `top`, so reaching back to offset + 1 means
            // holding every missed publication.
            let reaches_back = missed == 0
                || stream
                    .entries
                    .front()
                    .is_some_and(|e| e.publication.offset <= position.offset + 1);
            if !reaches_back {
                return lost;
            }
            Recovery::Recovered(HistorySlice {
                publications: stream.after(position.offset),
                position: stream.position(),
            })
        })
    }

    /// See [`History::top`].
    pub fn top(&self, channel: &ChannelName, limit: usize, now: Instant) -> HistorySlice {
        self.with_stream(channel, now, |stream| {
            let skip = stream.entries.len().saturating_sub(limit);
            HistorySlice {
                publications: stream
                    .entries
                    .iter()
                    .skip(skip)
                    .map(|e| e.publication.clone())
                    .collect(),
                position: stream.position(),
            }
        })
    }

    /// See [`History::position`].
    pub fn position(&self, channel: &ChannelName, now: Instant) -> StreamPosition {
        self.with_stream(channel, now, |stream| stream.position())
    }
}

#[async_trait]
impl History for MemoryHistory {
    async fn since(
        &self,
        channel: &ChannelName,
        position: &StreamPosition,
        limit: Option<usize>,
        now: Instant,
    ) -> Result<Recovery, EngineError> {
        Ok(MemoryHistory::since(self, channel, position, limit, now))
    }

    async fn top(
        &self,
        channel: &ChannelName,
        limit: usize,
        now: Instant,
    ) -> Result<HistorySlice, EngineError> {
        Ok(MemoryHistory::top(self, channel, limit, now))
    }

    async fn position(
        &self,
        channel: &ChannelName,
        now: Instant,
    ) -> Result<StreamPosition, EngineError> {
        Ok(MemoryHistory::position(self, channel, now))
    }
}

#[cfg(test)]
mod tests;
