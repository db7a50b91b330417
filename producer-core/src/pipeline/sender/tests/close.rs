//! Flush and close: buffered batches go at once, and the answer waits for every
//! record, in flight ones included.

use super::harness::{config, Harness};
use super::ms;
use crate::error::code;
use crate::pipeline::sender::DriverCommand;
use crate::Config;
use kafka_protocol::messages::ApiKey;

fn lingering() -> Config {
    Config {
        linger: ms(10_000),
        delivery_timeout: ms(20_000),
        ..config()
    }
}

fn closed(h: &Harness, token: u64) -> bool {
    h.done
        .iter()
        .any(|a| matches!(a, DriverCommand::CloseDone(t) if *t == token))
}

#[test]
fn close_sends_buffered_batches_at_once_and_finishes_after_their_answer() {
    let mut h = Harness::started(lingering(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    assert_eq!(h.count(ApiKey::Produce), 0, "lingering for 10 s");
    h.state.handle_close(Some(7));
    h.step();
    assert_eq!(h.count(ApiKey::Produce), 1, "closing: no more lingering");
    assert!(!h.state.is_finished());
    h.produce_answer(code::NONE, 0);
    h.step();
    assert_eq!(r.offset(), 0);
    assert!(h.state.is_finished());
    assert!(!closed(&h, 7), "answered only at shutdown");
    h.state.shutdown();
    h.step();
    assert!(closed(&h, 7));
    assert_eq!(h.counters(), (0, 0, 0));
}

#[test]
fn close_with_requests_in_flight_and_retries_waiting_finishes_only_when_all_resolved() {
    let mut h = Harness::started(config(), &[0, 1]);
    let a = h.send(0, "a");
    let b = h.send(1, "b");
    h.pump();
    h.advance(ms(5));
    assert_eq!(h.count(ApiKey::Produce), 2);
    h.state.handle_close(Some(1));
    let to_broker_0 = h.take(ApiKey::Produce);
    h.answer_produce(&to_broker_0, |_| (code::NOT_ENOUGH_REPLICAS, -1));
    h.step();
    assert!(!h.state.is_finished(), "a retry is waiting, b is in flight");
    h.produce_answer(code::NONE, 3);
    h.step();
    assert_eq!(b.offset(), 3);
    assert!(!h.state.is_finished(), "a is still waiting to retry");
    h.advance(ms(100));
    h.produce_answer(code::NONE, 9);
    h.step();
    assert_eq!(a.offset(), 9);
    assert!(h.state.is_finished());
}

#[test]
fn flush_sends_at_once_and_answers_when_earlier_records_resolved() {
    let mut h = Harness::started(lingering(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    h.state.handle_flush(r.send_id + 1, 3);
    h.step();
    let flushed = |h: &Harness| {
        h.done
            .iter()
            .any(|a| matches!(a, DriverCommand::FlushDone(3)))
    };
    assert!(!flushed(&h));
    h.produce_answer(code::NONE, 0);
    h.step();
    assert!(flushed(&h));
    let later = h.send(0, "b");
    h.step();
    assert_eq!(later.result(), None);
    assert_eq!(
        h.count(ApiKey::Produce),
        0,
        "after the flush, lingering again"
    );
}
