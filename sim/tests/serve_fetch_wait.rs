//! Over real TCP, a Fetch that waits for data (min_bytes 1, max_wait 5 s)
//! waits on its own connection only: a produce on another connection is
//! answered meanwhile, and the waiting fetch is answered with that record
//! soon after, well before its max_wait.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use producer_core::wire::frame::read_frame;
use producer_core::wire::produce::{self, PartitionBatch};
use sim::serve::{Control, Server};
use std::time::{Duration, Instant}; // wall clock: the server runs in real time
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn sized(body: Bytes) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[test]
fn a_waiting_fetch_blocks_only_its_connection_and_returns_what_arrives() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let spec = support::cluster(1).spec.clone();
        let server = Server::bind(spec, "127.0.0.1", 0).await.unwrap();
        let addr = server.addrs()[0];
        let (tx, rx) = mpsc::unbounded_channel();
        let serving = tokio::task::spawn_local(server.serve(Vec::new(), rx));

        let fetch = FetchRequest::default()
            .with_max_wait_ms(5_000)
            .with_min_bytes(1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("events")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])]);
        let mut consumer = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        consumer
            .write_all(&sized(support::frame(
                ApiKey::Fetch,
                11,
                "consumer",
                &fetch,
            )))
            .await
            .unwrap();
        let waiting = tokio::task::spawn_local(async move {
            let answer = read_frame(&mut consumer, 1 << 20).await.unwrap().unwrap();
            (answer, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut producer = TcpStream::connect(addr).await.unwrap();
        let request = produce::encode_request(
            3,
            1,
            "producer",
            5_000,
            &[PartitionBatch {
                topic: "events",
                partition: 0,
                records: support::batch(1, 0, &["hello"]),
            }],
        );
        producer.write_all(&request.to_vec()).await.unwrap();
        let produced = read_frame(&mut producer, 1 << 20).await.unwrap();
        assert!(
            produced.is_some(),
            "the produce was answered while the fetch waited"
        );

        let (answer, took) = waiting.await.unwrap();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(2_000),
            "answered after {took:?}"
        );
        let mut body = answer;
        ResponseHeader::decode(&mut body, FetchResponse::header_version(11)).unwrap();
        let resp = FetchResponse::decode(&mut body, 11).unwrap();
        let mut records = resp.responses[0].partitions[0].records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
        let values: Vec<Bytes> = sets
            .iter()
            .flat_map(|s| &s.records)
            .map(|r| r.value.clone().unwrap())
            .collect();
        assert_eq!(values, vec![Bytes::from_static(b"hello")]);
        tx.send(Control::Stop).unwrap();
        serving.await.unwrap();
    });
}
