//! Property tests: what one endpoint encodes, the other decodes to the same messages, whatever
//! the fragmentation, the role, and the way the transport splits the bytes.

#![allow(clippy::unwrap_used)]
mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use switchboard_proto::mask::{apply_mask, apply_mask_ascii, apply_mask_scalar};
use switchboard_proto::{Config, Connection, Limits, Message, OpCode};

/// A message to send, and how to fragment it (piece sizes; empty means "one frame").
#[derive(Debug, Clone)]
struct Planned {
    message: Message,
    pieces: Vec<usize>,
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<String>().prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(|p| Message::Ping(p.into())),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(|p| Message::Pong(p.into())),
    ]
}

fn planned() -> impl Strategy<Value = Planned> {
    (message(), proptest::collection::vec(0usize..400, 0..6))
        .prop_map(|(message, pieces)| Planned { message, pieces })
}

/// Sends `plan` on `conn`, fragmenting data messages as planned.
fn send(conn: &mut Connection, plan: &Planned) {
    let (opcode, payload) = match &plan.message {
        Message::Text(t) if !plan.pieces.is_empty() => (OpCode::Text, t.as_bytes().to_vec()),
        Message::Binary(b) if !plan.pieces.is_empty() => (OpCode::Binary, b.to_vec()),
        other => {
            conn.send(other.clone()).unwrap();
            return;
        }
    };
    // Cut at the planned sizes; text pieces may split characters, which must still work.
    let mut rest = &payload[..];
    let mut opcode = opcode;
    for &size in &plan.pieces {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        conn.send_fragment(opcode, piece, false).unwrap();
        opcode = OpCode::Continuation;
        rest = tail;
    }
    conn.send_fragment(opcode, rest, true).unwrap();
}

fn unlimited() -> Config {
    let mut config = Config::default();
    config.limits = Limits::unlimited_messages();
    config
}

fn round_trip(plans: &[Planned], from_client: bool, cuts: &[usize]) -> Vec<Message> {
    let now = Instant::now();
    let (mut sender, mut receiver) = if from_client {
        (
            Connection::client(unlimited(), now, counter_entropy()),
            Connection::server(unlimited(), now),
        )
    } else {
        (
            Connection::server(unlimited(), now),
            Connection::client(unlimited(), now, counter_entropy()),
        )
    };
    for plan in plans {
        send(&mut sender, plan);
    }
    let wire = drain(&mut sender);
    // Deliver the bytes in arbitrary pieces.
    let mut got = Vec::new();
    let mut rest = &wire[..];
    for &cut in cuts {
        let (piece, tail) = rest.split_at(cut.min(rest.len()));
        receiver.receive_bytes(now, piece);
        got.extend(events(&mut receiver));
        rest = tail;
    }
    receiver.receive_bytes(now, rest);
    got.extend(events(&mut receiver));
    assert_eq!(receiver.poll_event(), Ok(None), "no error");
    got
}

/// What a server makes of `wire` delivered in pieces at `cuts`, echoing every data message:
/// the messages it reports, its state at the end (the next `poll_event`), and the data frames
/// and the control frames it sends, each in order. With `lend`, messages are taken through
/// `receive_buffered_with` (and then `poll_event`, for the close frame or the error).
type Outcome = (
    Vec<Message>,
    Result<Option<Message>, switchboard_proto::Error>,
    Vec<(OpCode, Vec<u8>)>,
    Vec<(OpCode, Vec<u8>)>,
);

