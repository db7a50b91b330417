//! The simulated broker validates produced batches as Apache Kafka's does, and
//! answers idempotent producers as the broker version it plays: each rule with a
//! hand-made batch (sim/src/log_validator.rs, sim/src/producer_state.rs).

mod support;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use producer_core::error::code;
use sim::broker::{handle_frame, Reply};
use sim::cluster::{Cluster, ClusterSpec, TopicSpec};
use sim::log_validator::{self, validate};
use sim::producer_state::BrokerVersion;
use std::time::Duration;
use support::raw_batch::{record, zigzag, RawBatch};

fn ok(b: &RawBatch) -> log_validator::ValidBatch {
    validate(&b.encode()).unwrap_or_else(|r| panic!("refused: {r:?}"))
}

fn refused(b: &RawBatch) -> i16 {
    match validate(&b.encode()) {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(r) => r.code,
    }
}

fn three() -> RawBatch {
    RawBatch::of(vec![record(0, "a"), record(1, "b"), record(2, "c")])
}

#[test]
fn a_well_formed_batch_is_accepted_and_decoded() {
    let v = ok(&three().idempotent(7, 1, 10));
    assert_eq!(
        (v.producer_id, v.producer_epoch, v.base_sequence),
        (7, 1, 10)
    );
    let values: Vec<_> = v.records.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, ["a", "b", "c"]);
}

#[test]
fn repeated_header_keys_are_kept_in_order() {
    let mut r = record(0, "v");
    r.headers = vec![
        (b"h".to_vec(), Some(b"1".to_vec())),
        (b"h".to_vec(), None),
        (b"g".to_vec(), Some(b"2".to_vec())),
    ];
    let v = ok(&RawBatch::of(vec![r]));
    let keys: Vec<_> = v.records[0]
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.is_some()))
        .collect();
    assert_eq!(keys, [("h", true), ("h", false), ("g", true)]);
}

#[test]
fn last_offset_delta_must_match_the_record_count() {
    let mut b = three();
    b.last_offset_delta = Some(3);
    assert_eq!(refused(&b), 87);
    b.last_offset_delta = Some(-1);
    assert_eq!(refused(&b), 87, "an empty offset range");
}

#[test]
fn record_count_must_be_positive_and_match_the_records() {
    let mut b = three();
    b.count = Some(0);
    b.last_offset_delta = Some(-1);
    assert_eq!(refused(&b), 87);
    let mut b = three();
    b.count = Some(2);
    b.last_offset_delta = Some(1);
    assert_eq!(refused(&b), 87, "a third record is left over");
}

#[test]
fn bytes_after_the_last_record_or_inside_a_record_are_refused() {
    let mut b = three();
    b.junk = vec![0, 0, 0];
    assert_eq!(refused(&b), 87);
    let mut b = three();
    b.records[1].junk = vec![9];
    assert_eq!(refused(&b), 87);
}

#[test]
fn base_offset_must_be_zero_and_magic_two() {
    let mut b = three();
    b.base_offset = 5;
    assert_eq!(refused(&b), 87);
    let mut b = three();
    b.magic = 1;
    assert_eq!(refused(&b), 87);
}

#[test]
fn a_crc_mismatch_is_corrupt() {
    let mut b = three();
    b.bad_crc = true;
    assert_eq!(refused(&b), 2);
}

