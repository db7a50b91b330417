//! The checker against fabricated histories: a clean run passes, and each kind of
//! violation, planted on purpose, is reported with its producer, partition,
//! record and offset.

use bytes::Bytes;
use sim::checker::{check, CheckInput, Kind, ProducerFacts, Verdict};
use sim::cluster::{LogBatch, LogRecord};
use sim::history::{digest_parts, Actor, AttemptRecord, FailKind, History, Tp, What};
use std::collections::BTreeMap;
use std::time::Duration;

const TOPIC: &str = "events";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("value-{i}"))
}

fn digest(i: usize) -> u64 {
    digest_parts(None, Some(&value(i)), std::iter::empty())
}

/// A small world: producer 0 sends records 0..n to events/0.
struct Fixture {
    history: History,
    /// Log order: which record index sits at each offset.
    log: Vec<usize>,
    client: &'static str,
    facts: ProducerFacts,
    all_acked: bool,
    allowed: Vec<Kind>,
}

impl Fixture {
    /// Sends, one request, acks at offsets 0..n, a clean close.
    fn clean(n: usize) -> Self {
        let mut h = History::default();
        let p = Actor::Producer(0);
        for i in 0..n {
            h.push(
                ms(i as u64),
                p,
                What::Send {
                    index: i,
                    send_id: Some(i as u64),
                    partition: Some(0),
                    digest: digest(i),
                    batch_len: 80,
                },
            );
        }
        h.push(
            ms(10),
            p,
            What::BatchSealed {
                tp: tp(),
                first_send_id: 0,
                records: n,
                accounted: 100,
                encoded: 100,
                limit: 1000,
            },
        );
        h.push(
            ms(10),
            p,
            What::RequestSent {
                broker: 0,
                correlation_id: 1,
                bytes: 150,
                accounted: 150,
                limit: 2000,
                batches: vec![attempt(n, 1)],
            },
        );
        h.push(
            ms(20),
            p,
            What::AttemptEnded {
                tp: tp(),
                first_send_id: 0,
                outcome: Ok(0),
            },
        );
        for i in 0..n {
            h.push(
                ms(20),
                p,
                What::Acked {
                    index: i,
                    partition: 0,
                    offset: i as i64,
                },
            );
        }
        h.push(ms(30), p, What::Flushed { unresolved: 0 });
        h.push(
            ms(30),
            p,
            What::Closed {
                unresolved_futures: 0,
                unresolved_records: 0,
                buffered_bytes: 0,
                in_flight_requests: 0,
            },
        );
        Fixture {
            history: h,
            log: (0..n).collect(),
            client: "producer-0",
            facts: ProducerFacts {
                idempotent: true,
                max_in_flight: 5,
                max_message_bytes: 1000,
                max_request_size: 2000,
                batch_limit: 900,
                grace: ms(1000),
                requests_observed: true,
                quiet_limit: Some(ms(500)),
            },
            all_acked: false,
            allowed: Vec::new(),
        }
    }

    fn logs(&self) -> BTreeMap<Tp, Vec<LogBatch>> {
        let records = self
            .log
            .iter()
            .enumerate()
            .map(|(offset, &i)| LogRecord {
                offset: offset as i64,
                key: None,
                value: Some(value(i)),
                headers: Vec::new(),
                timestamp: 0,
            })
            .collect();
        let batch = LogBatch {
            base_offset: 0,
            client_id: self.client.into(),
            producer_id: 1000,
            producer_epoch: 0,
            base_sequence: 0,
            leader: 0,
            appended_at: ms(15),
            bytes: 100,
            request_bytes: 150,
            records,
        };
        BTreeMap::from([(tp(), vec![batch])])
    }

    fn verdict(&self) -> Verdict {
        let logs = self.logs();
        check(&CheckInput {
            history: &self.history,
            logs: &logs,
            topic: TOPIC,
            producers: std::slice::from_ref(&self.facts),
            last_fault: Duration::ZERO,
            end: ms(5000),
            allowed: &self.allowed,
            all_acked: self.all_acked,
        })
    }

