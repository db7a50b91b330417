//! The produce set's limits, overflow, memory and readiness, tested without a
//! runtime.

use super::*;
use crate::batch::record_len;

fn limits(batch_size: usize, max_message_bytes: usize) -> Limits {
    Limits {
        batch_size,
        max_message_bytes,
        max_request_size: 1 << 20,
        max_records: usize::MAX,
        linger: Duration::from_millis(10),
        client_id: "c".into(),
        compression: Compression::None,
        bugs: Default::default(),
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// A record whose second copy in a batch adds exactly `n` bytes.
fn value_of_len(n: usize) -> Record {
    Record::new(vec![b'x'; n])
}

/// A compressed batch a record overflows closes, and its records wait for
/// the driver to compress them (handed out once); a batch full by the
/// estimate closes at once (the Java client's `isFull`).
#[test]
fn closed_compressed_batches_wait_for_compression() {
    let mut l = limits(1000, 100_000);
    l.compression = Compression::Lz4;
    let mut set = ProduceSet::new(l);
    let now = Instant::START;
    let mut closed_at = None;
    for i in 0..40 {
        let added = set.add(&tp(), &value_of_len(100), 0, now, i).unwrap();
        assert!(!added.batch_full, "100 B records never hit 1000 B exactly");
        if added.closed_previous.is_some() {
            closed_at = Some(i);
            break;
        }
    }
    let closed_at = closed_at.expect("1000 B by the estimate (ratio 1.0) overflow");
    assert_eq!(set.take_to_compress().len(), 1);
    assert!(set.take_to_compress().is_empty(), "handed out once");
    let first = set.take_ready(&tp(), now, false).unwrap();
    assert_eq!(first.send_ids.len() as u64, closed_at);
    // One record of exactly the batch's estimated target fills it.
    let mut l = limits(200, 100_000);
    l.compression = Compression::Lz4;
    let mut set = ProduceSet::new(l);
    let mut n = 1;
    let added = loop {
        let r = value_of_len(n);
        if set.counted("t", single_record_batch_len(&r)) >= 200 {
            break set.add(&tp(), &r, 0, now, 0).unwrap();
        }
        n += 1;
    };
    assert!(added.batch_full);
    assert_eq!(set.take_to_compress().len(), 1, "closed at once");
    let next = set.add(&tp(), &value_of_len(1), 0, now, 1).unwrap();
    assert_eq!(next.index, 0, "the full batch took no more records");
    assert!(next.closed_previous.is_none(), "it was closed already");
}

#[test]
fn size_classes_round_up_by_at_most_an_eighth() {
    assert_eq!(size_class(4096), 4096);
    assert_eq!(size_class(100), 100);
    for n in [4097, 5000, 65_537, 1_000_000, 1_400_000, (1 << 20) + 1] {
        let c = size_class(n);
        assert!(c >= n && c - n <= n / 8, "{n} -> {c}");
        assert_eq!(size_class(c), c, "a class is its own class");
    }
    assert_eq!(size_class(1_400_000), 1_441_792, "11 steps of 128 KiB");
}

#[test]
fn overflow_boundaries_at_limit_minus_one_limit_and_plus_one() {
    let first = value_of_len(10);
    let base = single_record_batch_len(&first);
    let second = value_of_len(10);
    let grow = record_len(&second, 0, 1);
    let exact = base + grow;
    for (limit, expect) in [
        (exact - 1, Some(Overflow::MaxMessageBytes)),
        (exact, None),
        (exact + 1, None),
    ] {
        let mut set = ProduceSet::new(limits(usize::MAX, limit));
        let now = Instant::START;
        set.add(&tp(), &first, 0, now, 0).unwrap();
        assert_eq!(
            set.would_overflow(&tp(), &second, 0),
            expect,
            "limit {limit}"
        );
        let appended = set.add(&tp(), &second, 0, now, 1).unwrap();
        assert_eq!(appended.closed_previous, expect);
        assert_eq!(appended.index, if expect.is_some() { 0 } else { 1 });
    }
}

#[test]
fn record_exactly_at_the_limit_fits_alone_and_one_byte_more_fails() {
    let r = value_of_len(100);
    let size = single_record_batch_len(&r);
    let mut set = ProduceSet::new(limits(usize::MAX, size));
    set.add(&tp(), &r, 0, Instant::START, 0)
        .expect("exactly at the limit");
    let mut set = ProduceSet::new(limits(usize::MAX, size - 1));
    let err = set.add(&tp(), &r, 0, Instant::START, 0).unwrap_err();
    assert_eq!(
        err,
        Error::MessageTooLarge {
            size,
            limit: size - 1
        }
    );
    assert_eq!(set.buffered_records(), 0);
}

#[test]
fn an_oversize_record_does_not_disturb_the_batch_before_it() {
    let mut set = ProduceSet::new(limits(usize::MAX, 200));
    let now = Instant::START;
    set.add(&tp(), &value_of_len(5), 0, now, 0).unwrap();
    assert!(set.add(&tp(), &value_of_len(500), 0, now, 1).is_err());
    set.add(&tp(), &value_of_len(6), 0, now, 2).unwrap();
    let b = set.take_ready(&tp(), now, true).unwrap();
    assert_eq!(b.send_ids, vec![0, 2]);
}

#[test]
fn request_size_limit_binds_when_smaller_than_message_limit() {
    let mut l = limits(usize::MAX, 1 << 20);
    l.max_request_size = 500;
    let overhead = produce::single_batch_overhead("c", "t");
    assert_eq!(
        l.batch_limit("t"),
        (500 - overhead, Overflow::MaxRequestSize)
    );
    let r = value_of_len(400);
    let err = l.check_fits("t", &r).unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { limit, .. } if limit == 500 - overhead));
}

