//! ApiVersions, Metadata and InitProducerId: the requests besides Produce, and
//! version negotiation.

use super::frame;
use super::produce;
use crate::metadata::{ClusterMetadata, PartitionMeta};
use bytes::BytesMut;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, MetadataRequest,
    MetadataResponse, ProducerId, TopicName,
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

fn pick(resp: &ApiVersionsResponse, api: ApiKey, ours: (i16, i16)) -> Result<i16, String> {
    let theirs = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == api as i16)
        .ok_or_else(|| format!("broker does not support {api:?}"))?;
    let (lo, hi) = (
        ours.0.max(theirs.min_version),
        ours.1.min(theirs.max_version),
    );
    if lo > hi {
        return Err(format!(
            "no common {api:?} version: broker {}..={}, producer {}..={}",
            theirs.min_version, theirs.max_version, ours.0, ours.1
        ));
    }
    Ok(hi)
}

/// Chooses the highest version both sides speak for each API the producer uses.
pub fn negotiate(resp: &ApiVersionsResponse, idempotence: bool) -> Result<Versions, String> {
    if resp.error_code != 0 {
        return Err(format!("ApiVersions error {}", resp.error_code));
    }
    Ok(Versions {
        produce: pick(
            resp,
            ApiKey::Produce,
            (produce::MIN_VERSION, produce::MAX_VERSION),
        )?,
        metadata: pick(resp, ApiKey::Metadata, (METADATA_MIN, METADATA_MAX))?,
        init_producer_id: if idempotence {
            pick(resp, ApiKey::InitProducerId, (0, INIT_PRODUCER_ID_MAX))?
        } else {
            -1
        },
    })
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

/// The producer's view built from a Metadata response. Topics the broker reports
/// with an error are left out (a send to them keeps waiting for metadata).
pub fn parse_metadata(resp: &MetadataResponse) -> ClusterMetadata {
    let mut meta = ClusterMetadata::default();
    for b in &resp.brokers {
        meta.brokers
            .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
    }
    for t in &resp.topics {
        let Some(name) = &t.name else { continue };
        if t.error_code != 0 {
            continue;
        }
        let count = t
            .partitions
            .iter()
            .map(|p| p.partition_index + 1)
            .max()
            .unwrap_or(0)
            .max(0) as usize;
        let mut parts = vec![
            PartitionMeta {
                leader: None,
                leader_epoch: -1
            };
            count
        ];
        for p in &t.partitions {
            let leader = (p.error_code == 0 && p.leader_id.0 >= 0).then_some(p.leader_id.0);
            if let Some(slot) = usize::try_from(p.partition_index)
                .ok()
                .and_then(|i| parts.get_mut(i))
            {
                *slot = PartitionMeta {
                    leader,
                    leader_epoch: p.leader_epoch,
                };
            }
        }
        meta.topics.insert(name.0.to_string(), parts);
    }
    meta
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
