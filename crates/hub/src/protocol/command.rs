//! Commands: what a client sends, and [`decode_command`], the one place they are parsed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::ErrorCode;
use super::reply::{ErrorReply, Reply};
use crate::channel::ChannelName;
use crate::history::StreamPosition;

/// A command: a request with the id its reply will carry.
///
/// On the wire: `{"id": 1, "method": "subscribe", "params": {"channel": "chat:lobby"}}`.
/// `params` may be left out where every parameter is optional (`connect`, `ping`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    /// Chosen by the client; the reply carries it back. Ids need not be unique, but a client
    /// that reuses one cannot tell the replies apart.
    pub id: u32,
    /// What the client asks for.
    #[serde(flatten)]
    pub request: Request,
}

/// The methods of `switchboard.v1.json`, with their parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// Authenticate the connection; must come first.
    Connect(ConnectParams),
    /// Start receiving a channel's publications, optionally recovering missed ones.
    Subscribe(SubscribeParams),
    /// Stop receiving a channel's publications.
    Unsubscribe(ChannelParams),
    /// Publish data into a channel.
    Publish(PublishParams),
    /// Who is in a channel.
    Presence(ChannelParams),
    /// How many clients and users are in a channel.
    PresenceStats(ChannelParams),
    /// A channel's recent publications, or those since a position.
    History(HistoryParams),
    /// An application-level ping; the reply is empty. Useful where WebSocket pings are not
    /// visible to the application (browsers).
    Ping,
}

impl Request {
    /// This request's method name, as on the wire.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Subscribe(_) => "subscribe",
            Self::Unsubscribe(_) => "unsubscribe",
            Self::Publish(_) => "publish",
            Self::Presence(_) => "presence",
            Self::PresenceStats(_) => "presence_stats",
            Self::History(_) => "history",
            Self::Ping => "ping",
        }
    }

    /// The method names, as on the wire.
    pub const METHODS: &'static [&'static str] = &[
        "connect",
        "subscribe",
        "unsubscribe",
        "publish",
        "presence",
        "presence_stats",
        "history",
        "ping",
    ];
}

/// Parameters of `connect`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConnectParams {
    /// A token from the application's backend; without one the connection is anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The client's name and version, for the server's logs and metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What an anonymous connection says about itself (a display name), shown in presence
    /// and on its publications; at most [`MAX_CONNECT_INFO_LEN`] bytes as JSON. Ignored when
    /// a token is given: the token's `info` claim is what the application vouches for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
}

/// The most bytes the `info` of a `connect` may take, encoded: it is repeated in every
/// presence list and publication of the connection.
pub const MAX_CONNECT_INFO_LEN: usize = 1024;

/// Parameters of `subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeParams {
    /// The channel.
    pub channel: ChannelName,
    /// Recover the publications missed since `offset` in `epoch` (both required then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recover: bool,
    /// The offset of the last publication the client saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The epoch that offset is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

impl SubscribeParams {
    /// The position to recover from, when `recover` is set with both `offset` and `epoch`.
    pub fn recover_from(&self) -> Option<StreamPosition> {
        match (self.recover, self.offset, &self.epoch) {
            (true, Some(offset), Some(epoch)) => Some(StreamPosition {
                offset,
                epoch: epoch.clone(),
            }),
            _ => None,
        }
    }
}

/// Parameters of the methods that only name a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelParams {
    /// The channel.
    pub channel: ChannelName,
}

/// Parameters of `publish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishParams {
    /// The channel.
    pub channel: ChannelName,
    /// Any JSON value; subscribers receive it as it is.
    pub data: Value,
}

/// Parameters of `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryParams {
    /// The channel.
    pub channel: ChannelName,
    /// At most this many publications (the latest ones); all that are kept if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Only the publications after this position, or error 112 if they are not all kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<StreamPosition>,
}

/// A frame that is not a valid command, and the error reply it deserves.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The command's id, if the frame got as far as having one; the reply carries it.
    pub id: Option<u32>,
    /// [`ErrorCode::BAD_REQUEST`] or [`ErrorCode::METHOD_NOT_FOUND`].
    pub code: ErrorCode,
    /// What was wrong, for the client's developer.
    pub message: String,
}

impl DecodeError {
    /// Whether the frame was not even a command envelope (not JSON, no id, no method):
    /// a client that sends those is broken, and the session disconnects it.
    pub fn is_malformed(&self) -> bool {
        self.id.is_none()
    }

    /// The error reply to send back.
    pub fn reply(&self) -> Reply {
        Reply {
            id: self.id,
            outcome: Err(ErrorReply {
                code: self.code,
                message: self.message.clone(),
            }),
        }
    }
}

