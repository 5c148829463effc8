//! The driver task: connect, run the hook, pump messages, and ask the policy what next.
//!
//! Every decision is the policy's ([`Backoff`], [`classify`], [`ClosePolicy`]); this file only
//! sequences them. Its state lives in the [`Driver`] fields, so the `select!`s below can drop
//! any branch's future without losing a message: nothing is taken out of the queue before the
//! connection has room for it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use switchboard_proto::{CloseCode, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{
    classify, Backoff, ClosePolicy, Closed, Event, OnOpen, Opened, Reconnect, Shared, Stop, Verdict,
};
use crate::error::{Error, Result};
use crate::websocket::WebSocket;

pub(super) struct Driver<C> {
    pub(super) connector: C,
    pub(super) backoff: Backoff,
    pub(super) close_policy: ClosePolicy,
    pub(super) on_open: Option<OnOpen>,
    pub(super) outbox: Outbox,
    pub(super) close_rx: watch::Receiver<Option<(CloseCode, String)>>,
    pub(super) shared: Arc<Shared>,
    pub(super) events: mpsc::Sender<Event>,
    /// Connections opened so far.
    pub(super) connections: u64,
}

/// What waits to be sent: the current connection's hook messages, then the queue.
pub(super) struct Outbox {
    first: VecDeque<Message>,
    queue: mpsc::Receiver<Message>,
}

impl Outbox {
    pub(super) fn new(queue: mpsc::Receiver<Message>) -> Self {
        Self {
            first: VecDeque::new(),
            queue,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        match self.first.pop_front() {
            Some(message) => Poll::Ready(Some(message)),
            None => self.queue.poll_recv(cx),
        }
    }

    fn try_next(&mut self) -> Option<Message> {
        self.first
            .pop_front()
            .or_else(|| self.queue.try_recv().ok())
    }
}

/// One step of an open connection.
enum Step {
    Received(Message),
    /// The connection failed; it still has to be polled to its end.
    Failed(Error),
    /// The connection refused one message (the rest goes on).
    Refused(Error),
    Ended,
}

/// How an open connection ended.
enum End {
    Requested { code: CloseCode, reason: String },
    Server { code: CloseCode, reason: String },
    Failed(Error),
}

/// After an attempt or a connection: wait this long and reconnect, or stop.
type Next = std::result::Result<std::time::Duration, Stop>;

impl<C, Fut, S> Driver<C>
where
    C: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<WebSocket<S>>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(super) async fn run(mut self) {
        let stop = self.connect_until_stopped().await;
        tracing::debug!(%stop, "reconnecting client stopped");
        self.shared.connected.store(false, Ordering::Release);
        self.emit(Event::Stopped(stop)).await;
    }

    async fn connect_until_stopped(&mut self) -> Stop {
        loop {
            let attempt = (self.connector)();
            let next = match until_close(&mut self.close_rx, attempt).await {
                None => return Stop::Requested,
                Some(Ok(ws)) => self.connected(ws).await,
                Some(Err(error)) => {
                    let next = self.next_after(classify(&error), Stop::Failed);
                    self.emit(Event::Error(error)).await;
                    next
                }
            };
            let delay = match next {
                Ok(delay) => delay,
                Err(stop) => return stop,
            };
            let attempt = self.backoff.attempt();
            tracing::debug!(attempt, ?delay, "reconnect scheduled");
            self.emit(Event::Reconnecting(Reconnect { attempt, delay }))
                .await;
            if until_close(&mut self.close_rx, tokio::time::sleep(delay))
                .await
                .is_none()
            {
                return Stop::Requested;
            }
        }
    }

    /// Retry: the next backoff delay (or giving up); otherwise `stop`.
    fn next_after(&mut self, verdict: Verdict, stop: Stop) -> Next {
        if verdict != Verdict::Retry {
            return Err(stop);
        }
        self.backoff.next().ok_or(Stop::GaveUp {
            attempts: self.backoff.attempt(),
        })
    }

    /// Runs one connection from the hook to its end and reports how it ended.
    async fn connected(&mut self, mut ws: WebSocket<S>) -> Next {
        self.connections += 1;
        let opened_at = Instant::now();
        let opened = Opened {
            connection: self.connections,
            subprotocol: ws.subprotocol().map(str::to_owned),
        };
        self.run_on_open(opened.clone()).await;
        self.shared.connected.store(true, Ordering::Release);
        self.emit(Event::Open(opened)).await;
        let end = self.session(&mut ws).await;
        self.shared.connected.store(false, Ordering::Release);
        self.backoff.connection_lasted(opened_at.elapsed());
        self.ended(end).await
    }

