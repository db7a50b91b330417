//! A minimal group coordinator, enough for the group consumers of real clients:
//! FindCoordinator, the classic rebalance protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and committed offsets (OffsetCommit, OffsetFetch).
//!
//! A group's coordinator is the first live broker from `hash(group) % brokers`
//! on (Kafka: the leader of its `__consumer_offsets` partition), so a crash
//! moves it and clients must find it again (code::NOT_COORDINATOR). Group state
//! lives in the cluster, as `__consumer_offsets` is replicated: a coordinator
//! change loses nothing.
//!
//! A rebalance: a join from a new member, a changed member, a leave or a
//! member whose session expired moves the group to *preparing*; members learn
//! it from Heartbeat (code::REBALANCE_IN_PROGRESS) and join again. Joins wait
//! ([`super::Reply::Wait`]) until every member has joined or the rebalance
//! timeout passed (then the missing are dropped); the new generation's joins
//! are answered together, the leader's with every member's metadata. The
//! leader's SyncGroup sets the assignments; the others' wait for it.

mod rebalance;

pub(in crate::broker) use rebalance::handle_waiting;

use super::{answer, decode, Answer, Request};
use crate::cluster::group::{Committed, Group, GroupState, Member, Ticket};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use producer_core::error::code;
use producer_core::TopicPartition;
use std::collections::BTreeMap;

/// The broker coordinating `group`: the first live broker from its hash on.
pub fn coordinator(cluster: &Cluster, group: &str) -> Option<i32> {
    let n = cluster.brokers.len();
    // FNV-1a: a stable hash, the same in every run.
    let hash = group.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..n)
        .map(|i| ((hash as usize % n.max(1)) + i) % n.max(1))
        .find(|&b| cluster.brokers[b].up)
        .map(|b| b as i32)
}

/// The error for a group request that reached `broker`, if it is not the
/// group's coordinator.
fn not_coordinator(cluster: &Cluster, broker: i32, group: &str) -> Option<i16> {
    match coordinator(cluster, group) {
        None => Some(code::COORDINATOR_NOT_AVAILABLE),
        Some(c) if c != broker => Some(code::NOT_COORDINATOR),
        Some(_) => None,
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// FindCoordinator, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.
pub(super) fn handle(
    cluster: &mut Cluster,
    req: &Request<'_>,
    api: ApiKey,
    buf: &mut Bytes,
) -> Answer {
    let v = req.version;
    match api {
        ApiKey::FindCoordinator => {
            let r = validate::find_coordinator_request(buf, v).and_then(|_| {
                decode("FindCoordinator", || FindCoordinatorRequest::decode(buf, v))
            })?;
            let resp = FindCoordinatorResponse::default();
            let found = if r.key_type != 0 {
                None // transactions are not simulated
            } else {
                coordinator(cluster, &r.key)
            };
            let resp = match found {
                None => resp
                    .with_error_code(code::COORDINATOR_NOT_AVAILABLE)
                    .with_node_id(BrokerId(-1)),
                Some(b) => {
                    let broker = &cluster.brokers[b as usize];
                    resp.with_node_id(BrokerId(b))
                        .with_host(s(&broker.host))
                        .with_port(broker.port as i32)
                }
            };
            let resp = if v >= 1 {
                resp.with_error_message(None)
            } else {
                resp
            };
            answer(api, req, resp.error_code, &resp)
        }
        ApiKey::Heartbeat => {
            let r = validate::heartbeat_request(buf, v)
                .and_then(|_| decode("Heartbeat", || HeartbeatRequest::decode(buf, v)))?;
            let code = heartbeat(cluster, req, &r.group_id, r.generation_id, &r.member_id);
            answer(
                api,
                req,
                code,
                &HeartbeatResponse::default().with_error_code(code),
            )
        }
        ApiKey::LeaveGroup => {
            let r = validate::leave_group_request(buf, v)
                .and_then(|_| decode("LeaveGroup", || LeaveGroupRequest::decode(buf, v)))?;
            let ids: Vec<String> = if v >= 3 {
                r.members.iter().map(|m| m.member_id.to_string()).collect()
            } else {
                vec![r.member_id.to_string()]
            };
            let (code, each) = leave(cluster, req, &r.group_id, &ids);
            let mut resp = LeaveGroupResponse::default().with_error_code(code);
            if v >= 3 {
                resp = resp.with_members(
                    ids.iter()
                        .zip(each)
                        .map(|(id, c)| {
                            MemberResponse::default()
                                .with_member_id(s(id))
                                .with_error_code(c)
                        })
                        .collect(),
                );
            }
            answer(api, req, code, &resp)
        }
        ApiKey::OffsetCommit => {
            let r = validate::offset_commit_request(buf, v)
                .and_then(|_| decode("OffsetCommit", || OffsetCommitRequest::decode(buf, v)))?;
            let (code, resp) = commit(cluster, req, &r);
            answer(api, req, code, &resp)
        }
        ApiKey::OffsetFetch => {
            let r = validate::offset_fetch_request(buf, v)
                .and_then(|_| decode("OffsetFetch", || OffsetFetchRequest::decode(buf, v)))?;
            let (code, resp) = fetch_offsets(cluster, req, &r);
            answer(api, req, code, &resp)
        }
        _ => Err(format!("{api:?} is not a group request")),
    }
}

/// The group, after expiring members, or the error for a request to it.
fn group_of<'a>(
    cluster: &'a mut Cluster,
    req: &Request<'_>,
    id: &str,
    create: bool,
) -> Result<&'a mut Group, i16> {
    if id.is_empty() {
        return Err(code::INVALID_GROUP_ID);
    }
    if let Some(e) = not_coordinator(cluster, req.broker, id) {
        return Err(e);
    }
    if !create && !cluster.groups.contains_key(id) {
        return Err(code::UNKNOWN_MEMBER_ID);
    }
    let g = cluster.groups.entry(id.to_string()).or_default();
    g.expire(req.now);
    g.complete(req.now);
    Ok(g)
}

fn heartbeat(
    cluster: &mut Cluster,
    req: &Request<'_>,
    group: &str,
    generation: i32,
    member: &str,
) -> i16 {
    let g = match group_of(cluster, req, group, false) {
        Ok(g) => g,
        Err(e) => return e,
    };
    let Some(m) = g.members.get_mut(member) else {
        return code::UNKNOWN_MEMBER_ID;
    };
    m.last_seen = req.now;
    match g.state {
        GroupState::Preparing(_) => code::REBALANCE_IN_PROGRESS,
        _ if generation != g.generation => code::ILLEGAL_GENERATION,
        _ => code::NONE,
    }
}

fn leave(cluster: &mut Cluster, req: &Request<'_>, group: &str, ids: &[String]) -> (i16, Vec<i16>) {
    let g = match group_of(cluster, req, group, false) {
        Ok(g) => g,
        Err(e) => return (e, vec![e; ids.len()]),
    };
    let each: Vec<i16> = ids
        .iter()
        .map(|id| match g.members.remove(id) {
            Some(_) => code::NONE,
            None => code::UNKNOWN_MEMBER_ID,
        })
        .collect();
    if each.contains(&code::NONE) {
        g.prepare(req.now);
    }
    let code = if ids.len() == 1 { each[0] } else { code::NONE };
    (code, each)
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
