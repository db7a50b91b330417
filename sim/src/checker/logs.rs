//! The logs against the sends: every stored record of a producer was sent by it
//! to that partition (else a phantom), no more often than it was attempted
//! (else a duplicate), and, for idempotent producers or one request in flight,
//! in the order it was sent (else a reorder). Log-only checks for clients whose
//! sends prodsim does not see are here too.

use super::view::RunView;
use super::{sequences, CheckInput, Expected, Kind, Violation};
use crate::cluster::LogBatch;
use crate::history::{digest_log_record, Actor, Tp, What};
use std::collections::{BTreeMap, BTreeSet};

/// Phantoms, duplicates and reorders of every producer.
pub(super) fn check(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    let retried = retried_partitions(input);
    for (p, pv) in view.producers.iter().enumerate() {
        let p = p as u32;
        let facts = &input.producers[p as usize];
        // Sent (attempted) records per partition, (digest, index) in send order.
        let mut attempted: BTreeMap<Tp, Vec<(u64, usize)>> = BTreeMap::new();
        for (i, s) in pv.sends.iter().enumerate() {
            if let (true, Some(q)) = (s.attempted || !facts.requests_observed, s.partition) {
                attempted
                    .entry((input.topic.to_string(), q))
                    .or_default()
                    .push((s.digest, i));
            }
        }
        let tps: BTreeSet<Tp> = attempted
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
            let sent = attempted.get(&tp).map(Vec::as_slice).unwrap_or_default();
            let log = view
                .written
                .get(&(p, tp.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut budget: BTreeMap<u64, usize> = BTreeMap::new();
            for (d, _) in sent {
                *budget.entry(*d).or_default() += 1;
            }
            let expected_dup = !facts.idempotent && retried.contains(&(p, tp.clone()));
            let mut kept = Vec::new();
            for &(d, offset, at) in log {
                let v = |kind, detail: &str| {
                    Violation::new(kind, at, detail)
                        .producer(p)
                        .tp(tp.clone())
                        .record(sent.iter().find(|(x, _)| *x == d).map(|(_, i)| *i))
                        .offset(offset)
                };
                match budget.get_mut(&d) {
                    None => out.push(v(
                        Kind::Phantom,
                        "in the log, but this producer never sent it here",
                    )),
                    Some(0) => {
                        let x = v(Kind::Duplicate, "stored more times than it was sent");
                        out.push(if expected_dup {
                            x.expected(Expected::RetriedWithoutIdempotence)
                        } else {
                            x
                        });
                    }
                    Some(n) => {
                        *n -= 1;
                        kept.push((d, offset, at));
                    }
                }
            }
            if facts.idempotent || facts.max_in_flight == 1 {
                // The log (minus duplicates) must be a subsequence of the send order.
                let mut cursor = 0;
                for &(d, offset, at) in &kept {
                    match sent[cursor..].iter().position(|(x, _)| *x == d) {
                        Some(k) => cursor += k + 1,
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
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// (producer, partition) pairs where some batch was sent more than once.
fn retried_partitions(input: &CheckInput<'_>) -> BTreeSet<(u32, Tp)> {
    let mut out = BTreeSet::new();
    for e in &input.history.entries {
        if let (Actor::Producer(p), What::RequestSent { batches, .. }) = (e.who, &e.what) {
            for b in batches.iter().filter(|b| b.attempt > 1) {
                out.insert((p, b.tp.clone()));
            }
        }
    }
    out
}

/// Checks that need only the partition logs, for clients whose sends prodsim does
/// not see (`sim serve`): a record stored twice by one client in one partition
/// (meaningful when that client's payloads are unique), and, for idempotent
/// batches, sequences that do not start at 0 in an epoch or leave a gap.
pub fn check_logs(logs: &BTreeMap<Tp, Vec<LogBatch>>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (tp, batches) in logs {
        sequences::check_log(tp, batches, &mut out);
        let mut seen: BTreeMap<(&str, u64), i64> = BTreeMap::new();
        for b in batches {
            for r in &b.records {
                let digest = digest_log_record(r);
                if let Some(first) = seen.insert((&b.client_id, digest), r.offset) {
                    out.push(
                        Violation::new(
                            Kind::Duplicate,
                            b.appended_at,
                            format!("client `{}`: same record as offset {first}", b.client_id),
                        )
                        .producer(super::view::producer_of(&b.client_id))
                        .tp(tp.clone())
                        .offset(r.offset),
                    );
                }
            }
        }
    }
    out
}
