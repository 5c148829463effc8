//! permessage-deflate (RFC 7692) throughput through the `Extension` trait: compressing
//! (`encode`) and inflating (`decode_start`, `decode`, `decode_finish`) a stream of small JSON
//! messages (chat lines and price updates of about 200 bytes) and a 64 KiB JSON document, with
//! context takeover (the default) and without it (`*_no_context_takeover` negotiated).
//!
//! Throughput is in uncompressed bytes both ways, so encode and decode figures compare. The
//! extension comes from a real negotiation with the default `DeflateConfig` (level 1, 32 KiB
//! windows, 32-byte threshold). Compression ratios are printed to stderr at startup.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_main, Criterion, Throughput};
use switchboard_proto::extension::deflate::DeflateConfig;
use switchboard_proto::extension::{Extension, ExtensionConfig, ExtensionOffer, RSV1};

/// Messages in the small-message stream; one iteration sends or receives all of them.
const STREAM_MESSAGES: usize = 256;
/// The size of the JSON document.
const DOCUMENT: usize = 64 << 10;
/// The inflate limit: far above anything here, so it never trips.
const LIMIT: usize = 16 << 20;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

/// A tiny deterministic generator (xorshift64), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const USERS: &[&str] = &[
    "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis",
];
const CHANNELS: &[&str] = &["general", "random", "ops", "trading-desk", "support"];
/// Chat vocabulary, split on spaces.
const WORDS: &str = "the deploy is done can you check latency on eu-west looks fine now thanks \
                     see dashboard alert cleared after restart";
const SYMBOLS: &[&str] = &["BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD", "AAPL", "MSFT"];

/// One message of a realistic pub/sub stream: a chat line or a price update, about 200 bytes.
fn json_message(rng: &mut Rng, seq: u64) -> String {
    let ts = 1_718_000_000_000 + seq * 37 + rng.below(30);
    if rng.below(2) == 0 {
        let vocabulary: Vec<&str> = WORDS.split_whitespace().collect();
        let words: Vec<&str> = (0..6 + rng.below(8))
            .map(|_| rng.pick(&vocabulary))
            .collect();
        format!(
            r#"{{"type":"chat.message","channel":"{}","id":"msg-{:08x}","user":{{"id":{},"name":"{}"}},"text":"{}","mentions":[],"edited":false,"ts":{ts}}}"#,
            rng.pick(CHANNELS),
            rng.next() as u32,
            rng.below(100_000),
            rng.pick(USERS),
            words.join(" "),
        )
    } else {
        let price = 100_000 + rng.below(900_000);
        format!(
            r#"{{"type":"price.update","channel":"prices","symbol":"{}","bid":{}.{:02},"ask":{}.{:02},"size":{}.{:04},"change_24h":-{}.{:02},"market":"spot","venue":"x{}","seq":{seq},"ts":{ts}}}"#,
            rng.pick(SYMBOLS),
            price / 100,
            price % 100,
            price / 100,
            (price + 1 + rng.below(20)) % 100,
            rng.below(50),
            rng.below(10_000),
            rng.below(5),
            rng.below(100),
            rng.below(4),
        )
    }
}

fn json_stream() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..STREAM_MESSAGES as u64)
        .map(|seq| json_message(&mut rng, seq).into_bytes())
        .collect()
}

/// A JSON array of such messages, about `DOCUMENT` bytes (a history or snapshot response).
fn json_document() -> Vec<u8> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut doc = String::from("[");
    let mut seq = 0;
    while doc.len() < DOCUMENT - 300 {
        if seq > 0 {
            doc.push(',');
        }
        doc.push_str(&json_message(&mut rng, seq));
        seq += 1;
    }
    doc.push(']');
    doc.into_bytes()
}