#[test]
fn attributes_a_client_may_not_set_are_answered_as_kafka_does() {
    for (attributes, code) in [
        (0x20, 87), // control batch
        (0x10, code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        (0x07, code::UNKNOWN_SERVER_ERROR), // no such codec
    ] {
        let mut b = three();
        b.attributes = attributes;
        assert_eq!(refused(&b), code, "attributes {attributes:#x}");
    }
}

#[test]
fn a_log_append_time_bit_from_a_client_is_stored_as_the_topics_create_time() {
    // Kafka 4.4 accepts it and writes the topic's timestamp type over it
    // (measured by interop/tests/fidelity, case validation/log-append-time-from-a-client).
    let mut b = three();
    b.attributes = 0x08;
    ok(&b);
    let mut c = cluster(BrokerVersion::V3_8);
    assert_eq!(produce(&mut c, &b), (0, 0));
    let stored = &c.partition("events", 0).unwrap().raw[0].0;
    assert_eq!(i16::from_be_bytes([stored[21], stored[22]]) & 0x08, 0);
    assert_eq!(
        crc32c::crc32c(&stored[21..]),
        u32::from_be_bytes(stored[17..21].try_into().unwrap()),
        "the CRC is computed again over the rewritten attributes"
    );
}

#[test]
fn a_producer_id_needs_a_sequence() {
    assert_eq!(refused(&three().idempotent(7, 0, -1)), 87);
}

#[test]
fn one_batch_per_partition_and_short_garbage_after_it_is_dropped() {
    let one = three().encode();
    let mut two = one.to_vec();
    two.extend_from_slice(&one);
    assert_eq!(validate(&Bytes::from(two)).unwrap_err().code, 87);
    let mut short = one.to_vec();
    short.extend_from_slice(&[0; 11]);
    assert!(
        validate(&Bytes::from(short)).is_ok(),
        "Kafka trims fewer than 12 bytes"
    );
}

#[test]
fn offset_deltas_are_not_checked_but_stored_as_a_consumer_reads_them() {
    let mut b = three();
    b.records[1].offset_delta = 5;
    let v = ok(&b);
    assert_eq!(v.records[1].offset_delta, 5);
}

// ----- through the broker: versions and producer state ------------------------

fn cluster(version: BrokerVersion) -> Cluster {
    Cluster::new(
        ClusterSpec {
            brokers: 1,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 1,
                replication: 1,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(100),
            broker_version: version,
        },
        |id| (format!("broker-{id}"), 9092),
    )
}

/// Produces `batch` to events/0 and returns (error code, base offset).
fn produce(c: &mut Cluster, batch: &RawBatch) -> (i16, i64) {
    produce_to(c, 0, batch)
}

/// As [`produce`], to broker `broker`.
fn produce_to(c: &mut Cluster, broker: i32, batch: &RawBatch) -> (i16, i64) {
    let p = answer(c, broker, batch, -1);
    (p.error_code, p.base_offset)
}

/// The whole answer for events/0 of a Produce v8 with `acks`.
fn answer(c: &mut Cluster, broker: i32, batch: &RawBatch, acks: i16) -> PartitionProduceResponse {
    let version = 8;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("producer-0")));
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("events")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.encode()))])]);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, ProduceRequest::header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    let Reply::Respond(frame) = handle_frame(c, broker, buf.freeze(), Duration::ZERO) else {
        panic!("no answer");
    };
    let mut body = frame.freeze();
    let _ = body.split_to(4);
    ResponseHeader::decode(&mut body, ProduceResponse::header_version(version)).unwrap();
    let resp = ProduceResponse::decode(&mut body, version).unwrap();
    resp.responses[0].partition_responses[0].clone()
}

// ----- the answer's other fields, as Kafka 4.4 gives them (measured by
// interop/tests/fidelity against a real broker) -------------------------------

#[test]
fn a_duplicate_is_answered_with_the_stored_batchs_max_timestamp() {
    let mut c = cluster(BrokerVersion::V3_8);
    let b = three().idempotent(42, 0, 0);
    let first = answer(&mut c, 0, &b, -1);
    assert_eq!(
        (
            first.error_code,
            first.log_append_time_ms,
            first.log_start_offset
        ),
        (0, -1, 0)
    );
    let again = answer(&mut c, 0, &b, -1);
    assert_eq!(
        (
            again.error_code,
            again.base_offset,
            again.log_append_time_ms,
            again.log_start_offset
        ),
        (0, 0, 1_700_000_000_000, 0)
    );
}

#[test]
fn errors_before_the_log_carry_no_log_start_offset_errors_of_the_log_do() {
    let mut c = cluster(BrokerVersion::V3_8);
    let mut corrupt = three();
    corrupt.bad_crc = true;
    let mut magic = three();
    magic.magic = 1;
    let mut counted = three();
    counted.count = Some(4);
    for (b, code, log_start) in [(corrupt, 2, -1), (magic, 87, -1), (counted, 87, 0)] {
        let a = answer(&mut c, 0, &b, -1);
        assert_eq!((a.error_code, a.log_start_offset), (code, log_start));
    }
    assert_eq!(produce(&mut c, &three().idempotent(42, 0, 0)).0, 0);
    let gap = answer(&mut c, 0, &three().idempotent(42, 0, 9), -1);
    assert_eq!((gap.error_code, gap.log_start_offset), (45, 0));
    let acks = answer(&mut c, 0, &three(), 2);
    assert_eq!(
        (acks.error_code, acks.log_start_offset),
        (21, -1),
        "INVALID_REQUIRED_ACKS"
    );
}

