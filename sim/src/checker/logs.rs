//! The logs against the sends: every stored record of a producer was sent by it
//! to that partition (else a phantom), no more often than it was attempted
//! (else a duplicate), and, for idempotent producers or one request in flight,
//! in the order it was sent (else a reorder). Log-only checks for clients whose
//! sends prodsim does not see are here too.

use super::view::{LogEntry, ProducerView, RunView};
use super::{sequences, CheckInput, Expected, Kind, ProducerFacts, Violation};
use crate::cluster::LogBatch;
use crate::history::digest_log_record;
use producer_core::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// How many copies of one record (by content) a partition's log may hold.
#[derive(Default)]
struct Budget {
    /// Copies that sends which may have been written explain.
    possible: usize,
    /// Extra copies that retries explain (producers without idempotence).
    retried: usize,
    /// Copies of sends the producer reported definitely not written.
    refused: usize,
}

/// Per partition: the digest and workload index of every send that may be in
/// its log, in send order; and per (partition, digest) the budget of copies.
type CopiesSent = (
    BTreeMap<TopicPartition, Vec<(u64, usize)>>,
    BTreeMap<(TopicPartition, u64), Budget>,
);

/// What one producer may have put in each partition: see [`CopiesSent`].
fn copies_sent(topic: &str, pv: &ProducerView, facts: &ProducerFacts) -> CopiesSent {
    let mut sent: BTreeMap<TopicPartition, Vec<(u64, usize)>> = BTreeMap::new();
    let mut budgets: BTreeMap<(TopicPartition, u64), Budget> = BTreeMap::new();
    // Send order is the order of `send` calls (send ids), which is not the
    // workload's order when several tasks share one producer.
    let mut order: Vec<usize> = (0..pv.sends.len()).collect();
    order.sort_by_key(|&i| pv.sends[i].send_id.unwrap_or(u64::MAX));
    for i in order {
        let s = &pv.sends[i];
        let Some(q) = s.partition else { continue };
        let tp = TopicPartition::new(topic, q);
        let b = budgets.entry((tp.clone(), s.digest)).or_default();
        if s.definitely_unwritten() {
            b.refused += 1;
        } else if s.attempted || !facts.requests_observed {
            b.possible += 1;
            if !facts.idempotent {
                b.retried += s.attempts.saturating_sub(1) as usize;
            }
        } else {
            continue;
        }
        sent.entry(tp).or_default().push((s.digest, i));
    }
    (sent, budgets)
}

/// Phantoms, duplicates, records written although the producer said they were
/// not, and reorders, of every producer.
pub(super) fn check(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    for (p, pv) in view.producers.iter().enumerate() {
        let p = p as u32;
        let facts = &input.producers[p as usize];
        let (sent, mut budgets) = copies_sent(input.topic, pv, facts);
        let tps: BTreeSet<TopicPartition> = sent
            .keys()
            .cloned()
            .chain(
                view.written
                    .keys()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, tp)| tp.clone()),
            )
            .collect();
        for tp in tps {
            let sent = sent.get(&tp).map(Vec::as_slice).unwrap_or_default();
            let log = view
                .written
                .get(&(p, tp.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let may_duplicate: BTreeSet<u64> = budgets
                .iter()
                .filter(|((t, _), b)| *t == tp && b.retried > 0)
                .map(|((_, d), _)| *d)
                .collect();
            // When each content was first stored here.
            let mut first_at: BTreeMap<u64, std::time::Duration> = BTreeMap::new();
            for &(d, offset, at) in log {
                let first = *first_at.entry(d).or_insert(at);
                let v = |kind, detail: &str| {
                    Violation::new(kind, at, detail)
                        .producer(p)
                        .tp(tp.clone())
                        .record(sent.iter().find(|(x, _)| *x == d).map(|(_, i)| *i))
                        .offset(offset)
                };
                let Some(b) = budgets.get_mut(&(tp.clone(), d)) else {
                    out.push(v(
                        Kind::Phantom,
                        "in the log, but this producer never sent it here",
                    ));
                    continue;
                };
                if b.possible > 0 {
                    b.possible -= 1;
                } else if b.refused > 0 {
                    b.refused -= 1;
                    out.push(v(
                        Kind::FailedButWritten,
                        "in the log, but the producer reported it definitely not written",
                    ));
                } else if b.retried > 0 {
                    b.retried -= 1;
                    out.push(
                        v(Kind::Duplicate, "stored more times than it was sent")
                            .expected(Expected::RetriedWithoutIdempotence),
                    );
                } else {
                    let duplicate = v(Kind::Duplicate, "stored more times than it was sent");
                    out.push(match state_lost(input.broker_faults, &tp, first, at) {
                        Some(cause) => Violation {
                            detail: format!(
                                "stored more times than it was sent: the broker could not catch the retry, {cause} between the copies"
                            ),
                            ..duplicate
                        }
                        .expected(Expected::ProducerStateLost),
                        None => duplicate,
                    });
                }
            }
            if facts.idempotent || facts.max_in_flight == 1 {
                check_order(p, &tp, sent, log, &may_duplicate, out);
            }
        }
    }
}

