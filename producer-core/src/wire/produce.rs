//! Produce requests (v3..=8) and their exact encoded size.
//!
//! Versions 3 to 8 share one non-flexible layout, so the frame size is a sum of
//! fixed widths plus string and batch lengths:
//! ```text
//! frame      size i32
//! header v1  api_key i16, api_version i16, correlation_id i32, client_id string
//! body       transactional_id nullable string, acks i16, timeout_ms i32,
//!            [topic: name string, [partition: index i32, records bytes]]
//! ```
//! Tests check [`request_len`] against `kafka-protocol`'s own encoder.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::frame;

/// Lowest Produce version the producer speaks (RecordBatch v2 needs v3).
pub const MIN_VERSION: i16 = 3;
/// Highest Produce version the producer speaks (the last non-flexible one).
pub const MAX_VERSION: i16 = 8;

/// Fixed bytes of a produce frame with no topics: size prefix, header with an
/// empty client id, null transactional id, acks, timeout and the topic count.
const FIXED: usize = 4 + (2 + 2 + 4 + 2) + 2 + 2 + 4 + 4;
/// Per topic: name length prefix and partition count.
const PER_TOPIC: usize = 2 + 4;
/// Per partition: index and the records length prefix.
const PER_PARTITION: usize = 4 + 4;

/// Exact size of a request frame (prefix included) carrying nothing.
pub fn empty_request_len(client_id: &str) -> usize {
    FIXED + client_id.len()
}

/// Bytes a topic entry adds before any partition.
pub fn topic_entry_len(topic: &str) -> usize {
    PER_TOPIC + topic.len()
}

/// Bytes one partition entry with a batch of `batch_len` bytes adds.
pub fn partition_entry_len(batch_len: usize) -> usize {
    PER_PARTITION + batch_len
}

/// Bytes a request carrying a single batch of `topic` needs beyond the batch.
pub fn single_batch_overhead(client_id: &str, topic: &str) -> usize {
    empty_request_len(client_id) + topic_entry_len(topic) + partition_entry_len(0)
}

/// Exact frame size of a request holding `batches` (topic, batch length), grouped
/// by topic in the order given (consecutive equal topics share an entry).
pub fn request_len<'a>(
    client_id: &str,
    batches: impl IntoIterator<Item = (&'a str, usize)>,
) -> usize {
    let mut total = empty_request_len(client_id);
    let mut last: Option<&str> = None;
    for (topic, len) in batches {
        if last != Some(topic) {
            total += topic_entry_len(topic);
            last = Some(topic);
        }
        total += partition_entry_len(len);
    }
    total
}

/// One batch bound for one partition.
#[derive(Clone, Debug)]
pub struct PartitionBatch<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// The sealed RecordBatch bytes.
    pub records: Bytes,
}

/// Encodes a full produce request frame. Batches of one topic must be adjacent.
pub fn encode_request(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    timeout_ms: i32,
    batches: &[PartitionBatch<'_>],
) -> BytesMut {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for b in batches {
        let same = topics.last().is_some_and(|t| t.name.0.as_str() == b.topic);
        if !same {
            topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(b.topic.to_string()))),
            );
        }
        let entry = PartitionProduceData::default()
            .with_index(b.partition)
            .with_records(Some(b.records.clone()));
        topics
            .last_mut()
            .expect("pushed above")
            .partition_data
            .push(entry);
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topics);
    frame::encode_request(
        ApiKey::Produce,
        version,
        correlation_id,
        client_id,
        &request,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_len_matches_the_encoder_for_every_version() {
        let batch = |n: usize| Bytes::from(vec![0u8; n]);
        let batches = [
            PartitionBatch {
                topic: "orders",
                partition: 0,
                records: batch(68),
            },
            PartitionBatch {
                topic: "orders",
                partition: 5,
                records: batch(1000),
            },
            PartitionBatch {
                topic: "t",
                partition: 2,
                records: batch(74),
            },
        ];
        for version in MIN_VERSION..=MAX_VERSION {
            for client in ["", "producer-3"] {
                let frame = encode_request(version, 7, client, 30_000, &batches);
                let predicted =
                    request_len(client, batches.iter().map(|b| (b.topic, b.records.len())));
                assert_eq!(
                    frame.len(),
                    predicted,
                    "version {version} client {client:?}"
                );
            }
        }
    }

    #[test]
    fn single_batch_overhead_is_the_difference_between_request_and_batch() {
        let b = PartitionBatch {
            topic: "topic-a",
            partition: 1,
            records: Bytes::from(vec![1u8; 500]),
        };
        let frame = encode_request(8, 1, "c", 1000, std::slice::from_ref(&b));
        assert_eq!(frame.len() - 500, single_batch_overhead("c", "topic-a"));
    }
}
