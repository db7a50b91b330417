//! A real broker's partition logs as prodsim's checker reads logs: every batch
//! fetched from the partition's leader with plain Fetch requests and decoded
//! by `kafka-protocol`'s record decoder (neither producer-core's code nor the
//! simulated broker's), producer id, epoch and sequence kept per batch.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use producer_core::wire::frame;
use producer_core::TopicPartition;
use sim::cluster::{LogBatch, LogRecord};
use sim::serve::Logs;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const FETCH_VERSION: i16 = 11;

/// Every partition of `topic` (0..`partitions`), read from its leader.
pub async fn read_logs(bootstrap: &str, topic: &str, partitions: i32) -> Logs {
    read_logs_with_epochs(bootstrap, topic, partitions).await.0
}

/// As [`read_logs`], with the leader epochs each partition's batches were
/// appended in (more than one: the partition changed leaders while written).
pub async fn read_logs_with_epochs(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> (Logs, BTreeMap<i32, BTreeSet<i32>>) {
    let leaders = super::leaders(bootstrap, topic).await;
    let mut logs = Logs::new();
    let mut epochs = BTreeMap::new();
    for p in 0..partitions {
        let leader = leaders
            .get(&p)
            .unwrap_or_else(|| panic!("{topic}/{p} has no leader"));
        let (batches, e) = read_partition(leader, topic, p).await;
        logs.insert(TopicPartition::new(topic, p), batches);
        epochs.insert(p, e);
    }
    (logs, epochs)
}

async fn read_partition(
    leader: &str,
    topic: &str,
    partition: i32,
) -> (Vec<LogBatch>, BTreeSet<i32>) {
    let mut batches = Vec::new();
    let mut epochs = BTreeSet::new();
    let mut offset = 0;
    loop {
        let (high_watermark, bytes) = fetch(leader, topic, partition, offset).await;
        let mut rest = bytes;
        while rest.len() >= 12 {
            let len = 12 + i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
            if rest.len() < len {
                break; // a batch cut short by max_bytes: fetched again next round
            }
            let mut one = rest.split_to(len);
            let set = RecordBatchDecoder::decode(&mut one).unwrap_or_else(|e| {
                panic!("{topic}/{partition}: undecodable batch at {offset}: {e}")
            });
            let Some(first) = set.records.first() else {
                continue;
            };
            if first.control {
                continue;
            }
            offset = set.records.last().map_or(offset, |r| r.offset + 1);
            epochs.insert(first.partition_leader_epoch);
            batches.push(LogBatch {
                base_offset: first.offset,
                client_id: Arc::from("real-kafka"),
                producer_id: first.producer_id,
                producer_epoch: first.producer_epoch,
                base_sequence: first.sequence,
                leader: -1,
                appended_at: Duration::ZERO,
                bytes: len,
                request_bytes: 0,
                records: set
                    .records
                    .iter()
                    .map(|r| LogRecord {
                        offset: r.offset,
                        key: r.key.clone(),
                        value: r.value.clone(),
                        headers: r
                            .headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.clone()))
                            .collect(),
                        timestamp: r.timestamp,
                    })
                    .collect(),
            });
        }
        if offset >= high_watermark {
            return (batches, epochs);
        }
    }
}

/// One Fetch of up to 4 MiB from `offset`: (high watermark, records).
async fn fetch(leader: &str, topic: &str, partition: i32, offset: i64) -> (i64, Bytes) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(4 << 20)])]);
    let frame = frame::encode_request(ApiKey::Fetch, FETCH_VERSION, 1, "prodsim-reader", &req);
    let body = super::exchange(leader, &frame).await;
    let resp: FetchResponse = super::decode_body(ApiKey::Fetch, FETCH_VERSION, body);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(
        p.error_code, 0,
        "Fetch of {topic}/{partition} at {offset} from {leader}"
    );
    (p.high_watermark, p.records.clone().unwrap_or_default())
}
