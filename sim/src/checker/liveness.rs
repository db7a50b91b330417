//! Liveness and lifecycle: every send resolves exactly once, by the time the
//! faults healed plus the producer's grace period; `flush()` and `close()`
//! return, and only once the records sent before them resolved; a send after
//! `close()` fails at once with "producer closed".

use super::view::{Resolution, RunView};
use super::{CheckInput, Kind, Violation};
use crate::history::{Actor, FailKind, What};

/// Sends never resolved, resolved late or twice, and closes that never returned.
pub(super) fn check(input: &CheckInput<'_>, view: &RunView, out: &mut Vec<Violation>) {
    for (p, pv) in view.producers.iter().enumerate() {
        let facts = &input.producers[p];
        for (i, s) in pv.sends.iter().enumerate() {
            let tp = s.partition.map(|q| (input.topic.to_string(), q));
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
