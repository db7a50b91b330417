//! The checker against fabricated histories: a clean run passes, and each kind of
//! violation, planted on purpose, is reported with its producer, partition,
//! record and offset.

mod accounting;
mod delivery;
mod fixtures;
mod liveness;
mod log_contents;
mod sequences;

use fixtures::Fixture;
use sim::checker::Kind;

#[test]
fn a_clean_history_passes() {
    let v = Fixture::clean(3).verdict();
    assert!(v.passed(), "{:?}", v.violations);
    assert!(v.expected.is_empty());
}

#[test]
fn allowed_kinds_become_expected_anomalies() {
    let mut f = Fixture::clean(3);
    f.log.pop();
    f.allowed = vec![Kind::Lost];
    let v = f.verdict();
    assert!(v.passed());
    assert_eq!(v.expected[0].kind, Kind::Lost);
}
