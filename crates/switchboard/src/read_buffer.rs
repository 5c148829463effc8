//! Read buffers that only busy connections hold.
//!
//! Most connections of a server are quiet most of the time, and a read buffer that waits for
//! bytes that do not come is the largest thing an idle connection would hold. So a connection
//! holds one only while bytes are arriving or wait to be decoded: when a read finds nothing to
//! read and nothing is left undecoded, the buffer goes back to a small pool of the current
//! thread ([`give`]), and the next read that needs one, on this connection or another, takes it
//! from there ([`take`]). A busy connection takes back the buffer it gave up a moment before,
//! so it does not allocate per message; an idle one holds no buffer at all.
//!
//! The pool knows the size of every buffer in it, so that it can bound itself: buffers only
//! grow through [`reserve`], which allocates them itself instead of letting `BytesMut` grow
//! (a `BytesMut` does not tell how large the allocation behind it is, and after a 16 MiB frame
//! an empty buffer may still hold 16 MiB).

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers kept per thread. A thread polls one connection at a time, and a connection gives
/// its buffer back before the next one takes one, so a busy thread needs one or two.
const POOL_BUFFERS: usize = 4;

/// Bytes kept per thread, at most: room for a few buffers of the largest default read (64 KiB)
/// with a partial frame in front. Larger buffers, and buffers that do not fit, are freed.
const POOL_BYTES: usize = 256 << 10;

/// How many reads an allocation holds once a frame of a quarter of a read or more has been
/// cut off at its end (see [`reserve`]). With the largest default read (64 KiB), that is as
/// much as the pool keeps.
const SPAN: usize = 4;

struct Pool {
    /// Empty buffers and the sizes of their allocations.
    buffers: Vec<(BytesMut, usize)>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            buffers: Vec::new(),
            bytes: 0,
        })
    };
}

/// An empty buffer from this thread's pool and the size of its allocation, or `(empty, 0)`.
pub(crate) fn take() -> (BytesMut, usize) {
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let (buf, alloc) = pool.buffers.pop()?;
        pool.bytes -= alloc;
        Some((buf, alloc))
    })
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Gives an empty buffer with an `alloc`-byte allocation back to this thread's pool; frees it
/// if the pool is full.
pub(crate) fn give(buf: BytesMut, alloc: usize) {
    debug_assert!(buf.is_empty());
    if alloc == 0 {
        return;
    }
    // If the thread is exiting, the buffer is simply freed.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.buffers.len() < POOL_BUFFERS && pool.bytes + alloc <= POOL_BYTES {
            pool.bytes += alloc;
            pool.buffers.push((buf, alloc));
        }
    });
}

