//! Liveness and lifecycle: every send resolves exactly once, by the time the
//! faults healed plus the producer's grace period; `flush()` and `close()`
//! return, and only once the records sent before them resolved; a send after
//! `close()` fails at once with "producer closed".

use super::view::{Resolution, RunView};
use super::{CheckInput, Kind, Violation};
use crate::history::{Actor, FailKind, What};
use producer_core::TopicPartition;
use std::time::Duration;

/// Sends never resolved, resolved late or twice, and closes that never returned.
pub(super) fn check(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    for (p, pv) in view.producers.iter().enumerate() {
        let facts = &input.producers[p];
        for (i, s) in pv.sends.iter().enumerate() {
            let tp = s.partition.map(|q| TopicPartition::new(input.topic, q));
            let v = |kind, at, detail: String| {
                Violation::new(kind, at, detail)
                    .producer(p as u32)
                    .tp(tp.clone())
                    .record(i)
            };
            let deadline = s.at.max(input.last_fault) + facts.grace;
            if s.after_close {
                out.extend(
                    after_close(s.resolutions.as_slice()).map(|(at, d)| v(Kind::Lifecycle, at, d)),
                );
            }
            match s.resolutions.as_slice() {
                [] if s.dropped => {}
                [] => out.push(v(
                    Kind::Unresolved,
                    input.end,
                    format!(
                        "sent at {:.3}s, never resolved (run ended at {:.3}s)",
                        s.at.as_secs_f64(),
                        input.end.as_secs_f64()
                    ),
                )),
                [(at, _)] if *at > deadline => out.push(v(
                    Kind::Unresolved,
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
                [_, (at, _), ..] => out.push(v(
                    Kind::ResolvedTwice,
                    *at,
                    format!("resolved {} times", s.resolutions.len()),
                )),
            }
        }
        if !pv.closed {
            out.push(
                Violation::new(Kind::Unresolved, input.end, "flush/close never returned")
                    .producer(p as u32),
            );
        }
    }
}

/// What is wrong with how a send made after `close()` resolved.
fn after_close(
    resolutions: &[(std::time::Duration, Resolution)],
) -> Option<(std::time::Duration, String)> {
    match resolutions.first()? {
        (at, Resolution::Acked { .. }) => Some((
            *at,
            "sent after close() returned, yet acknowledged".to_string(),
        )),
        (
            _,
            Resolution::Failed {
                kind: FailKind::ProducerClosed,
                ..
            },
        ) => None,
        (at, Resolution::Failed { error, .. }) => Some((
            *at,
            format!("sent after close() returned: failed with `{error}`, not \"producer closed\""),
        )),
    }
}

/// `flush()` and `close()` that returned while futures of records sent before
/// them were unresolved.
pub(super) fn check_returns(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    for e in &input.history.entries {
        let Actor::Producer(p) = e.who else { continue };
        let (call, n) = match &e.what {
            What::Flushed { unresolved } => ("flush()", *unresolved),
            What::Closed {
                unresolved_futures, ..
            } => ("close()", *unresolved_futures),
            _ => continue,
        };
        if n > 0 {
            out.push(
                Violation::new(
                    Kind::Lifecycle,
                    e.at,
                    format!("{call} returned while {n} records sent before it were unresolved"),
                )
                .producer(p),
            );
        }
    }
}

/// Producers that held unresolved records and showed no sign of work for
/// longer than their quiet limit: every wait of a correct producer ends in a
/// request, an answer or a lost connection within its timers, so a longer
/// silence is a sender asleep with work to do (a timer it forgot to set).
pub(super) fn check_stalls(input: &CheckInput<'_>, out: &mut Vec<Violation>) {
    for (p, facts) in input.producers.iter().enumerate() {
        let Some(limit) = facts.quiet_limit else {
            continue;
        };
        let mut unresolved = 0usize;
        let mut last = None;
        let entries = input.history.entries.iter();
        for e in entries.filter(|e| e.who == Actor::Producer(p as u32)) {
            if let Some(since) = last.filter(|_| unresolved > 0) {
                out.extend(stall(p, unresolved, since, e.at, limit));
            }
            last = Some(e.at);
            match &e.what {
                What::Send { .. } => unresolved += 1,
                // A dropped future's record still resolves, unseen: stop
                // counting it (lenient: a stall then needs another record).
                What::Acked { .. } | What::Failed { .. } | What::FutureDropped { .. } => {
                    unresolved = unresolved.saturating_sub(1)
                }
                _ => {}
            }
        }
        if let Some(since) = last.filter(|_| unresolved > 0) {
            out.extend(stall(p, unresolved, since, input.end, limit));
        }
    }
}

/// A stall of producer `p` if it was silent from `since` to `until`.
fn stall(
    p: usize,
    unresolved: usize,
    since: Duration,
    until: Duration,
    limit: Duration,
) -> Option<Violation> {
    let quiet = until.saturating_sub(since);
    (quiet > limit).then(|| {
        Violation::new(
            Kind::Stalled,
            since + limit,
            format!(
                "held {unresolved} unresolved records and did nothing for {:.3}s \
                 (from {:.3}s to {:.3}s; a correct producer acts within {limit:?})",
                quiet.as_secs_f64(),
                since.as_secs_f64(),
                until.as_secs_f64()
            ),
        )
        .producer(p as u32)
    })
}
