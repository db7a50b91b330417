//! The black-box verdict of `sim serve`: what the wire alone proves about a
//! client prodsim does not control, with no report from the client.
//!
//! - Identity is the producer id and epoch, never the client id (two producers
//!   may share one, and send equal payloads): a duplicate is a sequence number
//!   stored twice under one producer id and epoch in one partition; a sequence
//!   that does not start at 0 in an epoch or leaves a gap is a `sequence`
//!   violation ([`super::check_logs`]).
//! - What the broker observed: OUT_OF_ORDER_SEQUENCE_NUMBER or
//!   UNKNOWN_PRODUCER_ID answered (`out_of_order_answer`), INVALID_PRODUCER_EPOCH
//!   (`fenced_answer`), a produce sent to a broker that does not lead the
//!   partition (`misrouted`), none of them injected ([`crate::broker::Ledger`]).
//! - Each is explained, and reported as an expected anomaly instead, when a
//!   broker-side fault touched its partition (a crash, restart or lost response
//!   touches all) at most [`EXPLAINS_FOR`] before it: a correct client's retries
//!   after a fault can meet these answers. Without faults nothing explains them.
//!   The same answer to the same batch sent again later keeps its first
//!   answer's explanation: a client may retry one batch for minutes.
//! - Batches without a producer id cannot be judged from the log: equal records
//!   may have been sent twice on purpose. The report says so instead of failing.

use super::view::producer_of;
use super::{check_logs, logs, Expected, Kind, Verdict, Violation};
use crate::broker::ledger::{Anomaly, FaultEvent, Ledger};
use crate::cluster::LogBatch;
use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long after a broker-side fault its effects explain an anomaly (Kafka's
/// default `request.timeout.ms`: a client retries within it).
pub const EXPLAINS_FOR: Duration = Duration::from_secs(30);

/// One row of the stop report: a client id and one producer id it used (`None`:
/// requests that carried none).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// The client id.
    pub client_id: String,
    /// The producer id.
    pub producer_id: Option<i64>,
    /// Requests received, of every API.
    pub requests: u64,
    /// Batches appended.
    pub batches: u64,
    /// Records appended.
    pub records: u64,
    /// Answers by error code (per partition for a produce).
    pub answers: BTreeMap<i16, u64>,
    /// Requests answered by closing the connection.
    pub closed: u64,
    /// Violations by kind.
    pub violations: BTreeMap<String, usize>,
    /// Anomalies a broker-side fault explains.
    pub explained: usize,
}

/// The stop report: rows, verdict, and what could not be judged.
#[derive(Clone, Debug, Default)]
pub struct WireReport {
    /// One row per (client id, producer id).
    pub rows: Vec<Row>,
    /// Violations, and anomalies a fault explains.
    pub verdict: Verdict,
    /// What the wire could not judge.
    pub notes: Vec<String>,
    /// Broker-side faults applied.
    pub faults: Vec<(Duration, FaultEvent)>,
}

/// The latest fault that explains an anomaly at `at` on `tp`.
fn explanation<'a>(
    faults: &'a [(Duration, FaultEvent)],
    tp: Option<&TopicPartition>,
    at: Duration,
) -> Option<&'a FaultEvent> {
    faults
        .iter()
        .rev()
        .filter(|(t, _)| *t <= at && at <= *t + EXPLAINS_FOR)
        .find(|(_, f)| f.scope().is_none() || f.scope() == tp)
        .map(|(_, f)| f)
}

fn explain(v: Violation, faults: &[(Duration, FaultEvent)]) -> Violation {
    match explanation(faults, v.tp.as_ref(), v.at) {
        Some(f) => because(v, format!("after the {f}")),
        None => v,
    }
}

fn because(v: Violation, why: String) -> Violation {
    let detail = format!("{} ({why})", v.detail);
    Violation { detail, ..v }.expected(Expected::BrokerFault)
}

/// One answer to one batch: the same client, producer id, epoch, first
/// sequence and partition are the same batch sent again; then the code.
type AnswerKey = (Arc<str>, i64, i16, i32, TopicPartition, i16);

