//! Hostile answers (issue 15): a broker that lies about a count, an index or an
//! offset costs the producer that connection, never the process, and the
//! records waiting on the answer go out again as after any lost connection.
//! The first three tests feed the answers measured in the issue; they, and
//! the produce answers below, aborted or panicked the producer before the
//! fix. A duplicate or negative partition index used to be accepted silently.

use super::harness::{config, Harness, Sending, Sent, TOPIC, VERSIONS};
use super::ms;
use crate::error::code;
use crate::wire::frame;
use bytes::BytesMut;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataResponse, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// A fresh producer with one record for partition 0, connected to its
/// bootstrap broker, whose first metadata request is returned unanswered.
fn waiting_for_metadata() -> (Harness, Sending, Sent) {
    let mut h = Harness::new(config());
    h.shared.accum().wanted_topics.insert(TOPIC.into());
    let r = h.send(0, "a");
    h.step();
    h.connect(-1);
    h.step();
    let meta = h.take(ApiKey::Metadata);
    (h, r, meta)
}

/// A metadata answer at the harness's version: broker 0 leads every partition listed.
fn metadata_frame(to: &Sent, partitions: &[i32]) -> BytesMut {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(0))
        .with_host(StrBytes::from_static_str("broker-0"))
        .with_port(9092);
    let partitions = partitions
        .iter()
        .map(|&i| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(0))
        })
        .collect();
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
        .with_partitions(partitions);
    let resp = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_topics(vec![topic]);
    assert_eq!(to.version, VERSIONS.metadata);
    frame::encode_response(ApiKey::Metadata, to.version, to.correlation_id, &resp)
}

/// The bootstrap connection was lost for a reason naming `what`; nothing was
/// resolved; then, with a sane broker, the record is delivered.
fn lost_then_delivered(mut h: Harness, r: Sending, what: &str) {
    let lost = h.lost_connections();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].0, -1);
    assert!(
        lost[0].1.contains(what),
        "reason {:?} names {what}",
        lost[0].1
    );
    assert_eq!(r.result(), None, "the record waits, it does not fail");
    h.sent.clear(); // what was asked on the lost connection gets no answer
    h.advance(ms(100)); // the retry backoff: dial the bootstrap broker again
    let meta = h.take(ApiKey::Metadata);
    h.answer_metadata(&meta, &[0]);
    let init = h.take(ApiKey::InitProducerId);
    h.answer_init(&init, 1000, 0);
    h.advance(ms(5));
    h.produce_answer(code::NONE, 7);
    h.step();
    assert_eq!(r.offset(), 7);
    assert_eq!(h.counters().0, 0, "nothing unresolved");
}

#[test]
fn a_metadata_answer_naming_partition_2147483646_costs_a_connection_not_the_process() {
    // Measured before the fix: "memory allocation of 25769803764 bytes failed"
    // (a Vec sized by the largest partition index), the process aborted.
    let (mut h, r, meta) = waiting_for_metadata();
    h.reply_raw(&meta, &metadata_frame(&meta, &[2_147_483_646]));
    lost_then_delivered(h, r, "2147483646");
}

#[test]
fn a_metadata_answer_naming_partition_2147483647_costs_a_connection_not_the_process() {
    // Before the fix: `partition_index + 1` overflowed (a panic in debug builds).
    let (mut h, r, meta) = waiting_for_metadata();
    h.reply_raw(&meta, &metadata_frame(&meta, &[i32::MAX]));
    lost_then_delivered(h, r, "2147483647");
}

