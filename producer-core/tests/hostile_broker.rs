//! The whole producer (driver, connection tasks, sender) against a fake broker
//! whose first connection answers with something hostile and whose later
//! connections behave: the producer loses that connection, says why
//! (`ConnectionLost`), and delivers the record anyway. Issue 15's measured
//! cases run here end to end, over the producer's real `read_frame` and
//! decoders. Before the fix the ApiVersions answer and two of the Metadata
//! answers aborted the process ("memory allocation of ... bytes failed") and
//! partition 2147483647 killed the producer's task with an overflow.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataResponse,
    ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, StrBytes};
use producer_core::network::{BoxConnection, ConnectFuture};
use producer_core::wire::frame;
use producer_core::{Config, Event, Network, Observer, Producer, Record};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, DuplexStream};

/// What the first connection does instead of answering honestly.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// ApiVersions answered with 2^31-1 api keys.
    ApiKeysCount,
    /// Metadata naming partition 2147483646 (measured: a 25.7 GB allocation).
    PartitionIndex2147483646,
    /// Metadata naming partition 2147483647 (measured: `+ 1` overflowed).
    PartitionIndex2147483647,
    /// Metadata claiming 2^31-1 brokers (measured: a 206 GB allocation).
    BrokersCount,
    /// A response frame declared at 64 MiB, 4 bytes of it sent, then the end.
    HugeFrameThenClose,
}

/// The topic every test writes to.
const TOPIC: &str = "t";

/// A network whose every connection reaches the fake broker.
struct FakeNetwork {
    hostile: Hostile,
    connections: AtomicUsize,
}

impl Network for FakeNetwork {
    fn connect(&self, _addr: &str) -> ConnectFuture {
        let first = self.connections.fetch_add(1, Ordering::Relaxed) == 0;
        let hostile = first.then_some(self.hostile);
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve(server, hostile));
        Box::pin(async move { Ok(Box::new(client) as BoxConnection) })
    }
}

