//! [`History`] on Redis: a hash with the stream's epoch and top offset, and a Redis stream
//! of the publications still kept (entry id `OFFSET-0`, fields `b` the body and `x` when
//! it expires, in Redis's clock).
//!
//! The script reads; the decisions (is the client's position still continuable, which
//! entries have expired) are plain functions here, tested without Redis.

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use redis::Value;

use super::codec::decode_body;
use super::{new_epoch, unavailable, RedisEngine};
use crate::channel::ChannelName;
use crate::engine::EngineError;
use crate::history::{History, HistorySlice, Publication, Recovery, StreamPosition};

/// One history entry as Redis returned it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) offset: u64,
    pub(super) expires_ms: u64,
    pub(super) body: Bytes,
}

/// What the stream script answered.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StreamState {
    pub(super) position: StreamPosition,
    pub(super) now_ms: u64,
    /// In the order the script returned them.
    pub(super) entries: Vec<Entry>,
}

/// What to read along with the position.
pub(super) enum Read<'a> {
    Position,
    Since(&'a StreamPosition),
    Top(usize),
}

impl RedisEngine {
    /// Runs the stream script for `channel`.
    pub(super) async fn read_stream(
        &self,
        channel: &ChannelName,
        read: Read<'_>,
    ) -> Result<StreamState, EngineError> {
        let shard = self.shard(channel);
        let keys = self.keys(channel);
        let mut invocation = self.scripts.stream.key(&keys.meta);
        invocation
            .key(&keys.history)
            .arg(new_epoch())
            .arg(self.options.idle_stream_ttl.as_millis() as u64);
        match read {
            Read::Position => invocation.arg("position").arg(0).arg(""),
            Read::Since(position) => invocation
                .arg("since")
                .arg(position.offset)
                .arg(&position.epoch),
            Read::Top(count) => invocation.arg("top").arg(count.max(1)).arg(""),
        };
        let value: Value = self.invoke(shard, invocation, true).await?;
        parse_stream_state(value).map_err(|what| {
            unavailable(format!(
                "Redis {}: unexpected stream reply ({what})",
                shard.url
            ))
        })
    }
}

#[async_trait]
impl History for RedisEngine {
    async fn since(
        &self,
        channel: &ChannelName,
        position: &StreamPosition,
        limit: Option<usize>,
        _now: Instant,
    ) -> Result<Recovery, EngineError> {
        let state = self.read_stream(channel, Read::Since(position)).await?;
        Ok(recovery(position, limit, state))
    }

    async fn top(
        &self,
        channel: &ChannelName,
        limit: usize,
        _now: Instant,
    ) -> Result<HistorySlice, EngineError> {
        if limit == 0 {
            let position = self.read_stream(channel, Read::Position).await?.position;
            return Ok(HistorySlice {
                publications: Vec::new(),
                position,
            });
        }
        let state = self.read_stream(channel, Read::Top(limit)).await?;
        Ok(latest(state))
    }

    async fn position(
        &self,
        channel: &ChannelName,
        _now: Instant,
    ) -> Result<StreamPosition, EngineError> {
        Ok(self.read_stream(channel, Read::Position).await?.position)
    }
}

/// The live entries' publications, skipping bodies another program wrote.
fn publications(entries: Vec<Entry>, now_ms: u64) -> Vec<Publication> {
    entries
        .into_iter()
        .filter(|e| e.expires_ms > now_ms)
        .filter_map(|e| decode_body(e.offset, e.body).ok())
        .collect()
}

/// Whether `client` can continue from the stream as read with `Read::Since`: every
/// publication after it must still be kept (none expired or trimmed), in the same epoch,
/// and no more than `limit` of them.
pub(super) fn recovery(
    client: &StreamPosition,
    limit: Option<usize>,
    state: StreamState,
) -> Recovery {
    let top = state.position.offset;
    let lost = Recovery::Lost {
        position: state.position.clone(),
    };
    if client.epoch != state.position.epoch || client.offset > top {
        return lost;
    }
    let missed = top - client.offset;
    if limit.is_some_and(|limit| missed > limit as u64) {
        return lost;
    }
    let publications = publications(state.entries, state.now_ms);
    let contiguous = publications
        .iter()
        .zip(client.offset + 1..)
        .all(|(p, expected)| p.offset == expected);
    if publications.len() as u64 != missed || !contiguous {
        return lost;
    }
    Recovery::Recovered(HistorySlice {
        publications,
        position: state.position,
    })
}

/// The latest live publications, oldest first, from a `Read::Top` answer (newest first).
pub(super) fn latest(mut state: StreamState) -> HistorySlice {
    state.entries.reverse();
    HistorySlice {
        publications: publications(state.entries, state.now_ms),
        position: state.position,
    }
}

fn parse_stream_state(value: Value) -> Result<StreamState, &'static str> {
    let Value::Array(parts) = value else {
        return Err("not an array");
    };
    let [top, epoch, now_ms, entries] = <[Value; 4]>::try_from(parts).map_err(|_| "length")?;
    let entries = match entries {
        Value::Array(entries) => entries
            .into_iter()
            .map(parse_entry)
            .collect::<Result<_, _>>()?,
        _ => return Err("entries"),
    };
    Ok(StreamState {
        position: StreamPosition {
            offset: integer(&top).ok_or("top")?,
            epoch: string(&epoch).ok_or("epoch")?,
        },
        now_ms: integer(&now_ms).ok_or("time")?,
        entries,
    })
}

