//! Acks against the log: `lost`, `offset_mismatch`, `not_acked`, `mutated`, `failed_but_written`.

use crate::fixtures::{acked, check_with, closed, ms, only, tp, Fixture};
use sim::checker::Kind;
use sim::history::{Actor, FailKind, What};

#[test]
fn lost_acked_record_absent_from_the_log() {
    let mut f = Fixture::clean(3);
    f.log.pop();
    let v = f.verdict();
    only(&v, Kind::Lost);
    let x = &v.violations[0];
    assert_eq!(
        (x.record, x.offset, x.tp.clone()),
        (Some(2), Some(2), Some(tp()))
    );
    assert!(
        x.to_string()
            .contains("producer-0 events/0 record #2 offset 2"),
        "{x}"
    );
}

#[test]
fn offset_mismatch_when_an_ack_names_another_records_offset() {
    let mut f = Fixture::clean(3);
    f.move_ack(1, 2);
    let v = f.verdict();
    only(&v, Kind::OffsetMismatch);
    assert!(
        v.violations
            .iter()
            .any(|x| x.detail.contains("same offset")),
        "two acks at one offset"
    );
}

#[test]
fn offset_mismatch_when_the_offset_holds_another_producers_record() {
    // The Sarama symptom: an ack pointing at another producer's write.
    let mut f = Fixture::clean(1);
    f.client = "producer-1";
    let facts = f.facts.clone();
    let logs = f.logs();
    let producers = [facts.clone(), facts];
    let mut h = f.history.clone();
    h.push(ms(30), Actor::Producer(1), closed());
    let v = check_with(&h, &logs, &producers, ms(100));
    assert!(
        v.violations
            .iter()
            .any(|x| x.kind == Kind::OffsetMismatch && x.detail.contains("producer-1's")),
        "{:?}",
        v.violations
    );
}

#[test]
fn an_ack_without_an_offset_needs_the_record_in_its_partition() {
    let mut f = Fixture::clean(3);
    let no_offset = What::Acked {
        index: 2,
        partition: 0,
        offset: -1,
    };
    f.edit(acked(2), Some(no_offset));
    let v = f.verdict();
    assert!(
        v.passed(),
        "a duplicate answer has no offset: {:?}",
        v.violations
    );
    f.log = vec![0, 1];
    let v = f.verdict();
    only(&v, Kind::Lost);
    assert!(v.violations[0].detail.contains("without an offset"));
    // Invented offsets from a -1 base (-1, 0, 1, ...) are caught: 0 holds record 0.
    f.log = vec![0, 1, 2];
    f.move_ack(1, 0);
    only(&f.verdict(), Kind::OffsetMismatch);
}

#[test]
fn not_acked_when_every_send_must_be() {
    let mut f = Fixture::clean(2);
    f.log.pop();
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "delivery timed out".into(),
            kind: FailKind::NotWritten,
        }),
    );
    assert!(f.verdict().passed(), "a failed send is fine by default");
    f.all_acked = true;
    only(&f.verdict(), Kind::NotAcked);
}

#[test]
fn mutated_record() {
    let mut f = Fixture::clean(1);
    f.history
        .push(ms(40), Actor::Producer(0), What::RecordMutated { index: 0 });
    only(&f.verdict(), Kind::Mutated);
}

#[test]
fn a_record_failed_as_definitely_unwritten_but_in_the_log_is_reported() {
    let mut f = Fixture::clean(3);
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "broker error 10 MESSAGE_TOO_LARGE".into(),
            kind: FailKind::NotWritten,
        }),
    );
    let v = f.verdict();
    only(&v, Kind::FailedButWritten);
    assert_eq!(v.violations[0].record, Some(1));
    // The same record with an unknown outcome may well be in the log.
    f.edit(
        |w| matches!(w, What::Failed { index: 1, .. }),
        Some(What::Failed {
            index: 1,
            error: "outcome unknown".into(),
            kind: FailKind::MaybeWritten,
        }),
    );
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
    // And a definite failure that is not in the log is fine.
    f.edit(
        |w| matches!(w, What::Failed { index: 1, .. }),
        Some(What::Failed {
            index: 1,
            error: "producer closed".into(),
            kind: FailKind::ProducerClosed,
        }),
    );
    f.log = vec![0, 2];
    f.move_ack(2, 1);
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
}
