//! Pushes: what the server sends without being asked.

use std::fmt::Write as _;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::DisconnectCode;
use crate::channel::ChannelName;
use crate::history::Publication;
use crate::presence::ClientInfo;

/// A message from the server that answers no command.
///
/// On the wire the `push` field names the kind: `{"push": "publication", "channel": ...}`.
/// Replies have an `id` or an `error` and never a `push`, which is how a client tells them
/// apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "push", rename_all = "snake_case")]
pub enum Push {
    /// A publication in a channel the client is subscribed to.
    Publication {
        /// The channel.
        channel: ChannelName,
        /// Its offset; the client keeps the last one for recovery.
        offset: u64,
        /// What was published.
        data: Value,
        /// Who published it, if a client did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        info: Option<ClientInfo>,
    },
    /// Someone subscribed to a channel (namespaces with `join_leave`).
    Join {
        /// The channel.
        channel: ChannelName,
        /// Who joined.
        info: ClientInfo,
    },
    /// Someone left a channel (namespaces with `join_leave`).
    Leave {
        /// The channel.
        channel: ChannelName,
        /// Who left.
        info: ClientInfo,
    },
    /// The server ended the client's subscription (for example, through its API).
    Unsubscribe {
        /// The channel.
        channel: ChannelName,
    },
    /// The server is about to close the connection; the close frame carries the same code.
    Disconnect {
        /// Why; see [`DisconnectCode`].
        code: DisconnectCode,
        /// For the client's developer.
        reason: String,
        /// Whether the client should reconnect.
        reconnect: bool,
    },
}

/// Encodes a publication push straight from the stored bytes of its data, without parsing
/// them. The hub calls this once per publication and shares the bytes with every subscriber.
///
/// `publication.data` must be one encoded JSON value (the hub only stores what it encoded
/// itself), and the result is then byte for byte what serializing [`Push::Publication`]
/// gives.
pub fn encode_publication(channel: &ChannelName, publication: &Publication) -> Bytes {
    let mut out = String::with_capacity(64 + channel.as_str().len() + publication.data.len());
    // Channel names need no escaping (see `ChannelName`'s character set).
    let _ = write!(
        out,
        r#"{{"push":"publication","channel":"{channel}","offset":{},"data":"#,
        publication.offset
    );
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&publication.data);
    if let Some(info) = &publication.info {
        bytes.extend_from_slice(br#","info":"#);
        // Serializing a struct of strings and a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, info);
    }
    bytes.push(b'}');
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::new(name).unwrap()
    }

    fn alice() -> ClientInfo {
        ClientInfo {
            client_id: "c1".into(),
            user_id: "alice".into(),
            info: Some(json!({"name": "Alice"})),
        }
    }

    #[test]
    fn pushes_round_trip_through_their_json() {
        let table: Vec<(&str, Push)> = vec![
            (
                r#"{"push":"publication","channel":"chat:lobby","offset":7,"data":{"text":"hi"}}"#,
                Push::Publication {
                    channel: channel("chat:lobby"),
                    offset: 7,
                    data: json!({"text": "hi"}),
                    info: None,
                },
            ),
            (
                r#"{"push":"join","channel":"a","info":{"client_id":"c1","user_id":"alice","info":{"name":"Alice"}}}"#,
                Push::Join {
                    channel: channel("a"),
                    info: alice(),
                },
            ),
            (
                r#"{"push":"leave","channel":"a","info":{"client_id":"c1","user_id":"alice","info":{"name":"Alice"}}}"#,
                Push::Leave {
                    channel: channel("a"),
                    info: alice(),
                },
            ),
            (
                r#"{"push":"unsubscribe","channel":"a"}"#,
                Push::Unsubscribe {
                    channel: channel("a"),
                },
            ),
            (
                r#"{"push":"disconnect","code":4004,"reason":"slow","reconnect":true}"#,
                Push::Disconnect {
                    code: DisconnectCode::SLOW,
                    reason: "slow".into(),
                    reconnect: true,
                },
            ),
        ];
        for (json, push) in table {
            assert_eq!(serde_json::to_string(&push).unwrap(), json);
            assert_eq!(serde_json::from_str::<Push>(json).unwrap(), push, "{json}");
        }
    }

    #[test]
    fn encoding_once_matches_serde() {
        let data = json!({"text": "h\u{e9}llo \"you\"", "n": [1, 2.5, null]});
        for info in [None, Some(alice())] {
            let publication = Publication {
                offset: 42,
                data: Bytes::from(serde_json::to_vec(&data).unwrap()),
                info: info.clone(),
            };
            let encoded = encode_publication(&channel("chat:room:7"), &publication);
            let push = Push::Publication {
                channel: channel("chat:room:7"),
                offset: 42,
                data: data.clone(),
                info,
            };
            assert_eq!(encoded, serde_json::to_vec(&push).unwrap());
        }
    }
}
