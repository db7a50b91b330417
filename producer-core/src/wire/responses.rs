//! What the producer reads from each response: the one path from a broker's
//! bytes to the sender's decisions. Each function takes a response frame body
//! (header included, size prefix stripped), decodes it with
//! [`frame::decode_response`] (which checks its structure first) and returns
//! what the sender acts on, or why the response is unusable: then the sender
//! drops the connection, and what was asked on it is asked again.

use super::frame;
use super::produce;
use super::requests::{self, Versions, API_VERSIONS_VERSION};
use super::ErrorCode;
use crate::metadata::{ClusterMetadata, PartitionMeta};
use bytes::Bytes;
use kafka_protocol::messages::metadata_response::MetadataResponsePartition;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, ProduceResponse,
};
use std::collections::BTreeMap;

/// The versions to speak with a broker, from its answer to the ApiVersions
/// request ([`requests::api_versions_request`]).
pub fn api_versions(body: Bytes, idempotence: bool) -> Result<Versions, String> {
    let resp: ApiVersionsResponse =
        frame::decode_response(ApiKey::ApiVersions, API_VERSIONS_VERSION, body)?;
    negotiate(&resp, idempotence)
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
fn negotiate(resp: &ApiVersionsResponse, idempotence: bool) -> Result<Versions, String> {
    if resp.error_code != 0 {
        return Err(format!("ApiVersions error {}", resp.error_code));
    }
    Ok(Versions {
        produce: pick(
            resp,
            ApiKey::Produce,
            (produce::MIN_VERSION, produce::MAX_VERSION),
        )?,
        metadata: pick(
            resp,
            ApiKey::Metadata,
            (requests::METADATA_MIN, requests::METADATA_MAX),
        )?,
        init_producer_id: if idempotence {
            pick(
                resp,
                ApiKey::InitProducerId,
                (0, requests::INIT_PRODUCER_ID_MAX),
            )?
        } else {
            -1
        },
    })
}

/// The cluster as a Metadata answer at `version` describes it.
pub fn metadata(version: i16, body: Bytes) -> Result<ClusterMetadata, String> {
    let resp: MetadataResponse = frame::decode_response(ApiKey::Metadata, version, body)?;
    parse_metadata(&resp)
}

/// The producer's view built from a Metadata response. Topics the broker reports
/// with an error are left out (a send to them keeps waiting for metadata).
/// Nothing is sized from a number the broker wrote: a topic has as many
/// partitions as the answer lists, and their indexes must be exactly
/// `0..listed` (`Err` otherwise).
fn parse_metadata(resp: &MetadataResponse) -> Result<ClusterMetadata, String> {
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
        let parts = partitions(name.0.as_str(), &t.partitions)?;
        meta.topics.insert(name.0.to_string(), parts);
    }
    Ok(meta)
}

/// A topic's partitions in index order. Every index must be one of
/// `0..listed.len()` and appear once: anything else (a negative index, a
/// duplicate, an index implying partitions the answer does not list) makes
/// the answer unusable.
fn partitions(
    topic: &str,
    listed: &[MetadataResponsePartition],
) -> Result<Vec<PartitionMeta>, String> {
    let mut parts: Vec<Option<PartitionMeta>> = vec![None; listed.len()];
    for p in listed {
        let index = p.partition_index;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| parts.get_mut(i))
            .ok_or_else(|| {
                format!(
                    "topic {topic}: partition index {index} outside 0..{}, the partitions listed",
                    listed.len()
                )
            })?;
        if slot.is_some() {
            return Err(format!("topic {topic}: partition {index} listed twice"));
        }
        let leader = (p.error_code == 0 && p.leader_id.0 >= 0).then_some(p.leader_id.0);
        *slot = Some(PartitionMeta {
            leader,
            leader_epoch: p.leader_epoch,
        });
    }
    // `listed.len()` distinct indexes below `listed.len()`: every slot is set.
    Ok(parts.into_iter().flatten().collect())
}

/// An answer to InitProducerId.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerIdAnswer {
    /// The identity to stamp batches with.
    Granted {
        /// Producer id.
        producer_id: i64,
        /// Producer epoch.
        epoch: i16,
    },
    /// The broker refused with this error code: ask again later.
    Refused {
        /// The Kafka error code.
        code: i16,
    },
}

/// What an InitProducerId answer at `version` grants. `Err` also for a grant
/// of a negative producer id or epoch: batches stamped with it would travel
/// as a non-idempotent producer's.
pub fn init_producer_id(version: i16, body: Bytes) -> Result<ProducerIdAnswer, String> {
    let r: InitProducerIdResponse = frame::decode_response(ApiKey::InitProducerId, version, body)?;
    let (producer_id, epoch) = (r.producer_id.0, r.producer_epoch);
    match r.error_code {
        0 if producer_id < 0 || epoch < 0 => Err(format!(
            "InitProducerId granted producer id {producer_id} epoch {epoch}"
        )),
        0 => Ok(ProducerIdAnswer::Granted { producer_id, epoch }),
        code => Ok(ProducerIdAnswer::Refused { code }),
    }
}

/// One partition's entry in a produce answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionAnswer {
    /// Its error code.
    pub code: ErrorCode,
    /// Offset of the batch's first record (-1 when the broker has none).
    pub base_offset: i64,
}

/// A produce answer, by topic and partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceAnswers {
    /// Topic, then partition; the first entry wins when a partition is
    /// answered twice.
    by_partition: BTreeMap<String, BTreeMap<i32, PartitionAnswer>>,
}

impl ProduceAnswers {
    /// The answer for `partition` of `topic`, if the broker gave one.
    pub fn get(&self, topic: &str, partition: i32) -> Option<PartitionAnswer> {
        self.by_partition.get(topic)?.get(&partition).copied()
    }

    /// The answer for a batch of `records` records to `partition` of `topic`,
    /// if the broker gave one. `Err` when its base offset leaves no room for
    /// the batch (the last record's offset would pass `i64::MAX`).
    pub fn for_batch(
        &self,
        topic: &str,
        partition: i32,
        records: usize,
    ) -> Result<Option<PartitionAnswer>, String> {
        let Some(answer) = self.get(topic, partition) else {
            return Ok(None);
        };
        let last = i64::try_from(records.saturating_sub(1))
            .ok()
            .and_then(|delta| answer.base_offset.checked_add(delta));
        match last {
            Some(_) => Ok(Some(answer)),
            None => Err(format!(
                "{topic}-{partition}: base offset {} cannot hold {records} records",
                answer.base_offset
            )),
        }
    }
}

/// The per-partition answers of a produce answer at `version`.
pub fn produce(version: i16, body: Bytes) -> Result<ProduceAnswers, String> {
    let resp: ProduceResponse = frame::decode_response(ApiKey::Produce, version, body)?;
    let mut answers = ProduceAnswers::default();
    for topic in &resp.responses {
        let parts = answers
            .by_partition
            .entry(topic.name.0.to_string())
            .or_default();
        for p in &topic.partition_responses {
            parts.entry(p.index).or_insert(PartitionAnswer {
                code: ErrorCode::from(p.error_code),
                base_offset: p.base_offset,
            });
        }
    }
    Ok(answers)
}
