//! Echo load: each connection keeps `pipeline` messages in flight, and for every echo it
//! receives checks it, records its round-trip time and sends the next one.
//!
//! Latency comes from a per-connection FIFO of send instants: an echo server answers in
//! order, so the front of the FIFO is the message being answered. The FIFO also holds what
//! the echo must equal (a letters message's sequence number, a ticker message's bytes), so
//! every echo is compared byte for byte (a mismatch counts as an error).
//!
//! A connection's loop runs in one task and never waits on anything but its socket: it takes
//! every echo one read brought, lent from the read buffer (`recv_with`), queues one new
//! message per echo and writes them all at once, so with deep pipelines the load generator
//! makes as few system calls, and as little work per message, as it can.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use switchboard::{CloseCode, MaybeTlsStream, Message, MessageRef, Outbox, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::payload::{Composer, Payload, Sent};
use super::stats::{record, ConnStats};
use super::wire::Counted;
use super::Plan;

/// How long closing a connection at the end may take before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Sending at a fixed rate (`--echo-rate`) instead of as fast as echoes return: a connection
/// sends its `pipeline` messages in one burst, bursts are `interval` apart, and a burst waits
/// until the previous one is echoed. A connection may fall up to [`CATCH_UP`] behind and make
/// up for it; bursts it missed beyond that are dropped, so a server that cannot keep up shows
/// a lower rate in the report instead of a growing backlog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    interval: Duration,
    next: Instant,
}

impl Pace {
    /// The pace of connection `index` of `connections` at `rate` messages per second in all,
    /// starting at `start`: the connections' bursts are spread evenly over the interval.
    pub(crate) fn new(
        rate: f64,
        connections: usize,
        pipeline: usize,
        index: usize,
        start: Instant,
    ) -> Self {
        let interval = Duration::from_secs_f64((pipeline * connections) as f64 / rate);
        let offset = interval.mul_f64(index as f64 / connections as f64);
        Self {
            interval,
            next: start + offset,
        }
    }

    /// When the next burst is due.
    fn due(&self) -> Instant {
        self.next
    }

    /// A burst went out at `now`: the next one is due an interval after this one was.
    fn sent(&mut self, now: Instant) {
        let floor = now.checked_sub(CATCH_UP).unwrap_or(now);
        self.next = (self.next + self.interval).max(floor);
    }
}

/// After a burst sent at `now`: arms `burst` for the next one and returns true, or, unpaced,
/// returns false (one burst starts the load, and every echo sends the next message).
fn next_burst(pace: &mut Option<Pace>, burst: Pin<&mut Sleep>, now: Instant) -> bool {
    match pace {
        Some(pace) => {
            pace.sent(now);
            burst.reset(pace.due().into());
            true
        }
        None => false,
    }
}

/// How far a paced connection may fall behind and still catch up. tokio's timers tick every
/// millisecond: a connection whose bursts are due more often than that sends them in bunches,
/// one tick's worth at a time, and keeps its rate on average.
const CATCH_UP: Duration = Duration::from_millis(2);

/// One connection's bookkeeping, shared by the WebSocket and raw TCP loops.
struct Tracker {
    composer: Composer,
    plan: Plan,
    seq: u64,
    in_flight: VecDeque<(Instant, Sent)>,
    stats: ConnStats,
}

impl Tracker {
    fn new(payload: Payload, plan: Plan, pipeline: usize) -> Self {
        Self {
            composer: Composer::new(payload),
            plan,
            seq: 0,
            in_flight: VecDeque::with_capacity(pipeline),
            stats: ConnStats::new(),
        }
    }

