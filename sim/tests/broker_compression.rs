//! Compressed record batches through the simulated broker, each rule of
//! Kafka 4.4's `LogValidator` with a hand-made batch (sim/src/codec.rs,
//! sim/src/log_validator.rs, sim/src/broker/stored.rs): every codec is
//! decompressed and its records checked, the batch is kept as sent or
//! rebuilt as the topic's `compression.type` and the inner offsets decide,
//! and hostile payloads are refused without a panic or a large allocation.

mod support;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use producer_core::error::code;
use sim::cluster::{Cluster, ClusterSpec, TopicConfig, TopicSpec};
use sim::codec::{self, Codec};
use sim::log_validator::{self, validate, validate_with, Checks, DECOMPRESSION_FAILED};
use std::time::Duration;
use support::raw_batch::{record, RawBatch};
use support::{call, decoded};

/// Every codec, and snappy as a raw block (what librdkafka and franz-go
/// write) besides the xerial framing sim writes.
fn each_codec() -> Vec<(&'static str, RawBatch)> {
    let mut out: Vec<_> = Codec::ALL[1..]
        .iter()
        .map(|c| (c.name(), three().compressed(*c)))
        .collect();
    let raw = snap::raw::Encoder::new()
        .compress_vec(&three().records_section())
        .unwrap();
    out.push((
        "snappy (raw block)",
        RawBatch {
            payload: Some(raw),
            ..three().compressed(Codec::Snappy)
        },
    ));
    out
}

fn three() -> RawBatch {
    let mut b = RawBatch::of(vec![record(0, "a"), record(1, "b"), record(2, "c")]);
    b.records[1].key = Some(b"k".to_vec());
    b.records[2].headers = vec![(b"h".to_vec(), None)];
    b.records[2].timestamp_delta = 5;
    b
}

