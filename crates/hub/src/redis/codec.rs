//! How publications look inside Redis: the body kept in a history entry, and the messages
//! nodes exchange over Redis pub/sub.
//!
//! A body is `KIND INFO '\n' PAYLOAD`: one byte for the payload's kind (`j` JSON, `t` text,
//! `b` binary), the publisher's [`ClientInfo`] as compact JSON (empty when the server
//! published), a newline, then the payload's bytes as they are. Compact JSON never holds a
//! raw newline, so the first one ends the info; the payload may hold anything.
//!
//! A pub/sub message is either a publication, `p OFFSET ' ' EPOCH '\n' BODY`, built by the
//! publish script once Redis has assigned the offset, or an event (join, leave),
//! `e PUSH-JSON`, which is not stored.

use bytes::Bytes;

use crate::history::{Payload, Publication, StreamPosition};
use crate::presence::ClientInfo;

/// Why bytes read from Redis are not a body or a message this hub writes. Another program
/// (or another version) wrote to our keys; the message is dropped and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed Redis data: {}", self.0)
    }
}

/// A message received over Redis pub/sub.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    /// A stored publication, at its position.
    Publication {
        publication: Publication,
        epoch: String,
    },
    /// A join or leave push, already encoded as JSON.
    Event(Bytes),
}

/// The body of a publication: what history keeps and the publish message carries.
pub(crate) fn encode_body(data: &Payload, info: Option<&ClientInfo>) -> Vec<u8> {
    let (kind, bytes) = match data {
        Payload::Json(bytes) => (b'j', bytes),
        Payload::Text(bytes) => (b't', bytes),
        Payload::Binary(bytes) => (b'b', bytes),
    };
    let mut body = Vec::with_capacity(bytes.len() + 64);
    body.push(kind);
    if let Some(info) = info {
        // Serializing strings and a JSON value cannot fail.
        let _ = serde_json::to_writer(&mut body, info);
    }
    body.push(b'\n');
    body.extend_from_slice(bytes);
    body
}

/// Reads a body back into the publication at `offset`.
pub(crate) fn decode_body(offset: u64, body: Bytes) -> Result<Publication, Malformed> {
    let Some(&kind) = body.first() else {
        return Err(Malformed("empty body"));
    };
    let newline = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(Malformed("body without a newline"))?;
    let info = match &body[1..newline] {
        [] => None,
        json => Some(serde_json::from_slice(json).map_err(|_| Malformed("publisher info"))?),
    };
    let bytes = body.slice(newline + 1..);
    let data = match kind {
        b'j' => Payload::Json(bytes),
        b't' => Payload::Text(bytes),
        b'b' => Payload::Binary(bytes),
        _ => return Err(Malformed("unknown payload kind")),
    };
    Ok(Publication { offset, data, info })
}

/// The pub/sub message for an event push.
pub(crate) fn encode_event(push_json: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(push_json.len() + 1);
    message.push(b'e');
    message.extend_from_slice(push_json);
    message
}

/// The pub/sub message for a publication at `position`. The publish script builds the same
/// bytes in Lua; this is the reference it is tested against.
#[cfg(test)]
pub(crate) fn encode_publication(position: &StreamPosition, body: &[u8]) -> Vec<u8> {
    let mut message = format!("p{} {}\n", position.offset, position.epoch).into_bytes();
    message.extend_from_slice(body);
    message
}

/// Reads a pub/sub message.
pub(crate) fn decode_message(message: Bytes) -> Result<Message, Malformed> {
    match message.first() {
        Some(b'e') => Ok(Message::Event(message.slice(1..))),
        Some(b'p') => {
            let newline = message
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(Malformed("publication without a newline"))?;
            let head = std::str::from_utf8(&message[1..newline])
                .map_err(|_| Malformed("publication head"))?;
            let (offset, epoch) = head.split_once(' ').ok_or(Malformed("publication head"))?;
            let offset = offset
                .parse()
                .map_err(|_| Malformed("publication offset"))?;
            let publication = decode_body(offset, message.slice(newline + 1..))?;
            Ok(Message::Publication {
                publication,
                epoch: epoch.to_owned(),
            })
        }
        _ => Err(Malformed("unknown message type")),
    }
}

/// The position a publication message carries.
pub(crate) fn position_of(publication: &Publication, epoch: &str) -> StreamPosition {
    StreamPosition {
        offset: publication.offset,
        epoch: epoch.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        ClientInfo {
            client_id: "n1-7".into(),
            user_id: "ada".into(),
            info: Some(serde_json::json!({"name": "Ada\nLovelace"})),
        }
    }

    #[test]
    fn bodies_round_trip_every_kind_with_and_without_info() {
        let payloads = [
            Payload::Json(Bytes::from_static(b"{\"a\":[1,2]}")),
            Payload::Text(Bytes::from_static(b"line one\nline two")),
            Payload::Binary(Bytes::from_static(b"\0\n\xff\n")),
            Payload::Binary(Bytes::new()),
        ];
        for data in payloads {
            for info in [None, Some(client())] {
                let body = encode_body(&data, info.as_ref());
                let back = decode_body(9, Bytes::from(body)).expect("decodes");
                assert_eq!(
                    back,
                    Publication {
                        offset: 9,
                        data: data.clone(),
                        info
                    }
                );
            }
        }
    }

    #[test]
    fn publication_messages_round_trip() {
        let data = Payload::Text(Bytes::from_static(b"hi\nthere"));
        let body = encode_body(&data, Some(&client()));
        let position = StreamPosition {
            offset: 42,
            epoch: "0a1b".into(),
        };
        let message = encode_publication(&position, &body);
        let Message::Publication { publication, epoch } =
            decode_message(Bytes::from(message)).expect("decodes")
        else {
            panic!("not a publication");
        };
        assert_eq!(epoch, "0a1b");
        assert_eq!(publication.offset, 42);
        assert_eq!(publication.data, data);
        assert_eq!(publication.info, Some(client()));
    }

    #[test]
    fn events_carry_their_json() {
        let message = encode_event(br#"{"join":{}}"#);
        assert_eq!(
            decode_message(Bytes::from(message)),
            Ok(Message::Event(Bytes::from_static(br#"{"join":{}}"#)))
        );
    }

    #[test]
    fn foreign_bytes_are_refused_not_trusted() {
        let cases: [&[u8]; 8] = [
            b"",
            b"x",
            b"p",
            b"p12 ep",
            b"pxx ep\nj\n{}",
            b"p1ep\nj\n{}",
            b"p1 ep\nq\nabc",
            b"p1 ep\nj{not json\nabc",
        ];
        for case in cases {
            assert!(
                decode_message(Bytes::from_static(case)).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(case)
            );
        }
    }
}
