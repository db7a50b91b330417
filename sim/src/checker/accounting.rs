//! Sizes and counters: what the producer accounted equals what it encoded, no
//! batch or request passes its limit, a record is rejected as too large exactly
//! when it cannot fit, the broker found no batch corrupt, and the counters are
//! zero once `close()` returned.

use super::view::{ProducerView, Resolution, RunView};
use super::{CheckInput, Kind, ProducerFacts, Violation};
use crate::history::{Actor, FailKind, What};
use producer_core::error::code;
use producer_core::TopicPartition;

/// Accounting violations in the producers' own reports (requests, batches,
/// broker rejections, counters at close).
pub(super) fn check_reports(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    for e in &input.history.entries {
        let Actor::Producer(p) = e.who else { continue };
        let (Some(facts), Some(pv)) = (
            input.producers.get(p as usize),
            view.producers.get(p as usize),
        ) else {
            continue;
        };
        let v = |kind, detail: String| Violation::new(kind, e.at, detail).producer(p);
        match &e.what {
            What::RequestSent { .. } => request_sent(&e.what, facts, pv, &v, out),
            What::BatchSealed { .. } => batch_sealed(&e.what, facts, pv, &v, out),
            What::AttemptEnded {
                tp,
                first_send_id,
                outcome: Err(Some(c)),
            } if *c == code::CORRUPT_MESSAGE || *c == code::INVALID_RECORD => out.push(
                v(
                    Kind::Corrupt,
                    format!("broker rejected the batch: {}", code::name(*c)),
                )
                .tp(tp.clone())
                .record(pv.record_of(*first_send_id)),
            ),
            What::Closed {
                unresolved_records,
                buffered_bytes,
                in_flight_requests,
                ..
            } if *unresolved_records != 0 || *buffered_bytes != 0 || *in_flight_requests != 0 => {
                out.push(v(
                    Kind::Accounting,
                    format!(
                        "counters not zero at close: {unresolved_records} unresolved records, {buffered_bytes} buffered bytes, {in_flight_requests} requests in flight"
                    ),
                ))
            }
            _ => {}
        }
    }
}

/// A request on the wire: each batch within the batch limit, the request's
/// accounted size its encoded size, within `max_request_size`.
fn request_sent(
    what: &What,
    facts: &ProducerFacts,
    pv: &ProducerView,
    v: &impl Fn(Kind, String) -> Violation,
    out: &mut Vec<Violation>,
) {
    let What::RequestSent {
        bytes,
        accounted,
        limit,
        batches,
        ..
    } = what
    else {
        return;
    };
    // A batch goes on the wire only within the batch limit: with compression
    // its real size is known at seal, and one over the limit must be split
    // first.
    for b in batches.iter().filter(|b| b.bytes > facts.batch_limit) {
        out.push(
            v(
                Kind::Accounting,
                format!(
                    "batch of {} bytes sent over its limit {} (max_message_bytes {})",
                    b.bytes, facts.batch_limit, facts.max_message_bytes
                ),
            )
            .tp(b.tp.clone())
            .record(pv.record_of(b.first_send_id)),
        );
    }
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
}

/// A sealed batch: accounted as encoded before compression, and, when not
/// compressed, within its limit.
fn batch_sealed(
    what: &What,
    facts: &ProducerFacts,
    pv: &ProducerView,
    v: &impl Fn(Kind, String) -> Violation,
    out: &mut Vec<Violation>,
) {
    let What::BatchSealed {
        tp,
        first_send_id,
        accounted,
        uncompressed,
        encoded,
        limit,
        ..
    } = what
    else {
        return;
    };
    let batch = |detail| {
        v(Kind::Accounting, detail)
            .tp(tp.clone())
            .record(pv.record_of(*first_send_id))
    };
    if accounted != uncompressed {
        out.push(batch(format!(
            "batch accounted {accounted} bytes but encoded {uncompressed} (before compression)"
        )));
    }
    // Compressed, the real size is news at seal: the send-time rule judges it.
    let compressed = uncompressed != encoded;
    if !compressed && (*encoded > *limit || *encoded > facts.max_message_bytes) {
        out.push(batch(format!(
            "batch of {encoded} bytes is over its limit {limit} (max_message_bytes {})",
            facts.max_message_bytes
        )));
    }
}

/// What the brokers received, measured on their side: no stored batch over the
/// producer's `max_message_bytes`, no request that carried one over its
/// `max_request_size`. Independent of what the producer reports about itself.
pub(super) fn check_received(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    for (tp, batches) in input.logs {
        for b in batches {
            let Some(p) = super::view::producer_of(&b.client_id) else {
                continue;
            };
            let Some(facts) = input.producers.get(p as usize) else {
                continue;
            };
            let v = |detail: String| {
                Violation::new(Kind::Accounting, b.appended_at, detail)
                    .producer(p)
                    .tp(tp.clone())
                    .offset(b.base_offset)
            };
            if b.bytes > facts.max_message_bytes {
                out.push(v(format!(
                    "the broker received a {}-byte batch, over max_message_bytes {}",
                    b.bytes, facts.max_message_bytes
                )));
            }
            if b.request_bytes > facts.max_request_size {
                out.push(v(format!(
                    "the batch came in a {}-byte request, over max_request_size {}",
                    b.request_bytes, facts.max_request_size
                )));
            }
        }
    }
}

