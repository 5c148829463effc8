//! Replies: the answer to each command, a result or an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::ErrorCode;
use super::push::payload_value;
use crate::history::Publication;
use crate::presence::ClientInfo;

/// The answer to a command.
///
/// On the wire: `{"id": 1, "result": {...}}` or `{"id": 1, "error": {"code": 103,
/// "message": "permission denied"}}`. The id is absent only in the reply to a frame that
/// was too malformed to have one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireReply", try_from = "WireReply")]
pub struct Reply {
    /// The id of the command this answers.
    pub id: Option<u32>,
    /// The result, or why the command failed.
    pub outcome: Result<ReplyResult, ErrorReply>,
}

impl Reply {
    /// A successful reply to command `id`.
    pub fn ok(id: u32, result: ReplyResult) -> Self {
        Self {
            id: Some(id),
            outcome: Ok(result),
        }
    }

    /// An error reply to command `id` with the code's default message.
    pub fn error(id: u32, code: ErrorCode) -> Self {
        Self::error_with(id, code, code.default_message())
    }

    /// An error reply to command `id` with a message of its own.
    pub fn error_with(id: u32, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id: Some(id),
            outcome: Err(ErrorReply {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure; see [`ErrorCode`].
    pub code: ErrorCode,
    /// For the client's developer; clients act on the code.
    pub message: String,
}

/// A publication inside a reply (recovered on subscribe, or from `history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicationData {
    /// Its offset in the channel's stream.
    pub offset: u64,
    /// What was published.
    pub data: Value,
    /// `data` is a base64 string of a binary message published in a plain room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
    /// Who published it, if a client did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
}

impl From<&Publication> for PublicationData {
    fn from(publication: &Publication) -> Self {
        let (data, binary) = payload_value(&publication.data);
        Self {
            offset: publication.offset,
            data,
            binary,
            info: publication.info.clone(),
        }
    }
}

/// The result of a successful command; its shape depends on the method.
///
/// Variants are told apart by their fields (the client knows which method it asked), so
/// they are listed here from the most to the least specific, which is the order a decoder
/// tries them in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyResult {
    /// `subscribe`: where the stream is, and what was recovered.
    Subscribe {
        /// The stream's epoch; the client keeps it with the last offset it sees.
        epoch: String,
        /// The stream's offset after the recovered publications.
        offset: u64,
        /// Whether the client asked to recover.
        recovering: bool,
        /// Whether every missed publication is in `publications`. When the client asked to
        /// recover and this is false, it missed publications and must reload its state.
        recovered: bool,
        /// The missed publications, oldest first.
        publications: Vec<PublicationData>,
    },
    /// `history`: publications and the stream's position.
    History {
        /// The stream's epoch.
        epoch: String,
        /// The stream's current offset.
        offset: u64,
        /// Publications, oldest first.
        publications: Vec<PublicationData>,
    },
    /// `publish`: where the publication landed.
    Publish {
        /// The stream's epoch.
        epoch: String,
        /// The publication's offset.
        offset: u64,
    },
    /// `connect`: who the connection is.
    Connect {
        /// The connection's id, chosen by the hub.
        client: String,
        /// The user id from the token; empty when anonymous.
        user: String,
    },
    /// `presence`: who is in the channel, ordered by client id.
    Presence {
        /// The subscribed clients.
        clients: Vec<ClientInfo>,
    },
    /// `presence_stats`: how many are in the channel.
    PresenceStats {
        /// Connections subscribed.
        num_clients: usize,
        /// Distinct users among them.
        num_users: usize,
    },
    /// `unsubscribe` and `ping`: nothing to say but "done". Serialized as `{}`.
    Empty {},
}

/// The wire shape of [`Reply`]: `result` and `error` are sibling fields, exactly one present.
#[derive(Serialize, Deserialize)]
struct WireReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<ReplyResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorReply>,
}

impl From<Reply> for WireReply {
    fn from(reply: Reply) -> Self {
        let (result, error) = match reply.outcome {
            Ok(result) => (Some(result), None),
            Err(error) => (None, Some(error)),
        };
        Self {
            id: reply.id,
            result,
            error,
        }
    }
}

impl TryFrom<WireReply> for Reply {
    type Error = &'static str;

    fn try_from(wire: WireReply) -> Result<Self, Self::Error> {
        let outcome = match (wire.result, wire.error) {
            (Some(result), None) => Ok(result),
            (None, Some(error)) => Err(error),
            _ => return Err("a reply has exactly one of `result` and `error`"),
        };
        Ok(Self {
            id: wire.id,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn replies_round_trip_through_their_json() {
        let alice = ClientInfo {
            client_id: "c1".into(),
            user_id: "alice".into(),
            info: None,
        };
        let publication = PublicationData {
            offset: 4,
            data: json!({"text": "hi"}),
            binary: false,
            info: Some(alice.clone()),
        };
        let table: Vec<(&str, Reply)> = vec![
            (
                r#"{"id":1,"result":{"client":"c1","user":"alice"}}"#,
                Reply::ok(
                    1,
                    ReplyResult::Connect {
                        client: "c1".into(),
                        user: "alice".into(),
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{"epoch":"e","offset":4,"recovering":true,"recovered":true,"publications":[{"offset":4,"data":{"text":"hi"},"info":{"client_id":"c1","user_id":"alice"}}]}}"#,
                Reply::ok(
                    1,
                    ReplyResult::Subscribe {
                        epoch: "e".into(),
                        offset: 4,
                        recovering: true,
                        recovered: true,
                        publications: vec![publication.clone()],
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{"epoch":"e","offset":4,"publications":[{"offset":4,"data":1}]}}"#,
                Reply::ok(
                    1,
                    ReplyResult::History {
                        epoch: "e".into(),
                        offset: 4,
                        publications: vec![PublicationData {
                            offset: 4,
                            data: json!(1),
                            binary: false,
                            info: None,
                        }],
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{"epoch":"e","offset":5}}"#,
                Reply::ok(
                    1,
                    ReplyResult::Publish {
                        epoch: "e".into(),
                        offset: 5,
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{"clients":[{"client_id":"c1","user_id":"alice"}]}}"#,
                Reply::ok(
                    1,
                    ReplyResult::Presence {
                        clients: vec![alice],
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{"num_clients":2,"num_users":1}}"#,
                Reply::ok(
                    1,
                    ReplyResult::PresenceStats {
                        num_clients: 2,
                        num_users: 1,
                    },
                ),
            ),
            (
                r#"{"id":1,"result":{}}"#,
                Reply::ok(1, ReplyResult::Empty {}),
            ),
            (
                r#"{"id":1,"error":{"code":103,"message":"permission denied"}}"#,
                Reply::error(1, ErrorCode::PERMISSION_DENIED),
            ),
            (
                r#"{"error":{"code":107,"message":"malformed"}}"#,
                Reply {
                    id: None,
                    outcome: Err(ErrorReply {
                        code: ErrorCode::BAD_REQUEST,
                        message: "malformed".into(),
                    }),
                },
            ),
        ];
        for (json, reply) in table {
            assert_eq!(serde_json::to_string(&reply).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<Reply>(json).unwrap(),
                reply,
                "{json}"
            );
        }
    }

    #[test]
    fn a_reply_has_exactly_one_outcome() {
        for json in [
            r#"{"id":1}"#,
            r#"{"id":1,"result":{},"error":{"code":100,"message":""}}"#,
        ] {
            let error = serde_json::from_str::<Reply>(json).unwrap_err();
            assert!(error.to_string().contains("exactly one"), "{error}");
        }
    }
}
