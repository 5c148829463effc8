//! The connection's framing layer, end to end: a server `Connection` fed one buffer holding
//! many masked frames, and drained with `poll_event` (parse the header, unmask, validate text,
//! hand out the message); and the sending side, `send` then `poll_transmit`.
//!
//! Small frames measure the per-frame overhead (frames per second); 1 KiB and 64 KiB frames
//! measure the per-byte cost (bytes per second), next to a copy of the same wire bytes. One
//! connection serves every iteration: once it has handed out every message its buffer is empty
//! again, so each iteration sees the steady state of a long-lived connection.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use criterion::{criterion_main, BenchmarkGroup, Criterion, Throughput};
use switchboard_proto::frame::FrameHeader;
use switchboard_proto::mask::apply_mask;
use switchboard_proto::{Config, Connection, Message, OpCode, Utf8Bytes};

/// Small frames per buffer: about 22 KiB of wire bytes, a few large socket reads' worth.
const SMALL_FRAMES: usize = 1024;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// ASCII JSON-like text of exactly `len` bytes.
fn payload(len: usize) -> Vec<u8> {
    const TEXT: &[u8] = br#"{"type":"tick","symbol":"ABC","px":101.25,"qty":300},"#;
    TEXT.iter().copied().cycle().take(len).collect()
}

/// `count` masked frames with a `len`-byte payload each, as a client would send them.
fn wire(opcode: OpCode, len: usize, count: usize) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for i in 0..count {
        let key = [0x12, 0x34, 0x56, i as u8];
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(key),
            payload_len: len as u64,
        };
        header.encode(&mut buf);
        let start = buf.len();
        buf.extend_from_slice(&payload(len));
        apply_mask(&mut buf[start..], key, 0);
    }
    buf.to_vec()
}

/// Feeds `wire` to `server` and drains its events; returns how many messages came out.
fn receive(server: &mut Connection, now: Instant, wire: &[u8]) -> usize {
    server.receive_bytes(now, wire);
    let mut n = 0;
    while let Some(message) = server.poll_event().expect("valid frames") {
        black_box(&message);
        n += 1;
    }
    n
}

/// Benchmarks decoding `count` frames of `len` bytes, text and binary.
fn decode_frames(group: &mut Group<'_>, len: usize, count: usize) {
    let now = Instant::now();
    for (name, opcode) in [("text", OpCode::Text), ("binary", OpCode::Binary)] {
        let wire = wire(opcode, len, count);
        let mut server = Connection::server(Config::default(), now);
        assert_eq!(receive(&mut server, now, &wire), count, "{name} {len}");
        group.bench_function(name, |b| {
            b.iter(|| receive(&mut server, now, black_box(&wire)))
        });
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode/16B_frames");
    group.throughput(Throughput::Elements(SMALL_FRAMES as u64));
    decode_frames(&mut group, 16, SMALL_FRAMES);
    group.finish();

    for (name, len, count) in [("1KiB", 1 << 10, 64), ("64KiB", 64 << 10, 4)] {
        let mut group = c.benchmark_group(format!("decode/{name}_frames"));
        // Payload bytes: the headers add under 1%.
        group.throughput(Throughput::Bytes((len * count) as u64));
        let wire = wire(OpCode::Binary, len, count);
        let mut copy = vec![0u8; wire.len()];
        group.bench_function("memcpy_of_the_wire", |b| {
            b.iter(|| {
                copy.copy_from_slice(black_box(&wire));
                black_box(&mut copy);
            })
        });
        decode_frames(&mut group, len, count);
        group.finish();
    }
}

/// Sends `messages` and takes the wire bytes; returns their length.
fn transmit(conn: &mut Connection, messages: &[Message]) -> usize {
    for message in messages {
        conn.send(message.clone()).expect("open connection");
    }
    let out = conn.poll_transmit().expect("queued frames");
    black_box(out.remaining())
}

fn encode(c: &mut Criterion) {
    let now = Instant::now();
    let text = Utf8Bytes::try_from(Bytes::from(payload(16))).expect("ASCII");
    let texts = vec![Message::Text(text); SMALL_FRAMES];
    let binaries = vec![Message::Binary(Bytes::from(payload(16))); SMALL_FRAMES];

    let mut group = c.benchmark_group("encode/16B_messages");
    group.throughput(Throughput::Elements(SMALL_FRAMES as u64));
    for (name, messages) in [("server/text", &texts), ("server/binary", &binaries)] {
        let mut server = Connection::server(Config::default(), now);
        group.bench_function(name, |b| b.iter(|| transmit(&mut server, messages)));
    }
    // A client masks each frame as it copies the payload in; the key source is a constant here
    // so that only the framing is measured.
    let mut client = Connection::client(Config::default(), now, |buf: &mut [u8]| buf.fill(0x5a));
    group.bench_function("client/text", |b| b.iter(|| transmit(&mut client, &texts)));
    // One message per poll_transmit, as an echo server answering each message would.
    let mut server = Connection::server(Config::default(), now);
    group.bench_function("server/text/poll_each", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|m| transmit(&mut server, std::slice::from_ref(m)))
                .sum::<usize>()
        })
    });
    group.finish();
}

/// Every benchmark in this file, with the short settings of [`config`]. (Written out rather
/// than with `criterion_group!`, whose generated function has no doc comment.)
fn benches() {
    let mut c = config().configure_from_args();
    decode(&mut c);
    encode(&mut c);
}

criterion_main!(benches);
