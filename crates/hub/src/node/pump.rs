//! Drives one WebSocket: drains the connection's outbox into it and reads from it, in one
//! task, without splitting the socket.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use switchboard::{CloseCode, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use super::metrics::Traffic;
use super::outbox::{Item, Outbox, Taken};
use crate::broker::Delivery;
use crate::protocol::DisconnectCode;

/// How long a server-initiated close waits for the client's close frame.
pub(crate) const CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// What happened on the connection.
#[derive(Debug)]
pub(crate) enum Event {
    /// A message from the client (`None`: the connection is closed).
    Received(Option<switchboard::Result<Message>>),
    /// Writing failed; the connection is gone.
    WriteFailed(switchboard::Error),
    /// The outbox overflowed.
    Slow,
    /// The server asks the connection to end.
    Disconnect {
        /// Why.
        code: DisconnectCode,
        /// For the client's developer.
        reason: String,
    },
    /// The deadline passed.
    Deadline,
}

/// Turns a delivery into what this connection sends, or `None` to skip it.
pub(crate) trait Render {
    fn render(&mut self, delivery: &Delivery) -> Option<Message>;
}

/// A WebSocket and the outbox that feeds it.
pub(crate) struct Pump<S> {
    pub(crate) ws: WebSocket<S>,
    pub(crate) outbox: Arc<Outbox>,
    batch: VecDeque<Item>,
    traffic: Traffic,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pump<S> {
    pub(crate) fn new(ws: WebSocket<S>, outbox: Arc<Outbox>, traffic: Traffic) -> Self {
        Self {
            ws,
            outbox,
            batch: VecDeque::new(),
            traffic,
        }
    }

    /// Waits for the next event, writing deliveries as the socket takes them. `deadline`,
    /// if given, ends the wait with [`Event::Deadline`].
    pub(crate) async fn next(
        &mut self,
        render: &mut impl Render,
        deadline: Option<tokio::time::Instant>,
    ) -> Event {
        let mut sleep = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
        poll_fn(|cx| {
            if let Poll::Ready(event) = self.poll_write(cx, render) {
                return Poll::Ready(event);
            }
            if let Some(sleep) = sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Deadline);
                }
            }
            match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(received) => {
                    if let Some(Ok(message)) = &received {
                        self.traffic.received(message.len());
                    }
                    Poll::Ready(Event::Received(received))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Moves deliveries from the outbox into the socket while it has room, then flushes.
    fn poll_write(&mut self, cx: &mut Context<'_>, render: &mut impl Render) -> Poll<Event> {
        loop {
            if self.batch.is_empty() {
                match self.outbox.poll_take(cx, &mut self.batch) {
                    Poll::Ready(Taken::Overflowed) => return Poll::Ready(Event::Slow),
                    Poll::Ready(Taken::Items) => {}
                    Poll::Pending => break,
                }
            }
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Event::WriteFailed(error)),
                // The socket is full: the rest waits in the batch, new deliveries in the
                // outbox, which overflows if this lasts.
                Poll::Pending => break,
            }
            let Some(item) = self.batch.pop_front() else {
                continue;
            };
            let message = match item {
                Item::Delivery(delivery) => render.render(&delivery),
                Item::Disconnect { code, reason } => {
                    return Poll::Ready(Event::Disconnect { code, reason })
                }
            };
            if let Some(message) = message {
                self.traffic.sent(message.len());
                if let Err(error) = Pin::new(&mut self.ws).start_send(message) {
                    return Poll::Ready(Event::WriteFailed(error));
                }
            }
        }
        self.traffic.publish();
        match Pin::new(&mut self.ws).poll_flush(cx) {
            Poll::Ready(Err(error)) => Poll::Ready(Event::WriteFailed(error)),
            _ => Poll::Pending,
        }
    }

    /// Queues one message of the connection's own (a reply, a push); it goes out with the
    /// next write. It does not wait for room: replies are paced by the command rate limit,
    /// and waiting here would stop the task from noticing its outbox, its deadlines and a
    /// dead peer (keepalive runs while the connection is polled for events).
    pub(crate) fn send(&mut self, message: Message) -> switchboard::Result<()> {
        self.traffic.sent(message.len());
        Pin::new(&mut self.ws).start_send(message)
    }

    /// Closes with `code`, waiting at most [`CLOSE_BOUND`] for the closing handshake (a
    /// client that does not read never answers).
    pub(crate) async fn close(&mut self, code: CloseCode, reason: &str) {
        let _ = tokio::time::timeout(CLOSE_BOUND, self.ws.close(code, reason)).await;
    }
}
