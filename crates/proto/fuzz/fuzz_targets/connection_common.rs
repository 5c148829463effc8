//! Shared driver for the connection targets: the input is split into reads (some taken by
//! lending), optionally ending in EOF, interleaved with sends, time passing and closes. The oracle: no panic, no hang, and
//! memory bounded by the configured limits.

use std::time::{Duration, Instant};

use bytes::Buf;
use switchboard_proto::{CloseCode, Config, Connection, Limits, Message};

/// Small limits so that the fuzzer reaches them.
pub fn config() -> Config {
    let mut config = Config::default();
    let mut limits = Limits::default();
    limits.max_frame_size = 4096;
    limits.max_message_size = 8192;
    limits.max_fragments = 64;
    config.limits = limits;
    config
}

pub fn drive(mut conn: Connection, data: &[u8]) {
    let start = Instant::now();
    let mut now = start;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 8 {
            // A read of up to 255 bytes: half of them lend what they complete, echoing the
            // data messages from the read buffer.
            0..=3 => {
                let n = usize::from(tail.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
                let chunk = rest.get(1..1 + n).unwrap_or(&[]);
                if op % 8 < 2 {
                    conn.receive_bytes(now, chunk);
                } else {
                    conn.read_buffer().extend_from_slice(chunk);
                    let mut lent = 0;
                    conn.receive_buffered_with(now, |message, outbox| {
                        assert!(message.len() <= 8192);
                        if message.is_data() {
                            let _ = outbox.send(message);
                        }
                        lent += 1;
                        assert!(lent < 100_000, "lending does not end");
                    });
                }
                rest = rest.get(1 + n..).unwrap_or(&[]);
            }
            4 => {
                let _ = conn.send(Message::binary(rest.iter().take(40).copied().collect::<Vec<_>>()));
            }
            5 => {
                let _ = conn.close(now, CloseCode::NORMAL_CLOSURE, "fuzz");
            }
            6 => {
                now += Duration::from_secs(u64::from(rest.first().copied().unwrap_or(1)));
                conn.handle_timeout(now);
            }
            _ => conn.receive_eof(),
        }
        // Poll everything, as an I/O layer would.
        let mut polled = 0;
        while let Ok(Some(message)) = conn.poll_event() {
            assert!(message.len() <= 8192);
            polled += 1;
            assert!(polled < 100_000, "event loop does not end");
        }
        // Part of what lies in one piece is written, as a short write would take it; then
        // the rest is taken.
        if let Some(bytes) = conn.peek_transmit() {
            let written = bytes.len().min(usize::from(rest.first().copied().unwrap_or(0)));
            conn.advance_transmit(written);
        }
        while let Some(mut out) = conn.poll_transmit() {
            out.advance(out.remaining());
        }
        if let Some(deadline) = conn.poll_timeout() {
            assert!(deadline >= start);
        }
    }
}