    /// Replaces every entry matching `pred` with `with` (or removes it).
    fn edit(&mut self, pred: impl Fn(&What) -> bool, with: Option<What>) {
        let mut out = Vec::new();
        for e in std::mem::take(&mut self.history.entries) {
            if pred(&e.what) {
                if let Some(w) = &with {
                    out.push(sim::history::Entry {
                        what: w.clone(),
                        ..e
                    });
                }
            } else {
                out.push(e);
            }
        }
        self.history.entries = out;
    }
}

fn tp() -> Tp {
    (TOPIC.to_string(), 0)
}

fn attempt(n: usize, attempt: u32) -> AttemptRecord {
    AttemptRecord {
        tp: tp(),
        first_send_id: 0,
        send_ids: (0..n as u64).collect(),
        stamp: (1000, 0, 0),
        attempt,
        bytes: 100,
    }
}

fn acked(index: usize) -> impl Fn(&What) -> bool {
    move |w| matches!(w, What::Acked { index: i, .. } if *i == index)
}

fn only(v: &Verdict, kind: Kind) {
    assert!(
        !v.violations.is_empty(),
        "expected a `{}` violation, got none",
        kind.name()
    );
    for x in &v.violations {
        assert_eq!(x.kind, kind, "unexpected violation: {x}");
        assert!(
            x.producer.is_some() || kind == Kind::Phantom,
            "names the producer: {x}"
        );
    }
}

/// A send never resolved and the producer went quiet with it: `unresolved`
/// for the record, `stalled` for the silence until the run ended.
fn unresolved_and_asleep(v: &Verdict) {
    let kinds: Vec<Kind> = v.violations.iter().map(|x| x.kind).collect();
    assert!(kinds.contains(&Kind::Unresolved), "{kinds:?}");
    assert!(kinds.contains(&Kind::Stalled), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, Kind::Unresolved | Kind::Stalled)),
        "{kinds:?}"
    );
}

#[test]
fn a_clean_history_passes() {
    let v = Fixture::clean(3).verdict();
    assert!(v.passed(), "{:?}", v.violations);
    assert!(v.expected.is_empty());
}

#[test]
fn lost_acked_record_absent_from_the_log() {
    let mut f = Fixture::clean(3);
    f.log.pop();
    let v = f.verdict();
    only(&v, Kind::Lost);
    let x = &v.violations[0];
    assert_eq!(
        (x.record, x.offset, x.tp.clone()),
        (Some(2), Some(2), Some(tp()))
    );
    assert!(
        x.to_string()
            .contains("producer-0 events/0 record #2 offset 2"),
        "{x}"
    );
}

