//! Each injected bug's hook changes the producer (`crate::bugs`), shown
//! without a runtime: the same steps with the bug off and on give different
//! results. Only with the `bug-injection` feature.

use super::fixes::retry_after_a_lost_response;
use super::harness::{config, Harness};
use super::ms;
use crate::batch::{BatchBuilder, ProducerStamp};
use crate::bugs::Bugs;
use crate::error::{code, Error};
use crate::pipeline::sender::DriverCommand;
use crate::record::Record;
use crate::Config;
use kafka_protocol::messages::ApiKey;

fn with(name: &str) -> Config {
    Config {
        bugs: Bugs::only(name).expect("known bug"),
        ..config()
    }
}

#[test]
fn close_returns_early_answers_close_with_records_unresolved() {
    for (config, early) in [(config(), false), (with("close_returns_early"), true)] {
        let mut h = Harness::started(config, &[0]);
        let r = h.send(0, "a");
        h.state.handle_close(Some(1));
        h.step();
        let closed = h
            .done
            .iter()
            .any(|a| matches!(a, DriverCommand::CloseDone(1)));
        assert_eq!(closed, early);
        assert_eq!(r.result(), None, "still in flight");
    }
}

#[test]
fn definite_error_after_maybe_written_reports_the_brokers_code() {
    for (config, expected) in [
        (config(), Error::OutcomeUnknown),
        (
            with("definite_error_after_maybe_written"),
            Error::Broker {
                code: code::INVALID_RECORD,
            },
        ),
    ] {
        let mut h = Harness::started(config, &[0]);
        let r = retry_after_a_lost_response(&mut h);
        h.produce_answer(code::INVALID_RECORD, -1);
        h.step();
        assert_eq!(r.result(), Some(Err(expected)));
    }
}

#[test]
fn duplicate_answer_offsets_invents_offsets_from_the_answer() {
    for (config, expected) in [
        (config(), [-1, -1, -1]),
        (with("duplicate_answer_offsets"), [-1, 0, 1]),
    ] {
        let mut h = Harness::started(config, &[0]);
        let records = [h.send(0, "a"), h.send(0, "b"), h.send(0, "c")];
        h.advance(ms(5));
        h.produce_answer(code::DUPLICATE_SEQUENCE_NUMBER, -1);
        h.step();
        assert_eq!(records.each_ref().map(|r| r.offset()), expected);
    }
}

#[test]
fn batch_header_wrong_writes_the_record_count_as_last_offset_delta_with_a_valid_crc() {
    for (config, delta) in [(config(), 2), (with("batch_header_wrong"), 3)] {
        let bugs = config.bugs;
        let mut h = Harness::started(config, &[0]);
        for v in ["a", "b", "c"] {
            h.send(0, v);
        }
        h.advance(ms(5));
        assert_eq!(h.produce_answer(code::NONE, 0)[0].last_offset_delta, delta);
        let mut b = BatchBuilder::new(0).with_bugs(bugs);
        for v in ["a", "b", "c"] {
            b.push(&Record::new(v), 0);
        }
        let bytes = b.seal(ProducerStamp::NONE).unwrap();
        let crc = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&bytes[21..]), "the CRC still matches");
    }
}

#[test]
fn in_flight_over_window_lets_more_than_five_requests_be_unanswered() {
    for (config, in_flight) in [(config(), 5), (with("in_flight_over_window"), 7)] {
        let mut h = Harness::started(config, &[0]);
        h.warm_up(0);
        for v in ["a", "b", "c", "d", "e", "f", "g"] {
            h.send(0, v);
            h.advance(ms(5));
        }
        assert_eq!(h.count(ApiKey::Produce), in_flight);
    }
}

#[test]
fn passed_deadline_hides_later_leaves_the_running_backoff_without_a_timer() {
    use super::timers::ended_and_running_backoffs;
    for (config, wakes) in [
        (config(), true),
        (with("passed_deadline_hides_later"), false),
    ] {
        let backoff = config.retry_backoff;
        let h = ended_and_running_backoffs(config);
        let next = h.state.next_timer().map(|(_, at)| at);
        assert_eq!(next == Some(h.now + backoff), wakes, "{next:?}");
    }
}

#[test]
fn expiry_trusts_earlier_attempts_calls_a_first_attempt_in_flight_unwritten() {
    use super::expiry::{first_attempts_in_flight_at_expiry_with, tight};
    let bugged = Config {
        bugs: Bugs::only("expiry_trusts_earlier_attempts").expect("known bug"),
        ..tight()
    };
    for (config, maybe_written) in [(tight(), true), (bugged, false)] {
        let (_h, records) = first_attempts_in_flight_at_expiry_with(config, &[0]);
        assert_eq!(
            records[0].result(),
            Some(Err(Error::DeliveryTimeout { maybe_written }))
        );
    }
}