#[test]
fn a_metadata_answer_claiming_2147483647_brokers_costs_a_connection_not_the_process() {
    // Measured before the fix: "memory allocation of 206158430112 bytes failed"
    // in kafka-protocol's decoder (`Vec::with_capacity` of the claimed count).
    let (mut h, r, meta) = waiting_for_metadata();
    let mut bytes = metadata_frame(&meta, &[0]);
    // size, correlation id, throttle time, then the broker count (v8).
    bytes[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
    h.reply_raw(&meta, &bytes);
    lost_then_delivered(h, r, "2147483647 brokers");
}

#[test]
fn a_metadata_answer_listing_a_partition_twice_costs_a_connection() {
    let (mut h, r, meta) = waiting_for_metadata();
    h.reply_raw(&meta, &metadata_frame(&meta, &[0, 0]));
    lost_then_delivered(h, r, "partition 0 listed twice");
}

#[test]
fn a_metadata_answer_with_a_negative_partition_index_costs_a_connection() {
    let (mut h, r, meta) = waiting_for_metadata();
    h.reply_raw(&meta, &metadata_frame(&meta, &[-1]));
    lost_then_delivered(h, r, "partition index -1");
}

/// A produce answer for partition 0 of [`TOPIC`] at the harness's version.
fn produce_frame(to: &Sent, base_offset: i64) -> BytesMut {
    let part = PartitionProduceResponse::default()
        .with_index(0)
        .with_base_offset(base_offset);
    let resp = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_partition_responses(vec![part])]);
    frame::encode_response(ApiKey::Produce, to.version, to.correlation_id, &resp)
}

/// Two records for partition 0 in one batch, whose produce request is
/// returned unanswered.
fn two_records_in_flight() -> (Harness, [Sending; 2], Sent) {
    let mut h = Harness::started(config(), &[0]);
    let records = [h.send(0, "a"), h.send(0, "b")];
    h.advance(ms(5));
    let req = h.take(ApiKey::Produce);
    (h, records, req)
}

/// The produce request's connection was lost for a reason naming `what`; the
/// retry, answered sanely, acknowledges both records.
fn produce_lost_then_acked(mut h: Harness, records: [Sending; 2], what: &str) {
    let lost = h.lost_connections();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].1.contains(what),
        "reason {:?} names {what}",
        lost[0].1
    );
    assert!(records.iter().all(|r| r.result().is_none()), "retried");
    h.advance(ms(100));
    h.pump();
    h.produce_answer(code::NONE, 40);
    h.step();
    assert_eq!([records[0].offset(), records[1].offset()], [40, 41]);
}

#[test]
fn a_produce_answer_whose_offsets_would_overflow_costs_a_connection() {
    // Before the fix: both records were acknowledged, and reading the second
    // one's offset, i64::MAX + 1, overflowed (a panic in debug builds).
    let (mut h, records, req) = two_records_in_flight();
    h.reply_raw(&req, &produce_frame(&req, i64::MAX));
    produce_lost_then_acked(h, records, "cannot hold 2 records");
}

#[test]
fn a_produce_answer_claiming_2147483647_partitions_costs_a_connection() {
    // Before the fix: kafka-protocol's decoder reserved room for the claimed
    // count and the process aborted.
    let (mut h, records, req) = two_records_in_flight();
    let mut bytes = produce_frame(&req, 0);
    // size, correlation id, topic count, topic name "t", then the partition count.
    bytes[15..19].copy_from_slice(&i32::MAX.to_be_bytes());
    h.reply_raw(&req, &bytes);
    produce_lost_then_acked(h, records, "2147483647 partitions");
}

#[test]
fn a_grant_of_a_negative_producer_id_costs_a_connection() {
    // Before the fix it was installed, and batches went out stamped as a
    // non-idempotent producer's.
    let mut h = Harness::new(config());
    h.shared.accum().wanted_topics.insert(TOPIC.into());
    let r = h.send(0, "a");
    h.step();
    h.connect(-1);
    h.step();
    let meta = h.take(ApiKey::Metadata);
    h.answer_metadata(&meta, &[0]);
    let init = h.take(ApiKey::InitProducerId);
    h.answer_init(&init, -1, 0);
    let lost = h.lost_connections();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].1.contains("producer id -1"), "{lost:?}");
    h.sent.clear();
    h.advance(ms(100)); // the producer id's backoff
    while h.count(ApiKey::Metadata) > 0 {
        let meta = h.take(ApiKey::Metadata);
        h.answer_metadata(&meta, &[0]);
        h.step();
    }
    let init = h.take(ApiKey::InitProducerId);
    h.answer_init(&init, 1000, 0);
    h.advance(ms(5));
    let batch = h.produce_answer(code::NONE, 3).remove(0);
    h.step();
    assert_eq!(r.offset(), 3);
    assert_eq!(batch.base_sequence, 0, "stamped by the granted identity");
}