/// Answers requests one by one; `hostile` replaces one answer.
async fn serve(mut s: DuplexStream, hostile: Option<Hostile>) {
    while let Ok(Some(frame)) = frame::read_frame(&mut s, 1 << 20).await {
        let mut body = frame.clone();
        let header = decode_request_header_from_buffer(&mut body).expect("request header");
        let api = ApiKey::try_from(header.request_api_key).expect("known api");
        let (v, corr) = (header.request_api_version, header.correlation_id);
        let reply = match (api, hostile) {
            (ApiKey::ApiVersions, Some(Hostile::ApiKeysCount)) => {
                let mut b = api_versions(corr);
                // size, correlation id, error code, then the api key count.
                b[10..14].copy_from_slice(&i32::MAX.to_be_bytes());
                b
            }
            (ApiKey::ApiVersions, _) => api_versions(corr),
            (ApiKey::Metadata, Some(Hostile::PartitionIndex2147483646)) => {
                metadata(v, corr, 2_147_483_646)
            }
            (ApiKey::Metadata, Some(Hostile::PartitionIndex2147483647)) => {
                metadata(v, corr, i32::MAX)
            }
            (ApiKey::Metadata, Some(Hostile::BrokersCount)) => {
                let mut b = metadata(v, corr, 0);
                // size, correlation id, throttle time (v3+), then the broker count.
                b[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
                b
            }
            (ApiKey::Metadata, Some(Hostile::HugeFrameThenClose)) => {
                let mut b = BytesMut::from(&(64i32 << 20).to_be_bytes()[..]);
                b.extend_from_slice(&corr.to_be_bytes());
                let _ = s.write_all(&b).await;
                return;
            }
            (ApiKey::Metadata, _) => metadata(v, corr, 0),
            (ApiKey::InitProducerId, _) => {
                let resp = InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(1000))
                    .with_producer_epoch(0);
                frame::encode_response(api, v, corr, &resp)
            }
            (ApiKey::Produce, _) => produce(&mut body, v, corr),
            (other, _) => panic!("the producer asked for {other:?}"),
        };
        if s.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn api_versions(corr: i32) -> BytesMut {
    let key = |api: ApiKey, min, max| {
        ApiVersion::default()
            .with_api_key(api as i16)
            .with_min_version(min)
            .with_max_version(max)
    };
    let resp = ApiVersionsResponse::default().with_api_keys(vec![
        key(ApiKey::Produce, 3, 8),
        key(ApiKey::Metadata, 1, 8),
        key(ApiKey::ApiVersions, 0, 2),
        key(ApiKey::InitProducerId, 0, 4),
    ]);
    frame::encode_response(ApiKey::ApiVersions, 2, corr, &resp)
}

/// Broker 0 leads the one partition, numbered `index`.
fn metadata(v: i16, corr: i32, index: i32) -> BytesMut {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(0))
        .with_host(StrBytes::from_static_str("broker-0"))
        .with_port(9092);
    let partition = MetadataResponsePartition::default()
        .with_partition_index(index)
        .with_leader_id(BrokerId(0));
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
        .with_partitions(vec![partition]);
    let resp = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_topics(vec![topic]);
    frame::encode_response(ApiKey::Metadata, v, corr, &resp)
}

/// Every batch written at offset 0.
fn produce(body: &mut Bytes, v: i16, corr: i32) -> BytesMut {
    let req = ProduceRequest::decode(body, v).expect("produce request");
    let topics = req
        .topic_data
        .iter()
        .map(|t| {
            let parts = t
                .partition_data
                .iter()
                .map(|p| PartitionProduceResponse::default().with_index(p.index))
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_partition_responses(parts)
        })
        .collect();
    let resp = ProduceResponse::default().with_responses(topics);
    frame::encode_response(ApiKey::Produce, v, corr, &resp)
}

/// The reasons of every lost connection.
#[derive(Default)]
struct LostConnections(Mutex<Vec<String>>);

impl Observer for LostConnections {
    fn event(&self, event: Event) {
        if let Event::ConnectionLost { reason, .. } = event {
            self.0.lock().unwrap().push(reason);
        }
    }
}

/// One record through a producer whose first connection meets `hostile`:
/// the reasons the producer gave for lost connections.
async fn one_record_past(hostile: Hostile) -> Vec<String> {
    let network = Arc::new(FakeNetwork {
        hostile,
        connections: AtomicUsize::new(0),
    });
    let lost = Arc::new(LostConnections::default());
    let config = Config {
        bootstrap: vec!["boot:9092".into()],
        request_timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(100),
        ..Config::default()
    };
    let producer = Producer::with_observer(config, network, lost.clone()).unwrap();
    let delivered = producer.send(TOPIC, Record::new("a")).await.await;
    assert_eq!(delivered.map(|m| m.offset), Ok(0), "{hostile:?}");
    producer.close().await;
    let stats = producer.stats();
    assert_eq!((stats.unresolved_records, stats.in_flight_requests), (0, 0));
    let reasons = lost.0.lock().unwrap().clone();
    reasons
}

/// The first lost connection's reason contains `what`.
async fn survives(hostile: Hostile, what: &str) {
    let reasons = one_record_past(hostile).await;
    assert!(
        reasons.first().is_some_and(|r| r.contains(what)),
        "{hostile:?}: lost connections {reasons:?}, none names {what:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_api_versions_answer_claiming_2147483647_api_keys_costs_a_connection() {
    survives(Hostile::ApiKeysCount, "2147483647 api keys").await;
}

#[tokio::test(start_paused = true)]
async fn a_metadata_answer_naming_partition_2147483646_costs_a_connection() {
    survives(
        Hostile::PartitionIndex2147483646,
        "partition index 2147483646",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_metadata_answer_naming_partition_2147483647_costs_a_connection() {
    survives(
        Hostile::PartitionIndex2147483647,
        "partition index 2147483647",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_metadata_answer_claiming_2147483647_brokers_costs_a_connection() {
    survives(Hostile::BrokersCount, "2147483647 brokers").await;
}

#[tokio::test(start_paused = true)]
async fn a_frame_declared_at_64_mib_that_ends_after_4_bytes_costs_a_connection() {
    survives(
        Hostile::HugeFrameThenClose,
        "stream ended after 4 of a frame's 67108864 bytes",
    )
    .await;
}
