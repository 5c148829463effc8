//! The bounded per-connection outbox: where publishers leave deliveries for one client.
//!
//! A publisher never waits for a subscriber. It pushes into each subscriber's outbox under a
//! short lock and moves on; the connection's task drains the outbox into its socket as fast
//! as the client reads. A client that reads more slowly than its channels publish fills its
//! outbox; at the limit the outbox drops what it holds and marks itself overflowed, and the
//! connection disconnects the client with
//! [`DisconnectCode::SLOW`](crate::protocol::DisconnectCode::SLOW). The client reconnects
//! and recovers what it missed from history, which is cheaper for everyone than a server
//! buffering without bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::broker::Delivery;
use crate::protocol::DisconnectCode;

/// How much an outbox holds before its client counts as too slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Deliveries waiting. Default 4096: a burst of several seconds of a busy channel.
    pub max_messages: usize,
    /// Bytes of the deliveries waiting, counting each frame in full. Frames are shared by
    /// every subscriber, so this measures how far behind the client is rather than memory
    /// of its own (each waiting delivery costs the outbox one pointer). Default 4 MiB.
    pub max_bytes: usize,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_messages: 4096,
            max_bytes: 4 << 20,
        }
    }
}

/// What a connection's task takes out of its outbox.
#[derive(Debug, Clone)]
pub enum Item {
    /// A publication, join or leave, shared with the channel's other subscribers.
    Delivery(Arc<Delivery>),
    /// The server ends the connection (shutdown, the API). Not counted against the limits.
    Disconnect {
        /// Why.
        code: DisconnectCode,
        /// For the client's developer.
        reason: String,
    },
}

/// What [`Outbox::poll_take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Items were moved into the caller's queue.
    Items,
    /// The outbox overflowed: the client is too slow and must be disconnected.
    Overflowed,
}

/// Deliveries an outbox holds in its own state before it needs a queue of its own. A client
/// that keeps up has one or two waiting when its task runs: they cost no memory touch
/// beyond the outbox itself.
const INLINE: usize = 2;

/// Everything [`Outbox::push`] reads and writes, sized so that with its lock it fills one
/// cache line (the outbox is aligned to one): pushing to a subscriber whose outbox is not in
/// cache costs one miss, not one per field or per buffer.
struct State {
    /// The first deliveries waiting, oldest first: `inline[..inline_len]`.
    inline: [Option<Arc<Delivery>>; INLINE],
    inline_len: u8,
    /// Everything after them (a full `inline`, or a disconnect), oldest first. Allocated the
    /// first time it is needed and kept. While it holds anything, new items go after it.
    /// Boxed: a pointer fits the line where a `VecDeque`'s four words would not.
    #[allow(clippy::box_collection)]
    spill: Option<Box<VecDeque<Item>>>,
    /// Frame bytes waiting (at most `max_bytes`).
    bytes: u32,
    /// The limits, copied here to be on the same line.
    max_messages: u32,
    max_bytes: u32,
    overflowed: bool,
    waker: Option<Waker>,
}

impl State {
    fn spilled(&self) -> usize {
        self.spill.as_ref().map_or(0, |spill| spill.len())
    }

    fn len(&self) -> usize {
        usize::from(self.inline_len) + self.spilled()
    }

    fn enqueue(&mut self, item: Item) {
        let slot = usize::from(self.inline_len);
        if let Item::Delivery(delivery) = &item {
            if slot < INLINE && self.spilled() == 0 {
                self.inline[slot] = Some(Arc::clone(delivery));
                self.inline_len += 1;
                return;
            }
        }
        self.spill.get_or_insert_default().push_back(item);
    }
}

/// One connection's outbox: bounded, never making a publisher wait; a full one marks its
/// client as too slow.
#[repr(align(64))]
pub struct Outbox {
    state: Mutex<State>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Outbox")
            .field("queued", &state.len())
            .field("bytes", &state.bytes)
            .field("overflowed", &state.overflowed)
            .finish()
    }
}

impl Outbox {
    /// An empty outbox. Limits above `u32::MAX` count as `u32::MAX`.
    pub fn new(limits: OutboxLimits) -> Self {
        let clamp = |limit: usize| u32::try_from(limit).unwrap_or(u32::MAX);
        Self {
            state: Mutex::new(State {
                inline: Default::default(),
                inline_len: 0,
                spill: None,
                bytes: 0,
                max_messages: clamp(limits.max_messages),
                max_bytes: clamp(limits.max_bytes),
                overflowed: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the state consistent before it could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the outbox's cache line without locking it, and nothing else. A publisher
    /// touches a batch of outboxes this way before pushing to them: the loads have no fence
    /// between them, so their cache misses overlap, where each push's lock would wait for
    /// its own miss before the next one could start.
    pub(crate) fn touch(&self) -> bool {
        self.state.is_poisoned()
    }

    /// Leaves `delivery` for the connection. Returns `false` if the outbox has overflowed
    /// (now or before); the delivery is then dropped, and the client will be disconnected.
    pub fn push(&self, delivery: &Arc<Delivery>) -> bool {
        let size = delivery.size();
        let (accepted, waker) = {
            let mut state = self.lock();
            if state.overflowed {
                return false;
            }
            let bytes = (state.bytes as usize).saturating_add(size);
            let accepted =
                state.len() < state.max_messages as usize && bytes <= state.max_bytes as usize;
            if accepted {
                state.enqueue(Item::Delivery(Arc::clone(delivery)));
                state.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            } else {
                state.overflowed = true;
                // What is queued will never be sent: free it now, not when the task runs.
                state.inline = Default::default();
                state.inline_len = 0;
                state.spill = None;
                state.bytes = 0;
            }
            (accepted, state.waker.take())
        };
        // Woken outside the lock, so the connection's task never waits for it.
        if let Some(waker) = waker {
            waker.wake();
        }
        accepted
    }

    /// Asks the connection to end with `code`. Goes ahead of nothing: what is queued before
    /// it is still sent.
    pub fn disconnect(&self, code: DisconnectCode, reason: &str) {
        let waker = {
            let mut state = self.lock();
            state.enqueue(Item::Disconnect {
                code,
                reason: reason.to_owned(),
            });
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves everything queued into `into` (which must be empty), or registers `cx` to be
    /// woken by the next push.
    pub fn poll_take(&self, cx: &mut Context<'_>, into: &mut VecDeque<Item>) -> Poll<Taken> {
        debug_assert!(into.is_empty());
        let mut state = self.lock();
        if state.overflowed {
            return Poll::Ready(Taken::Overflowed);
        }
        if state.len() == 0 {
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let inline_len = usize::from(std::mem::take(&mut state.inline_len));
        if let Some(spill) = state.spill.as_deref_mut().filter(|spill| !spill.is_empty()) {
            // Swapping keeps both queues' allocations alive: no allocation per batch. The
            // inline deliveries, older, go in front.
            std::mem::swap(spill, into);
            for slot in state.inline[..inline_len].iter_mut().rev() {
                if let Some(delivery) = slot.take() {
                    into.push_front(Item::Delivery(delivery));
                }
            }
        } else {
            into.extend(
                state.inline[..inline_len]
                    .iter_mut()
                    .filter_map(Option::take)
                    .map(Item::Delivery),
            );
        }
        state.bytes = 0;
        Poll::Ready(Taken::Items)
    }
}

#[cfg(test)]
mod tests;
