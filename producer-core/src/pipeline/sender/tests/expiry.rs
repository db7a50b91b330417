//! The delivery timeout against attempts in flight: a batch's outcome is
//! "maybe written" when any attempt of it may have reached the log, and an
//! attempt still in flight always may, first attempt included (KIP-91). A batch
//! whose every attempt was answered with a refusal is definitely not written.
//! Whatever answer comes late, the batch resolves once and releases its memory
//! once.

use super::harness::{config, Harness, Sending};
use super::ms;
use crate::error::{code, Error};
use crate::Config;
use kafka_protocol::messages::ApiKey;

/// Delivery timeout = linger + request timeout (the least `validate` allows),
/// one request per connection at a time.
pub(crate) fn tight() -> Config {
    Config {
        linger: ms(5),
        request_timeout: ms(1_000),
        delivery_timeout: ms(1_005),
        max_in_flight: 1,
        ..config()
    }
}

const MAYBE: Option<Result<crate::RecordMetadata, Error>> = Some(Err(Error::DeliveryTimeout {
    maybe_written: true,
}));

/// Records to `partitions` that waited 300 ms behind another request (the
/// connection's window is 1), then went out: their first attempts are in
/// flight, on a live connection, when their delivery timeout passes, and the
/// clock is there. Events before the expiry are forgotten.
pub(crate) fn first_attempts_in_flight_at_expiry_with(
    config: Config,
    partitions: &[i32],
) -> (Harness, Vec<Sending>) {
    let mut h = Harness::started(config, &[0, 0, 0]);
    for p in [0, 1, 2] {
        h.warm_up(p);
    }
    h.send(0, "ahead");
    h.advance(ms(5));
    let created = h.now;
    let records: Vec<Sending> = partitions.iter().map(|&p| h.send(p, "a")).collect();
    h.advance(ms(300));
    assert_eq!(h.count(ApiKey::Produce), 1, "the window holds them back");
    h.produce_answer(code::NONE, 0);
    h.step();
    assert_eq!(h.count(ApiKey::Produce), 1, "their first attempts");
    h.forget_events();
    h.now = created + ms(1_005);
    h.step();
    (h, records)
}

fn first_attempts_in_flight_at_expiry(partitions: &[i32]) -> (Harness, Vec<Sending>) {
    first_attempts_in_flight_at_expiry_with(tight(), partitions)
}

/// Answers the producer-id and metadata requests the expiry caused.
fn settle(h: &mut Harness) {
    while h.count(ApiKey::InitProducerId) + h.count(ApiKey::Metadata) > 0 {
        if h.count(ApiKey::InitProducerId) > 0 {
            let init = h.take(ApiKey::InitProducerId);
            h.answer_init(&init, 1000, 1);
        } else {
            let meta = h.take(ApiKey::Metadata);
            h.answer_metadata(&meta, &[0, 0, 0]);
        }
        h.pump();
    }
}

#[test]
fn a_first_attempt_in_flight_at_the_delivery_timeout_is_maybe_written() {
    for partitions in [&[0][..], &[0, 1, 2]] {
        let (h, records) = first_attempts_in_flight_at_expiry(partitions);
        for r in &records {
            assert_eq!(r.result(), MAYBE, "{partitions:?}");
        }
        assert_eq!(h.resolved().len(), partitions.len());
        assert!(h.counters().1 > 0, "the request still holds the bytes");
    }
}

#[test]
fn whatever_answer_comes_late_the_batch_resolves_once_and_frees_its_memory_once() {
    for late in [
        code::NONE,
        code::NOT_LEADER_OR_FOLLOWER,
        code::MESSAGE_TOO_LARGE,
    ] {
        let (mut h, records) = first_attempts_in_flight_at_expiry(&[0, 1]);
        let req = h.take(ApiKey::Produce);
        h.answer_produce(&req, |_| (late, 0));
        h.step();
        settle(&mut h);
        h.advance(ms(200));
        assert_eq!(
            h.resolved().len(),
            2,
            "code {late}: one resolution per batch"
        );
        assert!(records.iter().all(|r| r.result() == MAYBE), "code {late}");
        assert_eq!(
            h.count(ApiKey::Produce),
            0,
            "code {late}: nothing sent again"
        );
        assert_eq!(h.counters(), (0, 0, 0), "code {late}");
    }
}

#[test]
fn a_connection_lost_after_the_expiry_changes_nothing() {
    let (mut h, records) = first_attempts_in_flight_at_expiry(&[0]);
    let req = h.take(ApiKey::Produce);
    h.close_connection(req.broker, req.generation);
    h.advance(ms(200));
    settle(&mut h);
    assert_eq!(records[0].result(), MAYBE);
    assert_eq!(h.resolved().len(), 1);
    assert_eq!(h.counters(), (0, 0, 0));
}

/// One record to partition 0, its first attempt just sent; a retry would wait
/// 2 s, past the delivery timeout.
fn first_attempt_sent_with_a_long_backoff() -> (Harness, Sending) {
    let mut h = Harness::started(
        Config {
            retry_backoff: ms(2_000),
            ..tight()
        },
        &[0],
    );
    h.warm_up(0);
    let r = h.send(0, "a");
    h.advance(ms(5));
    (h, r)
}

#[test]
fn a_batch_whose_every_attempt_was_refused_expires_as_not_written() {
    // Refused (NOT_LEADER_OR_FOLLOWER: not appended), waiting for its retry
    // when the delivery timeout passes: definitely not written.
    let (mut h, r) = first_attempt_sent_with_a_long_backoff();
    h.produce_answer(code::NOT_LEADER_OR_FOLLOWER, -1);
    h.step();
    let meta = h.take(ApiKey::Metadata);
    h.answer_metadata(&meta, &[0]);
    h.advance(ms(1_000));
    assert_eq!(h.count(ApiKey::Produce), 0, "still backing off");
    assert_eq!(
        r.result(),
        Some(Err(Error::DeliveryTimeout {
            maybe_written: false
        }))
    );
    settle(&mut h);
    assert_eq!(h.counters(), (0, 0, 0));
}

#[test]
fn a_batch_waiting_after_an_unanswered_attempt_expires_as_maybe_written() {
    // Its first attempt's connection was lost (no answer): it may be in the
    // log, and it still may when the timeout passes before the retry.
    let (mut h, r) = first_attempt_sent_with_a_long_backoff();
    let req = h.take(ApiKey::Produce);
    h.close_connection(req.broker, req.generation);
    h.step();
    h.advance(ms(1_000));
    assert_eq!(r.result(), MAYBE);
}
