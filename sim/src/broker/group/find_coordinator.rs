//! FindCoordinator: the broker coordinating a group (transactions are not
//! simulated, so a transactional key finds none).

use super::super::{answer, decode, Answer, Request};
use super::coordinator::{coordinator, s};
use crate::cluster::Cluster;
use crate::validate;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

/// Answers a FindCoordinator request.
pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let v = req.version;
    let api = ApiKey::FindCoordinator;

    let r = validate::find_coordinator_request(buf, v)
        .and_then(|_| decode("FindCoordinator", || FindCoordinatorRequest::decode(buf, v)))?;
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
