//! The answers issue 14 fixed: each test fails on the sender before the fix
//! (the old behaviours survive as the `definite_error_after_maybe_written` and
//! `duplicate_answer_offsets` bugs, whose tests in `bugs.rs` show them).

use super::harness::{config, Harness};
use super::ms;
use crate::error::{code, Error};
use crate::observe::Event;
use crate::pipeline::sender::Timer;
use crate::Config;
use kafka_protocol::messages::ApiKey;

/// Sends "a" to partition 0, loses the first attempt's connection and lets the
/// retry go out: the batch may be in the log.
pub(crate) fn retry_after_a_lost_response(h: &mut Harness) -> super::harness::Sending {
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    let first = h.take(ApiKey::Produce);
    h.close_connection(0, first.generation);
    h.advance(ms(100));
    h.pump();
    r
}

#[test]
fn a_definite_error_after_a_lost_response_is_outcome_unknown() {
    let mut h = Harness::started(config(), &[0]);
    let r = retry_after_a_lost_response(&mut h);
    h.produce_answer(code::INVALID_RECORD, -1);
    h.step();
    assert_eq!(
        r.result(),
        Some(Err(Error::OutcomeUnknown)),
        "the first attempt may have been written: INVALID_RECORD only speaks for the second"
    );
}

#[test]
fn a_duplicate_sequence_answer_acks_without_inventing_offsets() {
    let mut h = Harness::started(config(), &[0]);
    let records = [h.send(0, "a"), h.send(0, "b"), h.send(0, "c")];
    h.pump();
    h.advance(ms(5));
    h.produce_answer(code::DUPLICATE_SEQUENCE_NUMBER, -1);
    h.step();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets, [-1, -1, -1], "written, offsets unknown (Java: -1)");
    assert_eq!(h.resolved(), [(0, Ok(-1))]);
}

#[test]
fn message_too_large_on_several_records_splits_the_batch_and_sends_the_halves() {
    let mut h = Harness::started(config(), &[0]);
    let records: Vec<_> = ["a", "b", "c", "d"].iter().map(|v| h.send(0, v)).collect();
    h.pump();
    h.advance(ms(5));
    let whole = h.produce_answer(code::MESSAGE_TOO_LARGE, -1);
    assert_eq!((whole[0].base_sequence, whole[0].records), (0, 4));
    h.step();
    assert!(
        records.iter().all(|r| r.result().is_none()),
        "nothing failed"
    );
    let split = h.events().into_iter().find_map(|e| match e {
        Event::BatchSplit { parts, .. } => Some(parts),
        _ => None,
    });
    assert_eq!(split, Some(vec![0, 2]));
    let first = h.produce_answer(code::NONE, 100);
    h.step();
    let second = h.produce_answer(code::NONE, 102);
    h.step();
    assert_eq!(
        [
            (first[0].base_sequence, first[0].records),
            (second[0].base_sequence, second[0].records)
        ],
        [(0, 2), (2, 2)],
        "the halves keep the original sequence range"
    );
    let offsets: Vec<i64> = records.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets, [100, 101, 102, 103]);
    assert_eq!(h.counters(), (0, 0, 0));
}

#[test]
fn a_single_record_too_large_for_the_broker_fails_alone() {
    let mut h = Harness::started(config(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    h.produce_answer(code::MESSAGE_TOO_LARGE, -1);
    h.step();
    assert_eq!(
        r.result(),
        Some(Err(Error::Broker {
            code: code::MESSAGE_TOO_LARGE
        }))
    );
}

#[test]
fn delivery_timeout_bounds_the_time_to_an_outcome_of_a_batch_in_flight() {
    let mut h = Harness::started(
        Config {
            request_timeout: ms(1_500),
            delivery_timeout: ms(2_000),
            ..config()
        },
        &[0],
    );
    let sent_at = h.now;
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    h.sent.clear(); // the broker never answers
    while r.result().is_none() {
        assert!(
            h.now < sent_at + ms(2_000),
            "still unresolved at its deadline"
        );
        h.advance_to_next_timer();
        h.pump();
    }
    assert_eq!(
        h.now,
        sent_at + ms(2_000),
        "resolved exactly at delivery_timeout"
    );
    assert_eq!(
        r.result(),
        Some(Err(Error::DeliveryTimeout {
            maybe_written: true
        }))
    );
    // The second attempt is still in flight; its late answer is bookkeeping only.
    let late = h.take(ApiKey::Produce);
    assert_eq!(h.counters().0, 0, "resolved");
    assert!(
        h.counters().1 > 0,
        "its bytes are still held by the request"
    );
    h.answer_produce(&late, |_| (code::NONE, 0));
    h.step();
    assert_eq!(h.resolved().len(), 1, "resolved once");
    assert_eq!(h.counters().1, 0, "memory returned with the answer");
    assert_ne!(
        h.state.next_timer().map(|t| t.0),
        Some(Timer::DeliveryExpiry)
    );
}
