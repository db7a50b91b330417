//! Sizes and counters, as reported and as received, too large or corrupt: `accounting`, `corrupt`.

use crate::fixtures::{acked, check_with, digest, ended, ms, only, send, tp, Fixture, Logs};
use sim::checker::Kind;
use sim::history::{Actor, FailKind, What};

#[test]
fn accounting_mismatch_oversize_batch_oversize_request_and_counters() {
    for broken in [
        What::BatchSealed {
            tp: tp(),
            first_send_id: 0,
            records: 1,
            accounted: 99,
            encoded: 100,
            limit: 1000,
        },
        What::BatchSealed {
            tp: tp(),
            first_send_id: 0,
            records: 1,
            accounted: 1001,
            encoded: 1001,
            limit: 1000,
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