/// A server-side extension negotiated from the default config, with or without context
/// takeover in both directions.
fn negotiate(context_takeover: bool) -> Box<dyn Extension> {
    let mut offer = ExtensionOffer::new("permessage-deflate");
    if !context_takeover {
        offer = offer
            .with_param("server_no_context_takeover", None)
            .with_param("client_no_context_takeover", None);
    }
    let (_, extension) = DeflateConfig::default()
        .server_accept(&[offer])
        .expect("the offer is acceptable");
    extension
}

/// Compresses each message in turn; returns the wire bytes of those sent compressed.
fn encode_all(ext: &mut dyn Extension, messages: &[Vec<u8>], out: &mut BytesMut) -> usize {
    let mut wire = 0;
    for message in messages {
        out.clear();
        if ext.encode(message, out).is_some() {
            wire += out.len();
        }
    }
    wire
}

/// Inflates each compressed message, as the connection feeds a message in one frame.
fn decode_all(ext: &mut dyn Extension, wire: &[Vec<u8>], out: &mut BytesMut) -> usize {
    let mut inflated = 0;
    for message in wire {
        out.clear();
        assert!(ext.decode_start(RSV1));
        ext.decode(message, out, LIMIT).expect("valid stream");
        ext.decode_finish(out, LIMIT).expect("valid stream");
        inflated += out.len();
    }
    inflated
}

/// One case: a set of messages, encoded and decoded with the given takeover setting.
fn case(c: &mut Criterion, name: &str, messages: &[Vec<u8>], context_takeover: bool) {
    let takeover = if context_takeover {
        "takeover"
    } else {
        "no_takeover"
    };
    // What a fresh peer sends: the wire payloads a decoder sees, from an encoder that starts
    // with an empty window. Replaying them on a decoder that has already seen them is valid:
    // back references never reach before the stream's first byte.
    let mut sender = negotiate(context_takeover);
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut out = BytesMut::new();
    for message in messages {
        out.clear();
        if sender.encode(message, &mut out).is_some() {
            wire.push(out.to_vec());
            sent.push(message);
        }
    }
    let plain: usize = sent.iter().map(|m| m.len()).sum();
    let total: usize = messages.iter().map(Vec::len).sum();
    let compressed: usize = wire.iter().map(Vec::len).sum();
    eprintln!(
        "deflate/{name}/{takeover}: {} of {} messages compressed (mean {} bytes), {plain} -> \
         {compressed} bytes ({:.1}%), {total} bytes in all",
        wire.len(),
        messages.len(),
        total / messages.len(),
        100.0 * compressed as f64 / plain.max(1) as f64,
    );

    let mut group = c.benchmark_group(format!("deflate/{name}/{takeover}"));
    group.throughput(Throughput::Bytes(total as u64));
    let mut encoder = negotiate(context_takeover);
    group.bench_function("encode", |b| {
        b.iter(|| encode_all(encoder.as_mut(), black_box(messages), &mut out))
    });
    group.throughput(Throughput::Bytes(plain as u64));
    let mut decoder = negotiate(context_takeover);
    // Twice, to check the replay argument above as well as the round trip.
    for _ in 0..2 {
        for (payload, message) in wire.iter().zip(&sent) {
            out.clear();
            assert!(decoder.decode_start(RSV1));
            decoder.decode(payload, &mut out, LIMIT).expect("valid");
            decoder.decode_finish(&mut out, LIMIT).expect("valid");
            assert_eq!(&out[..], &message[..], "{name}/{takeover}");
        }
    }
    group.bench_function("decode", |b| {
        b.iter(|| decode_all(decoder.as_mut(), black_box(&wire), &mut out))
    });
    group.finish();
}

fn deflate(c: &mut Criterion) {
    let stream = json_stream();
    let document = vec![json_document()];
    for context_takeover in [true, false] {
        case(c, "json_stream_200B", &stream, context_takeover);
        case(c, "json_document_64KiB", &document, context_takeover);
    }
}

/// Every benchmark in this file, with the short settings of [`config`]. (Written out rather
/// than with `criterion_group!`, whose generated function has no doc comment.)
fn benches() {
    let mut c = config().configure_from_args();
    deflate(&mut c);
}

criterion_main!(benches);