#[test]
fn offset_mismatch_when_an_ack_names_another_records_offset() {
    let mut f = Fixture::clean(3);
    f.edit(
        acked(1),
        Some(What::Acked {
            index: 1,
            partition: 0,
            offset: 2,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::OffsetMismatch);
    assert!(
        v.violations
            .iter()
            .any(|x| x.detail.contains("same offset")),
        "two acks at one offset"
    );
}

#[test]
fn offset_mismatch_when_the_offset_holds_another_producers_record() {
    // The Sarama symptom: an ack pointing at another producer's write.
    let mut f = Fixture::clean(1);
    f.client = "producer-1";
    let facts = f.facts.clone();
    let logs = f.logs();
    let producers = [facts.clone(), facts];
    let mut h = f.history.clone();
    h.push(
        ms(30),
        Actor::Producer(1),
        What::Closed {
            unresolved_futures: 0,
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 0,
        },
    );
    let v = check(&CheckInput {
        history: &h,
        logs: &logs,
        topic: TOPIC,
        producers: &producers,
        last_fault: Duration::ZERO,
        end: ms(100),
        allowed: &[],
        all_acked: false,
    });
    assert!(
        v.violations
            .iter()
            .any(|x| x.kind == Kind::OffsetMismatch && x.detail.contains("producer-1's")),
        "{:?}",
        v.violations
    );
}

#[test]
fn duplicate_record_stored_twice() {
    let mut f = Fixture::clean(3);
    f.log = vec![0, 1, 1, 2];
    f.edit(
        acked(2),
        Some(What::Acked {
            index: 2,
            partition: 0,
            offset: 3,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::Duplicate);
    assert_eq!(v.violations[0].offset, Some(2));
}

#[test]
fn duplicate_without_idempotence_after_a_retry_is_an_expected_anomaly() {
    let mut f = Fixture::clean(3);
    f.facts.idempotent = false;
    f.facts.max_in_flight = 1;
    f.log = vec![0, 1, 1, 2];
    f.edit(
        acked(2),
        Some(What::Acked {
            index: 2,
            partition: 0,
            offset: 3,
        }),
    );
    // No retry in the history: still a violation.
    only(&f.verdict(), Kind::Duplicate);
    // With a retry: expected.
    f.history.push(
        ms(12),
        Actor::Producer(0),
        What::RequestSent {
            broker: 0,
            correlation_id: 2,
            bytes: 150,
            accounted: 150,
            limit: 2000,
            batches: vec![attempt(3, 2)],
        },
    );
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    assert_eq!(v.expected.len(), 1);
    assert_eq!(v.expected[0].kind, Kind::Duplicate);
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
    f.edit(
        |w| matches!(w, What::Send { .. }),
        Some(What::Send {
            index: 0,
            send_id: Some(0),
            partition: Some(0),
            digest: digest(0),
            batch_len: 80,
        }),
    );
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
        base_offset: 0,
        client_id: "stranger".into(),
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        leader: 0,
        appended_at: ms(1),
        bytes: 100,
        request_bytes: 150,
        records: vec![LogRecord {
            offset: 0,
            key: None,
            value: Some(value(0)),
            headers: Vec::new(),
            timestamp: 0,
        }],
    });
    let v = check(&CheckInput {
        history: &f.history,
        logs: &logs,
        topic: TOPIC,
        producers: std::slice::from_ref(&f.facts),
        last_fault: Duration::ZERO,
        end: ms(100),
        allowed: &[],
        all_acked: false,
    });
    only(&v, Kind::Phantom);
    assert!(v.violations[0].detail.contains("stranger"));
}

#[test]
fn reorder_within_one_producer_and_partition() {
    let mut f = Fixture::clean(3);
    f.log = vec![0, 2, 1];
    f.edit(
        acked(1),
        Some(What::Acked {
            index: 1,
            partition: 0,
            offset: 2,
        }),
    );
    f.edit(
        acked(2),
        Some(What::Acked {
            index: 2,
            partition: 0,
            offset: 1,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::Reorder);
    // Without idempotence and with pipelining, Kafka allows it.
    f.facts.idempotent = false;
    assert!(f.verdict().passed());
}

#[test]
fn unresolved_send_and_missing_close() {
    let mut f = Fixture::clean(3);
    f.edit(acked(2), None);
    f.edit(|w| matches!(w, What::Closed { .. }), None);
    let v = f.verdict();
    unresolved_and_asleep(&v);
    assert!(v.violations.iter().any(|x| x.record == Some(2)));
    assert!(v
        .violations
        .iter()
        .any(|x| x.detail.contains("close never returned")));
}

#[test]
fn resolution_after_the_grace_period_is_a_liveness_violation() {
    let mut f = Fixture::clean(2);
    f.edit(
        acked(1),
        Some(What::Acked {
            index: 1,
            partition: 0,
            offset: 1,
        }),
    );
    let late = f
        .history
        .entries
        .iter_mut()
        .find(|e| matches!(e.what, What::Acked { index: 1, .. }))
        .unwrap();
    late.at = ms(2000);
    unresolved_and_asleep(&f.verdict());
}

#[test]
fn resolved_twice() {
    let mut f = Fixture::clean(2);
    f.history.push(
        ms(25),
        Actor::Producer(0),
        What::Failed {
            index: 0,
            error: "again".into(),
            kind: FailKind::NotWritten,
        },
    );
    only(&f.verdict(), Kind::ResolvedTwice);
}

#[test]
fn accounting_mismatch_oversize_batch_oversize_request_and_counters() {
    for broken in [
        What::BatchSealed {
            tp: tp(),
            first_send_id: 0,
            records: 1,
            accounted: 99,
            encoded: 100,
            limit: 1000,
        },
        What::BatchSealed {
            tp: tp(),
            first_send_id: 0,
            records: 1,
            accounted: 1001,
            encoded: 1001,
            limit: 1000,
        },
        What::RequestSent {
            broker: 0,
            correlation_id: 9,
            bytes: 2001,
            accounted: 2001,
            limit: 2000,
            batches: vec![],
        },
        What::RequestSent {
            broker: 0,
            correlation_id: 9,
            bytes: 150,
            accounted: 149,
            limit: 2000,
            batches: vec![],
        },
        What::Closed {
            unresolved_futures: 0,
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 1,
        },
    ] {
        let mut f = Fixture::clean(2);
        f.history.push(ms(11), Actor::Producer(0), broken.clone());
        let v = f.verdict();
        only(&v, Kind::Accounting);
        assert_eq!(v.violations.len(), 1, "{broken:?} -> {:?}", v.violations);
    }
}

#[test]
fn corrupt_batch_rejected_by_the_broker() {
    let mut f = Fixture::clean(1);
    f.history.push(
        ms(11),
        Actor::Producer(0),
        What::AttemptEnded {
            tp: tp(),
            first_send_id: 0,
            outcome: Err(Some(2)),
        },
    );
    only(&f.verdict(), Kind::Corrupt);
}

#[test]
fn not_acked_when_every_send_must_be() {
    let mut f = Fixture::clean(2);
    f.log.pop();
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "delivery timed out".into(),
            kind: FailKind::NotWritten,
        }),
    );
    assert!(f.verdict().passed(), "a failed send is fine by default");
    f.all_acked = true;
    only(&f.verdict(), Kind::NotAcked);
}

#[test]
fn mutated_record() {
    let mut f = Fixture::clean(1);
    f.history
        .push(ms(40), Actor::Producer(0), What::RecordMutated { index: 0 });
    only(&f.verdict(), Kind::Mutated);
}

#[test]
fn allowed_kinds_become_expected_anomalies() {
    let mut f = Fixture::clean(3);
    f.log.pop();
    f.allowed = vec![Kind::Lost];
    let v = f.verdict();
    assert!(v.passed());
    assert_eq!(v.expected[0].kind, Kind::Lost);
}

#[test]
fn oversize_records_must_fail_alone_as_too_large() {
    let send = |batch_len| What::Send {
        index: 1,
        send_id: Some(1),
        partition: Some(0),
        digest: digest(1),
        batch_len,
    };
    // An oversize record that was acknowledged anyway.
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Send { index: 1, .. }),
        Some(send(901)),
    );
    only(&f.verdict(), Kind::Accounting);

    // A record that fits, rejected as too large.
    let mut f = Fixture::clean(2);
    f.log.pop();
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "too large".into(),
            kind: FailKind::TooLarge,
        }),
    );
    only(&f.verdict(), Kind::Accounting);

    // The right outcome: oversize and rejected as too large, even with all_acked.
    f.edit(
        |w| matches!(w, What::Send { index: 1, .. }),
        Some(send(901)),
    );
    f.all_acked = true;
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
}

