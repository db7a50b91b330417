//! Batching, acknowledgement and retries: a retry keeps its sequence and goes
//! out before newer batches of its partition.

use super::harness::{config, not_leader_then_metadata, Harness};
use super::ms;
use crate::error::{code, Error};
use crate::observe::Event;
use crate::pipeline::sender::Timer;
use crate::Config;
use kafka_protocol::messages::ApiKey;

fn bumped(h: &Harness) -> bool {
    h.events()
        .iter()
        .any(|e| matches!(e, Event::EpochBumpStarted))
}

#[test]
fn records_wait_for_linger_then_go_in_one_batch_and_ack_at_consecutive_offsets() {
    let mut h = Harness::started(config(), &[0]);
    let records = [h.send(0, "a"), h.send(0, "b"), h.send(0, "c")];
    h.pump();
    assert_eq!(h.count(ApiKey::Produce), 0, "lingering");
    assert_eq!(h.state.next_timer().map(|t| t.0), Some(Timer::Linger));
    assert_eq!(h.advance_to_next_timer(), Timer::Linger);
    let batches = h.produce_answer(code::NONE, 40);
    assert_eq!(batches.len(), 1);
    assert_eq!((batches[0].base_sequence, batches[0].records), (0, 3));
    h.step();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets, [40, 41, 42]);
    assert_eq!(h.counters(), (0, 0, 0), "counters back to zero");
}

#[test]
fn a_retriable_error_sends_the_batch_again_after_backoff_with_its_sequence() {
    let (mut h, r, meta) = not_leader_then_metadata();
    h.answer_metadata(&meta, &[0]);
    h.step();
    assert_eq!(h.count(ApiKey::Produce), 0, "backing off");
    assert_eq!(h.advance_to_next_timer(), Timer::RetryBackoff);
    let again = h.produce_answer(code::NONE, 7);
    assert_eq!((again[0].epoch, again[0].base_sequence), (0, 0));
    h.step();
    assert_eq!(r.offset(), 7);
    assert!(!bumped(&h));
}

#[test]
fn a_failed_batch_goes_again_before_the_newer_batches_of_its_partition() {
    let mut h = Harness::started(config(), &[0]);
    h.warm_up(0);
    let a = h.send(0, "a");
    h.advance(ms(5));
    let b = h.send(0, "b");
    h.advance(ms(5));
    assert_eq!(h.count(ApiKey::Produce), 2, "two requests in flight");
    h.produce_answer(code::NOT_ENOUGH_REPLICAS, -1);
    // The broker refuses the newer batch: its predecessor is missing.
    h.produce_answer(code::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
    let c = h.send(0, "c");
    h.step();
    assert!(!bumped(&h), "the gap is explained by the earlier failure");
    assert_eq!(
        h.count(ApiKey::Produce),
        0,
        "the partition waits for its retry"
    );
    h.advance(ms(100));
    // Each retry travels alone; the newer c follows them.
    let mut sequences = Vec::new();
    for i in 0..3 {
        sequences.push(h.produce_answer(code::NONE, 10 + i).remove(0).base_sequence);
        h.step();
    }
    assert_eq!(sequences, [1, 2, 3], "a, then b, then the newer c");
    assert_eq!([a.offset(), b.offset(), c.offset()], [10, 11, 12]);
}

#[test]
fn retries_run_out_with_the_brokers_error_and_an_epoch_bump() {
    let mut h = Harness::started(
        Config {
            retries: 1,
            ..config()
        },
        &[0],
    );
    let r = h.send(0, "a");
    h.advance(ms(5));
    h.produce_answer(code::NOT_ENOUGH_REPLICAS, -1);
    h.step();
    h.advance_to_next_timer();
    h.produce_answer(code::NOT_ENOUGH_REPLICAS, -1);
    h.step();
    assert_eq!(
        r.result(),
        Some(Err(Error::Broker {
            code: code::NOT_ENOUGH_REPLICAS
        }))
    );
    assert!(
        bumped(&h),
        "the sequence range of the failed batch is a hole"
    );
    assert_eq!(h.count(ApiKey::InitProducerId), 1);
}

#[test]
fn the_java_clients_other_retriable_codes_are_retried_without_a_bump() {
    // LEADER_NOT_AVAILABLE, NETWORK_EXCEPTION, KAFKA_STORAGE_ERROR,
    // CORRUPT_MESSAGE, FENCED_LEADER_EPOCH: RetriableException subclasses. Before
    // issue 14 each failed the batch and forced an epoch bump.
    for error in [5, 13, 56, 2, 74] {
        let mut h = Harness::started(config(), &[0]);
        let r = h.send(0, "a");
        h.advance(ms(5));
        h.produce_answer(error, -1);
        h.step();
        assert_eq!(r.result(), None, "code {error} is retried");
        assert!(!bumped(&h), "code {error} needs no bump");
        while h.count(ApiKey::Metadata) > 0 {
            let meta = h.take(ApiKey::Metadata);
            h.answer_metadata(&meta, &[0]);
        }
        h.advance(ms(100));
        h.produce_answer(code::NONE, 3);
        h.step();
        assert_eq!(r.offset(), 3, "code {error}");
    }
}

#[test]
fn the_first_batch_of_an_epoch_and_every_retry_travel_alone() {
    let mut h = Harness::started(config(), &[0]);
    h.send(0, "a");
    h.advance(ms(5));
    h.send(0, "b");
    h.advance(ms(5));
    // A broker accepts any first sequence from a producer it does not know
    // (KIP-360): were b pipelined behind a refused a, b would become the first.
    assert_eq!(h.count(ApiKey::Produce), 1, "sequence 0 goes alone");
    h.produce_answer(code::NOT_ENOUGH_REPLICAS, -1);
    h.step();
    h.advance(ms(100));
    let retry = h.produce_answer(code::NONE, 0);
    assert_eq!(retry[0].base_sequence, 0, "the retry, alone");
    assert_eq!(h.count(ApiKey::Produce), 0, "b waits for it");
    h.step();
    assert_eq!(h.produce_answer(code::NONE, 1)[0].base_sequence, 1);
}
