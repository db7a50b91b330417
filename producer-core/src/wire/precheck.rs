//! Structural pre-checks of broker responses, before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` sizes every array from its count prefix before reading a
//! single element (`Vec::with_capacity(n)`), without comparing the count to the
//! bytes that remain. A response claiming 2^31-1 brokers therefore asks for
//! hundreds of gigabytes, and the allocation failure aborts the application
//! that embeds the producer. So before a response is decoded, [`check_response`]
//! walks its bytes as the decoder will read them and checks every array count,
//! string length and tagged field against the bytes left. A count must leave
//! room for that many of the smallest possible element, so the decoder can
//! never reserve more than a small multiple of the frame it was given.
//!
//! The walk follows `kafka-protocol`'s layout field for field and accepts
//! everything its decoder accepts at the versions listed in [`covers`] (the
//! fuzz tests check both on random valid responses); decoding, and its own
//! errors (bad UTF-8, a null where none is allowed), stay with `kafka-protocol`.
//! The walk reads with [`Reader`], which sim's `validate.rs` also uses for the
//! requests the simulated broker reads.

use super::reader::{Check, Reader};
pub use super::reader::{Field, FieldKind};
use kafka_protocol::messages::ApiKey;
use std::ops::RangeInclusive;

/// The versions of each API whose responses can be checked: every version the
/// producer negotiates, and a little beyond.
pub fn covers(api: ApiKey) -> Option<RangeInclusive<i16>> {
    match api {
        ApiKey::ApiVersions => Some(0..=2),
        ApiKey::Metadata => Some(0..=13),
        ApiKey::InitProducerId => Some(0..=6),
        ApiKey::Produce => Some(3..=9),
        _ => None,
    }
}

/// Checks a response frame body (response header included, size prefix
/// stripped) to `api` at `version`: `Err` says which count or length does not
/// fit, or that the response has no check (then it must not be decoded).
pub fn check_response(api: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    walk(api, version, body, false).map(|_| ())
}

/// The fields of a response that passes [`check_response`], in wire order.
pub fn response_fields(api: ApiKey, version: i16, body: &[u8]) -> Result<Vec<Field>, String> {
    walk(api, version, body, true)
}

fn walk(api: ApiKey, version: i16, body: &[u8], record: bool) -> Result<Vec<Field>, String> {
    if !covers(api).is_some_and(|r| r.contains(&version)) {
        return Err(format!(
            "no structural check for {api:?} v{version} responses"
        ));
    }
    let header_flexible = api.response_header_version(version) >= 1;
    let mut w = Reader::new(body, header_flexible);
    if record {
        w = w.recording();
    }
    w.number(4)?; // correlation id
    w.tagged_fields()?;
    match api {
        ApiKey::ApiVersions => api_versions(&mut w, version)?,
        ApiKey::Metadata => metadata(&mut w, version)?,
        ApiKey::InitProducerId => init_producer_id(&mut w, version)?,
        _ => produce(&mut w, version)?,
    }
    w.finish("response")?;
    Ok(w.into_fields())
}

/// The smallest encodings of a string, an array (null or empty, both) and a
/// struct's tagged fields (none) in a flexible version or not.
#[derive(Clone, Copy)]
struct Smallest {
    string: usize,
    array: usize,
    tags: usize,
}

impl Smallest {
    fn new(flexible: bool) -> Self {
        if flexible {
            Smallest {
                string: 1,
                array: 1,
                tags: 1,
            }
        } else {
            Smallest {
                string: 2,
                array: 4,
                tags: 0,
            }
        }
    }
}

/// The smallest element of each array the walks meet, by version: what the
/// encoder writes for a default element (tests compare them).
mod smallest {
    use super::Smallest;

    fn of(flexible_from: i16, v: i16) -> Smallest {
        Smallest::new(v >= flexible_from)
    }

    /// ApiVersions: api key, min and max version.
    pub const API_KEY: usize = 6;

    /// Metadata: node id, host, port, rack (v1+).
    pub fn metadata_broker(v: i16) -> usize {
        let m = of(9, v);
        4 + m.string + 4 + if v >= 1 { m.string } else { 0 } + m.tags
    }

    /// Metadata: error, name, id (v10+), internal (v1+), partitions, operations (v8+).
    pub fn metadata_topic(v: i16) -> usize {
        let m = of(9, v);
        2 + m.string
            + if v >= 10 { 16 } else { 0 }
            + usize::from(v >= 1)
            + m.array
            + if v >= 8 { 4 } else { 0 }
            + m.tags
    }

    /// Metadata: error, index, leader, epoch (v7+), replicas, isr, offline (v5+).
    pub fn metadata_partition(v: i16) -> usize {
        let m = of(9, v);
        2 + 4
            + 4
            + if v >= 7 { 4 } else { 0 }
            + 2 * m.array
            + if v >= 5 { m.array } else { 0 }
            + m.tags
    }