#[test]
fn sequence_gap_and_changed_retry_sequence() {
    let request = |first: u64, seq: i32, epoch: i16, attempt: u32| What::RequestSent {
        broker: 0,
        correlation_id: 7,
        bytes: 150,
        accounted: 150,
        limit: 2000,
        batches: vec![AttemptRecord {
            tp: tp(),
            first_send_id: first,
            send_ids: vec![first],
            stamp: (1000, epoch, seq),
            attempt,
            bytes: 80,
        }],
    };
    // Epoch 1 starting at 0 after epoch 0: fine. Epoch 2 starting at 5: the
    // Sarama #3354 shape, sequences not restarted after a bump.
    let mut f = Fixture::clean(1);
    f.history
        .entries
        .retain(|e| !matches!(e.what, What::RequestSent { .. }));
    for w in [
        request(0, 0, 0, 1),
        request(1, 1, 0, 1),
        request(1, 0, 1, 2),
        request(2, 5, 2, 1),
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
        .push(ms(12), Actor::Producer(0), request(0, 3, 0, 2));
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
fn duplicate_without_idempotence_is_excused_only_for_the_record_that_was_retried() {
    let mut f = Fixture::clean(3);
    f.facts.idempotent = false;
    f.facts.max_in_flight = 1;
    f.log = vec![0, 1, 1, 2];
    f.edit(
        acked(2),
        Some(What::Acked {
            index: 2,
            partition: 0,
            offset: 3,
        }),
    );
    // A retry of another batch (record 0 only) does not excuse record 1's copy.
    let mut retry = attempt(1, 2);
    retry.send_ids = vec![0];
    f.history.push(
        ms(12),
        Actor::Producer(0),
        What::RequestSent {
            broker: 0,
            correlation_id: 2,
            bytes: 150,
            accounted: 150,
            limit: 2000,
            batches: vec![retry],
        },
    );
    let v = f.verdict();
    only(&v, Kind::Duplicate);
    assert_eq!(v.violations[0].record, Some(1));
    assert!(v.expected.is_empty(), "{:?}", v.expected);
}

#[test]
fn a_record_failed_as_definitely_unwritten_but_in_the_log_is_reported() {
    let mut f = Fixture::clean(3);
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "broker error 10 MESSAGE_TOO_LARGE".into(),
            kind: FailKind::NotWritten,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::FailedButWritten);
    assert_eq!(v.violations[0].record, Some(1));
    // The same record with an unknown outcome may well be in the log.
    f.edit(
        |w| matches!(w, What::Failed { index: 1, .. }),
        Some(What::Failed {
            index: 1,
            error: "outcome unknown".into(),
            kind: FailKind::MaybeWritten,
        }),
    );
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // And a definite failure that is not in the log is fine.
    f.edit(
        |w| matches!(w, What::Failed { index: 1, .. }),
        Some(What::Failed {
            index: 1,
            error: "producer closed".into(),
            kind: FailKind::ProducerClosed,
        }),
    );
    f.log = vec![0, 2];
    f.edit(
        acked(2),
        Some(What::Acked {
            index: 2,
            partition: 0,
            offset: 1,
        }),
    );
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
}

#[test]
fn an_ack_without_an_offset_needs_the_record_in_its_partition() {
    let mut f = Fixture::clean(3);
    let no_offset = What::Acked {
        index: 2,
        partition: 0,
        offset: -1,
    };
    f.edit(acked(2), Some(no_offset));
    let v = f.verdict();
    assert!(
        v.passed(),
        "a duplicate answer has no offset: {:?}",
        v.violations
    );
    f.log = vec![0, 1];
    let v = f.verdict();
    only(&v, Kind::Lost);
    assert!(v.violations[0].detail.contains("without an offset"));
    // Invented offsets from a -1 base (-1, 0, 1, ...) are caught: 0 holds record 0.
    f.log = vec![0, 1, 2];
    f.edit(
        acked(1),
        Some(What::Acked {
            index: 1,
            partition: 0,
            offset: 0,
        }),
    );
    only(&f.verdict(), Kind::OffsetMismatch);
}

#[test]
fn flush_or_close_returning_with_unresolved_records_is_a_lifecycle_violation() {
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Flushed { .. }),
        Some(What::Flushed { unresolved: 2 }),
    );
    only(&f.verdict(), Kind::Lifecycle);
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Closed { .. }),
        Some(What::Closed {
            unresolved_futures: 1,
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 0,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::Lifecycle);
    assert!(
        v.violations[0].detail.contains("close()"),
        "{}",
        v.violations[0]
    );
}

