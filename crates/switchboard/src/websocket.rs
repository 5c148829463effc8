//! [`WebSocket`]: a [`Connection`] driven over any `AsyncRead + AsyncWrite` transport.
//!
//! All state lives in struct fields (the protocol core's buffers, the bytes being written, the
//! timer), never in the locals of a future, so any future of this module can be dropped at an
//! `.await` without losing or corrupting data.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;

use bytes::Buf;
use futures_core::Stream;
use futures_sink::Sink;
use switchboard_proto::{CloseCode, Connection, Message, MessageRef, Outbox, Outgoing, State};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

use crate::config::WebSocketConfig;
use crate::error::{Error, Result};
use crate::read_buffer;
use crate::send_buffer;
use crate::split::{ReadHalf, WriteHalf};

/// The first read reserves this much; reads grow (doubling) while the transport fills them.
const MIN_READ_SIZE: usize = 4 << 10;

/// Most iovecs handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// The current time, from tokio's clock so that tests with paused time control it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A WebSocket connection over the transport `S` (a `TcpStream`, a TLS stream, a hyper
/// upgrade, or anything `AsyncRead + AsyncWrite + Unpin`).
///
/// It is a [`Stream`] of received [`Message`]s and a [`Sink`] of messages to send, with
/// `send`/`recv`/`close` methods for use without the futures traits.
///
/// Received messages include pings and pongs (already answered) and the peer's
/// [`Message::Close`], after which the stream ends. A normal close ends the stream; it is not
/// an error. Keepalive pings, pong replies and the close handshake are driven while the stream
/// is polled.
pub struct WebSocket<S> {
    pub(crate) inner: Inner<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a transport on which the opening handshake is already done, with the protocol
    /// state that handshake produced (its negotiated extension and any bytes read after it).
    pub fn from_connection(
        io: S,
        connection: Connection,
        config: &WebSocketConfig,
        subprotocol: Option<String>,
    ) -> Self {
        Self {
            inner: Inner::new(io, connection, config, subprotocol),
        }
    }

    /// Receives the next message; `None` once the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, no message is lost; the next
    /// call returns it.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        std::future::poll_fn(|cx| self.inner.poll_next_message(cx)).await
    }

    /// Receives without taking messages out of the read buffer: waits for input, then calls
    /// `f` with every message it brought, in order, each lent as a [`MessageRef`] together
    /// with an [`Outbox`] for replies. Returns how many messages `f` saw; `None` once the
    /// connection is closed, as [`recv`](Self::recv).
    ///
    /// A message under 16 KiB that arrived whole in one uncompressed frame (nearly every
    /// small message) is lent straight from the read buffer: no allocation, reference count or
    /// copy. Others are decoded as `recv` does and lent from there, and a large payload they
    /// lend goes back out through the outbox without a copy. Replies queued on the outbox, and
    /// automatic pongs, are written in one go before it returns. While more than the configured
    /// `write_buffer_size` waits to be written, it reads no more (backpressure).
    ///
    /// The close frame is lent too ([`MessageRef::Close`]); errors are returned as by `recv`,
    /// after every message that came before them.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `f` runs inside a single poll, so a dropped future has lent nothing it
    /// did not finish lending.
    ///
    /// ```no_run
    /// # async fn run(mut ws: switchboard::WebSocket<tokio::net::TcpStream>) {
    /// // An echo server's loop.
    /// while let Some(received) = ws
    ///     .recv_with(|message, outbox| {
    ///         if message.is_data() {
    ///             let _ = outbox.send(message);
    ///         }
    ///     })
    ///     .await
    /// {
    ///     if received.is_err() {
    ///         break;
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn recv_with<F>(&mut self, mut f: F) -> Option<Result<usize>>
    where
        F: FnMut(MessageRef<'_>, &mut Outbox<'_>),
    {
        std::future::poll_fn(|cx| self.inner.poll_recv_with(cx, &mut f)).await
    }

    /// Sends a message and waits until it is written to the transport.
    ///
    /// Waits first while more than the configured `write_buffer_size` is queued
    /// (backpressure).
    ///
    /// # Cancel safety
    ///
    /// If dropped while waiting for buffer space, nothing was queued. If dropped after that,
    /// the message is queued whole and goes out with the next write (any later `send`, `feed`,
    /// `flush` or `close`, or a `recv` that waits for input); it is never sent in part or
    /// twice.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        std::future::poll_fn(|cx| self.inner.poll_ready(cx)).await?;
        self.inner.start_send(message.into())?;
        std::future::poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Queues a message without writing it, so several messages leave in one write; call
    /// [`flush`](Self::flush) after the batch. Fails only if the connection is closed.
    ///
    /// It does not wait for room: the caller bounds what it queues. [`feed`](Self::feed) is
    /// the same with backpressure.
    pub fn queue(&mut self, message: impl Into<Message>) -> Result<()> {
        self.inner.start_send(message.into())
    }

    /// Queues a message, first waiting while more than the configured `write_buffer_size` is
    /// queued (backpressure), without flushing. Queued messages leave in one write with the
    /// next [`flush`](Self::flush) or `send`, or when [`recv`](Self::recv) has returned every
    /// received message and waits for input: a loop of `recv` and `feed` answers a burst of
    /// messages with one write.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send): if dropped while waiting for room, nothing was queued.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<()> {
        std::future::poll_fn(|cx| self.inner.poll_ready(cx)).await?;
        self.inner.start_send(message.into())
    }

    /// Writes everything queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: what was not written stays queued.
    pub async fn flush(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Closes the connection with `code` and `reason` and waits for the closing handshake to
    /// finish (or the close timeout to expire) and the transport to close. Messages that arrive
    /// in the meantime are discarded.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the close frame is queued on the first poll; calling `close` again (or
    /// polling the stream) continues the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.inner.start_close(code, reason)?;
        std::future::poll_fn(|cx| self.inner.poll_close(cx)).await
    }

    /// Splits into a read half and a write half that can be used from different tasks at the
    /// same time. Pongs and close replies still go out while split: either half writes them.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        crate::split::split(self.inner)
    }
}