    /// Produce: name and partitions.
    pub fn produce_topic(v: i16) -> usize {
        let m = of(9, v);
        m.string + m.array + m.tags
    }

    /// Produce: index, error, base offset, append time, start offset (v5+),
    /// record errors and message (v8+).
    pub fn produce_partition(v: i16) -> usize {
        let m = of(9, v);
        4 + 2
            + 8
            + 8
            + if v >= 5 { 8 } else { 0 }
            + if v >= 8 { m.array + m.string } else { 0 }
            + m.tags
    }

    /// Produce: batch index and message (v8+).
    pub fn record_error(v: i16) -> usize {
        let m = of(9, v);
        4 + m.string + m.tags
    }
}

/// ApiVersions v0..=2: error code, [api key, min, max], throttle time (v1+).
fn api_versions(w: &mut Reader<'_>, version: i16) -> Check {
    w.flexible = false;
    w.number(2)?;
    for _ in 0..w.array("api keys", smallest::API_KEY)? {
        w.number(2)?;
        w.number(2)?;
        w.number(2)?;
    }
    if version >= 1 {
        w.number(4)?;
    }
    Ok(())
}

/// Metadata v0..=13.
fn metadata(w: &mut Reader<'_>, v: i16) -> Check {
    w.flexible = v >= 9;
    if v >= 3 {
        w.number(4)?; // throttle time
    }
    for _ in 0..w.array("brokers", smallest::metadata_broker(v))? {
        w.number(4)?; // node id
        w.string()?; // host
        w.number(4)?; // port
        if v >= 1 {
            w.string()?; // rack
        }
        w.tagged_fields()?;
    }
    if v >= 2 {
        w.string()?; // cluster id
    }
    if v >= 1 {
        w.number(4)?; // controller id
    }
    for _ in 0..w.array("topics", smallest::metadata_topic(v))? {
        w.number(2)?; // error code
        w.string()?; // name
        if v >= 10 {
            w.number(16)?; // topic id
        }
        if v >= 1 {
            w.number(1)?; // is internal
        }
        for _ in 0..w.array("partitions", smallest::metadata_partition(v))? {
            w.number(2)?; // error code
            w.number(4)?; // partition index
            w.number(4)?; // leader id
            if v >= 7 {
                w.number(4)?; // leader epoch
            }
            let lists = if v >= 5 { 3 } else { 2 }; // replicas, isr, offline
            for _ in 0..lists {
                for _ in 0..w.array("replica ids", 4)? {
                    w.number(4)?;
                }
            }
            w.tagged_fields()?;
        }
        if v >= 8 {
            w.number(4)?; // topic authorized operations
        }
        w.tagged_fields()?;
    }
    if (8..=10).contains(&v) {
        w.number(4)?; // cluster authorized operations
    }
    if v >= 13 {
        w.number(2)?; // error code
    }
    w.tagged_fields()
}

/// InitProducerId v0..=6.
fn init_producer_id(w: &mut Reader<'_>, v: i16) -> Check {
    w.flexible = v >= 2;
    w.number(4)?; // throttle time
    w.number(2)?; // error code
    w.number(8)?; // producer id
    w.number(2)?; // epoch
    if v >= 6 {
        w.number(8)?; // ongoing transaction's producer id
        w.number(2)?; // and epoch
    }
    w.tagged_fields()
}