/// Record `index` handed to `send` after `close()` returned, resolved with `outcome`.
fn send_after_close(f: &mut Fixture, index: usize, outcome: What) {
    let p = Actor::Producer(0);
    f.history.push(
        ms(40),
        p,
        What::Send {
            index,
            send_id: None,
            partition: None,
            digest: digest(index),
            batch_len: 80,
        },
    );
    f.history.push(ms(40), p, outcome);
}

#[test]
fn a_send_after_close_must_fail_with_producer_closed() {
    let mut f = Fixture::clean(2);
    send_after_close(
        &mut f,
        2,
        What::Failed {
            index: 2,
            error: "producer closed".into(),
            kind: FailKind::ProducerClosed,
        },
    );
    f.all_acked = true;
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    let mut f = Fixture::clean(2);
    send_after_close(
        &mut f,
        2,
        What::Failed {
            index: 2,
            error: "send waited 10s for buffer memory".into(),
            kind: FailKind::NotWritten,
        },
    );
    let v = f.verdict();
    only(&v, Kind::Lifecycle);
    assert!(v.violations[0].detail.contains("not \"producer closed\""));
}

#[test]
fn a_dropped_future_is_not_unresolved() {
    let mut f = Fixture::clean(3);
    f.edit(acked(1), Some(What::FutureDropped { index: 1 }));
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Without the drop, a missing resolution is a liveness violation.
    f.edit(|w| matches!(w, What::FutureDropped { .. }), None);
    unresolved_and_asleep(&f.verdict());
}

