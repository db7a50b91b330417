//! The black-box verdict of `sim serve` (no outcomes file): identity by
//! producer id and epoch, so two correct producers sharing one client id and
//! equal payloads pass; the broker's own anomalous answers (out of order,
//! fenced, misrouted) fail when no broker-side fault explains them, and are
//! expected anomalies when one does.

use bytes::Bytes;
use producer_core::record::Record;
use producer_core::wire::produce::{self, PartitionBatch};
use producer_core::{Config, Producer, TokioNetwork};
use sim::broker::{handle_frame, Reply};
use sim::checker::{judge_wire, Kind};
use sim::cluster::{Cluster, Injection};
use sim::serve::{Control, Server};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

mod support;
use support::{batch, spec, stored_sequences};

/// Produces `records` to partition `p` through broker `broker`, as client `client`.
fn produce_at(c: &mut Cluster, broker: i32, client: &str, p: i32, records: Bytes, at_ms: u64) {
    let frame = produce::encode_request(
        3,
        1,
        client,
        5_000,
        &[PartitionBatch {
            topic: "events",
            partition: p,
            records,
        }],
    );
    let body = Bytes::from(frame.to_vec()).slice(4..);
    match handle_frame(c, broker, body, Duration::from_millis(at_ms)) {
        Reply::Respond(_) | Reply::Hold(_) | Reply::Close(_) => {}
        Reply::Silent | Reply::Wait { .. } => panic!("acks=-1 is answered at once"),
    }
}

#[test]
fn two_correct_producers_with_one_client_id_and_equal_payloads_pass() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let served = local.block_on(&rt, async {
        let server = Server::bind(spec(1), "127.0.0.1", 0).await.unwrap();
        let bootstrap = server.bootstrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let serving = tokio::task::spawn_local(server.serve(Vec::new(), rx));
        let mut producers = Vec::new();
        for _ in 0..2 {
            let config = Config {
                bootstrap: vec![bootstrap.clone()],
                client_id: "one-client-id".into(),
                idempotence: true,
                ..Config::default()
            };
            producers.push(Producer::new(config, Arc::new(TokioNetwork)).unwrap());
        }
        let mut acks = Vec::new();
        for i in 0..300 {
            for p in &producers {
                let r = Record::new(format!("same-{}", i % 10)).with_key(format!("k{}", i % 3));
                acks.push(p.send("events", r).await);
            }
        }
        for a in acks {
            a.await.expect("acknowledged");
        }
        for p in &producers {
            p.close().await;
        }
        tx.send(Control::Stop).unwrap();
        serving.await.unwrap()
    });
    let report = judge_wire(&served.logs, &served.ledger);
    assert!(report.passed(), "{:?}", report.verdict.violations);
    let producing: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.producer_id.is_some())
        .collect();
    assert_eq!(
        producing.len(),
        2,
        "one row per producer id:\n{}",
        report.table()
    );
    assert!(producing
        .iter()
        .all(|r| r.records == 300 && r.client_id == "one-client-id"));
    assert!(report.table().contains("one-client-id"));
}

#[test]
fn an_out_of_order_answer_with_no_fault_fails_and_names_the_answer() {
    let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
    produce_at(&mut c, 0, "sarama", 0, batch(1000, 0, &["a", "b"]), 1);
    produce_at(&mut c, 0, "sarama", 0, batch(1000, 5, &["c"]), 2);
    let report = judge_wire(&c.logs(), &c.ledger);
    assert!(!report.passed());
    let v = &report.verdict.violations[0];
    assert_eq!(v.kind, Kind::OutOfOrderAnswer, "{v}");
    for needle in [
        "client `sarama`",
        "answered 45 (OUT_OF_ORDER_SEQUENCE_NUMBER)",
        "producer id 1000 epoch 0 sequence 5",
        "expected sequence 2",
    ] {
        assert!(v.detail.contains(needle), "`{needle}` missing in {v}");
    }
    let row = report
        .rows
        .iter()
        .find(|r| r.producer_id == Some(1000))
        .unwrap();
    assert_eq!((row.requests, row.batches, row.records), (2, 1, 2));
    assert_eq!(row.answers.get(&45), Some(&1));
    assert_eq!(row.violations.get("out_of_order_answer"), Some(&1));
}

#[test]
fn the_same_answer_after_a_lost_response_is_an_expected_anomaly() {
    let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
    c.inject("events", 1, Injection::LoseResponse, 1);
    produce_at(&mut c, 0, "c", 1, batch(1000, 0, &["a"]), 1);
    produce_at(&mut c, 0, "c", 0, batch(1000, 0, &["a", "b"]), 2);
    produce_at(&mut c, 0, "c", 0, batch(1000, 5, &["c"]), 3);
    let report = judge_wire(&c.logs(), &c.ledger);
    assert!(report.passed(), "{:?}", report.verdict.violations);
    assert_eq!(report.verdict.expected.len(), 1);
    assert!(
        report.verdict.expected[0]
            .detail
            .contains("after the injected lost response on events/1"),
        "{}",
        report.verdict.expected[0]
    );
}

