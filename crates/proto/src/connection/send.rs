//! The sending half of the framing layer: messages in, wire bytes out.
//!
//! Small frames are written into one contiguous buffer, so a burst of small messages leaves as
//! a single write. Large unmasked payloads are not copied: they are queued as their own chunk
//! next to their header, for a vectored write ([`Outgoing`] implements [`bytes::Buf`] with
//! `chunks_vectored`).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::entropy::Entropy;
use crate::frame::FrameHeader;
use crate::mask::apply_mask;
use crate::opcode::OpCode;

/// Payloads at least this large are queued as their own chunk instead of being copied next to
/// their header: below it, a copy is cheaper than an extra iovec entry.
pub(crate) const ZERO_COPY_THRESHOLD: usize = 1024;

/// The room the coalescing buffer first makes when it runs out: the headers of a batch of
/// large frames, each split off as its own chunk, then share one allocation.
const MIN_TAIL_ROOM: usize = 256;

/// The most room the coalescing buffer makes ahead of need.
const MAX_TAIL_ROOM: usize = 16 << 10;

/// The longest chunk list a sender keeps for reuse; longer ones are freed once written, so a
/// burst of large messages does not leave an idle connection holding a big list.
const MAX_REUSED_CHUNKS: usize = 64;

/// The longest payload whose length fits in the header's second byte (RFC 6455 5.2).
const MAX_SHORT_PAYLOAD: usize = 125;

/// How many masking keys to draw from the entropy source at once.
const KEY_BATCH: usize = 16;

/// Wire bytes ready to be written to the transport, in order.
///
/// It is a [`Buf`]: write [`chunks_vectored`](Buf::chunks_vectored) with a vectored write and
/// [`advance`](Buf::advance) by what was written, until nothing
/// [`remains`](Buf::remaining).
///
/// The first chunk is held inline: a batch of small frames, coalesced into one chunk, costs
/// no allocation for the chunk list.
#[derive(Debug, Default)]
pub struct Outgoing {
    /// The chunk being written; empty only when nothing remains.
    head: Bytes,
    /// The chunks after `head`, in order.
    rest: VecDeque<Bytes>,
    len: usize,
}

impl Outgoing {
    /// Appends another batch of wire bytes after these.
    pub fn append(&mut self, mut other: Outgoing) {
        if self.len == 0 {
            *self = other;
            return;
        }
        self.len += other.len;
        if !other.head.is_empty() {
            self.rest.push_back(other.head);
        }
        self.rest.append(&mut other.rest);
    }

    /// How many chunks a vectored write of everything would take.
    pub fn chunk_count(&self) -> usize {
        usize::from(!self.head.is_empty()) + self.rest.len()
    }

    fn from_chunks(mut chunks: VecDeque<Bytes>, len: usize) -> Self {
        let head = chunks.pop_front().unwrap_or_default();
        Self {
            head,
            rest: chunks,
            len,
        }
    }
}

