//! The tokio driver over in-memory pipes: messages, control frames, closing, backpressure,
//! keepalive with paused time, split halves, and cancel safety over a slow, partial transport.
#![allow(clippy::unwrap_used)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use switchboard::proto::Connection;
use switchboard::{CloseCode, Error, Message, WebSocket, WebSocketConfig};
use tokio::io::{duplex, AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
}

fn entropy() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut n = 1u8;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_mul(13).wrapping_add(7);
            *b = n;
        }
    }
}

fn pair_with<S>(
    client_io: S,
    server_io: S,
    config: &WebSocketConfig,
) -> (WebSocket<S>, WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let now = tokio::time::Instant::now().into_std();
    let client = Connection::client(config.protocol.clone(), now, entropy());
    let server = Connection::server(config.protocol.clone(), now);
    (
        WebSocket::from_connection(client_io, client, config, None),
        WebSocket::from_connection(server_io, server, config, None),
    )
}

fn pair(config: &WebSocketConfig) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = duplex(1 << 20);
    pair_with(a, b, config)
}

/// A server `WebSocket` over a pipe of `capacity` bytes, and the raw far end of the pipe,
/// for tests that write frames by hand.
fn server_with_raw_peer(
    config: &WebSocketConfig,
    capacity: usize,
) -> (DuplexStream, WebSocket<DuplexStream>) {
    let (raw, server_io) = duplex(capacity);
    let now = tokio::time::Instant::now().into_std();
    let conn = Connection::server(config.protocol.clone(), now);
    (
        raw,
        WebSocket::from_connection(server_io, conn, config, None),
    )
}

/// A client's 4 KiB binary frame, masked with the key 0 (which leaves the payload as is).
fn masked_binary_4k() -> Vec<u8> {
    [&b"\x82\xfe\x10\x00\0\0\0\0"[..], &[9u8; 4096]].concat()
}

#[tokio::test]
async fn messages_flow_both_ways() {
    let (mut client, mut server) = pair(&config());
    client.send("hello").await.unwrap();
    client
        .send(Message::binary(vec![1u8; 200_000]))
        .await
        .unwrap();
    assert_eq!(
        server.recv().await.unwrap().unwrap(),
        Message::text("hello")
    );
    assert_eq!(
        server.recv().await.unwrap().unwrap(),
        Message::binary(vec![1u8; 200_000])
    );
    server.send("back").await.unwrap();
    assert_eq!(client.next().await.unwrap().unwrap(), Message::text("back"));
}

#[tokio::test]
async fn pings_are_answered_while_the_peer_only_reads() {
    let (mut client, mut server) = pair(&config());
    client
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    // The server only reads; its pong goes out anyway.
    let got = server.recv().await.unwrap().unwrap();
    assert_eq!(got, Message::Ping(Bytes::from_static(b"are you there")));
    let pong = client.recv().await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"are you there")));
}

#[tokio::test]
async fn close_handshake_ends_both_streams_without_error() {
    let (mut client, mut server) = pair(&config());
    let server_task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = server.recv().await {
            seen.push(message.unwrap());
        }
        (
            seen,
            server.close_code(),
            server.close_reason().map(str::to_owned),
        )
    });
    client.send("last").await.unwrap();
    client.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
    assert_eq!(client.close_code(), Some(CloseCode::GOING_AWAY));
    let (seen, code, reason) = server_task.await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], Message::text("last"));
    assert!(matches!(&seen[1], Message::Close(Some(f)) if f.code == CloseCode::GOING_AWAY));
    assert_eq!(code, Some(CloseCode::GOING_AWAY));
    assert_eq!(reason.as_deref(), Some("bye"));
    assert!(matches!(client.send("after").await, Err(Error::Closed)));
}

#[tokio::test(start_paused = true)]
async fn server_initiated_close_finishes_without_waiting_for_the_timeout() {
    // Regression: the server's close() went on reading after the client's close frame had
    // finished the handshake, and returned only at the 10 s close timeout.
    let (mut client, mut server) = pair(&config());
    let client_task = tokio::spawn(async move { while client.recv().await.is_some() {} });
    let started = tokio::time::Instant::now();
    server
        .close(CloseCode::GOING_AWAY, "restart")
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(server.close_code(), Some(CloseCode::GOING_AWAY));
    client_task.await.unwrap();
}

