//! The consume and admin path of the simulated broker, through the pure
//! `handle_frame`: Fetch returns the stored batches' bytes at the offsets the
//! producer was told, within max_bytes, and waits for min_bytes; ListOffsets
//! answers earliest and latest; CreateTopics and Metadata's auto-creation
//! create topics as the cluster's setting says. Requests are encoded with
//! `kafka-protocol`, as a real client would.

mod support;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use sim::broker::Reply;
use support::*;

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn fetch_req(offset: i64, partition_max: i32, min_bytes: i32, wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(min_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic("events"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(partition_max)])])
}

/// (error, high watermark, [(offset, value)]) of partition 0 in a fetch answer.
fn fetched(resp: &FetchResponse) -> (i16, i64, Vec<(i64, String)>) {
    let p = &resp.responses[0].partitions[0];
    let mut records = p.records.clone().unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut records).expect("valid batches");
    let values = sets
        .iter()
        .flat_map(|s| &s.records)
        .map(|r| {
            let v = r
                .value
                .as_ref()
                .map(|v| String::from_utf8_lossy(v).to_string());
            (r.offset, v.unwrap_or_default())
        })
        .collect();
    (p.error_code, p.high_watermark, values)
}

fn three_batches() -> sim::cluster::Cluster {
    let mut c = cluster(1);
    produce(&mut c, 0, 0, batch(1, 0, &["a", "b", "c"]), ms(1));
    produce(&mut c, 0, 0, batch(2, 0, &["x"]), ms(2));
    produce(&mut c, 0, 0, batch(1, 3, &["d", "e"]), ms(3));
    c
}

#[test]
fn fetch_returns_the_stored_batches_at_their_offsets_in_every_version() {
    for v in 4..=11 {
        let mut c = three_batches();
        let reply = call(
            &mut c,
            0,
            ApiKey::Fetch,
            v,
            &fetch_req(0, 1 << 20, 1, 500),
            ms(10),
        );
        let (error, hw, records) = fetched(&decoded(reply, v));
        assert_eq!((error, hw), (0, 6), "v{v}");
        let want: Vec<(i64, String)> = ["a", "b", "c", "x", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64, s.to_string()))
            .collect();
        assert_eq!(records, want, "v{v}");
    }
}

#[test]
fn fetch_from_the_middle_of_a_batch_starts_with_that_batch() {
    let mut c = three_batches();
    let reply = call(
        &mut c,
        0,
        ApiKey::Fetch,
        11,
        &fetch_req(4, 1 << 20, 1, 0),
        ms(10),
    );
    let (_, _, records) = fetched(&decoded(reply, 11));
    let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![4, 5]);
    let reply = call(
        &mut c,
        0,
        ApiKey::Fetch,
        11,
        &fetch_req(1, 1 << 20, 1, 0),
        ms(10),
    );
    let offsets: Vec<i64> = fetched(&decoded(reply, 11)).2.iter().map(|r| r.0).collect();
    assert_eq!(
        offsets,
        vec![0, 1, 2, 3, 4, 5],
        "the whole first batch, as Kafka"
    );
}

#[test]
fn partition_max_bytes_stops_after_the_first_whole_batch() {
    let mut c = three_batches();
    // 10 bytes: less than one batch, yet the first is returned whole (KIP-74).
    let reply = call(
        &mut c,
        0,
        ApiKey::Fetch,
        11,
        &fetch_req(0, 10, 1, 0),
        ms(10),
    );
    let offsets: Vec<i64> = fetched(&decoded(reply, 11)).2.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2]);
    // Room for the first two batches but not the third.
    let two = batch(1, 0, &["a", "b", "c"]).len() + batch(2, 0, &["x"]).len();
    let reply = call(
        &mut c,
        0,
        ApiKey::Fetch,
        11,
        &fetch_req(0, two as i32, 1, 0),
        ms(10),
    );
    let offsets: Vec<i64> = fetched(&decoded(reply, 11)).2.iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3]);
    // The request's max_bytes bounds the answer as a whole.
    let req = fetch_req(0, 1 << 20, 1, 0).with_max_bytes(two as i32);
    let offsets: Vec<i64> = fetched(&decoded(
        call(&mut c, 0, ApiKey::Fetch, 11, &req, ms(10)),
        11,
    ))
    .2
    .iter()
    .map(|r| r.0)
    .collect();
    assert_eq!(offsets, vec![0, 1, 2, 3]);
}

#[test]
fn fetch_below_min_bytes_waits_until_data_arrives_or_max_wait_passes() {
    let mut c = three_batches();
    let req = fetch_req(6, 1 << 20, 1, 500);
    let received = ms(100);
    match call_at(&mut c, 0, ApiKey::Fetch, 11, &req, received, received) {
        Reply::Wait { until } => assert_eq!(until, ms(600)),
        _ => panic!("an empty fetch with min_bytes 1 waits"),
    }
    // Still nothing at 300 ms: still waiting.
    assert!(matches!(
        call_at(&mut c, 0, ApiKey::Fetch, 11, &req, ms(300), received),
        Reply::Wait { .. }
    ));
    // At the deadline: an empty answer.
    let (error, hw, records) = fetched(&decoded(
        call_at(&mut c, 0, ApiKey::Fetch, 11, &req, ms(600), received),
        11,
    ));
    assert_eq!((error, hw, records.len()), (0, 6, 0));
    // A record produced while waiting is returned at once.
    produce(&mut c, 0, 0, batch(3, 0, &["late"]), ms(350));
    let reply = call_at(&mut c, 0, ApiKey::Fetch, 11, &req, ms(360), received);
    assert_eq!(
        fetched(&decoded(reply, 11)).2,
        vec![(6, "late".to_string())]
    );
}