    /// The next message, lent, and remembered as sent now.
    fn next(&mut self, now: Instant) -> MessageRef<'_> {
        let sent = self.composer.compose(self.seq);
        self.seq += 1;
        let message = self.composer.message();
        if self.plan.measuring(now) {
            self.stats.sent += 1;
            self.stats.bytes_sent += message.as_bytes().len() as u64;
        }
        self.in_flight.push_back((now, sent));
        message
    }

    /// The next message, owned, and remembered as sent now.
    fn next_owned(&mut self, now: Instant) -> Message {
        self.next(now);
        self.composer.owned_message()
    }

    /// Checks an echo against the oldest message in flight and records it. Returns false if
    /// the connection should stop (an echo nobody sent).
    fn echoed(&mut self, echo: &[u8], now: Instant) -> bool {
        let Some((sent_at, sent)) = self.in_flight.pop_front() else {
            self.stats.error("received a message that was never sent");
            return false;
        };
        if self.plan.measuring(now) {
            self.stats.received += 1;
            self.stats.bytes_received += echo.len() as u64;
            record(&mut self.stats.latency, now - sent_at);
        }
        if !self.composer.matches(&sent, echo) {
            self.stats.error(format!(
                "echo differs from what was sent ({} bytes sent, {} received)",
                self.composer.len(&sent),
                echo.len()
            ));
        }
        self.plan.progress.add();
        true
    }
}

/// The WebSocket connections of a run: counted, for the bytes on the wire.
pub(crate) type CountedWs = WebSocket<Counted<MaybeTlsStream>>;

/// Runs the echo load on an open WebSocket until `plan.end`, then closes it.
pub(crate) async fn websocket(
    mut ws: CountedWs,
    payload: Payload,
    pipeline: usize,
    plan: Plan,
    pace: Option<Pace>,
) -> ConnStats {
    let mut tracker = Tracker::new(payload, plan.clone(), pipeline);
    if let Err(e) = websocket_loop(&mut ws, &mut tracker, pipeline, &plan, pace).await {
        tracker.stats.error(e);
        return tracker.stats;
    }
    // Echoes still in flight are discarded by the closing handshake.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(CloseCode::NORMAL_CLOSURE, "")).await;
    tracker.stats
}

