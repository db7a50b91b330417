//! Helpers shared by the interop tests: the simulated cluster on real TCP (on a
//! thread of its own, like `sim serve`), and a minimal raw Kafka client.
#![allow(dead_code)]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ProduceResponse};
use producer_core::wire::frame;
use producer_core::wire::produce::{self, PartitionBatch};
use producer_core::wire::{requests, responses};
use producer_core::TopicPartition;
use sim::cluster::{ClusterSpec, Injection, TopicSpec};
use sim::faults::Action;
use sim::serve::{Control, Logs, Server};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

pub mod clients;
pub mod go;
pub mod java;
pub mod judge;
pub mod kafka;
pub mod real_log;
pub mod sarama;
pub mod serve;

pub const TOPIC: &str = "events";

/// A running simulated cluster on 127.0.0.1.
pub struct SimCluster {
    pub bootstrap: String,
    control: mpsc::UnboundedSender<Control>,
    thread: Option<std::thread::JoinHandle<Logs>>,
}

impl SimCluster {
    /// Starts `brokers` brokers with topic `events` of `partitions` partitions.
    pub fn start(brokers: u32, partitions: u32) -> SimCluster {
        SimCluster::with_spec(ClusterSpec {
            brokers,
            topics: vec![TopicSpec {
                name: TOPIC.into(),
                partitions,
                replication: brokers.min(3),
            }],
            max_message_bytes: 1_048_588,
            failover_delay: Duration::from_millis(200),
            broker_version: Default::default(),
        })
    }

    /// Starts the cluster `spec` describes, as `sim serve` does.
    pub fn with_spec(spec: ClusterSpec) -> SimCluster {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let server = Server::bind(spec, "127.0.0.1", 0)
                    .await
                    .unwrap()
                    .with_wall_clock(now);
                ready_tx.send(server.bootstrap()).unwrap();
                server.run(Vec::new(), rx).await
            })
        });
        let bootstrap = ready_rx.recv().unwrap();
        SimCluster {
            bootstrap,
            control: tx,
            thread: Some(thread),
        }
    }

    /// Sends a control command.
    pub fn control(&self, c: Control) {
        self.control.send(c).unwrap();
    }

    /// A copy of every partition log.
    pub fn logs(&self) -> Logs {
        let (tx, rx) = oneshot::channel();
        self.control(Control::Logs(tx));
        rx.blocking_recv().unwrap()
    }

    /// The broker-side faults every real client must survive: retriable errors
    /// (some after the write) and lost responses (the connection closes after
    /// the write), on every partition of a 6-partition topic.
    pub fn inject_retriable_errors_and_lost_responses(&self) {
        let inject = |partition, what, times| {
            let inject = Action::Inject(TopicPartition::new(TOPIC, partition), what, times);
            self.control(Control::Fault(inject));
        };
        inject(0, Injection::Error(6), 3); // NOT_LEADER_OR_FOLLOWER
        inject(1, Injection::Error(7), 2); // REQUEST_TIMED_OUT, after the write
        inject(2, Injection::Error(19), 3); // NOT_ENOUGH_REPLICAS
        inject(3, Injection::LoseResponse, 2);
        inject(4, Injection::Error(20), 2); // NOT_ENOUGH_REPLICAS_AFTER_APPEND, after the write
        inject(5, Injection::LoseResponse, 1);
    }

    /// Injections still queued, not yet met by a produce request.
    pub fn pending_injections(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        self.control(Control::PendingInjections(tx));
        rx.blocking_recv().unwrap()
    }

    /// Stops the cluster and returns the final logs.
    pub fn stop(mut self) -> Logs {
        self.control(Control::Stop);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// One raw request/response exchange on a fresh connection; `None` when the
/// broker closed the connection instead of answering.
pub async fn try_exchange(addr: &str, frame_bytes: &[u8]) -> Option<Bytes> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(frame_bytes).await.unwrap();
    match frame::read_frame(&mut s, 64 << 20).await {
        Ok(frame) => frame,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("reading the response from {addr}: {e}"),
    }
}

/// One raw request/response exchange on a fresh connection.
pub async fn exchange(addr: &str, frame_bytes: &[u8]) -> Bytes {
    try_exchange(addr, frame_bytes)
        .await
        .unwrap_or_else(|| panic!("{addr} closed the connection without a response"))
}

/// A response body decoded by `kafka-protocol` alone (producer-core's reader
/// only knows the responses a producer reads).
pub fn decode_body<M: kafka_protocol::protocol::Decodable>(
    api: ApiKey,
    version: i16,
    mut body: Bytes,
) -> M {
    use kafka_protocol::protocol::Decodable;
    kafka_protocol::messages::ResponseHeader::decode(
        &mut body,
        api.response_header_version(version),
    )
    .unwrap_or_else(|e| panic!("{api:?} v{version} response header: {e}"));
    M::decode(&mut body, version).unwrap_or_else(|e| panic!("{api:?} v{version} response: {e}"))
}

/// Creates `topic` through the first broker of `bootstrap` (CreateTopics v4)
/// and waits until every partition has a leader.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32, replication: i16) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let req = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)])
        .with_timeout_ms(30_000);
    let first = bootstrap.split(',').next().unwrap();
    let frame = frame::encode_request(ApiKey::CreateTopics, 4, 1, "setup", &req);
    let body = exchange(first, &frame).await;
    let resp: CreateTopicsResponse = decode_body(ApiKey::CreateTopics, 4, body);
    assert_eq!(resp.topics[0].error_code, 0, "creating {topic}");
    for _ in 0..300 {
        if try_leaders(bootstrap, topic)
            .await
            .is_some_and(|l| l.len() == partitions as usize)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} has no leaders after 30 s");
}

/// Partition -> leader address, from a Metadata v1 request to `bootstrap`.
pub async fn leaders(bootstrap: &str, topic: &str) -> BTreeMap<i32, String> {
    try_leaders(bootstrap, topic)
        .await
        .unwrap_or_else(|| panic!("{topic} has a partition without a leader"))
}

/// As [`leaders`]; `None` while the topic is unknown or a partition has no
/// leader (or names one the answer does not list).
pub async fn try_leaders(bootstrap: &str, topic: &str) -> Option<BTreeMap<i32, String>> {
    let first = bootstrap.split(',').next().unwrap();
    let body = try_exchange(
        first,
        &requests::metadata_request(1, 1, "interop", &[topic.to_string()]),
    )
    .await?;
    let meta = responses::metadata(1, body).ok()?;
    meta.topics
        .get(topic)?
        .iter()
        .enumerate()
        .map(|(p, m)| Some((p as i32, meta.brokers.get(&m.leader?)?.clone())))
        .collect()
}

/// What a broker did with a produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It answered with this error code for the partition (0: appended).
    Code(i16),
    /// It closed the connection without an answer.
    Closed,
}

/// Produces one raw batch (Produce v3) to the partition's leader.
pub async fn produce_raw(bootstrap: &str, topic: &str, partition: i32, batch: Bytes) -> Answer {
    let leader = leaders(bootstrap, topic).await[&partition].clone();
    let req = produce::encode_request(
        3,
        7,
        "interop-raw",
        5_000,
        &[PartitionBatch {
            topic,
            partition,
            records: batch,
        }],
    );
    let Some(body) = try_exchange(&leader, &req.to_vec()).await else {
        return Answer::Closed;
    };
    let resp: ProduceResponse = frame::decode_response(ApiKey::Produce, 3, body).unwrap();
    Answer::Code(resp.responses[0].partition_responses[0].error_code)
}
