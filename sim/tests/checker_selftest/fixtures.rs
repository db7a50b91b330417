//! The fabricated world the checker is run against, and the assertions shared by every rule group.

use bytes::Bytes;
use producer_core::TopicPartition;
use sim::checker::{check, CheckInput, Kind, ProducerFacts, Verdict};
use sim::cluster::{LogBatch, LogRecord};
use sim::history::{digest_parts, Actor, AttemptRecord, History, What};
use std::collections::BTreeMap;
use std::time::Duration;

pub const TOPIC: &str = "events";

/// Final logs as the checker reads them: (topic, partition) -> batches.
pub type Logs = BTreeMap<TopicPartition, Vec<LogBatch>>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn value(i: usize) -> Bytes {
    Bytes::from(format!("value-{i}"))
}

pub fn digest(i: usize) -> u64 {
    digest_parts(None, Some(&value(i)), std::iter::empty())
}

/// A small world: producer 0 sends records 0..n to events/0.
pub struct Fixture {
    pub history: History,
    /// Log order: which record index sits at each offset.
    pub log: Vec<usize>,
    pub client: &'static str,
    pub facts: ProducerFacts,
    pub all_acked: bool,
    pub allowed: Vec<Kind>,
    pub broker_faults: Vec<(Duration, sim::broker::ledger::FaultEvent)>,
}

impl Fixture {
    /// Sends, one request, acks at offsets 0..n, a clean close.
    pub fn clean(n: usize) -> Self {
        let mut history = History::default();
        push_sends(&mut history, n);
        push_one_request(&mut history, n);
        push_acks_and_close(&mut history, n);
        Fixture {
            history,
            log: (0..n).collect(),
            client: "producer-0",
            facts: facts(),
            all_acked: false,
            allowed: Vec::new(),
            broker_faults: Vec::new(),
        }
    }

    pub fn logs(&self) -> Logs {
        let records = self
            .log
            .iter()
            .enumerate()
            .map(|(offset, &i)| log_record(offset as i64, i))
            .collect();
        let batch = LogBatch {
            producer_id: 1000,
            producer_epoch: 0,
            base_sequence: 0,
            ..plain_batch(self.client, records)
        };
        BTreeMap::from([(tp(), vec![batch])])
    }

    pub fn verdict(&self) -> Verdict {
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
            broker_faults: &self.broker_faults,
        })
    }

    /// Replaces every entry matching `pred` with `with` (or removes it).
    pub fn edit(&mut self, pred: impl Fn(&What) -> bool, with: Option<What>) {
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

    /// Record `index`'s ack now names `offset` (in partition 0).
    pub fn move_ack(&mut self, index: usize, offset: i64) {
        self.edit(acked(index), Some(ack(index, offset)));
    }
}

/// The clean fixture's sends: record `i` at `i` ms, send id `i`, partition 0.
fn push_sends(h: &mut History, n: usize) {
    for i in 0..n {
        h.push(ms(i as u64), Actor::Producer(0), send(i, digest(i), 80));
    }
}

/// The clean fixture's one batch of all `n` records: sealed and sent at 10 ms,
/// written at offset 0 by 20 ms.
fn push_one_request(h: &mut History, n: usize) {
    let p = Actor::Producer(0);
    h.push(
        ms(10),
        p,
        What::BatchSealed {
            tp: tp(),
            first_send_id: 0,
            records: n,
            accounted: 100,
            uncompressed: 100,
            encoded: 100,
            limit: 1000,
            memory: 512,
        },
    );
    h.push(ms(10), p, request(1, vec![attempt(n, 1)]));
    h.push(ms(20), p, ended(0, Ok(0)));
}

/// The clean fixture's end: every record acked at its own offset by 20 ms,
/// then a flush and a close at 30 ms.
fn push_acks_and_close(h: &mut History, n: usize) {
    let p = Actor::Producer(0);
    for i in 0..n {
        h.push(ms(20), p, ack(i, i as i64));
    }
    h.push(ms(20), p, released(0, 512));
    h.push(ms(30), p, What::Flushed { unresolved: 0 });
    h.push(ms(30), p, closed());
}