impl Buf for Outgoing {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        &self.head
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advance past the end of Outgoing");
        self.len -= cnt;
        while cnt > 0 {
            if cnt < self.head.len() {
                self.head.advance(cnt);
                return;
            }
            cnt -= self.head.len();
            self.head = self.rest.pop_front().unwrap_or_default();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let chunks = std::iter::once(&self.head)
            .filter(|head| !head.is_empty())
            .chain(&self.rest);
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

/// Frame encoding and the queue of bytes not yet handed to the transport.
pub(crate) struct Sender {
    /// Only clients mask; boxed so that a server connection does not carry the key batch.
    masking: Option<Box<Masking>>,
    queue: VecDeque<Bytes>,
    /// Small frames coalesce here; frozen into `queue` when a large chunk follows or the bytes
    /// are taken.
    tail: BytesMut,
    /// The room `tail` makes when it runs out: it doubles whenever a batch outgrew it.
    tail_room: usize,
    queued: usize,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("masks", &self.masking.is_some())
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender; clients pass the entropy for masking keys (RFC 6455 5.3).
    pub(crate) fn new(entropy: Option<Box<dyn Entropy>>) -> Self {
        Self {
            masking: entropy.map(|entropy| {
                Box::new(Masking {
                    entropy,
                    keys: [0; 4 * KEY_BATCH],
                    next_key: KEY_BATCH,
                })
            }),
            queue: VecDeque::new(),
            tail: BytesMut::new(),
            tail_room: MIN_TAIL_ROOM,
            queued: 0,
        }
    }

    /// Bytes queued and not yet taken by [`take`](Self::take) or written from [`peek`](Self::peek).
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Queues one frame.
    #[inline]
    pub(crate) fn frame(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: Payload<'_>) {
        let len = payload.as_slice().len();
        let mask = self.masking.as_mut().map(|masking| masking.next_mask());
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        let header_len = header.encoded_len();
        self.queued += header_len + len;
        let zero_copy =
            mask.is_none() && len >= ZERO_COPY_THRESHOLD && matches!(payload, Payload::Shared(_));
        let copied = if zero_copy { 0 } else { len };
        self.make_room(header_len + copied);
        header.encode(&mut self.tail);
        match (payload, mask) {
            // RFC 6455 5.3: a client masks every frame; the copy is where the masking happens.
            (payload, Some(key)) => {
                let start = self.tail.len();
                self.tail.extend_from_slice(payload.as_slice());
                apply_mask(&mut self.tail[start..], key, 0);
            }
            (Payload::Shared(bytes), None) if zero_copy => {
                self.queue.push_back(self.tail.split().freeze());
                self.queue.push_back(bytes);
            }
            (payload, None) => self.tail.extend_from_slice(payload.as_slice()),
        }
    }

    /// Queues one whole unmasked data frame with a payload of at most 125 bytes, which the
    /// header's second byte holds (RFC 6455 5.2): the reply a server sends most, copied as
    /// every short payload is. Returns false, queueing nothing, for any other frame: a client
    /// masks, and longer payloads take [`frame`](Self::frame).
    #[inline]
    pub(crate) fn short_data_frame(&mut self, opcode: OpCode, payload: &[u8]) -> bool {
        let len = payload.len();
        if self.masking.is_some() || len > MAX_SHORT_PAYLOAD {
            return false;
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len as u64,
        };
        self.queued += 2 + len;
        self.make_room(2 + len);
        header.encode(&mut self.tail);
        self.tail.extend_from_slice(payload);
        true
    }

    /// Makes room for `needed` more bytes in `tail`, without allocating in the steady state.
    ///
    /// At the start of a batch nothing queued shares `tail`'s buffer any more (the previous
    /// batch was written and dropped), so reserving moves the free space to the front of the
    /// same buffer: that is done while the batch can still use the whole buffer. Within a
    /// batch, the chunks already split off keep the buffer, so running out allocates a new
    /// one; the room made next time doubles, until a whole batch fits.
    #[inline]
    fn make_room(&mut self, needed: usize) {
        let room = self.tail.capacity() - self.tail.len();
        let batch_start = self.tail.is_empty() && self.queue.is_empty();
        if room >= needed && !(batch_start && room < self.tail_room / 2) {
            return;
        }
        self.grow_tail(needed, batch_start);
    }

    #[cold]
    fn grow_tail(&mut self, needed: usize, batch_start: bool) {
        if !batch_start {
            self.tail_room = (self.tail_room * 2).min(MAX_TAIL_ROOM);
        }
        self.tail.reserve(needed.max(self.tail_room));
    }

    /// Frees the coalescing buffer if nothing is queued in it and it grew past the room small
    /// frames make (large borrowed payloads, and every payload a client masks, are copied into
    /// it), so that a connection that once sent large messages does not hold their size.
    pub(crate) fn release_large_buffer(&mut self) {
        if self.queued == 0 {
            free_if_large(&mut self.tail);
        }
    }

    /// Takes back a written batch's chunk list, so the next batch of large frames reuses it.
    pub(crate) fn reuse(&mut self, written: Outgoing) {
        let mut chunks = written.rest;
        if self.queue.capacity() == 0 && chunks.capacity() <= MAX_REUSED_CHUNKS {
            chunks.clear();
            self.queue = chunks;
        }
    }

    /// The room in the coalescing buffer.
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.tail.capacity()
    }

    /// Takes the coalescing buffer, empty, when nothing is queued; the next frame queued
    /// then makes a new one, unless [`give_buffer`](Self::give_buffer) gives one first.
    pub(crate) fn take_buffer(&mut self) -> Option<BytesMut> {
        (self.queued == 0).then(|| std::mem::take(&mut self.tail))
    }

    /// Puts `buf`, emptied, in place of the coalescing buffer when nothing is queued, and
    /// returns the buffer it replaced; returns `buf` itself when bytes are queued.
    pub(crate) fn give_buffer(&mut self, mut buf: BytesMut) -> BytesMut {
        if self.queued != 0 {
            return buf;
        }
        buf.clear();
        std::mem::replace(&mut self.tail, buf)
    }

    /// Everything queued, if it lies in one piece: the coalescing buffer, with no chunk
    /// queued before it.
    #[inline]
    pub(crate) fn peek(&self) -> Option<&[u8]> {
        if self.queued == 0 || !self.queue.is_empty() {
            return None;
        }
        debug_assert_eq!(self.tail.len(), self.queued);
        Some(&self.tail)
    }

    /// Drops the first `n` bytes of what [`peek`](Self::peek) showed: they were written.
    #[inline]
    pub(crate) fn advance_peeked(&mut self, n: usize) {
        assert!(
            self.queue.is_empty() && n <= self.tail.len(),
            "advance past the bytes peeked"
        );
        self.tail.advance(n);
        self.queued -= n;
    }

    /// Takes everything queued so far.
    pub(crate) fn take(&mut self) -> Option<Outgoing> {
        if self.queued == 0 {
            return None;
        }
        let len = std::mem::replace(&mut self.queued, 0);
        let tail = self.tail.split().freeze();
        if self.queue.is_empty() {
            // Only small frames: one chunk, and no chunk list to allocate.
            return Some(Outgoing {
                head: tail,
                rest: VecDeque::new(),
                len,
            });
        }
        if !tail.is_empty() {
            self.queue.push_back(tail);
        }
        Some(Outgoing::from_chunks(std::mem::take(&mut self.queue), len))
    }
}

/// Frees `buf` if it is empty and its allocation holds more than the most room the coalescing
/// buffer makes for small frames ([`MAX_TAIL_ROOM`]).
pub(crate) fn free_if_large(buf: &mut BytesMut) {
    // `capacity` counts only the room after the last split: reclaiming brings back the whole
    // allocation once the bytes split off it were dropped. If they are still held, the
    // allocation is kept until a later call.
    if buf.is_empty() && buf.try_reclaim(MAX_TAIL_ROOM + 1) {
        *buf = BytesMut::new();
    }
}

/// A client's masking keys (RFC 6455 5.3), drawn from its entropy source in batches.
struct Masking {
    entropy: Box<dyn Entropy>,
    keys: [u8; 4 * KEY_BATCH],
    next_key: usize,
}

impl Masking {
    fn next_mask(&mut self) -> [u8; 4] {
        if self.next_key == KEY_BATCH {
            self.entropy.fill(&mut self.keys);
            self.next_key = 0;
        }
        let i = self.next_key * 4;
        self.next_key += 1;
        [
            self.keys[i],
            self.keys[i + 1],
            self.keys[i + 2],
            self.keys[i + 3],
        ]
    }
}

/// A payload to send: borrowed (copied into the queue) or shared (possibly queued as is).
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Shared(Bytes),
}

