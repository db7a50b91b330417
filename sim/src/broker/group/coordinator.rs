//! What every group API shares: which broker coordinates a group, the error
//! for a request that reached another, and a group looked up for a request.

use super::super::Request;
use crate::cluster::group::Group;
use crate::cluster::Cluster;
use kafka_protocol::protocol::StrBytes;
use producer_core::error::code;
use std::time::Duration;

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
pub(super) fn not_coordinator(cluster: &Cluster, broker: i32, group: &str) -> Option<i16> {
    match coordinator(cluster, group) {
        None => Some(code::COORDINATOR_NOT_AVAILABLE),
        Some(c) if c != broker => Some(code::NOT_COORDINATOR),
        Some(_) => None,
    }
}

/// A protocol string.
pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The group, after expiring members, or the error for a request to it.
pub(super) fn group_of<'a>(
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

/// What a JoinGroup or SyncGroup comes to: a wait until a deadline (the rest
/// of the group has not come yet), or the answer and its error code.
pub(super) enum Waiting {
    /// Handle the request again at this time.
    Until(Duration),
    /// The error code (for the ledger) and the reply.
    Done(i16, crate::broker::Reply),
}