/// Batch `first_send_id` gave back `bytes` of buffer memory.
pub fn released(first_send_id: u64, bytes: usize) -> What {
    What::MemoryReleased {
        tp: tp(),
        first_send_id,
        bytes,
    }
}

/// The clean fixture's producer: idempotent, 5 requests in flight, requests
/// observed, a quiet limit of 0.5 s.
pub fn facts() -> ProducerFacts {
    ProducerFacts {
        idempotent: true,
        max_in_flight: 5,
        max_message_bytes: 1000,
        max_request_size: 2000,
        batch_limit: 900,
        grace: ms(1000),
        requests_observed: true,
        quiet_limit: Some(ms(500)),
    }
}

/// The checker on `history` and `logs` with no fault, nothing allowed and
/// failed sends accepted, the run ending at `end`.
pub fn check_with(
    history: &History,
    logs: &Logs,
    producers: &[ProducerFacts],
    end: Duration,
) -> Verdict {
    check(&CheckInput {
        history,
        logs,
        topic: TOPIC,
        producers,
        last_fault: Duration::ZERO,
        end,
        allowed: &[],
        all_acked: false,
        broker_faults: &[],
    })
}

pub fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

pub fn attempt(n: usize, attempt: u32) -> AttemptRecord {
    AttemptRecord {
        tp: tp(),
        first_send_id: 0,
        send_ids: (0..n as u64).collect(),
        stamp: (1000, 0, 0),
        attempt,
        bytes: 100,
    }
}

/// Record `index` handed to `send` and batched under send id `index` for partition 0.
pub fn send(index: usize, digest: u64, batch_len: usize) -> What {
    What::Send {
        index,
        send_id: Some(index as u64),
        partition: Some(0),
        digest,
        batch_len,
    }
}

/// A 150-byte request to broker 0, accounted as such, under the 2000-byte limit.
pub fn request(correlation_id: i32, batches: Vec<AttemptRecord>) -> What {
    What::RequestSent {
        broker: 0,
        correlation_id,
        bytes: 150,
        accounted: 150,
        limit: 2000,
        batches,
    }
}

/// The attempt of events/0's batch starting at send id `first_send_id` ended.
pub fn ended(first_send_id: u64, outcome: Result<i64, Option<i16>>) -> What {
    What::AttemptEnded {
        tp: tp(),
        first_send_id,
        outcome,
    }
}

/// Record `index` acked at `offset` of partition 0.
pub fn ack(index: usize, offset: i64) -> What {
    What::Acked {
        index,
        partition: 0,
        offset,
    }
}

/// A close with nothing unresolved, buffered or in flight.
pub fn closed() -> What {
    What::Closed {
        unresolved_futures: 0,
        unresolved_records: 0,
        buffered_bytes: 0,
        in_flight_requests: 0,
    }
}

/// Record `i`'s value (no key, no headers) stored at `offset`.
pub fn log_record(offset: i64, i: usize) -> LogRecord {
    LogRecord {
        offset,
        key: None,
        value: Some(value(i)),
        headers: Vec::new(),
        timestamp: 0,
    }
}

/// A batch at offset 0 written by `client` without idempotence (no producer
/// id, epoch or sequence) through leader 0 at 15 ms: 100 bytes in a 150-byte request.
pub fn plain_batch(client: &str, records: Vec<LogRecord>) -> LogBatch {
    LogBatch {
        base_offset: 0,
        client_id: client.into(),
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        leader: 0,
        appended_at: ms(15),
        bytes: 100,
        request_bytes: 150,
        records,
    }
}

pub fn acked(index: usize) -> impl Fn(&What) -> bool {
    move |w| matches!(w, What::Acked { index: i, .. } if *i == index)
}

pub fn only(v: &Verdict, kind: Kind) {
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
pub fn unresolved_and_asleep(v: &Verdict) {
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