/// `[id, [field, value, ...]]`, as XRANGE returns each entry.
fn parse_entry(value: Value) -> Result<Entry, &'static str> {
    let Value::Array(parts) = value else {
        return Err("entry");
    };
    let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| "entry length")?;
    let id = string(&id).ok_or("entry id")?;
    let offset = id
        .split_once('-')
        .and_then(|(offset, _)| offset.parse().ok())
        .ok_or("entry id")?;
    let Value::Array(fields) = fields else {
        return Err("entry fields");
    };
    let (mut body, mut expires_ms) = (None, None);
    for pair in fields.chunks(2) {
        if let [name, value] = pair {
            match string(name).as_deref() {
                Some("b") => body = bytes(value),
                Some("x") => expires_ms = string(value).and_then(|x| x.parse().ok()),
                _ => {}
            }
        }
    }
    Ok(Entry {
        offset,
        expires_ms: expires_ms.ok_or("entry expiry")?,
        body: body.ok_or("entry body")?,
    })
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => string(other)?.parse().ok(),
    }
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::BulkString(bytes) => Some(Bytes::from(bytes.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Payload;
    use crate::redis::codec::encode_body;

    fn entry(offset: u64, expires_ms: u64) -> Entry {
        let body = encode_body(&Payload::Text(Bytes::from(format!("m{offset}"))), None);
        Entry {
            offset,
            expires_ms,
            body: Bytes::from(body),
        }
    }

    fn state(top: u64, entries: Vec<Entry>) -> StreamState {
        StreamState {
            position: StreamPosition {
                offset: top,
                epoch: "e1".into(),
            },
            now_ms: 1000,
            entries,
        }
    }

    fn at(offset: u64, epoch: &str) -> StreamPosition {
        StreamPosition {
            offset,
            epoch: epoch.into(),
        }
    }

    fn offsets(recovery: &Recovery) -> Option<Vec<u64>> {
        match recovery {
            Recovery::Recovered(slice) => {
                Some(slice.publications.iter().map(|p| p.offset).collect())
            }
            Recovery::Lost { .. } => None,
        }
    }

    #[test]
    fn recovery_gives_exactly_what_was_missed_or_says_lost() {
        let live = |from: u64, to: u64| (from..=to).map(|o| entry(o, 2000)).collect::<Vec<_>>();
        type Case = (
            &'static str,
            StreamPosition,
            Option<usize>,
            StreamState,
            Option<Vec<u64>>,
        );
        let table: Vec<Case> = vec![
            (
                "up to date",
                at(5, "e1"),
                None,
                state(5, vec![]),
                Some(vec![]),
            ),
            (
                "missed two",
                at(3, "e1"),
                None,
                state(5, live(4, 5)),
                Some(vec![4, 5]),
            ),
            ("other epoch", at(3, "e0"), None, state(5, live(1, 5)), None),
            (
                "ahead of the stream",
                at(9, "e1"),
                None,
                state(5, vec![]),
                None,
            ),
            ("trimmed", at(1, "e1"), None, state(5, live(3, 5)), None),
            (
                "over the limit",
                at(1, "e1"),
                Some(3),
                state(5, live(2, 5)),
                None,
            ),
            (
                "at the limit",
                at(2, "e1"),
                Some(3),
                state(5, live(3, 5)),
                Some(vec![3, 4, 5]),
            ),
            (
                "oldest missed expired",
                at(3, "e1"),
                None,
                state(5, vec![entry(4, 1000), entry(5, 2000)]),
                None,
            ),
            (
                "a hole",
                at(3, "e1"),
                None,
                state(6, vec![entry(4, 2000), entry(6, 2000)]),
                None,
            ),
        ];
        for (name, client, limit, state, expected) in table {
            assert_eq!(
                offsets(&recovery(&client, limit, state)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn lost_says_where_the_stream_is() {
        let Recovery::Lost { position } = recovery(&at(1, "old"), None, state(7, vec![])) else {
            panic!("recovered across epochs");
        };
        assert_eq!(position, at(7, "e1"));
    }

    #[test]
    fn latest_is_oldest_first_without_expired_entries() {
        let newest_first = vec![entry(5, 2000), entry(4, 2000), entry(3, 500)];
        let slice = latest(state(5, newest_first));
        let offsets: Vec<u64> = slice.publications.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [4, 5]);
        assert_eq!(slice.position, at(5, "e1"));
    }

    #[test]
    fn replies_parse_as_redis_sends_them() {
        let body = encode_body(&Payload::Text(Bytes::from_static(b"hi")), None);
        let reply = Value::Array(vec![
            Value::Int(7),
            Value::BulkString(b"e1".to_vec()),
            Value::Int(1000),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"7-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"b".to_vec()),
                    Value::BulkString(body),
                    Value::BulkString(b"x".to_vec()),
                    Value::BulkString(b"2000".to_vec()),
                ]),
            ])]),
        ]);
        let state = parse_stream_state(reply).expect("parses");
        assert_eq!(state.position, at(7, "e1"));
        assert_eq!(state.entries.len(), 1);
        assert_eq!(state.entries[0].offset, 7);
        assert_eq!(state.entries[0].expires_ms, 2000);
        assert!(parse_stream_state(Value::Nil).is_err());
        assert!(parse_stream_state(Value::Array(vec![Value::Int(1)])).is_err());
    }
}
