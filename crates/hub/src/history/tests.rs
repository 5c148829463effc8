use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn channel(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn options(size: usize) -> HistoryOptions {
    HistoryOptions { size, ttl: MINUTE }
}

/// A history with `appends` publications in channel `a` (data = offset as text), one per
/// second from `start`, and the position after them.
fn filled(appends: u64, size: usize, start: Instant) -> (MemoryHistory, StreamPosition) {
    let history = MemoryHistory::new(7, MINUTE);
    let mut position = history.position(&channel("a"), start);
    for i in 1..=appends {
        let at = start + Duration::from_secs(i);
        position = history.append(
            &channel("a"),
            Payload::Json(Bytes::from(i.to_string())),
            None,
            options(size),
            at,
        );
    }
    (history, position)
}

fn offsets(publications: &[Publication]) -> Vec<u64> {
    publications.iter().map(|p| p.offset).collect()
}

#[test]
fn offsets_start_at_one_and_increase_within_one_epoch() {
    let start = Instant::now();
    let history = MemoryHistory::new(1, MINUTE);
    let empty = history.position(&channel("a"), start);
    assert_eq!(empty.offset, 0);
    for expected in 1..=5 {
        let position = history.append(
            &channel("a"),
            Payload::Json(Bytes::new()),
            None,
            options(2),
            start,
        );
        assert_eq!(position.offset, expected);
        assert_eq!(position.epoch, empty.epoch);
    }
    // Channels have their own streams and epochs.
    let other = history.position(&channel("b"), start);
    assert_eq!(other.offset, 0);
    assert_ne!(other.epoch, empty.epoch);
}

/// (size, client offset, same epoch, limit, seconds after start, expected offsets or lost)
type RecoveryCase = (usize, u64, bool, Option<usize>, u64, Option<&'static [u64]>);

#[test]
fn recovery_table() {
    let start = Instant::now();
    // Ten publications at start+1s .. start+10s, each kept for a minute.
    let table: &[RecoveryCase] = &[
        (10, 10, true, None, 10, Some(&[])),
        (10, 7, true, None, 10, Some(&[8, 9, 10])),
        (
            10,
            0,
            true,
            None,
            10,
            Some(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ),
        // Ring of 3 holds 8..=10: offset 7 still reaches back, offset 6 does not.
        (3, 7, true, None, 10, Some(&[8, 9, 10])),
        (3, 6, true, None, 10, None),
        // Size 0 keeps nothing: only a client that missed nothing recovers.
        (0, 10, true, None, 10, Some(&[])),
        (0, 9, true, None, 10, None),
        // Another epoch, or an offset from the future, never recovers.
        (10, 10, false, None, 10, None),
        (10, 7, false, None, 10, None),
        (10, 11, true, None, 10, None),
        // The limit caps how many missed publications are recovered; beyond it, lost.
        (10, 7, true, Some(3), 10, Some(&[8, 9, 10])),
        (10, 6, true, Some(3), 10, None),
        // TTL: at start+63s, publications 1..=3 have expired (each lives a minute).
        (10, 3, true, None, 63, Some(&[4, 5, 6, 7, 8, 9, 10])),
        (10, 2, true, None, 63, None),
    ];
    for (case, &(size, offset, same_epoch, limit, at, expected)) in table.iter().enumerate() {
        let (history, top) = filled(10, size, start);
        let epoch = if same_epoch {
            top.epoch.clone()
        } else {
            "other".into()
        };
        let client = StreamPosition { offset, epoch };
        let now = start + Duration::from_secs(at);
        let got = history.since(&channel("a"), &client, limit, now);
        match (got, expected) {
            (Recovery::Recovered(slice), Some(expected)) => {
                assert_eq!(offsets(&slice.publications), expected, "case {case}");
                assert_eq!(slice.position, top, "case {case}");
            }
            (Recovery::Lost { position }, None) => assert_eq!(position, top, "case {case}"),
            (got, expected) => panic!("case {case}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn recovery_never_has_a_gap_or_a_duplicate() {
    // Every ring size, stream length and client offset: a recovery holds exactly the
    // publications after the client's offset, with their data.
    let start = Instant::now();
    for size in 0..5 {
        for appends in 0..8 {
            let (history, top) = filled(appends, size, start);
            for offset in 0..=appends + 1 {
                let client = StreamPosition {
                    offset,
                    epoch: top.epoch.clone(),
                };
                let now = start + Duration::from_secs(appends);
                let got = history.since(&channel("a"), &client, None, now);
                let Recovery::Recovered(slice) = got else {
                    continue;
                };
                let expected: Vec<u64> = (offset + 1..=appends).collect();
                assert_eq!(
                    offsets(&slice.publications),
                    expected,
                    "{size} {appends} {offset}"
                );
                for p in &slice.publications {
                    assert_eq!(p.data, Payload::Json(Bytes::from(p.offset.to_string())));
                }
            }
        }
    }
}

#[test]
fn a_stream_that_expired_comes_back_with_a_new_epoch() {
    let start = Instant::now();
    let (history, before) = filled(3, 10, start);
    // The last publication was at start+3s and lives a minute; the stream with it.
    let later = start + Duration::from_secs(3) + MINUTE;
    let after = history.position(&channel("a"), later);
    assert_eq!(after.offset, 0);
    assert_ne!(after.epoch, before.epoch);
    let recovery = history.since(&channel("a"), &before, None, later);
    assert_eq!(
        recovery,
        Recovery::Lost {
            position: after.clone()
        }
    );
    // The new stream's offsets start over, in the new epoch.
    let appended = history.append(
        &channel("a"),
        Payload::Json(Bytes::new()),
        None,
        options(10),
        later,
    );
    assert_eq!(
        appended,
        StreamPosition {
            offset: 1,
            epoch: after.epoch
        }
    );
}

#[test]
fn a_stream_only_read_expires_after_the_idle_ttl() {
    let start = Instant::now();
    let history = MemoryHistory::new(3, MINUTE);
    let first = history.position(&channel("a"), start);
    let still = history.position(&channel("a"), start + MINUTE / 2);
    assert_eq!(first, still);
    let renewed = history.position(&channel("a"), start + MINUTE);
    assert_ne!(first.epoch, renewed.epoch);
}

#[test]
fn epochs_depend_on_the_seed() {
    let now = Instant::now();
    let one = MemoryHistory::new(1, MINUTE).position(&channel("a"), now);
    let two = MemoryHistory::new(2, MINUTE).position(&channel("a"), now);
    let one_again = MemoryHistory::new(1, MINUTE).position(&channel("a"), now);
    assert_ne!(one.epoch, two.epoch);
    assert_eq!(one.epoch, one_again.epoch);
    assert_eq!(one.epoch.len(), 16);
}

#[test]
fn top_returns_the_latest_in_order() {
    let start = Instant::now();
    let (history, position) = filled(6, 4, start);
    let now = start + Duration::from_secs(6);
    let table: &[(usize, &[u64])] = &[
        (0, &[]),
        (2, &[5, 6]),
        (4, &[3, 4, 5, 6]),
        (9, &[3, 4, 5, 6]),
    ];
    for &(limit, expected) in table {
        let slice = history.top(&channel("a"), limit, now);
        assert_eq!(offsets(&slice.publications), expected, "limit {limit}");
        assert_eq!(slice.position, position);
    }
}

#[test]
fn purge_drops_expired_streams() {
    let start = Instant::now();
    let (history, _) = filled(2, 10, start);
    history.position(&channel("b"), start + MINUTE);
    assert_eq!(history.purge_expired(start + MINUTE), 2);
    assert_eq!(
        history.purge_expired(start + MINUTE + Duration::from_secs(2)),
        1
    );
    assert_eq!(history.purge_expired(start + 2 * MINUTE), 0);
}
