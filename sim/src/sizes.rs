//! Sizes by the protocol's definition, computed independently of producer-core,
//! so the checker's size verdicts can catch a producer that over- or
//! under-estimates: a RecordBatch v2 record's bytes from its fields (zigzag
//! varints, as the Kafka protocol guide defines them), and a produce request's
//! bytes from `kafka-protocol`'s encoder.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

/// Bytes of a RecordBatch v2 header (baseOffset .. recordCount).
pub const BATCH_HEADER_LEN: usize = 61;

/// The produce request version prodsim's producer speaks with the simulated
/// brokers (its highest, 8; the brokers answer up to 12).
pub const PRODUCE_VERSION: i16 = 8;

/// Bytes of `v` as a zigzag varint.
pub fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn field_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

/// Bytes of one record, its length prefix included.
pub fn record_len<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    timestamp_delta: i64,
    offset_delta: i64,
) -> usize {
    let count = headers.len();
    let headers: usize = headers
        .map(|(k, v)| varint_len(k.len() as i64) + k.len() + field_len(v))
        .sum();
    let body = 1 // attributes
        + varint_len(timestamp_delta)
        + varint_len(offset_delta)
        + field_len(key)
        + field_len(value)
        + varint_len(count as i64)
        + headers;
    varint_len(body as i64) + body
}

/// Bytes of the smallest batch holding one record.
pub fn single_record_batch_len<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> usize {
    BATCH_HEADER_LEN + record_len(key, value, headers, 0, 0)
}

/// [`single_record_batch_len`] of a producer-core record.
pub fn batch_len_of(r: &producer_core::record::Record) -> usize {
    single_record_batch_len(
        r.key().map(|k| &k[..]),
        r.value().map(|v| &v[..]),
        r.headers()
            .iter()
            .map(|h| (&h.key()[..], h.value().map(|v| &v[..]))),
    )
}

/// Bytes on the wire (size prefix included) of a produce request of `version`
/// from `client_id` carrying one batch of `batch_len` bytes for `topic`.
pub fn produce_request_len(version: i16, client_id: &str, topic: &str, batch_len: usize) -> usize {
    let header = RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(vec![0u8; batch_len])))])]);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, ProduceRequest::header_version(version))
        .expect("a request header encodes");
    request
        .encode(&mut buf, version)
        .expect("a produce request encodes");
    4 + buf.len()
}

/// The largest batch a producer with these limits may send to `topic`: at most
/// `max_message_bytes`, and small enough that a request carrying it alone fits
/// `max_request_size`.
pub fn batch_limit(
    max_message_bytes: usize,
    max_request_size: usize,
    client_id: &str,
    topic: &str,
) -> usize {
    // Produce v8 is not flexible: the overhead does not depend on the batch size.
    let overhead = produce_request_len(PRODUCE_VERSION, client_id, topic, 0);
    max_message_bytes.min(max_request_size.saturating_sub(overhead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_measured_batches() {
        // NOTES.md: one record with null key and value is a 68-byte batch; key
        // "k" and value "hello" is 74 bytes.
        assert_eq!(single_record_batch_len(None, None, std::iter::empty()), 68);
        assert_eq!(
            single_record_batch_len(Some(b"k"), Some(b"hello"), std::iter::empty()),
            74
        );
        let h: [(&[u8], Option<&[u8]>); 2] = [(b"a", Some(b"1")), (b"a", None)];
        assert_eq!(
            single_record_batch_len(None, None, h.into_iter()),
            68 + (1 + 1 + 1 + 1) + (1 + 1 + 1)
        );
        assert_eq!(varint_len(63), 1);
        assert_eq!(varint_len(64), 2);
        assert_eq!(varint_len(-1), 1);
    }

    #[test]
    fn the_batch_limit_is_the_smaller_of_the_two_limits() {
        let overhead = produce_request_len(PRODUCE_VERSION, "producer-0", "events", 0);
        assert_eq!(
            produce_request_len(PRODUCE_VERSION, "producer-0", "events", 1000),
            overhead + 1000
        );
        assert_eq!(batch_limit(900, 1 << 20, "producer-0", "events"), 900);
        assert_eq!(
            batch_limit(1 << 20, 2000, "producer-0", "events"),
            2000 - overhead
        );
    }

    #[test]
    fn the_independent_overhead_agrees_with_the_producers_encoder() {
        // Two implementations of one definition: if they disagree, one is wrong.
        assert_eq!(
            produce_request_len(PRODUCE_VERSION, "producer-0", "events", 0),
            producer_core::wire::produce::single_batch_overhead("producer-0", "events")
        );
    }
}
