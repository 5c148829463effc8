//! The echo path allocates nothing per message once it is warm: received messages are
//! slices of the read buffer, replies are encoded into the send buffer, and both buffers are
//! reused once the bytes handed out are dropped.
//!
//! Counted with a global allocator that counts the allocations made on the current thread,
//! so the test harness's other threads do not interfere.

// A counting global allocator is an `unsafe impl`.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use bytes::Buf;
use common::*;
use switchboard_proto::{Config, Connection, OpCode};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the counter is a
// const-initialized thread-local, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A server echoing `rounds` reads of `burst` client frames of `size` bytes each, as
/// `switchboard echo` does: every message read is sent back, and what is queued is taken and
/// written once per read. Returns the allocations made after the first round.
fn echo_allocations(opcode: OpCode, size: usize, burst: usize, rounds: usize) -> usize {
    let payload = vec![b'a'; size];
    let wire: Vec<u8> = (0..burst)
        .flat_map(|_| from_client(true, opcode, &payload))
        .collect();
    let now = Instant::now();
    let mut server = Connection::server(Config::default(), now);
    let echo_round = |server: &mut Connection| {
        server.read_buffer().extend_from_slice(&wire);
        server.receive_buffered(now);
        let mut echoed = 0;
        while let Ok(Some(message)) = server.poll_event() {
            server.send(message).unwrap();
            echoed += 1;
        }
        assert_eq!(echoed, burst);
        let mut out = server.poll_transmit().unwrap();
        // "Written": the transport took every byte.
        out.advance(out.remaining());
    };
    echo_round(&mut server);
    let before = allocations();
    for _ in 1..rounds {
        echo_round(&mut server);
    }
    allocations() - before
}

#[test]
fn echoing_small_messages_allocates_nothing_per_message() {
    for (opcode, size, burst) in [
        (OpCode::Text, 16, 1),
        (OpCode::Text, 16, 16),
        (OpCode::Binary, 16, 16),
        (OpCode::Text, 1000, 16),
    ] {
        let made = echo_allocations(opcode, size, burst, 100);
        assert_eq!(
            made, 0,
            "{made} allocations echoing 99 reads of {burst} {opcode:?} messages of {size} B"
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    assert_eq!(allocations() - before, 1);
    drop(boxed);
}
