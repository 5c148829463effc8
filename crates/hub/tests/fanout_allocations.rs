//! Fan-out allocates nothing per subscriber: a publication is encoded once, and handing it to
//! every subscriber's outbox and taking it out again only moves a shared pointer through
//! queues whose memory is kept from one publication to the next.
//!
//! Counted with dhat's heap usage testing, which counts every allocation of the process: so
//! this file holds one test, and nothing else runs while it counts.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use switchboard_hub::broker::Delivery;
use switchboard_hub::history::{Payload, Publication};
use switchboard_hub::node::{Fanout, Item, Outbox, OutboxLimits, Receives, Taken};
use switchboard_hub::ChannelName;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// One subscriber's side: its outbox, and the queue its connection's task drains into.
struct Subscriber {
    outbox: Arc<Outbox>,
    batch: VecDeque<Item>,
}

impl Subscriber {
    /// Takes everything waiting, as a connection's task does; returns how many it took.
    fn drain(&mut self) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken = 0;
        while let Poll::Ready(Taken::Items) = self.outbox.poll_take(&mut cx, &mut self.batch) {
            taken += self.batch.len();
            self.batch.clear();
        }
        taken
    }
}

/// Allocations made by `rounds` publications to `n` subscribers of one channel, once every
/// queue has reached its working size.
fn allocations_per_publication(n: usize, rounds: usize) -> u64 {
    let channel = ChannelName::new("news").expect("a valid channel name");
    let fanout = Fanout::new();
    let mut subscribers: Vec<Subscriber> = (0..n)
        .map(|_| {
            let outbox = Arc::new(Outbox::new(OutboxLimits::default()));
            fanout.add(&channel, &outbox, Receives::Everything);
            Subscriber {
                outbox,
                batch: VecDeque::new(),
            }
        })
        .collect();
    let publish = |offset: u64| {
        let publication = Publication {
            offset,
            data: Payload::Text(Bytes::from_static(br#"{"price":101.25}"#)),
            info: None,
        };
        Arc::new(Delivery::publication(
            channel.clone(),
            &publication,
            "epoch",
        ))
    };
    let before_warm_up = allocations();
    // Two publications to warm up: an outbox and its connection's queue swap places on each
    // take, so both have grown once the second one is through.
    for offset in 1..=2 {
        assert_eq!(fanout.deliver(publish(offset)), n);
        for subscriber in &mut subscribers {
            assert_eq!(subscriber.drain(), 1);
        }
    }
    // The counter is live: the first publications grew the queues.
    assert!(allocations() > before_warm_up);
    // The publications are encoded before counting: that is once per publication, whatever
    // the number of subscribers.
    let deliveries: Vec<_> = (3..3 + rounds as u64).map(publish).collect();
    let before = allocations();
    for delivery in deliveries {
        assert_eq!(fanout.deliver(delivery), n);
        for subscriber in &mut subscribers {
            assert_eq!(subscriber.drain(), 1);
        }
    }
    allocations() - before
}

#[test]
fn delivering_to_subscribers_allocates_nothing_per_subscriber() {
    let _profiler = dhat::Profiler::builder().testing().build();
    for n in [10, 1_000] {
        let made = allocations_per_publication(n, 20);
        dhat::assert_eq!(
            made,
            0,
            "{} allocations for 20 publications to {} subscribers",
            made,
            n
        );
    }
}
