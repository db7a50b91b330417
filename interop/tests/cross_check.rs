//! The same batch bytes against both brokers: prodsim's encoder output is
//! accepted by the simulated broker and by librdkafka's mock broker, and read back
//! intact by librdkafka's consumer; a batch with a flipped byte is rejected.
//!
//! librdkafka's mock broker does not verify batch CRCs when it appends (its
//! `rd_kafka_mock_validate_records` only checks transactional producer state), so
//! on that side the CRC is judged by librdkafka's consumer (`check.crcs=true`).

mod common;

use common::{produce_raw, SimCluster, TOPIC};
use producer_core::batch::{BatchBuilder, ProducerStamp};
use producer_core::record::Record;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

const CORRUPT_MESSAGE: i16 = 2;

fn batch() -> (Vec<Record>, bytes::Bytes) {
    let records: Vec<Record> = (0..3)
        .map(|i| Record::new(format!("cross-check-{i}")).with_key(format!("k{i}")))
        .collect();
    let mut b = BatchBuilder::new(0);
    for r in &records {
        b.push(r, 1_700_000_000_000);
    }
    (records, b.seal(ProducerStamp::NONE).unwrap())
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
fn one_batch_accepted_by_both_brokers_and_a_flipped_byte_rejected() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = SimCluster::start(3, 3);
    let mock = MockCluster::new(3).unwrap();
    mock.create_topic(TOPIC, 3, 3).unwrap();
    let mock_bootstrap = mock.bootstrap_servers();
    let (records, good) = batch();
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x5a; // inside the value of the last record: CRC-covered
    let bad = bytes::Bytes::from(bad);

    // Accepted by both.
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 0, good.clone())),
        0
    );
    assert_eq!(
        rt.block_on(produce_raw(&mock_bootstrap, TOPIC, 0, good.clone())),
        0
    );

    // Rejected by the simulated broker at append time.
    assert_eq!(
        rt.block_on(produce_raw(&sim.bootstrap, TOPIC, 1, bad.clone())),
        CORRUPT_MESSAGE
    );
    // librdkafka: the mock broker appends it, its consumer refuses it.
    let mock_code = rt.block_on(produce_raw(&mock_bootstrap, TOPIC, 1, bad));
    println!("librdkafka mock broker answered the corrupt batch with error code {mock_code}");
    if mock_code != CORRUPT_MESSAGE {
        assert_eq!(mock_code, 0);
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
    let stored: Vec<Vec<u8>> = logs[&(TOPIC.to_string(), 0)][0]
        .records
        .iter()
        .map(|r| r.value.clone().unwrap().to_vec())
        .collect();
    assert_eq!(
        stored,
        want.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
    );
    assert!(
        logs[&(TOPIC.to_string(), 1)].is_empty(),
        "the corrupt batch was not stored"
    );
}