#[test]
fn batch_size_is_a_soft_target_and_records_limit_is_hard() {
    let r = value_of_len(50);
    let one = single_record_batch_len(&r);
    let mut set = ProduceSet::new(limits(one - 1, 10_000));
    let now = Instant::START;
    let a = set.add(&tp(), &r, 0, now, 0).unwrap();
    assert!(a.batch_full, "a batch past its target size is full");
    assert_eq!(set.buffered_bytes(), one);
    let b = set.add(&tp(), &r, 0, now, 1).unwrap();
    assert_eq!(b.closed_previous, Some(Overflow::BatchSize));

    let mut l = limits(usize::MAX, 10_000);
    l.max_records = 2;
    let mut set = ProduceSet::new(l);
    set.add(&tp(), &r, 0, now, 0).unwrap();
    assert!(set.add(&tp(), &r, 0, now, 1).unwrap().batch_full);
    assert_eq!(set.would_overflow(&tp(), &r, 0), Some(Overflow::MaxRecords));
}

#[test]
fn memory_is_charged_per_allocated_batch_not_per_record() {
    let mut l = limits(1000, 10_000);
    l.max_request_size = 1 << 20;
    let mut set = ProduceSet::new(l);
    let now = Instant::START;
    let r = value_of_len(10);
    assert_eq!(set.memory_for(&tp(), &r, 0), 1000, "a new batch");
    set.add(&tp(), &r, 0, now, 0).unwrap();
    assert_eq!(set.memory_for(&tp(), &r, 0), 0, "joins the open batch");
    set.add(&tp(), &r, 0, now, 1).unwrap();
    let big = value_of_len(3000);
    let own = single_record_batch_len(&big);
    assert_eq!(
        set.memory_for(&tp(), &big, 0),
        own,
        "larger than the target"
    );
    let refused = set.try_add(&tp(), &big, 0, now, 2, |need| {
        assert_eq!(need, own);
        Grant::Refused
    });
    assert!(refused.unwrap().is_none(), "not granted: nothing changed");
    assert_eq!(set.buffered_records(), 2);
    set.add(&tp(), &big, 0, now, 2).unwrap();
    assert_eq!(set.allocated_bytes(), 1000 + own);
    let first = set.take_ready(&tp(), now, true).unwrap();
    assert_eq!(first.memory, 1000);
    assert_eq!(first.builder.capacity(), 1000);
    // A kept buffer serves the next batch: it is charged its capacity.
    let _ = set.take_ready(&tp(), now, true).unwrap();
    let kept = bytes::BytesMut::with_capacity(1100);
    let reused = set.try_add(&tp(), &r, 0, now, 3, |need| {
        assert_eq!(need, 1000);
        Grant::Reused(kept)
    });
    assert!(reused.unwrap().is_some());
    assert_eq!(set.allocated_bytes(), 1100);
    let third = set.take_ready(&tp(), now, true).unwrap();
    assert_eq!((third.memory, third.builder.capacity()), (1100, 1100));
}

#[test]
fn a_passed_linger_deadline_does_not_hide_a_later_one() {
    // A partition whose linger ended may be waiting for something else (a
    // leader, a connection); the next deadline is another partition's.
    let mut set = ProduceSet::new(limits(usize::MAX, 10_000));
    let t0 = Instant::START;
    let other = TopicPartition::new("t", 1);
    set.add(&tp(), &value_of_len(1), 0, t0, 0).unwrap();
    let t1 = t0 + Duration::from_millis(20);
    set.add(&other, &value_of_len(1), 1, t1, 0).unwrap();
    assert_eq!(
        set.next_linger_deadline(t1),
        Some(t1 + Duration::from_millis(10))
    );
    assert_eq!(
        set.next_linger_deadline(t1 + Duration::from_millis(10)),
        None
    );
}

#[test]
fn linger_and_force_decide_readiness() {
    let mut set = ProduceSet::new(limits(usize::MAX, 10_000));
    let t0 = Instant::START;
    set.add(&tp(), &value_of_len(1), 0, t0, 0).unwrap();
    assert!(!set.is_ready(&tp(), t0, false));
    assert!(set.is_ready(&tp(), t0, true));
    assert_eq!(
        set.next_linger_deadline(t0),
        Some(t0 + Duration::from_millis(10))
    );
    assert!(set.is_ready(&tp(), t0 + Duration::from_millis(10), false));
    let b = set
        .take_ready(&tp(), t0 + Duration::from_millis(10), false)
        .unwrap();
    assert_eq!(b.accounted, b.builder.len());
    assert_eq!(set.buffered_records(), 0);
    assert_eq!(set.buffered_bytes(), 0);
    assert!(set.partitions().next().is_none());
}