/// Produce v3..=9 (v10 gives tags a meaning and is not covered).
fn produce(w: &mut Reader<'_>, v: i16) -> Check {
    w.flexible = v >= 9;
    for _ in 0..w.array("topics", smallest::produce_topic(v))? {
        w.string()?; // name
        for _ in 0..w.array("partitions", smallest::produce_partition(v))? {
            w.number(4)?; // index
            w.number(2)?; // error code
            w.number(8)?; // base offset
            w.number(8)?; // log append time
            if v >= 5 {
                w.number(8)?; // log start offset
            }
            if v >= 8 {
                for _ in 0..w.array("record errors", smallest::record_error(v))? {
                    w.number(4)?; // batch index
                    w.string()?; // message
                    w.tagged_fields()?;
                }
                w.string()?; // error message
            }
            w.tagged_fields()?;
        }
        w.tagged_fields()?;
    }
    w.number(4)?; // throttle time
    w.tagged_fields()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{
        ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, ProduceResponse,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn body<M: Encodable>(api: ApiKey, version: i16, m: &M) -> Vec<u8> {
        frame::encode_response(api, version, 7, m)[4..].to_vec()
    }

    #[test]
    fn every_version_the_producer_can_negotiate_is_covered() {
        use crate::wire::{produce, requests};
        let cases = [
            (
                ApiKey::ApiVersions,
                requests::API_VERSIONS_VERSION..=requests::API_VERSIONS_VERSION,
            ),
            (
                ApiKey::Metadata,
                requests::METADATA_MIN..=requests::METADATA_MAX,
            ),
            (ApiKey::InitProducerId, 0..=requests::INIT_PRODUCER_ID_MAX),
            (ApiKey::Produce, produce::MIN_VERSION..=produce::MAX_VERSION),
        ];
        for (api, versions) in cases {
            let covered = covers(api).unwrap();
            for v in versions {
                assert!(covered.contains(&v), "{api:?} v{v}");
            }
        }
    }

    #[test]
    fn empty_responses_pass_at_every_covered_version() {
        for v in covers(ApiKey::ApiVersions).unwrap() {
            let b = body(ApiKey::ApiVersions, v, &ApiVersionsResponse::default());
            check_response(ApiKey::ApiVersions, v, &b).unwrap();
        }
        for v in covers(ApiKey::Metadata).unwrap() {
            let b = body(ApiKey::Metadata, v, &MetadataResponse::default());
            check_response(ApiKey::Metadata, v, &b).unwrap();
        }
        for v in covers(ApiKey::InitProducerId).unwrap() {
            let b = body(
                ApiKey::InitProducerId,
                v,
                &InitProducerIdResponse::default(),
            );
            check_response(ApiKey::InitProducerId, v, &b).unwrap();
        }
        for v in covers(ApiKey::Produce).unwrap() {
            let b = body(ApiKey::Produce, v, &ProduceResponse::default());
            check_response(ApiKey::Produce, v, &b).unwrap();
        }
    }

    #[test]
    fn each_smallest_element_is_what_the_encoder_writes_for_a_default_one() {
        // Tight, not merely safe: a smaller minimum would let the decoder
        // reserve more, a larger one would refuse valid responses.
        use kafka_protocol::messages::api_versions_response::ApiVersion;
        use kafka_protocol::messages::produce_response::{
            BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
        };
        fn size<M: Encodable + Default>(v: i16) -> usize {
            M::default().compute_size(v).unwrap()
        }
        for v in covers(ApiKey::ApiVersions).unwrap() {
            assert_eq!(smallest::API_KEY, size::<ApiVersion>(v), "v{v}");
        }
        for v in covers(ApiKey::Metadata).unwrap() {
            let broker = size::<MetadataResponseBroker>(v);
            assert_eq!(smallest::metadata_broker(v), broker, "broker v{v}");
            let topic = size::<MetadataResponseTopic>(v);
            assert_eq!(smallest::metadata_topic(v), topic, "topic v{v}");
            let partition = size::<MetadataResponsePartition>(v);
            assert_eq!(smallest::metadata_partition(v), partition, "partition v{v}");
        }
        for v in covers(ApiKey::Produce).unwrap() {
            let topic = size::<TopicProduceResponse>(v);
            assert_eq!(smallest::produce_topic(v), topic, "topic v{v}");
            let partition = size::<PartitionProduceResponse>(v);
            assert_eq!(smallest::produce_partition(v), partition, "partition v{v}");
            if v >= 8 {
                let error = size::<BatchIndexAndErrorMessage>(v);
                assert_eq!(smallest::record_error(v), error, "record error v{v}");
            }
        }
    }

    #[test]
    fn huge_counts_are_refused_before_anything_is_allocated() {
        let mut b = body(ApiKey::Metadata, 8, &MetadataResponse::default());
        b[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        let e = check_response(ApiKey::Metadata, 8, &b).unwrap_err();
        assert!(e.contains("2147483647 brokers"), "{e}");
        let mut b = body(ApiKey::Metadata, 9, &MetadataResponse::default());
        // header tags, throttle, then the broker count as a varint of u32::MAX.
        b.splice(9..10, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let e = check_response(ApiKey::Metadata, 9, &b).unwrap_err();
        assert!(e.contains("4294967294 brokers"), "{e}");
    }

    #[test]
    fn lengths_past_the_end_and_trailing_bytes_are_refused() {
        let resp =
            MetadataResponse::default().with_brokers(vec![
                MetadataResponseBroker::default().with_host(StrBytes::from_static_str("h"))
            ]);
        let b = body(ApiKey::Metadata, 1, &resp);
        for cut in 0..b.len() {
            assert!(check_response(ApiKey::Metadata, 1, &b[..cut]).is_err());
        }
        let mut longer = b.clone();
        longer.push(0);
        let e = check_response(ApiKey::Metadata, 1, &longer).unwrap_err();
        assert_eq!(e, "1 trailing bytes after the response");
    }

    #[test]
    fn responses_without_a_check_are_refused() {
        let e = check_response(ApiKey::Produce, 10, &[0; 64]).unwrap_err();
        assert_eq!(e, "no structural check for Produce v10 responses");
        assert!(check_response(ApiKey::Fetch, 4, &[0; 64]).is_err());
    }
}