    /// Runs the `on_open` hook and puts its messages first in line.
    async fn run_on_open(&mut self, opened: Opened) {
        // The previous connection's hook messages are stale: the hook makes fresh ones.
        self.outbox.first.clear();
        let Some(hook) = &mut self.on_open else {
            return;
        };
        // A close requested meanwhile is handled by `session` straight away.
        let Some(messages) = until_close(&mut self.close_rx, hook(opened)).await else {
            return;
        };
        for message in messages {
            if let Message::Close(frame) = message {
                match frame {
                    Some(f) => self.shared.request_close(f.code, f.reason.as_str()),
                    None => self.shared.request_close(CloseCode::NORMAL_CLOSURE, ""),
                }
                break;
            }
            self.outbox.first.push_back(message);
        }
    }

    /// Reports how a connection ended and decides what comes next.
    async fn ended(&mut self, end: End) -> Next {
        match end {
            End::Requested { code, reason } => {
                self.emit_closed(code, reason, false).await;
                Err(Stop::Requested)
            }
            End::Server { code, reason } => {
                let verdict = self.close_policy.classify(code);
                let stop = Stop::ClosedByServer {
                    code,
                    reason: reason.clone(),
                };
                let next = self.next_after(verdict, stop);
                self.emit_closed(code, reason, next.is_ok()).await;
                next
            }
            End::Failed(error) => {
                let code = error.close_code();
                let next = self.next_after(classify(&error), Stop::Failed);
                self.emit(Event::Error(error)).await;
                self.emit_closed(code, String::new(), next.is_ok()).await;
                next
            }
        }
    }

    /// Pumps messages both ways until the connection ends or the application closes it.
    async fn session(&mut self, ws: &mut WebSocket<S>) -> End {
        let mut server_close = None;
        let mut failure = None;
        loop {
            let step = tokio::select! {
                biased;
                _ = self.close_rx.wait_for(Option::is_some) => None,
                step = std::future::poll_fn(|cx| poll_step(ws, &mut self.outbox, cx)) => Some(step),
            };
            let Some(step) = step else {
                return self.close(ws).await;
            };
            match step {
                Step::Received(Message::Close(frame)) => {
                    server_close = Some(match frame {
                        Some(frame) => (frame.code, frame.reason.as_str().to_owned()),
                        None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                    });
                }
                Step::Received(message) if message.is_data() => {
                    self.emit(Event::Message(message)).await;
                }
                Step::Received(_) => {}
                Step::Failed(error) => {
                    failure.get_or_insert(error);
                }
                Step::Refused(error) => self.emit(Event::Error(error)).await,
                Step::Ended => {
                    // The server's close frame says more than what went wrong after it.
                    return match (server_close, failure) {
                        (Some((code, reason)), _) => End::Server { code, reason },
                        (None, Some(error)) => End::Failed(error),
                        (None, None) => End::Failed(Error::AbnormalClosure),
                    };
                }
            }
        }
    }

    /// The application asked to close: send what is queued, then the closing handshake
    /// (bounded by the connection's close timeout).
    async fn close(&mut self, ws: &mut WebSocket<S>) -> End {
        let (code, reason) = self
            .close_rx
            .borrow()
            .clone()
            .unwrap_or((CloseCode::NORMAL_CLOSURE, String::new()));
        while let Some(message) = self.outbox.try_next() {
            // Fails only once the connection is closing; the rest is dropped with the client.
            if ws.queue(message).is_err() {
                break;
            }
        }
        // Whatever goes wrong now, the client is stopping; the events say it closed.
        let _ = ws.close(code, &reason).await;
        End::Requested { code, reason }
    }

    async fn emit_closed(&mut self, code: CloseCode, reason: String, will_reconnect: bool) {
        let closed = Closed {
            code,
            reason,
            will_reconnect,
        };
        self.emit(Event::Closed(closed)).await;
    }

    async fn emit(&mut self, event: Event) {
        // Fails only when the `Reconnecting` is gone, and then this task is being aborted.
        let _ = self.events.send(event).await;
    }
}

/// Runs `future` unless the application asks to close first (`None`).
async fn until_close<F: Future>(
    close: &mut watch::Receiver<Option<(CloseCode, String)>>,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = close.wait_for(Option::is_some) => None,
        output = future => Some(output),
    }
}

/// Moves messages from the outbox into the connection while it has room, then reads.
fn poll_step<S>(ws: &mut WebSocket<S>, outbox: &mut Outbox, cx: &mut Context<'_>) -> Poll<Step>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Room first, message second: a message leaves the outbox only into a connection that
    // takes it, so none is lost when this connection drops.
    while let Poll::Ready(Ok(())) = Pin::new(&mut *ws).poll_ready(cx) {
        let Poll::Ready(Some(message)) = outbox.poll_next(cx) else {
            break;
        };
        if let Err(error) = Pin::new(&mut *ws).start_send(message) {
            return Poll::Ready(Step::Refused(error));
        }
    }
    // A write error ends the connection; the read side reports it.
    let _ = Pin::new(&mut *ws).poll_flush(cx);
    Poll::Ready(match ready!(Pin::new(&mut *ws).poll_next(cx)) {
        Some(Ok(message)) => Step::Received(message),
        Some(Err(error)) => Step::Failed(error),
        None => Step::Ended,
    })
}
