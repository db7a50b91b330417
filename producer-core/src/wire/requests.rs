//! ApiVersions, Metadata and InitProducerId: the requests besides Produce, and
//! the versions the producer speaks ([`super::responses`] picks among them).

use super::frame;
use bytes::BytesMut;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, InitProducerIdRequest, MetadataRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// ApiVersions version the producer sends (non-flexible, understood by every broker).
pub const API_VERSIONS_VERSION: i16 = 2;
/// Highest Metadata version the producer asks for.
pub const METADATA_MAX: i16 = 8;
/// Lowest Metadata version with leader epochs... and one every broker since 1.0 speaks.
pub const METADATA_MIN: i16 = 1;
/// Highest InitProducerId version the producer uses (v3+ bumps the epoch in place).
pub const INIT_PRODUCER_ID_MAX: i16 = 4;

/// The versions chosen for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Produce version.
    pub produce: i16,
    /// Metadata version.
    pub metadata: i16,
    /// InitProducerId version.
    pub init_producer_id: i16,
}

/// The ApiVersions request frame.
pub fn api_versions_request(correlation_id: i32, client_id: &str) -> BytesMut {
    frame::encode_request(
        ApiKey::ApiVersions,
        API_VERSIONS_VERSION,
        correlation_id,
        client_id,
        &ApiVersionsRequest::default(),
    )
}

/// A Metadata request for `topics`.
pub fn metadata_request(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    topics: &[String],
) -> BytesMut {
    let topics = topics
        .iter()
        .map(|t| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
        })
        .collect();
    // The flag exists from v4 on; older versions always auto-create.
    let req = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(version < 4);
    frame::encode_request(ApiKey::Metadata, version, correlation_id, client_id, &req)
}

/// An InitProducerId request; from v3 on it names the id and epoch to bump.
pub fn init_producer_id_request(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    bump: Option<(i64, i16)>,
) -> BytesMut {
    let (pid, epoch) = match bump {
        Some((p, e)) if version >= 3 => (p, e),
        _ => (-1, -1),
    };
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    frame::encode_request(
        ApiKey::InitProducerId,
        version,
        correlation_id,
        client_id,
        &req,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_encodes_at_every_version_the_producer_can_pick() {
        for v in METADATA_MIN..=METADATA_MAX {
            let f = metadata_request(v, 1, "c", &["t".to_string()]);
            assert!(f.len() > 12, "metadata v{v}");
        }
        for v in 0..=INIT_PRODUCER_ID_MAX {
            init_producer_id_request(v, 1, "c", Some((5, 2)));
            init_producer_id_request(v, 1, "c", None);
        }
        api_versions_request(0, "c");
    }
}
