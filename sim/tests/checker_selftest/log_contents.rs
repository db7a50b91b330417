//! What the log holds against what was sent: `duplicate`, `phantom` and `reorder`.

use crate::fixtures::{
    ack, attempt, check_with, closed, ended, facts, log_record, ms, only, plain_batch, request,
    send, tp, Fixture, Logs,
};
use bytes::Bytes;
use producer_core::TopicPartition;
use sim::checker::{Kind, ProducerFacts};
use sim::cluster::{LogBatch, LogRecord};
use sim::history::{digest_parts, Actor, AttemptRecord, FailKind, History, What};
use std::collections::BTreeMap;

/// The clean fixture of 3 records with record 1 stored twice (log 0 1 1 2)
/// and record 2's ack moved to offset 3.
fn record_1_stored_twice() -> Fixture {
    let mut f = Fixture::clean(3);
    f.log = vec![0, 1, 1, 2];
    f.move_ack(2, 3);
    f
}

/// [`record_1_stored_twice`] by a producer without idempotence, one request in flight.
fn record_1_stored_twice_without_idempotence() -> Fixture {
    let mut f = record_1_stored_twice();
    f.facts.idempotent = false;
    f.facts.max_in_flight = 1;
    f
}

#[test]
fn duplicate_record_stored_twice() {
    let f = record_1_stored_twice();
    let v = f.verdict();
    only(&v, Kind::Duplicate);
    assert_eq!(v.violations[0].offset, Some(2));
}

#[test]
fn duplicate_without_idempotence_after_a_retry_is_an_expected_anomaly() {
    let mut f = record_1_stored_twice_without_idempotence();
    // No retry in the history: still a violation.
    only(&f.verdict(), Kind::Duplicate);
    // With a retry: expected.
    f.history
        .push(ms(12), Actor::Producer(0), request(2, vec![attempt(3, 2)]));
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    assert_eq!(v.expected.len(), 1);
    assert_eq!(v.expected[0].kind, Kind::Duplicate);
}

#[test]
fn duplicate_after_the_broker_lost_the_producers_state_is_expected_with_its_cause() {
    use sim::broker::ledger::FaultEvent;
    // Both copies are stored at 15 ms (one batch in the fixture).
    let mut f = record_1_stored_twice();
    for (fault, explained) in [
        (FaultEvent::ExpireProducers(tp()), Some("expired")),
        (FaultEvent::WindowCut(tp()), Some("restart")),
        (FaultEvent::WindowCut(TopicPartition::new("other", 0)), None),
        (FaultEvent::Crash(0), None),
    ] {
        f.broker_faults = vec![(ms(15), fault.clone())];
        let v = f.verdict();
        match explained {
            Some(cause) => {
                assert!(v.passed(), "{fault:?}: {:?}", v.violations);
                assert_eq!(v.expected.len(), 1);
                assert_eq!(v.expected[0].kind, Kind::Duplicate);
                assert!(
                    v.expected[0].detail.contains(cause),
                    "{}",
                    v.expected[0].detail
                );
            }
            None => only(&v, Kind::Duplicate),
        }
    }
    // A loss after both copies explains nothing.
    f.broker_faults = vec![(ms(16), FaultEvent::ExpireProducers(tp()))];
    only(&f.verdict(), Kind::Duplicate);
}

#[test]
fn duplicate_without_idempotence_is_excused_only_for_the_record_that_was_retried() {
    let mut f = record_1_stored_twice_without_idempotence();
    // A retry of another batch (record 0 only) does not excuse record 1's copy.
    let mut retry = attempt(1, 2);
    retry.send_ids = vec![0];
    f.history
        .push(ms(12), Actor::Producer(0), request(2, vec![retry]));
    let v = f.verdict();
    only(&v, Kind::Duplicate);
    assert_eq!(v.violations[0].record, Some(1));
    assert!(v.expected.is_empty(), "{:?}", v.expected);
}

#[test]
fn phantom_record_nobody_sent() {
    let mut f = Fixture::clean(2);
    f.log = vec![0, 1, 7];
    only(&f.verdict(), Kind::Phantom);
}

