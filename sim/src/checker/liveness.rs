//! Liveness: every send resolves exactly once, by the time the faults healed
//! plus the producer's grace period, and `close()` returns.

use super::view::RunView;
use super::{CheckInput, Kind, Violation};

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
            match s.resolutions.as_slice() {
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
