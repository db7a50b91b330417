//! Timers: a deadline that has passed never hides a later one. The sender
//! sleeps until its earliest timer, so a slot whose minimum is already in the
//! past (and dropped) must still report the next deadline of that kind, or
//! nothing wakes the sender and retries wait for the delivery timeout.

use super::harness::{config, Harness};
use super::ms;
use crate::error::code;
use kafka_protocol::messages::ApiKey;

/// Answers every metadata request the test holds: every partition on `leaders`.
fn answer_metadata(h: &mut Harness, leaders: &[i32]) {
    while h.count(ApiKey::Metadata) > 0 {
        let req = h.take(ApiKey::Metadata);
        h.answer_metadata(&req, leaders);
        h.pump();
    }
}

/// Sends one record to `partition` and returns the generation of the
/// connection its produce request went on, the request answered with `answer`.
fn produce_once(h: &mut Harness, partition: i32, answer: i16) -> u64 {
    h.send(partition, "x");
    h.advance(h.shared.config.linger);
    let req = h.take(ApiKey::Produce);
    h.answer_produce(&req, |_| (answer, 0));
    h.pump();
    req.generation
}

#[test]
fn a_retry_waiting_for_its_broker_goes_when_that_brokers_backoff_ends() {
    // The shape of swarm seed 12: broker 0's backoff ended long ago (nothing
    // needed it again), a retry on partition 1 has passed its own backoff and
    // waits for broker 1, whose connection is backing off.
    let mut h = ended_backoff(config(), ms(200));
    h.send(1, "retried");
    h.advance(h.shared.config.linger);
    let req = h.take(ApiKey::Produce);
    h.answer_produce(&req, |_| (code::NOT_LEADER_OR_FOLLOWER, -1));
    h.pump();
    answer_metadata(&mut h, &[1, 1]);
    h.advance(ms(50));
    let lost_at = h.now;
    h.close_connection(1, req.generation);
    h.step();
    answer_metadata(&mut h, &[1, 1]);

    // Only timers move the clock from here: no answer or dial is pending.
    while h.count(ApiKey::Produce) == 0 && h.now < lost_at + ms(5_000) {
        h.advance_to_next_timer();
        answer_metadata(&mut h, &[1, 1]);
    }
    assert_eq!(h.count(ApiKey::Produce), 1, "the retry went out");
    let backoff = h.shared.config.retry_backoff;
    assert!(
        h.now <= lost_at + backoff + ms(1),
        "the retry waited {:?} after the connection's {backoff:?} backoff",
        h.now - lost_at
    );
}

/// Both partitions first on brokers 0 and 1, then broker 0's connection is
/// lost, both partitions move to broker 1, and `later` passes: broker 0's
/// backoff has ended and nothing needs it again.
fn ended_backoff(config: crate::Config, later: std::time::Duration) -> Harness {
    let mut h = Harness::started(config, &[0, 1]);
    h.warm_up(0);
    h.warm_up(1);
    let gen0 = produce_once(&mut h, 0, code::NONE);
    h.close_connection(0, gen0);
    h.step();
    answer_metadata(&mut h, &[1, 1]);
    h.advance(later);
    h
}

/// Broker 0's backoff ended long ago; broker 1's connection was just lost
/// and backs off from now.
pub(crate) fn ended_and_running_backoffs(config: crate::Config) -> Harness {
    let mut h = ended_backoff(config, ms(500));
    let gen1 = produce_once(&mut h, 1, code::NONE);
    h.close_connection(1, gen1);
    h.step();
    answer_metadata(&mut h, &[1, 1]);
    h
}

#[test]
fn an_ended_backoff_does_not_hide_a_running_one() {
    let h = ended_and_running_backoffs(config());
    let backoff = h.shared.config.retry_backoff;
    let deadline = h.state.next_timer().map(|(_, at)| at);
    assert_eq!(
        deadline,
        Some(h.now + backoff),
        "the sender wakes when broker 1 may be dialled again"
    );
}
