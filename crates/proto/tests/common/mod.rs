//! Helpers shared by the integration tests: wire bytes in and out of a `Connection`.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used)]
use std::time::Instant;

use bytes::{Buf, BytesMut};
use switchboard_proto::frame::FrameHeader;
use switchboard_proto::mask::apply_mask;
use switchboard_proto::{Config, Connection, Message, OpCode};

/// A deterministic entropy source for tests (masking keys need not be secret here).
pub fn counter_entropy() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut n = 0u8;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_mul(31).wrapping_add(17);
            *b = n;
        }
    }
}

pub fn server() -> Connection {
    Connection::server(Config::default(), Instant::now())
}

pub fn client() -> Connection {
    Connection::client(Config::default(), Instant::now(), counter_entropy())
}

/// Everything the connection wants to write.
pub fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(mut t) = conn.poll_transmit() {
        while t.has_remaining() {
            let chunk = t.chunk().to_vec();
            t.advance(chunk.len());
            out.extend(chunk);
        }
    }
    out
}

/// Every event until `Ok(None)` or an error.
pub fn events(conn: &mut Connection) -> Vec<Message> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = conn.poll_event() {
        out.push(m);
    }
    out
}

/// A frame as a peer would write it: masked with a fixed key when `masked`.
pub fn frame(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: masked.then_some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = BytesMut::new();
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if masked {
        apply_mask(&mut out[start..], key, 0);
    }
    out.to_vec()
}

/// A frame from a client (masked), for feeding a server.
pub fn from_client(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, payload, true)
}

/// Parses wire bytes into (header, unmasked payload) pairs.
pub fn parse_frames(mut wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (h, n) = FrameHeader::parse(wire).unwrap().expect("whole frame");
        let len = h.payload_len as usize;
        let mut payload = wire[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((h, payload));
        wire = &wire[n + len..];
    }
    out
}

/// The close code of the single close frame in `wire`, if any.
pub fn close_code_sent(wire: &[u8]) -> Option<u16> {
    parse_frames(wire)
        .into_iter()
        .find(|(h, _)| h.opcode == OpCode::Close)
        .map(|(_, p)| {
            if p.len() >= 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                1005
            }
        })
}

/// Appends `wire` to the read buffer and takes what `receive_buffered_with` lends (as owned
/// copies), echoing each data message through the outbox.
pub fn lend_and_echo(conn: &mut Connection, wire: &[u8]) -> Vec<Message> {
    conn.read_buffer().extend_from_slice(wire);
    let mut lent = Vec::new();
    let count = conn.receive_buffered_with(Instant::now(), |message, outbox| {
        if message.is_data() {
            outbox.send(message).unwrap();
        }
        lent.push(message.to_message());
    });
    assert_eq!(count, lent.len());
    lent
}
