//! Shared by the broker API tests: encode a request with `kafka-protocol`, hand
//! it to the pure [`handle_frame_at`], decode the answer.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use producer_core::batch::{BatchBuilder, ProducerStamp};
use producer_core::record::Record;
use producer_core::wire::produce::{self, PartitionBatch};
use sim::broker::{handle_frame_at, Reply};
use sim::cluster::{Cluster, ClusterSpec, TopicSpec};
use std::time::Duration;

pub mod cli;
pub mod raw_batch;

/// `brokers` brokers with topic `events` of 3 partitions, each on every broker.
pub fn spec(brokers: u32) -> ClusterSpec {
    ClusterSpec {
        brokers,
        topics: vec![TopicSpec {
            name: "events".into(),
            partitions: 3,
            replication: brokers,
        }],
        max_message_bytes: 1_048_588,
        failover_delay: Duration::from_millis(100),
        broker_version: Default::default(),
    }
}

/// A cluster of [`spec`].
pub fn cluster(brokers: u32) -> Cluster {
    Cluster::new(spec(brokers), |id| (format!("broker-{id}"), 9092))
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The frame body (no size prefix) of `req` as API `api` version `v`.
pub fn frame<R: Encodable + HeaderVersion>(api: ApiKey, v: i16, client: &str, req: &R) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(v)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_string(client.to_string())));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(v)).unwrap();
    req.encode(&mut buf, v).unwrap();
    buf.freeze()
}

/// Sends `req` to `broker`, received at `received` and handled at `now`.
pub fn call_at<R: Encodable + HeaderVersion>(
    c: &mut Cluster,
    broker: i32,
    api: ApiKey,
    v: i16,
    req: &R,
    now: Duration,
    received: Duration,
) -> Reply {
    handle_frame_at(c, broker, frame(api, v, "test", req), now, received)
}

/// Sends `req` to `broker` at `now`.
pub fn call<R: Encodable + HeaderVersion>(
    c: &mut Cluster,
    broker: i32,
    api: ApiKey,
    v: i16,
    req: &R,
    now: Duration,
) -> Reply {
    call_at(c, broker, api, v, req, now, now)
}

/// The response in `reply` (which must be an answer) of version `v`.
pub fn decoded<R: Decodable + HeaderVersion>(reply: Reply, v: i16) -> R {
    let frame = match reply {
        Reply::Respond(f) | Reply::Hold(f) => f,
        Reply::Close(why) => panic!("closed: {why}"),
        Reply::Silent => panic!("no answer"),
        Reply::Wait { until } => panic!("waits until {until:?}"),
    };
    let mut body = sim::broker::strip_size_prefix(frame.freeze());
    let header = ResponseHeader::decode(&mut body, R::header_version(v)).unwrap();
    assert_eq!(header.correlation_id, 7);
    let resp = R::decode(&mut body, v).unwrap();
    assert!(
        body.is_empty(),
        "{} bytes left after the response",
        body.len()
    );
    resp
}

/// A non-transactional batch of `values` by producer `pid` from `seq`.
pub fn batch(pid: i64, seq: i32, values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(0);
    for v in values {
        b.push(&Record::new(v.to_string()), 1_700_000_000_000);
    }
    b.seal(ProducerStamp {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
    })
    .unwrap()
}

/// Produces `values` to `events`/`p` through broker `broker` (its leader).
pub fn produce(c: &mut Cluster, broker: i32, p: i32, records: Bytes, now: Duration) {
    produce_code(c, broker, "producer", p, records, now);
}

/// Produces `records` to `events`/`p` through broker `broker` as client
/// `client` (Produce v3, acks=-1); the partition's answer code.
pub fn produce_code(
    c: &mut Cluster,
    broker: i32,
    client: &str,
    p: i32,
    records: Bytes,
    now: Duration,
) -> i16 {
    let frame = produce::encode_request(
        3,
        1,
        client,
        5_000,
        &[PartitionBatch {
            topic: "events",
            partition: p,
            records,
        }],
    );
    let body = Bytes::from(frame.to_vec()).slice(4..);
    let Reply::Respond(answer) = sim::broker::handle_frame(c, broker, body, now) else {
        panic!("produce unanswered");
    };
    let mut body = Bytes::copy_from_slice(&answer[4..]);
    ResponseHeader::decode(&mut body, ProduceResponse::header_version(3)).unwrap();
    let r = ProduceResponse::decode(&mut body, 3).unwrap();
    r.responses[0].partition_responses[0].error_code
}

/// The first sequences of the batches stored in `events`/`p`, in log order.
pub fn stored_sequences(c: &Cluster, p: i32) -> Vec<i32> {
    c.partition("events", p)
        .unwrap()
        .log
        .iter()
        .map(|b| b.base_sequence)
        .collect()
}