impl<S> WebSocket<S> {
    /// The round-trip time measured by the last answered keepalive ping.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.inner.conn.rtt()
    }

    /// The subprotocol the opening handshake agreed on.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.subprotocol.as_deref()
    }

    /// The name of the negotiated extension (`permessage-deflate`), if any.
    pub fn extension(&self) -> Option<&str> {
        self.inner.conn.extension().map(|e| e.name())
    }

    /// Once closed: the peer's close code, 1005 if it sent none, 1006 if the connection ended
    /// without a closing handshake.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.inner.conn.close_code()
    }

    /// The reason in the peer's close frame, once it arrived.
    pub fn close_reason(&self) -> Option<&str> {
        self.inner
            .conn
            .close_received()
            .flatten()
            .map(|f| f.reason.as_str())
    }

    /// The protocol state machine, for inspection.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner.io
    }

    /// The transport, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.io
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().inner.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_flush(cx)
    }

    /// Sends a 1000 close frame (unless one was sent) and drives the closing handshake to its
    /// end, discarding messages that arrive meanwhile.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let inner = &mut self.get_mut().inner;
        inner.start_close(CloseCode::NORMAL_CLOSURE, "")?;
        inner.poll_close(cx)
    }
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("connection", &self.inner.conn)
            .field("writing", &self.inner.writing.remaining())
            .finish_non_exhaustive()
    }
}

