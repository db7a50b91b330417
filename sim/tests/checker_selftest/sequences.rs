//! Sequence numbers and the in-flight window, in the history and the log: `sequence`, `in_flight`.

use crate::fixtures::{attempt, ended, ms, only, released, request, tp, Fixture};
use sim::checker::Kind;
use sim::history::{Actor, AttemptRecord, What};

#[test]
fn sequence_gap_and_changed_retry_sequence() {
    let numbered = |first: u64, seq: i32, epoch: i16, attempt: u32| {
        request(
            7,
            vec![AttemptRecord {
                tp: tp(),
                first_send_id: first,
                send_ids: vec![first],
                stamp: (1000, epoch, seq),
                attempt,
                bytes: 80,
            }],
        )
    };
    // Epoch 1 starting at 0 after epoch 0: fine. Epoch 2 starting at 5: the
    // Sarama #3354 shape, sequences not restarted after a bump.
    let mut f = Fixture::clean(1);
    f.history
        .entries
        .retain(|e| !matches!(e.what, What::RequestSent { .. }));
    for w in [
        numbered(0, 0, 0, 1),
        numbered(1, 1, 0, 1),
        numbered(1, 0, 1, 2),
        numbered(2, 5, 2, 1),
    ] {
        f.history.push(ms(11), Actor::Producer(0), w);
    }
    let v = f.verdict();
    only(&v, Kind::Sequence);
    assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    assert!(
        v.violations[0].detail.contains("expected 0"),
        "{}",
        v.violations[0]
    );

    // A retry under the same epoch with a new sequence.
    let mut f = Fixture::clean(1);
    f.history
        .push(ms(12), Actor::Producer(0), numbered(0, 3, 0, 2));
    only(&f.verdict(), Kind::Sequence);
}

#[test]
fn log_only_checks_find_duplicates_and_sequence_gaps() {
    let f = Fixture::clean(3);
    let mut logs = f.logs();
    assert!(
        sim::checker::check_logs(&logs).is_empty(),
        "a clean log passes"
    );
    let batch = logs.get_mut(&tp()).unwrap();
    // The same records under a new sequence prove nothing (a client may send
    // equal records); the same sequence stored again is a duplicate.
    let copy = |base_offset: i64, base_sequence: i32| {
        let mut again = batch[0].clone();
        again.base_offset = base_offset;
        again.base_sequence = base_sequence;
        for (i, r) in again.records.iter_mut().enumerate() {
            r.offset = base_offset + i as i64;
        }
        again
    };
    let (fresh, twice, gap) = (copy(3, 3), copy(6, 0), copy(9, 8));
    batch.extend([fresh, twice, gap]);
    let kinds: Vec<Kind> = sim::checker::check_logs(&logs)
        .iter()
        .map(|v| v.kind)
        .collect();
    assert_eq!(kinds, vec![Kind::Duplicate, Kind::Sequence], "{kinds:?}");
}

#[test]
fn more_requests_in_flight_than_allowed_is_reported() {
    let mut f = Fixture::clean(2);
    let extra = request(
        2,
        vec![AttemptRecord {
            first_send_id: 1,
            ..attempt(1, 1)
        }],
    );
    // Both requests outstanding at once, one allowed.
    f.facts.max_in_flight = 1;
    let ended = f
        .history
        .entries
        .iter()
        .position(|e| matches!(e.what, What::AttemptEnded { .. }))
        .unwrap();
    f.history.entries.insert(
        ended,
        sim::history::Entry {
            at: ms(10),
            who: Actor::Producer(0),
            what: extra,
        },
    );
    let v = f.verdict();
    assert!(
        v.violations.iter().any(|x| x.kind == Kind::InFlight),
        "{:?}",
        v.violations
    );
    // Two allowed: silent.
    f.facts.max_in_flight = 2;
    assert!(!f
        .verdict()
        .violations
        .iter()
        .any(|x| x.kind == Kind::InFlight));
    // Idempotence caps the window at 5 whatever max_in_flight says.
    let mut f = Fixture::clean(1);
    f.facts.max_in_flight = 9;
    for i in 0..6 {
        f.history.push(
            ms(11),
            Actor::Producer(0),
            What::RequestSent {
                broker: 1,
                correlation_id: 10 + i,
                bytes: 150,
                accounted: 150,
                limit: 2000,
                batches: Vec::new(),
            },
        );
    }
    let v = f.verdict();
    let x = v
        .violations
        .iter()
        .find(|x| x.kind == Kind::InFlight)
        .expect("in_flight");
    assert!(x.detail.contains("over the limit 5"), "{x}");
}

#[test]
fn the_parts_of_a_split_batch_keep_its_sequence_range() {
    let mut f = Fixture::clean(4);
    let p = Actor::Producer(0);
    let sealed_part = |first: u64| What::BatchSealed {
        tp: tp(),
        first_send_id: first,
        records: 2,
        accounted: 60,
        uncompressed: 60,
        encoded: 60,
        limit: 900,
        memory: 256,
    };
    let part = |first: u64, ids: Vec<u64>, seq: i32| AttemptRecord {
        first_send_id: first,
        send_ids: ids,
        stamp: (1000, 0, seq),
        attempt: 1,
        bytes: 60,
        ..attempt(4, 1)
    };
    let at = f
        .history
        .entries
        .iter()
        .position(|e| matches!(e.what, What::AttemptEnded { .. }))
        .unwrap();
    let inserted = [
        ended(0, Err(Some(10))),
        What::BatchSplit {
            tp: tp(),
            first_send_id: 0,
            parts: vec![0, 2],
        },
        sealed_part(0),
        sealed_part(2),
        request(2, vec![part(0, vec![0, 1], 0), part(2, vec![2, 3], 2)]),
        ended(0, Ok(0)),
    ];
    f.history.entries[at].what = ended(2, Ok(2));
    for (i, w) in inserted.into_iter().enumerate() {
        f.history.entries.insert(
            at + i,
            sim::history::Entry {
                at: ms(15),
                who: p,
                what: w,
            },
        );
    }
    // Each part gives back its half of the memory.
    f.edit(
        |w| matches!(w, What::MemoryReleased { .. }),
        Some(released(0, 256)),
    );
    let close = f
        .history
        .entries
        .iter()
        .position(|e| matches!(e.what, What::Flushed { .. }))
        .unwrap();
    f.history.entries.insert(
        close,
        sim::history::Entry {
            at: ms(21),
            who: p,
            what: released(2, 256),
        },
    );
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Without the split, a batch starting inside the first one is a gap.
    f.edit(|w| matches!(w, What::BatchSplit { .. }), None);
    only(&f.verdict(), Kind::Sequence);
}