/// Explains the anomalous answers of the ledger, in the order they were
/// given. A batch's first anomaly is explained by a fault at most
/// [`EXPLAINS_FOR`] before it; the same answer to the same batch sent again
/// later carries that explanation, however long the client keeps retrying
/// (the Java client retries until `delivery.timeout.ms`, 120 s by default).
/// Other answers are explained by a fault in their own window, or not at all.
struct Explainer<'a> {
    faults: &'a [(Duration, FaultEvent)],
    first: BTreeMap<AnswerKey, (Duration, String)>,
}

impl<'a> Explainer<'a> {
    fn new(faults: &'a [(Duration, FaultEvent)]) -> Self {
        Explainer {
            faults,
            first: BTreeMap::new(),
        }
    }

    fn explain(&mut self, a: &Anomaly, v: Violation) -> Violation {
        if a.producer_id < 0 {
            return explain(v, self.faults);
        }
        let key = (
            a.client_id.clone(),
            a.producer_id,
            a.epoch,
            a.base_sequence,
            a.tp.clone(),
            a.code,
        );
        if let Some((at, f)) = self.first.get(&key) {
            let at = at.as_secs_f64();
            let why = format!("the same batch, first answered so at {at:.3}s after the {f}");
            return because(v, why);
        }
        let Some(f) = explanation(self.faults, v.tp.as_ref(), v.at) else {
            return v;
        };
        let f = f.to_string();
        let why = format!("after the {f}");
        self.first.insert(key, (v.at, f));
        because(v, why)
    }
}

/// The client id and producer id of the batch at `offset` of `tp`.
fn writer_of(
    logs: &BTreeMap<TopicPartition, Vec<LogBatch>>,
    tp: &TopicPartition,
    offset: i64,
) -> (String, Option<i64>) {
    logs.get(tp)
        .and_then(|bs| bs.iter().find(|b| b.base_offset == offset))
        .map_or((String::new(), None), |b| {
            (
                b.client_id.to_string(),
                (b.producer_id >= 0).then_some(b.producer_id),
            )
        })
}

fn row<'a>(
    rows: &'a mut BTreeMap<(String, Option<i64>), Row>,
    client: &str,
    pid: Option<i64>,
) -> &'a mut Row {
    rows.entry((client.to_string(), pid))
        .or_insert_with(|| Row {
            client_id: client.to_string(),
            producer_id: pid,
            ..Row::default()
        })
}

/// An answer a correct client should not get, as a violation naming the
/// client, the broker, the batch and what the broker knew.
fn anomaly_violation(a: &Anomaly) -> Violation {
    let kind = match a.code {
        code::INVALID_PRODUCER_EPOCH => Kind::FencedAnswer,
        code::NOT_LEADER_OR_FOLLOWER => Kind::Misrouted,
        code::DUPLICATE_SEQUENCE_NUMBER => Kind::SequenceReused,
        _ => Kind::OutOfOrderAnswer,
    };
    let stamp = if a.producer_id >= 0 {
        format!(
            "producer id {} epoch {} sequence {} ({} records)",
            a.producer_id, a.epoch, a.base_sequence, a.records
        )
    } else {
        "a batch without producer id".to_string()
    };
    let answered = if kind == Kind::SequenceReused {
        "NONE (a duplicate)".to_string()
    } else {
        format!("{} ({})", a.code, code::name(a.code))
    };
    let detail = format!(
        "client `{}`: broker-{} answered {answered} to {stamp}: {}",
        a.client_id, a.broker, a.context
    );
    Violation::new(kind, a.at, detail)
        .producer(producer_of(&a.client_id))
        .tp(a.tp.clone())
}