/// A record is rejected as too large exactly when its smallest batch is over
/// the producer's batch limit: uncompressed, or (with compression) as its
/// single-record batch came out sealed.
pub(super) fn check_too_large(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    // (producer, send id) of records sealed alone over the limit, compressed.
    let sealed_over: std::collections::BTreeSet<(usize, u64)> = input
        .history
        .entries
        .iter()
        .filter_map(|e| match (&e.who, &e.what) {
            (
                Actor::Producer(p),
                What::BatchSealed {
                    first_send_id,
                    records: 1,
                    encoded,
                    limit,
                    ..
                },
            ) if encoded > limit => Some((*p as usize, *first_send_id)),
            _ => None,
        })
        .collect();
    for (p, pv) in view.producers.iter().enumerate() {
        let facts = &input.producers[p];
        // Sends after close() must fail as "producer closed": the lifecycle rules judge them.
        for (i, s) in pv.sends.iter().enumerate().filter(|(_, s)| !s.after_close) {
            let oversize = s.batch_len > facts.batch_limit
                || s.send_id.is_some_and(|id| sealed_over.contains(&(p, id)));
            let tp = s.partition.map(|q| TopicPartition::new(input.topic, q));
            let v = |at, detail: String| {
                Violation::new(Kind::Accounting, at, detail)
                    .producer(p as u32)
                    .tp(tp.clone())
                    .record(i)
            };
            let mut rejected = false;
            for (at, r) in &s.resolutions {
                if let Resolution::Failed {
                    kind: FailKind::TooLarge,
                    ..
                } = r
                {
                    rejected = true;
                    if !oversize {
                        out.push(v(
                            *at,
                            format!(
                                "rejected as too large, but its {}-byte batch fits the {}-byte limit",
                                s.batch_len, facts.batch_limit
                            ),
                        ));
                    }
                }
            }
            if oversize && !s.resolutions.is_empty() && !rejected {
                out.push(v(
                    s.at,
                    format!(
                        "needs a {}-byte batch, over the {}-byte limit, yet was not rejected as too large",
                        s.batch_len, facts.batch_limit
                    ),
                ));
            }
        }
    }
}

/// Every batch's buffer memory goes back exactly once, in the amount charged
/// when it was sealed (a split hands the charge to its parts), and all of it
/// before `close()` returns. A batch that never left the produce set (failed
/// unsent) is released once with whatever it held.
pub(super) fn check_memory(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut charged: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    let mut sealed: BTreeSet<(u32, u64)> = BTreeSet::new();
    let mut released_unsealed: BTreeSet<(u32, u64)> = BTreeSet::new();
    for e in &input.history.entries {
        let Actor::Producer(p) = e.who else { continue };
        let v = |detail: String, tp: &TopicPartition| {
            Violation::new(Kind::Memory, e.at, detail)
                .producer(p)
                .tp(tp.clone())
        };
        match &e.what {
            What::BatchSealed {
                first_send_id,
                memory,
                ..
            } => {
                charged.insert((p, *first_send_id), *memory);
                sealed.insert((p, *first_send_id));
            }
            What::BatchSplit { first_send_id, .. } => {
                // Its parts are sealed next, each with its share.
                charged.remove(&(p, *first_send_id));
            }
            What::MemoryReleased {
                tp,
                first_send_id,
                bytes,
            } => {
                let id = (p, *first_send_id);
                match charged.remove(&id) {
                    Some(c) if c != *bytes => out.push(v(
                        format!("batch #{first_send_id} released {bytes} bytes of the {c} it was charged"),
                        tp,
                    )),
                    Some(_) => {}
                    None if sealed.contains(&id) || !released_unsealed.insert(id) => out.push(v(
                        format!(
                            "batch #{first_send_id} released {bytes} bytes it no longer held (released twice, or after a split handed its memory to its parts)"
                        ),
                        tp,
                    )),
                    None => {}
                }
            }
            What::Closed { .. } => {
                let left: Vec<u64> = charged
                    .keys()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, id)| *id)
                    .collect();
                if let Some(first) = left.first() {
                    out.push(
                        Violation::new(
                            Kind::Memory,
                            e.at,
                            format!(
                                "close() returned with the memory of {} batch(es) never released (first #{first})",
                                left.len()
                            ),
                        )
                        .producer(p),
                    );
                }
            }
            _ => {}
        }
    }
}