#[test]
fn batches_and_requests_are_measured_where_the_broker_received_them() {
    let f = Fixture::clean(2);
    let mut logs = f.logs();
    let verdict = |logs: &BTreeMap<Tp, Vec<LogBatch>>| {
        check(&CheckInput {
            history: &f.history,
            logs,
            topic: TOPIC,
            producers: std::slice::from_ref(&f.facts),
            last_fault: Duration::ZERO,
            end: ms(5000),
            allowed: &[],
            all_acked: false,
        })
    };
    assert!(verdict(&logs).passed());
    // The producer reports a 100-byte batch, but the broker got 1001 bytes.
    logs.get_mut(&tp()).unwrap()[0].bytes = 1001;
    let v = verdict(&logs);
    only(&v, Kind::Accounting);
    assert!(v.violations[0]
        .detail
        .contains("broker received a 1001-byte batch"));
    logs.get_mut(&tp()).unwrap()[0].bytes = 1000;
    logs.get_mut(&tp()).unwrap()[0].request_bytes = 2001;
    only(&verdict(&logs), Kind::Accounting);
}

#[test]
fn equal_records_retried_without_idempotence_are_no_reorder() {
    // Records with equal contents (N = null value, K = key k0), one producer
    // without idempotence, one request in flight. Batch [#2, #3] was written,
    // its answer lost, and written again: the log holds N N K N K N N K.
    let p = Actor::Producer(0);
    let n = digest_parts(None, None, std::iter::empty());
    let k = digest_parts(Some(b"k0"), None, std::iter::empty());
    let sent = [n, n, k, n, n, k];
    let mut h = History::default();
    for (i, d) in sent.iter().enumerate() {
        h.push(
            ms(i as u64),
            p,
            What::Send {
                index: i,
                send_id: Some(i as u64),
                partition: Some(0),
                digest: *d,
                batch_len: 70,
            },
        );
    }
    let request = |attempt: u32, ids: Vec<u64>| What::RequestSent {
        broker: 0,
        correlation_id: 1,
        bytes: 150,
        accounted: 150,
        limit: 2000,
        batches: vec![AttemptRecord {
            tp: tp(),
            first_send_id: ids[0],
            send_ids: ids,
            stamp: (-1, -1, -1),
            attempt,
            bytes: 100,
        }],
    };
    let ended = |first: u64, outcome| What::AttemptEnded {
        tp: tp(),
        first_send_id: first,
        outcome,
    };
    h.push(ms(10), p, request(1, vec![0, 1]));
    h.push(ms(12), p, ended(0, Ok(0)));
    h.push(ms(20), p, request(1, vec![2, 3]));
    h.push(ms(22), p, ended(2, Err(None)));
    h.push(ms(30), p, request(2, vec![2, 3]));
    h.push(ms(32), p, ended(2, Ok(4)));
    h.push(ms(40), p, request(1, vec![4, 5]));
    h.push(ms(42), p, ended(4, Ok(6)));
    for (i, offset) in [(0, 0), (1, 1), (2, 4), (3, 5), (4, 6), (5, 7)] {
        h.push(
            ms(50),
            p,
            What::Acked {
                index: i,
                partition: 0,
                offset,
            },
        );
    }
    h.push(ms(60), p, What::Flushed { unresolved: 0 });
    h.push(
        ms(60),
        p,
        What::Closed {
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 0,
            unresolved_futures: 0,
        },
    );
    let log = [
        (None, n),
        (None, n),
        (Some("k0"), k),
        (None, n),
        (Some("k0"), k),
        (None, n),
        (None, n),
        (Some("k0"), k),
    ];
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
    let logs = BTreeMap::from([(
        tp(),
        vec![LogBatch {
            base_offset: 0,
            client_id: "producer-0".into(),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            leader: 0,
            appended_at: ms(15),
            bytes: 100,
            request_bytes: 150,
            records,
        }],
    )]);
    let facts = ProducerFacts {
        idempotent: false,
        max_in_flight: 1,
        max_message_bytes: 1000,
        max_request_size: 2000,
        batch_limit: 900,
        grace: ms(1000),
        requests_observed: true,
        quiet_limit: None,
    };
    let v = check(&CheckInput {
        history: &h,
        logs: &logs,
        topic: TOPIC,
        producers: std::slice::from_ref(&facts),
        last_fault: Duration::ZERO,
        end: ms(5000),
        allowed: &[],
        all_acked: false,
    });
    assert!(v.passed(), "{:?}", v.violations);
    assert_eq!(
        v.expected.len(),
        2,
        "the two copies of the retried batch: {:?}",
        v.expected
    );
}