/// What made the partition forget the producer's state between `from` and
/// `to` (expiry, or a restart from the producer snapshot), if anything did.
fn state_lost(
    faults: &[(std::time::Duration, crate::broker::ledger::FaultEvent)],
    tp: &TopicPartition,
    from: std::time::Duration,
    to: std::time::Duration,
) -> Option<String> {
    use crate::broker::ledger::FaultEvent;
    faults.iter().find_map(|(t, f)| {
        let within = from <= *t && *t <= to;
        match f {
            FaultEvent::ExpireProducers(x) if within && x == tp => Some(format!(
                "its producer state expired at {:.3}s",
                t.as_secs_f64()
            )),
            FaultEvent::WindowCut(x) if within && x == tp => Some(format!(
                "a restart at {:.3}s left it only each producer's last batch (Kafka's producer snapshot)",
                t.as_secs_f64()
            )),
            _ => None,
        }
    })
}

/// The first copy of every record must be in send order: matched against the
/// sends in order, a log entry takes the next unmatched send with its content.
/// A copy of content already matched is a duplicate (the duplicate rule judges
/// it), and is taken as one first where retries without idempotence may have
/// made it, so equal contents never make a false reorder. Phantoms are judged
/// by the phantom rule.
fn check_order(
    p: u32,
    tp: &TopicPartition,
    sent: &[(u64, usize)],
    log: &[LogEntry],
    may_duplicate: &BTreeSet<u64>,
    out: &mut Vec<Violation>,
) {
    let mut cursor = 0;
    let mut matched: BTreeSet<u64> = BTreeSet::new();
    for &(d, offset, at) in log {
        let phantom = !sent.iter().any(|(x, _)| *x == d);
        if phantom || matched.contains(&d) && may_duplicate.contains(&d) {
            continue;
        }
        match sent[cursor..].iter().position(|(x, _)| *x == d) {
            Some(k) => {
                cursor += k + 1;
                matched.insert(d);
            }
            None if matched.contains(&d) => {}
            None => {
                out.push(
                    Violation::new(
                        Kind::Reorder,
                        at,
                        "written after a record that was sent later",
                    )
                    .producer(p)
                    .tp(tp.clone())
                    .record(sent.iter().find(|(x, _)| *x == d).map(|(_, i)| *i))
                    .offset(offset),
                );
                return;
            }
        }
    }
}

/// Checks that need only the partition logs, for clients whose sends prodsim
/// does not see (`sim serve`): for idempotent batches, sequences that do not
/// start at 0 in an epoch or leave a gap, and sequences stored twice (a
/// duplicate the log proves). Batches without a producer id cannot be judged
/// from the log alone: equal records may have been sent twice on purpose.
pub fn check_logs(logs: &BTreeMap<TopicPartition, Vec<LogBatch>>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (tp, batches) in logs {
        sequences::check_log(tp, batches, &mut out);
    }
    out
}

/// Per client id, records without a producer id, and how many of them are
/// stored more than once in their partition with equal key, value and headers:
/// what the log shows but cannot judge.
pub fn unjudged(
    logs: &BTreeMap<TopicPartition, Vec<LogBatch>>,
) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for batches in logs.values() {
        let mut seen: BTreeSet<(&str, u64)> = BTreeSet::new();
        for b in batches.iter().filter(|b| b.producer_id < 0) {
            let e = out.entry(b.client_id.to_string()).or_default();
            for r in &b.records {
                e.0 += 1;
                if !seen.insert((&b.client_id, digest_log_record(r))) {
                    e.1 += 1;
                }
            }
        }
    }
    out
}
