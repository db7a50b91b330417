//! The verdict: invariants over a run's history and the final partition logs.
//!
//! Each violation names its kind, the producer, the partition, the workload record
//! (its index in the producer's workload), offsets and the simulated time.
//!
//! | kind              | meaning                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `lost`            | acknowledged, but the log has no record at the acknowledged offset |
//! | `offset_mismatch` | the acknowledged offset holds another record (or another producer's) |
//! | `duplicate`       | one send stored more often than it was sent                       |
//! | `phantom`         | a log record no producer ever attempted to send                   |
//! | `reorder`         | per producer and partition, log order differs from send order     |
//! | `sequence`        | under one producer id and epoch, a partition's sequences do not start at 0 and run on without a gap, or a retry changed its sequence |
//! | `unresolved`      | a send, flush or close still pending after faults healed + grace  |
//! | `resolved_twice`  | a send resolved more than once                                    |
//! | `accounting`      | accounted != encoded, batch or request over its limit, counters not zero at close |
//! | `corrupt`         | a broker rejected a batch as corrupt or invalid                   |
//! | `not_acked`       | a send failed where the scenario expects every send acknowledged  |
//! | `mutated`         | a record the caller handed over changed during the run            |

use crate::cluster::LogBatch;
use crate::history::{digest_log_record, Actor, History, Tp, What};
use producer_core::error::code;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// Kinds of violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Acked but absent.
    Lost,
    /// Acked offset holds something else.
    OffsetMismatch,
    /// Stored twice.
    Duplicate,
    /// Stored, never sent.
    Phantom,
    /// Out of send order.
    Reorder,
    /// Idempotent sequence numbers not contiguous from 0 within an epoch.
    Sequence,
    /// Never resolved (liveness).
    Unresolved,
    /// Resolved twice.
    ResolvedTwice,
    /// Sizes or counters wrong.
    Accounting,
    /// Broker found the batch corrupt.
    Corrupt,
    /// Failed where all must be acked.
    NotAcked,
    /// A caller's record changed.
    Mutated,
}

impl Kind {
    /// Names as written in scenario files.
    pub const NAMES: [&'static str; 12] = [
        "lost",
        "offset_mismatch",
        "duplicate",
        "phantom",
        "reorder",
        "sequence",
        "unresolved",
        "resolved_twice",
        "accounting",
        "corrupt",
        "not_acked",
        "mutated",
    ];
    const ALL: [Kind; 12] = [
        Kind::Lost,
        Kind::OffsetMismatch,
        Kind::Duplicate,
        Kind::Phantom,
        Kind::Reorder,
        Kind::Sequence,
        Kind::Unresolved,
        Kind::ResolvedTwice,
        Kind::Accounting,
        Kind::Corrupt,
        Kind::NotAcked,
        Kind::Mutated,
    ];