/// The driver shared by [`WebSocket`] and the split halves.
pub(crate) struct Inner<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    /// Bytes taken from the connection and not yet written.
    writing: Outgoing,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    /// The waker the timer holds for `timer_at`, so a poll from the same task can skip
    /// registering it again (see [`Inner::timer_elapsed`]).
    timer_waker: Option<Waker>,
    /// Once the connection has ended: until when bytes still queued may take to leave.
    linger_until: Option<Instant>,
    /// The size of the allocation behind the connection's read buffer; 0 while the connection
    /// is quiet and holds none (see [`read_buffer`]).
    read_alloc: usize,
    read_size: usize,
    max_read_size: usize,
    /// Whether the connection may hold a send buffer: one was given to it from the pool, or
    /// it queued bytes. Once they are written, the buffer goes back to the pool (see
    /// [`send_buffer`]).
    holds_send_buffer: bool,
    write_buffer_size: usize,
    transport_closed: bool,
    /// Whether the final error was reported; after it the stream ends.
    error_reported: bool,
    subprotocol: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(crate) fn new(
        io: S,
        mut conn: Connection,
        config: &WebSocketConfig,
        subprotocol: Option<String>,
    ) -> Self {
        let read_size = MIN_READ_SIZE.min(config.max_read_size.max(1));
        // The buffer the handshake read into is of unknown size (the request head is at its
        // front). Bytes that followed the head and are still undecoded move to a buffer of
        // ours; with none, the connection holds no read buffer until bytes arrive.
        let leftover = std::mem::take(conn.read_buffer());
        let mut read_alloc = 0;
        if !leftover.is_empty() {
            let buf = conn.read_buffer();
            read_buffer::reserve(buf, &mut read_alloc, leftover.len() + read_size);
            buf.extend_from_slice(&leftover);
        }
        Self {
            io,
            conn,
            writing: Outgoing::default(),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            timer_at: None,
            timer_waker: None,
            linger_until: None,
            read_alloc,
            read_size,
            max_read_size: config.max_read_size.max(1),
            holds_send_buffer: true,
            write_buffer_size: config.write_buffer_size,
            transport_closed: false,
            error_reported: false,
            subprotocol,
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.writing.remaining() + self.conn.buffered_amount()
    }

    pub(crate) fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message>>> {
        loop {
            match self.conn.poll_event() {
                Ok(Some(message)) => {
                    // A ping or a close frame queued its automatic answer: let it leave now,
                    // not when the application next sends. A write error shows up on the next
                    // poll, as the read side sees it too. Messages the application queued wait
                    // until no received message is left to return (the write below, before
                    // reading), so replies to a burst of messages leave in one write.
                    if !message.is_data() {
                        let _ = self.poll_write_out(cx);
                    }
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(None) => {}
                Err(error) => return self.poll_failed(cx, error),
            }
            if self.conn.state() == State::Closed {
                ready!(self.poll_finish(cx));
                return Poll::Ready(None);
            }
            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                return Poll::Ready(self.io_failed(e));
            }
            if self.poll_timer(cx) {
                continue;
            }
            match ready!(self.poll_read_in(cx)) {
                Ok(0) => self.conn.receive_eof(),
                Ok(_) => self.conn.receive_buffered(now()),
                Err(e) => return Poll::Ready(self.io_failed(e)),
            }
        }
    }

    pub(crate) fn poll_recv_with<F>(
        &mut self,
        cx: &mut Context<'_>,
        f: &mut F,
    ) -> Poll<Option<Result<usize>>>
    where
        F: FnMut(MessageRef<'_>, &mut Outbox<'_>),
    {
        loop {
            // Messages decoded before (a close frame, or what `recv` left) go first.
            let mut lent = 0;
            loop {
                match self.conn.poll_event() {
                    Ok(Some(message)) => {
                        f(MessageRef::from(&message), &mut self.conn.outbox());
                        lent += 1;
                    }
                    Ok(None) => break,
                    // The error stays: the next call reports it, after these messages.
                    Err(_) if lent > 0 => break,
                    Err(error) => return self.poll_failed(cx, error),
                }
            }
            if lent > 0 {
                // Replies and automatic answers leave now, in one write. A write error shows
                // up on the next call, as the read side sees it too.
                let _ = self.poll_write_out(cx);
                return Poll::Ready(Some(Ok(lent)));
            }
            if self.conn.state() == State::Closed {
                ready!(self.poll_finish(cx));
                return Poll::Ready(None);
            }
            let written = self.poll_write_out(cx);
            if let Poll::Ready(Err(e)) = written {
                return Poll::Ready(self.io_failed(e));
            }
            // Deadlines before backpressure: a peer that stops reading must still meet the
            // keepalive timeout.
            if self.poll_timer(cx) {
                continue;
            }
            // Backpressure: replies are queued without waiting for room, so no more is read
            // while more than `write_buffer_size` waits to be written.
            if written.is_pending() && self.pending_bytes() >= self.write_buffer_size {
                return Poll::Pending;
            }
            match ready!(self.poll_read_in(cx)) {
                Ok(0) => self.conn.receive_eof(),
                Ok(_) => {
                    let lent = self.conn.receive_buffered_with(now(), &mut *f);
                    if lent > 0 {
                        let _ = self.poll_write_out(cx);
                        return Poll::Ready(Some(Ok(lent)));
                    }
                }
                Err(e) => return Poll::Ready(self.io_failed(e)),
            }
        }
    }

    /// The connection failed with `error`: get our close frame out, report the error once,
    /// then end. A peer that let the keepalive time out is not waited for: it is not reading,
    /// so what the transport does not take at once is dropped. Any other peer gets the close
    /// timeout to take it (see [`poll_linger_over`](Self::poll_linger_over)).
    fn poll_failed<T>(
        &mut self,
        cx: &mut Context<'_>,
        error: switchboard_proto::Error,
    ) -> Poll<Option<Result<T>>> {
        if self.error_reported {
            ready!(self.poll_finish(cx));
            return Poll::Ready(None);
        }
        if self.poll_write_out(cx).is_pending() && !self.transport_closed {
            if matches!(error, switchboard_proto::Error::KeepaliveTimeout) {
                self.transport_closed = true;
            } else if !self.poll_linger_over(cx) {
                return Poll::Pending;
            }
        }
        self.error_reported = true;
        Poll::Ready(Some(Err(error.into())))
    }

    /// A transport error while the connection was open: report it once, then end.
    fn io_failed<T>(&mut self, e: io::Error) -> Option<Result<T>> {
        self.transport_closed = true;
        if self.error_reported {
            return None;
        }
        self.error_reported = true;
        Some(Err(Error::Io(e)))
    }

    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.conn.state() != State::Open {
            return Poll::Ready(Err(self.send_error()));
        }
        while self.pending_bytes() >= self.write_buffer_size {
            // Backpressure: the peer is not reading as fast as we produce.
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn start_send(&mut self, message: Message) -> Result<()> {
        self.lend_send_buffer();
        self.conn.send(message).map_err(Error::from)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Queues a close frame unless the closing handshake already started.
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.conn.state() != State::Open {
            return Ok(());
        }
        self.conn.close(now(), code, reason).map_err(Error::from)
    }

    /// Drives the closing handshake to its end, discarding received messages.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        // The close timeout bounds the whole close, the last bytes' write included.
        self.linger_deadline();
        while self.conn.state() != State::Closed {
            while let Ok(Some(_)) = self.conn.poll_event() {}
            // The peer's close frame takes effect when its event is taken: the handshake may
            // have just finished. Reading on would wait for bytes that never come (a client
            // waits for the server to close the TCP connection first, RFC 6455 7.1.1).
            if self.conn.state() == State::Closed {
                break;
            }
            let _ = self.poll_write_out(cx);
            if self.poll_timer(cx) {
                continue;
            }
            match ready!(self.poll_read_in(cx)) {
                Ok(0) => self.conn.receive_eof(),
                Ok(_) => self.conn.receive_buffered(now()),
                Err(_) => {
                    self.conn.receive_eof();
                    self.transport_closed = true;
                }
            }
        }
        ready!(self.poll_finish(cx));
        Poll::Ready(Ok(()))
    }

    /// After the closing handshake (or a failure): write what is left, wait for the moment the
    /// transport should close (RFC 6455 7.1.1: the server first; the client when the server
    /// has, or at the close timeout), and shut it down.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.transport_closed {
                return Poll::Ready(());
            }
            let written = match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(_)) => {
                    self.transport_closed = true;
                    return Poll::Ready(());
                }
                Poll::Pending => false,
            };
            if self.conn.wants_transport_close() {
                if !written {
                    if self.poll_linger_over(cx) {
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
                // Errors while shutting down a finished connection change nothing for the user.
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.transport_closed = true;
                return Poll::Ready(());
            }
            // A client waits for the server to close; input is discarded by the connection.
            if self.poll_timer(cx) {
                continue;
            }
            match ready!(self.poll_read_in(cx)) {
                Ok(0) | Err(_) => self.conn.receive_eof(),
                Ok(_) => self.conn.receive_buffered(now()),
            }
        }
    }

    fn send_error(&self) -> Error {
        match self.conn.error() {
            Some(error) if !self.error_reported => error.clone().into(),
            _ => Error::Closed,
        }
    }

    /// Writes what the connection has queued, then flushes the transport.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.transport_closed {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        }
        loop {
            if !self.writing.has_remaining() {
                // Bytes in one piece are written where they lie.
                if let Some(bytes) = self.conn.peek_transmit() {
                    let n = ready!(Pin::new(&mut self.io).poll_write(cx, bytes))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    self.conn.advance_transmit(n);
                    self.holds_send_buffer = true;
                    continue;
                }
                match self.conn.poll_transmit() {
                    Some(out) => {
                        self.writing = out;
                        self.holds_send_buffer = true;
                    }
                    None => break,
                }
            }
            while self.writing.has_remaining() {
                let io = Pin::new(&mut self.io);
                // One chunk (small frames coalesced) is a plain write: it spares the kernel
                // copying in an iovec array.
                let n = if io.is_write_vectored() && self.writing.chunk_count() > 1 {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let count = self.writing.chunks_vectored(&mut slices);
                    ready!(io.poll_write_vectored(cx, &slices[..count]))?
                } else {
                    ready!(io.poll_write(cx, self.writing.chunk()))?
                };
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.writing.advance(n);
            }
            // Written: the chunks are freed now, and the chunk list goes back for reuse.
            self.conn.reuse(std::mem::take(&mut self.writing));
        }
        // Everything is written: the send buffer goes back to the pool, unless large
        // messages grew it past what the pool keeps.
        if self.holds_send_buffer {
            if let Some(buf) = self.conn.take_send_buffer() {
                match send_buffer::give(buf) {
                    None => self.holds_send_buffer = false,
                    Some(large) => drop(self.conn.give_send_buffer(large)),
                }
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Gives the connection a send buffer from the pool, if it holds none, before it may
    /// queue frames: replies to what was read, or a message of the application's.
    fn lend_send_buffer(&mut self) {
        if self.holds_send_buffer {
            return;
        }
        self.holds_send_buffer = true;
        if let Some(buf) = send_buffer::take() {
            // What comes back is the connection's empty buffer without an allocation, or,
            // if it queued a frame since (a keepalive ping, a close frame), the pooled one.
            let back = self.conn.give_send_buffer(buf);
            if back.capacity() > 0 {
                let _ = send_buffer::give(back);
            }
        }
    }

    /// Reads once into the connection's buffer.
    ///
    /// A connection holds a read buffer only while it is busy: when the read finds nothing
    /// and no bytes wait to be decoded, the buffer goes back to the thread's pool, and the
    /// next read takes one from there (see [`read_buffer`]).
    fn poll_read_in(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let buf = self.conn.read_buffer();
        if self.read_alloc == 0 && buf.is_empty() {
            (*buf, self.read_alloc) = read_buffer::take();
        }
        read_buffer::reserve(buf, &mut self.read_alloc, self.read_size);
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, buf);
        if read.is_pending() && buf.is_empty() {
            let alloc = std::mem::take(&mut self.read_alloc);
            read_buffer::give(std::mem::take(buf), alloc);
        }
        let n = ready!(read)?;
        if n > 0 {
            self.lend_send_buffer();
        }
        if n >= self.read_size {
            self.read_size = (self.read_size * 2).min(self.max_read_size);
        }
        Poll::Ready(Ok(n))
    }

    /// Until when the bytes still queued at the end of the connection may take to leave:
    /// the close timeout, counted from the first time the end is driven.
    fn linger_deadline(&mut self) -> Instant {
        *self
            .linger_until
            .get_or_insert_with(|| now() + self.conn.config().close_timeout)
    }

    /// Whether the peer has had its time to take the bytes left at the end of the
    /// connection. A peer that has not read them by the close timeout is not going to (the
    /// same bound RFC 6455 7.1.1 puts on the closing handshake): the bytes are dropped and the
    /// transport counts as closed, so neither a failure nor a close waits on it forever.
    fn poll_linger_over(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.linger_deadline();
        if !self.timer_elapsed(deadline, cx) {
            return false;
        }
        self.transport_closed = true;
        true
    }

    /// Whether `deadline` has passed; if not, the timer is set for it and wakes `cx`'s task.
    ///
    /// The timer is polled, which registers the waker, only when something changed since
    /// the last poll: the deadline, the task, or the timer having fired. A connection's
    /// deadline (the next keepalive ping) stays the same over many wakeups, and this check
    /// costs far less than the poll.
    fn timer_elapsed(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        if self.timer_at == Some(deadline)
            && !self.timer.is_elapsed()
            && self
                .timer_waker
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return false;
        }
        if self.timer_at != Some(deadline) {
            self.timer
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
            self.timer_at = Some(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.timer_waker = None;
            return true;
        }
        match &mut self.timer_waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => self.timer_waker = Some(cx.waker().clone()),
        }
        false
    }

    /// Arms the timer for the connection's next deadline; returns whether a deadline passed
    /// (and was handled).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            return false;
        };
        if !self.timer_elapsed(deadline, cx) {
            return false;
        }
        self.conn.handle_timeout(now().max(deadline));
        // Only report progress if the deadline moved, so a deadline the connection keeps
        // cannot spin the caller's loop.
        self.conn.poll_timeout() != Some(deadline)
    }
}
