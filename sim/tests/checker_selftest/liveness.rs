//! Each send resolved once and in time: `unresolved`, `stalled`, `resolved_twice`, `lifecycle`.

use crate::fixtures::{acked, digest, ms, only, unresolved_and_asleep, Fixture};
use sim::checker::Kind;
use sim::history::{Actor, FailKind, What};
use std::time::Duration;

#[test]
fn unresolved_send_and_missing_close() {
    let mut f = Fixture::clean(3);
    f.edit(acked(2), None);
    f.edit(|w| matches!(w, What::Closed { .. }), None);
    let v = f.verdict();
    unresolved_and_asleep(&v);
    assert!(v.violations.iter().any(|x| x.record == Some(2)));
    assert!(v
        .violations
        .iter()
        .any(|x| x.detail.contains("close never returned")));
}

#[test]
fn resolution_after_the_grace_period_is_a_liveness_violation() {
    let mut f = Fixture::clean(2);
    let late = f
        .history
        .entries
        .iter_mut()
        .find(|e| matches!(e.what, What::Acked { index: 1, .. }))
        .unwrap();
    late.at = ms(2000);
    unresolved_and_asleep(&f.verdict());
}

#[test]
fn resolved_twice() {
    let mut f = Fixture::clean(2);
    f.history.push(
        ms(25),
        Actor::Producer(0),
        What::Failed {
            index: 0,
            error: "again".into(),
            kind: FailKind::NotWritten,
        },
    );
    only(&f.verdict(), Kind::ResolvedTwice);
}

#[test]
fn a_dropped_future_is_not_unresolved() {
    let mut f = Fixture::clean(3);
    f.edit(acked(1), Some(What::FutureDropped { index: 1 }));
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Without the drop, a missing resolution is a liveness violation.
    f.edit(|w| matches!(w, What::FutureDropped { .. }), None);
    unresolved_and_asleep(&f.verdict());
}

#[test]
fn flush_or_close_returning_with_unresolved_records_is_a_lifecycle_violation() {
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Flushed { .. }),
        Some(What::Flushed { unresolved: 2 }),
    );
    only(&f.verdict(), Kind::Lifecycle);
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Closed { .. }),
        Some(What::Closed {
            unresolved_futures: 1,
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 0,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::Lifecycle);
    assert!(
        v.violations[0].detail.contains("close()"),
        "{}",
        v.violations[0]
    );
}

/// Record `index` handed to `send` after `close()` returned, resolved with `outcome`.
fn send_after_close(f: &mut Fixture, index: usize, outcome: What) {
    let p = Actor::Producer(0);
    f.history.push(
        ms(40),
        p,
        What::Send {
            index,
            send_id: None,
            partition: None,
            digest: digest(index),
            batch_len: 80,
        },
    );
    f.history.push(ms(40), p, outcome);
}

#[test]
fn a_send_after_close_must_fail_with_producer_closed() {
    let mut f = Fixture::clean(2);
    send_after_close(
        &mut f,
        2,
        What::Failed {
            index: 2,
            error: "producer closed".into(),
            kind: FailKind::ProducerClosed,
        },
    );
    f.all_acked = true;
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    let mut f = Fixture::clean(2);
    send_after_close(
        &mut f,
        2,
        What::Failed {
            index: 2,
            error: "send waited 10s for buffer memory".into(),
            kind: FailKind::NotWritten,
        },
    );
    let v = f.verdict();
    only(&v, Kind::Lifecycle);
    assert!(v.violations[0].detail.contains("not \"producer closed\""));
}

/// The clean fixture with its answer (and everything after it) moved to
/// `answer_at`: the producer is silent from its request at 10 ms until then.
fn answered_at(answer_at: Duration) -> Fixture {
    let mut f = Fixture::clean(3);
    for e in &mut f.history.entries {
        if e.at >= ms(20) {
            e.at = answer_at + (e.at - ms(20));
        }
    }
    f
}

#[test]
fn stalled_when_a_producer_with_unresolved_records_is_silent_past_its_quiet_limit() {
    // Quiet limit 0.5 s (the fixture's facts): 0.7 s without any event.
    let v = answered_at(ms(710)).verdict();
    only(&v, Kind::Stalled);
    assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    assert!(
        v.violations[0].detail.contains("3 unresolved"),
        "{}",
        v.violations[0]
    );
}

#[test]
fn no_stall_within_the_quiet_limit_or_with_nothing_unresolved() {
    let v = answered_at(ms(400)).verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // Silent for long after everything resolved: idle, not stalled.
    let mut f = Fixture::clean(3);
    f.history.push(
        ms(4_900),
        Actor::Producer(0),
        What::Flushed { unresolved: 0 },
    );
    assert!(f.verdict().passed());
    // A real client's requests are not observed: no quiet limit, no rule.
    let mut f = answered_at(ms(710));
    f.facts.quiet_limit = None;
    assert!(f.verdict().passed());
}