    /// The kind with this name.
    pub fn parse(s: &str) -> Option<Kind> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
    }

    /// The name as written in scenario files.
    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|k| *k == self).expect("listed")]
    }
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// Kind.
    pub kind: Kind,
    /// Producer (None for records of no known producer).
    pub producer: Option<u32>,
    /// Partition.
    pub tp: Option<Tp>,
    /// Index of the record in the producer's workload.
    pub record: Option<usize>,
    /// Offset involved.
    pub offset: Option<i64>,
    /// Simulated time of the event that shows it.
    pub at: Duration,
    /// Explanation.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] t={:.3}s", self.kind.name(), self.at.as_secs_f64())?;
        if let Some(p) = self.producer {
            write!(f, " producer-{p}")?;
        }
        if let Some((t, p)) = &self.tp {
            write!(f, " {t}/{p}")?;
        }
        if let Some(r) = self.record {
            write!(f, " record #{r}")?;
        }
        if let Some(o) = self.offset {
            write!(f, " offset {o}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What the checker needs to know about one producer.
#[derive(Clone, Debug)]
pub struct ProducerFacts {
    /// Idempotence on.
    pub idempotent: bool,
    /// Max in flight.
    pub max_in_flight: usize,
    /// Its `max_message_bytes`.
    pub max_message_bytes: usize,
    /// Its `max_request_size`.
    pub max_request_size: usize,
    /// The largest batch it may build for the workload's topic.
    pub batch_limit: usize,
    /// How long after the last fault (or its send) a record must resolve.
    pub grace: Duration,
    /// The history shows this producer's requests (prodsim's own producer). For a
    /// real client only its sends and outcomes are known: every send then counts
    /// as attempted.
    pub requests_observed: bool,
}

/// What the checker is told about the run.
#[derive(Clone, Debug)]
pub struct CheckInput<'a> {
    /// The history.
    pub history: &'a History,
    /// Final logs: (topic, partition) -> batches.
    pub logs: &'a BTreeMap<Tp, Vec<LogBatch>>,
    /// The topic the workload sends to.
    pub topic: &'a str,
    /// One entry per producer.
    pub producers: &'a [ProducerFacts],
    /// Time of the last fault (heal included).
    pub last_fault: Duration,
    /// When the run stopped.
    pub end: Duration,
    /// Kinds accepted as expected anomalies.
    pub allowed: &'a [Kind],
    /// Every send must be acked.
    pub all_acked: bool,
}

/// The checker's answer.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Failures.
    pub violations: Vec<Violation>,
    /// Anomalies the scenario expects (reported, not failures).
    pub expected: Vec<Violation>,
}

impl Verdict {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Kinds present among failures and expected anomalies.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.violations
            .iter()
            .chain(&self.expected)
            .map(|v| v.kind)
            .collect()
    }
}

/// When a send resolved, and to what: `Ok((partition, offset))` or the error text
/// and whether it was MessageTooLarge.
type Resolution = (Duration, Result<(i32, i64), (String, bool)>);
/// A record in a log as the checker reads it: (digest, offset, append time).
type LogEntry = (u64, i64, Duration);

#[derive(Default)]
struct SendInfo {
    send_id: Option<u64>,
    partition: Option<i32>,
    digest: u64,
    batch_len: usize,
    at: Duration,
    resolutions: Vec<Resolution>,
    attempted: bool,
}

/// Sequence bookkeeping of one (producer id, epoch, partition): the base sequence
/// each batch was given, and the sequence the next new batch must start at.
#[derive(Default)]
struct SequenceRun {
    batches: BTreeMap<u64, i32>,
    next: i32,
}

#[derive(Default)]
struct ProducerView {
    sends: Vec<SendInfo>,
    sequences: BTreeMap<(i64, i16, Tp), SequenceRun>,
    by_send_id: BTreeMap<u64, usize>,
    retried_tps: BTreeSet<Tp>,
    closed: bool,
}

fn producer_of(client_id: &str) -> Option<u32> {
    client_id.strip_prefix("producer-")?.parse().ok()
}

