//! Pushes: what the server sends without being asked.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::DisconnectCode;
use crate::channel::ChannelName;
use crate::history::{Payload, Publication};
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
        /// `data` is a base64 string of a binary message published in a plain room.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        binary: bool,
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
/// A [`Payload::Json`] must hold one encoded JSON value (the hub only stores what it
/// encoded or checked itself); the result is then byte for byte what serializing
/// [`Push::Publication`] gives.
pub fn encode_publication(channel: &ChannelName, publication: &Publication) -> Bytes {
    let data = &publication.data;
    let mut out = String::with_capacity(64 + channel.as_str().len() + data.len() * 4 / 3);
    // Channel names need no escaping (see `ChannelName`'s character set).
    let _ = write!(
        out,
        r#"{{"push":"publication","channel":"{channel}","offset":{},"data":"#,
        publication.offset
    );
    let mut bytes = out.into_bytes();
    write_payload(&mut bytes, data);
    if let Some(info) = &publication.info {
        bytes.extend_from_slice(br#","info":"#);
        // Serializing a struct of strings and a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, info);
    }
    bytes.push(b'}');
    Bytes::from(bytes)
}

/// Writes a payload as the value of `data` (and the `binary` flag after it, for binary).
fn write_payload(out: &mut Vec<u8>, payload: &Payload) {
    match payload {
        Payload::Json(json) => out.extend_from_slice(json),
        Payload::Text(text) => {
            // Text payloads come from WebSocket text messages, which are UTF-8.
            let text = String::from_utf8_lossy(text);
            let _ = serde_json::to_writer(&mut *out, text.as_ref());
        }
        Payload::Binary(binary) => {
            out.push(b'"');
            let start = out.len();
            out.resize(
                start + base64::encoded_len(binary.len(), true).unwrap_or(0),
                0,
            );
            let written = STANDARD
                .encode_slice(binary, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            out.extend_from_slice(br#"","binary":true"#);
        }
    }
}

/// The value of a payload as protocol clients see it in `data`, and whether it is binary.
pub fn payload_value(payload: &Payload) -> (Value, bool) {
    match payload {
        Payload::Json(json) => (serde_json::from_slice(json).unwrap_or(Value::Null), false),
        Payload::Text(text) => (
            Value::String(String::from_utf8_lossy(text).into_owned()),
            false,
        ),
        Payload::Binary(binary) => (Value::String(STANDARD.encode(binary)), true),
    }
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
                    binary: false,
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
                data: Payload::Json(Bytes::from(serde_json::to_vec(&data).unwrap())),
                info: info.clone(),
            };
            let encoded = encode_publication(&channel("chat:room:7"), &publication);
            let push = Push::Publication {
                channel: channel("chat:room:7"),
                offset: 42,
                data: data.clone(),
                binary: false,
                info,
            };
            assert_eq!(encoded, serde_json::to_vec(&push).unwrap());
        }
    }

    #[test]
    fn text_and_binary_payloads_encode_as_strings() {
        let table: &[(Payload, &str)] = &[
            (
                Payload::Text(Bytes::from("hi \"there\"")),
                r#""hi \"there\"""#,
            ),
            (Payload::Text(Bytes::new()), r#""""#),
            (
                Payload::Binary(Bytes::from_static(&[0, 255, 7])),
                r#""AP8H","binary":true"#,
            ),
            (Payload::Binary(Bytes::new()), r#""","binary":true"#),
            (Payload::Json(Bytes::from("[1,2]")), "[1,2]"),
        ];
        for (payload, data) in table {
            let publication = Publication {
                offset: 3,
                data: payload.clone(),
                info: None,
            };
            let encoded = encode_publication(&channel("a"), &publication);
            let expected =
                format!(r#"{{"push":"publication","channel":"a","offset":3,"data":{data}}}"#);
            assert_eq!(std::str::from_utf8(&encoded).unwrap(), expected);
            // What serde reads back agrees with `payload_value`.
            let Push::Publication { data, binary, .. } = serde_json::from_slice(&encoded).unwrap()
            else {
                panic!("not a publication")
            };
            assert_eq!((data, binary), payload_value(payload));
        }
    }
}
