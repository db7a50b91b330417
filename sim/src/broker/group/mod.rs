//! A minimal group coordinator, enough for the group consumers of real clients:
//! FindCoordinator, the classic rebalance protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and committed offsets (OffsetCommit, OffsetFetch).
//!
//! A group's coordinator is the first live broker from `hash(group) % brokers`
//! on (Kafka: the leader of its `__consumer_offsets` partition), so a crash
//! moves it and clients must find it again (NOT_COORDINATOR). Group state
//! lives in the cluster, as `__consumer_offsets` is replicated: a coordinator
//! change loses nothing.
//!
//! A rebalance: a join from a new member, a changed member, a leave or a
//! member whose session expired moves the group to *preparing*; members learn
//! it from Heartbeat (REBALANCE_IN_PROGRESS) and join again. Joins wait
//! ([`super::Reply::Wait`]) until every member has joined or the rebalance
//! timeout passed (then the missing are dropped); the new generation's joins
//! are answered together, the leader's with every member's metadata. The
//! leader's SyncGroup sets the assignments; the others' wait for it.
//!
//! One file per API (find_coordinator.rs, join_group.rs, sync_group.rs,
//! heartbeat.rs, leave_group.rs, offset_commit.rs, offset_fetch.rs); what they
//! share is in coordinator.rs.

mod coordinator;
mod find_coordinator;
mod heartbeat;
mod join_group;
mod leave_group;
mod offset_commit;
mod offset_fetch;
mod sync_group;

pub use coordinator::coordinator;

use super::{decode, Answer, Reply, Request};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use coordinator::Waiting;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, SyncGroupRequest};
use kafka_protocol::protocol::Decodable;
use std::time::Duration;

/// FindCoordinator, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.
pub(super) fn handle(
    cluster: &mut Cluster,
    req: &Request<'_>,
    api: ApiKey,
    buf: &mut Bytes,
) -> Answer {
    match api {
        ApiKey::FindCoordinator => find_coordinator::handle(cluster, req, buf),
        ApiKey::Heartbeat => heartbeat::handle(cluster, req, buf),
        ApiKey::LeaveGroup => leave_group::handle(cluster, req, buf),
        ApiKey::OffsetCommit => offset_commit::handle(cluster, req, buf),
        ApiKey::OffsetFetch => offset_fetch::handle(cluster, req, buf),
        _ => Err(format!("{api:?} is not a group request")),
    }
}

/// JoinGroup and SyncGroup, which may wait for the rest of the group.
pub(super) fn handle_waiting(
    cluster: &mut Cluster,
    req: &Request<'_>,
    api: ApiKey,
    buf: &mut Bytes,
    received: Duration,
) -> Reply {
    let v = req.version;
    let outcome = match api {
        ApiKey::JoinGroup => validate::join_group_request(buf, v)
            .and_then(|_| decode("JoinGroup", || JoinGroupRequest::decode(buf, v)))
            .map(|r| join_group::join(cluster, req, &r, received)),
        _ => validate::sync_group_request(buf, v)
            .and_then(|_| decode("SyncGroup", || SyncGroupRequest::decode(buf, v)))
            .map(|r| sync_group::sync(cluster, req, &r, received)),
    };
    let a = api as i16;
    match outcome {
        Err(e) => {
            cluster.ledger.request(req.client_id, -1, a);
            cluster.ledger.closed(req.client_id, -1, a);
            Reply::Close(e)
        }
        Ok(Waiting::Until(until)) => Reply::Wait { until },
        Ok(Waiting::Done(code, reply)) => {
            cluster.ledger.request(req.client_id, -1, a);
            match &reply {
                Reply::Close(_) => cluster.ledger.closed(req.client_id, -1, a),
                _ => cluster.ledger.code(req.client_id, -1, a, code),
            }
            reply
        }
    }
}
