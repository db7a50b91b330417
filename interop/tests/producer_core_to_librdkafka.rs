//! producer-core over real TCP (TokioNetwork) against a broker written by others:
//! librdkafka's mock cluster. An rdkafka consumer reads every record back,
//! byte-equal, in per-partition order, at the offsets producer-core reported.

use bytes::Bytes;
use producer_core::record::{Header, Record};
use producer_core::{Config, Producer, TokioNetwork};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOPIC: &str = "events";
const RECORDS: usize = 12_000;
const PARTITIONS: i32 = 6;

fn record(i: usize) -> Record {
    let mut r = Record::new(Bytes::from(format!("value-{i}-{}", "z".repeat(i % 150))));
    if !i.is_multiple_of(4) {
        r = r.with_key(format!("key-{}", i % 101));
    }
    if i.is_multiple_of(3) {
        r = r.with_headers(vec![Header::new(
            "origin",
            Some(Bytes::from(format!("h{i}"))),
        )]);
    }
    r
}

#[test]
fn producer_core_writes_to_librdkafka_mock_and_reads_back_byte_equal() {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic(TOPIC, PARTITIONS, 3).expect("topic");
    let bootstrap = mock.bootstrap_servers();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let records: Vec<Record> = (0..RECORDS).map(record).collect();
    let acks = rt.block_on(async {
        // The caller, not producer-core, reads the wall clock for record timestamps.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let config = Config {
            client_id: "prodsim-producer".into(),
            bootstrap: bootstrap.split(',').map(str::to_string).collect(),
            idempotence: true,
            linger: Duration::from_millis(5),
            batch_size: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            timestamp_origin_ms: now_ms,
            ..Config::default()
        };
        let producer = Producer::new(config, Arc::new(TokioNetwork)).unwrap();
        let mut futures = Vec::new();
        for r in &records {
            futures.push(producer.send(TOPIC, r.clone()).await);
        }
        let mut acks = Vec::new();
        for f in futures {
            acks.push(f.await.expect("acknowledged"));
        }
        producer.close().await;
        let stats = producer.stats();
        assert_eq!(
            (
                stats.unresolved_records,
                stats.buffered_bytes,
                stats.in_flight_requests
            ),
            (0, 0, 0)
        );
        acks
    });

    // Offsets per partition follow send order.
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_position: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (i, m) in acks.iter().enumerate() {
        if let Some(prev) = last.insert(m.partition, m.offset) {
            assert!(
                m.offset > prev,
                "record {i}: offset {} after {prev} on partition {}",
                m.offset,
                m.partition
            );
        }
        assert!(
            by_position.insert((m.partition, m.offset), i).is_none(),
            "two records acked at {m:?}"
        );
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "prodsim-interop")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut seen = 0;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while seen < RECORDS && std::time::Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("no consume error");
        let (p, o) = (msg.partition(), msg.offset());
        let expected_next = next.entry(p).or_insert(0);
        assert_eq!(o, *expected_next, "partition {p} read out of order");
        *expected_next += 1;
        let i = *by_position
            .get(&(p, o))
            .unwrap_or_else(|| panic!("{p}@{o} was never acknowledged"));
        let want = &records[i];
        assert_eq!(
            msg.payload(),
            want.value().map(|v| &v[..]),
            "value of record {i}"
        );
        assert_eq!(msg.key(), want.key().map(|k| &k[..]), "key of record {i}");
        let got_headers: Vec<(String, Option<Vec<u8>>)> = msg
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| (x.key.to_string(), x.value.map(|v| v.to_vec())))
                    .collect()
            })
            .unwrap_or_default();
        let want_headers: Vec<(String, Option<Vec<u8>>)> = want
            .headers()
            .iter()
            .map(|h| {
                (
                    String::from_utf8(h.key().to_vec()).unwrap(),
                    h.value().map(|v| v.to_vec()),
                )
            })
            .collect();
        assert_eq!(got_headers, want_headers, "headers of record {i}");
        seen += 1;
    }
    assert_eq!(seen, RECORDS, "every record read back");
}
