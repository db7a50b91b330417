//! Producer ids and epoch bumps: a bump waits for the in-flight window, gives up
//! on batches whose fate is unknown, and restarts every sequence at 0.

use super::harness::{config, Harness};
use super::ms;
use crate::error::{code, Error};
use crate::observe::Event;
use crate::Config;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest};
use kafka_protocol::protocol::Decodable;

fn bumps(h: &Harness) -> usize {
    h.events()
        .iter()
        .filter(|e| matches!(e, Event::EpochBumpStarted))
        .count()
}

#[test]
fn an_unknown_outcome_fails_the_batch_and_the_bump_restarts_sequences_at_zero() {
    let mut h = Harness::started(
        Config {
            retries: 0,
            ..config()
        },
        &[0],
    );
    let first = h.send(0, "a");
    h.advance(ms(5));
    let req = h.take(ApiKey::Produce);
    h.close_connection(0, req.generation);
    h.step();
    assert_eq!(first.result(), Some(Err(Error::OutcomeUnknown)));
    assert_eq!(bumps(&h), 1);
    let init = h.take(ApiKey::InitProducerId);
    let asked = InitProducerIdRequest::decode(&mut init.body.clone(), init.version).unwrap();
    assert_eq!(
        (asked.producer_id.0, asked.producer_epoch),
        (1000, 0),
        "asks to bump exactly the epoch it had"
    );
    h.answer_init(&init, 1000, 1);
    let second = h.send(0, "b");
    h.advance(ms(100));
    h.pump();
    h.advance(ms(5));
    let batch = h.produce_answer(code::NONE, 1).remove(0);
    assert_eq!((batch.epoch, batch.base_sequence), (1, 0));
    h.step();
    assert_eq!(second.offset(), 1);
}

#[test]
fn a_bump_waits_until_no_request_is_in_flight_and_restamps_the_retry() {
    let mut h = Harness::started(config(), &[0, 0]);
    let a = h.send(0, "a");
    h.advance(ms(5));
    let b = h.send(1, "b");
    h.advance(ms(5));
    assert_eq!(h.count(ApiKey::Produce), 2);
    // The broker lost our producer state for partition 0.
    h.produce_answer(code::UNKNOWN_PRODUCER_ID, -1);
    h.step();
    assert_eq!(bumps(&h), 0, "partition 1's request is still unanswered");
    assert_eq!(h.count(ApiKey::InitProducerId), 0);
    h.produce_answer(code::NONE, 20);
    h.step();
    assert_eq!(b.offset(), 20);
    assert_eq!(bumps(&h), 1);
    let init = h.take(ApiKey::InitProducerId);
    h.answer_init(&init, 1000, 1);
    h.step();
    let retry = h.produce_answer(code::NONE, 5).remove(0);
    assert_eq!(
        (retry.partition, retry.epoch, retry.base_sequence),
        (0, 1, 0),
        "never written, so sent again under the new epoch from sequence 0"
    );
    h.step();
    assert_eq!(a.offset(), 5);
}

#[test]
fn a_bump_gives_up_on_retries_that_may_have_been_written() {
    let mut h = Harness::started(config(), &[1, 0]);
    let lost = h.send(0, "maybe written");
    h.pump();
    h.advance(ms(5));
    let req = h.take(ApiKey::Produce);
    assert_eq!(req.broker, 1);
    h.close_connection(1, req.generation);
    h.step();
    assert_eq!(lost.result(), None, "retried: it may be in the log");
    // Partition 1 (broker 0) gets an unknown producer id: a bump is needed,
    // and sending the maybe-written batch under a new epoch could duplicate it.
    let other = h.send(1, "b");
    h.pump();
    h.advance(ms(5));
    h.produce_answer(code::UNKNOWN_PRODUCER_ID, -1);
    h.step();
    assert_eq!(bumps(&h), 1);
    assert_eq!(lost.result(), Some(Err(Error::OutcomeUnknown)));
    assert_eq!(other.result(), None, "definitely unwritten: kept");
    let init = h.take(ApiKey::InitProducerId);
    h.answer_init(&init, 1000, 1);
    h.step();
    let retry = h.produce_answer(code::NONE, 9).remove(0);
    assert_eq!(
        (retry.partition, retry.epoch, retry.base_sequence),
        (1, 1, 0)
    );
    h.step();
    assert_eq!(other.offset(), 9);
    let (unresolved, memory, _) = h.counters();
    assert_eq!((unresolved, memory), (0, 0));
}