/// Checks every invariant.
pub fn check(input: &CheckInput<'_>) -> Verdict {
    let mut out: Vec<Violation> = Vec::new();
    let mut views: Vec<ProducerView> = (0..input.producers.len())
        .map(|_| ProducerView::default())
        .collect();
    let topic_of_run = input.topic.to_string();

    // 1. Read the history.
    for e in &input.history.entries {
        let Actor::Producer(p) = e.who else { continue };
        let Some(view) = views.get_mut(p as usize) else {
            continue;
        };
        let facts = &input.producers[p as usize];
        let v = |kind, detail: String| Violation {
            kind,
            producer: Some(p),
            tp: None,
            record: None,
            offset: None,
            at: e.at,
            detail,
        };
        match &e.what {
            What::Send {
                index,
                send_id,
                partition,
                digest,
                batch_len,
            } => {
                if view.sends.len() <= *index {
                    view.sends.resize_with(index + 1, SendInfo::default);
                }
                let s = &mut view.sends[*index];
                s.send_id = *send_id;
                s.partition = *partition;
                s.digest = *digest;
                s.batch_len = *batch_len;
                s.at = e.at;
                if let Some(id) = send_id {
                    view.by_send_id.insert(*id, *index);
                }
            }
            What::Acked {
                index,
                partition,
                offset,
            } => {
                if let Some(s) = view.sends.get_mut(*index) {
                    s.resolutions.push((e.at, Ok((*partition, *offset))));
                }
            }
            What::Failed {
                index,
                error,
                too_large,
            } => {
                if let Some(s) = view.sends.get_mut(*index) {
                    s.resolutions.push((e.at, Err((error.clone(), *too_large))));
                }
            }
            What::RequestSent {
                bytes,
                accounted,
                limit,
                batches,
                ..
            } => {
                if bytes != accounted {
                    out.push(v(
                        Kind::Accounting,
                        format!("request accounted {accounted} bytes but encoded {bytes}"),
                    ));
                }
                if *bytes > *limit || *bytes > facts.max_request_size {
                    out.push(v(
                        Kind::Accounting,
                        format!(
                            "request of {bytes} bytes is over max_request_size {}",
                            facts.max_request_size
                        ),
                    ));
                }
                for b in batches {
                    if b.attempt > 1 {
                        view.retried_tps.insert(b.tp.clone());
                    }
                    let (pid, epoch, seq) = b.stamp;
                    if pid >= 0 {
                        let run = view
                            .sequences
                            .entry((pid, epoch, b.tp.clone()))
                            .or_default();
                        let problem = match run.batches.get(&b.first_send_id) {
                            Some(&first) if first != seq => Some(format!(
                                "batch resent with sequence {seq}, first sent with {first}"
                            )),
                            Some(_) => None,
                            None => {
                                let expected = run.next;
                                run.batches.insert(b.first_send_id, seq);
                                run.next = producer_core::idempotence::advance_sequence(
                                    seq,
                                    b.send_ids.len(),
                                );
                                (seq != expected).then(|| {
                                    format!(
                                        "batch starts at sequence {seq} under producer id {pid} epoch {epoch}, expected {expected}"
                                    )
                                })
                            }
                        };
                        if let Some(detail) = problem {
                            let mut x = v(Kind::Sequence, detail);
                            x.tp = Some(b.tp.clone());
                            x.record = view.by_send_id.get(&b.first_send_id).copied();
                            out.push(x);
                        }
                    }
                    for id in &b.send_ids {
                        if let Some(&i) = view.by_send_id.get(id) {
                            view.sends[i].attempted = true;
                        }
                    }
                }
            }
            What::BatchSealed {
                tp,
                first_send_id,
                accounted,
                encoded,
                limit,
                ..
            } => {
                let mut viol = |detail: String| {
                    let mut x = v(Kind::Accounting, detail);
                    x.tp = Some(tp.clone());
                    x.record = view.by_send_id.get(first_send_id).copied();
                    out.push(x);
                };
                if accounted != encoded {
                    viol(format!(
                        "batch accounted {accounted} bytes but encoded {encoded}"
                    ));
                }
                if *encoded > *limit || *encoded > facts.max_message_bytes {
                    viol(format!(
                        "batch of {encoded} bytes is over its limit {limit} (max_message_bytes {})",
                        facts.max_message_bytes
                    ));
                }
            }
            What::AttemptEnded {
                tp,
                first_send_id,
                outcome: Err(Some(c)),
            } if *c == code::CORRUPT_MESSAGE || *c == code::INVALID_RECORD => {
                let mut x = v(
                    Kind::Corrupt,
                    format!("broker rejected the batch: {}", code::name(*c)),
                );
                x.tp = Some(tp.clone());
                x.record = view.by_send_id.get(first_send_id).copied();
                out.push(x);
            }
            What::Closed {
                unresolved_records,
                buffered_bytes,
                in_flight_requests,
            } => {
                view.closed = true;
                if *unresolved_records != 0 || *buffered_bytes != 0 || *in_flight_requests != 0 {
                    out.push(v(
                        Kind::Accounting,
                        format!(
                            "counters not zero at close: {unresolved_records} unresolved records, {buffered_bytes} buffered bytes, {in_flight_requests} requests in flight"
                        ),
                    ));
                }
            }
            What::RecordMutated { index } => {
                let mut x = v(
                    Kind::Mutated,
                    "the record differs from the one handed to send".into(),
                );
                x.record = Some(*index);
                out.push(x);
            }
            _ => {}
        }
    }
    // 2. Index the logs: (tp, offset) -> (producer, digest).
    struct Stored {
        producer: Option<u32>,
        digest: u64,
    }
    let mut stored: BTreeMap<(Tp, i64), Stored> = BTreeMap::new();
    // (producer, tp) -> digests in log order with offsets.
    let mut written: BTreeMap<(u32, Tp), Vec<LogEntry>> = BTreeMap::new();
    for (tp, batches) in input.logs {
        for b in batches {
            let producer = producer_of(&b.client_id).filter(|p| (*p as usize) < views.len());
            for r in &b.records {
                let digest = digest_log_record(r);
                stored.insert((tp.clone(), r.offset), Stored { producer, digest });
                match producer {
                    Some(p) => written.entry((p, tp.clone())).or_default().push((
                        digest,
                        r.offset,
                        b.appended_at,
                    )),
                    None => out.push(Violation {
                        kind: Kind::Phantom,
                        producer: None,
                        tp: Some(tp.clone()),
                        record: None,
                        offset: Some(r.offset),
                        at: b.appended_at,
                        detail: format!("written by unknown client `{}`", b.client_id),
                    }),
                }
            }
        }
    }

    // 3. Per producer: resolutions, acks, duplicates, phantoms, order.
    let mut ack_targets: BTreeMap<(Tp, i64), (u32, usize)> = BTreeMap::new();
    for (p, view) in views.iter().enumerate() {
        let p = p as u32;
        let facts = &input.producers[p as usize];
        for (i, s) in view.sends.iter().enumerate() {
            let topic = topic_of_run.clone();
            let base = |kind, tp: Option<Tp>, offset, at, detail: String| Violation {
                kind,
                producer: Some(p),
                tp,
                record: Some(i),
                offset,
                at,
                detail,
            };
            let tp = s.partition.map(|q| (topic.clone(), q));
            let deadline = s.at.max(input.last_fault) + facts.grace;
            match s.resolutions.as_slice() {
                [] => out.push(base(
                    Kind::Unresolved,
                    tp.clone(),
                    None,
                    input.end,
                    format!(
                        "sent at {:.3}s, never resolved (run ended at {:.3}s)",
                        s.at.as_secs_f64(),
                        input.end.as_secs_f64()
                    ),
                )),
                [(at, _)] if *at > deadline => out.push(base(
                    Kind::Unresolved,
                    tp.clone(),
                    None,
                    *at,
                    format!(
                        "resolved at {:.3}s, after the deadline {:.3}s (last fault {:.3}s + grace {:?})",
                        at.as_secs_f64(),
                        deadline.as_secs_f64(),
                        input.last_fault.as_secs_f64(),
                        facts.grace
                    ),
                )),
                [_] => {}
                [_, (at, _), ..] => out.push(base(
                    Kind::ResolvedTwice,
                    tp.clone(),
                    None,
                    *at,
                    format!("resolved {} times", s.resolutions.len()),
                )),
            }
            for (at, r) in &s.resolutions {
                match r {
                    Ok((partition, offset)) => {
                        let atp = (topic.clone(), *partition);
                        if s.partition != Some(*partition) {
                            out.push(base(
                                Kind::OffsetMismatch,
                                Some(atp.clone()),
                                Some(*offset),
                                *at,
                                format!(
                                    "acked on partition {partition} but sent to partition {}",
                                    s.partition.map_or("none".to_string(), |q| q.to_string())
                                ),
                            ));
                        }
                        match stored.get(&(atp.clone(), *offset)) {
                            None => out.push(base(
                                Kind::Lost,
                                Some(atp.clone()),
                                Some(*offset),
                                *at,
                                "acknowledged, but the log has no record at this offset".into(),
                            )),
                            Some(st) if st.producer != Some(p) || st.digest != s.digest => out
                                .push(base(
                                    Kind::OffsetMismatch,
                                    Some(atp.clone()),
                                    Some(*offset),
                                    *at,
                                    format!(
                                        "acknowledged offset holds {} record",
                                        match st.producer {
                                            Some(q) if q == p => "another".to_string(),
                                            Some(q) => format!("producer-{q}'s"),
                                            None => "an unknown client's".to_string(),
                                        }
                                    ),
                                )),
                            Some(_) => {}
                        }
                        if let Some((q, j)) = ack_targets.insert((atp.clone(), *offset), (p, i)) {
                            out.push(base(
                                Kind::OffsetMismatch,
                                Some(atp),
                                Some(*offset),
                                *at,
                                format!(
                                    "producer-{q} record #{j} was acknowledged at the same offset"
                                ),
                            ));
                        }
                    }
                    Err((e, too_large)) => {
                        let oversize = s.batch_len > facts.batch_limit;
                        if *too_large && !oversize {
                            out.push(base(
                                Kind::Accounting,
                                tp.clone(),
                                None,
                                *at,
                                format!(
                                    "rejected as too large, but its {}-byte batch fits the {}-byte limit",
                                    s.batch_len, facts.batch_limit
                                ),
                            ));
                        } else if input.all_acked && !oversize {
                            out.push(base(
                                Kind::NotAcked,
                                tp.clone(),
                                None,
                                *at,
                                format!("failed: {e}"),
                            ));
                        }
                    }
                }
            }
            let oversize = s.batch_len > facts.batch_limit;
            let rejected_as_too_large = s
                .resolutions
                .iter()
                .any(|(_, r)| matches!(r, Err((_, true))));
            if oversize && !s.resolutions.is_empty() && !rejected_as_too_large {
                out.push(base(
                    Kind::Accounting,
                    tp.clone(),
                    None,
                    s.at,
                    format!(
                        "needs a {}-byte batch, over the {}-byte limit, yet was not rejected as too large",
                        s.batch_len, facts.batch_limit
                    ),
                ));
            }
        }
        if !view.closed {
            out.push(Violation {
                kind: Kind::Unresolved,
                producer: Some(p),
                tp: None,
                record: None,
                offset: None,
                at: input.end,
                detail: "flush/close never returned".into(),
            });
        }

        // Sent (attempted) multiset per partition and digest, in send order.
        let mut attempted: BTreeMap<Tp, Vec<(u64, usize)>> = BTreeMap::new();
        for (i, s) in view.sends.iter().enumerate() {
            let was_attempted = s.attempted || !facts.requests_observed;
            if let (true, Some(q)) = (was_attempted, s.partition) {
                attempted
                    .entry((topic_of_run.clone(), q))
                    .or_default()
                    .push((s.digest, i));
            }
        }
        let tps: BTreeSet<Tp> = attempted
            .keys()
            .cloned()
            .chain(
                written
                    .keys()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, tp)| tp.clone()),
            )
            .collect();
        for tp in tps {
            let sent = attempted.get(&tp).cloned().unwrap_or_default();
            let log = written.get(&(p, tp.clone())).cloned().unwrap_or_default();
            let mut budget: BTreeMap<u64, usize> = BTreeMap::new();
            for (d, _) in &sent {
                *budget.entry(*d).or_default() += 1;
            }
            let expected_dup = !facts.idempotent && view.retried_tps.contains(&tp);
            let mut kept = Vec::new();
            for (d, offset, at) in &log {
                let v = |kind, detail: String| Violation {
                    kind,
                    producer: Some(p),
                    tp: Some(tp.clone()),
                    record: sent.iter().find(|(x, _)| x == d).map(|(_, i)| *i),
                    offset: Some(*offset),
                    at: *at,
                    detail,
                };
                match budget.get_mut(d) {
                    None => out.push(v(
                        Kind::Phantom,
                        "in the log, but this producer never sent it here".into(),
                    )),
                    Some(0) => {
                        let x = v(
                            Kind::Duplicate,
                            "stored more times than it was sent".to_string()
                                + if expected_dup {
                                    " (idempotence off, retried)"
                                } else {
                                    ""
                                },
                        );
                        out.push(x);
                    }
                    Some(n) => {
                        *n -= 1;
                        kept.push((*d, *offset, *at));
                    }
                }
            }
            if facts.idempotent || facts.max_in_flight == 1 {
                // The log (minus duplicates) must be a subsequence of the send order.
                let mut cursor = 0;
                for (d, offset, at) in &kept {
                    match sent[cursor..].iter().position(|(x, _)| x == d) {
                        Some(k) => cursor += k + 1,
                        None => {
                            out.push(Violation {
                                kind: Kind::Reorder,
                                producer: Some(p),
                                tp: Some(tp.clone()),
                                record: sent.iter().find(|(x, _)| x == d).map(|(_, i)| *i),
                                offset: Some(*offset),
                                at: *at,
                                detail: "written after a record that was sent later".into(),
                            });
                            break;
                        }
                    }
                }
            }
        }
    }

    // 4. Split expected anomalies from failures.
    let mut verdict = Verdict::default();
    for v in out {
        let non_idempotent_dup =
            v.kind == Kind::Duplicate && v.detail.ends_with("(idempotence off, retried)");
        if input.allowed.contains(&v.kind) || non_idempotent_dup {
            verdict.expected.push(v);
        } else {
            verdict.violations.push(v);
        }
    }
    verdict
}