#[tokio::test]
async fn sink_close_completes_the_handshake() {
    let (mut client, mut server) = pair(&config());
    let server_task = tokio::spawn(async move { while server.next().await.is_some() {} });
    SinkExt::close(&mut client).await.unwrap();
    server_task.await.unwrap();
    assert_eq!(client.close_code(), Some(CloseCode::NORMAL_CLOSURE));
}

#[tokio::test]
async fn peer_vanishing_is_an_abnormal_closure() {
    let (mut client, server) = pair(&config());
    drop(server);
    assert!(matches!(
        client.recv().await,
        Some(Err(Error::AbnormalClosure))
    ));
    assert!(client.recv().await.is_none());
}

#[tokio::test]
async fn protocol_error_is_reported_once_with_close_code() {
    let (mut raw, mut server) = server_with_raw_peer(&config(), 1024);
    // An unmasked frame from a "client".
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"\x81\x02hi")
        .await
        .unwrap();
    let error = server.recv().await.unwrap().unwrap_err();
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    assert!(server.recv().await.is_none());
    let mut reply = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut reply)
        .await
        .unwrap();
    assert_eq!(&reply[..4], b"\x88\x10\x03\xea", "close 1002 then EOF");
}

/// `future`, failing the test if it has not finished after a minute (of paused time).
async fn bounded<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("still waiting after a minute")
}

/// A server whose peer has stopped reading: 64 KiB queued that a 1 KiB pipe cannot take.
fn server_with_a_peer_that_does_not_read() -> (DuplexStream, WebSocket<DuplexStream>) {
    let (raw, mut server) = server_with_raw_peer(&config(), 1024);
    server.queue(Message::binary(vec![7u8; 64 << 10])).unwrap();
    (raw, server)
}

#[tokio::test(start_paused = true)]
async fn a_failure_gives_a_peer_that_does_not_read_the_close_timeout() {
    let (mut raw, mut server) = server_with_a_peer_that_does_not_read();
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"\x81\x02hi")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = bounded(server.recv()).await.unwrap().unwrap_err();
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert!(bounded(server.recv()).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_received_close_gives_a_peer_that_does_not_read_the_close_timeout() {
    let (mut raw, mut server) = server_with_a_peer_that_does_not_read();
    // A masked close frame, code 1000, key 0.
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"\x88\x82\0\0\0\0\x03\xe8")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    assert!(matches!(
        bounded(server.recv()).await,
        Some(Ok(Message::Close(_)))
    ));
    assert!(bounded(server.recv()).await.is_none());
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn our_close_to_a_peer_that_does_not_read_ends_at_the_close_timeout() {
    let (raw, mut server) = server_with_a_peer_that_does_not_read();
    let started = tokio::time::Instant::now();
    bounded(server.close(CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    drop(raw);
}

#[tokio::test(start_paused = true)]
async fn backpressure_holds_sends_until_the_peer_reads() {
    let config = config().write_buffer_size(16 << 10);
    let (a, b) = duplex(8 << 10);
    let (mut client, mut server) = pair_with(a, b, &config);
    let payload = Message::binary(vec![0u8; 4096]);
    // Nobody reads the server side: the pipe and then our buffer fill up.
    let mut sent = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), client.send(payload.clone())).await {
            Ok(result) => {
                result.unwrap();
                sent += 1;
            }
            Err(_elapsed) => break,
        }
        assert!(sent < 100, "send never waited");
    }
    assert!(
        client.connection().buffered_amount() + 4096 * 2 < 64 << 10,
        "memory stayed bounded"
    );
    // Once the server reads, everything arrives, in order and whole.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while let Some(Ok(Message::Binary(data))) = server.recv().await {
            assert_eq!(data.len(), 4096);
            n += 1;
        }
        n
    });
    client.flush().await.unwrap();
    client.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
    // The send that timed out had already queued its message (cancel safety), so it arrives.
    assert_eq!(reader.await.unwrap(), sent + 1);
}

