//! Send buffers that only connections with bytes to send hold.
//!
//! A connection queues small frames in one buffer and writes it out whole. Once everything is
//! written the buffer is empty, and it goes back to a small pool of the current thread
//! ([`give`]); the next connection with something to send takes it from there ([`take`]).
//! With many connections this matters for speed as much as for memory: the replies of the
//! connections a thread serves one after the other are written into the same few buffers,
//! which stay in the CPU cache, instead of one buffer per connection, which a few hundred
//! connections push out of it. A quiet connection holds no send buffer.

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers kept per thread: a thread serves one connection at a time, and it gives its buffer
/// back before the next one takes one.
const POOL_BUFFERS: usize = 4;

/// The largest buffer kept. A batch of small frames fits in far less. A buffer grown by large
/// messages (which a client copies to mask them, and a server replying from a lent message
/// copies too) stays with its connection instead, for its next batch, until the connection's
/// keepalive ping frees it (see `Connection::handle_timeout`).
const MAX_POOLED: usize = 64 << 10;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer from this thread's pool, if it has one.
pub(crate) fn take() -> Option<BytesMut> {
    POOL.try_with(|pool| pool.borrow_mut().pop()).ok().flatten()
}

/// Gives an empty buffer back to this thread's pool, or frees it if the pool is full; drops it
/// if it holds no allocation. A buffer larger than [`MAX_POOLED`] comes back, for its
/// connection to keep.
pub(crate) fn give(mut buf: BytesMut) -> Option<BytesMut> {
    debug_assert!(buf.is_empty());
    // Reclaiming moves an empty buffer back to the front of its allocation. It succeeds for
    // more than MAX_POOLED bytes only if the allocation is larger than that, and for one byte,
    // when the buffer shows no room, only if there is an allocation (and nothing else still
    // shares it).
    if buf.try_reclaim(MAX_POOLED + 1) {
        return Some(buf);
    }
    if buf.capacity() == 0 && !buf.try_reclaim(1) {
        return None;
    }
    // If the thread is exiting, the buffer is simply freed.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_BUFFERS {
            pool.push(buf);
        }
    });
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain() {
        while take().is_some() {}
    }

    #[test]
    fn a_buffer_given_back_is_taken_again_from_its_front() {
        drain();
        let mut buf = BytesMut::with_capacity(4096);
        let front = buf.as_ptr();
        buf.extend_from_slice(&[1; 4096]);
        drop(buf.split_to(4096));
        assert!(give(buf).is_none());
        let buf = take().unwrap();
        assert_eq!((buf.as_ptr(), buf.capacity()), (front, 4096));
        assert!(take().is_none());
    }

    #[test]
    fn the_pool_keeps_a_few_small_buffers() {
        drain();
        assert!(give(BytesMut::new()).is_none());
        assert!(take().is_none(), "no allocation, nothing to keep");
        let large = give(BytesMut::with_capacity(MAX_POOLED + 1));
        assert!(
            large.is_some(),
            "too large for the pool: back to its connection"
        );
        assert!(take().is_none());
        for _ in 0..POOL_BUFFERS + 2 {
            assert!(give(BytesMut::with_capacity(1024)).is_none());
        }
        let mut taken = 0;
        while take().is_some() {
            taken += 1;
        }
        assert_eq!(taken, POOL_BUFFERS);
    }
}