#[test]
fn records_too_far_ahead_of_the_brokers_clock_are_listed_one_by_one() {
    let mut c = cluster(BrokerVersion::V3_8);
    // The batch's records are stamped 1_700_000_000_000 (+ delta); the
    // broker's clock is at 1_700_000_000_000 (Duration::ZERO).
    let mut b = three();
    b.records[1].timestamp_delta = 3_600_001;
    let a = answer(&mut c, 0, &b, -1);
    assert_eq!(a.error_code, code::INVALID_TIMESTAMP);
    assert_eq!(a.log_start_offset, 0);
    let listed: Vec<i32> = a.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(listed, vec![1]);
    b.records[1].timestamp_delta = 3_600_000;
    assert_eq!(
        answer(&mut c, 0, &b, -1).error_code,
        0,
        "exactly one hour ahead is allowed"
    );
}

#[test]
fn topic_configs_limit_size_keys_and_stamp_append_time() {
    use sim::cluster::TopicConfig;
    let mut c = cluster(BrokerVersion::V3_8);
    let mut config = TopicConfig::new("events", 0);
    config.set("max.message.bytes", Some("80")).unwrap();
    config.set("cleanup.policy", Some("compact")).unwrap();
    config
        .set("message.timestamp.type", Some("LogAppendTime"))
        .unwrap();
    assert!(config.set("no.such.config", Some("1")).is_err());
    assert!(config.set("max.message.bytes", Some("big")).is_err());
    c.topic_configs.insert("events".into(), config);
    let big = RawBatch::of(vec![record(0, &"x".repeat(40))]);
    assert_eq!(
        answer(&mut c, 0, &big, -1).error_code,
        10,
        "over the topic's 80 bytes"
    );
    let keyless = answer(&mut c, 0, &RawBatch::of(vec![record(0, "v")]), -1);
    assert_eq!((keyless.error_code, keyless.record_errors.len()), (87, 1));
    let mut keyed = record(0, "v");
    keyed.key = Some(b"k".to_vec());
    let stamped = answer(&mut c, 0, &RawBatch::of(vec![keyed]), -1);
    assert_eq!(stamped.error_code, 0);
    assert_eq!(
        stamped.log_append_time_ms,
        c.wall_ms(Duration::ZERO),
        "the broker's clock"
    );
    let stored = &c.partition("events", 0).unwrap().raw[0].0;
    assert_eq!(
        i16::from_be_bytes([stored[21], stored[22]]) & 0x08,
        0x08,
        "LogAppendTime bit"
    );
}

#[test]
fn an_invalid_record_is_corrupt_message_before_kafka_2_4() {
    let mut b = three();
    b.last_offset_delta = Some(7);
    assert_eq!(produce(&mut cluster(BrokerVersion::V3_8), &b).0, 87);
    assert_eq!(produce(&mut cluster(BrokerVersion::V2_4), &b).0, 87);
    assert_eq!(produce(&mut cluster(BrokerVersion::V1_0), &b).0, 2);
}

#[test]
fn an_unknown_producer_id_is_answered_by_broker_version() {
    let late = three().idempotent(42, 0, 9);
    assert_eq!(produce(&mut cluster(BrokerVersion::V3_8), &late), (0, 0));
    assert_eq!(produce(&mut cluster(BrokerVersion::V2_4), &late).0, 59);
    assert_eq!(produce(&mut cluster(BrokerVersion::V0_11), &late).0, 45);
}

#[test]
fn a_duplicate_gets_its_original_offset_and_an_older_one_46_on_1_0() {
    for version in [BrokerVersion::V1_0, BrokerVersion::V3_8] {
        let mut c = cluster(version);
        let batch = |seq| RawBatch::of(vec![record(0, "x")]).idempotent(42, 0, seq);
        for seq in 0..6 {
            assert_eq!(produce(&mut c, &batch(seq)), (0, seq as i64));
        }
        assert_eq!(
            produce(&mut c, &batch(4)),
            (0, 4),
            "{version}: in the window"
        );
        let older = produce(&mut c, &batch(0)).0;
        let expected = if version == BrokerVersion::V1_0 {
            46
        } else {
            45
        };
        assert_eq!(older, expected, "{version}: older than the window");
        assert_eq!(
            c.logs()[&producer_core::TopicPartition::new("events", 0)].len(),
            6,
            "nothing appended twice"
        );
    }
}

