//! The echo path allocates nothing per message once it is warm: received messages are
//! slices of the read buffer (or lent in place), replies are encoded into the send buffer
//! (large payloads are queued as they are, next to their header, lent ones too), and the
//! buffers and the chunk list are reused once the bytes handed out are dropped.
//!
//! Counted with dhat's heap usage testing, which counts every allocation of the process: so
//! this file holds one test, and nothing else runs while it counts.

#![allow(clippy::unwrap_used)]
mod common;

use std::time::Instant;

use bytes::Buf;
use common::*;
use switchboard_proto::{Config, Connection, OpCode};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Reads echoed before counting starts.
const WARM_UP_ROUNDS: usize = 3;

/// A server echoing `rounds` reads of `burst` client frames of `size` bytes each, as
/// `switchboard echo` does: every message read is sent back (taken from `poll_event`, or lent
/// by `receive_buffered_with` when `lend`), and what is queued is taken and written once per
/// read. Returns the allocations made after the warm-up rounds, in which the
/// buffers grow to the size the traffic needs.
fn echo_allocations(opcode: OpCode, size: usize, burst: usize, rounds: usize, lend: bool) -> u64 {
    let payload = vec![b'a'; size];
    let wire: Vec<u8> = (0..burst)
        .flat_map(|_| from_client(true, opcode, &payload))
        .collect();
    let now = Instant::now();
    let mut server = Connection::server(Config::default(), now);
    let echo_round = |server: &mut Connection| {
        server.read_buffer().extend_from_slice(&wire);
        let mut echoed = 0;
        if lend {
            echoed = server.receive_buffered_with(now, |message, outbox| {
                outbox.send(message).unwrap();
            });
        } else {
            server.receive_buffered(now);
        }
        while let Ok(Some(message)) = server.poll_event() {
            server.send(message).unwrap();
            echoed += 1;
        }
        assert_eq!(echoed, burst);
        let mut out = server.poll_transmit().unwrap();
        // "Written": the transport took every byte; the batch goes back for reuse.
        out.advance(out.remaining());
        server.reuse(out);
    };
    let before_first = allocations();
    echo_round(&mut server);
    // The counter is live: the first round allocates the connection's buffers.
    assert!(allocations() > before_first);
    for _ in 1..WARM_UP_ROUNDS {
        echo_round(&mut server);
    }
    let before = allocations();
    for _ in 0..rounds {
        echo_round(&mut server);
    }
    allocations() - before
}

#[test]
fn echoing_allocates_nothing_per_message_once_warm() {
    // The counter sees every thread. The test harness's main thread allocates the first time
    // it blocks waiting for this test's result (its channel's wait context): let it get there
    // before anything is counted, or a slow start on a loaded machine lands that in a window.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _profiler = dhat::Profiler::builder().testing().build();
    for (opcode, size, burst) in [
        (OpCode::Text, 16, 1),
        (OpCode::Text, 16, 16),
        (OpCode::Binary, 16, 16),
        (OpCode::Text, 1000, 16),
        (OpCode::Text, 1024, 16),
        (OpCode::Binary, 16 << 10, 4),
        (OpCode::Binary, 64 << 10, 2),
    ] {
        for lend in [false, true] {
            let made = echo_allocations(opcode, size, burst, 100, lend);
            dhat::assert_eq!(
                made,
                0,
                "{} allocations echoing 100 reads of {} {:?} messages of {} B (lent: {})",
                made,
                burst,
                opcode,
                size,
                lend
            );
        }
    }
}
