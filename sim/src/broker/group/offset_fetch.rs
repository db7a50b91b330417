//! OffsetFetch: a group's committed offsets (-1 where none), of the partitions
//! asked for or of all.

use super::super::{answer, decode, Answer, Request};
use super::coordinator::{not_coordinator, s};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::BTreeMap;

/// Answers a OffsetFetch request.
pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let v = req.version;
    let api = ApiKey::OffsetFetch;

    let r = validate::offset_fetch_request(buf, v)
        .and_then(|_| decode("OffsetFetch", || OffsetFetchRequest::decode(buf, v)))?;
    let (code, resp) = fetch_offsets(cluster, req, &r);
    answer(api, req, code, &resp)
}

fn fetch_offsets(
    cluster: &mut Cluster,
    req: &Request<'_>,
    r: &OffsetFetchRequest,
) -> (i16, OffsetFetchResponse) {
    let v = req.version;
    let refused = not_coordinator(cluster, req.broker, &r.group_id)
        .or_else(|| r.group_id.is_empty().then_some(code::INVALID_GROUP_ID));
    let offsets = cluster
        .groups
        .get(r.group_id.as_str())
        .map(|g| g.offsets.clone())
        .unwrap_or_default();
    let wanted: Vec<(String, Vec<i32>)> = match &r.topics {
        Some(topics) => topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect(),
        None => {
            let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for TopicPartition {
                topic: t,
                partition: p,
            } in offsets.keys()
            {
                all.entry(t.to_string()).or_default().push(*p);
            }
            all.into_iter().collect()
        }
    };
    let topics = wanted
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|p| {
                    let c = offsets.get(&TopicPartition::new(&name, p));
                    let mut out = OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(c.map_or(-1, |c| c.offset))
                        .with_metadata(Some(s(c.map_or("", |c| c.metadata.as_str()))))
                        .with_error_code(if v < 2 {
                            refused.unwrap_or(code::NONE)
                        } else {
                            code::NONE
                        });
                    if v >= 5 {
                        out = out.with_committed_leader_epoch(c.map_or(-1, |c| c.leader_epoch));
                    }
                    out
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(s(&name)))
                .with_partitions(partitions)
        })
        .collect();
    let code = refused.unwrap_or(code::NONE);
    let mut resp = OffsetFetchResponse::default().with_topics(topics);
    if v >= 2 {
        resp = resp.with_error_code(code);
    }
    (code, resp)
}
