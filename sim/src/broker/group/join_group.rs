//! JoinGroup: a member joins (or rejoins) and waits until every member has
//! joined or the rebalance timeout passed; the new generation's joins are
//! answered together, the leader's with every member's metadata. From v4 a
//! new member is first given its id (MEMBER_ID_REQUIRED, KIP-394).

use super::coordinator::{group_of, s, Waiting};
use crate::broker::{respond, Reply, Request};
use crate::cluster::group::{Group, GroupState, Member, Ticket};
use crate::cluster::Cluster;
use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use producer_core::error::code;
use std::time::Duration;

fn join_error(req: &Request<'_>, code: i16, member: &str) -> Waiting {
    let resp = JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_protocol_name(Some(s("")))
        .with_member_id(s(member));
    Waiting::Done(code, respond(ApiKey::JoinGroup, req, &resp))
}

/// Handles a JoinGroup arriving at `received` (again each time its wait ends).
pub(super) fn join(
    cluster: &mut Cluster,
    req: &Request<'_>,
    r: &JoinGroupRequest,
    received: Duration,
) -> Waiting {
    let session = Duration::from_millis(r.session_timeout_ms.max(0) as u64);
    if !(1_000..=1_800_000).contains(&r.session_timeout_ms) {
        return join_error(req, code::INVALID_SESSION_TIMEOUT, &r.member_id);
    }
    let rebalance = if req.version >= 1 {
        Duration::from_millis(r.rebalance_timeout_ms.max(0) as u64)
    } else {
        session
    };
    let g = match group_of(cluster, req, &r.group_id, true) {
        Ok(g) => g,
        Err(e) => return join_error(req, e, &r.member_id),
    };
    if !g.members.is_empty() && g.protocol_type != r.protocol_type.as_str() {
        return join_error(req, code::INCONSISTENT_GROUP_PROTOCOL, &r.member_id);
    }
    let protocols: Vec<(String, Bytes)> = r
        .protocols
        .iter()
        .map(|p| (p.name.to_string(), p.metadata.clone()))
        .collect();
    if protocols.is_empty() {
        return join_error(req, code::INCONSISTENT_GROUP_PROTOCOL, &r.member_id);
    }
    if req.version >= 4 && r.member_id.is_empty() {
        // KIP-394: a new member is given its id first and joins with it.
        g.given += 1;
        let id = format!("{}-{}", req.client_id, g.given);
        g.pending.insert(id.clone());
        return join_error(req, code::MEMBER_ID_REQUIRED, &id);
    }
    let ticket = (req.client_id.clone(), req.correlation_id, received);
    let id = member_id(g, r, ticket.clone());
    // A join is handled when it arrives and again each time its wait ends.
    if req.now == received {
        let known = g.members.get(&id);
        if known.is_none() && !r.member_id.is_empty() && !g.pending.remove(&id) {
            return join_error(req, code::UNKNOWN_MEMBER_ID, &r.member_id);
        }
        let member = Member {
            protocols,
            session_timeout: session,
            rebalance_timeout: rebalance,
            last_seen: req.now,
            joined: true,
            assignment: None,
        };
        enter(g, req.now, &id, member, r.protocol_type.as_str());
    }
    let Some(m) = g.members.get_mut(&id) else {
        // Dropped from the group while it waited (its rebalance timed out).
        g.tickets.remove(&ticket);
        return join_error(req, code::UNKNOWN_MEMBER_ID, &id);
    };
    m.last_seen = req.now;
    if let GroupState::Preparing(deadline) = g.state {
        return Waiting::Until(deadline);
    }
    g.tickets.remove(&ticket);
    Waiting::Done(code::NONE, joined(g, req, &id))
}

/// The member id of a join: its own, or the one given to this request (the
/// same on every look at it while it waits).
fn member_id(g: &mut Group, r: &JoinGroupRequest, ticket: Ticket) -> String {
    if !r.member_id.is_empty() {
        return r.member_id.to_string();
    }
    if let Some(id) = g.tickets.get(&ticket) {
        return id.clone();
    }
    g.given += 1;
    let id = format!("{}-{}", ticket.0, g.given);
    g.tickets.insert(ticket, id.clone());
    id
}

/// A member joins (or rejoins) the group: a new member or changed protocols
/// start a rebalance, as does any join of an empty or stable group.
fn enter(g: &mut Group, now: Duration, id: &str, member: Member, protocol_type: &str) {
    let known = g.members.get(id);
    let changed = known.is_none_or(|m| m.protocols != member.protocols);
    if changed || g.state == GroupState::Empty || g.state == GroupState::Stable {
        g.prepare(now);
    }
    if g.state == GroupState::Empty || g.state == GroupState::Completing {
        g.state = GroupState::Preparing(now + member.rebalance_timeout);
    }
    g.protocol_type = protocol_type.to_string();
    g.members.insert(id.to_string(), member);
    g.complete(now);
}

/// The answer to a completed join: the generation, and for the leader every
/// member's metadata for the chosen protocol.
fn joined(g: &Group, req: &Request<'_>, id: &str) -> Reply {
    let members = if id == g.leader {
        g.members
            .iter()
            .map(|(mid, m)| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == g.protocol)
                    .map_or(Bytes::new(), |(_, md)| md.clone());
                JoinGroupResponseMember::default()
                    .with_member_id(s(mid))
                    .with_metadata(metadata)
            })
            .collect()
    } else {
        Vec::new()
    };
    let resp = JoinGroupResponse::default()
        .with_generation_id(g.generation)
        .with_protocol_name(Some(s(&g.protocol)))
        .with_leader(s(&g.leader))
        .with_member_id(s(id))
        .with_members(members);
    respond(ApiKey::JoinGroup, req, &resp)
}
