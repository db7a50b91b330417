//! Heartbeat: a member says it is alive, and learns of a rebalance
//! (REBALANCE_IN_PROGRESS) or a stale generation.

use super::super::{answer, decode, Answer, Request};
use super::coordinator::group_of;
use crate::cluster::group::GroupState;
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

/// Answers a Heartbeat request.
pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let v = req.version;
    let api = ApiKey::Heartbeat;

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
