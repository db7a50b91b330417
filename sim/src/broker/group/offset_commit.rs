//! OffsetCommit: a member of the current generation (or a simple consumer of a
//! group without members) commits offsets of existing partitions.

use super::super::{answer, decode, Answer, Request};
use super::coordinator::group_of;
use crate::cluster::group::{Committed, Group, GroupState};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::BTreeMap;

/// Answers a OffsetCommit request.
pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let v = req.version;
    let api = ApiKey::OffsetCommit;

    let r = validate::offset_commit_request(buf, v)
        .and_then(|_| decode("OffsetCommit", || OffsetCommitRequest::decode(buf, v)))?;
    let (code, resp) = commit(cluster, req, &r);
    answer(api, req, code, &resp)
}

/// Whether (member, generation) may commit: a simple consumer (no member id,
/// generation -1) commits to a group without members.
fn commit_error(g: &Group, member: &str, generation: i32) -> Option<i16> {
    if member.is_empty() && generation < 0 {
        return (!g.members.is_empty()).then_some(code::UNKNOWN_MEMBER_ID);
    }
    if !g.members.contains_key(member) {
        return Some(code::UNKNOWN_MEMBER_ID);
    }
    match g.state {
        GroupState::Preparing(_) => Some(code::REBALANCE_IN_PROGRESS),
        _ if generation != g.generation => Some(code::ILLEGAL_GENERATION),
        _ => None,
    }
}

fn commit(
    cluster: &mut Cluster,
    req: &Request<'_>,
    r: &OffsetCommitRequest,
) -> (i16, OffsetCommitResponse) {
    let known: BTreeMap<String, usize> = cluster
        .topics
        .iter()
        .map(|(t, p)| (t.clone(), p.len()))
        .collect();
    let simple = r.member_id.is_empty() && r.generation_id_or_member_epoch < 0;
    let refused = match group_of(cluster, req, &r.group_id, simple) {
        Err(e) => Some(e),
        Ok(g) => commit_error(g, &r.member_id, r.generation_id_or_member_epoch),
    };
    let mut first = refused.unwrap_or(code::NONE);
    let mut topics = Vec::new();
    for t in &r.topics {
        let mut parts = Vec::new();
        for p in &t.partitions {
            let exists = known
                .get(t.name.0.as_str())
                .is_some_and(|&n| p.partition_index >= 0 && (p.partition_index as usize) < n);
            let c = match refused {
                Some(e) => e,
                None if !exists => code::UNKNOWN_TOPIC_OR_PARTITION,
                None => code::NONE,
            };
            if c == code::NONE {
                if let Some(g) = cluster.groups.get_mut(r.group_id.as_str()) {
                    g.offsets.insert(
                        TopicPartition::new(&t.name.0, p.partition_index),
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p
                                .committed_metadata
                                .as_ref()
                                .map_or(String::new(), |m| m.to_string()),
                        },
                    );
                }
            } else if first == code::NONE {
                first = c;
            }
            parts.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(c),
            );
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    (first, OffsetCommitResponse::default().with_topics(topics))
}
