//! The handshake, decided by the state: ApiVersions first on every connection,
//! nothing else until its answer, versions taken from it, and one deadline (the
//! dial's `request_timeout`) for connecting and answering.

use super::harness::{api_versions_answer, config, Harness, TOPIC, VERSIONS};
use super::ms;
use crate::pipeline::sender::{DriverCommand, Timer};
use crate::wire::requests::Versions;
use crate::Config;
use kafka_protocol::messages::ApiKey;

/// A harness that wants metadata for [`TOPIC`] and has dialled the bootstrap
/// broker (-1), not connected yet.
fn dialling(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.shared.accum().wanted_topics.insert(TOPIC.into());
    h.step();
    assert!(h.dials.contains_key(&-1), "the bootstrap broker is dialled");
    h
}

fn disconnected(h: &Harness, generation: u64) -> bool {
    h.done
        .iter()
        .any(|a| matches!(a, DriverCommand::Disconnect { broker: -1, generation: g } if *g == generation))
}

#[test]
fn apiversions_goes_first_and_nothing_else_is_written_before_its_answer() {
    let mut h = dialling(config());
    let hello = h.connect_socket(-1);
    assert_eq!(hello.correlation_id, 0);
    assert_eq!(hello.version, crate::wire::requests::API_VERSIONS_VERSION);
    h.advance(ms(50));
    assert!(
        h.sent.is_empty(),
        "written before the handshake: {:?}",
        h.sent
    );
    h.reply(&hello, &api_versions_answer(VERSIONS));
    h.step();
    let meta = h.take(ApiKey::Metadata);
    assert_eq!(meta.version, VERSIONS.metadata);
    assert_eq!(
        meta.correlation_id, 1,
        "requests count on from the handshake"
    );
}

#[test]
fn the_versions_asked_for_are_the_highest_both_sides_speak() {
    for metadata in [1, 4, 8, 12] {
        let mut h = dialling(config());
        let hello = h.connect_socket(-1);
        let offer = Versions {
            metadata,
            ..VERSIONS
        };
        h.reply(&hello, &api_versions_answer(offer));
        h.step();
        let meta = h.take(ApiKey::Metadata);
        assert_eq!(
            meta.version,
            metadata.min(8),
            "broker offers Metadata v{metadata}"
        );
    }
}

#[test]
fn a_broker_without_an_api_the_producer_needs_costs_the_connection() {
    // Idempotence needs InitProducerId: a broker offering v-1..=-1 of it is refused.
    let mut h = dialling(config());
    let hello = h.connect_socket(-1);
    let offer = Versions {
        init_producer_id: -1,
        ..VERSIONS
    };
    h.reply(&hello, &api_versions_answer(offer));
    h.step();
    assert!(disconnected(&h, hello.generation));
    let reasons = h.lost_connections();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].1.contains("InitProducerId"), "{reasons:?}");
    assert_eq!(h.count(ApiKey::Metadata), 0);
    // Without idempotence the same broker will do.
    let mut h = dialling(Config {
        idempotence: false,
        ..config()
    });
    let hello = h.connect_socket(-1);
    h.reply(&hello, &api_versions_answer(offer));
    h.step();
    assert_eq!(h.count(ApiKey::Metadata), 1);
}

#[test]
fn an_unanswered_handshake_times_out_at_the_dials_deadline_and_the_broker_is_dialled_again() {
    let mut h = dialling(config());
    let dialled_at = h.now;
    let hello = h.connect_socket(-1);
    assert_eq!(h.advance_to_next_timer(), Timer::RequestTimeout);
    assert_eq!(h.now, dialled_at + h.shared.config.request_timeout);
    assert!(disconnected(&h, hello.generation));
    assert!(
        h.lost_connections()[0].1.contains("ApiVersions timed out"),
        "{:?}",
        h.lost_connections()
    );
    // The answer arriving late on the old connection changes nothing.
    h.reply(&hello, &api_versions_answer(VERSIONS));
    h.step();
    assert_eq!(h.count(ApiKey::Metadata), 0);
    // After the backoff the broker is dialled again; the harness connects it
    // and answers its handshake, and only then does Metadata go out.
    h.advance(h.shared.config.retry_backoff);
    let meta = h.take(ApiKey::Metadata);
    assert!(meta.generation > hello.generation);
}

#[test]
fn a_dial_that_never_connects_times_out_too() {
    let mut h = dialling(config());
    let dialled_at = h.now;
    let (timer, at) = h.state.next_timer().expect("a timer is set");
    assert_eq!(timer, Timer::RequestTimeout);
    assert_eq!(at, dialled_at + h.shared.config.request_timeout);
    h.now = at;
    h.step();
    assert_eq!(h.lost_connections().len(), 1);
    assert!(h
        .done
        .iter()
        .any(|a| matches!(a, DriverCommand::Disconnect { broker: -1, .. })));
}

#[test]
fn an_undecodable_handshake_answer_costs_the_connection_not_the_process() {
    for garbage in [
        &[0u8, 0, 0, 4, 0, 0, 0, 0][..],
        &[0, 0, 0, 6, 0, 0, 0, 0, 0xff, 0xff],
    ] {
        let mut h = dialling(config());
        let hello = h.connect_socket(-1);
        h.reply_raw(&hello, garbage);
        h.step();
        assert!(disconnected(&h, hello.generation), "{garbage:?}");
        assert_eq!(h.count(ApiKey::Metadata), 0);
    }
}
