use std::task::Waker;

use bytes::Bytes;

use super::*;
use crate::channel::ChannelName;
use crate::history::{Payload, Publication};

fn delivery(offset: u64, size: usize) -> Arc<Delivery> {
    let publication = Publication {
        offset,
        data: Payload::Text(Bytes::from(vec![b'x'; size])),
        info: None,
    };
    Arc::new(Delivery::publication(
        ChannelName::new("a").unwrap(),
        &publication,
        "e",
    ))
}

fn take(outbox: &Outbox) -> Poll<(Taken, Vec<Item>)> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut items = VecDeque::new();
    outbox
        .poll_take(&mut cx, &mut items)
        .map(|taken| (taken, items.into_iter().collect()))
}

fn offsets(items: &[Item]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Delivery(d) => d.position().map(|p| p.offset),
            Item::Disconnect { .. } => None,
        })
        .collect()
}

#[test]
fn takes_everything_queued_in_order() {
    let outbox = Outbox::new(OutboxLimits::default());
    assert!(take(&outbox).is_pending());
    for offset in 1..=3 {
        assert!(outbox.push(&delivery(offset, 10)));
    }
    let Poll::Ready((Taken::Items, items)) = take(&outbox) else {
        panic!("nothing taken")
    };
    assert_eq!(offsets(&items), [1, 2, 3]);
    assert!(take(&outbox).is_pending());
}

/// (max messages, max bytes, deliveries of this payload size, accepted before overflow)
#[test]
fn overflow_by_count_or_bytes() {
    let frame = delivery(1, 100).size();
    let table: &[(usize, usize, usize, usize)] = &[
        (3, usize::MAX, 10, 3),
        (1000, frame * 2, 10, 2),
        (1000, frame * 2 + frame / 2, 10, 2),
        (1, 1, 1, 0),
    ];
    for &(max_messages, max_bytes, pushes, accepted) in table {
        let outbox = Outbox::new(OutboxLimits {
            max_messages,
            max_bytes,
        });
        let results: Vec<bool> = (1..=pushes as u64)
            .map(|offset| outbox.push(&delivery(offset, 100)))
            .collect();
        let expected: Vec<bool> = (0..pushes).map(|i| i < accepted).collect();
        assert_eq!(results, expected, "limits ({max_messages}, {max_bytes})");
        assert!(matches!(take(&outbox), Poll::Ready((Taken::Overflowed, _))));
    }
}

#[test]
fn taking_makes_room_again() {
    let outbox = Outbox::new(OutboxLimits {
        max_messages: 2,
        max_bytes: usize::MAX,
    });
    for round in 0..3u64 {
        assert!(outbox.push(&delivery(round * 2 + 1, 1)));
        assert!(outbox.push(&delivery(round * 2 + 2, 1)));
        let Poll::Ready((Taken::Items, items)) = take(&outbox) else {
            panic!("round {round}: nothing taken")
        };
        assert_eq!(items.len(), 2);
    }
}

#[test]
fn disconnect_is_queued_after_deliveries_and_ignores_limits() {
    let outbox = Outbox::new(OutboxLimits {
        max_messages: 1,
        max_bytes: usize::MAX,
    });
    assert!(outbox.push(&delivery(1, 1)));
    outbox.disconnect(DisconnectCode::SHUTDOWN, "bye");
    let Poll::Ready((Taken::Items, items)) = take(&outbox) else {
        panic!("nothing taken")
    };
    assert_eq!(offsets(&items), [1]);
    assert!(matches!(
        &items[1],
        Item::Disconnect { code, reason } if *code == DisconnectCode::SHUTDOWN && reason == "bye"
    ));
}

#[test]
fn a_push_wakes_the_waiting_task() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let outbox = Outbox::new(OutboxLimits::default());
    let mut items = VecDeque::new();
    assert!(outbox
        .poll_take(&mut Context::from_waker(&waker), &mut items)
        .is_pending());
    outbox.push(&delivery(1, 1));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    // The waker is used once; a second push without a new poll does not wake again.
    outbox.push(&delivery(2, 1));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
}
