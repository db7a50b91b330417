//! Connections: losing one with several requests in flight, request timeouts,
//! answers that do not match, news from replaced connections, the window.

use super::harness::{config, Harness};
use super::ms;
use crate::error::code;
use crate::observe::Event;
use crate::pipeline::sender::DriverCommand;
use crate::Config;
use kafka_protocol::messages::{ApiKey, ProduceResponse};

fn lost_connections(h: &Harness) -> Vec<(i32, String, usize)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ConnectionLost {
                broker,
                reason,
                unanswered,
            } => Some((broker, reason, unanswered)),
            _ => None,
        })
        .collect()
}

fn attempts(h: &Harness) -> Vec<(u64, u32)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RequestSent { batches, .. } => Some(batches),
            _ => None,
        })
        .flatten()
        .map(|b| (b.first_send_id, b.attempt))
        .collect()
}

#[test]
fn losing_a_connection_with_three_requests_in_flight_retries_them_in_order() {
    let mut h = Harness::started(config(), &[0]);
    h.warm_up(0);
    let mut records = Vec::new();
    for v in ["a", "b", "c"] {
        records.push(h.send(0, v));
        h.pump();
        h.advance(ms(5));
    }
    assert_eq!(h.count(ApiKey::Produce), 3);
    let generation = h.sent[0].generation;
    h.sent.clear();
    h.close_connection(0, generation);
    h.step();
    assert_eq!(lost_connections(&h), [(0, "closed by test".to_string(), 3)]);
    assert!(records.iter().all(|r| r.result().is_none()), "all retried");
    assert_eq!(h.count(ApiKey::Metadata), 1, "metadata is asked for again");
    h.advance(ms(100));
    h.pump();
    // Retries travel alone on their partition: one answered, the next goes.
    let mut sequences = Vec::new();
    for i in 0..3 {
        assert_eq!(h.count(ApiKey::Produce), 1, "one retry at a time");
        sequences.push(h.produce_answer(code::NONE, 50 + i).remove(0).base_sequence);
        h.step();
    }
    assert_eq!(sequences, [1, 2, 3], "same sequences, same order");
    let offsets: Vec<i64> = records.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets, [50, 51, 52]);
    let second: Vec<(u64, u32)> = attempts(&h).into_iter().skip(3).collect();
    assert_eq!(second, [(1, 2), (2, 2), (3, 2)]);
}

#[test]
fn a_request_without_an_answer_within_request_timeout_drops_its_connection() {
    let mut h = Harness::started(config(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    let generation = h.take(ApiKey::Produce).generation;
    h.advance(ms(999));
    assert!(lost_connections(&h).is_empty());
    h.advance(ms(1));
    let lost = lost_connections(&h);
    assert_eq!(lost.len(), 1);
    assert!(lost[0].1.contains("timed out"), "{lost:?}");
    assert!(h.done.iter().any(|a| matches!(
        a,
        DriverCommand::Disconnect { broker: 0, generation: g } if *g == generation
    )));
    h.advance(ms(100));
    h.pump();
    h.produce_answer(code::NONE, 0);
    h.step();
    assert_eq!(r.offset(), 0);
}

#[test]
fn an_answer_to_the_wrong_request_drops_the_connection() {
    let mut h = Harness::started(config(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    let mut req = h.take(ApiKey::Produce);
    req.correlation_id += 1;
    h.reply(&req, &ProduceResponse::default());
    let lost = lost_connections(&h);
    assert!(lost[0].1.contains("correlation id"), "{lost:?}");
    assert_eq!(r.result(), None, "retried");
}

#[test]
fn news_from_a_replaced_connection_is_ignored() {
    let mut h = Harness::started(config(), &[0]);
    let r = h.send(0, "a");
    h.pump();
    h.advance(ms(5));
    let old = h.take(ApiKey::Produce);
    h.close_connection(0, old.generation);
    h.advance(ms(100));
    h.pump();
    // A late answer and a late close from the first connection.
    h.answer_produce(&old, |_| (code::NONE, 99));
    h.close_connection(0, old.generation);
    h.step();
    assert_eq!(
        r.result(),
        None,
        "the old connection's answer counts for nothing"
    );
    assert_eq!(lost_connections(&h).len(), 1);
    h.produce_answer(code::NONE, 4);
    h.step();
    assert_eq!(r.offset(), 4);
}

#[test]
fn at_most_max_in_flight_requests_are_unanswered_per_broker() {
    let mut h = Harness::started(
        Config {
            max_in_flight: 2,
            ..config()
        },
        &[0],
    );
    h.warm_up(0);
    for v in ["a", "b", "c"] {
        h.send(0, v);
        h.pump();
        h.advance(ms(5));
    }
    assert_eq!(h.count(ApiKey::Produce), 2, "the third waits");
    h.produce_answer(code::NONE, 0);
    h.step();
    assert_eq!(
        h.count(ApiKey::Produce),
        2,
        "the third went once one answered"
    );
}
