//! Sizes and counters, as reported and as received, too large or corrupt: `accounting`, `corrupt`.

use crate::fixtures::{
    acked, attempt, check_with, digest, ended, ms, only, released, request, send, tp, Fixture, Logs,
};
use sim::checker::Kind;
use sim::history::{Actor, FailKind, What};

#[test]
fn accounting_mismatch_oversize_batch_oversize_request_and_counters() {
    for broken in [
        What::BatchSealed {
            tp: tp(),
            first_send_id: 7,
            records: 1,
            accounted: 99,
            uncompressed: 100,
            encoded: 100,
            limit: 1000,
            memory: 0,
        },
        What::BatchSealed {
            tp: tp(),
            first_send_id: 7,
            records: 1,
            accounted: 1001,
            uncompressed: 1001,
            encoded: 1001,
            limit: 1000,
            memory: 0,
        },
        What::RequestSent {
            broker: 0,
            correlation_id: 9,
            bytes: 2001,
            accounted: 2001,
            limit: 2000,
            batches: vec![],
        },
        What::RequestSent {
            broker: 0,
            correlation_id: 9,
            bytes: 150,
            accounted: 149,
            limit: 2000,
            batches: vec![],
        },
        What::Closed {
            unresolved_futures: 0,
            unresolved_records: 0,
            buffered_bytes: 0,
            in_flight_requests: 1,
        },
    ] {
        let mut f = Fixture::clean(2);
        f.history.push(ms(11), Actor::Producer(0), broken.clone());
        if matches!(broken, What::BatchSealed { .. }) {
            f.history.push(ms(12), Actor::Producer(0), released(7, 0));
        }
        let v = f.verdict();
        only(&v, Kind::Accounting);
        assert_eq!(v.violations.len(), 1, "{broken:?} -> {:?}", v.violations);
    }
}

#[test]
fn corrupt_batch_rejected_by_the_broker() {
    let mut f = Fixture::clean(1);
    f.history
        .push(ms(11), Actor::Producer(0), ended(0, Err(Some(2))));
    only(&f.verdict(), Kind::Corrupt);
}

#[test]
fn oversize_records_must_fail_alone_as_too_large() {
    let sized = |batch_len| send(1, digest(1), batch_len);
    // An oversize record that was acknowledged anyway.
    let mut f = Fixture::clean(2);
    f.edit(
        |w| matches!(w, What::Send { index: 1, .. }),
        Some(sized(901)),
    );
    only(&f.verdict(), Kind::Accounting);

    // A record that fits, rejected as too large.
    let mut f = Fixture::clean(2);
    f.log.pop();
    f.edit(
        acked(1),
        Some(What::Failed {
            index: 1,
            error: "too large".into(),
            kind: FailKind::TooLarge,
        }),
    );
    only(&f.verdict(), Kind::Accounting);

    // The right outcome: oversize and rejected as too large, even with all_acked.
    f.edit(
        |w| matches!(w, What::Send { index: 1, .. }),
        Some(sized(901)),
    );
    f.all_acked = true;
    let v = f.verdict();
    assert!(v.passed(), "{:?}", v.violations);
}

#[test]
fn batches_and_requests_are_measured_where_the_broker_received_them() {
    let f = Fixture::clean(2);
    let mut logs = f.logs();
    let verdict =
        |logs: &Logs| check_with(&f.history, logs, std::slice::from_ref(&f.facts), ms(5000));
    assert!(verdict(&logs).passed());
    // The producer reports a 100-byte batch, but the broker got 1001 bytes.
    logs.get_mut(&tp()).unwrap()[0].bytes = 1001;
    let v = verdict(&logs);
    only(&v, Kind::Accounting);
    assert!(v.violations[0]
        .detail
        .contains("broker received a 1001-byte batch"));
    logs.get_mut(&tp()).unwrap()[0].bytes = 1000;
    logs.get_mut(&tp()).unwrap()[0].request_bytes = 2001;
    only(&verdict(&logs), Kind::Accounting);
}

#[test]
fn compressed_batches_are_judged_by_their_sizes_before_and_after_compression() {
    // Sealed over the limit compressed is news, not a fault (it must be split
    // before it is sent); accounted against the uncompressed size; a batch
    // that goes on the wire over the producer's batch limit is a fault.
    let sealed = |accounted, encoded| What::BatchSealed {
        tp: tp(),
        first_send_id: 7,
        records: 2,
        accounted,
        uncompressed: 3000,
        encoded,
        limit: 900,
        memory: 0,
    };
    let mut f = Fixture::clean(2);
    f.history
        .push(ms(11), Actor::Producer(0), sealed(3000, 950));
    f.history.push(ms(12), Actor::Producer(0), released(7, 0));
    assert!(f.verdict().passed(), "{:?}", f.verdict().violations);
    f.history
        .push(ms(11), Actor::Producer(0), sealed(2999, 400));
    only(&f.verdict(), Kind::Accounting);

    let mut f = Fixture::clean(2);
    let mut over = attempt(2, 2);
    over.bytes = 901;
    f.history
        .push(ms(13), Actor::Producer(0), request(5, vec![over]));
    let v = f.verdict();
    only(&v, Kind::Accounting);
    assert!(
        v.violations[0].detail.contains("sent over its limit 900"),
        "{:?}",
        v.violations
    );
}

#[test]
fn memory_released_twice_in_another_amount_or_never() {
    let mut clean = Fixture::clean(2);
    assert!(clean.verdict().passed());
    // Twice.
    let mut twice = Fixture::clean(2);
    twice
        .history
        .push(ms(25), Actor::Producer(0), released(0, 512));
    only(&twice.verdict(), Kind::Memory);
    // In another amount.
    let mut other = Fixture::clean(2);
    other.edit(
        |w| matches!(w, What::MemoryReleased { .. }),
        Some(released(0, 500)),
    );
    only(&other.verdict(), Kind::Memory);
    // Never, before close() returned.
    clean.edit(|w| matches!(w, What::MemoryReleased { .. }), None);
    let v = clean.verdict();
    only(&v, Kind::Memory);
    assert!(
        v.violations[0].detail.contains("never released"),
        "{:?}",
        v.violations
    );
    // A split hands the charge to its parts: the original released as well is twice.
    let mut split = Fixture::clean(2);
    split.history.push(
        ms(15),
        Actor::Producer(0),
        What::BatchSplit {
            tp: tp(),
            first_send_id: 0,
            parts: vec![0, 1],
        },
    );
    split
        .history
        .push(ms(16), Actor::Producer(0), released(0, 512));
    only(&split.verdict(), Kind::Memory);
    // A batch that never left the produce set is released once, uncharged.
    let mut unsent = Fixture::clean(2);
    unsent
        .history
        .push(ms(25), Actor::Producer(0), released(40, 512));
    assert!(
        unsent.verdict().passed(),
        "{:?}",
        unsent.verdict().violations
    );
    unsent
        .history
        .push(ms(26), Actor::Producer(0), released(40, 512));
    only(&unsent.verdict(), Kind::Memory);
}