#[test]
fn a_restart_keeps_each_producers_last_batch_only() {
    // Kafka 4.4, after a clean restart and after kill -9 alike
    // (interop/tests/fidelity, cases restart/*): a retry of the last batch is
    // still a duplicate, one of an older batch is out of order.
    let mut c = cluster(BrokerVersion::V3_8);
    let batch = |seq| RawBatch::of(vec![record(0, "x")]).idempotent(42, 0, seq);
    for seq in 0..3 {
        assert_eq!(produce(&mut c, &batch(seq)), (0, seq as i64));
    }
    assert_eq!(produce(&mut c, &batch(1)), (0, 1), "inside the window");
    let epoch = c.partition("events", 0).unwrap().leader_epoch;
    c.crash(0, Duration::ZERO);
    c.restart(0);
    c.run_elections(Duration::from_secs(1));
    assert_eq!(
        produce(&mut c, &batch(2)),
        (0, 2),
        "the last batch is remembered"
    );
    assert_eq!(produce(&mut c, &batch(1)).0, 45, "an older one is not");
    assert_eq!(
        produce(&mut c, &batch(3)),
        (0, 3),
        "the next sequence goes on"
    );
    assert_eq!(
        c.partition("events", 0).unwrap().leader_epoch,
        epoch + 2,
        "leader to none, none to the restarted broker: two leader changes"
    );
    assert!(
        c.ledger
            .faults
            .iter()
            .any(|(_, f)| matches!(f, sim::broker::ledger::FaultEvent::WindowCut(_))),
        "the cut is in the ledger: {:?}",
        c.ledger.faults
    );
}

#[test]
fn a_failover_to_another_replica_keeps_the_whole_window() {
    let mut c = Cluster::new(
        ClusterSpec {
            brokers: 3,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 1,
                replication: 3,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(100),
            broker_version: BrokerVersion::V3_8,
        },
        |id| (format!("broker-{id}"), 9092),
    );
    let batch = |seq| RawBatch::of(vec![record(0, "x")]).idempotent(42, 0, seq);
    for seq in 0..3 {
        assert_eq!(produce(&mut c, &batch(seq)), (0, seq as i64));
    }
    c.crash(0, Duration::ZERO);
    c.run_elections(Duration::from_secs(1));
    let leader = c.partition("events", 0).unwrap().leader.unwrap();
    assert_ne!(leader, 0);
    c.restart(0);
    let at = |c: &mut Cluster, b: &RawBatch| produce_to(c, leader, b);
    assert_eq!(
        at(&mut c, &batch(0)),
        (0, 0),
        "the follower built the window as it replicated"
    );
    assert_eq!(
        c.partition("events", 0).unwrap().leader_epoch,
        1,
        "one leader change"
    );
}

#[test]
fn producer_state_survives_a_restart_and_is_forgotten_only_by_expiry() {
    let mut c = cluster(BrokerVersion::V2_4);
    let batch = |seq| RawBatch::of(vec![record(0, "x")]).idempotent(42, 0, seq);
    assert_eq!(produce(&mut c, &batch(0)).0, 0);
    c.crash(0, Duration::ZERO);
    c.restart(0);
    c.run_elections(Duration::from_secs(1));
    assert_eq!(
        produce(&mut c, &batch(0)),
        (0, 0),
        "still a duplicate after the restart"
    );
    c.expire_producers("events", 0);
    assert_eq!(
        produce(&mut c, &batch(1)).0,
        59,
        "2.4 no longer knows the producer"
    );
}

#[test]
fn a_huge_header_count_is_refused_before_anything_is_allocated() {
    let mut r = record(0, "v");
    // A header count of 2^31-1 in the junk position: rewrite the record by hand.
    r.headers.clear();
    let mut b = RawBatch::of(vec![r]);
    b.records[0].junk = Vec::new();
    let mut bytes = b.encode().to_vec();
    // The record's last byte is its header count (0): make it claim i32::MAX
    // headers, then fix the lengths and the CRC.
    bytes.pop();
    let mut huge = Vec::new();
    zigzag(&mut huge, i32::MAX as i64);
    bytes.extend_from_slice(&huge);
    let record_len = (bytes.len() - 61 - 1) as i64;
    bytes[61] = ((record_len << 1) as u8) & 0x7f; // one-byte varint (small record)
    let batch_len = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let r = validate(&Bytes::from(bytes)).unwrap_err();
    assert_eq!(r.code, 87);
    assert!(r.reason.contains("headers"), "{}", r.reason);
}

#[test]
fn a_second_batch_header_claiming_i32_max_records_is_refused_not_allocated() {
    // The measured 187-byte case: a valid batch, then a 61-byte header with a
    // correct CRC that claims 2^31-1 records (it aborted `sim serve` before).
    let mut second = RawBatch::of(Vec::new());
    second.count = Some(i32::MAX);
    second.last_offset_delta = Some(i32::MAX - 1);
    let mut bytes = three().encode().to_vec();
    bytes.extend_from_slice(&second.encode());
    let r = validate(&Bytes::from(bytes)).unwrap_err();
    assert_eq!(r.code, 87, "{r:?}");
    // And on its own, that header is refused before anything is allocated.
    assert_eq!(validate(&second.encode()).unwrap_err().code, 87);
}
