//! LeaveGroup: members leave (one, or several from v3), which starts a
//! rebalance.

use super::super::{answer, decode, Answer, Request};
use super::coordinator::{group_of, s};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

/// Answers a LeaveGroup request.
pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let v = req.version;
    let api = ApiKey::LeaveGroup;

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