#[test]
fn fetch_outside_the_log_or_from_a_follower_is_refused() {
    let mut c = three_batches();
    let reply = call(
        &mut c,
        0,
        ApiKey::Fetch,
        11,
        &fetch_req(7, 1 << 20, 1, 0),
        ms(10),
    );
    assert_eq!(fetched(&decoded(reply, 11)).0, 1, "OFFSET_OUT_OF_RANGE");
    let mut c = cluster(3);
    // Partition 0 is led by broker 0.
    let reply = call(
        &mut c,
        1,
        ApiKey::Fetch,
        11,
        &fetch_req(0, 1 << 20, 1, 0),
        ms(10),
    );
    assert_eq!(fetched(&decoded(reply, 11)).0, 6, "NOT_LEADER_OR_FOLLOWER");
}

fn list_req(timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(topic("events"))
        .with_partitions(vec![
            ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp),
            ListOffsetsPartition::default()
                .with_partition_index(9)
                .with_timestamp(timestamp),
        ])])
}

#[test]
fn list_offsets_answers_earliest_and_latest_in_every_version() {
    for v in 1..=7 {
        let mut c = three_batches();
        for (ts, want) in [(-2, 0), (-1, 6)] {
            let resp: ListOffsetsResponse = decoded(
                call(&mut c, 0, ApiKey::ListOffsets, v, &list_req(ts), ms(10)),
                v,
            );
            let parts = &resp.topics[0].partitions;
            assert_eq!(
                (parts[0].error_code, parts[0].offset),
                (0, want),
                "v{v} ts {ts}"
            );
            assert_eq!(parts[1].error_code, 3, "v{v}: partition 9 is unknown");
        }
    }
}

fn create_req(name: &str, partitions: i32, replication: i16) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)])
}

fn created(c: &mut sim::cluster::Cluster, broker: i32, v: i16, req: &CreateTopicsRequest) -> i16 {
    let resp: CreateTopicsResponse =
        decoded(call(c, broker, ApiKey::CreateTopics, v, req, ms(1)), v);
    resp.topics[0].error_code
}

#[test]
fn create_topics_creates_once_and_refuses_what_kafka_refuses() {
    for v in 2..=4 {
        let mut c = cluster(3);
        assert_eq!(created(&mut c, 0, v, &create_req("orders", 4, 3)), 0);
        assert_eq!(c.topics["orders"].len(), 4);
        assert_eq!(
            created(&mut c, 0, v, &create_req("orders", 4, 3)),
            36,
            "exists"
        );
        assert_eq!(created(&mut c, 0, v, &create_req("bad/name", 1, 1)), 17);
        assert_eq!(created(&mut c, 0, v, &create_req("x", 0, 1)), 37);
        assert_eq!(created(&mut c, 0, v, &create_req("x", 1, 4)), 38);
        assert_eq!(
            created(&mut c, 1, v, &create_req("x", 1, 1)),
            41,
            "not the controller"
        );
        assert_eq!(created(&mut c, 0, v, &create_req("defaults", -1, -1)), 0);
        assert_eq!(c.topics["defaults"].len(), 1);
        assert_eq!(c.topics["defaults"][0].replicas.len(), 3);
        let check = create_req("dry", 2, 1).with_validate_only(true);
        assert_eq!(created(&mut c, 0, v, &check), 0);
        assert!(
            !c.topics.contains_key("dry"),
            "validate_only creates nothing"
        );
    }
}

fn metadata_req(name: &str, allow: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic(name)))
        ]))
        .with_allow_auto_topic_creation(allow)
}

fn metadata_error(c: &mut sim::cluster::Cluster, v: i16, req: &MetadataRequest) -> i16 {
    let resp: MetadataResponse = decoded(call(c, 0, ApiKey::Metadata, v, req, ms(1)), v);
    resp.topics[0].error_code
}

#[test]
fn metadata_creates_an_unknown_topic_only_when_the_cluster_and_the_request_allow_it() {
    for v in [1, 4, 9, 12] {
        let mut c = cluster(3);
        assert_eq!(
            metadata_error(&mut c, v, &metadata_req("auto", true)),
            3,
            "off by default"
        );
        c.auto_create_topics = true;
        // Kafka 4.4 creates it in the background: the request that creates
        // it is answered UNKNOWN_TOPIC_OR_PARTITION, the next sees it.
        assert_eq!(
            metadata_error(&mut c, v, &metadata_req("auto", true)),
            3,
            "v{v}"
        );
        assert_eq!(c.topics["auto"].len(), 1);
        assert_eq!(
            metadata_error(&mut c, v, &metadata_req("auto", true)),
            0,
            "v{v}"
        );
        if v >= 4 {
            assert_eq!(
                metadata_error(&mut c, v, &metadata_req("asked-not", false)),
                3
            );
        }
        assert_eq!(
            metadata_error(&mut c, v, &metadata_req("bad name", true)),
            17
        );
        assert!(!c.topics.contains_key("asked-not") && !c.topics.contains_key("bad name"));
    }
}