/// Judges a `sim serve` run from its logs and what its brokers answered.
pub fn judge_wire(logs: &BTreeMap<TopicPartition, Vec<LogBatch>>, ledger: &Ledger) -> WireReport {
    let mut rows: BTreeMap<(String, Option<i64>), Row> = BTreeMap::new();
    for ((client, pid, _api), t) in &ledger.tallies {
        let r = row(&mut rows, client, (*pid >= 0).then_some(*pid));
        r.requests += t.requests;
        r.closed += t.closed;
        for (c, n) in &t.codes {
            *r.answers.entry(*c).or_default() += n;
        }
    }
    for ((client, pid), (batches, records)) in &ledger.appended {
        let r = row(&mut rows, client, (*pid >= 0).then_some(*pid));
        r.batches += batches;
        r.records += records;
    }
    let mut all: Vec<((String, Option<i64>), Violation)> = Vec::new();
    for v in check_logs(logs) {
        let who = match (&v.tp, v.offset) {
            (Some(tp), Some(o)) => writer_of(logs, tp, o),
            _ => (String::new(), None),
        };
        all.push((who, explain(v, &ledger.faults)));
    }
    let mut explainer = Explainer::new(&ledger.faults);
    for a in &ledger.anomalies {
        let v = anomaly_violation(a);
        // No fault makes a correct client send other records under a
        // sequence it already used: never explained.
        let v = if v.kind == Kind::SequenceReused {
            v
        } else {
            explainer.explain(a, v)
        };
        let pid = (a.producer_id >= 0).then_some(a.producer_id);
        all.push(((a.client_id.to_string(), pid), v));
    }
    all.sort_by_key(|(_, v)| v.at);
    for ((client, pid), v) in &all {
        let r = row(&mut rows, client, *pid);
        if v.expected.is_some() {
            r.explained += 1;
        } else {
            *r.violations.entry(v.kind.name().to_string()).or_default() += 1;
        }
    }
    let mut notes = Vec::new();
    for (client, (records, repeated)) in logs::unjudged(logs) {
        notes.push(format!(
            "client `{client}`: {records} records without a producer id (idempotence off): loss, duplicates and order cannot be judged from the log alone ({repeated} of them repeat an earlier record's key, value and headers in their partition); pass --outcomes to judge them"
        ));
    }
    if ledger.anomalies_dropped > 0 {
        notes.push(format!(
            "{} more anomalous answers were counted but not kept one by one",
            ledger.anomalies_dropped
        ));
    }
    WireReport {
        rows: rows.into_values().collect(),
        verdict: Verdict::split(all.into_iter().map(|(_, v)| v).collect(), &[]),
        notes,
        faults: ledger.faults.clone(),
    }
}