/// Checks that need only the partition logs, for clients whose sends prodsim does
/// not see (`sim serve`): a record stored twice by one client in one partition
/// (meaningful when that client's payloads are unique), and, for idempotent
/// batches, sequences that do not start at 0 in an epoch or leave a gap.
pub fn check_logs(logs: &BTreeMap<Tp, Vec<LogBatch>>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (tp, batches) in logs {
        let mut seen: BTreeMap<(&str, u64), i64> = BTreeMap::new();
        let mut next_seq: BTreeMap<(i64, i16), i32> = BTreeMap::new();
        for b in batches {
            let v = |kind, offset, detail: String| Violation {
                kind,
                producer: producer_of(&b.client_id),
                tp: Some(tp.clone()),
                record: None,
                offset: Some(offset),
                at: b.appended_at,
                detail: format!("client `{}`: {detail}", b.client_id),
            };
            if b.producer_id >= 0 {
                let expected = next_seq
                    .get(&(b.producer_id, b.producer_epoch))
                    .copied()
                    .unwrap_or(0);
                if b.base_sequence != expected {
                    out.push(v(
                        Kind::Sequence,
                        b.base_offset,
                        format!(
                            "batch at sequence {} (producer id {} epoch {}), expected {expected}",
                            b.base_sequence, b.producer_id, b.producer_epoch
                        ),
                    ));
                }
                next_seq.insert(
                    (b.producer_id, b.producer_epoch),
                    producer_core::idempotence::advance_sequence(b.base_sequence, b.records.len()),
                );
            }
            for r in &b.records {
                let digest = digest_log_record(r);
                if let Some(first) = seen.insert((&b.client_id, digest), r.offset) {
                    out.push(v(
                        Kind::Duplicate,
                        r.offset,
                        format!("same record as offset {first}"),
                    ));
                }
            }
        }
    }
    out
}
