//! UTF-8 validation of text payloads (RFC 6455 8.1): the incremental `Utf8Validator` fed a
//! payload whole and in 100-byte pieces (as fragments or partial reads deliver it),
//! `Utf8Bytes::try_from` (whole-buffer validation into the proof type), and
//! `std::str::from_utf8` as the baseline, on ASCII and on mixed multi-byte text.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_main, Criterion, Throughput};
use switchboard_proto::{Utf8Bytes, Utf8Validator};

/// Pieces for the incremental case: small enough that multi-byte characters straddle piece
/// boundaries often, so the validator's carry-over path is exercised.
const PIECE: usize = 100;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

/// Typical ASCII payload: JSON.
const ASCII: &str = r#"{"type":"message","channel":"general","user":"ada","text":"see you at 10:30, bring the slides","ts":1718000000123},"#;

/// Mixed scripts: 1-, 2-, 3- and 4-byte sequences.
const MIXED: &str = "Grüße, κόσμε! Привет, мир. こんにちは世界 你好 🙂👍🏽 naïve café ✓ → ";

/// `len` bytes of valid UTF-8 made by repeating `pattern`: cut at the last character boundary
/// that fits, then padded with ASCII.
fn text(pattern: &str, len: usize) -> Vec<u8> {
    let mut s = pattern.repeat(len / pattern.len() + 1);
    let mut cut = len;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    while s.len() < len {
        s.push('.');
    }
    s.into_bytes()
}

fn validate_whole(bytes: &[u8]) -> bool {
    let mut v = Utf8Validator::new();
    v.feed(bytes).is_ok() && v.finish().is_ok()
}

fn validate_in_pieces(bytes: &[u8]) -> bool {
    let mut v = Utf8Validator::new();
    bytes.chunks(PIECE).all(|piece| v.feed(piece).is_ok()) && v.finish().is_ok()
}

fn utf8(c: &mut Criterion) {
    for (kind, pattern) in [("ascii", ASCII), ("mixed", MIXED)] {
        for (size, len) in [("16B", 16), ("1KiB", 1 << 10), ("64KiB", 64 << 10)] {
            let input = text(pattern, len);
            assert!(std::str::from_utf8(&input).is_ok());
            assert!(validate_whole(&input) && validate_in_pieces(&input));
            // A static buffer makes the clone below free (no reference count), so only the
            // validation is measured. Leaking a few KiB once per case is fine in a benchmark.
            let shared = Bytes::from_static(Vec::leak(input.clone()));

            let mut group = c.benchmark_group(format!("utf8/{kind}/{size}"));
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function("std::str::from_utf8", |b| {
                b.iter(|| std::str::from_utf8(black_box(&input)).is_ok())
            });
            group.bench_function("Utf8Bytes::try_from", |b| {
                b.iter(|| Utf8Bytes::try_from(black_box(&shared).clone()).is_ok())
            });
            group.bench_function("Utf8Validator/whole", |b| {
                b.iter(|| validate_whole(black_box(&input)))
            });
            if len > PIECE {
                group.bench_function("Utf8Validator/100B_pieces", |b| {
                    b.iter(|| validate_in_pieces(black_box(&input)))
                });
            }
            group.finish();
        }
    }
}

/// Every benchmark in this file, with the short settings of [`config`]. (Written out rather
/// than with `criterion_group!`, whose generated function has no doc comment.)
fn benches() {
    let mut c = config().configure_from_args();
    utf8(&mut c);
}

criterion_main!(benches);
