//! InitProducerId: a new producer id (epoch 0), or the next epoch of the
//! caller's current one (KIP-360). Transactions are not simulated.

use super::{answer, decode, Answer, Request};
use crate::cluster::Cluster;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::Decodable;
use producer_core::error::code;

pub(super) fn handle(cluster: &mut Cluster, req: &Request<'_>, buf: &mut Bytes) -> Answer {
    let request = crate::validate::init_producer_id_request(buf, req.version).and_then(|_| {
        decode("InitProducerId", || {
            InitProducerIdRequest::decode(buf, req.version)
        })
    })?;
    let resp = if request.transactional_id.is_some() {
        InitProducerIdResponse::default().with_error_code(code::COORDINATOR_NOT_AVAILABLE)
    } else {
        let bump = (request.producer_id.0 >= 0 && request.producer_epoch >= 0)
            .then_some((request.producer_id.0, request.producer_epoch));
        let (pid, epoch) = cluster.init_producer_id(bump);
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    };
    answer(ApiKey::InitProducerId, req, resp.error_code, &resp)
}