#[test]
fn a_produce_to_a_broker_that_is_not_the_leader_is_misrouted_unless_a_leader_moved() {
    let mut c = Cluster::new(spec(2), |_| ("localhost".into(), 9092));
    let leader = c.partition("events", 0).unwrap().leader.unwrap();
    let other = 1 - leader;
    produce_at(&mut c, other, "c", 0, batch(1000, 0, &["a"]), 1);
    let report = judge_wire(&c.logs(), &c.ledger);
    let kinds: Vec<Kind> = report.verdict.violations.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, vec![Kind::Misrouted]);
    assert!(report.verdict.violations[0]
        .detail
        .contains(&format!("broker-{leader} leads it")));

    // After a leader move, a client's stale metadata explains it.
    let mut c = Cluster::new(spec(2), |_| ("localhost".into(), 9092));
    c.move_leader("events", 0, Duration::from_millis(1));
    c.run_elections(Duration::from_millis(200));
    let leader = c.partition("events", 0).unwrap().leader.unwrap();
    produce_at(&mut c, 1 - leader, "c", 0, batch(1000, 0, &["a"]), 300);
    let report = judge_wire(&c.logs(), &c.ledger);
    assert!(report.passed(), "{:?}", report.verdict.violations);
    assert_eq!(report.verdict.expected.len(), 1);
}

#[test]
fn a_sequence_reused_for_other_records_is_a_violation_even_after_a_fault() {
    // The retry of a batch whose response was lost is a true duplicate: passes.
    let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
    c.inject("events", 0, Injection::LoseResponse, 1);
    produce_at(&mut c, 0, "c", 0, batch(1000, 0, &["a", "b"]), 1);
    produce_at(&mut c, 0, "c", 0, batch(1000, 0, &["a", "b"]), 2);
    let report = judge_wire(&c.logs(), &c.ledger);
    assert!(report.passed(), "{:?}", report.verdict.violations);

    // Other records under the stored sequence: Kafka answers it as a
    // duplicate (success), the records are lost; the fault explains nothing.
    produce_at(&mut c, 0, "c", 0, batch(1000, 0, &["x", "y"]), 3);
    let report = judge_wire(&c.logs(), &c.ledger);
    let kinds: Vec<Kind> = report.verdict.violations.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, vec![Kind::SequenceReused]);
    let detail = &report.verdict.violations[0].detail;
    assert!(detail.contains("stored at offset 0"), "{detail}");
    assert_eq!(
        c.logs()
            .values()
            .flatten()
            .map(|b| b.records.len())
            .sum::<usize>(),
        2
    );
}

#[test]
fn a_refused_partition_state_holds_for_the_batches_pipelined_behind_it() {
    // NOT_LEADER_OR_FOLLOWER on a new producer's first batch: the batch
    // pipelined behind it meets the same state (as on a real Kafka), so the
    // retries in order store both, in order.
    for code in [5, 6, 19] {
        let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
        c.inject("events", 0, Injection::Error(code), 1);
        produce_at(&mut c, 0, "java", 0, batch(1000, 0, &["a", "b"]), 1);
        produce_at(&mut c, 0, "java", 0, batch(1000, 2, &["c"]), 2);
        assert!(stored_sequences(&c, 0).is_empty(), "code {code}");
        produce_at(&mut c, 0, "java", 0, batch(1000, 0, &["a", "b"]), 150);
        produce_at(&mut c, 0, "java", 0, batch(1000, 2, &["c"]), 151);
        assert_eq!(stored_sequences(&c, 0), vec![0, 2], "code {code}");
        let report = judge_wire(&c.logs(), &c.ledger);
        assert!(report.passed(), "{:?}", report.verdict.violations);
        let row = &report.rows[0];
        assert_eq!(row.answers.get(&code), Some(&2), "code {code}: {row:?}");
        assert_eq!(row.answers.get(&0), Some(&2), "code {code}: {row:?}");
    }
}

#[test]
fn a_refused_batch_refuses_only_itself_and_the_hole_it_leaves_is_the_faults() {
    // CORRUPT_MESSAGE is about one batch: Kafka takes the next one as the
    // unknown producer's first (any sequence, KIP-360), and the retry of the
    // refused batch is then out of order for as long as the client retries.
    let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
    c.inject("events", 0, Injection::Error(2), 1);
    produce_at(&mut c, 0, "java", 0, batch(1000, 0, &["a", "b"]), 1);
    produce_at(&mut c, 0, "java", 0, batch(1000, 2, &["c"]), 2);
    assert_eq!(stored_sequences(&c, 0), vec![2]);
    for at in (1_000..=61_000).step_by(1_000) {
        produce_at(&mut c, 0, "java", 0, batch(1000, 0, &["a", "b"]), at);
    }
    assert_eq!(stored_sequences(&c, 0), vec![2]);
    let report = judge_wire(&c.logs(), &c.ledger);
    assert!(report.passed(), "{:?}", report.verdict.violations);
    // 61 answers, and the log's sequence starting at 2.
    let kinds: Vec<Kind> = report.verdict.expected.iter().map(|v| v.kind).collect();
    assert_eq!(kinds.len(), 62, "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == Kind::OutOfOrderAnswer)
            .count(),
        61
    );
    assert!(kinds.contains(&Kind::Sequence), "{kinds:?}");

    // Without the injection the same answers are the client's.
    let mut c = Cluster::new(spec(1), |_| ("localhost".into(), 9092));
    produce_at(&mut c, 0, "java", 0, batch(1000, 2, &["c"]), 2);
    produce_at(&mut c, 0, "java", 0, batch(1000, 0, &["a", "b"]), 1_000);
    let report = judge_wire(&c.logs(), &c.ledger);
    let kinds: Vec<Kind> = report.verdict.violations.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, vec![Kind::Sequence, Kind::OutOfOrderAnswer]);
}
