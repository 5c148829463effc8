//! Owned read and write halves of a [`WebSocket`](crate::WebSocket), for different tasks.
//!
//! The halves share the protocol state behind a mutex that is held only for the duration of a
//! non-blocking poll, never while waiting: a reader waiting for data does not hold up a writer,
//! and the other way round. Either half may write the automatic pongs and close replies, so
//! they go out even when the application never sends.
//!
//! The transport sees one waker that wakes both halves, so a readiness event is never lost to
//! the other task's registration; the cost is an occasional spurious wake-up.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use switchboard_proto::{CloseCode, Message};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::websocket::{Inner, WebSocket};

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<HalfWakers>,
    /// Wakes both halves; handed to the transport.
    waker: Waker,
    reader_alive: AtomicBool,
}

#[derive(Default)]
struct HalfWakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl HalfWakers {
    fn register(slot: &Mutex<Option<Waker>>, waker: &Waker) {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

impl Wake for HalfWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.read, &self.write] {
            if let Some(waker) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                waker.wake();
            }
        }
    }
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // A panic while holding the lock leaves consistent protocol state behind (every
        // mutation is complete before control returns), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn split<S>(inner: Inner<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let wakers = Arc::new(HalfWakers::default());
    let shared = Arc::new(Shared {
        inner: Mutex::new(inner),
        waker: Waker::from(wakers.clone()),
        wakers,
        reader_alive: AtomicBool::new(true),
    });
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

/// The receiving half of a split [`WebSocket`]: a [`Stream`] of messages.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`]: a [`Sink`] of messages.
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Receives the next message; `None` once the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is never lost when the future is dropped.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        HalfWakers::register(&self.shared.wakers.read, cx.waker());
        let mut cx = Context::from_waker(&self.shared.waker);
        self.shared.lock().poll_next_message(&mut cx)
    }

    /// Whether both halves come from the same [`WebSocket`].
    pub fn is_pair_of(&self, other: &WriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Puts the halves back together. Fails (returning them) if they are not a pair.
    pub fn reunite(
        self,
        other: WriteHalf<S>,
    ) -> std::result::Result<WebSocket<S>, (Self, WriteHalf<S>)> {
        if !self.is_pair_of(&other) {
            return Err((self, other));
        }
        let shared = self.shared.clone();
        drop(self);
        drop(other);
        match Arc::try_unwrap(shared) {
            Ok(shared) => Ok(WebSocket {
                inner: shared.inner.into_inner().unwrap_or_else(|e| e.into_inner()),
            }),
            // Unreachable: both halves were just dropped and nothing else holds the Arc.
            Err(_) => unreachable!("split halves are the only owners of their shared state"),
        }
    }
}

impl<S> Drop for ReadHalf<S> {
    fn drop(&mut self) {
        self.shared.reader_alive.store(false, Ordering::Release);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and waits until it is written (after waiting for buffer space, as
    /// [`WebSocket::send`] does).
    ///
    /// # Cancel safety
    ///
    /// As for [`WebSocket::send`]: a message is queued whole or not at all.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        std::future::poll_fn(|cx| self.with(cx, |inner, cx| inner.poll_ready(cx))).await?;
        self.shared.lock().start_send(message.into())?;
        std::future::poll_fn(|cx| self.with(cx, |inner, cx| inner.poll_flush(cx))).await
    }

    /// Sends a close frame and writes it. The read half then receives the peer's close and
    /// ends, closing the transport; if the read half was dropped, this waits for the closing
    /// handshake itself.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: calling it again continues where it stopped.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.shared.lock().start_close(code, reason)?;
        std::future::poll_fn(|cx| self.poll_close_inner(cx)).await
    }

    fn with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        HalfWakers::register(&self.shared.wakers.write, cx.waker());
        let mut cx = Context::from_waker(&self.shared.waker);
        f(&mut self.shared.lock(), &mut cx)
    }

    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.shared.reader_alive.load(Ordering::Acquire) {
            self.with(cx, |inner, cx| inner.poll_flush(cx))
        } else {
            self.with(cx, |inner, cx| inner.poll_close(cx))
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |inner, cx| inner.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.shared.lock().start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.shared
            .lock()
            .start_close(CloseCode::NORMAL_CLOSURE, "")?;
        this.poll_close_inner(cx)
    }
}

impl<S> std::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}
