//! Fan-out in user space: `Fanout::deliver` of one publication to N subscribers' outboxes,
//! then the drain each connection's task does (`Outbox::poll_take` until it is empty and
//! its waker is registered again), without sockets or a runtime. Throughput is in
//! deliveries, so criterion's elements/s is deliveries/s and time / N is the cost of one.
//!
//! Two cases per N:
//! - `warm`: deliver and drain back to back, everything in cache. The floor.
//! - `cold`: the caches are flushed (a 48 MiB buffer, more than this machine's 32 MiB L3,
//!   is written) before the deliver and again before the drain, outside the timed part. In
//!   a real server, thousands of connections' socket work runs between two publications and
//!   between a push and the task that takes it, so each subscriber's outbox is a cache miss
//!   on both sides; this case is the one that tracks `switchboard serve`.
//!
//! Each subscriber owns what a connection would: its outbox, its drain queue, a waker of its
//! own (a task's header is a separate allocation that a wake touches), and 2 KiB of other
//! state between them, so that subscribers sit on different pages as they do in a server.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_main, Criterion, SamplingMode, Throughput};
use switchboard_hub::broker::Delivery;
use switchboard_hub::history::{Payload, Publication};
use switchboard_hub::node::{Fanout, Item, Outbox, OutboxLimits, Receives, Taken};
use switchboard_hub::ChannelName;

/// Bytes written to flush the caches: more than the 32 MiB L3 of the machine in
/// docs/benchmarks.md.
const FLUSH_BYTES: usize = 48 << 20;

/// A task stand-in: waking sets a flag in an allocation of its own, with a read-modify-write
/// as tokio does on a task's state word (which, unlike a plain store, waits for the line).
struct Task(AtomicBool);

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.0.swap(true, Ordering::AcqRel);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.swap(true, Ordering::AcqRel);
    }
}

/// What one connection holds.
struct Subscriber {
    outbox: Arc<Outbox>,
    batch: VecDeque<Item>,
    waker: Waker,
    _state: Vec<u8>,
}

impl Subscriber {
    /// Takes everything waiting, then polls again to register the waker, as `Pump` does;
    /// returns how many deliveries it took.
    fn drain(&mut self) -> usize {
        let mut cx = Context::from_waker(&self.waker);
        let mut taken = 0;
        while let Poll::Ready(Taken::Items) = self.outbox.poll_take(&mut cx, &mut self.batch) {
            taken += self.batch.len();
            self.batch.clear();
        }
        taken
    }
}

struct Setup {
    fanout: Fanout,
    subscribers: Vec<Subscriber>,
    delivery: Arc<Delivery>,
}

fn setup(n: usize) -> Setup {
    let channel = ChannelName::new("bench").expect("a valid channel name");
    let fanout = Fanout::new();
    let subscribers: Vec<Subscriber> = (0..n)
        .map(|_| {
            let state = vec![1u8; 2048];
            let outbox = Arc::new(Outbox::new(OutboxLimits::default()));
            fanout.add(&channel, &outbox, Receives::Everything);
            let mut subscriber = Subscriber {
                outbox,
                batch: VecDeque::new(),
                waker: Waker::from(Arc::new(Task(AtomicBool::new(false)))),
                _state: state,
            };
            subscriber.drain();
            subscriber
        })
        .collect();
    let publication = Publication {
        offset: 1,
        data: Payload::Text(Bytes::from(vec![b'x'; 64])),
        info: None,
    };
    let delivery = Arc::new(Delivery::publication(channel, &publication, "epoch"));
    let mut setup = Setup {
        fanout,
        subscribers,
        delivery,
    };
    // Every subscriber gets the delivery exactly once.
    assert_eq!(setup.round(), (n, n));
    setup
}

impl Setup {
    fn deliver(&self) -> usize {
        self.fanout.deliver(Arc::clone(&self.delivery))
    }

    fn drain(&mut self) -> usize {
        self.subscribers.iter_mut().map(Subscriber::drain).sum()
    }

    fn round(&mut self) -> (usize, usize) {
        (self.deliver(), self.drain())
    }
}

/// Writes and reads a buffer larger than the last-level cache.
fn flush(buffer: &mut [u8]) {
    for chunk in buffer.chunks_mut(64) {
        chunk[0] = chunk[0].wrapping_add(1);
    }
    black_box(buffer);
}

fn fanout(c: &mut Criterion) {
    let mut buffer = vec![0u8; FLUSH_BYTES];
    for n in [1_000, 10_000] {
        let mut setup = setup(n);
        let mut group = c.benchmark_group(format!("fanout/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("warm", |b| b.iter(|| black_box(setup.round())));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.measurement_time(Duration::from_millis(if n < 10_000 { 300 } else { 1500 }));
        group.bench_function("cold", |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    flush(&mut buffer);
                    let started = Instant::now();
                    black_box(setup.deliver());
                    timed += started.elapsed();
                    flush(&mut buffer);
                    let started = Instant::now();
                    black_box(setup.drain());
                    timed += started.elapsed();
                }
                timed
            })
        });
        group.finish();
    }
}

/// Every benchmark in this file: 1 s of warm-up, 3 s of measurement, 30 samples, except
/// the cold cases, which flush the caches between timed parts and take fewer, shorter
/// samples so that the flushing does not take minutes. (Written out rather than with
/// `criterion_group!`, whose generated function has no doc comment.)
fn benches() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    fanout(&mut c);
}

criterion_main!(benches);
