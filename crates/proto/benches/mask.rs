//! Unmasking (RFC 6455 5.3): the fast `apply_mask`, the byte-at-a-time reference
//! `apply_mask_scalar`, and a plain copy of a buffer of the same size, side by side in one
//! group per size so the ratios come from the same run.
//!
//! The copy is the floor: unmasking touches each byte once, as a copy does, so a good fast path
//! should land within a small factor of it. Masking works in place (one buffer read and
//! written) while the copy reads one buffer and writes another; at these sizes both fit in L2.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, BenchmarkGroup, Criterion, Throughput};
use switchboard_proto::mask::{apply_mask, apply_mask_scalar};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

/// Deterministic, non-uniform bytes (the content does not change the work, but zeros could
/// invite an allocator or a kernel to share pages).
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31) as u8)
        .collect()
}

/// The three contenders on `len` bytes starting `misalign` bytes into an allocation, with the
/// key phase `key_offset` bytes into the payload.
fn contenders(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    len: usize,
    misalign: usize,
    key_offset: usize,
) {
    group.throughput(Throughput::Bytes(len as u64));
    let src = payload(len + misalign);
    let mut dst = vec![0u8; len + misalign];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst[misalign..].copy_from_slice(black_box(&src[misalign..]));
            black_box(&mut dst);
        })
    });
    let mut buf = payload(len + misalign);
    group.bench_function("apply_mask", |b| {
        b.iter(|| apply_mask(black_box(&mut buf[misalign..]), black_box(KEY), key_offset))
    });
    group.bench_function("apply_mask_scalar", |b| {
        b.iter(|| apply_mask_scalar(black_box(&mut buf[misalign..]), black_box(KEY), key_offset))
    });
}

fn mask(c: &mut Criterion) {
    for (name, len) in [("16B", 16), ("1KiB", 1 << 10), ("64KiB", 64 << 10)] {
        let mut group = c.benchmark_group(format!("mask/{name}"));
        contenders(&mut group, len, 0, 0);
        group.finish();
    }
    // A payload right after a frame header in the read buffer seldom starts on a 16-byte
    // boundary, and a frame that arrives in pieces resumes mid-key: both at once here.
    let mut group = c.benchmark_group("mask/64KiB_misaligned_by_1_key_offset_1");
    contenders(&mut group, 64 << 10, 1, 1);
    group.finish();
}

/// Every benchmark in this file, with the short settings of [`config`]. (Written out rather
/// than with `criterion_group!`, whose generated function has no doc comment.)
fn benches() {
    let mut c = config().configure_from_args();
    mask(&mut c);
}

criterion_main!(benches);
