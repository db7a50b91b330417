//! Sizes and counters: what the producer accounted equals what it encoded, no
//! batch or request passes its limit, a record is rejected as too large exactly
//! when it cannot fit, the broker found no batch corrupt, and the counters are
//! zero once `close()` returned.

use super::view::{Resolution, RunView};
use super::{CheckInput, Kind, Violation};
use crate::history::{Actor, FailKind, What};
use producer_core::error::code;

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
            What::RequestSent {
                bytes,
                accounted,
                limit,
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
            }
            What::BatchSealed {
                tp,
                first_send_id,
                accounted,
                encoded,
                limit,
                ..
            } => {
                let batch = |detail| {
                    v(Kind::Accounting, detail)
                        .tp(tp.clone())
                        .record(pv.record_of(*first_send_id))
                };
                if accounted != encoded {
                    out.push(batch(format!(
                        "batch accounted {accounted} bytes but encoded {encoded}"
                    )));
                }
                if *encoded > *limit || *encoded > facts.max_message_bytes {
                    out.push(batch(format!(
                        "batch of {encoded} bytes is over its limit {limit} (max_message_bytes {})",
                        facts.max_message_bytes
                    )));
                }
            }
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
/// the producer's batch limit.
pub(super) fn check_too_large(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    for (p, pv) in view.producers.iter().enumerate() {
        let facts = &input.producers[p];
        // Sends after close() must fail as "producer closed": the lifecycle rules judge them.
        for (i, s) in pv.sends.iter().enumerate().filter(|(_, s)| !s.after_close) {
            let oversize = s.batch_len > facts.batch_limit;
            let tp = s.partition.map(|q| (input.topic.to_string(), q));
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