fn values(v: &log_validator::ValidBatch) -> Vec<String> {
    v.records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn every_codec_is_decompressed_and_its_records_read() {
    for (name, b) in each_codec() {
        let v = validate(&b.encode()).unwrap_or_else(|r| panic!("{name}: {r:?}"));
        assert_eq!(values(&v), ["a", "b", "c"], "{name}");
        assert_eq!(v.records[1].key.as_deref(), Some(&b"k"[..]), "{name}");
        assert_eq!(v.records[2].headers.len(), 1, "{name}");
        assert_eq!(v.compression.id(), b.codec.id(), "{name}");
        assert!(v.consecutive(), "{name}");
    }
}

#[test]
fn zstd_needs_produce_v7_and_is_refused_before_the_log() {
    let b = three().compressed(Codec::Zstd).encode();
    let at = |v| {
        validate_with(
            &b,
            Checks {
                produce_version: v,
                ..Checks::default()
            },
        )
    };
    let r = at(6).unwrap_err();
    assert_eq!(
        (r.code, r.before_log),
        (code::UNSUPPORTED_COMPRESSION_TYPE, true)
    );
    assert!(at(7).is_ok());
    let gzip = three().compressed(Codec::Gzip).encode();
    assert!(validate_with(
        &gzip,
        Checks {
            produce_version: 3,
            ..Checks::default()
        }
    )
    .is_ok());
}

#[test]
fn a_payload_that_does_not_decompress_is_answered_as_kafka_does() {
    for (name, b) in each_codec() {
        let good = b.encode();
        let payload = good[61..].to_vec();
        for bad in [
            payload[..payload.len() / 2].to_vec(),
            b"not compressed at all".to_vec(),
            Vec::new(),
        ] {
            let r = validate(
                &RawBatch {
                    payload: Some(bad),
                    ..b.clone()
                }
                .encode(),
            )
            .unwrap_err();
            assert_eq!(
                (r.code, r.before_log),
                (DECOMPRESSION_FAILED, false),
                "{name}: {r:?}"
            );
        }
    }
}

#[test]
fn the_crc_covers_the_compressed_bytes_as_sent() {
    let b = RawBatch {
        bad_crc: true,
        ..three().compressed(Codec::Lz4)
    };
    assert_eq!(validate(&b.encode()).unwrap_err().code, 2);
}

#[test]
fn inner_records_must_match_the_count_and_fill_the_payload() {
    for codec in &Codec::ALL[1..] {
        let b = three().compressed(*codec);
        let more = RawBatch {
            count: Some(4),
            last_offset_delta: Some(3),
            ..b.clone()
        };
        let fewer = RawBatch {
            count: Some(2),
            last_offset_delta: Some(1),
            ..b.clone()
        };
        let junk = RawBatch {
            junk: vec![0, 0, 0],
            ..b.clone()
        };
        for (what, bad) in [("more", more), ("fewer", fewer), ("junk", junk)] {
            let r = validate(&bad.encode()).unwrap_err();
            assert_eq!(r.code, 87, "{codec:?} {what}: {r:?}");
        }
    }
}

#[test]
fn a_record_longer_than_max_decompressed_message_bytes_is_refused_in_compressed_batches_only() {
    let mut b = RawBatch::of(vec![record(0, "a"), record(1, &"y".repeat(500))]);
    let checks = Checks {
        max_record_bytes: 300,
        ..Checks::default()
    };
    assert!(validate_with(&b.encode(), checks).is_ok(), "uncompressed");
    b = b.compressed(Codec::Gzip);
    let r = validate_with(&b.encode(), checks).unwrap_err();
    assert_eq!(r.code, 87);
    assert!(r.reason.contains("maximum record size"), "{}", r.reason);
}

#[test]
fn a_payload_claiming_gigabytes_is_refused_before_it_is_allocated() {
    // 100 MiB of zeros in zstd is a few KB; a raw snappy block claiming
    // 4 GiB is 6 bytes.
    let zeros = vec![0u8; 100 << 20];
    let bomb = RawBatch {
        payload: Some(codec::compress(Codec::Zstd, &zeros)),
        ..three().compressed(Codec::Zstd)
    };
    let r = validate(&bomb.encode()).unwrap_err();
    assert_eq!(r.code, 87, "{r:?}");
    assert!(r.reason.contains("more than"), "{}", r.reason);
    let claim = RawBatch {
        payload: Some(vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
        ..three().compressed(Codec::Snappy)
    };
    assert_eq!(validate(&claim.encode()).unwrap_err().code, 87);
}

// ----- through the broker -------------------------------------------------

fn cluster_with(configs: &[(&str, &str)]) -> Cluster {
    let mut c = Cluster::new(
        ClusterSpec {
            brokers: 1,
            topics: vec![TopicSpec {
                name: "events".into(),
                partitions: 1,
                replication: 1,
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(100),
            broker_version: Default::default(),
        },
        |id| (format!("broker-{id}"), 9092),
    );
    let mut config = TopicConfig::new("events", 0);
    for (k, v) in configs {
        config.set(k, Some(v)).unwrap();
    }
    c.topic_configs.insert("events".into(), config);
    c
}

fn produce_at(c: &mut Cluster, version: i16, b: &RawBatch) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("events")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(b.encode()))])]);
    let reply = call(c, 0, ApiKey::Produce, version, &req, Duration::ZERO);
    let resp: ProduceResponse = decoded(reply, version);
    resp.responses[0].partition_responses[0].clone()
}

fn produce(c: &mut Cluster, b: &RawBatch) -> PartitionProduceResponse {
    produce_at(c, 8, b)
}

/// The stored batches of events/0: (codec, the batch read back).
fn stored(c: &Cluster) -> Vec<(Codec, log_validator::ValidBatch)> {
    c.partition("events", 0)
        .unwrap()
        .raw
        .iter()
        .map(|(raw, _)| {
            assert_eq!(
                crc32c::crc32c(&raw[21..]),
                u32::from_be_bytes(raw[17..21].try_into().unwrap()),
                "the stored CRC is right"
            );
            let v = validate(raw).expect("a stored batch is valid");
            (v.compression, v)
        })
        .collect()
}

/// (offset, value) of every record in the log (what the checkers read).
fn log(c: &Cluster) -> Vec<(i64, String)> {
    c.partition("events", 0)
        .unwrap()
        .log
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| {
            let v = r
                .value
                .as_ref()
                .map_or(String::new(), |v| String::from_utf8_lossy(v).into_owned());
            (r.offset, v)
        })
        .collect()
}