fn server_outcome(wire: &[u8], cuts: &[usize], lend: bool) -> Outcome {
    let now = Instant::now();
    let mut server = Connection::server(unlimited(), now);
    let mut got = Vec::new();
    let mut rest = wire;
    let mut pieces: Vec<&[u8]> = Vec::new();
    for &cut in cuts {
        let (piece, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    for piece in pieces {
        server.read_buffer().extend_from_slice(piece);
        if lend {
            server.receive_buffered_with(now, |message, outbox| {
                if message.is_data() {
                    let _ = outbox.send(message);
                }
                got.push(message.to_message());
            });
        } else {
            server.receive_buffered(now);
        }
        while let Ok(Some(message)) = server.poll_event() {
            if message.is_data() {
                let _ = server.send(message.clone());
            }
            got.push(message);
        }
    }
    let end = server.poll_event();
    let (control, data) = parse_frames(&drain(&mut server))
        .into_iter()
        .map(|(header, payload)| (header.opcode, payload))
        .partition(|(opcode, _)| opcode.is_control());
    (got, end, data, control)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity(
        plans in proptest::collection::vec(planned(), 1..8),
        from_client in any::<bool>(),
        cuts in proptest::collection::vec(0usize..700, 0..12),
    ) {
        let got = round_trip(&plans, from_client, &cuts);
        let sent: Vec<Message> = plans.into_iter().map(|p| p.message).collect();
        prop_assert_eq!(got, sent);
    }

    #[test]
    fn fast_mask_equals_scalar_mask(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        key in any::<[u8; 4]>(),
        offset in 0usize..64,
    ) {
        let mut fast = data.clone();
        let mut fused = data.clone();
        let mut slow = data;
        apply_mask(&mut fast, key, offset);
        let ascii = apply_mask_ascii(&mut fused, key, offset);
        apply_mask_scalar(&mut slow, key, offset);
        prop_assert_eq!(ascii, slow.is_ascii());
        prop_assert_eq!(&fused, &slow);
        prop_assert_eq!(fast, slow);
    }

    /// Masked ASCII text is recognised as ASCII once unmasked, wherever the piece starts.
    #[test]
    fn masked_ascii_unmasks_as_ascii(
        plain in proptest::collection::vec(0u8..0x80, 0..2000),
        key in any::<[u8; 4]>(),
        offset in 0usize..64,
    ) {
        let mut wire = plain.clone();
        apply_mask_scalar(&mut wire, key, offset);
        prop_assert!(apply_mask_ascii(&mut wire, key, offset));
        prop_assert_eq!(wire, plain);
    }

    /// A text frame that arrives whole is checked in one step, one that arrives in pieces as
    /// each piece comes: both must reach std's verdict on the bytes (RFC 6455 8.1).
    #[test]
    fn text_verdict_is_the_same_whole_or_in_pieces(
        payload in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<String>().prop_map(String::into_bytes),
        ],
        cut in 0usize..320,
    ) {
        let wire = from_client(true, OpCode::Text, &payload);
        let valid = std::str::from_utf8(&payload).is_ok();
        let (head, tail) = wire.split_at(cut.min(wire.len()));
        for pieces in [vec![&wire[..]], vec![head, tail]] {
            let mut conn = server();
            let mut got = Vec::new();
            for piece in pieces {
                conn.receive_bytes(Instant::now(), piece);
                got.extend(events(&mut conn));
            }
            if valid {
                prop_assert_eq!(&got, &[Message::text(String::from_utf8(payload.clone()).unwrap())]);
                prop_assert_eq!(conn.poll_event(), Ok(None));
            } else {
                prop_assert!(got.is_empty());
                prop_assert_eq!(close_code_sent(&drain(&mut conn)), Some(1007));
            }
        }
    }

    #[test]
    fn lending_gives_what_polling_gives(
        plans in proptest::collection::vec(planned(), 0..6),
        garbage in proptest::collection::vec(any::<u8>(), 0..24),
        cuts in proptest::collection::vec(0usize..600, 0..4),
    ) {
        // Valid traffic, then (when `garbage` is not empty) whatever follows it: an error, a
        // close frame, or more messages.
        let mut client = Connection::client(unlimited(), Instant::now(), counter_entropy());
        for plan in &plans {
            send(&mut client, plan);
        }
        let mut wire = drain(&mut client);
        wire.extend(&garbage);
        prop_assert_eq!(server_outcome(&wire, &cuts, true), server_outcome(&wire, &cuts, false));
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_role(
        wire in proptest::collection::vec(any::<u8>(), 0..600),
        cut in 0usize..600,
    ) {
        for mut conn in [server(), client()] {
            let (a, b) = wire.split_at(cut.min(wire.len()));
            conn.receive_bytes(Instant::now(), a);
            let _ = events(&mut conn);
            conn.receive_bytes(Instant::now(), b);
            let _ = events(&mut conn);
            conn.receive_eof();
            let _ = events(&mut conn);
            let _ = drain(&mut conn);
        }
    }
}

#[test]
fn control_payloads_round_trip_exactly() {
    let plans = vec![Planned {
        message: Message::Ping(Bytes::from_static(b"\x00\xff")),
        pieces: vec![],
    }];
    assert_eq!(
        round_trip(&plans, true, &[1]),
        vec![Message::Ping(Bytes::from_static(b"\x00\xff"))]
    );
}