/// A transport that counts the writes made through it.
struct CountWrites {
    inner: DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountWrites {
    fn new(inner: DuplexStream) -> Self {
        Self {
            inner,
            writes: Default::default(),
        }
    }
}

impl AsyncRead for CountWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if poll.is_ready() {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn answers_fed_to_a_burst_leave_in_one_write() {
    let (a, b) = duplex(1 << 20);
    let (a, b) = (CountWrites::new(a), CountWrites::new(b));
    let server_writes = b.writes.clone();
    let (mut client, mut server) = pair_with(a, b, &config());
    for i in 0..16 {
        client.queue(format!("m{i}")).unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(
        client
            .get_ref()
            .writes
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let echo = tokio::spawn(async move {
        for _ in 0..16 {
            let message = server.recv().await.unwrap().unwrap();
            server.feed(message).await.unwrap();
        }
        // Nothing is left to return: this `recv` writes the 16 answers, then waits.
        server.recv().await.unwrap().unwrap()
    });
    for i in 0..16 {
        let got = client.recv().await.unwrap().unwrap();
        assert_eq!(got, Message::text(format!("m{i}")));
    }
    client.send("done").await.unwrap();
    assert_eq!(echo.await.unwrap(), Message::text("done"));
    assert_eq!(server_writes.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn feed_waits_for_room_like_send() {
    let config = config().write_buffer_size(16 << 10);
    let (a, b) = duplex(8 << 10);
    let (mut client, _server) = pair_with(a, b, &config);
    let payload = Message::binary(vec![0u8; 4096]);
    let mut fed = 0;
    while tokio::time::timeout(Duration::from_secs(1), client.feed(payload.clone()))
        .await
        .is_ok()
    {
        fed += 1;
        assert!(fed < 100, "feed never waited");
    }
    // Past the mark by at most one message and its header.
    assert!(client.connection().buffered_amount() <= (16 << 10) + 4096 + 14);
}

#[tokio::test(start_paused = true)]
async fn keepalive_detects_a_dead_peer() {
    let config = config().keepalive(Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));
    let (mut client, _server_never_polled) = pair(&config);
    let started = tokio::time::Instant::now();
    let result = client.recv().await;
    assert!(
        matches!(result, Some(Err(Error::KeepaliveTimeout))),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn the_keepalive_timer_wakes_the_task_that_polls_now() {
    let config = config().keepalive(Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));
    let (client, _server_never_polled) = pair(&config);
    let started = tokio::time::Instant::now();
    // Another task polls the socket for a second, which sets the timer to wake it, and ends.
    let mut client = tokio::spawn(async move {
        let mut client = client;
        let waited = tokio::time::timeout(Duration::from_secs(1), client.recv()).await;
        assert!(waited.is_err(), "{waited:?}");
        client
    })
    .await
    .unwrap();
    // The timer must now wake this task, or the keepalive never fires.
    let result = bounded(client.recv()).await;
    assert!(
        matches!(result, Some(Err(Error::KeepaliveTimeout))),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn keepalive_measures_rtt_with_a_live_peer() {
    let config = config().keepalive(Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));
    let (mut client, mut server) = pair(&config);
    let server_task = tokio::spawn(async move { while server.recv().await.is_some() {} });
    // Both sides ping every 5 s; for 12 s the client sees only pings and pongs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    while let Ok(received) = tokio::time::timeout_at(deadline, client.recv()).await {
        let message = received.unwrap().unwrap();
        assert!(
            matches!(message, Message::Ping(_) | Message::Pong(_)),
            "{message:?}"
        );
    }
    assert!(client.rtt().is_some());
    client.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
    server_task.await.unwrap();
}

#[tokio::test]
async fn a_quiet_connection_holds_no_buffers() {
    let (mut client, mut server) = pair(&config());
    // Waiting for the first message takes no buffer.
    assert!(poll_then_drop(server.recv(), 1).await.is_none());
    assert_eq!(server.connection().read_buffer_capacity(), 0);

    for text in ["hello", "again"] {
        client.send(text).await.unwrap();
        // Written: the buffer the frame was queued in goes back to the pool.
        assert_eq!(client.connection().send_buffer_capacity(), 0);
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::text(text));
        server.send(text).await.unwrap();
        assert_eq!(server.connection().send_buffer_capacity(), 0);
        // Handled and answered, nothing more to read: the buffer the message came in (4 KiB,
        // of which 11 bytes were used) is given back.
        assert!(poll_then_drop(server.recv(), 1).await.is_none());
        assert_eq!(server.connection().read_buffer_capacity(), 0);
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text(text));
    }

    // A buffer that a large message grew (a client copies what it masks) is larger than the
    // pool keeps: the connection keeps it for its next large message, until its keepalive
    // ping frees it.
    client.send(vec![7u8; 100 << 10]).await.unwrap();
    assert!(client.connection().send_buffer_capacity() >= 100 << 10);
}

#[tokio::test]
async fn a_quiet_connection_keeps_the_bytes_of_an_unfinished_frame() {
    let (mut raw, mut server) = server_with_raw_peer(&config(), 1024);
    let key = [1, 2, 3, 4];
    let mut frame = vec![0x81, 0x85];
    frame.extend(key);
    frame.extend(b"hello".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    // The header and two bytes of payload: the connection waits with them buffered.
    tokio::io::AsyncWriteExt::write_all(&mut raw, &frame[..8])
        .await
        .unwrap();
    assert!(poll_then_drop(server.recv(), 1).await.is_none());
    assert!(server.connection().read_buffer_capacity() >= 2);
    tokio::io::AsyncWriteExt::write_all(&mut raw, &frame[8..])
        .await
        .unwrap();
    assert_eq!(
        server.recv().await.unwrap().unwrap(),
        Message::text("hello")
    );
}

#[tokio::test]
async fn split_halves_work_from_different_tasks() {
    let (client, mut server) = pair(&config());
    let (mut read, mut write) = client.split();
    let writer = tokio::spawn(async move {
        for i in 0..100 {
            write.send(format!("m{i}")).await.unwrap();
        }
        write
    });
    let echo = tokio::spawn(async move {
        while let Some(Ok(message)) = server.recv().await {
            if message.is_data() {
                server.send(message).await.unwrap();
            }
        }
    });
    for i in 0..100 {
        assert_eq!(
            read.recv().await.unwrap().unwrap(),
            Message::text(format!("m{i}"))
        );
    }
    let mut write = writer.await.unwrap();
    write
        .close(CloseCode::NORMAL_CLOSURE, "done")
        .await
        .unwrap();
    assert!(matches!(read.recv().await, Some(Ok(Message::Close(_)))));
    assert!(read.recv().await.is_none());
    echo.await.unwrap();
    let ws = read.reunite(write).unwrap();
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL_CLOSURE));
}

#[tokio::test]
async fn split_reader_answers_pings_while_the_writer_is_idle() {
    let (client, mut server) = pair(&config());
    let (mut read, _write) = client.split();
    server
        .send(Message::Ping(Bytes::from_static(b"x")))
        .await
        .unwrap();
    assert_eq!(
        read.recv().await.unwrap().unwrap(),
        Message::Ping(Bytes::from_static(b"x"))
    );
    assert_eq!(
        server.recv().await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"x"))
    );
}

/// A transport that reads and writes a few bytes at a time and returns `Pending` every other
/// call, to exercise partial I/O and cancellation between polls.
struct Trickle {
    inner: DuplexStream,
    read_tick: bool,
    write_tick: bool,
}

impl Trickle {
    fn new(inner: DuplexStream) -> Self {
        Self {
            inner,
            read_tick: false,
            write_tick: false,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.read_tick = !self.read_tick;
        if self.read_tick {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut small = [0u8; 3];
        let mut small_buf = ReadBuf::new(&mut small[..buf.remaining().min(3)]);
        let poll = Pin::new(&mut self.inner).poll_read(cx, &mut small_buf);
        buf.put_slice(small_buf.filled());
        poll
    }
}

impl AsyncWrite for Trickle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_tick = !self.write_tick;
        if self.write_tick {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = data.len().min(5);
        Pin::new(&mut self.inner).poll_write(cx, &data[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Polls `future` at most `polls` times, then drops it and yields to the runtime (so that
/// tokio's cooperative budget refills and the other task runs).
async fn poll_then_drop<F: std::future::Future>(future: F, polls: usize) -> Option<F::Output> {
    {
        let mut future = std::pin::pin!(future);
        for _ in 0..polls {
            if let Poll::Ready(out) = futures_util::poll!(future.as_mut()) {
                return Some(out);
            }
        }
    }
    tokio::task::yield_now().await;
    None
}

/// 40 messages of both kinds and many sizes, empty and multi-byte text among them.
fn varied_messages() -> Vec<Message> {
    (0..40)
        .map(|i| match i % 3 {
            0 => Message::text(format!("text {i} {}", "é".repeat(i))),
            1 => Message::binary(vec![i as u8; i * 37]),
            _ => Message::text(""),
        })
        .collect()
}

#[tokio::test]
async fn cancelled_reads_and_writes_lose_nothing() {
    let (a, b) = duplex(1 << 20);
    let (mut client, mut server) = pair_with(
        Trickle::new(a),
        Trickle::new(b),
        &config().compression(None),
    );
    let messages = varied_messages();

    // Sends: each future is dropped after a few polls and retried with `flush`, never resent.
    let to_send = messages.clone();
    let sender = tokio::spawn(async move {
        for (i, message) in to_send.into_iter().enumerate() {
            if poll_then_drop(client.send(message), 1 + i % 4)
                .await
                .is_none()
            {
                // Dropped mid-way: the message is queued whole; flushing (also cancellable)
                // must deliver it exactly once.
                while poll_then_drop(client.flush(), 3).await.is_none() {}
            }
        }
        while poll_then_drop(client.flush(), 2).await.is_none() {}
        client
    });

    // Receives: each recv future is dropped after a few polls; no message may be lost.
    let mut received = Vec::new();
    let mut polls = 1;
    while received.len() < messages.len() {
        polls = polls % 5 + 1;
        if let Some(result) = poll_then_drop(server.recv(), polls).await {
            received.push(result.unwrap().unwrap());
        }
    }
    assert_eq!(received, messages);
    let mut client = sender.await.unwrap();
    let closing = tokio::spawn(async move { while server.recv().await.is_some() {} });
    client.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
    closing.await.unwrap();
}

/// `recv_with` and the lent messages it takes every received message as.
mod lending {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use switchboard::{MessageRef, Outbox};

    /// Echoes every data message it is lent, and keeps owned copies of all of them.
    fn echo_into(seen: &mut Vec<Message>) -> impl FnMut(MessageRef<'_>, &mut Outbox<'_>) + '_ {
        |message, outbox| {
            if message.is_data() {
                outbox.send(message).unwrap();
            }
            seen.push(message.to_message());
        }
    }

    #[tokio::test]
    async fn a_burst_is_lent_in_one_call_and_answered_in_one_write() {
        let (a, b) = duplex(1 << 20);
        let (a, b) = (CountWrites::new(a), CountWrites::new(b));
        let server_writes = b.writes.clone();
        let (mut client, mut server) = pair_with(a, b, &config());
        for i in 0..16 {
            client.queue(format!("m{i}")).unwrap();
        }
        client
            .queue(Message::Ping(Bytes::from_static(b"ping")))
            .unwrap();
        client.flush().await.unwrap();
        let mut seen = Vec::new();
        let lent = server.recv_with(echo_into(&mut seen)).await;
        assert_eq!(lent.unwrap().unwrap(), 17);
        assert_eq!(seen[0], Message::text("m0"));
        assert_eq!(seen[16], Message::Ping(Bytes::from_static(b"ping")));
        // The 16 echoes and the pong left in one write, before `recv_with` returned.
        assert_eq!(server_writes.load(Ordering::Relaxed), 1);
        for i in 0..16 {
            let got = client.recv().await.unwrap().unwrap();
            assert_eq!(got, Message::text(format!("m{i}")));
        }
        let pong = client.recv().await.unwrap().unwrap();
        assert_eq!(pong, Message::Pong(Bytes::from_static(b"ping")));
    }

    #[tokio::test]
    async fn a_message_spanning_many_reads_is_lent_whole() {
        // Too big for one read: decoded as it arrives, then lent from the decoded copy.
        let (mut client, mut server) = pair(&config());
        let big = Message::binary(vec![7u8; 300_000]);
        client.send(big.clone()).await.unwrap();
        client.send("after it").await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            server
                .recv_with(echo_into(&mut seen))
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(seen, [big.clone(), Message::text("after it")]);
        assert_eq!(client.recv().await.unwrap().unwrap(), big);
        assert_eq!(
            client.recv().await.unwrap().unwrap(),
            Message::text("after it")
        );
    }

    #[tokio::test]
    async fn the_close_is_lent_then_the_connection_ends() {
        let (mut client, mut server) = pair(&config());
        let server_task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(lent) = server.recv_with(echo_into(&mut seen)).await {
                lent.unwrap();
            }
            (seen, server.close_code())
        });
        client.send("last").await.unwrap();
        client.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
        let (seen, code) = server_task.await.unwrap();
        assert_eq!(seen[0], Message::text("last"));
        assert!(matches!(&seen[1], Message::Close(Some(f)) if f.code == CloseCode::GOING_AWAY));
        assert_eq!(seen.len(), 2);
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
    }

    #[tokio::test]
    async fn a_protocol_error_is_reported_once_after_the_messages_before_it() {
        let (mut raw, mut server) = server_with_raw_peer(&config(), 1024);
        // A masked "hi" (key 0), then an unmasked frame, which a server must fail on.
        tokio::io::AsyncWriteExt::write_all(&mut raw, b"\x81\x82\0\0\0\0hi\x81\x02hi")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let first = server.recv_with(echo_into(&mut seen)).await;
        assert_eq!(first.unwrap().unwrap(), 1);
        assert_eq!(seen, [Message::text("hi")]);
        let error = server.recv_with(echo_into(&mut seen)).await;
        assert_eq!(
            error.unwrap().unwrap_err().close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert!(server.recv_with(echo_into(&mut seen)).await.is_none());
        let mut reply = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut reply)
            .await
            .unwrap();
        assert_eq!(&reply[..4], b"\x81\x02hi", "the echo, then the close frame");
        assert_eq!(&reply[4..8], b"\x88\x10\x03\xea");
    }

    #[tokio::test(start_paused = true)]
    async fn reading_stops_while_the_replies_cannot_be_written() {
        // The peer sends and never reads: once the echoes fill the pipe and the write buffer,
        // the server must stop reading rather than queue echoes without bound.
        let config = config().write_buffer_size(16 << 10);
        let (mut raw, mut server) = server_with_raw_peer(&config, 8 << 10);
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        let frame = masked_binary_4k();
        let writer = tokio::spawn(async move {
            for _ in 0..512 {
                tokio::io::AsyncWriteExt::write_all(&mut raw, &frame)
                    .await
                    .unwrap();
                counter.fetch_add(frame.len(), Ordering::Relaxed);
            }
            raw
        });
        let mut lent = 0;
        let mut echo = |message: MessageRef<'_>, outbox: &mut Outbox<'_>| {
            outbox.send(message).unwrap();
            lent += 1;
        };
        let serving = async {
            while let Some(result) = server.recv_with(&mut echo).await {
                result.unwrap();
            }
        };
        assert!(tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .is_err());
        let written = written.load(Ordering::Relaxed);
        assert!(!writer.is_finished(), "the peer's 2 MiB all went in");
        assert!(lent > 0);
        assert!(
            written < 256 << 10,
            "read {written} bytes of a peer that does not read"
        );
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_still_meets_the_keepalive_timeout() {
        // Held back by backpressure, the server must still ping, and give up on the peer
        // when no pong comes (RFC 6455 5.5.2).
        let config = config()
            .write_buffer_size(16 << 10)
            .keepalive(Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));
        let (mut raw, mut server) = server_with_raw_peer(&config, 8 << 10);
        let frame = masked_binary_4k();
        let writer = tokio::spawn(async move {
            loop {
                if tokio::io::AsyncWriteExt::write_all(&mut raw, &frame)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let started = tokio::time::Instant::now();
        let mut outcome = None;
        while let Some(result) = server
            .recv_with(|message, outbox| {
                let _ = outbox.send(message);
            })
            .await
        {
            if let Err(e) = result {
                outcome = Some(e);
                break;
            }
        }
        assert!(
            matches!(outcome, Some(Error::KeepaliveTimeout)),
            "{outcome:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // The stream then ends without waiting on the peer any longer.
        assert!(bounded(server.recv_with(|_, _| {})).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        writer.abort();
    }

    #[tokio::test]
    async fn cancelled_lending_loses_nothing() {
        let (a, b) = duplex(1 << 20);
        let (mut client, mut server) = pair_with(
            Trickle::new(a),
            Trickle::new(b),
            &config().compression(None),
        );
        let messages = varied_messages();
        let to_send = messages.clone();
        let sender = tokio::spawn(async move {
            for message in to_send {
                client.send(message).await.unwrap();
            }
            client
        });
        // Each `recv_with` future is dropped after a few polls; every message is lent once.
        let mut received = Vec::new();
        let mut polls = 1;
        while received.len() < messages.len() {
            polls = polls % 5 + 1;
            let lend = |message: MessageRef<'_>, _: &mut Outbox<'_>| {
                received.push(message.to_message());
            };
            if let Some(result) = poll_then_drop(server.recv_with(lend), polls).await {
                result.unwrap().unwrap();
            }
        }
        assert_eq!(received, messages);
        let mut client = sender.await.unwrap();
        let closing = tokio::spawn(async move { while server.recv().await.is_some() {} });
        client.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
        closing.await.unwrap();
    }
}
