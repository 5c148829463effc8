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

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    bytes: usize,
    overflowed: bool,
    waker: Option<Waker>,
}

/// One connection's outbox: bounded, never making a publisher wait; a full one marks its
/// client as too slow.
pub struct Outbox {
    state: Mutex<State>,
    limits: OutboxLimits,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Outbox")
            .field("queued", &state.queue.len())
            .field("bytes", &state.bytes)
            .field("overflowed", &state.overflowed)
            .finish()
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new(limits: OutboxLimits) -> Self {
        Self {
            state: Mutex::new(State::default()),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the state consistent before it could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
            let accepted = state.queue.len() < self.limits.max_messages
                && state.bytes + size <= self.limits.max_bytes;
            if accepted {
                state.queue.push_back(Item::Delivery(Arc::clone(delivery)));
                state.bytes += size;
            } else {
                state.overflowed = true;
                // What is queued will never be sent: free it now, not when the task runs.
                state.queue = VecDeque::new();
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
            state.queue.push_back(Item::Disconnect {
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
        if state.queue.is_empty() {
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        // Swapping keeps both queues' allocations alive: no allocation per batch.
        std::mem::swap(&mut state.queue, into);
        state.bytes = 0;
        Poll::Ready(Taken::Items)
    }
}

#[cfg(test)]
mod tests;