impl WireReport {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }

    /// The report as a table, one row per client id and producer id.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<20} {:>11} {:>9} {:>8} {:>9}  {:<28} {}\n",
            "client",
            "producer id",
            "requests",
            "batches",
            "records",
            "answers (code x count)",
            "violations"
        );
        for r in &self.rows {
            let answers: Vec<String> = r
                .answers
                .iter()
                .map(|(c, n)| format!("{c}x{n}"))
                .chain((r.closed > 0).then(|| format!("closed x{}", r.closed)))
                .collect();
            let mut violations: Vec<String> = r
                .violations
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect();
            if r.explained > 0 {
                violations.push(format!("({} explained by faults)", r.explained));
            }
            out.push_str(&format!(
                "{:<20} {:>11} {:>9} {:>8} {:>9}  {:<28} {}\n",
                r.client_id,
                r.producer_id.map_or("-".to_string(), |p| p.to_string()),
                r.requests,
                r.batches,
                r.records,
                answers.join(" "),
                if violations.is_empty() {
                    "-".to_string()
                } else {
                    violations.join(", ")
                }
            ));
        }
        out
    }

    /// The report as JSON, for CI.
    pub fn to_json(&self) -> serde_json::Value {
        let violation = |v: &Violation| {
            serde_json::json!({
                "kind": v.kind.name(),
                "at_ms": v.at.as_millis() as u64,
                "partition": v.tp.as_ref().map(|TopicPartition { topic: t, partition: p }| format!("{t}/{p}")),
                "offset": v.offset,
                "detail": v.detail,
            })
        };
        serde_json::json!({
            "verdict": if self.passed() { "PASS" } else { "FAIL" },
            "rows": self.rows,
            "violations": self.verdict.violations.iter().map(violation).collect::<Vec<_>>(),
            "explained": self.verdict.expected.iter().map(violation).collect::<Vec<_>>(),
            "notes": self.notes,
            "faults": self.faults.iter().map(|(at, f)| serde_json::json!({
                "at_ms": at.as_millis() as u64,
                "fault": f.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Injection, LogRecord};
    use bytes::Bytes;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("events", p)
    }

    fn batch(client: &str, pid: i64, seq: i32, offset: i64, values: &[&str]) -> LogBatch {
        LogBatch {
            base_offset: offset,
            client_id: client.into(),
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            base_sequence: if pid >= 0 { seq } else { -1 },
            leader: 0,
            appended_at: Duration::from_millis(offset as u64),
            bytes: 0,
            request_bytes: 0,
            records: values
                .iter()
                .enumerate()
                .map(|(i, v)| LogRecord {
                    offset: offset + i as i64,
                    key: None,
                    value: Some(Bytes::from(v.to_string())),
                    headers: Vec::new(),
                    timestamp: 0,
                })
                .collect(),
        }
    }

    fn out_of_order(at_ms: u64, p: i32) -> Anomaly {
        Anomaly {
            at: Duration::from_millis(at_ms),
            client_id: Arc::from("sarama"),
            producer_id: 1001,
            epoch: 0,
            base_sequence: 7,
            records: 1,
            tp: tp(p),
            broker: 0,
            code: code::OUT_OF_ORDER_SEQUENCE_NUMBER,
            context: "the broker expected sequence 3".into(),
        }
    }

    #[test]
    fn two_producers_with_one_client_id_and_equal_payloads_are_no_duplicates() {
        let mut logs = BTreeMap::new();
        logs.insert(
            tp(0),
            vec![
                batch("sarama", 1000, 0, 0, &["a", "b"]),
                batch("sarama", 1001, 0, 2, &["a", "b"]),
                batch("sarama", 1000, 2, 4, &["c"]),
                batch("sarama", 1001, 2, 5, &["c"]),
            ],
        );
        let r = judge_wire(&logs, &Ledger::default());
        assert!(r.passed(), "{:?}", r.verdict.violations);
    }

    #[test]
    fn a_sequence_stored_twice_is_a_duplicate_the_log_proves() {
        let mut logs = BTreeMap::new();
        logs.insert(
            tp(0),
            vec![
                batch("c", 1000, 0, 0, &["a", "b"]),
                batch("c", 1000, 1, 2, &["b", "x"]),
            ],
        );
        let r = judge_wire(&logs, &Ledger::default());
        let kinds: Vec<Kind> = r.verdict.violations.iter().map(|v| v.kind).collect();
        assert_eq!(kinds, vec![Kind::Duplicate], "{:?}", r.verdict.violations);
        assert_eq!(r.rows[0].violations["duplicate"], 1);
        // An expiry of the partition's producer state just before explains it.
        let mut ledger = Ledger::default();
        ledger.fault(Duration::from_millis(1), FaultEvent::ExpireProducers(tp(0)));
        let r = judge_wire(&logs, &ledger);
        assert!(r.passed(), "{:?}", r.verdict.violations);
        assert_eq!(r.verdict.expected.len(), 1);
        assert!(
            r.verdict.expected[0].detail.contains("expiry"),
            "{:?}",
            r.verdict.expected
        );
    }

    #[test]
    fn out_of_order_answers_fail_unless_a_fault_on_their_partition_explains_them() {
        let mut ledger = Ledger::default();
        ledger.anomaly(out_of_order(100, 0));
        let r = judge_wire(&BTreeMap::new(), &ledger);
        assert_eq!(r.verdict.violations.len(), 1);
        let v = &r.verdict.violations[0];
        assert_eq!(v.kind, Kind::OutOfOrderAnswer);
        assert!(
            v.detail.contains("45 (OUT_OF_ORDER_SEQUENCE_NUMBER)"),
            "{v}"
        );
        assert!(v.detail.contains("expected sequence 3"), "{v}");
        // An injected error on another partition explains nothing here; one on
        // this partition does, for EXPLAINS_FOR.
        let mut ledger = Ledger::default();
        ledger.fault(
            Duration::from_millis(50),
            FaultEvent::Injected(tp(1), Injection::Error(6)),
        );
        ledger.fault(
            Duration::from_millis(60),
            FaultEvent::Injected(tp(0), Injection::Error(6)),
        );
        ledger.anomaly(out_of_order(100, 0));
        ledger.anomaly(out_of_order(100, 2));
        let late = 60 + EXPLAINS_FOR.as_millis() as u64 + 1;
        ledger.anomaly(Anomaly {
            base_sequence: 9,
            ..out_of_order(late, 0)
        });
        let r = judge_wire(&BTreeMap::new(), &ledger);
        assert_eq!(r.verdict.expected.len(), 1, "{:?}", r.verdict);
        assert_eq!(r.verdict.violations.len(), 2, "{:?}", r.verdict);
        // A lost response closes a connection that carries many partitions.
        let mut ledger = Ledger::default();
        ledger.fault(
            Duration::from_millis(50),
            FaultEvent::Injected(tp(1), Injection::LoseResponse),
        );
        ledger.anomaly(out_of_order(100, 2));
        assert!(judge_wire(&BTreeMap::new(), &ledger).passed());
    }

    #[test]
    fn a_batch_retried_past_the_window_keeps_its_first_answers_explanation() {
        // The Java client retries a batch refused out of order until it
        // expires (60 to 120 s): each answer is the fault's, not the client's.
        let mut ledger = Ledger::default();
        ledger.fault(
            Duration::from_millis(50),
            FaultEvent::Injected(tp(0), Injection::Error(6)),
        );
        let window = EXPLAINS_FOR.as_millis() as u64;
        for at in (100..100 + 2 * window).step_by(1_000) {
            ledger.anomaly(out_of_order(at, 0));
        }
        let r = judge_wire(&BTreeMap::new(), &ledger);
        assert!(r.passed(), "{:?}", r.verdict.violations);
        let last = r.verdict.expected.last().unwrap();
        assert!(
            last.detail
                .contains("the same batch, first answered so at 0.100s after the injected"),
            "{last}"
        );

        // Not another batch, another client, another code, nor a batch whose
        // first answer nothing explained.
        let late = 100 + window + 1;
        for other in [
            Anomaly {
                base_sequence: 8,
                ..out_of_order(late, 0)
            },
            Anomaly {
                client_id: Arc::from("other"),
                ..out_of_order(late, 0)
            },
            Anomaly {
                code: code::UNKNOWN_PRODUCER_ID,
                ..out_of_order(late, 0)
            },
            Anomaly {
                epoch: 1,
                ..out_of_order(late, 0)
            },
        ] {
            let mut l = Ledger::default();
            l.fault(
                Duration::from_millis(50),
                FaultEvent::Injected(tp(0), Injection::Error(6)),
            );
            l.anomaly(out_of_order(100, 0));
            l.anomaly(other.clone());
            let r = judge_wire(&BTreeMap::new(), &l);
            assert_eq!(r.verdict.violations.len(), 1, "{other:?}: {:?}", r.verdict);
        }
        let mut l = Ledger::default();
        l.anomaly(out_of_order(100, 0));
        l.fault(
            Duration::from_millis(200),
            FaultEvent::Injected(tp(0), Injection::Error(6)),
        );
        l.anomaly(out_of_order(300, 0));
        let r = judge_wire(&BTreeMap::new(), &l);
        assert_eq!(r.verdict.violations.len(), 1, "{:?}", r.verdict);
        assert_eq!(r.verdict.expected.len(), 1, "{:?}", r.verdict);
    }

    #[test]
    fn records_without_a_producer_id_are_noted_not_judged() {
        let mut logs = BTreeMap::new();
        logs.insert(tp(0), vec![batch("py", -1, 0, 0, &["a", "a", "b"])]);
        let r = judge_wire(&logs, &Ledger::default());
        assert!(r.passed());
        assert_eq!(r.notes.len(), 1);
        assert!(
            r.notes[0].contains("3 records without a producer id"),
            "{}",
            r.notes[0]
        );
        assert!(r.notes[0].contains("(1 of them repeat"), "{}", r.notes[0]);
    }
}
