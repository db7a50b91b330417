//! The same batch bytes against three brokers: prodsim's encoder output is
//! accepted by the simulated broker, by librdkafka's mock broker (C) and by
//! Sarama's mock broker (Go), and read back intact by librdkafka's consumer. The
//! same batch with one flipped byte (its CRC no longer matches) is rejected.
//!
//! Who checks the CRC: the simulated broker answers CORRUPT_MESSAGE (2), like
//! Apache Kafka. Sarama's broker fails to decode the request ("CRC didn't match")
//! and closes the connection without an answer. librdkafka's mock broker does not
//! verify CRCs when it appends (its `rd_kafka_mock_validate_records` only checks
//! transactional producer state), and neither does tansu 0.6 (it logs the
//! mismatch and appends), so on the librdkafka side the CRC is judged by its
//! consumer (`check.crcs=true`).

mod common;

use common::sarama::SaramaBroker;
use common::{produce_raw, Answer, SimCluster, TOPIC};
use producer_core::batch::{BatchBuilder, ProducerStamp};
use producer_core::record::Record;
use producer_core::TopicPartition;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

const CORRUPT_MESSAGE: Answer = Answer::Code(2);
/// NONE (0): the broker took the batch.
const ACCEPTED: Answer = Answer::Code(0);

/// Three records, their encoded batch, and the same batch with one byte of the
/// last record's value flipped: still well-formed, but its CRC-32C is wrong.
fn batches() -> (Vec<Record>, bytes::Bytes, bytes::Bytes) {
    let records: Vec<Record> = (0..3)
        .map(|i| Record::new(format!("cross-check-{i}")).with_key(format!("k{i}")))
        .collect();
    let mut b = BatchBuilder::new(0);
    for r in &records {
        b.push(r, 1_700_000_000_000);
    }
    let good = b.seal(ProducerStamp::NONE).unwrap();
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x5a;
    (records, good, bad.into())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// (key, value) pairs as a consumer read them.
type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

fn read(bootstrap: &str, partition: i32, want: usize) -> Result<KeyValues, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cross-check")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    for _ in 0..100 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(e)) => return Err(e.to_string()),
            None if out.len() >= want => break,
            None => {}
        }
    }
    Ok(out)
}

#[test]
fn one_batch_accepted_by_the_simulated_and_librdkafka_brokers_and_a_flipped_byte_rejected() {
    let rt = runtime();
    let sim = SimCluster::start(3, 3);
    let mock = MockCluster::new(3).unwrap();
    mock.create_topic(TOPIC, 3, 3).unwrap();
    let mock_bootstrap = mock.bootstrap_servers();
    let (records, good, bad) = batches();

    // Accepted by both.
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 0, good.clone())),
        ACCEPTED
    );
    assert_eq!(
        rt.block_on(produce_raw(&mock_bootstrap, TOPIC, 0, good.clone())),
        ACCEPTED
    );

    // Rejected by the simulated broker at append time.
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 1, bad.clone())),
        CORRUPT_MESSAGE
    );
    // librdkafka: the mock broker appends it, its consumer refuses it.
    let mock_code = rt.block_on(produce_raw(&mock_bootstrap, TOPIC, 1, bad));
    println!("librdkafka mock broker answered the corrupt batch with {mock_code:?}");
    if mock_code != CORRUPT_MESSAGE {
        assert_eq!(mock_code, ACCEPTED);
        let read_bad = read(&mock_bootstrap, 1, 1);
        println!("librdkafka consumer on the corrupt batch: {read_bad:?}");
        assert!(
            read_bad.is_err() || read_bad.as_ref().is_ok_and(|v| v.is_empty()),
            "librdkafka's consumer accepted a corrupt batch: {read_bad:?}"
        );
    }

    // The good batch reads back byte-equal through librdkafka.
    let got = read(&mock_bootstrap, 0, 3).expect("good batch reads");
    let want: KeyValues = records
        .iter()
        .map(|r| (r.key().unwrap().to_vec(), r.value().unwrap().to_vec()))
        .collect();
    assert_eq!(got, want);

    // And the simulated broker stored exactly the good batch.
    let logs = sim.stop();
    let stored: Vec<Vec<u8>> = logs[&TopicPartition::new(TOPIC, 0)][0]
        .records
        .iter()
        .map(|r| r.value.clone().unwrap().to_vec())
        .collect();
    assert_eq!(
        stored,
        want.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
    );
    assert!(
        logs[&TopicPartition::new(TOPIC, 1)].is_empty(),
        "the corrupt batch was not stored"
    );
}

#[test]
fn saramas_broker_accepts_the_batch_and_rejects_the_flipped_byte_like_the_simulated_broker() {
    let rt = runtime();
    let sim = SimCluster::start(1, 2);
    let sarama = SaramaBroker::start(TOPIC, 2);
    let (_, good, bad) = batches();

    assert_eq!(
        rt.block_on(produce_raw(&sarama.bootstrap, TOPIC, 0, good.clone())),
        ACCEPTED,
        "Sarama refused a batch prodsim encoded: {:?}",
        sarama.rejections()
    );
    assert_eq!(sarama.rejections(), Vec::<String>::new());
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 0, good)),
        ACCEPTED
    );

    // The corrupt batch: the simulated broker answers CORRUPT_MESSAGE, Sarama
    // cannot decode the request and hangs up, naming the CRC.
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 1, bad.clone())),
        CORRUPT_MESSAGE
    );
    assert_eq!(
        rt.block_on(produce_raw(&sarama.bootstrap, TOPIC, 1, bad)),
        Answer::Closed
    );
    let rejections = sarama.wait_for_rejections(1);
    println!("Sarama's mock broker on the corrupt batch: {rejections:?}");
    assert_eq!(rejections.len(), 1, "one rejected request: {rejections:?}");
    assert!(
        rejections[0].contains("CRC didn't match"),
        "Sarama rejected the corrupt batch for another reason: {}",
        rejections[0]
    );

    let logs = sim.stop();
    assert_eq!(logs[&TopicPartition::new(TOPIC, 0)].len(), 1);
    assert!(logs[&TopicPartition::new(TOPIC, 1)].is_empty());
}