impl Payload<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(slice) => slice,
            Payload::Shared(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(out: Outgoing) -> Vec<u8> {
        let mut out = out;
        let mut bytes = Vec::new();
        while out.has_remaining() {
            let chunk = out.chunk().to_vec();
            out.advance(chunk.len());
            bytes.extend(chunk);
        }
        bytes
    }

    #[test]
    fn small_frames_coalesce_into_one_chunk() {
        let mut sender = Sender::new(None);
        for _ in 0..10 {
            sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"hi"));
        }
        let out = sender.take().unwrap();
        assert_eq!(out.chunk_count(), 1);
        assert_eq!(out.remaining(), 40);
        assert!(sender.take().is_none());
    }

    #[test]
    fn the_short_path_writes_what_the_general_one_does() {
        let payload = [0x5a; 126];
        for len in 0..=MAX_SHORT_PAYLOAD {
            let mut short = Sender::new(None);
            let mut general = Sender::new(None);
            assert!(short.short_data_frame(OpCode::Text, &payload[..len]));
            general.frame(true, 0, OpCode::Text, Payload::Borrowed(&payload[..len]));
            assert_eq!(short.queued(), general.queued());
            assert_eq!(
                collect(short.take().unwrap()),
                collect(general.take().unwrap()),
                "len {len}"
            );
        }
        // RFC 6455 5.2: 126 bytes need the 16-bit length; 5.3: a client masks.
        let mut server = Sender::new(None);
        assert!(!server.short_data_frame(OpCode::Binary, &payload));
        let mut client = Sender::new(Some(Box::new(|buf: &mut [u8]| buf.fill(1))));
        assert!(!client.short_data_frame(OpCode::Binary, b"hi"));
        assert!(server.take().is_none() && client.take().is_none());
    }

    #[test]
    fn peeked_bytes_written_in_pieces_keep_their_order() {
        let mut sender = Sender::new(None);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"one"));
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"two"));
        let mut wire = Vec::new();
        // Part of the first frame is written; more is queued behind the rest.
        let peeked = sender.peek().unwrap();
        assert_eq!(peeked, b"\x81\x03one\x81\x03two");
        wire.extend_from_slice(&peeked[..3]);
        sender.advance_peeked(3);
        assert_eq!(sender.queued(), 7);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"three"));
        assert_eq!(sender.peek().unwrap(), b"ne\x81\x03two\x81\x05three");
        // A large payload queued without a copy makes a second piece: no more peeking, and
        // the bytes not yet written come first in the taken batch.
        let big = Bytes::from(vec![7u8; 2048]);
        sender.frame(true, 0, OpCode::Binary, Payload::Shared(big));
        assert!(sender.peek().is_none());
        wire.extend(collect(sender.take().unwrap()));
        assert_eq!(&wire[..17], b"\x81\x03one\x81\x03two\x81\x05three");
        assert_eq!(&wire[17..21], &[0x82, 126, 0x08, 0x00]);
        assert_eq!(wire.len(), 21 + 2048);
        // Everything written: nothing to peek or take.
        assert!(sender.peek().is_none() && sender.take().is_none());
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"four"));
        let peeked = sender.peek().unwrap().len();
        sender.advance_peeked(peeked);
        assert_eq!(sender.queued(), 0);
        assert!(sender.peek().is_none() && sender.take().is_none());
    }

    #[test]
    fn the_buffer_changes_hands_only_when_nothing_is_queued() {
        let mut sender = Sender::new(None);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"hi"));
        assert!(sender.take_buffer().is_none());
        let mine = BytesMut::with_capacity(64);
        let ptr = mine.as_ptr();
        let refused = sender.give_buffer(mine);
        assert_eq!(
            refused.as_ptr(),
            ptr,
            "bytes are queued: the buffer comes back"
        );
        assert_eq!(sender.peek().unwrap(), b"\x81\x02hi");
        sender.advance_peeked(4);

        // Nothing queued: the buffer the frame went into can be taken, and another given.
        let taken = sender.take_buffer().unwrap();
        assert!(taken.is_empty() && taken.capacity() + 4 >= MIN_TAIL_ROOM);
        let mut given = BytesMut::with_capacity(64);
        given.extend_from_slice(b"stale");
        let ptr = given.as_ptr();
        assert_eq!(sender.give_buffer(given).capacity(), 0);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"ok"));
        let peeked = sender.peek().unwrap();
        assert_eq!(peeked, b"\x81\x02ok", "the given buffer was emptied");
        assert_eq!(peeked.as_ptr(), ptr, "the frame went into the given buffer");
    }

    #[test]
    #[should_panic(expected = "advance past the bytes peeked")]
    fn advancing_past_the_peeked_bytes_panics() {
        let mut sender = Sender::new(None);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"hi"));
        sender.advance_peeked(5);
    }

    #[test]
    fn large_shared_payload_is_not_copied() {
        let mut sender = Sender::new(None);
        let big = Bytes::from(vec![7u8; 4096]);
        sender.frame(true, 0, OpCode::Binary, Payload::Shared(big.clone()));
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"after"));
        let out = sender.take().unwrap();
        assert_eq!(out.chunk_count(), 3);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(out.chunks_vectored(&mut slices), 3);
        assert_eq!(slices[1].as_ptr(), big.as_ptr());
        let wire = collect(out);
        assert_eq!(wire.len(), 4 + 4096 + 2 + 5);
        assert_eq!(&wire[..4], &[0x82, 126, 0x10, 0x00]);
        assert_eq!(&wire[4100..], b"\x81\x05after");
    }

    #[test]
    fn client_frames_are_masked_with_fresh_keys() {
        let mut counter = 0u8;
        let mut sender = Sender::new(Some(Box::new(move |buf: &mut [u8]| {
            for b in buf {
                counter = counter.wrapping_add(1);
                *b = counter;
            }
        })));
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"Hello"));
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"Hello"));
        let wire = collect(sender.take().unwrap());
        assert_eq!(&wire[..6], &[0x81, 0x85, 1, 2, 3, 4]);
        let mut first = wire[6..11].to_vec();
        apply_mask(&mut first, [1, 2, 3, 4], 0);
        assert_eq!(&first, b"Hello");
        assert_eq!(&wire[13..17], &[5, 6, 7, 8]);
    }

    #[test]
    fn appended_batches_keep_their_order() {
        let mut sender = Sender::new(None);
        let mut out = Outgoing::default();
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"one"));
        out.append(sender.take().unwrap());
        let big = Bytes::from(vec![9u8; 1500]);
        sender.frame(true, 0, OpCode::Binary, Payload::Shared(big));
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"three"));
        out.append(sender.take().unwrap());
        assert_eq!(out.chunk_count(), 4);
        assert_eq!(out.remaining(), 5 + 4 + 1500 + 7);
        out.advance(5);
        assert_eq!(out.chunk(), &[0x82, 126, 0x05, 0xdc]);
        out.advance(1);
        assert_eq!(out.chunk(), &[126, 0x05, 0xdc]);
        let wire = collect(out);
        assert_eq!(&wire[wire.len() - 7..], b"\x81\x05three");
    }

    #[test]
    fn releasing_keeps_queued_bytes_and_the_room_small_frames_use() {
        let mut sender = Sender::new(None);
        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"queued"));
        sender.release_large_buffer();
        assert_eq!(collect(sender.take().unwrap()), b"\x81\x06queued");

        sender.frame(true, 0, OpCode::Text, Payload::Borrowed(b"small"));
        drop(sender.take());
        let room = sender.tail.capacity();
        assert!(room > 0);
        sender.release_large_buffer();
        assert_eq!(sender.tail.capacity(), room, "a small buffer is kept");

        sender.frame(true, 0, OpCode::Binary, Payload::Borrowed(&[0; 100_000]));
        drop(sender.take());
        sender.release_large_buffer();
        assert_eq!(sender.tail.capacity(), 0, "a large buffer is freed");
    }

    #[test]
    fn partial_advance_keeps_the_rest() {
        let mut sender = Sender::new(None);
        sender.frame(
            true,
            0,
            OpCode::Binary,
            Payload::Shared(Bytes::from(vec![1u8; 2000])),
        );
        let mut out = sender.take().unwrap();
        out.advance(3);
        assert_eq!(out.remaining(), 2004 - 3);
        out.advance(1000);
        assert_eq!(out.chunk().len(), 1001);
    }
}
