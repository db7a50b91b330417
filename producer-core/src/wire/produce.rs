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

use super::frame::OutFrame;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

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

/// Batches at least this large are written in place instead of being copied
/// into the frame buffer.
const ZERO_COPY_FROM: usize = 4096;

/// Encodes a full produce request frame (v3..=8). Batches of one topic must be
/// adjacent. The layout is the one `kafka-protocol` writes (a test compares them
/// byte for byte at every version); writing it here lets large batches go out
/// without a second copy.
pub fn encode_request(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    timeout_ms: i32,
    batches: &[PartitionBatch<'_>],
) -> OutFrame {
    debug_assert!((MIN_VERSION..=MAX_VERSION).contains(&version));
    let total = request_len(
        client_id,
        batches.iter().map(|b| (b.topic, b.records.len())),
    );
    let mut out = OutFrame::default();
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32((total - 4) as i32);
    buf.put_i16(ApiKey::Produce as i16);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    put_string(&mut buf, client_id);
    buf.put_i16(-1); // transactional_id: null
    buf.put_i16(-1); // acks: all
    buf.put_i32(timeout_ms);
    let mut topics: Vec<(&str, usize)> = Vec::new();
    for b in batches {
        match topics.last_mut() {
            Some((t, n)) if *t == b.topic => *n += 1,
            _ => topics.push((b.topic, 1)),
        }
    }
    buf.put_i32(topics.len() as i32);
    let mut rest = batches.iter();
    for (topic, count) in topics {
        put_string(&mut buf, topic);
        buf.put_i32(count as i32);
        for b in rest.by_ref().take(count) {
            buf.put_i32(b.partition);
            buf.put_i32(b.records.len() as i32);
            if b.records.len() >= ZERO_COPY_FROM {
                out.push(buf.split().freeze());
                out.push(b.records.clone());
            } else {
                buf.put_slice(&b.records);
            }
        }
    }
    out.push(buf.freeze());
    debug_assert_eq!(out.len(), total);
    out
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// The same request through `kafka-protocol`'s encoder: the reference.
    fn reference(
        version: i16,
        correlation_id: i32,
        client_id: &str,
        timeout_ms: i32,
        batches: &[PartitionBatch<'_>],
    ) -> Vec<u8> {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for b in batches {
            if topics.last().is_none_or(|t| t.name.0.as_str() != b.topic) {
                topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.topic.to_string()))),
                );
            }
            let entry = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(b.records.clone()));
            topics.last_mut().unwrap().partition_data.push(entry);
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
        .to_vec()
    }

    #[test]
    fn our_frames_are_byte_equal_to_kafka_protocols_at_every_version() {
        let batch = |n: usize, fill: u8| Bytes::from(vec![fill; n]);
        let batches = [
            PartitionBatch {
                topic: "orders",
                partition: 0,
                records: batch(68, 1),
            },
            PartitionBatch {
                topic: "orders",
                partition: 5,
                records: batch(10_000, 2),
            },
            PartitionBatch {
                topic: "t",
                partition: 2,
                records: batch(74, 3),
            },
            PartitionBatch {
                topic: "t",
                partition: 3,
                records: batch(5000, 4),
            },
        ];
        for version in MIN_VERSION..=MAX_VERSION {
            let ours = encode_request(version, 77, "producer-3", 30_000, &batches);
            assert_eq!(
                ours.to_vec(),
                reference(version, 77, "producer-3", 30_000, &batches),
                "v{version}"
            );
            assert!(
                ours.segments()
                    .iter()
                    .any(|s| s.as_ptr() == batches[1].records.as_ptr()),
                "large batches are not copied"
            );
        }
    }

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