/// The envelope is read first, so that a command with bad parameters still gets a reply
/// with its id, and an unknown method is told apart from a malformed one.
#[derive(Deserialize)]
struct Envelope {
    id: u32,
    method: String,
    #[serde(default)]
    params: Option<Value>,
}

/// Parses one text frame into a [`Command`]. Never panics: anything else is a
/// [`DecodeError`] that says which error reply to send.
///
/// Unknown fields are ignored, so that a newer client can add optional ones.
pub fn decode_command(frame: &[u8]) -> Result<Command, DecodeError> {
    let envelope: Envelope = serde_json::from_slice(frame).map_err(|error| DecodeError {
        id: None,
        code: ErrorCode::BAD_REQUEST,
        message: format!("malformed command: {error}"),
    })?;
    let id = envelope.id;
    let params = envelope
        .params
        .unwrap_or_else(|| Value::Object(Default::default()));
    let bad_params = |error: serde_json::Error| DecodeError {
        id: Some(id),
        code: ErrorCode::BAD_REQUEST,
        message: format!("bad params for {}: {error}", envelope.method),
    };
    let request = match envelope.method.as_str() {
        "connect" => Request::Connect(serde_json::from_value(params).map_err(bad_params)?),
        "subscribe" => Request::Subscribe(serde_json::from_value(params).map_err(bad_params)?),
        "unsubscribe" => Request::Unsubscribe(serde_json::from_value(params).map_err(bad_params)?),
        "publish" => Request::Publish(serde_json::from_value(params).map_err(bad_params)?),
        "presence" => Request::Presence(serde_json::from_value(params).map_err(bad_params)?),
        "presence_stats" => {
            Request::PresenceStats(serde_json::from_value(params).map_err(bad_params)?)
        }
        "history" => Request::History(serde_json::from_value(params).map_err(bad_params)?),
        "ping" => Request::Ping,
        other => {
            return Err(DecodeError {
                id: Some(id),
                code: ErrorCode::METHOD_NOT_FOUND,
                message: format!("unknown method {other:?}"),
            })
        }
    };
    Ok(Command { id, request })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::new(name).unwrap()
    }

    #[test]
    fn commands_round_trip_through_their_json() {
        let table: Vec<(&str, Request)> = vec![
            (
                r#"{"id":1,"method":"connect","params":{"token":"t","name":"js/1.0"}}"#,
                Request::Connect(ConnectParams {
                    info: None,
                    token: Some("t".into()),
                    name: Some("js/1.0".into()),
                }),
            ),
            (
                r#"{"id":1,"method":"connect","params":{}}"#,
                Request::Connect(ConnectParams::default()),
            ),
            (
                r#"{"id":1,"method":"subscribe","params":{"channel":"chat:lobby"}}"#,
                Request::Subscribe(SubscribeParams {
                    channel: channel("chat:lobby"),
                    recover: false,
                    offset: None,
                    epoch: None,
                }),
            ),
            (
                r#"{"id":1,"method":"subscribe","params":{"channel":"a","recover":true,"offset":5,"epoch":"e"}}"#,
                Request::Subscribe(SubscribeParams {
                    channel: channel("a"),
                    recover: true,
                    offset: Some(5),
                    epoch: Some("e".into()),
                }),
            ),
            (
                r#"{"id":1,"method":"unsubscribe","params":{"channel":"a"}}"#,
                Request::Unsubscribe(ChannelParams {
                    channel: channel("a"),
                }),
            ),
            (
                r#"{"id":1,"method":"publish","params":{"channel":"a","data":{"text":"hi"}}}"#,
                Request::Publish(PublishParams {
                    channel: channel("a"),
                    data: json!({"text": "hi"}),
                }),
            ),
            (
                r#"{"id":1,"method":"presence","params":{"channel":"a"}}"#,
                Request::Presence(ChannelParams {
                    channel: channel("a"),
                }),
            ),
            (
                r#"{"id":1,"method":"presence_stats","params":{"channel":"a"}}"#,
                Request::PresenceStats(ChannelParams {
                    channel: channel("a"),
                }),
            ),
            (
                r#"{"id":1,"method":"history","params":{"channel":"a","limit":10,"since":{"offset":3,"epoch":"e"}}}"#,
                Request::History(HistoryParams {
                    channel: channel("a"),
                    limit: Some(10),
                    since: Some(StreamPosition {
                        offset: 3,
                        epoch: "e".into(),
                    }),
                }),
            ),
            (r#"{"id":1,"method":"ping"}"#, Request::Ping),
        ];
        for (json, request) in table {
            let command = Command { id: 1, request };
            assert_eq!(
                decode_command(json.as_bytes()),
                Ok(command.clone()),
                "{json}"
            );
            assert_eq!(serde_json::to_string(&command).unwrap(), json);
        }
    }

    #[test]
    fn optional_params_and_unknown_fields() {
        let table: &[(&str, Request)] = &[
            (
                r#"{"id":2,"method":"connect"}"#,
                Request::Connect(ConnectParams::default()),
            ),
            (
                r#"{"id":2,"method":"ping","params":{"x":1}}"#,
                Request::Ping,
            ),
            (
                r#"{"id":2,"method":"connect","params":{"token":"t","future":true},"extra":1}"#,
                Request::Connect(ConnectParams {
                    info: None,
                    token: Some("t".into()),
                    name: None,
                }),
            ),
        ];
        for (json, request) in table {
            let decoded = decode_command(json.as_bytes());
            assert_eq!(
                decoded,
                Ok(Command {
                    id: 2,
                    request: request.clone()
                }),
                "{json}"
            );
        }
    }

    #[test]
    fn bad_frames_become_error_replies() {
        // (frame, reply id, code, words the message must contain)
        let table: &[(&[u8], Option<u32>, ErrorCode, &str)] = &[
            (b"", None, ErrorCode::BAD_REQUEST, "malformed command"),
            (b"{", None, ErrorCode::BAD_REQUEST, "malformed command"),
            (b"[1,2]", None, ErrorCode::BAD_REQUEST, "malformed command"),
            (
                b"\xff\xfe",
                None,
                ErrorCode::BAD_REQUEST,
                "malformed command",
            ),
            (
                br#"{"method":"ping"}"#,
                None,
                ErrorCode::BAD_REQUEST,
                "missing field `id`",
            ),
            (
                br#"{"id":-1,"method":"ping"}"#,
                None,
                ErrorCode::BAD_REQUEST,
                "malformed",
            ),
            (
                br#"{"id":"1","method":"ping"}"#,
                None,
                ErrorCode::BAD_REQUEST,
                "malformed",
            ),
            (
                br#"{"id":3}"#,
                None,
                ErrorCode::BAD_REQUEST,
                "missing field `method`",
            ),
            (
                br#"{"id":3,"method":"rpc"}"#,
                Some(3),
                ErrorCode::METHOD_NOT_FOUND,
                "\"rpc\"",
            ),
            (
                br#"{"id":3,"method":"Ping"}"#,
                Some(3),
                ErrorCode::METHOD_NOT_FOUND,
                "\"Ping\"",
            ),
            (
                br#"{"id":3,"method":"subscribe"}"#,
                Some(3),
                ErrorCode::BAD_REQUEST,
                "missing field `channel`",
            ),
            (
                br#"{"id":3,"method":"subscribe","params":{"channel":"a b"}}"#,
                Some(3),
                ErrorCode::BAD_REQUEST,
                "' ' at byte 1",
            ),
            (
                br#"{"id":3,"method":"publish","params":{"channel":"a"}}"#,
                Some(3),
                ErrorCode::BAD_REQUEST,
                "missing field `data`",
            ),
            (
                br#"{"id":3,"method":"history","params":{"channel":"a","limit":-1}}"#,
                Some(3),
                ErrorCode::BAD_REQUEST,
                "bad params for history",
            ),
            (
                br#"{"id":3,"method":"connect","params":[1]}"#,
                Some(3),
                ErrorCode::BAD_REQUEST,
                "bad params for connect",
            ),
        ];
        for &(frame, id, code, words) in table {
            let error = decode_command(frame).unwrap_err();
            assert_eq!(
                (error.id, error.code),
                (id, code),
                "{:?}",
                String::from_utf8_lossy(frame)
            );
            assert!(error.message.contains(words), "{}", error.message);
            assert_eq!(error.is_malformed(), id.is_none());
            let reply = serde_json::to_value(error.reply()).unwrap();
            assert_eq!(reply["error"]["code"], json!(code.0));
        }
    }

    #[test]
    fn recover_needs_offset_and_epoch() {
        let base = SubscribeParams {
            channel: channel("a"),
            recover: true,
            offset: Some(4),
            epoch: Some("e".into()),
        };
        let position = StreamPosition {
            offset: 4,
            epoch: "e".into(),
        };
        assert_eq!(base.recover_from(), Some(position));
        let table = [
            SubscribeParams {
                recover: false,
                ..base.clone()
            },
            SubscribeParams {
                offset: None,
                ..base.clone()
            },
            SubscribeParams {
                epoch: None,
                ..base.clone()
            },
        ];
        for params in table {
            assert_eq!(params.recover_from(), None, "{params:?}");
        }
    }
}