#[test]
fn a_compressed_batch_is_kept_as_sent_on_a_producer_topic() {
    let mut c = cluster_with(&[]);
    for (name, b) in each_codec() {
        let a = produce(&mut c, &b);
        assert_eq!(a.error_code, 0, "{name}");
        let sent = b.encode();
        let (raw, _) = c
            .partition("events", 0)
            .unwrap()
            .raw
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            raw[61..],
            sent[61..],
            "{name}: the compressed payload as sent"
        );
        assert_eq!(raw[23..27], sent[23..27], "{name}: lastOffsetDelta as sent");
    }
    assert_eq!(log(&c).len(), 15);
    assert_eq!(log(&c)[14], (14, "c".to_string()));
    let ledger_bytes: Vec<usize> = c
        .partition("events", 0)
        .unwrap()
        .log
        .iter()
        .map(|b| b.bytes)
        .collect();
    let sent: Vec<usize> = each_codec().iter().map(|(_, b)| b.encode().len()).collect();
    assert_eq!(ledger_bytes, sent, "the log counts each batch as received");
}

#[test]
fn inner_offsets_not_consecutive_fail_in_the_batchs_codec_and_are_rebuilt_in_another() {
    let gapped = |codec| {
        let mut b = three().compressed(codec);
        b.records[1].offset_delta = 2;
        b.records[2].offset_delta = 4;
        b.last_offset_delta = Some(2);
        b
    };
    // Kafka 4.4 answers UNKNOWN_SERVER_ERROR (measured by
    // interop/tests/fidelity, compression/offset-deltas-not-consecutive).
    let mut c = cluster_with(&[]);
    let a = produce(&mut c, &gapped(Codec::Snappy));
    assert_eq!((a.error_code, a.log_start_offset), (-1, 0));
    assert!(log(&c).is_empty());
    let mut c = cluster_with(&[("compression.type", "gzip")]);
    assert_eq!(
        produce(&mut c, &RawBatch::of(vec![record(0, "x")])).error_code,
        0
    );
    let a = produce(&mut c, &gapped(Codec::Snappy));
    assert_eq!((a.error_code, a.base_offset), (0, 1));
    let (codec, rebuilt) = stored(&c).pop().unwrap();
    assert_eq!(codec, Codec::Gzip);
    assert!(rebuilt.consecutive(), "offsets 0, 1, 2 once rebuilt");
    assert_eq!(values(&rebuilt), ["a", "b", "c"]);
    assert_eq!(
        log(&c).iter().map(|r| r.0).collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "every record at its own offset"
    );
    let a = produce(&mut c, &gapped(Codec::None));
    assert_eq!(
        (a.error_code, a.base_offset),
        (0, 4),
        "uncompressed, rebuilt as gzip"
    );
    assert!(stored(&c).pop().unwrap().1.consecutive());
}

#[test]
fn a_topic_compression_type_recompresses_every_other_codec() {
    let mut c = cluster_with(&[("compression.type", "gzip")]);
    for b in [
        three().compressed(Codec::Snappy),
        three(),
        three().compressed(Codec::Gzip),
        three().compressed(Codec::Zstd),
    ] {
        assert_eq!(produce(&mut c, &b).error_code, 0);
    }
    let kept_payload = three().compressed(Codec::Gzip).encode()[61..].to_vec();
    let raws = c.partition("events", 0).unwrap().raw.clone();
    assert_eq!(raws[2].0[61..], kept_payload[..], "a gzip batch is kept");
    for (codec, v) in stored(&c) {
        assert_eq!(codec, Codec::Gzip);
        assert_eq!(values(&v), ["a", "b", "c"]);
        assert_eq!(v.records[2].timestamp_delta, 5, "timestamps kept");
        assert_eq!(v.records[2].headers, vec![("h".to_string(), None)]);
    }
    let mut c = cluster_with(&[("compression.type", "uncompressed")]);
    assert_eq!(
        produce(&mut c, &three().compressed(Codec::Lz4)).error_code,
        0
    );
    assert_eq!(stored(&c)[0].0, Codec::None);
}

#[test]
fn log_append_time_on_compressed_batches_kept_and_rebuilt() {
    for configs in [
        &[("message.timestamp.type", "LogAppendTime")][..],
        &[
            ("message.timestamp.type", "LogAppendTime"),
            ("compression.type", "zstd"),
        ][..],
    ] {
        let mut c = cluster_with(configs);
        let a = produce(&mut c, &three().compressed(Codec::Gzip));
        let now = c.wall_ms(Duration::ZERO);
        assert_eq!(
            (a.error_code, a.log_append_time_ms),
            (0, now),
            "{configs:?}"
        );
        let raw = &c.partition("events", 0).unwrap().raw[0].0;
        assert_eq!(raw[22] & 0x08, 0x08, "{configs:?}: the LogAppendTime bit");
        assert_eq!(i64::from_be_bytes(raw[35..43].try_into().unwrap()), now);
    }
}