#[test]
fn phantom_record_from_an_unknown_client() {
    let mut f = Fixture::clean(1);
    f.log.clear();
    f.edit(|w| matches!(w, What::Acked { .. }), None);
    f.history.push(
        ms(20),
        Actor::Producer(0),
        What::Failed {
            index: 0,
            error: "x".into(),
            kind: FailKind::NotWritten,
        },
    );
    let mut logs = f.logs();
    logs.get_mut(&tp()).unwrap().push(LogBatch {
        appended_at: ms(1),
        ..plain_batch("stranger", vec![log_record(0, 0)])
    });
    let v = check_with(&f.history, &logs, std::slice::from_ref(&f.facts), ms(100));
    only(&v, Kind::Phantom);
    assert!(v.violations[0].detail.contains("stranger"));
}

#[test]
fn reorder_within_one_producer_and_partition() {
    let mut f = Fixture::clean(3);
    f.log = vec![0, 2, 1];
    f.move_ack(1, 2);
    f.move_ack(2, 1);
    let v = f.verdict();
    only(&v, Kind::Reorder);
    // Without idempotence and with pipelining, Kafka allows it.
    f.facts.idempotent = false;
    assert!(f.verdict().passed());
}

#[test]
fn equal_records_retried_without_idempotence_are_no_reorder() {
    // Records with equal contents (N = null value, K = key k0), one producer
    // without idempotence, one request in flight. Batch [#2, #3] was written,
    // its answer lost, and written again: the log holds N N K N K N N K.
    let n = digest_parts(None, None, std::iter::empty());
    let k = digest_parts(Some(b"k0"), None, std::iter::empty());
    let h = equal_records_with_one_retry(&[n, n, k, n, n, k]);
    let logs = valueless_log(&[
        (None, n),
        (None, n),
        (Some("k0"), k),
        (None, n),
        (Some("k0"), k),
        (None, n),
        (None, n),
        (Some("k0"), k),
    ]);
    let facts = ProducerFacts {
        idempotent: false,
        max_in_flight: 1,
        quiet_limit: None,
        ..facts()
    };
    let v = check_with(&h, &logs, std::slice::from_ref(&facts), ms(5000));
    assert!(v.passed(), "{:?}", v.violations);
    assert_eq!(
        v.expected.len(),
        2,
        "the two copies of the retried batch: {:?}",
        v.expected
    );
}

/// Producer 0 sends records with the digests `sent` in batches of two, one
/// request at a time; the answer to the second batch ([#2, #3]) is lost and
/// its retry lands at offset 4. Every record is acked, then a clean close.
fn equal_records_with_one_retry(sent: &[u64]) -> History {
    let p = Actor::Producer(0);
    let mut h = History::default();
    for (i, d) in sent.iter().enumerate() {
        h.push(ms(i as u64), p, send(i, *d, 70));
    }
    let batch = |attempt: u32, ids: Vec<u64>| AttemptRecord {
        tp: tp(),
        first_send_id: ids[0],
        send_ids: ids,
        stamp: (-1, -1, -1),
        attempt,
        bytes: 100,
    };
    h.push(ms(10), p, request(1, vec![batch(1, vec![0, 1])]));
    h.push(ms(12), p, ended(0, Ok(0)));
    h.push(ms(20), p, request(1, vec![batch(1, vec![2, 3])]));
    h.push(ms(22), p, ended(2, Err(None)));
    h.push(ms(30), p, request(1, vec![batch(2, vec![2, 3])]));
    h.push(ms(32), p, ended(2, Ok(4)));
    h.push(ms(40), p, request(1, vec![batch(1, vec![4, 5])]));
    h.push(ms(42), p, ended(4, Ok(6)));
    for (i, offset) in [(0, 0), (1, 1), (2, 4), (3, 5), (4, 6), (5, 7)] {
        h.push(ms(50), p, ack(i, offset));
    }
    h.push(ms(60), p, What::Flushed { unresolved: 0 });
    h.push(ms(60), p, closed());
    h
}

/// Events/0 as one batch by producer-0 without idempotence: one record per
/// entry of `log` (its key; no value), offsets from 0. The digests only name
/// the content the keys stand for.
fn valueless_log(log: &[(Option<&'static str>, u64)]) -> Logs {
    let records = log
        .iter()
        .enumerate()
        .map(|(o, (key, _))| LogRecord {
            offset: o as i64,
            key: key.map(|k| Bytes::from_static(k.as_bytes())),
            value: None,
            headers: Vec::new(),
            timestamp: 0,
        })
        .collect();
    BTreeMap::from([(tp(), vec![plain_batch("producer-0", records)])])
}