#[test]
fn more_requests_in_flight_than_allowed_is_reported() {
    let mut f = Fixture::clean(2);
    let extra = What::RequestSent {
        broker: 0,
        correlation_id: 2,
        bytes: 150,
        accounted: 150,
        limit: 2000,
        batches: vec![AttemptRecord {
            first_send_id: 1,
            ..attempt(1, 1)
        }],
    };
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
    let ended = |first, outcome| What::AttemptEnded {
        tp: tp(),
        first_send_id: first,
        outcome,
    };
    let inserted = [
        ended(0, Err(Some(10))),
        What::BatchSplit {
            tp: tp(),
            first_send_id: 0,
            parts: vec![0, 2],
        },
        What::RequestSent {
            broker: 0,
            correlation_id: 2,
            bytes: 150,
            accounted: 150,
            limit: 2000,
            batches: vec![part(0, vec![0, 1], 0), part(2, vec![2, 3], 2)],
        },
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
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Without the split, a batch starting inside the first one is a gap.
    f.edit(|w| matches!(w, What::BatchSplit { .. }), None);
    only(&f.verdict(), Kind::Sequence);
}

/// The clean fixture with its answer (and everything after it) moved to
/// `answer_at`: the producer is silent from its request at 10 ms until then.
fn answered_at(answer_at: Duration) -> Fixture {
    let mut f = Fixture::clean(3);
    for e in &mut f.history.entries {
        if e.at >= ms(20) {
            e.at = answer_at + (e.at - ms(20));
        }
    }
    f
}

#[test]
fn stalled_when_a_producer_with_unresolved_records_is_silent_past_its_quiet_limit() {
    // Quiet limit 0.5 s (the fixture's facts): 0.7 s without any event.
    let v = answered_at(ms(710)).verdict();
    only(&v, Kind::Stalled);
    assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    assert!(
        v.violations[0].detail.contains("3 unresolved"),
        "{}",
        v.violations[0]
    );
}

#[test]
fn no_stall_within_the_quiet_limit_or_with_nothing_unresolved() {
    let v = answered_at(ms(400)).verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Silent for long after everything resolved: idle, not stalled.
    let mut f = Fixture::clean(3);
    f.history.push(
        ms(4_900),
        Actor::Producer(0),
        What::Flushed { unresolved: 0 },
    );
    assert!(f.verdict().passed());
    // A real client's requests are not observed: no quiet limit, no rule.
    let mut f = answered_at(ms(710));
    f.facts.quiet_limit = None;
    assert!(f.verdict().passed());
}