#[test]
fn a_retried_compressed_batch_is_a_duplicate_whatever_its_codec() {
    let mut c = cluster_with(&[]);
    let b = three().compressed(Codec::Gzip).idempotent(42, 0, 0);
    assert_eq!(produce(&mut c, &b).error_code, 0);
    let again = produce(&mut c, &b.clone().compressed(Codec::Lz4));
    assert_eq!((again.error_code, again.base_offset), (0, 0));
    assert_eq!(log(&c).len(), 3, "nothing appended twice");
}

#[test]
fn max_message_bytes_counts_the_batch_as_sent_and_as_stored() {
    let big = RawBatch::of(vec![record(0, &"z".repeat(5000))]).compressed(Codec::Gzip);
    assert!(big.encode().len() < 1000);
    let mut c = cluster_with(&[("max.message.bytes", "1000")]);
    assert_eq!(produce(&mut c, &big).error_code, 0, "compressed it fits");
    let mut c = cluster_with(&[
        ("max.message.bytes", "1000"),
        ("compression.type", "uncompressed"),
    ]);
    let a = produce(&mut c, &big);
    assert_eq!(
        (a.error_code, a.log_start_offset),
        (10, -1),
        "stored uncompressed it does not"
    );
    assert!(log(&c).is_empty());
}

#[test]
fn record_rules_apply_inside_compressed_batches() {
    let mut c = cluster_with(&[("cleanup.policy", "compact")]);
    let a = produce(&mut c, &three().compressed(Codec::Zstd));
    assert_eq!(a.error_code, 87);
    let listed: Vec<i32> = a.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(listed, [0, 2], "the records without a key");
    let mut c = cluster_with(&[]);
    let mut b = three().compressed(Codec::Snappy);
    b.records[1].timestamp_delta = 2 * 3_600_000;
    let a = produce(&mut c, &b);
    assert_eq!((a.error_code, a.record_errors.len()), (32, 1));
}

#[test]
fn corrupt_and_oversized_payloads_through_the_broker() {
    let mut c = cluster_with(&[("max.decompressed.message.bytes", "300")]);
    let corrupt = RawBatch {
        payload: Some(b"garbage".to_vec()),
        ..three().compressed(Codec::Gzip)
    };
    let a = produce(&mut c, &corrupt);
    assert_eq!(
        (a.error_code, a.log_start_offset),
        (DECOMPRESSION_FAILED, 0)
    );
    let long = RawBatch::of(vec![record(0, &"y".repeat(500))]).compressed(Codec::Lz4);
    assert_eq!(produce(&mut c, &long).error_code, 87);
    let zstd_v3 = produce_at(&mut c, 3, &three().compressed(Codec::Zstd));
    assert_eq!(zstd_v3.error_code, code::UNSUPPORTED_COMPRESSION_TYPE);
    assert!(log(&c).is_empty());
}

#[test]
fn a_batch_rebuilt_with_a_negative_timestamp_is_an_unknown_error() {
    let mut c = cluster_with(&[("compression.type", "gzip")]);
    let b = RawBatch {
        base_timestamp: -5,
        ..three()
    };
    assert_eq!(produce(&mut c, &b).error_code, -1);
    let mut c = cluster_with(&[]);
    assert_eq!(produce(&mut c, &b).error_code, 0, "kept as sent it passes");
}

#[test]
fn a_zstd_topic_is_fetched_at_every_version() {
    // Kafka 4.4 no longer answers Fetch before v10 of a zstd topic with
    // UNSUPPORTED_COMPRESSION_TYPE (measured: compression/zstd-topic-and-old-fetch).
    let mut c = cluster_with(&[("compression.type", "zstd")]);
    assert_eq!(produce(&mut c, &three()).error_code, 0);
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    for version in [4, 9, 10, 11] {
        let reply = call(&mut c, 0, ApiKey::Fetch, version, &req, Duration::ZERO);
        let resp: FetchResponse = decoded(reply, version);
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "Fetch v{version}");
        let records = p.records.clone().unwrap_or_default();
        assert_eq!(records[22] & 0x07, 4, "Fetch v{version}: stored as zstd");
    }
}
