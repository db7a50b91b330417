//! SyncGroup: the leader's sets every member's assignment; the others' wait
//! for it (until their rebalance timeout).

use super::coordinator::{group_of, Waiting};
use crate::broker::{respond, Request};
use crate::cluster::group::GroupState;
use crate::cluster::Cluster;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use producer_core::error::code;
use std::time::Duration;

/// Handles a SyncGroup arriving at `received` (again each time its wait ends).
pub(super) fn sync(
    cluster: &mut Cluster,
    req: &Request<'_>,
    r: &SyncGroupRequest,
    received: Duration,
) -> Waiting {
    let done = |code: i16, assignment: Bytes| {
        let resp = SyncGroupResponse::default()
            .with_error_code(code)
            .with_assignment(assignment);
        Waiting::Done(code, respond(ApiKey::SyncGroup, req, &resp))
    };
    let g = match group_of(cluster, req, &r.group_id, false) {
        Ok(g) => g,
        Err(e) => return done(e, Bytes::new()),
    };
    let member = r.member_id.to_string();
    let Some(m) = g.members.get_mut(&member) else {
        return done(code::UNKNOWN_MEMBER_ID, Bytes::new());
    };
    m.last_seen = req.now;
    let wait_for = m.rebalance_timeout;
    if matches!(g.state, GroupState::Preparing(_)) {
        return done(code::REBALANCE_IN_PROGRESS, Bytes::new());
    }
    if r.generation_id != g.generation {
        return done(code::ILLEGAL_GENERATION, Bytes::new());
    }
    if member == g.leader && g.state == GroupState::Completing {
        for a in &r.assignments {
            if let Some(m) = g.members.get_mut(a.member_id.as_str()) {
                m.assignment = Some(a.assignment.clone());
            }
        }
        g.state = GroupState::Stable;
    }
    if g.state == GroupState::Stable {
        let assignment = g.members[&member].assignment.clone().unwrap_or_default();
        return done(code::NONE, assignment);
    }
    let deadline = received + wait_for;
    if req.now >= deadline {
        return done(code::REBALANCE_IN_PROGRESS, Bytes::new());
    }
    Waiting::Until(deadline)
}
