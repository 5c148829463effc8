//! A connection that sent a large message does not hold its size: the send buffers it grew
//! (a client copies what it masks into one, compressed output goes into another) are freed
//! at the next keepalive ping, once nothing queued is left in them.
//!
//! Measured with dhat's heap usage testing, which counts the live bytes of the whole process:
//! so this file holds one test, and nothing else runs while it measures.

#![allow(clippy::unwrap_used)]
mod common;

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use common::*;
use switchboard_proto::extension::deflate::DeflateConfig;
use switchboard_proto::extension::ExtensionConfig;
use switchboard_proto::{Config, Connection, Message};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const LARGE: usize = 1 << 20;

/// What a send buffer may still hold after the ping: the room small frames keep.
const KEPT: usize = 64 << 10;

/// The default keepalive interval.
const PING_INTERVAL: Duration = Duration::from_secs(20);

fn live_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// Bytes that deflate cannot shrink, so that the compressed message is as large as this.
fn incompressible(len: usize) -> Bytes {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Writes everything queued and hands the batches back, as a transport loop does.
fn write_out(conn: &mut Connection) {
    while let Some(mut out) = conn.poll_transmit() {
        out.advance(out.remaining());
        conn.reuse(out);
    }
}

/// Sends a warm-up message and then a large one from `conn` (`who`), which was created at
/// `t0` with the default keepalive; checks that the large message left its size behind once
/// written, and that the first keepalive ping gave it back.
fn assert_freed_at_the_ping(who: &str, mut conn: Connection, t0: Instant) {
    // The first small message allocates what the connection keeps for any message (the
    // coalescing buffer, and with compression the deflate state).
    conn.send(Message::binary(incompressible(100))).unwrap();
    write_out(&mut conn);
    let base = live_bytes();
    conn.send(Message::binary(incompressible(LARGE))).unwrap();
    write_out(&mut conn);
    let before = live_bytes().saturating_sub(base);
    assert_eq!(conn.poll_timeout(), Some(t0 + PING_INTERVAL));
    conn.handle_timeout(t0 + PING_INTERVAL);
    let ping = drain(&mut conn);
    assert_eq!(ping[0], 0x89, "the keepalive ping was sent");
    let after = live_bytes().saturating_sub(base);
    drop(conn);
    dhat::assert!(
        before > LARGE - KEPT,
        "the {} held {} B before the ping",
        who,
        before
    );
    dhat::assert!(after < KEPT, "the {} held {} B after the ping", who, after);
}

#[test]
fn send_buffers_grown_by_a_large_message_are_freed_at_the_next_ping() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let config = Config::default();
    assert_eq!(config.ping_interval, Some(PING_INTERVAL));

    // A client masks a copy of every payload in its coalescing buffer.
    let t0 = Instant::now();
    let client = Connection::client(config.clone(), t0, counter_entropy());
    assert_freed_at_the_ping("client", client, t0);

    // A server's compressed output is written into a buffer of its own.
    let deflate = DeflateConfig::default();
    let (_, extension) = deflate.server_accept(&deflate.client_offers()).unwrap();
    let t0 = Instant::now();
    let server = Connection::server(config, t0).with_extension(Some(extension));
    assert_freed_at_the_ping("compressing server", server, t0);
}