async fn websocket_loop(
    ws: &mut CountedWs,
    tracker: &mut Tracker,
    pipeline: usize,
    plan: &Plan,
    mut pace: Option<Pace>,
) -> Result<(), String> {
    let paced = pace.is_some();
    let deadline = tokio::time::sleep_until(plan.end.into());
    let warmup = tokio::time::sleep_until(plan.warmup_end.into());
    // The first burst goes at once, or when this connection's pace says; paced, every burst.
    let first = pace.map_or_else(Instant::now, |pace| pace.due());
    let burst = tokio::time::sleep_until(first.into());
    tokio::pin!(deadline, warmup, burst);
    let mut bursting = true;
    // The wire counters when the measured window opened.
    let mut window_start = None;
    loop {
        let may_burst = bursting && tracker.in_flight.is_empty();
        // Every echo one read brought is lent here; unpaced, the next message for each is
        // queued at once, and `recv_with` writes them all in one go before it returns.
        let mut failure = None;
        // One clock reading for all the echoes of a read, as the raw TCP loop takes.
        let mut read_at = None;
        let on_echo = |message: MessageRef<'_>, outbox: &mut Outbox<'_>| {
            if failure.is_some() {
                return;
            }
            match message {
                MessageRef::Text(_) | MessageRef::Binary(_) => {
                    let now = *read_at.get_or_insert_with(Instant::now);
                    if !tracker.echoed(message.as_bytes(), now) {
                        failure = Some("protocol confusion".to_string());
                        return;
                    }
                    if paced {
                        return;
                    }
                    if let Err(e) = outbox.send(tracker.next(now)) {
                        failure = Some(e.to_string());
                    }
                }
                MessageRef::Close(frame) => {
                    failure = Some(format!("the server closed the connection: {frame:?}"));
                }
                MessageRef::Ping(_) | MessageRef::Pong(_) => {}
            }
        };
        let received = tokio::select! {
            biased;
            () = &mut deadline => break,
            () = &mut warmup, if window_start.is_none() => {
                window_start = Some(ws.get_ref().totals());
                continue;
            }
            () = &mut burst, if may_burst => {
                let now = Instant::now();
                for _ in 0..pipeline {
                    let message = tracker.next_owned(now);
                    ws.queue(message).map_err(|e| e.to_string())?;
                }
                ws.flush().await.map_err(|e| e.to_string())?;
                bursting = next_burst(&mut pace, burst.as_mut(), now);
                continue;
            }
            received = ws.recv_with(on_echo) => received,
        };
        match received {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => return Err("the server closed the connection".into()),
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
    }
    if let Some(start) = window_start {
        tracker.stats.wire = Some(ws.get_ref().totals() - start);
    }
    Ok(())
}

/// Runs the echo load over raw TCP until `plan.end`. Framing is fixed-size: every message is
/// `payload.size` bytes each way, which is all an echo needs.
pub(crate) async fn raw_tcp(
    mut stream: TcpStream,
    payload: Payload,
    pipeline: usize,
    plan: Plan,
    pace: Option<Pace>,
) -> ConnStats {
    let mut tracker = Tracker::new(payload, plan.clone(), pipeline);
    if let Err(e) = raw_tcp_loop(&mut stream, &mut tracker, pipeline, &plan, pace).await {
        tracker.stats.error(e);
    }
    tracker.stats
}

async fn raw_tcp_loop(
    stream: &mut TcpStream,
    tracker: &mut Tracker,
    pipeline: usize,
    plan: &Plan,
    mut pace: Option<Pace>,
) -> Result<(), String> {
    // Raw TCP has no framing: every message is the same size (`--payload letters`).
    let size = tracker.composer.payload().fixed_size().unwrap_or(1).max(1);
    let mut out = BytesMut::with_capacity(size * pipeline);
    let mut input = BytesMut::with_capacity((size * pipeline).max(64 << 10));
    let deadline = tokio::time::sleep_until(plan.end.into());
    // As in the WebSocket loop: one burst at once, or a burst at every step of the pace.
    let first = pace.map_or_else(Instant::now, |pace| pace.due());
    let burst = tokio::time::sleep_until(first.into());
    tokio::pin!(deadline, burst);
    let mut bursting = true;
    loop {
        let may_burst = bursting && tracker.in_flight.is_empty();
        let read = tokio::select! {
            biased;
            () = &mut deadline => return Ok(()),
            () = &mut burst, if may_burst => {
                let now = Instant::now();
                for _ in 0..pipeline {
                    out.extend_from_slice(tracker.next(now).as_bytes());
                }
                stream.write_all(&out).await.map_err(|e| e.to_string())?;
                out.clear();
                bursting = next_burst(&mut pace, burst.as_mut(), now);
                continue;
            }
            read = stream.read_buf(&mut input) => read.map_err(|e| e.to_string())?,
        };
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        let now = Instant::now();
        while input.len() >= size {
            let echo = input.split_to(size);
            if !tracker.echoed(&echo, now) {
                return Err("protocol confusion".into());
            }
            if pace.is_none() {
                out.extend_from_slice(tracker.next(now).as_bytes());
            }
        }
        if input.capacity() < size {
            input.reserve(size.max(64 << 10));
        }
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_connections_spread_their_bursts_over_the_interval() {
        let start = Instant::now();
        // 10 connections x 16 messages at 1,000 messages/s: a burst every 160 ms each.
        let paces: Vec<Pace> = (0..10)
            .map(|i| Pace::new(1000.0, 10, 16, i, start))
            .collect();
        assert_eq!(paces[0].interval, Duration::from_millis(160));
        assert_eq!(paces[0].due(), start);
        assert_eq!(paces[5].due(), start + Duration::from_millis(80));
    }

    #[test]
    fn a_late_burst_keeps_the_schedule_within_the_catch_up_window() {
        let start = Instant::now();
        let mut pace = Pace::new(1000.0, 1, 1, 0, start);
        // Sent 1.5 ms late: the next burst is still due on the schedule, 1 ms after the first.
        pace.sent(start + Duration::from_micros(1500));
        assert_eq!(pace.due(), start + Duration::from_millis(1));
        // Far behind: the missed bursts beyond the catch-up window are dropped.
        let late = start + Duration::from_millis(50);
        pace.sent(late);
        assert_eq!(pace.due(), late - CATCH_UP);
    }
}