/// Makes room for at least `want` more bytes in `buf`, whose allocation is `*alloc` bytes,
/// keeping `*alloc` exact.
///
/// The allocation is reused when the bytes handed out of it (received messages are slices of
/// the read buffer) have been dropped; otherwise a new one is made, of the same size, or of
/// twice the size when a frame that does not fit is accumulating (so that a large frame costs
/// amortized linear copying, as `BytesMut`'s own growth would).
///
/// A frame cut off at the end of a read has to be moved to the front, or copied to a new
/// allocation, to make room for its rest. With frames about as large as a read, that is a
/// copy of half a frame per frame on average. So a partial frame of a quarter of a read or
/// more is not moved within an allocation of fewer than [`SPAN`] reads: the allocation grows
/// to that first. A read then takes several frames, and only the one cut off at its end is
/// moved.
pub(crate) fn reserve(buf: &mut BytesMut, alloc: &mut usize, want: usize) {
    let large_partial = !buf.is_empty() && buf.len() >= want / 4;
    if buf.is_empty() {
        // An empty buffer goes back to the front of its allocation whenever it can (nothing
        // to move): a read then gets the whole allocation, and a frame as large as the
        // allocation does not start near its end and have to be moved to the front when the
        // rest arrives. It cannot while a received message still shares the allocation; the
        // read then goes on after that message.
        if buf.capacity() < *alloc {
            let _ = buf.try_reclaim(*alloc);
        }
        if buf.capacity() >= want {
            return;
        }
    } else {
        // A large partial frame is moved only within an allocation of SPAN reads.
        let movable = !large_partial || *alloc >= SPAN.saturating_mul(want);
        if buf.capacity() - buf.len() >= want || (movable && buf.try_reclaim(want)) {
            return;
        }
    }
    let needed = buf.len().saturating_add(want);
    let mut size = if needed > *alloc {
        needed.max(alloc.saturating_mul(2))
    } else {
        *alloc
    };
    if large_partial {
        size = size.max(SPAN.saturating_mul(want));
    }
    let mut grown = BytesMut::with_capacity(size);
    grown.extend_from_slice(buf);
    *buf = grown;
    *alloc = size;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empties this thread's pool, so that each test starts from nothing.
    fn drain() {
        while take().1 != 0 {}
    }

    #[test]
    fn a_buffer_given_back_is_taken_again() {
        drain();
        let (mut buf, mut alloc) = take();
        assert_eq!((buf.capacity(), alloc), (0, 0));
        reserve(&mut buf, &mut alloc, 4096);
        assert_eq!(alloc, 4096);
        let ptr = buf.as_ptr();
        give(buf, alloc);
        let (buf, alloc) = take();
        assert_eq!((buf.as_ptr(), alloc), (ptr, 4096));
        assert_eq!(take().1, 0);
    }

    #[test]
    fn reserve_reuses_the_allocation_once_messages_are_dropped() {
        let (mut buf, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut buf, &mut alloc, 4096);
        let ptr = buf.as_ptr();
        buf.extend_from_slice(&[1; 100]);
        let message = buf.split_to(100).freeze();
        // A received message still shares the allocation: room is made in a new one.
        reserve(&mut buf, &mut alloc, 4096);
        assert_ne!(buf.as_ptr(), ptr);
        assert_eq!(alloc, 4096);
        drop(message);
        // Dropped: the new allocation is reused from its start.
        buf.extend_from_slice(&[2; 100]);
        let ptr = buf.as_ptr();
        drop(buf.split_to(100));
        reserve(&mut buf, &mut alloc, 4096);
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(alloc, 4096);
    }

    #[test]
    fn an_empty_buffer_reads_from_the_front_of_its_allocation() {
        let (mut buf, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut buf, &mut alloc, 4096);
        let front = buf.as_ptr();
        buf.extend_from_slice(&[1; 3000]);
        drop(buf.split_to(3000));
        // Room for the small read asked for is left at the end, but a large frame would not
        // fit there: the buffer starts over at the front, with the whole allocation to fill.
        reserve(&mut buf, &mut alloc, 16);
        assert_eq!(buf.as_ptr(), front);
        assert_eq!((buf.capacity(), alloc), (4096, 4096));
        // A partial frame is not moved while there is room after it.
        buf.extend_from_slice(&[2; 3000]);
        drop(buf.split_to(2000));
        reserve(&mut buf, &mut alloc, 16);
        assert_eq!(buf.as_ptr(), front.wrapping_add(2000));
    }

    #[test]
    fn a_growing_frame_grows_the_allocation_and_keeps_its_bytes() {
        let (mut buf, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut buf, &mut alloc, 4096);
        let mut sizes = vec![alloc];
        for i in 0..6u8 {
            let room = buf.capacity() - buf.len();
            buf.extend_from_slice(&vec![i; room]);
            reserve(&mut buf, &mut alloc, 4096);
            assert!(buf.capacity() - buf.len() >= 4096);
            sizes.push(alloc);
        }
        // SPAN reads at once, then doubling.
        assert_eq!(sizes, [4096, 16384, 32768, 65536, 131072, 262144, 524288]);
        assert_eq!(&buf[..4096], &[0; 4096][..]);
        assert_eq!(buf[buf.len() - 1], 5);
    }

    #[test]
    fn a_small_partial_frame_is_moved_to_the_front() {
        let (mut buf, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut buf, &mut alloc, 4096);
        let front = buf.as_ptr();
        buf.extend_from_slice(&[1; 4096]);
        drop(buf.split_to(4000));
        reserve(&mut buf, &mut alloc, 2048);
        assert_eq!((buf.as_ptr(), alloc), (front, 4096));
        assert_eq!(&buf[..], &[1; 96][..]);
    }

    #[test]
    fn a_large_partial_frame_gets_an_allocation_of_several_reads() {
        let (mut buf, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut buf, &mut alloc, 4096);
        buf.extend_from_slice(&[1; 4096]);
        // A frame of 3,000 bytes went; 1,096 bytes of the next one, a quarter of a read or
        // more, are left at the end.
        drop(buf.split_to(3000));
        reserve(&mut buf, &mut alloc, 4096);
        assert_eq!(alloc, SPAN * 4096);
        assert_eq!(&buf[..], &[1; 1096][..]);
        assert!(buf.capacity() - buf.len() >= 4096);
        // Within an allocation of SPAN reads, a frame cut off at its end is moved to the front.
        let front = buf.as_ptr();
        let room = buf.capacity() - buf.len();
        buf.extend_from_slice(&vec![2; room]);
        drop(buf.split_to(buf.len() - 2000));
        reserve(&mut buf, &mut alloc, 4096);
        assert_eq!((buf.as_ptr(), alloc), (front, SPAN * 4096));
        assert_eq!(&buf[..], &[2; 2000][..]);
    }

    #[test]
    fn the_pool_is_bounded() {
        drain();
        for _ in 0..POOL_BUFFERS + 2 {
            let (mut buf, mut alloc) = (BytesMut::new(), 0);
            reserve(&mut buf, &mut alloc, 1024);
            give(buf, alloc);
        }
        let (mut big, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut big, &mut alloc, POOL_BYTES + 1);
        give(big, alloc);
        let mut taken = 0;
        while take().1 != 0 {
            taken += 1;
        }
        assert_eq!(taken, POOL_BUFFERS);

        let (mut big, mut alloc) = (BytesMut::new(), 0);
        reserve(&mut big, &mut alloc, POOL_BYTES + 1);
        give(big, alloc);
        assert_eq!(take().1, 0, "a buffer over the byte bound is freed");
    }
}
